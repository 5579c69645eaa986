// Loading tokenizer.ggml.* into a Vocab, including llama.cpp's conventions for defaults,
// end-of-generation detection and per-model token attributes, so that ids and special-token
// handling agree with what the model was run with in llama.cpp.
#include "engine/tokenizer/vocab.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace tandem::engine::tok {

namespace {

constexpr std::string_view kEotTexts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
    "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>",
};

// Every token with one of these texts ends generation (llama.cpp's list).
constexpr std::string_view kEndOfGenerationTexts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
    "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
    "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
    "<｜end▁of▁sentence｜>", "[e~[",
};

// Fill-in-the-middle markers: llama.cpp treats the first one of each kind as a control token,
// and the pad/repo/file-separator kinds also end generation.
struct FimKind {
  const char* key;
  std::array<std::string_view, 8> texts;
  bool ends_generation;
};
const FimKind kFimKinds[] = {
    {"tokenizer.ggml.fim_pre_token_id",
     {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>",
      "<|code_prefix|>", "<|prefix|>"},
     false},
    {"tokenizer.ggml.fim_suf_token_id",
     {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>",
      "<|code_suffix|>", "<|suffix|>"},
     false},
    {"tokenizer.ggml.fim_mid_token_id",
     {"<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>",
      "<|code_middle|>", "<|middle|>"},
     false},
    {"tokenizer.ggml.fim_pad_token_id", {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"},
     true},
    {"tokenizer.ggml.fim_rep_token_id",
     {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"},
     true},
    {"tokenizer.ggml.fim_sep_token_id", {"<|file_sep|>"}, true},
};

template <size_t N>
bool text_in(std::string_view text, const std::string_view (&list)[N]) {
  return std::find(std::begin(list), std::end(list), text) != std::end(list);
}

uint32_t attr_from_type(int64_t type) {
  switch (type) {
    case 1: return kAttrNormal;
    case 2: return kAttrUnknown;
    case 3: return kAttrControl;
    case 4: return kAttrUserDefined;
    case 5: return kAttrUnused;
    case 6: return kAttrByte;
    default: return kAttrUndefined;
  }
}

// Parses "<0xNN>"; -1 when the text has another form.
int parse_byte_token(std::string_view text) {
  if (text.size() != 6 || text.substr(0, 3) != "<0x" || text[5] != '>') return -1;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  const int hi = hex(text[3]);
  const int lo = hex(text[4]);
  return (hi < 0 || lo < 0) ? -1 : hi * 16 + lo;
}

// An id from the file, or `fallback` when the key is absent or out of range (llama.cpp keeps
// its default in both cases).
TokenId read_token_id(const GgufFile& file, const char* key, TokenId fallback, size_t n_tokens) {
  if (fallback >= 0 && static_cast<size_t>(fallback) >= n_tokens) fallback = -1;
  const auto value = file.get_int(key);
  if (!value || *value < 0 || static_cast<uint64_t>(*value) >= n_tokens) return fallback;
  return static_cast<TokenId>(*value);
}

void load_tokens(const GgufFile& file, Vocab& v) {
  auto tokens = file.get_string_array("tokenizer.ggml.tokens");
  if (!tokens || tokens->empty()) {
    throw GgufError("tokenizer.ggml.tokens: missing or empty vocabulary");
  }
  const size_t n = tokens->size();
  v.text = std::move(*tokens);

  v.score.assign(n, 0.0f);
  if (file.find("tokenizer.ggml.scores") != nullptr) {
    std::vector<float> scores;
    try {
      scores = *file.get_float_array("tokenizer.ggml.scores");
    } catch (const GgufError&) {  // some converters store integer scores
      const auto integer_scores = file.get_int_array("tokenizer.ggml.scores");
      for (int64_t s : integer_scores.value()) scores.push_back(static_cast<float>(s));
    }
    if (scores.size() < n) {
      throw GgufError("tokenizer.ggml.scores: " + std::to_string(scores.size()) +
                      " scores for " + std::to_string(n) + " tokens");
    }
    std::copy_n(scores.begin(), n, v.score.begin());
  }

  v.attr.assign(n, kAttrNormal);
  if (const auto types = file.get_int_array("tokenizer.ggml.token_type")) {
    if (types->size() < n) {
      throw GgufError("tokenizer.ggml.token_type: " + std::to_string(types->size()) +
                      " types for " + std::to_string(n) + " tokens");
    }
    for (size_t i = 0; i < n; ++i) v.attr[i] = attr_from_type((*types)[i]);
  }

  v.byte_value.assign(n, -1);
  v.id_of.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    // As llama.cpp: an empty token would be unreachable and ambiguous, so it gets a name.
    if (v.text[i].empty()) v.text[i] = "[EMPTY_" + std::to_string(i) + "]";
  }
  for (size_t i = 0; i < n; ++i) {
    const auto [it, inserted] = v.id_of.emplace(v.text[i], static_cast<TokenId>(i));
    if (!inserted) {
      throw GgufError("tokenizer.ggml.tokens: duplicate token '" + v.text[i] + "' at ids " +
                      std::to_string(it->second) + " and " + std::to_string(i));
    }
    if (v.attr[i] & kAttrByte) {
      const int byte = parse_byte_token(v.text[i]);
      if (v.kind == VocabKind::spm && byte < 0) {
        throw GgufError("tokenizer.ggml.tokens[" + std::to_string(i) + "]: byte token '" +
                        v.text[i] + "' is not of the form <0xNN>");
      }
      v.byte_value[i] = static_cast<int16_t>(byte);
    }
  }
}

void load_merges(const GgufFile& file, Vocab& v) {
  auto merges = file.get_string_array("tokenizer.ggml.merges");
  if (!merges) throw GgufError("tokenizer.ggml.merges: missing for a gpt2 (BPE) vocabulary");
  v.merge_rank.reserve(merges->size() * 2);
  for (size_t i = 0; i < merges->size(); ++i) {
    std::string& merge = (*merges)[i];
    if (merge.find(' ', 1) == std::string::npos) continue;  // not "left right": never matches
    v.merge_rank.try_emplace(std::move(merge), static_cast<int32_t>(i));  // first rank wins
  }
}

void mark_end_of_generation(const GgufFile& file, Vocab& v) {
  const size_t n = v.size();
  std::unordered_set<TokenId> eog;
  auto force_control = [&](TokenId id) { v.attr[static_cast<size_t>(id)] |= kAttrControl; };

  if (v.eot < 0) {
    for (size_t i = 0; i < n && v.eot < 0; ++i) {
      if (text_in(v.text[i], kEotTexts)) v.eot = static_cast<TokenId>(i);
    }
    if (v.eot >= 0) force_control(v.eot);
  }
  if (v.eom < 0) {
    v.eom = v.find("<|eom_id|>");
    if (v.eom >= 0) force_control(v.eom);
  }
  for (const auto& kind : kFimKinds) {
    TokenId id = read_token_id(file, kind.key, -1, n);
    if (id < 0) {
      for (auto text : kind.texts) {
        if (!text.empty() && (id = v.find(text)) >= 0) break;
      }
      if (id >= 0) force_control(id);
    }
    if (id >= 0 && kind.ends_generation) eog.insert(id);
  }
  for (size_t i = 0; i < n; ++i) {
    if (text_in(v.text[i], kEndOfGenerationTexts)) {
      eog.insert(static_cast<TokenId>(i));
      force_control(static_cast<TokenId>(i));
    }
  }
  // gpt-oss renders its channel markers as text (llama.cpp makes them user-defined).
  for (std::string_view text : {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"}) {
    if (const TokenId id = v.find(text); id >= 0) v.attr[static_cast<size_t>(id)] = kAttrUserDefined;
  }
  for (TokenId id : {v.eos, v.eot, v.eom}) {
    if (id >= 0) eog.insert(id);
  }
  // Harmony-style vocabularies end turns with <|return|>/<|call|>; <|end|> only ends a message.
  auto in_eog = [&](std::string_view text) {
    const TokenId id = v.find(text);
    return id >= 0 && eog.count(id) > 0;
  };
  if (in_eog("<|end|>") && ((in_eog("<|return|>") && in_eog("<|call|>")) ||
                            ((in_eog("<|call|>") || in_eog("<|calls|>")) && in_eog("<|flush|>")))) {
    const TokenId end = v.find("<|end|>");
    eog.erase(end);
    v.attr[static_cast<size_t>(end)] = kAttrUserDefined;
  }
  if (in_eog("<|tool_response>") && in_eog("</s>")) {
    const TokenId s = v.find("</s>");
    eog.erase(s);
    v.attr[static_cast<size_t>(s)] = kAttrNormal;
  }
  v.end_of_generation.assign(eog.begin(), eog.end());
  std::sort(v.end_of_generation.begin(), v.end_of_generation.end());
  v.end_of_generation_set = std::move(eog);
}

void collect_special_tokens(const GgufFile& file, Vocab& v) {
  for (size_t i = 0; i < v.size(); ++i) {
    if (v.attr[i] & (kAttrControl | kAttrUserDefined | kAttrUnknown)) {
      v.special_tokens.push_back(static_cast<TokenId>(i));
    }
  }
  std::stable_sort(v.special_tokens.begin(), v.special_tokens.end(), [&](TokenId a, TokenId b) {
    return v.text[static_cast<size_t>(a)].size() > v.text[static_cast<size_t>(b)].size();
  });

  // Per-model whitespace stripping around special tokens, as llama.cpp hard-codes it.
  std::string name = file.get_string("general.name").value_or("");
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  auto set_attr = [&](std::string_view text, uint32_t bit, bool on) {
    const TokenId id = v.find(text);
    if (id < 0) return;
    auto& a = v.attr[static_cast<size_t>(id)];
    a = on ? (a | bit) : (a & ~bit);
  };
  if (v.pre.find("jina-v2-") != std::string::npos) {
    set_attr("<mask>", kAttrLstrip, true);
  } else if (name.find("phi-3") != std::string::npos || name.find("phi3") != std::string::npos) {
    for (TokenId id : v.special_tokens) v.attr[static_cast<size_t>(id)] |= kAttrRstrip;
    set_attr("</s>", kAttrRstrip, true);
    for (std::string_view text : {"<unk>", "<s>", "<|endoftext|>"}) set_attr(text, kAttrRstrip, false);
  }
}

}  // namespace

Vocab load_vocab(const GgufFile& file) {
  Vocab v;
  v.model = file.get_string("tokenizer.ggml.model").value_or("");
  if (v.model == "llama") {
    v.kind = VocabKind::spm;
  } else if (v.model == "gpt2") {
    v.kind = VocabKind::bpe;
    v.pre = file.get_string("tokenizer.ggml.pre").value_or("default");
    v.pre_rules = pre_tokenizer_rules(v.pre);
  } else {
    throw GgufError("tokenizer.ggml.model: unsupported tokenizer '" + v.model +
                    "' (supported: llama, gpt2)");
  }

  load_tokens(file, v);
  if (v.kind == VocabKind::bpe) load_merges(file, v);

  const size_t n = v.size();
  const bool spm = v.kind == VocabKind::spm;
  v.bos = read_token_id(file, "tokenizer.ggml.bos_token_id", spm ? 1 : -1, n);
  v.eos = read_token_id(file, "tokenizer.ggml.eos_token_id", spm ? 2 : -1, n);
  v.unk = read_token_id(file, "tokenizer.ggml.unknown_token_id", spm ? 0 : -1, n);
  v.eot = read_token_id(file, "tokenizer.ggml.eot_token_id", -1, n);
  v.eom = read_token_id(file, "tokenizer.ggml.eom_token_id", -1, n);

  v.add_bos = file.get_bool("tokenizer.ggml.add_bos_token").value_or(spm || v.pre_rules.add_bos_default);
  v.add_eos = file.get_bool("tokenizer.ggml.add_eos_token").value_or(false);
  v.add_space_prefix = spm && file.get_bool("tokenizer.ggml.add_space_prefix").value_or(true);
  if (v.add_bos && v.bos < 0) {
    throw GgufError("tokenizer.ggml.add_bos_token is true, but tokenizer.ggml.bos_token_id is not set");
  }
  if (v.add_eos && v.eos < 0) {
    throw GgufError("tokenizer.ggml.add_eos_token is true, but tokenizer.ggml.eos_token_id is not set");
  }

  mark_end_of_generation(file, v);
  collect_special_tokens(file, v);
  return v;
}

}  // namespace tandem::engine::tok
