// tandem-load command line. Exit status: 0 when at least one request succeeded, 1 for a
// usage or setup error, 2 when every request failed.
#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>

#include "bench/load/load.h"

int main(int argc, char** argv) {
  using namespace tandem::load;
  Config config;
  std::string protocol = "openai";
  std::string endpoint = "chat";
  std::string prompts_file;
  std::string json_out;
  double temperature = 0;
  bool no_stream = false;
  bool quiet = false;

  CLI::App app{"tandem-load: load generator for OpenAI- and Anthropic-compatible LLM servers"};
  app.add_option("--url", config.url, "Server base URL (http only)")->capture_default_str();
  app.add_option("--protocol", protocol, "Wire protocol")->check(CLI::IsMember({"openai", "anthropic"}))
      ->capture_default_str();
  app.add_option("--endpoint", endpoint, "OpenAI endpoint: chat (/v1/chat/completions) or completions (/v1/completions)")
      ->check(CLI::IsMember({"chat", "completions"}))
      ->capture_default_str();
  app.add_option("--model", config.model, "Model name (default: first id from GET /v1/models)");
  app.add_option("-c,--concurrency", config.concurrency, "Concurrent clients")->capture_default_str();
  app.add_option("--rate", config.rate,
                 "Open loop: start requests at this many per second (latency counts from when each was due; "
                 "give enough --concurrency); 0 = closed loop")
      ->capture_default_str();
  app.add_option("-n,--requests", config.requests, "Total requests; 0 = unlimited (needs --duration)")
      ->capture_default_str();
  app.add_option("-d,--duration", config.duration_s, "Stop starting requests after S seconds (0 = no cap)")
      ->capture_default_str();
  app.add_option("--max-tokens", config.max_tokens, "max_tokens per request")->capture_default_str();
  app.add_option("--prompts", prompts_file, "Prompt file: JSON array of strings, or one prompt per line");
  auto* temperature_opt = app.add_option("--temperature", temperature, "Sampling temperature (default: server's)");
  app.add_option("--api-key", config.api_key, "API key (Bearer for OpenAI, x-api-key for Anthropic)")
      ->envname("TANDEM_API_KEY");
  app.add_option("--timeout", config.timeout_s, "Per-request timeout in seconds")->capture_default_str();
  app.add_option("--threads", config.threads, "Threads running the client event loop")->capture_default_str();
  app.add_flag("--no-stream", no_stream, "Send non-streaming requests");
  app.add_option("--json", json_out, "Write the JSON report to FILE ('-' = stdout; the text report then goes to stderr)");
  app.add_flag("-q,--quiet", quiet, "No text report");
  CLI11_PARSE(app, argc, argv);

  config.protocol = protocol == "anthropic" ? Protocol::anthropic : Protocol::openai;
  config.endpoint = endpoint == "completions" ? Endpoint::completions : Endpoint::chat;
  config.stream = !no_stream;
  if (*temperature_opt) config.temperature = temperature;
  // Duration alone means "as many requests as fit".
  if (app.count("--duration") && !app.count("--requests")) config.requests = 0;

  Report report;
  try {
    if (!prompts_file.empty()) config.prompts = load_prompts_file(prompts_file);
    report = run_load(config);
  } catch (const std::exception& e) {
    std::cerr << "tandem-load: " << e.what() << "\n";
    return 1;
  }

  std::ostream& text_out = json_out == "-" ? std::cerr : std::cout;
  if (!quiet) text_out << format_text(report);
  if (json_out == "-") {
    std::cout << format_json(report);
  } else if (!json_out.empty()) {
    std::ofstream file(json_out);
    file << format_json(report);
    if (!file) {
      std::cerr << "tandem-load: cannot write JSON report to '" << json_out << "'\n";
      return 1;
    }
  }
  return report.requests_ok > 0 ? 0 : 2;
}
