// The `tandem` tools as a user runs them: tokenize, chat-template, generate, score, synth-model,
// quantize.
// Checked against the reference data in ../shared (llama.cpp's tokens and greedy continuations,
// Jinja2's renderings).
#include "tests/common/test_data.h"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <array>
#include <map>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace tandem::test {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;

struct RunResult {
  int exit_code = -1;
  std::string out;  // stdout only
  std::string err;
};

std::string quote(const std::string& arg) {
  std::string quoted = "'";
  for (char c : arg) {
    if (c == '\'') quoted += "'\\''";
    else quoted += c;
  }
  return quoted + "'";
}

fs::path scratch(const std::string& name) {
  auto dir = fs::temp_directory_path() / ("tandem-cli-test-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir / name;
}

// `env` entries (NAME=value) are set for the child only.
RunResult run_tandem(const std::vector<std::string>& args, const std::vector<std::string>& env = {}) {
  auto err_path = scratch("stderr.txt");
  std::string command;
  if (!env.empty()) {
    command = "env";
    for (const auto& e : env) command += " " + quote(e);
    command += " ";
  }
  command += quote(std::string(TANDEM_BINARY_DIR) + "/tandem");
  for (const auto& a : args) command += " " + quote(a);
  command += " 2>" + quote(err_path.string());
  RunResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return result;
  std::array<char, 4096> buffer{};
  size_t n = 0;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) result.out.append(buffer.data(), n);
  int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.err = read_file(err_path.string());
  return result;
}

json::value load_json(const std::string& path) { return json::parse(read_file(path)); }

std::vector<int64_t> ints(const json::value& array) {
  std::vector<int64_t> out;
  for (const auto& v : array.as_array()) out.push_back(v.as_int64());
  return out;
}

std::string join(const std::vector<int64_t>& ids, const char* separator) {
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) out += (i ? separator : "") + std::to_string(ids[i]);
  return out;
}

const json::array& golden_cases(const std::string& model) {
  static std::map<std::string, json::value> cache;
  auto& value = cache[model];
  if (value.is_null()) value = load_json(shared_file("golden/" + model + ".json"));
  return value.at("cases").as_array();
}

TEST(Cli, TokenizeGivesLlamaCppsPromptTokens) {
  auto model = shared_file("models/stories260K.gguf");
  ASSERT_FALSE(model.empty());
  for (const auto& c : golden_cases("stories260K")) {
    const auto prompt = std::string(c.at("prompt").as_string());
    auto run = run_tandem({"tokenize", "--model", model, "--text", prompt});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_EQ(run.out.substr(0, run.out.find_last_not_of('\n') + 1), join(ints(c.at("prompt_tokens")), " "))
        << prompt;
  }
}

TEST(Cli, TokenizeParsesSpecialTokensOnlyWhenAsked) {
  auto vocab = shared_file("vocab/ggml-vocab-llama-bpe.gguf");
  ASSERT_FALSE(vocab.empty());
  auto special = run_tandem({"tokenize", "--model", vocab, "--text", "<|eot_id|>", "--no-bos", "--special"});
  ASSERT_EQ(special.exit_code, 0) << special.err;
  EXPECT_EQ(special.out, "128009\n");
  auto plain = run_tandem({"tokenize", "--model", vocab, "--text", "<|eot_id|>", "--no-bos"});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_EQ(plain.out.find("128009"), std::string::npos) << plain.out;
  EXPECT_GT(plain.out.size(), std::string("1\n").size());
}

// The references were rendered with strftime_now() fixed to 2026-11-21 (../shared/templates).
constexpr const char* kReferenceDate = "2026-11-21";
// POSIX TZ strings (no tzdata needed): the earliest and the latest zones in use, where noon UTC
// is already tomorrow or still yesterday's evening if a pinned date were read as local time.
const std::vector<std::vector<std::string>> kTimeZones = {{"TZ=UTC0"}, {"TZ=EAST-14"}, {"TZ=WEST+12"}};

TEST(Cli, ChatTemplatePrintsJinjasRenderingExactly) {
  auto conversations = load_json(shared_file("templates/conversations.json"));
  const auto& templates = conversations.at("templates").as_object();
  size_t checked = 0;
  for (const auto& [name, info] : templates) {
    for (const auto& case_name : info.at("cases").as_array()) {
      const std::string case_id(case_name.as_string());
      auto messages_path = scratch(case_id + ".json");
      std::ofstream(messages_path) << json::serialize(conversations.at("conversations").at(case_id));
      const auto& zone = kTimeZones[checked % kTimeZones.size()];
      auto run = run_tandem({"chat-template", "--template", shared_file("templates/" + std::string(name) + ".jinja"),
                             "--messages", messages_path.string(), "--bos-token",
                             std::string(info.at("bos_token").as_string()), "--eos-token",
                             std::string(info.at("eos_token").as_string()), "--date", kReferenceDate},
                            zone);
      ASSERT_EQ(run.exit_code, 0) << name << " " << case_id << ": " << run.err;
      EXPECT_EQ(run.out, read_file(shared_file("templates/" + std::string(name) + "." + case_id + ".txt")))
          << name << " " << case_id << " " << zone[0];
      ++checked;
    }
  }
  EXPECT_GE(checked, 32u);
}

TEST(Cli, ChatTemplateDateOptionChangesWhatStrftimeNowSees) {
  const std::string name = "meta-llama-Llama-3.2-3B-Instruct";
  auto conversations = load_json(shared_file("templates/conversations.json"));
  const auto& info = conversations.at("templates").at(name);
  auto messages_path = scratch("user_only.json");
  std::ofstream(messages_path) << json::serialize(conversations.at("conversations").at("user_only"));
  const std::string reference = read_file(shared_file("templates/" + name + ".user_only.txt"));
  ASSERT_NE(reference.find("Today Date: 21 Nov 2026"), std::string::npos) << reference;
  for (const auto& zone : kTimeZones) {
    auto run = run_tandem({"chat-template", "--template", shared_file("templates/" + name + ".jinja"), "--messages",
                           messages_path.string(), "--bos-token", std::string(info.at("bos_token").as_string()),
                           "--eos-token", std::string(info.at("eos_token").as_string()), "--date", "2027-03-04"},
                          zone);
    ASSERT_EQ(run.exit_code, 0) << run.err;
    std::string expected = reference;
    expected.replace(expected.find("21 Nov 2026"), std::string("21 Nov 2026").size(), "04 Mar 2027");
    EXPECT_EQ(run.out, expected) << zone[0];
  }
}

TEST(Cli, ChatTemplateWithoutDateUsesToday) {
  auto template_path = scratch("today.jinja");
  std::ofstream(template_path) << "{{ strftime_now('%Y-%m-%d') }}";
  auto messages_path = scratch("empty.json");
  std::ofstream(messages_path) << "[]";
  auto today = [] {
    std::time_t now = std::time(nullptr);
    std::tm local{};
    localtime_r(&now, &local);
    char text[16];
    std::strftime(text, sizeof text, "%Y-%m-%d", &local);
    return std::string(text);
  };
  const std::string before = today();
  auto run = run_tandem({"chat-template", "--template", template_path.string(), "--messages", messages_path.string()});
  const std::string after = today();
  ASSERT_EQ(run.exit_code, 0) << run.err;
  // Either side of a midnight that may pass while the process runs.
  EXPECT_TRUE(run.out == before || run.out == after) << run.out << " not " << before << " / " << after;
}

TEST(Cli, ChatTemplateRefusesADateThatIsNotYYYYMMDD) {
  auto template_path = scratch("today.jinja");
  std::ofstream(template_path) << "{{ strftime_now('%Y-%m-%d') }}";
  auto messages_path = scratch("empty.json");
  std::ofstream(messages_path) << "[]";
  for (const char* bad : {"21 Nov 2026", "2026-11-1", "2026-02-30", "2026-13-01", "20261121xx"}) {
    auto run = run_tandem({"chat-template", "--template", template_path.string(), "--messages",
                           messages_path.string(), "--date", bad});
    EXPECT_EQ(run.exit_code, 1) << bad;
    EXPECT_NE(run.err.find("--date"), std::string::npos) << run.err;
    EXPECT_NE(run.err.find("YYYY-MM-DD"), std::string::npos) << run.err;
    EXPECT_TRUE(run.out.empty()) << run.out;
  }
}

TEST(Cli, ChatTemplateErrorPrintsTheTemplatesMessageAndExits1) {
  auto template_path = scratch("raising.jinja");
  std::ofstream(template_path) << "{% if messages[0]['role'] == 'system' %}"
                                  "{{ raise_exception('System role not supported') }}{% endif %}";
  auto messages_path = scratch("system.json");
  std::ofstream(messages_path) << R"([{"role":"system","content":"x"},{"role":"user","content":"y"}])";
  auto run = run_tandem({"chat-template", "--template", template_path.string(), "--messages", messages_path.string()});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("System role not supported"), std::string::npos) << run.err;
  EXPECT_TRUE(run.out.empty()) << run.out;
}

TEST(Cli, GenerateContinuesLikeLlamaCppAtTemperatureZero) {
  auto model = shared_file("models/stories260K.gguf");
  ASSERT_FALSE(model.empty());
  for (const auto& c : golden_cases("stories260K")) {
    auto prompt = ints(c.at("prompt_tokens"));
    auto completion = ints(c.at("completion_tokens"));
    auto run = run_tandem({"generate", "--model", model, "--tokens", join(prompt, ","), "-n",
                           std::to_string(completion.size()), "--temp", "0"});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_NE(run.out.find(std::string(c.at("completion_text").as_string())), std::string::npos)
        << "got: " << run.out;
    EXPECT_NE(run.err.find("tok"), std::string::npos) << "tokens/s on stderr: " << run.err;
  }
}

TEST(Cli, ScorePrintsTeacherForcedTopLogprobs) {
  auto model = shared_file("models/stories260K.gguf");
  ASSERT_FALSE(model.empty());
  const auto& c = golden_cases("stories260K").at(0);
  auto prompt = ints(c.at("prompt_tokens"));
  auto completion = ints(c.at("completion_tokens"));
  const size_t forced = 8;
  std::vector<int64_t> tokens = prompt;
  tokens.insert(tokens.end(), completion.begin(), completion.begin() + forced);
  auto run = run_tandem({"score", "--model", model, "--tokens", join(tokens, ","), "--top", "10"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  auto rows = json::parse(run.out).as_array();
  ASSERT_EQ(rows.size(), tokens.size() - 1);
  const auto& reference = c.at("top_logprobs").as_array();
  for (size_t i = 0; i < forced; ++i) {
    const auto& row = rows[prompt.size() - 1 + i].as_array();
    const auto& expected = reference[i].as_array();
    ASSERT_EQ(row.size(), 10u);
    EXPECT_EQ(row[0].at("id").as_int64(), expected[0].at("id").as_int64()) << "position " << i;
    EXPECT_NEAR(row[0].at("logprob").to_number<double>(), expected[0].at("logprob").to_number<double>(), 1e-2);
    for (size_t k = 1; k < row.size(); ++k) {
      EXPECT_LE(row[k].at("logprob").to_number<double>(), row[k - 1].at("logprob").to_number<double>());
    }
  }
}

TEST(Cli, SynthModelWritesAModelTandemCanRun) {
  auto path = scratch("synth.gguf");
  auto made = run_tandem({"synth-model", "--out", path.string(), "--dim", "64", "--layers", "2", "--heads", "4",
                          "--kv-heads", "2", "--ff", "128", "--vocab", "300", "--type", "Q8_0", "--seed", "7"});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  auto run = run_tandem({"generate", "--model", path.string(), "--tokens", "1,2,3", "-n", "5", "--temp", "0"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  auto broken = scratch("broken.gguf");
  std::ofstream(broken, std::ios::binary) << read_file(path.string()).substr(0, 1000);
  auto refused = run_tandem({"generate", "--model", broken.string(), "--tokens", "1,2", "-n", "2"});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("gguf"), std::string::npos) << refused.err;
}

// synth-model then quantize, as the benchmarks make their models: a 256-wide model (K-quant
// blocks fit) quantized to Q4_K_M runs; a bad type and a missing input are refused.
TEST(Cli, QuantizeWritesAModelTandemCanRun) {
  auto f32 = scratch("quantize-in.gguf");
  auto made = run_tandem({"synth-model", "--out", f32.string(), "--dim", "256", "--layers", "2", "--heads", "4",
                          "--kv-heads", "2", "--ff", "512", "--vocab", "300", "--seed", "3"});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  auto q4 = scratch("quantize-out.gguf");
  auto quantized = run_tandem({"quantize", f32.string(), q4.string(), "Q4_K_M", "-t", "2"});
  ASSERT_EQ(quantized.exit_code, 0) << quantized.err;
  EXPECT_NE(quantized.out.find("Q6_K"), std::string::npos) << quantized.out;  // the tied embedding
  EXPECT_LT(fs::file_size(q4), fs::file_size(f32) / 4);
  auto run = run_tandem({"generate", "--model", q4.string(), "--tokens", "1,2,3", "-n", "5", "--temp", "0"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  auto bad_type = run_tandem({"quantize", f32.string(), scratch("bad.gguf").string(), "Q3_K"});
  EXPECT_EQ(bad_type.exit_code, 1);
  EXPECT_NE(bad_type.err.find("unknown type 'Q3_K'"), std::string::npos) << bad_type.err;
  auto missing = run_tandem({"quantize", scratch("absent.gguf").string(), scratch("x.gguf").string(), "Q8_0"});
  EXPECT_NE(missing.exit_code, 0);
}

}  // namespace
}  // namespace tandem::test
