#include "schemas/usage_reader.h"

#include "schemas/json_sax.h"
#include "schemas/sse.h"

#include <array>
#include <optional>
#include <string_view>

namespace tandem::schemas {

namespace {

// Reads the usage counts while the JSON is validated, without building it: a proxied answer's
// whole DOM was built (a twentieth of tandem's work per request) just to read four numbers.
// Where the DOM lookup would see one value, this sees the same one: a repeated key's last value
// wins, and a count that is not a non-negative integer does not count.
class UsageHandler : public JsonSaxReader<UsageHandler> {
 public:
  // The usage objects that count, in the order they are looked at: top-level `usage`, then
  // `message.usage` (Anthropic's message_start), then `response.usage` (Responses events).
  enum Holder { top, message, response, kHolders };
  enum Count { input_tokens, prompt_tokens, output_tokens, completion_tokens, kCounts };
  struct Usage {
    bool present = false;
    std::array<std::optional<int64_t>, kCounts> counts;
  };
  std::array<Usage, kHolders> usage;
  bool root_is_object = false;

  bool on_int64(int64_t value, string_view, error_code&) {
    if (value >= 0) count(value);
    return scalar();
  }
  bool on_uint64(uint64_t value, string_view, error_code&) {
    count(static_cast<int64_t>(value));
    return scalar();
  }

 private:
  friend class JsonSaxReader<UsageHandler>;

  // What the object being read is, and what the value after its current key is.
  enum class Place { root, holder, usage, other, holder_value, usage_value, count_value };

  void on_open(bool object) {
    if (!object) return push(Place::other, kHolders);
    Place inner = Place::other;
    if (depth_ == 0) {
      inner = Place::root;
      root_is_object = true;
    } else if (value_place_ == Place::holder_value) {
      inner = Place::holder;
    } else if (value_place_ == Place::usage_value) {
      inner = Place::usage;
      usage[value_holder_].present = true;
    }
    push(inner, value_holder_);
  }
  void on_close() {
    --depth_;
    value_place_ = Place::other;
  }
  void on_scalar() { value_place_ = Place::other; }
  void on_whole_key(std::string_view key) {
    value_place_ = Place::other;
    if (depth_ == 0 || depth_ > stack_.size()) return;
    const auto& frame = stack_[depth_ - 1];
    if (frame.place == Place::root) {
      if (key == "usage") {
        value_place_ = Place::usage_value;
        value_holder_ = top;
        usage[top] = {};
      } else if (key == "message" || key == "response") {
        value_place_ = Place::holder_value;
        value_holder_ = key == "message" ? message : response;
        usage[value_holder_] = {};
      }
    } else if (frame.place == Place::holder && key == "usage") {
      value_place_ = Place::usage_value;
      value_holder_ = frame.holder;
      usage[value_holder_] = {};
    } else if (frame.place == Place::usage) {
      static constexpr std::array<std::string_view, kCounts> kNames = {"input_tokens", "prompt_tokens",
                                                                       "output_tokens", "completion_tokens"};
      for (std::size_t i = 0; i < kNames.size(); ++i) {
        if (key == kNames[i]) {
          value_place_ = Place::count_value;
          value_holder_ = frame.holder;
          value_count_ = static_cast<Count>(i);
          usage[value_holder_].counts[value_count_].reset();
        }
      }
    }
  }
  void count(int64_t value) {
    if (value_place_ == Place::count_value) usage[value_holder_].counts[value_count_] = value;
  }
  void push(Place place, std::size_t holder) {
    if (depth_ < stack_.size()) stack_[depth_] = {place, holder < kHolders ? static_cast<Holder>(holder) : top};
    ++depth_;
    value_place_ = Place::other;
  }

  struct Frame {
    Place place = Place::other;
    Holder holder = top;
  };
  std::array<Frame, 3> stack_;  // deeper levels never hold a count
  std::size_t depth_ = 0;
  Place value_place_ = Place::other;
  Holder value_holder_ = top;
  Count value_count_ = input_tokens;
};

// The first of `names` that is present.
bool count_of(const UsageHandler::Usage& usage, std::initializer_list<UsageHandler::Count> names, int64_t& out) {
  for (auto name : names) {
    if (usage.counts[name]) {
      out = *usage.counts[name];
      return true;
    }
  }
  return false;
}

}  // namespace

void UsageReader::read_json(std::string_view text) {
  auto handler = read_json_sax<UsageHandler>(text);
  if (!handler || !handler->root_is_object) return;
  for (const auto& usage : handler->usage) {
    if (!usage.present) continue;
    bool any = count_of(usage, {UsageHandler::input_tokens, UsageHandler::prompt_tokens}, input_);
    any = count_of(usage, {UsageHandler::output_tokens, UsageHandler::completion_tokens}, output_) || any;
    found_ = found_ || any;
    return;
  }
}

void UsageReader::body(std::string_view json) { read_json(json); }

namespace {

// Whether some "usage" key in `line` has a value other than null. OpenAI streams with
// include_usage carry "usage":null in every chunk but the last: those lines are not read.
bool has_usage_value(std::string_view line) {
  constexpr std::string_view key = "\"usage\"";
  for (size_t from = 0;;) {
    const size_t at = find_text(line.substr(from), key);
    if (at == std::string_view::npos) return false;
    size_t i = from + at + key.size();
    from = i;
    auto skip_spaces = [&] {
      while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    };
    skip_spaces();
    if (i >= line.size() || line[i] != ':') continue;  // a string's text, not a key
    ++i;
    skip_spaces();
    if (!line.substr(i).starts_with("null")) return true;
  }
}

}  // namespace

void UsageReader::frames(std::string_view frames) {
  if (!contains_text(frames, "\"usage\"")) return;
  size_t position = 0;
  while (position < frames.size()) {
    size_t end = frames.find('\n', position);
    if (end == std::string_view::npos) end = frames.size();
    std::string_view line = frames.substr(position, end - position);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.starts_with("data:") && has_usage_value(line)) {
      line.remove_prefix(5);
      if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
      read_json(line);
    }
    position = end + 1;
  }
}

}  // namespace tandem::schemas
