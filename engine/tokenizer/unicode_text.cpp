#include "engine/tokenizer/unicode_text.h"

#include <array>

namespace tandem::engine::tok {

size_t utf8_sequence_length(unsigned char lead) {
  static constexpr size_t kByHighNibble[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kByHighNibble[lead >> 4];
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp <= 0x7F) {
    out.push_back(static_cast<char>(cp));
  } else if (cp <= 0x7FF) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp <= 0xFFFF) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

namespace {

bool is_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// Mirrors llama.cpp's unicode_cpt_from_utf8: the lead byte decides the length, the following
// bytes must be continuation bytes. Returns false for a malformed sequence.
bool decode_lenient(std::string_view s, size_t pos, uint32_t& cp, size_t& length) {
  const auto b0 = static_cast<unsigned char>(s[pos]);
  const size_t remaining = s.size() - pos;
  if (b0 < 0x80) {
    cp = b0;
    length = 1;
    return true;
  }
  if ((b0 & 0xE0) == 0xC0) {
    length = 2;
    cp = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    length = 3;
    cp = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    length = 4;
    cp = b0 & 0x07;
  } else {
    return false;  // stray continuation byte or 0xF8..0xFF
  }
  if (remaining < length) return false;
  for (size_t i = 1; i < length; ++i) {
    const auto c = static_cast<unsigned char>(s[pos + i]);
    if (!is_continuation(c)) return false;
    cp = (cp << 6) | (c & 0x3F);
  }
  return true;
}

}  // namespace

std::string sanitize_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    uint32_t cp = 0;
    size_t length = 0;
    if (decode_lenient(text, pos, cp, length)) {
      // llama.cpp keeps overlong forms and surrogates; PCRE2 cannot take them, and no
      // vocabulary has tokens for them, so they become U+FFFD like other malformed input.
      const bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
      append_utf8(out, (surrogate || cp > 0x10FFFF) ? 0xFFFD : cp);
      pos += length;
    } else {
      append_utf8(out, 0xFFFD);
      pos += 1;
    }
  }
  return out;
}

uint32_t next_codepoint(std::string_view s, size_t& pos) {
  uint32_t cp = 0;
  size_t length = 1;
  if (!decode_lenient(s, pos, cp, length)) {
    cp = 0xFFFD;
    length = 1;
  }
  pos += length;
  return cp;
}

namespace {

struct ByteMapping {
  std::array<std::string, 256> byte_to_text;
  std::array<int16_t, 512> codepoint_to_byte;  // the mapping only uses code points < 0x144

  ByteMapping() {
    codepoint_to_byte.fill(-1);
    // Printable Latin-1 bytes map to themselves; the rest get 256, 257, ... in byte order.
    auto printable = [](int b) {
      return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    };
    int next_extra = 256;
    for (int b = 0; b < 256; ++b) {
      const int cp = printable(b) ? b : next_extra++;
      append_utf8(byte_to_text[b], static_cast<uint32_t>(cp));
      codepoint_to_byte[cp] = static_cast<int16_t>(b);
    }
  }
};

const ByteMapping& byte_mapping() {
  static const ByteMapping mapping;
  return mapping;
}

}  // namespace

const std::string& byte_to_unicode(uint8_t byte) { return byte_mapping().byte_to_text[byte]; }

int unicode_to_byte(uint32_t cp) {
  if (cp >= byte_mapping().codepoint_to_byte.size()) return -1;
  return byte_mapping().codepoint_to_byte[cp];
}

size_t complete_utf8_prefix(std::string_view text) {
  // Walk back over at most 3 continuation bytes to the last lead byte.
  size_t i = text.size();
  size_t continuations = 0;
  while (i > 0 && continuations < 3 && is_continuation(static_cast<unsigned char>(text[i - 1]))) {
    --i;
    ++continuations;
  }
  if (i == 0) return text.size();
  const auto lead = static_cast<unsigned char>(text[i - 1]);
  size_t needed = 0;
  if ((lead & 0xE0) == 0xC0) needed = 2;
  else if ((lead & 0xF0) == 0xE0) needed = 3;
  else if ((lead & 0xF8) == 0xF0) needed = 4;
  const size_t have = continuations + 1;
  if (needed > have) return i - 1;  // a valid start still waiting for its tail
  return text.size();
}

}  // namespace tandem::engine::tok
