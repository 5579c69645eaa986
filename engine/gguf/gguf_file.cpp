// GgufFile: owns the mapping (or the copied bytes) and answers typed metadata look-ups.
#include "engine/gguf.h"

#include "engine/gguf/gguf_internal.h"

#include <cerrno>
#include <cstring>
#include <limits>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace tandem::engine {

std::string_view ggml_type_name(GgmlType type) {
  switch (type) {
    case GgmlType::F32: return "F32";
    case GgmlType::F16: return "F16";
    case GgmlType::Q4_0: return "Q4_0";
    case GgmlType::Q4_1: return "Q4_1";
    case GgmlType::Q5_0: return "Q5_0";
    case GgmlType::Q5_1: return "Q5_1";
    case GgmlType::Q8_0: return "Q8_0";
    case GgmlType::Q8_1: return "Q8_1";
    case GgmlType::Q2_K: return "Q2_K";
    case GgmlType::Q3_K: return "Q3_K";
    case GgmlType::Q4_K: return "Q4_K";
    case GgmlType::Q5_K: return "Q5_K";
    case GgmlType::Q6_K: return "Q6_K";
    case GgmlType::Q8_K: return "Q8_K";
    case GgmlType::I8: return "I8";
    case GgmlType::I16: return "I16";
    case GgmlType::I32: return "I32";
    case GgmlType::I64: return "I64";
    case GgmlType::F64: return "F64";
    case GgmlType::BF16: return "BF16";
  }
  // Unknown numbers: a stable name per value, kept alive for the string_view.
  static thread_local std::string unknown;
  unknown = "type#" + std::to_string(static_cast<uint32_t>(type));
  return unknown;
}

struct GgufFile::Impl {
  std::string path;
  void* mapping = nullptr;
  size_t mapping_size = 0;
  std::vector<uint8_t> owned;
  detail::ParsedGguf parsed;

  Impl() = default;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl() {
    if (mapping != nullptr) munmap(mapping, mapping_size);
  }
};

GgufFile::GgufFile(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GgufFile::GgufFile(GgufFile&&) noexcept = default;
GgufFile& GgufFile::operator=(GgufFile&&) noexcept = default;
GgufFile::~GgufFile() = default;

GgufFile GgufFile::open(const std::string& path) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw GgufError("gguf: cannot open '" + path + "': " + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    throw GgufError("gguf: cannot stat '" + path + "': " + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw GgufError("gguf: '" + path + "' is not a regular file");
  }
  size_t size = static_cast<size_t>(st.st_size);
  const uint8_t* base = nullptr;
  if (size > 0) {
    void* m = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      throw GgufError("gguf: cannot map '" + path + "': " + std::strerror(err));
    }
    impl->mapping = m;
    impl->mapping_size = size;
    base = static_cast<const uint8_t*>(m);
  }
  ::close(fd);  // the mapping keeps the file alive
  try {
    impl->parsed = detail::parse_gguf(base, size);
  } catch (const GgufError& e) {
    throw GgufError(std::string(e.what()) + " [file '" + path + "']");
  }
  return GgufFile(std::move(impl));
}

GgufFile GgufFile::from_bytes(std::span<const uint8_t> bytes) {
  auto impl = std::make_unique<Impl>();
  impl->owned.assign(bytes.begin(), bytes.end());
  impl->parsed = detail::parse_gguf(impl->owned.data(), impl->owned.size());
  return GgufFile(std::move(impl));
}

uint32_t GgufFile::version() const { return impl_->parsed.version; }
uint64_t GgufFile::alignment() const { return impl_->parsed.alignment; }
const std::string& GgufFile::path() const { return impl_->path; }

const std::vector<std::pair<std::string, GgufValue>>& GgufFile::metadata() const {
  return impl_->parsed.metadata;
}

const GgufValue* GgufFile::find(std::string_view key) const {
  auto it = impl_->parsed.key_index.find(key);
  if (it == impl_->parsed.key_index.end()) return nullptr;
  return &impl_->parsed.metadata[it->second].second;
}

const std::vector<TensorInfo>& GgufFile::tensors() const { return impl_->parsed.tensors; }

const TensorInfo* GgufFile::find_tensor(std::string_view name) const {
  auto it = impl_->parsed.tensor_index.find(name);
  if (it == impl_->parsed.tensor_index.end()) return nullptr;
  return &impl_->parsed.tensors[it->second];
}

namespace {

[[noreturn]] void wrong_type(std::string_view key, GgufValueType actual, const char* expected) {
  throw GgufError("gguf: metadata key '" + std::string(key) + "' has type " +
                  std::string(detail::value_type_name(actual)) + ", expected " + expected);
}

bool is_integer(GgufValueType t) {
  switch (t) {
    case GgufValueType::UINT8: case GgufValueType::INT8: case GgufValueType::UINT16:
    case GgufValueType::INT16: case GgufValueType::UINT32: case GgufValueType::INT32:
    case GgufValueType::UINT64: case GgufValueType::INT64:
      return true;
    default:
      return false;
  }
}
bool is_float(GgufValueType t) {
  return t == GgufValueType::FLOAT32 || t == GgufValueType::FLOAT64;
}

// Integer value of any width; nullopt if it does not fit in int64.
std::optional<int64_t> integer_of(const GgufValue& v) {
  if (const auto* u = std::get_if<uint64_t>(&v.data)) {
    if (*u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(*u);
  }
  return std::get<int64_t>(v.data);
}

double number_of(const GgufValue& v) {
  if (is_float(v.type)) return std::get<double>(v.data);
  if (const auto* u = std::get_if<uint64_t>(&v.data)) return static_cast<double>(*u);
  return static_cast<double>(std::get<int64_t>(v.data));
}

const GgufArray& array_of(std::string_view key, const GgufValue& v, const char* expected) {
  if (v.type != GgufValueType::ARRAY) wrong_type(key, v.type, expected);
  return *std::get<std::shared_ptr<GgufArray>>(v.data);
}

[[noreturn]] void wrong_element_type(std::string_view key, GgufValueType element,
                                     const char* expected) {
  throw GgufError("gguf: metadata key '" + std::string(key) + "' is an array of " +
                  std::string(detail::value_type_name(element)) + ", expected " + expected);
}

}  // namespace

std::optional<std::string> GgufFile::get_string(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return std::nullopt;
  if (v->type != GgufValueType::STRING) wrong_type(key, v->type, "STRING");
  return std::get<std::string>(v->data);
}

std::optional<int64_t> GgufFile::get_int(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return std::nullopt;
  if (!is_integer(v->type)) wrong_type(key, v->type, "an integer");
  auto value = integer_of(*v);
  if (!value) {
    throw GgufError("gguf: metadata key '" + std::string(key) + "' value " +
                    std::to_string(std::get<uint64_t>(v->data)) + " does not fit in int64");
  }
  return value;
}

std::optional<double> GgufFile::get_float(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return std::nullopt;
  if (!is_float(v->type) && !is_integer(v->type)) wrong_type(key, v->type, "a number");
  return number_of(*v);
}

std::optional<bool> GgufFile::get_bool(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return std::nullopt;
  if (v->type != GgufValueType::BOOL) wrong_type(key, v->type, "BOOL");
  return std::get<bool>(v->data);
}

std::optional<std::vector<std::string>> GgufFile::get_string_array(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return std::nullopt;
  const GgufArray& array = array_of(key, *v, "an array of STRING");
  if (array.element_type != GgufValueType::STRING) {
    wrong_element_type(key, array.element_type, "STRING");
  }
  std::vector<std::string> out;
  out.reserve(array.elements.size());
  for (const auto& e : array.elements) out.push_back(std::get<std::string>(e.data));
  return out;
}

std::optional<std::vector<float>> GgufFile::get_float_array(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return std::nullopt;
  const GgufArray& array = array_of(key, *v, "an array of numbers");
  if (!is_float(array.element_type) && !is_integer(array.element_type)) {
    wrong_element_type(key, array.element_type, "numbers");
  }
  std::vector<float> out;
  out.reserve(array.elements.size());
  for (const auto& e : array.elements) out.push_back(static_cast<float>(number_of(e)));
  return out;
}

std::optional<std::vector<int64_t>> GgufFile::get_int_array(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return std::nullopt;
  const GgufArray& array = array_of(key, *v, "an array of integers");
  if (!is_integer(array.element_type)) wrong_element_type(key, array.element_type, "integers");
  std::vector<int64_t> out;
  out.reserve(array.elements.size());
  for (size_t i = 0; i < array.elements.size(); ++i) {
    auto value = integer_of(array.elements[i]);
    if (!value) {
      throw GgufError("gguf: metadata key '" + std::string(key) + "' element " +
                      std::to_string(i) + " does not fit in int64");
    }
    out.push_back(*value);
  }
  return out;
}

}  // namespace tandem::engine
