// Report output (text and JSON) and prompt sets.
#include <fmt/format.h>

#include <boost/json.hpp>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "bench/load/load.h"

namespace tandem::load {
namespace json = boost::json;

namespace {

json::object to_json(const Percentiles& p) {
  return json::object{{"count", p.count}, {"mean", p.mean}, {"p50", p.p50}, {"p90", p.p90}, {"p99", p.p99}};
}

std::string percentile_line(std::string_view label, const Percentiles& p) {
  if (p.count == 0) return fmt::format("  {:<22} (no samples)\n", label);
  return fmt::format("  {:<22} p50 {:9.2f}  p90 {:9.2f}  p99 {:9.2f}  mean {:9.2f}  (n={})\n", label, p.p50, p.p90,
                     p.p99, p.mean, p.count);
}

}  // namespace

std::string format_text(const Report& r) {
  std::string out;
  out += fmt::format("tandem-load: {} {}{} model={} concurrency={} {}{}\n", r.protocol, r.url, r.endpoint, r.model,
                     r.concurrency, r.stream ? "streaming" : "non-streaming",
                     r.rate > 0 ? fmt::format(" open loop at {:g} req/s", r.rate) : std::string());
  out += fmt::format("  requests               {} ok, {} failed in {:.2f} s\n", r.requests_ok, r.requests_failed,
                     r.wall_s);
  out += fmt::format("  throughput             {:.2f} requests/s, {:.1f} output tokens/s\n", r.requests_per_s,
                     r.output_tokens_per_s);
  out += fmt::format("  output tokens          {} ({} of {} requests reported usage)\n", r.output_tokens,
                     r.requests_with_usage, r.requests_ok);
  out += percentile_line("TTFT ms", r.ttft_ms);
  out += percentile_line("inter-token ms", r.itl_ms);
  out += percentile_line("request latency ms", r.latency_ms);
  if (!r.errors.empty()) {
    out += "  errors                ";
    for (const auto& [kind, count] : r.errors) out += fmt::format(" {}={}", kind, count);
    out += "\n";
    for (const auto& sample : r.error_samples) out += fmt::format("    e.g. {}\n", sample);
  }
  return out;
}

std::string format_json(const Report& r) {
  json::object errors;
  for (const auto& [kind, count] : r.errors) errors[kind] = count;
  json::array samples;
  for (const auto& s : r.error_samples) samples.emplace_back(s);
  json::object root{
      {"url", r.url},
      {"protocol", r.protocol},
      {"endpoint", r.endpoint},
      {"model", r.model},
      {"concurrency", r.concurrency},
      {"rate", r.rate},
      {"stream", r.stream},
      {"requests_ok", r.requests_ok},
      {"requests_failed", r.requests_failed},
      {"errors", std::move(errors)},
      {"error_samples", std::move(samples)},
      {"wall_s", r.wall_s},
      {"requests_per_s", r.requests_per_s},
      {"output_tokens", r.output_tokens},
      {"output_tokens_per_s", r.output_tokens_per_s},
      {"requests_with_usage", r.requests_with_usage},
      {"ttft_ms", to_json(r.ttft_ms)},
      {"itl_ms", to_json(r.itl_ms)},
      {"latency_ms", to_json(r.latency_ms)},
  };
  return json::serialize(root) + "\n";
}

std::vector<std::string> default_prompts() {
  return {
      "Once upon a time, there was a little girl named Lily.",
      "Tell me a short story about a dog who finds a ball.",
      "Write two sentences about the sun and the moon.",
      "The cat sat on the mat and looked at the bird. Then",
      "Explain in simple words why the sky is blue.",
      "Tom and his mom went to the park. They saw",
      "List three things you can find in a kitchen.",
      "A small boat sailed across the big blue sea until",
  };
}

std::vector<std::string> load_prompts_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open prompts file '" + path + "'");
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();

  std::vector<std::string> prompts;
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && text[first] == '[') {
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec) throw std::runtime_error("prompts file '" + path + "' is not valid JSON: " + ec.message());
    const auto& array = v.as_array();
    for (std::size_t i = 0; i < array.size(); ++i) {
      if (!array[i].is_string() || array[i].get_string().empty())
        throw std::runtime_error("prompts file '" + path + "': element [" + std::to_string(i) +
                                 "] is not a non-empty string");
      prompts.emplace_back(array[i].get_string());
    }
  } else {
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.find_first_not_of(" \t") != std::string::npos) prompts.push_back(line);
    }
  }
  if (prompts.empty()) throw std::runtime_error("prompts file '" + path + "' holds no prompts");
  return prompts;
}

}  // namespace tandem::load
