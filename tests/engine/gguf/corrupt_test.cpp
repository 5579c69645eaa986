// The corrupt-file corpus: truncations and hostile fields, each of which must be rejected with a
// GgufError naming what is wrong (and never crash or read out of bounds — the fuzzer covers the
// rest of the space).
#include "engine/gguf.h"
#include "engine/gguf_writer.h"
#include "engine/model_config.h"
#include "tests/engine/gguf/gguf_test_util.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace tandem::engine {
namespace {

using testing::AllOf;
using testing::AnyOf;
using testing::HasSubstr;
using namespace tandem::engine::test;

GgufValue nested_array(int depth) {
  auto array = std::make_shared<GgufArray>();
  if (depth == 1) {
    array->element_type = GgufValueType::INT8;
    array->elements.push_back(make_value(GgufValueType::INT8, int64_t{-3}));
  } else {
    array->element_type = GgufValueType::ARRAY;
    array->elements.push_back(nested_array(depth - 1));
  }
  return make_value(GgufValueType::ARRAY, array);
}

// Every section kind, ending with a tensor whose size is a multiple of the alignment, so the
// file has no trailing padding: any shorter prefix is missing something.
std::vector<uint8_t> small_mixed_file() {
  GgufWriter w;
  w.add_string("general.architecture", "llama");
  w.add_uint32("llama.block_count", 2);
  w.add_float32("llama.rope.freq_base", 10000.0f);
  w.add_bool("tokenizer.ggml.add_bos_token", true);
  w.add_string_array("tokenizer.ggml.tokens", {"<unk>", "a", "bc"});
  w.add_value("nested", nested_array(3));
  w.add_uint64("big", 1ULL << 40);
  w.add_tensor_f32("q8", {32, 2}, GgmlType::Q8_0, std::vector<float>(64, 0.25f));
  std::vector<uint8_t> k(144, 0x11);
  w.add_tensor("q4k", {256}, GgmlType::Q4_K, k);
  w.add_tensor_f32("last", {8}, GgmlType::F32, std::vector<float>(8, 1.0f));
  return w.to_bytes();
}

const auto kTruncationMessage =
    AnyOf(HasSubstr("truncated"), HasSubstr("exceeds file size"), HasSubstr("extends past end of file"),
          HasSubstr("too small"), HasSubstr("can hold"));

TEST(CorruptGguf, EveryTruncationOfASmallFileIsRejected) {
  const auto full = small_mixed_file();
  ASSERT_NO_THROW(GgufFile::from_bytes(full));
  ASSERT_LT(full.size(), 2000u);
  for (size_t length = 0; length < full.size(); ++length) {
    std::vector<uint8_t> prefix(full.begin(), full.begin() + static_cast<long>(length));
    const std::string message = parse_error(prefix);
    ASSERT_THAT(message, kTruncationMessage) << "prefix of " << length << " bytes";
    ASSERT_THAT(message, HasSubstr("gguf: "));
  }
}

TEST(CorruptGguf, TruncationInsideTheHeaderAndAKeyNamesTheField) {
  GgufWriter w;
  w.add_string("general.name", "tiny");
  const auto full = w.to_bytes();  // header 24, key len 8 + 12, type 4, value len 8 + 4
  struct Cut { size_t at; const char* expected; };
  for (Cut cut : {Cut{2, "too small"}, Cut{6, "header: version"}, Cut{12, "header: n_tensors"},
                  Cut{20, "header: n_kv"}, Cut{28, "n_kv 1 at offset 16 exceeds what the file size 28 can hold"},
                  Cut{37, "metadata key #0: key length 12 at offset 24 exceeds file size 37"},
                  Cut{46, "metadata key #0 ('general.name'): value type at offset 44 needs 4 bytes"},
                  Cut{51, "metadata key #0 ('general.name'): string at offset 48 needs 8 bytes"},
                  Cut{58, "metadata key #0 ('general.name'): string length 4 at offset 48 exceeds file size 58"}}) {
    std::vector<uint8_t> prefix(full.begin(), full.begin() + static_cast<long>(cut.at));
    EXPECT_THAT(parse_error(prefix), HasSubstr(cut.expected)) << "cut at " << cut.at;
  }
}

TEST(CorruptGguf, TruncationAtSectionBoundariesOfAModelNamesTheField) {
  const auto full = synthetic_model_bytes(tiny_spec());
  struct Cut { size_t at; const char* expected; };
  const size_t tokens_key = find_bytes(full, "tokenizer.ggml.tokens");  // 21 characters
  const size_t embd_info = find_bytes(full, "token_embd.weight");       // 17 characters
  for (Cut cut : {Cut{tokens_key + 21 + 4 + 2, "('tokenizer.ggml.tokens'): array element type"},
                  Cut{tokens_key + 21 + 4 + 4 + 3, "('tokenizer.ggml.tokens'): array count"},
                  Cut{tokens_key + 21 + 4 + 4 + 8 + 2200, "('tokenizer.ggml.tokens') element"},
                  Cut{embd_info + 5, "tensor #0: name"},
                  Cut{embd_info + 17 + 2, "tensor #0 ('token_embd.weight'): n_dims"},
                  Cut{embd_info + 17 + 4 + 9, "tensor #0 ('token_embd.weight'): dimension"},
                  Cut{embd_info + 17 + 4 + 16 + 1, "tensor #0 ('token_embd.weight'): type"},
                  Cut{embd_info + 17 + 4 + 16 + 4 + 1, "tensor #0 ('token_embd.weight'): data offset"},
                  Cut{full.size() - 1, "extends past end of file"},
                  Cut{full.size() / 2, "extends past end of file"}}) {
    std::vector<uint8_t> prefix(full.begin(), full.begin() + static_cast<long>(cut.at));
    EXPECT_THAT(parse_error(prefix), HasSubstr(cut.expected)) << "cut at " << cut.at;
  }
}

TEST(CorruptGguf, HugeStringLengthsAreCheckedBeforeAllocating) {
  auto bytes = synthetic_model_bytes(tiny_spec());
  const size_t at = value_type_offset(bytes, "general.name") + 4;
  patch<uint64_t>(bytes, at, 999999);
  EXPECT_THAT(parse_error(bytes),
              AllOf(HasSubstr("metadata key #1 ('general.name'): string length 999999 at offset " +
                              std::to_string(at)),
                    HasSubstr("exceeds file size " + std::to_string(bytes.size()))));
  patch<uint64_t>(bytes, at, ~0ULL);
  EXPECT_THAT(parse_error(bytes), HasSubstr("string length 18446744073709551615"));

  auto key = synthetic_model_bytes(tiny_spec());
  patch<uint64_t>(key, find_bytes(key, "general.name") - 8, 1ULL << 62);
  EXPECT_THAT(parse_error(key), AllOf(HasSubstr("metadata key #1: key length"),
                                      HasSubstr("exceeds file size")));
}

TEST(CorruptGguf, HugeArrayCountsAreCheckedBeforeAllocating) {
  auto bytes = synthetic_model_bytes(tiny_spec());
  const size_t count_at = value_type_offset(bytes, "tokenizer.ggml.tokens") + 4 + 4;
  ASSERT_EQ(peek<uint64_t>(bytes, count_at), 259u);
  patch<uint64_t>(bytes, count_at, 1ULL << 60);
  EXPECT_THAT(parse_error(bytes),
              AllOf(HasSubstr("('tokenizer.ggml.tokens'): array count 1152921504606846976"),
                    HasSubstr("exceeds file size")));
  // One string inside the array claiming too much.
  auto inner = synthetic_model_bytes(tiny_spec());
  const size_t first_string = value_type_offset(inner, "tokenizer.ggml.tokens") + 4 + 4 + 8;
  patch<uint64_t>(inner, first_string, 1ULL << 33);
  EXPECT_THAT(parse_error(inner), AllOf(HasSubstr("element 0"), HasSubstr("string length 8589934592")));
}

// Plausible counts (the bytes are there) but more elements than any vocabulary: rejected before
// the ~56 bytes of memory each parsed element costs are spent.
TEST(CorruptGguf, MetadataElementBudget) {
  GgufWriter w;
  w.add_uint8("big", 0);  // becomes the array below
  auto bytes = w.to_bytes();
  const size_t type_at = value_type_offset(bytes, "big");
  bytes.resize(type_at);
  const uint64_t count = (uint64_t{1} << 24) + 1;
  auto put = [&](auto v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    bytes.insert(bytes.end(), p, p + sizeof v);
  };
  put(uint32_t{9});  // ARRAY
  put(uint32_t{0});  // of UINT8
  put(count);
  bytes.resize(bytes.size() + count, 0);
  EXPECT_THAT(parse_error(bytes), AllOf(HasSubstr("('big'): array count 16777217"),
                                        HasSubstr("16777216 array elements in total")));
}

TEST(CorruptGguf, HugeHeaderCounts) {
  auto bytes = small_mixed_file();
  auto tensors = bytes;
  patch<uint64_t>(tensors, 8, 1ULL << 60);
  EXPECT_THAT(parse_error(tensors), AllOf(HasSubstr("n_tensors 1152921504606846976"), HasSubstr("can hold")));
  auto kvs = bytes;
  patch<uint64_t>(kvs, 16, ~0ULL);
  EXPECT_THAT(parse_error(kvs), HasSubstr("n_kv 18446744073709551615"));
  auto more_kvs = bytes;  // plausible but wrong: runs into the tensor infos
  patch<uint64_t>(more_kvs, 16, peek<uint64_t>(bytes, 16) + 3);
  EXPECT_THAT(parse_error(more_kvs), HasSubstr("metadata key #8: key length"));
}

TEST(CorruptGguf, HeaderMagicAndVersion) {
  auto bytes = small_mixed_file();
  auto magic = bytes;
  magic[0] = 'X';
  EXPECT_THAT(parse_error(magic), HasSubstr("not a GGUF file"));
  for (uint32_t version : {1u, 0u, 4u, 0x03000000u}) {
    GgufWriter w;
    w.set_version(version);
    w.add_uint32("k", 1);
    const std::string message = parse_error(w.to_bytes());
    if (version == 1) {
      EXPECT_THAT(message, HasSubstr("version 1 is not supported"));
    } else {
      EXPECT_THAT(message, HasSubstr("unsupported GGUF version " + std::to_string(version)));
    }
  }
  EXPECT_THAT(parse_error({}), HasSubstr("too small"));
}

GgufWriter::RawTensor raw(std::string name, std::vector<uint64_t> dims, uint32_t type, size_t bytes,
                          std::optional<uint64_t> offset = std::nullopt) {
  return {std::move(name), std::move(dims), type, std::vector<uint8_t>(bytes, 0), offset};
}

std::string tensor_error(GgufWriter::RawTensor tensor) {
  GgufWriter w;
  w.add_string("general.architecture", "llama");
  w.add_tensor_f32("fine", {8}, GgmlType::F32, std::vector<float>(8, 0.0f));
  w.add_tensor_unchecked(std::move(tensor));
  return parse_error(w.to_bytes());
}

TEST(CorruptGguf, BadTensorInfos) {
  const std::string t = "tensor #1 ('blk.0.attn_q.weight')";
  EXPECT_THAT(tensor_error(raw("blk.0.attn_q.weight", {32}, 0, 128, 40)),
              AllOf(HasSubstr("tensor 'blk.0.attn_q.weight'"), HasSubstr("data offset 40"),
                    HasSubstr("alignment 32")));
  EXPECT_THAT(tensor_error(raw("blk.0.attn_q.weight", {1024}, 0, 64)),
              AllOf(HasSubstr("tensor 'blk.0.attn_q.weight': data [offset 32, 4096 bytes] extends "
                              "past end of file")));
  EXPECT_THAT(tensor_error(raw("blk.0.attn_q.weight", {8}, 0, 32, ~0ULL - 31)),
              HasSubstr("extends past end of file"));
  EXPECT_THAT(tensor_error(raw("blk.0.attn_q.weight", {8}, 0, 32, 1ULL << 40)),
              HasSubstr("extends past end of file"));
  EXPECT_THAT(tensor_error(raw("blk.0.attn_q.weight", {32}, 99, 64)),
              AllOf(HasSubstr(t), HasSubstr("unknown tensor type 99")));
  EXPECT_THAT(tensor_error(raw("blk.0.attn_q.weight", {256}, 10, 84)),
              AllOf(HasSubstr(t), HasSubstr("Q2_K is not supported")));
  EXPECT_THAT(tensor_error(raw("blk.0.attn_q.weight", {256}, 26, 1024)),
              AllOf(HasSubstr(t), HasSubstr("I32 is not supported")));
  EXPECT_THAT(tensor_error(raw("blk.0.attn_q.weight", {1, 1, 1, 1, 1}, 0, 4)),
              AllOf(HasSubstr(t), HasSubstr("n_dims 5")));
  EXPECT_THAT(tensor_error(raw("blk.0.attn_q.weight", {}, 0, 4)), AllOf(HasSubstr(t), HasSubstr("n_dims 0")));
  EXPECT_THAT(tensor_error(raw("blk.0.attn_q.weight", {8, 0}, 0, 0)),
              AllOf(HasSubstr(t), HasSubstr("dimension 1 is zero")));
  EXPECT_THAT(tensor_error(raw("blk.0.attn_q.weight", {1ULL << 32, 1ULL << 32}, 0, 0)),
              AllOf(HasSubstr(t), HasSubstr("overflow")));
  EXPECT_THAT(tensor_error(raw("blk.0.attn_q.weight", {1ULL << 62, 2}, 0, 0)),
              AllOf(HasSubstr(t), HasSubstr("overflow")));
  EXPECT_THAT(tensor_error(raw("blk.0.attn_q.weight", {1ULL << 61, 2}, 0, 0)),
              AllOf(HasSubstr(t), HasSubstr("overflow")));  // bytes overflow (4 per element)
  EXPECT_THAT(tensor_error(raw("blk.0.attn_q.weight", {33}, 8, 34)),
              AllOf(HasSubstr(t), HasSubstr("row length 33"), HasSubstr("block size 32")));
  EXPECT_THAT(tensor_error(raw("fine", {8}, 0, 32)), HasSubstr("tensor #1 ('fine'): duplicate tensor name"));
}

TEST(CorruptGguf, OverlappingTensorsAreAllowed) {
  GgufWriter w;
  w.add_tensor_f32("a", {8}, GgmlType::F32, std::vector<float>(8, 2.0f));
  w.add_tensor_unchecked(raw("b", {8}, 0, 32, 0));  // same bytes as "a"
  GgufFile f = GgufFile::from_bytes(w.to_bytes());
  EXPECT_EQ(f.find_tensor("a")->data, f.find_tensor("b")->data);
}

TEST(CorruptGguf, BadMetadataValues) {
  {
    auto bytes = small_mixed_file();
    patch<uint32_t>(bytes, value_type_offset(bytes, "llama.block_count"), 13);
    EXPECT_THAT(parse_error(bytes), AllOf(HasSubstr("('llama.block_count')"), HasSubstr("unknown value type 13")));
  }
  {
    auto bytes = small_mixed_file();
    patch<uint8_t>(bytes, value_type_offset(bytes, "tokenizer.ggml.add_bos_token") + 4, 2);
    EXPECT_THAT(parse_error(bytes), AllOf(HasSubstr("add_bos_token"), HasSubstr("bool value 2")));
  }
  {
    auto bytes = small_mixed_file();
    patch<uint32_t>(bytes, value_type_offset(bytes, "tokenizer.ggml.tokens") + 4, 77);
    EXPECT_THAT(parse_error(bytes), HasSubstr("unknown array element type 77"));
  }
  {
    GgufWriter w;
    w.add_value("deep", nested_array(4));
    EXPECT_NO_THROW(GgufFile::from_bytes(w.to_bytes()));
    GgufWriter deeper;
    deeper.add_value("deeper", nested_array(5));
    EXPECT_THAT(parse_error(deeper.to_bytes()), AllOf(HasSubstr("('deeper')"), HasSubstr("nested deeper")));
  }
  {
    GgufWriter w;
    w.add_uint32("k", 1);
    w.add_string("k", "again");
    EXPECT_THAT(parse_error(w.to_bytes()), HasSubstr("metadata key #1 ('k'): duplicate key"));
  }
}

TEST(CorruptGguf, BadAlignment) {
  for (auto [value, expected] : {std::pair{3u, "power of two"}, {0u, "power of two"}}) {
    GgufWriter w;
    w.add_uint32("general.alignment", value);
    EXPECT_THAT(parse_error(w.to_bytes()), AllOf(HasSubstr("general.alignment"), HasSubstr(expected)));
  }
  GgufWriter w;
  w.add_string("general.alignment", "32");
  EXPECT_THAT(parse_error(w.to_bytes()), AllOf(HasSubstr("general.alignment"), HasSubstr("UINT32")));
}

TEST(CorruptGguf, WrongTypesForRequiredConfigKeys) {
  auto bytes = synthetic_model_bytes(tiny_spec());
  // Turn llama.block_count (UINT32 1) into FLOAT32: same size, so the file stays well formed.
  patch<uint32_t>(bytes, value_type_offset(bytes, "llama.block_count"), 6);
  GgufFile f = GgufFile::from_bytes(bytes);
  try {
    read_model_config(f);
    ADD_FAILURE() << "expected a GgufError";
  } catch (const GgufError& e) {
    EXPECT_THAT(e.what(), AllOf(HasSubstr("llama.block_count"), HasSubstr("FLOAT32")));
  }
}

TEST(CorruptGguf, OpenNamesTheFileInTheError) {
  const auto path = std::filesystem::temp_directory_path() / "tandem_truncated.gguf";
  const auto full = small_mixed_file();
  {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(full.data()), static_cast<long>(full.size() - 10));
  }
  try {
    GgufFile::open(path.string());
    ADD_FAILURE() << "expected a GgufError";
  } catch (const GgufError& e) {
    EXPECT_THAT(e.what(), AllOf(HasSubstr("extends past end of file"), HasSubstr(path.string())));
  }
  { std::ofstream empty(path, std::ios::binary | std::ios::trunc); }
  EXPECT_THROW(GgufFile::open(path.string()), GgufError);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace tandem::engine
