#include "engine/tokenizer/pretokenizer.h"

#include "engine/gguf.h"
#include "engine/tokenizer/unicode_text.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <utility>

namespace tandem::engine::tok {

namespace {

// The regex strings are llama.cpp's (src/llama-vocab.cpp), which adapted the Hugging Face
// tokenizer.json patterns to run without case-insensitive groups.
constexpr const char* kGpt2 =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
constexpr const char* kLlama3 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
    "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr const char* kQwen2 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
    "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr const char* kTekken =
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|[^\\r\\n\\p{L}\\p{N}]?"
    "((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr const char* kGpt4o =
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|"
    "'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])"
    "([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}"
    "\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr const char* kBloom = " ?[^(\\s|.,!?\\x{2026}\\x{3002}\\x{FF0C}\\x{3001}\\x{964}\\x{6D4}\\x{60C})]+";
constexpr const char* kCjk = "[\\x{4E00}-\\x{9FA5}\\x{800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+";

bool is_one_of(std::string_view name, std::initializer_list<std::string_view> names) {
  for (auto n : names) {
    if (name == n) return true;
  }
  return false;
}

}  // namespace

PreTokenizerRules pre_tokenizer_rules(std::string_view pre) {
  PreTokenizerRules r;
  if (pre.empty() || pre == "default") {
    r.regexes = {"[\\p{P}\\$\\+<=>\\^~\\|]+", kGpt2, "\\p{N}+", "[0-9][0-9][0-9]"};
  } else if (is_one_of(pre, {"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral",
                             "midm-2.0", "lfm2"})) {
    r.regexes = {kLlama3};
    r.ignore_merges = true;
    r.add_bos_default = true;
  } else if (is_one_of(pre, {"dbrx", "smaug-bpe", "chatglm-bpe", "glm4"})) {
    r.regexes = {kLlama3};
  } else if (pre == "deepseek-llm") {
    // Hex escapes, not literal characters: Unicode normalization of this source file must
    // not be able to change the ranges (several endpoints have canonical equivalents).
    r.regexes = {
        "[\r\n]",
        "\\s?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}\\x{1C4}-\\x{293}"
        "\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}\\x{37F}\\x{386}\\x{388}-\\x{38A}"
        "\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}"
        "\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}"
        "\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}"
        "\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-"
        "\\x{1F7D}\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}"
        "\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}"
        "\\x{2102}\\x{2107}\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}\\x{2124}\\x{2126}\\x{2128}"
        "\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}\\x{214E}"
        "\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}"
        "\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}"
        "\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}"
        "\\x{10400}-\\x{1044F}\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-"
        "\\x{10CF2}\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}]+",
        "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+",
        "\\s+$",
        kCjk,
        "\\p{N}+",
    };
  } else if (pre == "deepseek-coder") {
    r.regexes = {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", kCjk, "\\p{N}"};
  } else if (pre == "falcon") {
    r.regexes = {"[\\p{P}\\$\\+<=>\\^~\\|`]+", kGpt2, "[0-9][0-9][0-9]"};
  } else if (is_one_of(pre, {"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone",
                             "minerva-7b"})) {
    r.regexes = {"\\p{N}", kGpt2};
  } else if (is_one_of(pre, {"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es",
                             "jina-v2-de", "jina-v1-en", "jina-v2-code", "roberta-bpe", "mpt",
                             "olmo", "jais", "exaone4", "trillion", "granite-docling", "mellum",
                             "a.x-4.0"})) {
    r.regexes = {kGpt2};
  } else if (is_one_of(pre, {"qwen2", "deepseek-r1-qwen", "stablelm2", "megrez", "hunyuan",
                             "kormo", "grok-2"})) {
    r.regexes = {kQwen2};
  } else if (is_one_of(pre, {"poro-chat", "bloom", "gpt3-finnish"})) {
    r.regexes = {kBloom};
  } else if (pre == "viking") {
    r.regexes = {kBloom, "\\p{N}"};
  } else if (pre == "tekken") {
    r.regexes = {kTekken};
    r.ignore_merges = true;
    r.add_bos_default = true;
  } else if (is_one_of(pre, {"gpt-4o", "llama4", "minimax-m2"})) {
    r.regexes = {kGpt4o};
  } else {
    throw GgufError("tokenizer.ggml.pre: unsupported pre-tokenizer '" + std::string(pre) + "'");
  }
  return r;
}

namespace {

// llama.cpp matches its Unicode whitespace set (Python's str.isspace), which also has U+0085;
// PCRE2's \s (with UCP) does not, so add it wherever the pattern says \s or \S.
std::string widen_whitespace_classes(const std::string& pattern) {
  std::string out;
  out.reserve(pattern.size() + 16);
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char e = pattern[i + 1];
      ++i;
      if (e == 's') {
        out += in_class ? "\\s\\x{85}" : "[\\s\\x{85}]";
      } else if (e == 'S' && !in_class) {
        out += "[^\\s\\x{85}]";
      } else {
        out += c;
        out += e;
      }
      continue;
    }
    if (c == '[' && !in_class) in_class = true;
    else if (c == ']' && in_class) in_class = false;
    out += c;
  }
  return out;
}

// For these two patterns llama.cpp runs hand-written matchers instead of a regex engine. They
// differ from the regex in two ways we reproduce: unassigned code points never match
// [^\s\p{L}\p{N}], and text no alternative matches is split into single characters.
bool uses_llama_cpp_custom_matcher(const std::string& pattern) {
  return pattern == kGpt2 || pattern == kLlama3;
}

std::string exclude_unassigned(std::string pattern) {
  const std::string cls = "[^\\s\\p{L}\\p{N}]";
  for (size_t at = pattern.find(cls); at != std::string::npos; at = pattern.find(cls, at)) {
    pattern.replace(at, cls.size(), "[^\\s\\p{L}\\p{N}\\p{Cn}]");
    at += cls.size();
  }
  return pattern;
}

}  // namespace

struct PreTokenizer::Pattern {
  pcre2_code* code = nullptr;
  bool split_gaps_per_character = false;
  ~Pattern() { pcre2_code_free(code); }
};

PreTokenizer::PreTokenizer(const std::vector<std::string>& regexes) {
  for (const auto& source : regexes) {
    auto pattern = std::make_unique<Pattern>();
    pattern->split_gaps_per_character = uses_llama_cpp_custom_matcher(source);
    std::string compiled = widen_whitespace_classes(
        pattern->split_gaps_per_character ? exclude_unassigned(source) : source);
    int error_code = 0;
    PCRE2_SIZE error_offset = 0;
    // DOLLAR_ENDONLY: like std::regex, `$` must not match before a final newline.
    pattern->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(compiled.data()), compiled.size(),
                                  PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY, &error_code,
                                  &error_offset, nullptr);
    if (pattern->code == nullptr) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(error_code, message, sizeof(message));
      throw GgufError("tokenizer: cannot compile pre-tokenizer regex '" + source + "' at offset " +
                      std::to_string(error_offset) + ": " + reinterpret_cast<char*>(message));
    }
    pcre2_jit_compile(pattern->code, PCRE2_JIT_COMPLETE);  // optional speed-up; falls back
    patterns_.push_back(std::move(pattern));
  }
}

PreTokenizer::~PreTokenizer() = default;

namespace {

struct MatchData {
  explicit MatchData(const pcre2_code* code)
      : data(pcre2_match_data_create_from_pattern(code, nullptr)) {
    if (data == nullptr) throw std::bad_alloc();
  }
  ~MatchData() { pcre2_match_data_free(data); }
  MatchData(const MatchData&) = delete;
  MatchData& operator=(const MatchData&) = delete;
  pcre2_match_data* data;
};

void push_gap(std::string_view gap, bool per_character, std::vector<std::string_view>& out) {
  if (!per_character) {
    out.push_back(gap);
    return;
  }
  size_t pos = 0;
  while (pos < gap.size()) {
    const size_t start = pos;
    next_codepoint(gap, pos);
    out.push_back(gap.substr(start, pos - start));
  }
}

}  // namespace

std::vector<std::string_view> PreTokenizer::split(std::string_view text) const {
  std::vector<std::string_view> pieces;
  if (text.empty()) return pieces;
  pieces.push_back(text);
  for (const auto& pattern : patterns_) {
    MatchData match(pattern->code);
    std::vector<std::string_view> next;
    next.reserve(pieces.size() * 2);
    for (std::string_view piece : pieces) {
      // Each piece is its own subject: lookarounds and `$` must not see the neighbours.
      const auto* subject = reinterpret_cast<PCRE2_SPTR>(piece.data());
      size_t last_end = 0;
      size_t search_from = 0;
      while (search_from < piece.size()) {
        const int rc = pcre2_match(pattern->code, subject, piece.size(), search_from,
                                   PCRE2_NO_UTF_CHECK, match.data, nullptr);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
          PCRE2_UCHAR message[256];
          pcre2_get_error_message(rc, message, sizeof(message));
          throw std::runtime_error(std::string("tokenizer: regex match failed: ") +
                                   reinterpret_cast<char*>(message));
        }
        const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match.data);
        const size_t begin = ovector[0];
        const size_t end = ovector[1];
        if (end == begin) {  // empty match: step over one character
          size_t pos = begin;
          next_codepoint(piece, pos);
          search_from = pos;
          continue;
        }
        if (begin > last_end) {
          push_gap(piece.substr(last_end, begin - last_end), pattern->split_gaps_per_character,
                   next);
        }
        next.push_back(piece.substr(begin, end - begin));
        last_end = search_from = end;
      }
      if (last_end < piece.size()) {
        push_gap(piece.substr(last_end), pattern->split_gaps_per_character, next);
      }
    }
    pieces = std::move(next);
  }
  return pieces;
}

}  // namespace tandem::engine::tok
