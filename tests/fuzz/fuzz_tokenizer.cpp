// libFuzzer target: the SPM and BPE tokenizers of the reference vocabularies (../shared/vocab and
// the stories260K model). Invariants for valid UTF-8 text s: decode(encode(s)) == s, with and
// without BOS; the incremental detokenizer streams exactly decode's text; encoding with special
// tokens parsed and decoding that never crash.
// Two things cannot round-trip, as in llama.cpp: an ASCII byte a vocabulary lacks altogether
// (Falcon's has no token for some control characters) and, in SPM vocabularies, U+2581 "▁"
// (SPM's own space marker, which decodes as a space). Both are found once at start-up per
// vocabulary, printed, and inputs containing them are skipped for that vocabulary.
#include "engine/gguf.h"
#include "engine/tokenizer.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace tandem::engine;

std::vector<std::unique_ptr<Tokenizer>> load_tokenizers() {
  const std::string shared = TANDEM_SHARED_DIR;
  std::vector<std::unique_ptr<Tokenizer>> tokenizers;
  for (const char* relative :
       {"vocab/ggml-vocab-llama-spm.gguf", "vocab/ggml-vocab-phi-3.gguf", "vocab/ggml-vocab-gpt-2.gguf",
        "vocab/ggml-vocab-llama-bpe.gguf", "vocab/ggml-vocab-deepseek-llm.gguf",
        "vocab/ggml-vocab-falcon.gguf", "models/stories260K.gguf"}) {
    try {
      GgufFile file = GgufFile::open(shared + "/" + relative);
      tokenizers.push_back(Tokenizer::from_gguf(file));
    } catch (const std::exception& error) {
      std::fprintf(stderr, "fuzz_tokenizer: cannot load %s/%s: %s\n", shared.c_str(), relative, error.what());
      std::abort();  // a fuzz run without its vocabularies would test nothing
    }
  }
  return tokenizers;
}

// Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t length = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (length == 0 || i + length > s.size()) return false;
    uint32_t cp = length == 1 ? c : length == 2 ? (c & 0x1F) : length == 3 ? (c & 0x0F) : (c & 0x07);
    for (size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(s[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (next & 0x3F);
    }
    static const uint32_t kMinimum[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMinimum[length] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += length;
  }
  return true;
}

void check(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "fuzz_tokenizer: invariant broken: %s\n", what);
    std::abort();
  }
}

struct Vocabulary {
  std::unique_ptr<Tokenizer> tokenizer;
  std::string missing_ascii;  // ASCII bytes it cannot encode at all
  bool space_marker_is_space = false;  // "▁" decodes as " "
};

constexpr std::string_view kSpaceMarker = "\xE2\x96\x81";  // U+2581

const std::vector<Vocabulary>& vocabularies() {
  static const std::vector<Vocabulary> loaded = [] {
    std::vector<Vocabulary> out;
    for (auto& tokenizer : load_tokenizers()) {
      Vocabulary v;
      for (int c = 0; c < 0x80; ++c) {
        const std::string one(1, static_cast<char>(c));
        if (tokenizer->decode(tokenizer->encode(one, false, false)) != one) v.missing_ascii += one;
      }
      const std::string marker = "x" + std::string(kSpaceMarker) + "x";
      v.space_marker_is_space = tokenizer->decode(tokenizer->encode(marker, false, false)) != marker;
      if (v.space_marker_is_space) {
        std::fprintf(stderr, "fuzz_tokenizer: vocabulary %zu decodes U+2581 as a space; skipping inputs with it\n",
                     out.size());
      }
      if (!v.missing_ascii.empty()) {
        std::fprintf(stderr, "fuzz_tokenizer: vocabulary %zu cannot encode %zu ASCII bytes; skipping inputs with them\n",
                     out.size(), v.missing_ascii.size());
      }
      v.tokenizer = std::move(tokenizer);
      out.push_back(std::move(v));
    }
    return out;
  }();
  return loaded;
}

}  // namespace

// Loads the vocabularies before fuzzing starts, so their (instrumented, slow) parsing does not
// count against the first input's time limit.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)vocabularies();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& all = vocabularies();
  if (size < 1) return 0;
  const Vocabulary& vocabulary = all[data[0] % all.size()];
  const Tokenizer& tokenizer = *vocabulary.tokenizer;
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  if (!valid_utf8(text)) return 0;
  if (text.find_first_of(vocabulary.missing_ascii) != std::string_view::npos) return 0;
  if (vocabulary.space_marker_is_space && text.find(kSpaceMarker) != std::string_view::npos) return 0;

  const std::vector<TokenId> ids = tokenizer.encode(text, false, false);
  const std::string decoded = tokenizer.decode(ids);
  check(decoded == text, "decode(encode(s)) == s");
  check(tokenizer.decode(tokenizer.encode(text, true, false)) == text, "with BOS");

  IncrementalDetokenizer stream(tokenizer);
  std::string streamed;
  for (TokenId id : ids) streamed += stream.push(id);
  streamed += stream.flush();
  check(streamed == decoded, "incremental == decode");

  // With special tokens parsed there is no round trip to promise (<unk> decodes as llama.cpp
  // renders it): only that nothing breaks.
  const std::vector<TokenId> special_ids = tokenizer.encode(text, false, true);
  (void)tokenizer.decode(special_ids, true);
  return 0;
}
