// Parsing and validating a GGUF image. Every read goes through ByteReader, which checks the
// remaining bytes first; every count is checked against what the remaining bytes could hold
// before anything is allocated, so a hostile header cannot make us allocate or read wildly.
#include "engine/gguf/gguf_internal.h"

#include "engine/quant.h"

#include <cstring>
#include <limits>
#include <string>

namespace tandem::engine::detail {
namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as little-endian uint32
constexpr int kMaxArrayDepth = 4;
// Each parsed array element costs ~56 bytes in memory however small it is in the file, so a
// file-size bound alone would let a big file of one-byte elements exhaust memory. The largest
// real vocabularies need ~1M elements (256k tokens x 3 arrays, or 128k tokens + 280k merges).
constexpr uint64_t kMaxMetadataElements = uint64_t{1} << 24;
constexpr uint32_t kMaxDims = 4;
// Smallest possible encodings, used to bound counts before allocating.
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;             // empty key, type, one-byte value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;  // empty name, 1 dim, type, offset

[[noreturn]] void fail(const std::string& message) { throw GgufError("gguf: " + message); }

class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  size_t offset() const { return pos_; }
  uint64_t& elements_parsed() { return elements_parsed_; }
  size_t remaining() const { return size_ - pos_; }
  size_t size() const { return size_; }

  void need(uint64_t n, const std::string& context, const char* what) const {
    if (n > remaining()) {
      fail(context + ": " + what + " at offset " + std::to_string(pos_) + " needs " +
           std::to_string(n) + " bytes, but the file ends at " + std::to_string(size_) +
           " (truncated?)");
    }
  }
  template <typename T>
  T read(const std::string& context, const char* what) {
    need(sizeof(T), context, what);
    T value;
    std::memcpy(&value, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return value;
  }
  std::string read_string(const std::string& context, const char* what) {
    size_t at = pos_;
    uint64_t length = read<uint64_t>(context, what);
    if (length > remaining()) {
      fail(context + ": " + what + " length " + std::to_string(length) + " at offset " +
           std::to_string(at) + " exceeds file size " + std::to_string(size_));
    }
    std::string s(reinterpret_cast<const char*>(data_ + pos_), static_cast<size_t>(length));
    pos_ += length;
    return s;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  uint64_t elements_parsed_ = 0;
};

// Bytes the smallest value of a type occupies (for bounding array counts); 0 if unknown.
uint64_t min_value_bytes(GgufValueType type) {
  switch (type) {
    case GgufValueType::UINT8: case GgufValueType::INT8: case GgufValueType::BOOL: return 1;
    case GgufValueType::UINT16: case GgufValueType::INT16: return 2;
    case GgufValueType::UINT32: case GgufValueType::INT32: case GgufValueType::FLOAT32: return 4;
    case GgufValueType::UINT64: case GgufValueType::INT64: case GgufValueType::FLOAT64: return 8;
    case GgufValueType::STRING: return 8;
    case GgufValueType::ARRAY: return 4 + 8;
  }
  return 0;
}

GgufValue read_value(ByteReader& in, GgufValueType type, const std::string& context, int depth);

GgufValue read_array(ByteReader& in, const std::string& context, int depth) {
  if (depth >= kMaxArrayDepth) {
    fail(context + ": arrays nested deeper than " + std::to_string(kMaxArrayDepth) +
         " levels at offset " + std::to_string(in.offset()));
  }
  size_t type_at = in.offset();
  auto raw_type = in.read<uint32_t>(context, "array element type");
  auto element_type = static_cast<GgufValueType>(raw_type);
  uint64_t min_bytes = min_value_bytes(element_type);
  if (min_bytes == 0) {
    fail(context + ": unknown array element type " + std::to_string(raw_type) + " at offset " +
         std::to_string(type_at));
  }
  size_t count_at = in.offset();
  auto count = in.read<uint64_t>(context, "array count");
  if (count > in.remaining() / min_bytes) {
    fail(context + ": array count " + std::to_string(count) + " at offset " +
         std::to_string(count_at) + " exceeds file size " + std::to_string(in.size()) +
         " (each element needs at least " + std::to_string(min_bytes) + " bytes)");
  }
  in.elements_parsed() += count;
  if (in.elements_parsed() > kMaxMetadataElements) {
    fail(context + ": array count " + std::to_string(count) + " at offset " +
         std::to_string(count_at) + " takes the metadata past " +
         std::to_string(kMaxMetadataElements) + " array elements in total");
  }
  auto array = std::make_shared<GgufArray>();
  array->element_type = element_type;
  array->elements.reserve(static_cast<size_t>(count));
  for (uint64_t i = 0; i < count; ++i) {
    array->elements.push_back(
        read_value(in, element_type, context + " element " + std::to_string(i), depth + 1));
  }
  GgufValue value;
  value.type = GgufValueType::ARRAY;
  value.data = std::move(array);
  return value;
}

GgufValue read_value(ByteReader& in, GgufValueType type, const std::string& context, int depth) {
  GgufValue value;
  value.type = type;
  switch (type) {
    case GgufValueType::UINT8: value.data = uint64_t{in.read<uint8_t>(context, "uint8 value")}; break;
    case GgufValueType::INT8: value.data = int64_t{in.read<int8_t>(context, "int8 value")}; break;
    case GgufValueType::UINT16: value.data = uint64_t{in.read<uint16_t>(context, "uint16 value")}; break;
    case GgufValueType::INT16: value.data = int64_t{in.read<int16_t>(context, "int16 value")}; break;
    case GgufValueType::UINT32: value.data = uint64_t{in.read<uint32_t>(context, "uint32 value")}; break;
    case GgufValueType::INT32: value.data = int64_t{in.read<int32_t>(context, "int32 value")}; break;
    case GgufValueType::UINT64: value.data = uint64_t{in.read<uint64_t>(context, "uint64 value")}; break;
    case GgufValueType::INT64: value.data = int64_t{in.read<int64_t>(context, "int64 value")}; break;
    case GgufValueType::FLOAT32: value.data = double{in.read<float>(context, "float32 value")}; break;
    case GgufValueType::FLOAT64: value.data = in.read<double>(context, "float64 value"); break;
    case GgufValueType::BOOL: {
      size_t at = in.offset();
      auto b = in.read<uint8_t>(context, "bool value");
      if (b > 1) {
        fail(context + ": bool value " + std::to_string(b) + " at offset " + std::to_string(at) +
             " is neither 0 nor 1");
      }
      value.data = b == 1;
      break;
    }
    case GgufValueType::STRING: value.data = in.read_string(context, "string"); break;
    case GgufValueType::ARRAY: return read_array(in, context, depth);
    default:
      fail(context + ": unknown value type " + std::to_string(static_cast<uint32_t>(type)));
  }
  return value;
}

bool is_known_ggml_type(uint32_t raw) {
  switch (static_cast<GgmlType>(raw)) {
    case GgmlType::F32: case GgmlType::F16: case GgmlType::Q4_0: case GgmlType::Q4_1:
    case GgmlType::Q5_0: case GgmlType::Q5_1: case GgmlType::Q8_0: case GgmlType::Q8_1:
    case GgmlType::Q2_K: case GgmlType::Q3_K: case GgmlType::Q4_K: case GgmlType::Q5_K:
    case GgmlType::Q6_K: case GgmlType::Q8_K: case GgmlType::I8: case GgmlType::I16:
    case GgmlType::I32: case GgmlType::I64: case GgmlType::F64: case GgmlType::BF16:
      return true;
  }
  return false;
}

std::string quoted(const std::string& s) { return "'" + s + "'"; }

void read_alignment(ParsedGguf& out) {
  for (size_t i = 0; i < out.metadata.size(); ++i) {
    const auto& [key, value] = out.metadata[i];
    if (key != "general.alignment") continue;
    if (value.type != GgufValueType::UINT32) {
      fail("metadata key 'general.alignment' has type " + std::string(value_type_name(value.type)) +
           ", expected UINT32");
    }
    uint64_t a = std::get<uint64_t>(value.data);
    if (a == 0 || (a & (a - 1)) != 0) {
      fail("metadata key 'general.alignment' is " + std::to_string(a) +
           ", expected a non-zero power of two");
    }
    out.alignment = a;
  }
}

void read_tensor_info(ByteReader& in, uint64_t index, ParsedGguf& out) {
  std::string context = "tensor #" + std::to_string(index);
  TensorInfo t;
  t.name = in.read_string(context, "name");
  context += " (" + quoted(t.name) + ")";
  size_t dims_at = in.offset();
  auto n_dims = in.read<uint32_t>(context, "n_dims");
  if (n_dims == 0 || n_dims > kMaxDims) {
    fail(context + ": n_dims " + std::to_string(n_dims) + " at offset " + std::to_string(dims_at) +
         " (must be 1.." + std::to_string(kMaxDims) + ")");
  }
  uint64_t n_elements = 1;
  for (uint32_t d = 0; d < n_dims; ++d) {
    auto dim = in.read<uint64_t>(context, "dimension");
    if (dim == 0) fail(context + ": dimension " + std::to_string(d) + " is zero");
    if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / n_elements) {
      fail(context + ": dims overflow (element count exceeds 2^63)");
    }
    n_elements *= dim;
    t.dims.push_back(dim);
  }
  t.n_elements = n_elements;
  size_t type_at = in.offset();
  auto raw_type = in.read<uint32_t>(context, "type");
  if (!is_known_ggml_type(raw_type)) {
    fail(context + ": unknown tensor type " + std::to_string(raw_type) + " at offset " +
         std::to_string(type_at));
  }
  t.type = static_cast<GgmlType>(raw_type);
  if (!ggml_type_supported(t.type)) {
    fail(context + ": tensor type " + std::string(ggml_type_name(t.type)) +
         " is not supported (supported: F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q4_K Q5_K Q6_K)");
  }
  size_t block = ggml_block_size(t.type);
  if (t.dims[0] % block != 0) {
    fail(context + ": row length " + std::to_string(t.dims[0]) + " is not a multiple of the " +
         std::string(ggml_type_name(t.type)) + " block size " + std::to_string(block));
  }
  uint64_t rows = n_elements / t.dims[0];
  uint64_t row_bytes = t.dims[0] / block * ggml_type_size(t.type);
  if (row_bytes != 0 && rows > std::numeric_limits<uint64_t>::max() / row_bytes) {
    fail(context + ": data size overflows");
  }
  t.n_bytes = rows * row_bytes;
  t.offset = in.read<uint64_t>(context, "data offset");
  if (out.tensor_index.count(t.name) != 0) fail(context + ": duplicate tensor name");
  out.tensor_index.emplace(t.name, out.tensors.size());
  out.tensors.push_back(std::move(t));
}

void place_tensor_data(ParsedGguf& out, const uint8_t* base, size_t file_size) {
  for (auto& t : out.tensors) {
    std::string context = "tensor " + quoted(t.name);
    if (t.offset % out.alignment != 0) {
      fail(context + ": data offset " + std::to_string(t.offset) + " is not a multiple of the " +
           "alignment " + std::to_string(out.alignment));
    }
    bool fits = out.data_offset <= file_size && t.offset <= file_size - out.data_offset &&
                t.n_bytes <= file_size - out.data_offset - t.offset;
    if (!fits) {
      fail(context + ": data [offset " + std::to_string(t.offset) + ", " +
           std::to_string(t.n_bytes) + " bytes] extends past end of file (size " +
           std::to_string(file_size) + ", data section starts at " +
           std::to_string(out.data_offset) + ")");
    }
    t.data = base + out.data_offset + t.offset;
  }
}

}  // namespace

std::string_view value_type_name(GgufValueType type) {
  switch (type) {
    case GgufValueType::UINT8: return "UINT8";
    case GgufValueType::INT8: return "INT8";
    case GgufValueType::UINT16: return "UINT16";
    case GgufValueType::INT16: return "INT16";
    case GgufValueType::UINT32: return "UINT32";
    case GgufValueType::INT32: return "INT32";
    case GgufValueType::FLOAT32: return "FLOAT32";
    case GgufValueType::BOOL: return "BOOL";
    case GgufValueType::STRING: return "STRING";
    case GgufValueType::ARRAY: return "ARRAY";
    case GgufValueType::UINT64: return "UINT64";
    case GgufValueType::INT64: return "INT64";
    case GgufValueType::FLOAT64: return "FLOAT64";
  }
  return "unknown";
}

ParsedGguf parse_gguf(const uint8_t* data, size_t size) {
  ParsedGguf out;
  ByteReader in(data, size);
  if (size < 4) fail("file is " + std::to_string(size) + " bytes, too small for the GGUF magic");
  auto magic = in.read<uint32_t>("header", "magic");
  if (magic != kMagic) fail("not a GGUF file (bad magic at offset 0)");
  out.version = in.read<uint32_t>("header", "version");
  if (out.version == 1) fail("GGUF version 1 is not supported (only versions 2 and 3)");
  if (out.version != 2 && out.version != 3) {
    fail("unsupported GGUF version " + std::to_string(out.version) +
         " (only versions 2 and 3; a huge number suggests a big-endian file)");
  }
  size_t count_at = in.offset();
  auto n_tensors = in.read<uint64_t>("header", "n_tensors");
  auto n_kv = in.read<uint64_t>("header", "n_kv");
  if (n_kv > in.remaining() / kMinKvBytes) {
    fail("header: n_kv " + std::to_string(n_kv) + " at offset " + std::to_string(count_at + 8) +
         " exceeds what the file size " + std::to_string(size) + " can hold");
  }
  if (n_tensors > in.remaining() / kMinTensorInfoBytes) {
    fail("header: n_tensors " + std::to_string(n_tensors) + " at offset " +
         std::to_string(count_at) + " exceeds what the file size " + std::to_string(size) +
         " can hold");
  }

  out.metadata.reserve(static_cast<size_t>(n_kv));
  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string context = "metadata key #" + std::to_string(i);
    std::string key = in.read_string(context, "key");
    context += " (" + quoted(key) + ")";
    size_t type_at = in.offset();
    auto raw_type = in.read<uint32_t>(context, "value type");
    if (min_value_bytes(static_cast<GgufValueType>(raw_type)) == 0) {
      fail(context + ": unknown value type " + std::to_string(raw_type) + " at offset " +
           std::to_string(type_at));
    }
    GgufValue value = read_value(in, static_cast<GgufValueType>(raw_type), context, 0);
    if (out.key_index.count(key) != 0) fail(context + ": duplicate key");
    out.key_index.emplace(key, out.metadata.size());
    out.metadata.emplace_back(std::move(key), std::move(value));
  }
  read_alignment(out);

  out.tensors.reserve(static_cast<size_t>(n_tensors));
  for (uint64_t i = 0; i < n_tensors; ++i) read_tensor_info(in, i, out);

  uint64_t end_of_infos = in.offset();
  out.data_offset = (end_of_infos + out.alignment - 1) / out.alignment * out.alignment;
  place_tensor_data(out, data, size);
  return out;
}

}  // namespace tandem::engine::detail
