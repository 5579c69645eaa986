// libFuzzer target: the SPM and BPE tokenizers of the reference vocabularies (../shared/vocab and
// the stories260K model). Invariants for valid UTF-8 text s: decode(encode(s)) == s, with and
// without BOS; the incremental detokenizer streams exactly decode's text; encoding with special
// tokens parsed never crashes and decodes (special tokens rendered) back to s as well.
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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<std::unique_ptr<Tokenizer>> tokenizers = load_tokenizers();
  if (size < 1) return 0;
  const Tokenizer& tokenizer = *tokenizers[data[0] % tokenizers.size()];
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  if (!valid_utf8(text)) return 0;

  const std::vector<TokenId> ids = tokenizer.encode(text, false, false);
  const std::string decoded = tokenizer.decode(ids);
  check(decoded == text, "decode(encode(s)) == s");
  check(tokenizer.decode(tokenizer.encode(text, true, false)) == text, "with BOS");

  IncrementalDetokenizer stream(tokenizer);
  std::string streamed;
  for (TokenId id : ids) streamed += stream.push(id);
  streamed += stream.flush();
  check(streamed == decoded, "incremental == decode");

  const std::vector<TokenId> special_ids = tokenizer.encode(text, false, true);
  check(tokenizer.decode(special_ids, true) == text, "decode(encode(s, special), special) == s");
  return 0;
}
