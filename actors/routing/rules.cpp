#include "actors/routing/rules.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <initializer_list>
#include <map>

namespace tandem::routing {
namespace json = boost::json;

// ---- names ------------------------------------------------------------------------------------

std::string_view fallback_trigger_name(FallbackTrigger trigger) {
  switch (trigger) {
    case FallbackTrigger::unavailable: return "unavailable";
    case FallbackTrigger::breaker_open: return "breaker_open";
    case FallbackTrigger::queue_full: return "queue_full";
    case FallbackTrigger::context_too_long: return "context_too_long";
    case FallbackTrigger::upstream_failure: return "upstream_failure";
  }
  return "unknown";
}

std::string_view match_kind_name(MatchKind kind) {
  switch (kind) {
    case MatchKind::exact: return "exact";
    case MatchKind::prefix: return "prefix";
    case MatchKind::regex: return "regex";
    case MatchKind::any: return "any";
  }
  return "unknown";
}

// ---- regex ------------------------------------------------------------------------------------

// A compiled pattern is read-only and shared by every thread; match data is per call.
class CompiledRegex {
 public:
  // Throws RulesError(where + ": ...") when the pattern does not compile.
  CompiledRegex(const std::string& pattern, const std::string& where) {
    int error_code = 0;
    PCRE2_SIZE error_offset = 0;
    code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), PCRE2_UTF, &error_code,
                          &error_offset, nullptr);
    if (!code_) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(error_code, message, sizeof(message));
      throw RulesError(where + ": invalid regular expression at offset " + std::to_string(error_offset) + ": " +
                       reinterpret_cast<const char*>(message));
    }
  }
  ~CompiledRegex() { pcre2_code_free(code_); }
  CompiledRegex(const CompiledRegex&) = delete;
  CompiledRegex& operator=(const CompiledRegex&) = delete;

  bool search(std::string_view subject) const {
    pcre2_match_data* data = pcre2_match_data_create_from_pattern(code_, nullptr);
    int rc = pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(), 0, 0, data, nullptr);
    pcre2_match_data_free(data);
    return rc >= 0;  // no match and errors (e.g. a name that is not UTF-8) alike: not this rule
  }

 private:
  pcre2_code* code_ = nullptr;
};

bool RoutingRule::matches(std::string_view model) const {
  switch (match_kind) {
    case MatchKind::exact: return model == pattern;
    case MatchKind::prefix: return model.starts_with(pattern);
    case MatchKind::regex: return regex && regex->search(model);
    case MatchKind::any: return true;
  }
  return false;
}

const RoutingRule* RoutingRules::match(std::string_view model) const {
  for (const RoutingRule& rule : rules_)
    if (rule.matches(model)) return &rule;
  return default_rule();
}

// ---- parsing ----------------------------------------------------------------------------------

namespace {

std::string describe(const json::value& value) {
  std::string text = json::serialize(value);
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return text;
}

const json::object& expect_object(const json::value& value, const std::string& where,
                                  std::initializer_list<std::string_view> known) {
  const json::object* object = value.if_object();
  if (!object) throw RulesError(where + ": must be a JSON object (got " + describe(value) + ")");
  for (const auto& entry : *object) {
    bool listed = false;
    for (std::string_view name : known) listed = listed || entry.key() == name;
    if (listed) continue;
    std::string names;
    for (std::string_view name : known) names += (names.empty() ? "" : ", ") + std::string(name);
    throw RulesError(where + "." + std::string(entry.key()) + ": unknown key (known: " + names + ")");
  }
  return *object;
}

std::string expect_name(const json::value& value, const std::string& where) {
  const json::string* text = value.if_string();
  if (!text || text->empty()) throw RulesError(where + ": must be a non-empty string (got " + describe(value) + ")");
  return std::string(*text);
}

int64_t expect_count(const json::value& value, const std::string& where, int64_t min) {
  int64_t n = 0;
  if (value.is_int64()) n = value.get_int64();
  else if (value.is_uint64() && value.get_uint64() < (1ull << 62)) n = int64_t(value.get_uint64());
  else throw RulesError(where + ": must be a whole number of at least " + std::to_string(min) + " (got " + describe(value) + ")");
  if (n < min) throw RulesError(where + ": must be a whole number of at least " + std::to_string(min) + " (got " + describe(value) + ")");
  return n;
}

SloCondition parse_slo(const json::value& value, const std::string& where) {
  const json::object& object = expect_object(value, where, {"max_ttft_ms", "max_queue"});
  SloCondition slo;
  if (auto* v = object.if_contains("max_ttft_ms")) slo.max_ttft = Millis(expect_count(*v, where + ".max_ttft_ms", 1));
  if (auto* v = object.if_contains("max_queue")) slo.max_queue = size_t(expect_count(*v, where + ".max_queue", 0));
  if (slo.empty()) throw RulesError(where + ": needs max_ttft_ms or max_queue");
  return slo;
}

RouteTarget parse_target(const json::value& value, const std::string& where) {
  const json::object& object = expect_object(value, where, {"backend", "model", "slo"});
  RouteTarget target;
  const json::value* backend = object.if_contains("backend");
  if (!backend) throw RulesError(where + ".backend: required (\"local\" or a provider's name)");
  target.backend = expect_name(*backend, where + ".backend");
  if (auto* model = object.if_contains("model")) target.model = expect_name(*model, where + ".model");
  if (auto* slo = object.if_contains("slo")) {
    if (!target.is_local())
      throw RulesError(where + ".slo: only a local target can have an slo (backend is \"" + target.backend + "\")");
    target.slo = parse_slo(*slo, where + ".slo");
  }
  return target;
}

uint32_t parse_fallback_on(const json::value& value, const std::string& where) {
  const json::array* list = value.if_array();
  if (!list) throw RulesError(where + ": must be an array of trigger names (got " + describe(value) + ")");
  uint32_t mask = 0;
  for (size_t i = 0; i < list->size(); ++i) {
    std::string item_where = where + "[" + std::to_string(i) + "]";
    std::string name = expect_name((*list)[i], item_where);
    bool found = false;
    std::string known;
    for (FallbackTrigger trigger : kAllFallbackTriggers) {
      known += (known.empty() ? "" : ", ") + std::string(fallback_trigger_name(trigger));
      if (fallback_trigger_name(trigger) == name) {
        mask |= 1u << unsigned(trigger);
        found = true;
      }
    }
    if (!found) throw RulesError(item_where + ": unknown trigger \"" + name + "\" (known: " + known + ")");
  }
  return mask;
}

uint32_t all_triggers_mask() {
  uint32_t mask = 0;
  for (FallbackTrigger trigger : kAllFallbackTriggers) mask |= 1u << unsigned(trigger);
  return mask;
}

void parse_match(const json::value& value, const std::string& where, RoutingRule& rule) {
  const json::object& object = expect_object(value, where, {"exact", "prefix", "regex"});
  if (object.size() != 1) throw RulesError(where + ": must have exactly one of exact, prefix, regex");
  const auto& entry = *object.begin();
  std::string key(entry.key());
  rule.pattern = expect_name(entry.value(), where + "." + key);
  if (key == "exact") rule.match_kind = MatchKind::exact;
  else if (key == "prefix") rule.match_kind = MatchKind::prefix;
  else {
    rule.match_kind = MatchKind::regex;
    rule.regex = std::make_shared<const CompiledRegex>(rule.pattern, where + ".regex");
  }
}

// A rule; the default rule has no "match".
RoutingRule parse_rule(const json::value& value, const std::string& where, bool is_default) {
  const json::object& object =
      is_default ? expect_object(value, where, {"name", "targets", "fallback_on"})
                 : expect_object(value, where, {"name", "match", "targets", "fallback_on"});
  RoutingRule rule;
  if (auto* name = object.if_contains("name")) rule.name = expect_name(*name, where + ".name");
  if (!is_default) {
    const json::value* match = object.if_contains("match");
    if (!match) throw RulesError(where + ".match: required ({\"exact\" | \"prefix\" | \"regex\": \"...\"})");
    parse_match(*match, where + ".match", rule);
  }
  const json::value* targets = object.if_contains("targets");
  const json::array* list = targets ? targets->if_array() : nullptr;
  if (!list || list->empty())
    throw RulesError(where + ".targets: must be a non-empty array of targets" +
                     (targets ? " (got " + describe(*targets) + ")" : std::string(" (missing)")));
  for (size_t i = 0; i < list->size(); ++i)
    rule.targets.push_back(parse_target((*list)[i], where + ".targets[" + std::to_string(i) + "]"));
  const json::value* fallback_on = object.if_contains("fallback_on");
  rule.fallback_mask = fallback_on ? parse_fallback_on(*fallback_on, where + ".fallback_on") : all_triggers_mask();
  return rule;
}

}  // namespace

RoutingRules RoutingRules::parse(const json::value& value, std::string_view where_view) {
  std::string where(where_view);
  const json::object& object = expect_object(value, where, {"rules", "default"});
  RoutingRules out;
  out.where_ = where;
  std::map<std::string, size_t> names;
  if (const json::value* rules = object.if_contains("rules")) {
    const json::array* list = rules->if_array();
    if (!list) throw RulesError(where + ".rules: must be an array of rules (got " + describe(*rules) + ")");
    for (size_t i = 0; i < list->size(); ++i) {
      std::string rule_where = where + ".rules[" + std::to_string(i) + "]";
      RoutingRule rule = parse_rule((*list)[i], rule_where, false);
      if (rule.name.empty()) rule.name = "rules[" + std::to_string(i) + "]";
      auto [it, fresh] = names.emplace(rule.name, i);
      if (!fresh)
        throw RulesError(rule_where + ".name: \"" + rule.name + "\" is already the name of rules[" +
                         std::to_string(it->second) + "]");
      out.rules_.push_back(std::move(rule));
    }
  }
  if (const json::value* fallback = object.if_contains("default")) {
    out.default_ = parse_rule(*fallback, where + ".default", true);
    if (out.default_->name.empty()) out.default_->name = "default";
  }
  return out;
}

RoutingRules RoutingRules::parse_text(std::string_view text, std::string_view where) {
  json::parse_options options;
  options.allow_comments = true;
  options.allow_trailing_commas = true;
  json::error_code ec;
  json::value value = json::parse(text, ec, {}, options);
  if (ec) throw RulesError(std::string(where) + ": not valid JSON: " + ec.message());
  return parse(value, where);
}

}  // namespace tandem::routing
