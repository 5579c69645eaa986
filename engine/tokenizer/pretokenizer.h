// Regex pre-tokenization for byte-level BPE, as llama.cpp does it for each `tokenizer.ggml.pre`:
// a list of PCRE2 Unicode regexes applied one after another; each regex splits every piece the
// previous ones produced, and the text between matches is kept as pieces of its own.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tandem::engine::tok {

struct PreTokenizerRules {
  std::vector<std::string> regexes;
  bool ignore_merges = false;     // a whole pre-token that is in the vocabulary is taken as is
  bool add_bos_default = false;   // llama.cpp's default before tokenizer.ggml.add_bos_token
};

// The rules for a `tokenizer.ggml.pre` name ("" means "default"). Throws GgufError for names
// we do not know, rather than silently tokenizing differently from the model's training.
PreTokenizerRules pre_tokenizer_rules(std::string_view pre_name);

class PreTokenizer {
 public:
  explicit PreTokenizer(const std::vector<std::string>& regexes);  // throws GgufError
  ~PreTokenizer();
  PreTokenizer(const PreTokenizer&) = delete;
  PreTokenizer& operator=(const PreTokenizer&) = delete;

  // Splits valid UTF-8 into pieces (views into `text`) whose concatenation is `text`.
  // Thread-safe: compiled patterns are shared, match state is per call.
  std::vector<std::string_view> split(std::string_view text) const;

 private:
  struct Pattern;
  std::vector<std::unique_ptr<Pattern>> patterns_;
};

}  // namespace tandem::engine::tok
