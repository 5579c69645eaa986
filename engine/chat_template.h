// Chat templates: a small Jinja interpreter for the `tokenizer.chat_template` of real GGUFs,
// configured like Hugging Face's apply_chat_template (trim_blocks, lstrip_blocks, loop controls,
// raise_exception, tojson with ensure_ascii=false, strftime_now).
#pragma once

#include <boost/json/value.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

namespace tandem::engine {

// Parse errors (with line/column) and raise_exception() from the template (carrying exactly the
// template's own message in what()).
class TemplateError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A render that went over its RenderBudget: the template is at fault (a runaway loop, a string
// that doubles itself), not the conversation.
class TemplateBudgetError : public TemplateError {
 public:
  using TemplateError::TemplateError;
};

// Bounds on one render. Chat templates come from GGUF files users download, so a hostile or
// broken one must end with TemplateBudgetError instead of taking the memory or a CPU forever.
// The defaults are far above what real templates need for the largest request the server
// accepts (an 8 MiB body renders well under these), yet stop a doubling string at 32 MiB and two
// nested range(99999) loops after 50 M steps (a few seconds).
struct RenderBudget {
  size_t max_output_bytes = size_t{32} << 20;  // the rendered prompt
  size_t max_string_bytes = size_t{32} << 20;  // any one string value
  size_t max_items = 1'000'000;                // any one list or dict
  uint64_t max_steps = 50'000'000;             // statements run + expressions evaluated + loop turns
  std::chrono::milliseconds max_time{10'000};  // wall time, checked every few thousand steps
};

struct ChatTemplateInput {
  boost::json::value messages;           // array of {role, content, ...} as the HF API takes them
  boost::json::value tools;              // null when no tools
  bool add_generation_prompt = true;
  std::string bos_token;
  std::string eos_token;
  boost::json::object extra_context;     // additional variables (e.g. enable_thinking)
  // The clock strftime_now() reads. Unset: the real time, formatted as local time like Python's
  // datetime.now(). Pinned (tests, `--date`, `--template-date`): formatted as UTC, so a pinned
  // date renders the same in every time zone.
  std::optional<std::chrono::system_clock::time_point> now;
  RenderBudget budget;
};

// "YYYY-MM-DD" -> that day at 12:00 UTC, the value to pin ChatTemplateInput::now to. Throws
// std::invalid_argument naming the expected form for anything else (including 2026-02-30).
std::chrono::system_clock::time_point parse_template_date(const std::string& date);

class ChatTemplate {
 public:
  // Throws TemplateError on syntax errors.
  explicit ChatTemplate(const std::string& source);
  ~ChatTemplate();
  ChatTemplate(ChatTemplate&&) noexcept;
  ChatTemplate& operator=(ChatTemplate&&) noexcept;

  // Throws TemplateError (runtime errors and raise_exception), TemplateBudgetError when the
  // render exceeds input.budget.
  std::string render(const ChatTemplateInput& input) const;

  // The ChatML template used when a GGUF has none.
  static const std::string& chatml_source();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem::engine
