// ChatTemplate: parse once, render per request with the variables Hugging Face's
// apply_chat_template passes (messages, tools, documents, add_generation_prompt, special tokens,
// extra kwargs).
#include "engine/chat_template.h"

#include "engine/template/builtins.h"
#include "engine/template/interpreter.h"
#include "engine/template/lexer.h"
#include "engine/template/parser.h"

namespace tandem::engine {

std::chrono::system_clock::time_point parse_template_date(const std::string& date) {
  using namespace std::chrono;
  auto digits = [&](size_t from, size_t count) {
    int value = 0;
    for (size_t i = from; i < from + count; ++i) {
      if (date[i] < '0' || date[i] > '9') return -1;
      value = value * 10 + (date[i] - '0');
    }
    return value;
  };
  const bool shaped = date.size() == 10 && date[4] == '-' && date[7] == '-';
  const int y = shaped ? digits(0, 4) : -1;
  const int m = shaped ? digits(5, 2) : -1;
  const int d = shaped ? digits(8, 2) : -1;
  const year_month_day day{year{y}, month{static_cast<unsigned>(m)}, std::chrono::day{static_cast<unsigned>(d)}};
  if (y < 0 || m < 0 || d < 0 || !day.ok()) {
    throw std::invalid_argument("date must be a calendar date as YYYY-MM-DD, got '" + date + "'");
  }
  // Noon UTC: strftime_now formats a pinned clock as UTC, so any time of day would do; noon keeps
  // the day even for code that converts to a local time zone.
  return sys_days{day} + hours{12};
}

struct ChatTemplate::Impl {
  jinja::Template tmpl;
};

ChatTemplate::ChatTemplate(const std::string& source) : impl_(std::make_unique<Impl>()) {
  impl_->tmpl = jinja::parse(jinja::tokenize(source));
}

ChatTemplate::~ChatTemplate() = default;
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;

std::string ChatTemplate::render(const ChatTemplateInput& input) const {
  using namespace jinja;
  Dict globals;
  add_globals(globals, input.now);
  globals.set("messages", input.messages.is_null() ? Value::make_list() : from_json(input.messages));
  // HF always passes tools and documents, as None when absent: `tools is defined` is true.
  globals.set("tools", from_json(input.tools));
  globals.set("documents", Value(None{}));
  globals.set("add_generation_prompt", Value(input.add_generation_prompt));
  globals.set("bos_token", Value(input.bos_token));
  globals.set("eos_token", Value(input.eos_token));
  for (const auto& entry : input.extra_context) {
    globals.set(std::string(entry.key()), from_json(entry.value()));
  }
  Interpreter interpreter(input.now.value_or(std::chrono::system_clock::now()), input.budget);
  try {
    return interpreter.render(impl_->tmpl, globals);
  } catch (const BudgetExceeded& exceeded) {
    throw TemplateBudgetError(std::string("chat template stopped: ") + exceeded.what());
  } catch (const RaisedError& raised) {
    throw TemplateError(raised.what());
  } catch (const RenderError& error) {
    throw TemplateError(error.what());
  } catch (const TemplateError&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw TemplateError("chat template error: out of memory while rendering");
  } catch (const std::exception& error) {
    throw TemplateError(std::string("chat template error: ") + error.what());
  }
}

const std::string& ChatTemplate::chatml_source() {
  static const std::string source =
      "{%- for message in messages %}"
      "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
      "{%- endfor %}"
      "{%- if add_generation_prompt %}"
      "{{- '<|im_start|>assistant\\n' }}"
      "{%- endif %}";
  return source;
}

}  // namespace tandem::engine
