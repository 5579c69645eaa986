// GgufWriter: serialises metadata and tensor infos in the GGUF v3 layout (little-endian, strings
// as u64 length + bytes, tensor data aligned to `general.alignment`).
#include "engine/gguf_writer.h"

#include "engine/quant.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace tandem::engine {
namespace {

constexpr uint32_t kDefaultAlignment = 32;

class ByteSink {
 public:
  explicit ByteSink(std::vector<uint8_t>& out) : out_(out) {}
  template <typename T>
  void put(T value) {
    const auto* p = reinterpret_cast<const uint8_t*>(&value);
    out_.insert(out_.end(), p, p + sizeof(T));
  }
  void put_string(const std::string& s) {
    put<uint64_t>(s.size());
    out_.insert(out_.end(), s.begin(), s.end());
  }
  void pad_to(uint64_t alignment) {
    while (out_.size() % alignment != 0) out_.push_back(0);
  }

 private:
  std::vector<uint8_t>& out_;
};

void put_value(ByteSink& sink, const GgufValue& value);

void put_payload(ByteSink& sink, const GgufValue& v) {
  switch (v.type) {
    case GgufValueType::UINT8: sink.put(static_cast<uint8_t>(std::get<uint64_t>(v.data))); break;
    case GgufValueType::INT8: sink.put(static_cast<int8_t>(std::get<int64_t>(v.data))); break;
    case GgufValueType::UINT16: sink.put(static_cast<uint16_t>(std::get<uint64_t>(v.data))); break;
    case GgufValueType::INT16: sink.put(static_cast<int16_t>(std::get<int64_t>(v.data))); break;
    case GgufValueType::UINT32: sink.put(static_cast<uint32_t>(std::get<uint64_t>(v.data))); break;
    case GgufValueType::INT32: sink.put(static_cast<int32_t>(std::get<int64_t>(v.data))); break;
    case GgufValueType::UINT64: sink.put(std::get<uint64_t>(v.data)); break;
    case GgufValueType::INT64: sink.put(std::get<int64_t>(v.data)); break;
    case GgufValueType::FLOAT32: sink.put(static_cast<float>(std::get<double>(v.data))); break;
    case GgufValueType::FLOAT64: sink.put(std::get<double>(v.data)); break;
    case GgufValueType::BOOL: sink.put(static_cast<uint8_t>(std::get<bool>(v.data) ? 1 : 0)); break;
    case GgufValueType::STRING: sink.put_string(std::get<std::string>(v.data)); break;
    case GgufValueType::ARRAY: {
      const auto& array = *std::get<std::shared_ptr<GgufArray>>(v.data);
      sink.put(static_cast<uint32_t>(array.element_type));
      sink.put(static_cast<uint64_t>(array.elements.size()));
      for (const auto& e : array.elements) {
        if (e.type != array.element_type) {
          throw GgufError("gguf writer: array element type differs from the array's type");
        }
        put_payload(sink, e);
      }
      break;
    }
    default: throw GgufError("gguf writer: unknown value type");
  }
}

void put_value(ByteSink& sink, const GgufValue& value) {
  sink.put(static_cast<uint32_t>(value.type));
  put_payload(sink, value);
}

GgufValue make_value(GgufValueType type, decltype(GgufValue::data) data) {
  GgufValue v;
  v.type = type;
  v.data = std::move(data);
  return v;
}

template <typename T, typename Stored>
GgufValue make_array(GgufValueType element_type, const std::vector<T>& values) {
  auto array = std::make_shared<GgufArray>();
  array->element_type = element_type;
  array->elements.reserve(values.size());
  for (const auto& x : values) array->elements.push_back(make_value(element_type, Stored(x)));
  return make_value(GgufValueType::ARRAY, std::move(array));
}

uint64_t element_count(const std::vector<uint64_t>& dims) {
  uint64_t n = 1;
  for (auto d : dims) n *= d;
  return n;
}

std::string dims_text(const std::vector<uint64_t>& dims) {
  std::string s = "{";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "}";
}

}  // namespace

GgufWriter::GgufWriter(uint32_t alignment) : alignment_(alignment) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
    throw GgufError("gguf writer: alignment " + std::to_string(alignment) +
                    " is not a power of two");
  }
}

void GgufWriter::add_scalar(const std::string& key, GgufValueType type, GgufValue value) {
  value.type = type;
  metadata_.emplace_back(key, std::move(value));
}

using VT = GgufValueType;
void GgufWriter::add_uint8(const std::string& k, uint8_t v) { add_scalar(k, VT::UINT8, make_value(VT::UINT8, uint64_t{v})); }
void GgufWriter::add_int8(const std::string& k, int8_t v) { add_scalar(k, VT::INT8, make_value(VT::INT8, int64_t{v})); }
void GgufWriter::add_uint16(const std::string& k, uint16_t v) { add_scalar(k, VT::UINT16, make_value(VT::UINT16, uint64_t{v})); }
void GgufWriter::add_int16(const std::string& k, int16_t v) { add_scalar(k, VT::INT16, make_value(VT::INT16, int64_t{v})); }
void GgufWriter::add_uint32(const std::string& k, uint32_t v) { add_scalar(k, VT::UINT32, make_value(VT::UINT32, uint64_t{v})); }
void GgufWriter::add_int32(const std::string& k, int32_t v) { add_scalar(k, VT::INT32, make_value(VT::INT32, int64_t{v})); }
void GgufWriter::add_uint64(const std::string& k, uint64_t v) { add_scalar(k, VT::UINT64, make_value(VT::UINT64, v)); }
void GgufWriter::add_int64(const std::string& k, int64_t v) { add_scalar(k, VT::INT64, make_value(VT::INT64, v)); }
void GgufWriter::add_float32(const std::string& k, float v) { add_scalar(k, VT::FLOAT32, make_value(VT::FLOAT32, double{v})); }
void GgufWriter::add_float64(const std::string& k, double v) { add_scalar(k, VT::FLOAT64, make_value(VT::FLOAT64, v)); }
void GgufWriter::add_bool(const std::string& k, bool v) { add_scalar(k, VT::BOOL, make_value(VT::BOOL, v)); }
void GgufWriter::add_string(const std::string& k, const std::string& v) { add_scalar(k, VT::STRING, make_value(VT::STRING, v)); }

void GgufWriter::add_string_array(const std::string& key, const std::vector<std::string>& values) {
  metadata_.emplace_back(key, make_array<std::string, std::string>(GgufValueType::STRING, values));
}
void GgufWriter::add_int32_array(const std::string& key, const std::vector<int32_t>& values) {
  metadata_.emplace_back(key, make_array<int32_t, int64_t>(GgufValueType::INT32, values));
}
void GgufWriter::add_float32_array(const std::string& key, const std::vector<float>& values) {
  metadata_.emplace_back(key, make_array<float, double>(GgufValueType::FLOAT32, values));
}
void GgufWriter::add_value(const std::string& key, const GgufValue& value) {
  metadata_.emplace_back(key, value);
}

void GgufWriter::add_tensor(const std::string& name, std::vector<uint64_t> dims, GgmlType type,
                            std::span<const uint8_t> bytes) {
  if (dims.empty() || dims.size() > 4) {
    throw GgufError("gguf writer: tensor '" + name + "' must have 1..4 dims");
  }
  const uint64_t n = element_count(dims);
  const uint64_t expected = ggml_row_bytes(type, dims[0]) * (n / dims[0]);
  if (bytes.size() != expected) {
    throw GgufError("gguf writer: tensor '" + name + "' " + dims_text(dims) + " of type " +
                    std::string(ggml_type_name(type)) + " needs " + std::to_string(expected) +
                    " bytes, got " + std::to_string(bytes.size()));
  }
  add_tensor_unchecked({name, std::move(dims), static_cast<uint32_t>(type),
                        std::vector<uint8_t>(bytes.begin(), bytes.end()), std::nullopt});
}

void GgufWriter::add_tensor_f32(const std::string& name, std::vector<uint64_t> dims,
                                GgmlType type, std::span<const float> values) {
  if (dims.empty() || dims.size() > 4) {
    throw GgufError("gguf writer: tensor '" + name + "' must have 1..4 dims");
  }
  const uint64_t n = element_count(dims);
  if (values.size() != n) {
    throw GgufError("gguf writer: tensor '" + name + "' " + dims_text(dims) + " needs " +
                    std::to_string(n) + " values, got " + std::to_string(values.size()));
  }
  const uint64_t row = dims[0];
  const size_t row_bytes = ggml_row_bytes(type, row);
  std::vector<uint8_t> bytes(row_bytes * (n / row));
  for (uint64_t r = 0; r < n / row; ++r) {
    quantize_row(type, values.data() + r * row, bytes.data() + r * row_bytes, row);
  }
  add_tensor_unchecked({name, std::move(dims), static_cast<uint32_t>(type), std::move(bytes),
                        std::nullopt});
}

void GgufWriter::add_tensor_unchecked(RawTensor tensor) { tensors_.push_back(std::move(tensor)); }

std::vector<uint8_t> GgufWriter::header_bytes() const {
  std::vector<uint8_t> out;
  ByteSink sink(out);
  bool has_alignment_key = false;
  for (const auto& [key, value] : metadata_) has_alignment_key |= key == "general.alignment";
  const bool add_alignment_key = alignment_ != kDefaultAlignment && !has_alignment_key;

  sink.put<uint32_t>(0x46554747);  // "GGUF"
  sink.put<uint32_t>(version_);
  sink.put<uint64_t>(tensors_.size());
  sink.put<uint64_t>(metadata_.size() + (add_alignment_key ? 1 : 0));
  if (add_alignment_key) {
    sink.put_string("general.alignment");
    put_value(sink, make_value(GgufValueType::UINT32, uint64_t{alignment_}));
  }
  for (const auto& [key, value] : metadata_) {
    sink.put_string(key);
    put_value(sink, value);
  }
  uint64_t offset = 0;
  for (const auto& t : tensors_) {
    sink.put_string(t.name);
    sink.put<uint32_t>(static_cast<uint32_t>(t.dims.size()));
    for (auto d : t.dims) sink.put<uint64_t>(d);
    sink.put<uint32_t>(t.type);
    sink.put<uint64_t>(t.offset.value_or(offset));
    offset += (t.bytes.size() + alignment_ - 1) / alignment_ * alignment_;
  }
  sink.pad_to(alignment_);
  return out;
}

// Tensor data follows the header in order, each padded to the alignment (forced offsets only
// change what the header claims, not where the bytes go).
std::vector<uint8_t> GgufWriter::to_bytes() const {
  std::vector<uint8_t> out = header_bytes();
  for (const auto& t : tensors_) {
    out.insert(out.end(), t.bytes.begin(), t.bytes.end());
    ByteSink(out).pad_to(alignment_);
  }
  return out;
}

void GgufWriter::write_file(const std::string& path) const {
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "wb"), &std::fclose);
  if (!file) {
    throw GgufError("gguf writer: cannot create '" + path + "': " + std::strerror(errno));
  }
  auto write = [&](const uint8_t* data, size_t size) {
    if (size != 0 && std::fwrite(data, 1, size, file.get()) != size) {
      throw GgufError("gguf writer: cannot write '" + path + "': " + std::strerror(errno));
    }
  };
  const std::vector<uint8_t> header = header_bytes();
  write(header.data(), header.size());
  static const uint8_t zeros[256] = {};
  for (const auto& t : tensors_) {
    write(t.bytes.data(), t.bytes.size());
    for (size_t pad = (alignment_ - t.bytes.size() % alignment_) % alignment_; pad > 0;) {
      const size_t chunk = std::min(pad, sizeof zeros);
      write(zeros, chunk);
      pad -= chunk;
    }
  }
  if (std::fflush(file.get()) != 0) {
    throw GgufError("gguf writer: cannot write '" + path + "': " + std::strerror(errno));
  }
}

}  // namespace tandem::engine
