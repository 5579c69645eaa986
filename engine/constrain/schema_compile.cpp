// JSON Schema (the subset in engine/constrain/README.md) -> grammar nodes.
#include "engine/constrain/grammar.h"

#include <boost/json.hpp>

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <set>

namespace tandem::engine {

namespace json = boost::json;

SchemaError::SchemaError(std::string path, const std::string& reason)
    : std::runtime_error((path.empty() ? std::string("(schema root)") : path) + ": " + reason),
      path_(std::move(path)),
      reason_(reason) {}

void ByteTrie::insert(std::string_view bytes, int32_t index) {
  uint32_t at = 0;
  if (index < 64) nodes[0].subtree |= uint64_t{1} << index;
  for (unsigned char b : bytes) {
    int64_t next = child(at, b);
    if (next < 0) {
      next = static_cast<int64_t>(nodes.size());
      auto& children = nodes[at].children;
      children.insert(std::lower_bound(children.begin(), children.end(), std::make_pair(b, uint32_t{0})),
                      {b, static_cast<uint32_t>(next)});
      nodes.emplace_back();
    }
    at = static_cast<uint32_t>(next);
    if (index < 64) nodes[at].subtree |= uint64_t{1} << index;
  }
  nodes[at].terminal = index;
}

int64_t ByteTrie::child(uint32_t node, uint8_t byte) const {
  for (const auto& [b, target] : nodes[node].children) {
    if (b == byte) return target;
    if (b > byte) break;
  }
  return -1;
}

namespace {

// Keywords that only describe: accepted and ignored.
const std::set<std::string, std::less<>> kAnnotations = {
    "title", "description", "default", "examples", "$schema", "$id", "$comment", "deprecated",
    "readOnly", "writeOnly", "$defs", "definitions"};
const std::set<std::string, std::less<>> kObjectKeywords = {"properties", "required", "additionalProperties"};
const std::set<std::string, std::less<>> kArrayKeywords = {"items", "minItems", "maxItems"};
const std::set<std::string, std::less<>> kStringKeywords = {"minLength", "maxLength", "format"};
const std::set<std::string, std::less<>> kSupported = {
    "type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems",
    "enum", "const", "anyOf", "oneOf", "format", "minLength", "maxLength", "$ref"};

std::string escape_pointer_token(std::string_view key) {
  std::string out;
  for (char c : key) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
  return out;
}

// The JSON text of a key between its quotes, as the serializer writes it.
std::string escaped_key(std::string_view key) {
  std::string quoted = json::serialize(json::string(key));
  return quoted.substr(1, quoted.size() - 2);
}

class Compiler {
 public:
  Compiler(std::vector<GrammarNode>& nodes, const ConstraintOptions& options) : nodes_(nodes), options_(options) {}

  // Compiles one schema document; `prefix` is prepended to error paths.
  uint32_t document(const json::value& doc, std::string prefix) {
    doc_ = &doc;
    prefix_ = std::move(prefix);
    refs_.clear();
    return compile(doc, "", 0);
  }

  uint32_t add(GrammarNode node, const std::string& path) {
    if (nodes_.size() >= options_.max_nodes)
      fail(path, "the schema is too large: more than " + std::to_string(options_.max_nodes) + " grammar nodes");
    nodes_.push_back(std::move(node));
    return static_cast<uint32_t>(nodes_.size() - 1);
  }

  uint32_t literal_node(const std::vector<std::string>& texts, const std::string& path) {
    GrammarNode node;
    node.kind = NodeKind::literals;
    for (size_t i = 0; i < texts.size(); ++i) node.values.insert(texts[i], static_cast<int32_t>(i));
    return add(std::move(node), path);
  }

  uint32_t any_value(const std::string& path) {
    if (any_) return *any_;
    // any = anyOf[object of anything, array of anything, string, number, true/false/null]
    GrammarNode alternatives;
    alternatives.kind = NodeKind::any_of;
    const uint32_t id = add(std::move(alternatives), path);
    any_ = id;
    GrammarNode object;
    object.kind = NodeKind::object;
    object.additional = true;
    object.children = {id};
    GrammarNode array;
    array.kind = NodeKind::array;
    array.children = {id};
    GrammarNode string;
    string.kind = NodeKind::string;
    GrammarNode number;
    number.kind = NodeKind::number;
    const uint32_t o = add(std::move(object), path), a = add(std::move(array), path);
    const uint32_t s = add(std::move(string), path), n = add(std::move(number), path);
    const uint32_t l = literal_node({"true", "false", "null"}, path);
    nodes_[id].children = {o, a, s, n, l};
    return id;
  }

  [[noreturn]] void fail(const std::string& path, const std::string& reason) const {
    throw SchemaError(prefix_ + path, reason);
  }

 private:
  uint32_t compile(const json::value& schema, const std::string& path, int depth) {
    if (depth > 64) fail(path, "the schema nests deeper than 64 levels");
    if (schema.is_bool()) {
      if (!schema.get_bool()) fail(path, "schema false admits no value");
      return any_value(path);
    }
    if (!schema.is_object()) fail(path, "a schema must be an object or a boolean");
    const json::object& s = schema.get_object();
    for (const auto& [key, value] : s) {
      if (!kSupported.count(key) && !kAnnotations.count(key))
        fail(path, "unsupported keyword \"" + std::string(key) + "\"");
    }
    auto has = [&](std::string_view key) { return s.contains(key); };
    auto others = [&](std::initializer_list<std::string_view> allowed) {
      for (const auto& [key, value] : s) {
        if (kAnnotations.count(key)) continue;
        if (std::find(allowed.begin(), allowed.end(), std::string_view(key)) == allowed.end()) return std::string(key);
      }
      return std::string();
    };

    if (has("$ref")) {
      if (auto other = others({"$ref"}); !other.empty())
        fail(path, "\"$ref\" combined with \"" + other + "\" is not supported");
      return reference(s.at("$ref"), path + "/$ref", depth);
    }
    for (const char* keyword : {"anyOf", "oneOf"}) {
      if (!has(keyword)) continue;
      if (auto other = others({keyword}); !other.empty())
        fail(path, "\"" + std::string(keyword) + "\" combined with \"" + other + "\" is not supported");
      const json::value& list = s.at(keyword);
      const std::string list_path = path + "/" + keyword;
      if (!list.is_array() || list.get_array().empty()) fail(list_path, "must be a non-empty array of schemas");
      GrammarNode node;
      node.kind = NodeKind::any_of;
      const uint32_t id = add(std::move(node), path);
      std::vector<uint32_t> children;
      for (size_t i = 0; i < list.get_array().size(); ++i)
        children.push_back(compile(list.get_array()[i], list_path + "/" + std::to_string(i), depth + 1));
      nodes_[id].children = std::move(children);
      return id;
    }

    std::vector<std::string> types;
    if (has("type")) {
      const json::value& t = s.at("type");
      if (t.is_string()) {
        types.emplace_back(t.get_string());
      } else if (t.is_array() && !t.get_array().empty()) {
        for (const auto& item : t.get_array()) {
          if (!item.is_string()) fail(path + "/type", "must be a type name or an array of them");
          types.emplace_back(item.get_string());
        }
      } else {
        fail(path + "/type", "must be a type name or a non-empty array of them");
      }
      for (const auto& type : types) {
        static const std::set<std::string> known = {"object", "array", "string", "number", "integer", "boolean", "null"};
        if (!known.count(type)) fail(path + "/type", "unknown type \"" + type + "\"");
      }
    }

    if (has("enum") || has("const")) return literals(s, types, path);

    if (types.empty()) {
      // No type: what the keywords describe (JSON Schema would let other types through too;
      // a generator should write the described one).
      auto uses = [&](const std::set<std::string, std::less<>>& keywords) {
        return std::any_of(keywords.begin(), keywords.end(), [&](const std::string& k) { return has(k); });
      };
      if (uses(kObjectKeywords)) types.push_back("object");
      if (uses(kArrayKeywords)) types.push_back("array");
      if (uses(kStringKeywords)) types.push_back("string");
      if (types.size() > 1) fail(path, "keywords of several types without \"type\"");
      if (types.empty()) return any_value(path);
    }
    for (const auto& [key, value] : s) {
      const bool applies = kAnnotations.count(key) || key == "type" ||
                           (kObjectKeywords.count(key) && std::count(types.begin(), types.end(), "object")) ||
                           (kArrayKeywords.count(key) && std::count(types.begin(), types.end(), "array")) ||
                           (kStringKeywords.count(key) && std::count(types.begin(), types.end(), "string"));
      if (!applies) {
        std::string names;
        for (const auto& type : types) names += (names.empty() ? "" : "/") + type;
        fail(path + "/" + escape_pointer_token(key), "does not apply to type " + names);
      }
    }
    if (types.size() == 1) return typed(s, types[0], path, depth);
    GrammarNode node;
    node.kind = NodeKind::any_of;
    const uint32_t id = add(std::move(node), path);
    std::vector<uint32_t> children;
    for (const auto& type : types) children.push_back(typed(s, type, path, depth));
    nodes_[id].children = std::move(children);
    return id;
  }

  uint32_t typed(const json::object& s, const std::string& type, const std::string& path, int depth) {
    GrammarNode node;
    if (type == "boolean") return literal_node({"true", "false"}, path);
    if (type == "null") return literal_node({"null"}, path);
    if (type == "number" || type == "integer") {
      node.kind = NodeKind::number;
      node.integer = type == "integer";
      return add(std::move(node), path);
    }
    if (type == "string") {
      node.kind = NodeKind::string;
      bounds(s, "minLength", "maxLength", node, path);
      if (const auto* format = s.if_contains("format")) {
        if (!format->is_string()) fail(path + "/format", "must be a string");
        if (*format == "date") node.format = StringFormat::date;
        else if (*format == "uuid") node.format = StringFormat::uuid;
        else fail(path + "/format", "unsupported format \"" + std::string(format->get_string()) + "\" (supported: date, uuid)");
        if (node.min > 0 || node.max != UINT32_MAX) fail(path, "\"format\" combined with a length bound is not supported");
      }
      return add(std::move(node), path);
    }
    if (type == "array") {
      node.kind = NodeKind::array;
      bounds(s, "minItems", "maxItems", node, path);
      const uint32_t id = add(std::move(node), path);
      uint32_t items;
      if (const auto* it = s.if_contains("items")) {
        if (it->is_array()) fail(path + "/items", "tuple \"items\" (an array of schemas) is not supported");
        items = compile(*it, path + "/items", depth + 1);
      } else {
        items = any_value(path);
      }
      nodes_[id].children = {items};
      return id;
    }
    return object(s, path, depth);
  }

  void bounds(const json::object& s, const char* min_key, const char* max_key, GrammarNode& node, const std::string& path) {
    auto read = [&](const char* key, uint32_t& out) {
      const auto* v = s.if_contains(key);
      if (!v) return;
      auto n = v->is_int64() ? v->get_int64() : v->is_uint64() ? static_cast<int64_t>(std::min<uint64_t>(v->get_uint64(), INT64_MAX)) : -1;
      if (v->is_double() && v->get_double() >= 0 && v->get_double() == static_cast<double>(static_cast<int64_t>(v->get_double())))
        n = static_cast<int64_t>(v->get_double());
      if (n < 0) fail(path + "/" + key, "must be a non-negative integer");
      out = static_cast<uint32_t>(std::min<int64_t>(n, UINT32_MAX - 1));
    };
    read(min_key, node.min);
    read(max_key, node.max);
    if (node.min > node.max) fail(path + "/" + min_key, std::string("is greater than ") + max_key);
  }

  uint32_t object(const json::object& s, const std::string& path, int depth) {
    GrammarNode node;
    node.kind = NodeKind::object;
    std::vector<std::string> names;
    std::vector<std::pair<const json::value*, std::string>> schemas;
    if (const auto* props = s.if_contains("properties")) {
      if (!props->is_object()) fail(path + "/properties", "must be an object of schemas");
      for (const auto& [key, value] : props->get_object()) {
        names.emplace_back(key);
        schemas.emplace_back(&value, path + "/properties/" + escape_pointer_token(key));
      }
    }
    const json::value* additional = s.if_contains("additionalProperties");
    bool allow_additional = !options_.strict;
    if (additional) {
      if (additional->is_bool()) allow_additional = additional->get_bool();
      else if (additional->is_object()) allow_additional = true;
      else fail(path + "/additionalProperties", "must be a boolean or a schema");
    }
    std::vector<std::string> required;
    if (const auto* req = s.if_contains("required")) {
      if (!req->is_array()) fail(path + "/required", "must be an array of property names");
      for (const auto& item : req->get_array()) {
        if (!item.is_string()) fail(path + "/required", "must be an array of property names");
        std::string name(item.get_string());
        if (std::count(required.begin(), required.end(), name)) fail(path + "/required", "names \"" + name + "\" twice");
        required.push_back(name);
        if (!std::count(names.begin(), names.end(), name)) {
          if (!allow_additional)
            fail(path + "/required", "requires \"" + name + "\", which is not in \"properties\" and additional properties are not allowed");
          names.push_back(name);
          schemas.emplace_back(additional && additional->is_object() ? additional : nullptr, path + "/additionalProperties");
        }
      }
    }
    if (names.size() > 64) fail(path + "/properties", "more than 64 properties in one object are not supported");
    node.n_properties = names.size();
    node.additional = allow_additional;
    for (size_t i = 0; i < names.size(); ++i) {
      node.keys.insert(escaped_key(names[i]), static_cast<int32_t>(i));
      if (std::count(required.begin(), required.end(), names[i])) node.required |= uint64_t{1} << i;
    }
    const uint32_t id = add(std::move(node), path);
    std::vector<uint32_t> children;
    for (auto& [schema, schema_path] : schemas)
      children.push_back(schema ? compile(*schema, schema_path, depth + 1) : any_value(schema_path));
    if (allow_additional)
      children.push_back(additional && additional->is_object()
                             ? compile(*additional, path + "/additionalProperties", depth + 1)
                             : any_value(path));
    nodes_[id].children = std::move(children);
    return id;
  }

  uint32_t literals(const json::object& s, const std::vector<std::string>& types, const std::string& path) {
    if (auto other = std::find_if(s.begin(), s.end(), [](const json::key_value_pair& kv) {
          return !kAnnotations.count(kv.key()) && kv.key() != "enum" && kv.key() != "const" && kv.key() != "type";
        });
        other != s.end())
      fail(path, "\"enum\"/\"const\" combined with \"" + std::string(other->key()) + "\" is not supported");
    std::vector<const json::value*> values;
    std::string where = path + "/const";
    if (const auto* c = s.if_contains("const")) values.push_back(c);
    if (const auto* e = s.if_contains("enum")) {
      if (!values.empty()) fail(path, "both \"enum\" and \"const\"");
      where = path + "/enum";
      if (!e->is_array() || e->get_array().empty()) fail(where, "must be a non-empty array");
      for (const auto& v : e->get_array()) values.push_back(&v);
    }
    std::vector<std::string> texts;
    for (const json::value* v : values) {
      if (!types.empty() && !std::any_of(types.begin(), types.end(), [&](const std::string& t) { return has_type(*v, t); }))
        fail(where, "value " + json::serialize(*v) + " does not have the schema's type");
      std::string text = json::serialize(*v);
      if (!std::count(texts.begin(), texts.end(), text)) texts.push_back(std::move(text));
    }
    return literal_node(texts, path);
  }

  static bool has_type(const json::value& v, const std::string& type) {
    if (type == "null") return v.is_null();
    if (type == "boolean") return v.is_bool();
    if (type == "string") return v.is_string();
    if (type == "object") return v.is_object();
    if (type == "array") return v.is_array();
    if (type == "number") return v.is_number();
    if (type == "integer") return v.is_int64() || v.is_uint64();
    return false;
  }

  uint32_t reference(const json::value& ref, const std::string& path, int depth) {
    if (!ref.is_string()) fail(path, "must be a string");
    const std::string target(ref.get_string());
    if (auto it = refs_.find(target); it != refs_.end()) return it->second;
    if (target.empty() || target[0] != '#')
      fail(path, "only references inside the schema (\"#...\") are supported, not \"" + target + "\"");
    const json::value* at = doc_;
    std::string pointer = target.substr(1);
    size_t pos = 0;
    while (pos < pointer.size()) {
      if (pointer[pos] != '/') fail(path, "\"" + target + "\" is not a JSON pointer");
      size_t next = pointer.find('/', pos + 1);
      std::string token = pointer.substr(pos + 1, next == std::string::npos ? std::string::npos : next - pos - 1);
      for (size_t i; (i = token.find("~1")) != std::string::npos;) token.replace(i, 2, "/");
      for (size_t i; (i = token.find("~0")) != std::string::npos;) token.replace(i, 2, "~");
      if (at->is_object() && at->get_object().contains(token)) {
        at = &at->get_object().at(token);
      } else if (at->is_array() && !token.empty() && std::all_of(token.begin(), token.end(), ::isdigit) &&
                 std::stoul(token) < at->get_array().size()) {
        at = &at->get_array()[std::stoul(token)];
      } else {
        fail(path, "\"" + target + "\" points to nothing in the schema");
      }
      pos = next == std::string::npos ? pointer.size() : next;
    }
    // A placeholder first, so recursive schemas (a tree of nodes) refer to themselves.
    GrammarNode placeholder;
    placeholder.kind = NodeKind::any_of;
    const uint32_t id = add(std::move(placeholder), path);
    refs_[target] = id;
    const uint32_t body = compile(*at, target.substr(1), depth + 1);
    nodes_[id].children = {body};
    return id;
  }

  std::vector<GrammarNode>& nodes_;
  const ConstraintOptions& options_;
  const json::value* doc_ = nullptr;
  std::string prefix_;
  std::map<std::string, uint32_t> refs_;
  std::optional<uint32_t> any_;
};

json::value parse_schema(std::string_view text, const ConstraintOptions& options, const std::string& path) {
  if (text.size() > options.max_schema_bytes)
    throw SchemaError(path, "the schema is too large: " + std::to_string(text.size()) + " bytes, the limit is " +
                                std::to_string(options.max_schema_bytes));
  boost::system::error_code ec;
  json::parse_options parse_options;
  parse_options.max_depth = 256;  // our own depth limit (64 schema levels) gives the clearer error
  json::value doc = json::parse(text, ec, {}, parse_options);
  if (ec) throw SchemaError(path, "not valid JSON: " + ec.message());
  return doc;
}

// anyOf nodes that reach themselves through anyOf nodes only ($ref: "#" at the root, two
// definitions referring to each other) would describe no value: refuse them.
void check_alternative_cycles(const std::vector<GrammarNode>& nodes) {
  std::vector<uint8_t> mark(nodes.size(), 0);  // 0 new, 1 on the path, 2 done
  std::function<void(uint32_t)> visit = [&](uint32_t id) {
    if (nodes[id].kind != NodeKind::any_of || mark[id] == 2) return;
    if (mark[id] == 1) throw SchemaError("", "a \"$ref\" cycle that never reaches a value");
    mark[id] = 1;
    for (uint32_t child : nodes[id].children) visit(child);
    mark[id] = 2;
  };
  for (uint32_t id = 0; id < nodes.size(); ++id) visit(id);
}

}  // namespace

Grammar::Grammar(std::shared_ptr<const std::vector<GrammarNode>> nodes, uint32_t root, ConstraintOptions options)
    : nodes_(std::move(nodes)), root_(root), options_(options) {}

size_t Grammar::node_count() const { return nodes_->size(); }

std::shared_ptr<const Grammar> Grammar::json_object(const ConstraintOptions& options) {
  std::vector<GrammarNode> nodes;
  Compiler compiler(nodes, options);
  const uint32_t any = compiler.any_value("");
  GrammarNode object;
  object.kind = NodeKind::object;
  object.additional = true;
  object.children = {any};
  const uint32_t top = compiler.add(std::move(object), "");
  GrammarNode root;
  root.kind = NodeKind::root;
  root.children = {top};
  const uint32_t root_id = compiler.add(std::move(root), "");
  return std::make_shared<const Grammar>(std::make_shared<const std::vector<GrammarNode>>(std::move(nodes)), root_id,
                                         options);
}

std::shared_ptr<const Grammar> Grammar::json_schema(std::string_view schema, const ConstraintOptions& options) {
  const json::value doc = parse_schema(schema, options, "");
  std::vector<GrammarNode> nodes;
  Compiler compiler(nodes, options);
  const uint32_t value = compiler.document(doc, "");
  GrammarNode root;
  root.kind = NodeKind::root;
  root.children = {value};
  const uint32_t root_id = compiler.add(std::move(root), "");
  check_alternative_cycles(nodes);
  return std::make_shared<const Grammar>(std::make_shared<const std::vector<GrammarNode>>(std::move(nodes)), root_id,
                                         options);
}

std::shared_ptr<const Grammar> Grammar::tool_call(ToolSyntax syntax, std::span<const Tool> tools,
                                                  const ConstraintOptions& options) {
  if (tools.empty()) throw SchemaError("/tools", "a forced tool call needs at least one tool");
  std::vector<GrammarNode> nodes;
  Compiler compiler(nodes, options);
  const std::string arguments_key = syntax == ToolSyntax::llama3 ? "parameters" : "arguments";
  std::vector<uint32_t> calls;
  for (size_t i = 0; i < tools.size(); ++i) {
    const std::string prefix = "/tools/" + std::to_string(i);
    if (tools[i].name.empty()) throw SchemaError(prefix + "/name", "a tool needs a name");
    uint32_t parameters;
    if (tools[i].parameters_schema.empty()) {
      GrammarNode object;
      object.kind = NodeKind::object;
      object.additional = true;
      object.children = {compiler.any_value(prefix)};
      parameters = compiler.add(std::move(object), prefix);
    } else {
      const json::value doc = parse_schema(tools[i].parameters_schema, options, prefix + "/parameters");
      parameters = compiler.document(doc, prefix + "/parameters");
    }
    // {"name": "<the tool>", "<arguments key>": <parameters>}, both required, nothing else.
    GrammarNode call;
    call.kind = NodeKind::object;
    call.n_properties = 2;
    call.required = 3;
    call.keys.insert("name", 0);
    call.keys.insert(arguments_key, 1);
    call.children = {compiler.literal_node({json::serialize(json::string(tools[i].name))}, prefix), parameters};
    calls.push_back(compiler.add(std::move(call), prefix));
  }
  uint32_t value = calls[0];
  if (calls.size() > 1) {
    GrammarNode any;
    any.kind = NodeKind::any_of;
    any.children = calls;
    value = compiler.add(std::move(any), "/tools");
  }
  if (syntax == ToolSyntax::hermes) {
    GrammarNode sequence;
    sequence.kind = NodeKind::sequence;
    sequence.parts = {{"<tool_call>\n", -1}, {"", static_cast<int32_t>(value)}, {"\n</tool_call>", -1}};
    value = compiler.add(std::move(sequence), "");
  }
  GrammarNode root;
  root.kind = NodeKind::root;
  root.children = {value};
  const uint32_t root_id = compiler.add(std::move(root), "");
  check_alternative_cycles(nodes);
  return std::make_shared<const Grammar>(std::make_shared<const std::vector<GrammarNode>>(std::move(nodes)), root_id,
                                         options);
}

bool Grammar::matches(std::string_view text) const {
  Matcher matcher(*this);
  StackSet a, b;
  matcher.initial(a);
  for (unsigned char c : text) {
    matcher.advance(a, c, b);
    std::swap(a, b);
    if (a.empty()) return false;
  }
  return matcher.accepting(a);
}

bool Grammar::is_prefix(std::string_view text) const {
  Matcher matcher(*this);
  StackSet a, b;
  matcher.initial(a);
  for (unsigned char c : text) {
    matcher.advance(a, c, b);
    std::swap(a, b);
    if (a.empty()) return false;
  }
  return true;
}

}  // namespace tandem::engine
