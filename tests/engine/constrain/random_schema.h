// Random JSON Schemas within the supported subset, for the property tests. Alternatives of an
// anyOf/oneOf have different types, so "exactly one" and "at least one" agree.
#pragma once

#include <boost/json.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace tandem::test {

class RandomSchema {
 public:
  explicit RandomSchema(uint64_t seed) : rng_(seed) {}

  // A schema document; its top is an object or array most of the time (as structured-output
  // requests are), sometimes a scalar, $defs used by $ref now and then.
  boost::json::value document() {
    boost::json::object defs;
    has_def_ = chance(0.3);
    if (has_def_) {
      in_def_ = true;  // no $ref inside the definition: a self-reference could demand infinite depth
      defs["item"] = schema(2, false);
      in_def_ = false;
    }
    boost::json::value top = chance(0.8) ? object(0) : schema(0, true);
    if (has_def_) {
      if (!top.is_object()) {
        boost::json::object wrap;
        wrap["anyOf"] = boost::json::array{top, boost::json::object{{"$ref", "#/$defs/item"}}};
        top = wrap;
      }
      top.as_object()["$defs"] = defs;
    }
    return top;
  }

 private:
  bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }

  boost::json::value schema(int depth, bool allow_ref) {
    if (allow_ref && has_def_ && !in_def_ && chance(0.15)) return boost::json::object{{"$ref", "#/$defs/item"}};
    const int limit = depth >= 3 ? 6 : 10;
    switch (pick(0, limit)) {
      case 0: return boost::json::object{{"type", "integer"}};
      case 1: return boost::json::object{{"type", "number"}};
      case 2: return boost::json::object{{"type", "boolean"}};
      case 3: return string();
      case 4: return enumeration();
      case 5: return boost::json::object{{"type", boost::json::array{"string", "null"}}};
      case 6: return boost::json::object{{"const", constant()}};
      case 7: case 8: return object(depth + 1);
      case 9: return array(depth + 1);
      default: {
        boost::json::array alternatives{boost::json::object{{"type", "integer"}}, string(),
                                        boost::json::object{{"type", "null"}}};
        if (depth < 3) alternatives.push_back(object(depth + 1));
        return boost::json::object{{chance(0.5) ? "anyOf" : "oneOf", alternatives}};
      }
    }
  }

  boost::json::value string() {
    boost::json::object s{{"type", "string"}};
    const int kind = pick(0, 9);
    if (kind == 0) s["format"] = "date";
    else if (kind == 1) s["format"] = "uuid";
    else if (kind == 2) s["maxLength"] = pick(0, 6);
    else if (kind == 3) s["minLength"] = pick(1, 3);
    if (chance(0.2)) s["description"] = "a string";
    return s;
  }

  boost::json::value constant() {
    switch (pick(0, 3)) {
      case 0: return pick(-5, 100);
      case 1: return "fixed \"value\" é";
      case 2: return nullptr;
      default: return boost::json::object{{"k", boost::json::array{1, "two"}}};
    }
  }

  boost::json::value enumeration() {
    boost::json::array values;
    const int n = pick(1, 4);
    static const char* words[] = {"red", "green", "blue", "a\\b", "tab\there", "ünï", "1", ""};
    for (int i = 0; i < n; ++i) {
      if (chance(0.6)) values.push_back(boost::json::string(words[pick(0, 7)]));
      else if (chance(0.5)) values.push_back(pick(-20, 2000));
      else values.push_back(chance(0.5) ? boost::json::value(nullptr) : boost::json::value(1.5));
    }
    // enum values must be distinct
    boost::json::array unique;
    for (auto& v : values)
      if (std::find(unique.begin(), unique.end(), v) == unique.end()) unique.push_back(v);
    return boost::json::object{{"enum", unique}};
  }

  boost::json::value object(int depth) {
    static const char* names[] = {"id", "name", "value", "items", "x y", "ñame", "quo\"te", "a/b", "idx", "n"};
    boost::json::object properties;
    boost::json::array required;
    const int n = pick(depth == 0 ? 1 : 0, depth >= 3 ? 2 : 4);
    for (int i = 0; i < n; ++i) {
      std::string name = names[pick(0, 9)];
      if (properties.contains(name)) continue;
      properties[name] = schema(depth, true);
      if (chance(0.6)) required.push_back(boost::json::string(name));
    }
    boost::json::object o{{"type", "object"}, {"properties", properties}};
    const int extra = pick(0, 5);
    // A random draw next to free additional keys would rarely spell a required name: keep
    // required names mostly to closed objects (the grammar tests cover the mix).
    if (extra > 2 && chance(0.85)) required.clear();
    if (!required.empty()) o["required"] = required;
    if (extra <= 2) o["additionalProperties"] = false;
    else if (extra == 3) o["additionalProperties"] = boost::json::object{{"type", "integer"}};
    // else: absent (any value allowed), or true
    else if (extra == 4) o["additionalProperties"] = true;
    return o;
  }

  boost::json::value array(int depth) {
    boost::json::object a{{"type", "array"}, {"items", schema(depth, true)}};
    if (chance(0.5)) a["minItems"] = pick(0, 2);
    if (chance(0.5)) a["maxItems"] = pick(a.contains("minItems") ? static_cast<int>(a["minItems"].as_int64()) : 0, 4);
    return a;
  }

  std::mt19937_64 rng_;
  bool has_def_ = false;
  bool in_def_ = false;
};

}  // namespace tandem::test
