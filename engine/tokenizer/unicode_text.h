// UTF-8 helpers shared by the tokenizers: llama.cpp-compatible decoding of (possibly invalid)
// UTF-8, GPT-2's byte <-> printable-unicode mapping, and detection of an incomplete UTF-8 tail.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tandem::engine::tok {

// Length of the UTF-8 sequence that `lead` starts, from its high nibble alone (a stray
// continuation byte counts as 1). This is how SentencePiece and llama.cpp cut text into symbols.
size_t utf8_sequence_length(unsigned char lead);

void append_utf8(std::string& out, uint32_t codepoint);

// Re-encodes text the way llama.cpp reads it before regex splitting: every byte that does not
// start a well-formed sequence becomes U+FFFD (one per byte), so the result is valid UTF-8.
std::string sanitize_utf8(std::string_view text);

// Decodes one code point of valid UTF-8 at `pos` and advances `pos`.
uint32_t next_codepoint(std::string_view valid_utf8, size_t& pos);

// GPT-2 byte-level BPE represents each byte by a printable code point (space -> U+0120 'Ġ').
const std::string& byte_to_unicode(uint8_t byte);
// The byte a mapped code point stands for, or -1 for code points outside the mapping.
int unicode_to_byte(uint32_t codepoint);

// Number of leading bytes of `text` that do not end inside a UTF-8 sequence that later bytes
// could still complete. Invalid bytes count as complete (they will never become valid).
size_t complete_utf8_prefix(std::string_view text);

}  // namespace tandem::engine::tok
