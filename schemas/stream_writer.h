// Stateful formatters that turn StreamEvents into the exact SSE frames each protocol's clients
// expect. Feed events in order; each write() returns the bytes to send (possibly empty).
//
//   OpenAI chat:   role chunk, content / tool_call / reasoning deltas, a finish chunk, the usage
//                  chunk (choices: []) when include_usage, then `data: [DONE]`.
//   OpenAI legacy: text_completion chunks, a finish chunk, optional usage chunk, `data: [DONE]`.
//   Anthropic:     message_start, content_block_start, ping (once, after the first block start),
//                  content_block_delta..., content_block_stop per block, message_delta,
//                  message_stop; an `error` event when the stream fails midway.
#pragma once

#include "schemas/internal.h"

#include <memory>
#include <string>

namespace tandem::schemas {

struct StreamWriterOptions {
  std::string id;       // empty: taken from MessageStart, or generated
  std::string model;    // empty: taken from MessageStart
  int64_t created = 0;  // 0: taken from MessageStart, or now
  bool include_usage = false;  // OpenAI stream_options.include_usage
  int choices = 1;             // OpenAI chat `n`: how many choices the stream interleaves
};

class StreamWriter {
 public:
  virtual ~StreamWriter() = default;
  // The SSE bytes for this event. Deltas before a MessageStart get an implicit one; events after
  // Finish or StreamError produce nothing.
  virtual std::string write(const StreamEvent& event) = 0;
  // The events of choice `choice` of an n > 1 answer (see the OpenAI writers); a writer of one
  // choice takes choice 0 only.
  virtual std::string write_choice(int choice, const StreamEvent& event) { return choice == 0 ? write(event) : std::string(); }
  bool finished() const { return finished_; }

 protected:
  bool finished_ = false;
};

// With `choices` = n > 1 the events of each choice are fed with write_choice(index, ...): every
// chunk carries its choice's `index`, each choice gets its role chunk and its finish chunk, and
// the usage chunk (prompt counted once, completions summed) and `[DONE]` follow the last Finish.
class OpenAiChatStreamWriter final : public StreamWriter {
 public:
  explicit OpenAiChatStreamWriter(StreamWriterOptions options);
  std::string write(const StreamEvent& event) override { return write_choice(0, event); }
  std::string write_choice(int choice, const StreamEvent& event) override;

 private:
  struct ChoiceState {
    bool started = false;
    bool finished = false;
  };
  std::string start(int choice, const MessageStart& event);
  std::string chunk(int choice, boost::json::value delta, boost::json::value finish_reason,
                    boost::json::value logprobs) const;
  StreamWriterOptions options_;
  bool adopted_ = false;  // id/model/created taken from the first MessageStart
  std::vector<ChoiceState> choices_;
  int unfinished_ = 0;
  Usage usage_;  // summed over the choices' Finish events
};

// Legacy completions; with `choices` = n > 1 like the chat writer: each chunk carries its
// choice's `index`, and the usage chunk (prompt once) and `[DONE]` follow the last Finish.
class OpenAiCompletionStreamWriter final : public StreamWriter {
 public:
  explicit OpenAiCompletionStreamWriter(StreamWriterOptions options);
  std::string write(const StreamEvent& event) override { return write_choice(0, event); }
  std::string write_choice(int choice, const StreamEvent& event) override;

 private:
  struct ChoiceState {
    bool finished = false;
    int64_t text_offset = 0;  // legacy logprobs' text_offset continues across chunks
  };
  void start(const MessageStart& event);
  std::string chunk(int choice, std::string_view text, boost::json::value finish_reason,
                    boost::json::value logprobs) const;
  StreamWriterOptions options_;
  bool started_ = false;
  std::vector<ChoiceState> choices_;
  int unfinished_ = 0;
  Usage usage_;  // the prompt once, the completions summed
};

class AnthropicStreamWriter final : public StreamWriter {
 public:
  explicit AnthropicStreamWriter(StreamWriterOptions options);
  std::string write(const StreamEvent& event) override;

 private:
  enum class Block { none, text, thinking, tool_use };
  std::string start(const MessageStart& event);
  std::string open_block(Block type, boost::json::value content_block);
  std::string close_block();
  StreamWriterOptions options_;
  bool started_ = false;
  bool pinged_ = false;
  Block current_ = Block::none;
  int next_index_ = 0;                 // next content block index
  std::vector<int> tool_block_index_;  // tool call index -> content block index
};

// The writer for a request's protocol and endpoint (legacy completions get the text_completion one).
std::unique_ptr<StreamWriter> make_stream_writer(Protocol protocol, Endpoint endpoint, StreamWriterOptions options);

}  // namespace tandem::schemas
