// Every validation rule has a failing request: each case patches the top-level fields of a valid
// body and expects the exact 400 message and param, rendered in the caller's protocol's shape.
#include "schema_test_util.h"
#include "schemas/anthropic.h"
#include "schemas/openai.h"
#include "schemas/responses.h"

#include <gtest/gtest.h>

namespace tandem::schemas {
namespace {

namespace json = boost::json;

enum class Api { chat, completion, messages, responses };

struct Case {
  Api api;
  const char* patch;  // top-level fields replacing the valid body's (null removes one)
  const char* message;
  const char* param;
};

std::ostream& operator<<(std::ostream& out, const Case& c) { return out << c.patch; }

json::object valid_body(Api api) {
  switch (api) {
    case Api::chat: return json::parse(R"({"model":"m","messages":[{"role":"user","content":"hi"}]})").as_object();
    case Api::completion: return json::parse(R"({"model":"m","prompt":"hi"})").as_object();
    case Api::messages:
      return json::parse(R"({"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}]})").as_object();
    case Api::responses: return json::parse(R"({"model":"m","input":"hi"})").as_object();
  }
  return {};
}

Result<InternalRequest> parse(Api api, std::string_view body, std::string_view content_type = "application/json") {
  switch (api) {
    case Api::chat: return parse_openai_chat_request(body, content_type);
    case Api::completion: return parse_openai_completion_request(body, content_type);
    case Api::messages: return parse_anthropic_messages_request(body, content_type);
    case Api::responses: return parse_responses_request(body, content_type);
  }
  return make_error(ErrorKind::api_error, "unreachable");
}

class Validation : public ::testing::TestWithParam<Case> {};

TEST_P(Validation, FailsNamingTheField) {
  const Case& c = GetParam();
  json::object body = valid_body(c.api);
  json::value patch = json::parse(c.patch);
  for (const auto& [key, value] : patch.as_object()) {
    if (value.is_null()) {
      body.erase(key);
    } else {
      body[key] = value;
    }
  }
  auto result = parse(c.api, json::serialize(body));
  ASSERT_FALSE(result.ok()) << "accepted: " << json::serialize(body);
  EXPECT_EQ(result.error().message, c.message);
  EXPECT_EQ(result.error().param, c.param);
  EXPECT_EQ(result.error().kind, ErrorKind::invalid_request);

  Protocol protocol = c.api == Api::messages ? Protocol::anthropic : Protocol::openai;
  EXPECT_EQ(result.error().http_status(protocol), 400);
  json::value rendered = json::parse(render_error(result.error(), protocol));
  if (protocol == Protocol::openai) {
    EXPECT_EQ(rendered.at("error").at("message").as_string(), c.message);
    EXPECT_EQ(rendered.at("error").at("type").as_string(), "invalid_request_error");
    EXPECT_EQ(rendered.at("error").at("param").as_string(), c.param);
    EXPECT_TRUE(rendered.at("error").at("code").is_null());
  } else {
    EXPECT_EQ(rendered.at("type").as_string(), "error");
    EXPECT_EQ(rendered.at("error").at("type").as_string(), "invalid_request_error");
    EXPECT_EQ(rendered.at("error").at("message").as_string(), c.message);
  }
}

INSTANTIATE_TEST_SUITE_P(OpenAiChat, Validation, ::testing::Values(
  Case{Api::chat, R"({"model":null})", "model: field required", "model"},
  Case{Api::chat, R"({"model":5})", "model: must be a string, got a number", "model"},
  Case{Api::chat, R"({"messages":null})", "messages: field required", "messages"},
  Case{Api::chat, R"({"messages":[]})", "messages: must contain at least one message", "messages"},
  Case{Api::chat, R"({"messages":"hi"})", "messages: must be an array, got a string", "messages"},
  Case{Api::chat, R"({"messages":[5]})", "messages[0]: must be an object, got a number", "messages[0]"},
  Case{Api::chat, R"({"messages":[{"content":"x"}]})", "messages[0].role: field required", "messages[0].role"},
  Case{Api::chat, R"({"messages":[{"role":"function","content":"x"}]})", "messages[0].role: must be one of 'system', 'developer', 'user', 'assistant', 'tool', got 'function'", "messages[0].role"},
  Case{Api::chat, R"({"messages":[{"role":"user"}]})", "messages[0].content: field required", "messages[0].content"},
  Case{Api::chat, R"({"messages":[{"role":"user","content":7}]})",
       "messages[0].content: must be a string or an array of content parts, got a number", "messages[0].content"},
  // Found by fuzz_schemas_requests: accepted, the message was dropped on the way to a backend.
  Case{Api::chat, R"({"messages":[{"role":"user","content":[]}]})",
       "messages[0].content: must not be an empty array: send a string or at least one content part",
       "messages[0].content"},
  Case{Api::chat, R"({"messages":[{"role":"user","content":[{"type":"input_audio"}]}]})",
       "messages[0].content[0].type: unsupported content part type 'input_audio' here (supported: 'text', 'image_url', 'file')",
       "messages[0].content[0].type"},
  Case{Api::chat, R"({"messages":[{"role":"user","content":[{"type":"file"}]}]})",
       "messages[0].content[0].file: field required", "messages[0].content[0].file"},
  Case{Api::chat, R"({"messages":[{"role":"user","content":[{"type":"file","file":{"filename":"a.pdf"}}]}]})",
       "messages[0].content[0].file.file_data: field required (or file_id)", "messages[0].content[0].file.file_data"},
  Case{Api::chat, R"({"messages":[{"role":"user","content":[{"type":"file","file":{"file_data":"data:text/plain;base64,eA=="}}]}]})",
       "messages[0].content[0].file.file_data: must be a PDF as a data URL (data:application/pdf;base64,...)",
       "messages[0].content[0].file.file_data"},
  Case{Api::chat, R"({"messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"u"}}]}]})",
       "messages[0].content[0].type: unsupported content part type 'image_url' here (supported: 'text')",
       "messages[0].content[0].type"},
  Case{Api::chat, R"({"messages":[{"role":"user","content":[{"type":"text"}]}]})",
       "messages[0].content[0].text: field required", "messages[0].content[0].text"},
  Case{Api::chat, R"({"messages":[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]})",
       "messages[0].content[0].image_url.url: field required", "messages[0].content[0].image_url.url"},
  Case{Api::chat, R"({"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"u","detail":"ultra"}}]}]})",
       "messages[0].content[0].image_url.detail: must be one of 'auto', 'low', 'high', got 'ultra'",
       "messages[0].content[0].image_url.detail"},
  Case{Api::chat, R"({"messages":[{"role":"assistant"}]})",
       "messages[0].content: field required (an assistant message needs content or tool_calls)", "messages[0].content"},
  Case{Api::chat, R"({"messages":[{"role":"assistant","tool_calls":[{"type":"function","function":{"name":"f","arguments":"{}"}}]}]})",
       "messages[0].tool_calls[0].id: field required", "messages[0].tool_calls[0].id"},
  Case{Api::chat, R"({"messages":[{"role":"assistant","tool_calls":[{"id":"c","function":{"name":"f","arguments":5}}]}]})",
       "messages[0].tool_calls[0].function.arguments: must be a string of JSON", "messages[0].tool_calls[0].function.arguments"},
  Case{Api::chat, R"({"messages":[{"role":"tool","content":"x"}]})", "messages[0].tool_call_id: field required", "messages[0].tool_call_id"},
  Case{Api::chat, R"({"temperature":2.5})", "temperature: must be between 0 and 2", "temperature"},
  Case{Api::chat, R"({"temperature":"hot"})", "temperature: must be a number, got a string", "temperature"},
  Case{Api::chat, R"({"top_p":1.5})", "top_p: must be between 0 and 1", "top_p"},
  Case{Api::chat, R"({"n":0})", "n: must be between 1 and 128", "n"},
  Case{Api::chat, R"({"n":1.5})", "n: must be an integer", "n"},
  Case{Api::chat, R"({"max_tokens":0})", "max_tokens: must be at least 1", "max_tokens"},
  Case{Api::chat, R"({"max_tokens":true})", "max_tokens: must be an integer, got a boolean", "max_tokens"},
  Case{Api::chat, R"({"max_completion_tokens":-1})", "max_completion_tokens: must be at least 1", "max_completion_tokens"},
  Case{Api::chat, R"({"stop":["a","b","c","d","e"]})", "stop: must have at most 4 sequences", "stop"},
  Case{Api::chat, R"({"stop":5})", "stop: must be a string or an array of strings", "stop"},
  Case{Api::chat, R"({"stop":[1]})", "stop[0]: must be a string, got a number", "stop[0]"},
  Case{Api::chat, R"({"stream":"yes"})", "stream: must be a boolean, got a string", "stream"},
  Case{Api::chat, R"({"stream_options":true})", "stream_options: must be an object, got a boolean", "stream_options"},
  Case{Api::chat, R"({"seed":"x"})", "seed: must be an integer, got a string", "seed"},
  Case{Api::chat, R"({"presence_penalty":3})", "presence_penalty: must be between -2 and 2", "presence_penalty"},
  Case{Api::chat, R"({"frequency_penalty":-2.5})", "frequency_penalty: must be between -2 and 2", "frequency_penalty"},
  Case{Api::chat, R"({"logprobs":1})", "logprobs: must be a boolean, got a number", "logprobs"},
  Case{Api::chat, R"({"logprobs":true,"top_logprobs":21})", "top_logprobs: must be between 0 and 20", "top_logprobs"},
  Case{Api::chat, R"({"top_logprobs":2})", "top_logprobs: requires logprobs to be true", "top_logprobs"},
  Case{Api::chat, R"({"logit_bias":{"abc":1}})",
       "logit_bias: keys must be token ids (decimal integers as strings), got 'abc'", "logit_bias"},
  Case{Api::chat, R"({"logit_bias":{"-5":1}})",
       "logit_bias: keys must be token ids (decimal integers as strings), got '-5'", "logit_bias"},
  Case{Api::chat, R"({"logit_bias":{"99999999999":1}})",
       "logit_bias: keys must be token ids (decimal integers as strings), got '99999999999'", "logit_bias"},
  Case{Api::chat, R"({"logit_bias":{"5":101}})", "logit_bias: the bias of token 5 must be between -100 and 100, got 101",
       "logit_bias"},
  Case{Api::chat, R"({"logit_bias":{"5":"x"}})", "logit_bias: the bias of token 5 must be a number", "logit_bias"},
  Case{Api::chat, R"({"logit_bias":[1]})", "logit_bias: must be an object mapping token ids to biases", "logit_bias"},
  Case{Api::chat, R"({"reasoning_effort":"extreme"})",
       "reasoning_effort: must be one of 'none', 'minimal', 'low', 'medium', 'high', 'xhigh', got 'extreme'",
       "reasoning_effort"},
  Case{Api::chat, R"({"n":129})", "n: must be between 1 and 128", "n"},
  Case{Api::chat, R"({"response_format":{"type":"xml"}})",
       "response_format.type: must be one of 'text', 'json_object', 'json_schema', got 'xml'", "response_format.type"},
  Case{Api::chat, R"({"response_format":{"type":"json_schema"}})", "response_format.json_schema: field required",
       "response_format.json_schema"},
  Case{Api::chat, R"({"tools":{}})", "tools: must be an array, got an object", "tools"},
  // Found by fuzz_schemas_requests: such a request used to translate into an invalid Anthropic one.
  Case{Api::chat,
       R"({"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:imagn/jpeg;base64,AAAA"}}]}]})",
       "messages[0].content[0].image_url.url: a data URL image must be image/jpeg, image/png, image/gif or image/webp, "
       "got 'imagn/jpeg'",
       "messages[0].content[0].image_url.url"},
  Case{Api::chat, R"({"tools":[{"type":"retrieval"}]})", "tools[0].type: must be one of 'function', got 'retrieval'", "tools[0].type"},
  Case{Api::chat, R"({"tools":[{"type":"function","function":{}}]})", "tools[0].function.name: field required", "tools[0].function.name"},
  Case{Api::chat, R"({"tools":[{"type":"function","function":{"name":"has space"}}]})",
       "tools[0].function.name: must be 1-64 characters of a-z, A-Z, 0-9, '_' and '-'", "tools[0].function.name"},
  Case{Api::chat, R"({"tools":[{"type":"function","function":{"name":"f","parameters":"x"}}]})",
       "tools[0].function.parameters: must be an object, got a string", "tools[0].function.parameters"},
  Case{Api::chat, R"({"tool_choice":"sometimes"})", "tool_choice: must be one of 'none', 'auto', 'required', got 'sometimes'", "tool_choice"},
  Case{Api::chat, R"({"tool_choice":{"type":"function","function":{"name":"g"}}})",
       "tool_choice.function.name: no tool named 'g' in tools", "tool_choice.function.name"},
  Case{Api::chat, R"({"parallel_tool_calls":"no"})", "parallel_tool_calls: must be a boolean, got a string", "parallel_tool_calls"},
  Case{Api::chat, R"({"user":5})", "user: must be a string, got a number", "user"}));

INSTANTIATE_TEST_SUITE_P(OpenAiCompletion, Validation, ::testing::Values(
  Case{Api::completion, R"({"prompt":null})", "prompt: field required", "prompt"},
  Case{Api::completion, R"({"prompt":{}})",
       "prompt: must be a string, an array of strings, an array of token ids or an array of arrays of token ids", "prompt"},
  Case{Api::completion, R"({"prompt":[]})", "prompt: must not be empty", "prompt"},
  Case{Api::completion, R"({"prompt":["a",1]})",
       "prompt: must be a string, an array of strings, an array of token ids or an array of arrays of token ids", "prompt"},
  Case{Api::completion, R"({"prompt":[1,"a"]})", "prompt[1]: must be an integer, got a string", "prompt[1]"},
  Case{Api::completion, R"({"prompt":[-1]})", "prompt[0]: must be a token id between 0 and 2147483647", "prompt[0]"},
  Case{Api::completion, R"({"prompt":[[1],[]]})", "prompt[1]: must not be empty", "prompt[1]"},
  Case{Api::completion, R"({"suffix":"end"})", "suffix: not supported (insertion completions are not available)", "suffix"},
  Case{Api::completion, R"({"max_tokens":0})", "max_tokens: must be at least 1 (0 is only allowed with echo)", "max_tokens"},
  Case{Api::completion, R"({"max_tokens":-3})", "max_tokens: must be at least 0", "max_tokens"},
  Case{Api::completion, R"({"logprobs":6})", "logprobs: must be between 0 and 5", "logprobs"},
  Case{Api::completion, R"({"echo":"yes"})", "echo: must be a boolean, got a string", "echo"},
  Case{Api::completion, R"({"best_of":3})", "best_of: not supported (only best_of equal to n)", "best_of"},
  Case{Api::completion, R"({"temperature":-0.1})", "temperature: must be between 0 and 2", "temperature"},
  Case{Api::completion, R"({"model":null})", "model: field required", "model"}));

INSTANTIATE_TEST_SUITE_P(AnthropicMessages, Validation, ::testing::Values(
  Case{Api::messages, R"({"max_tokens":null})", "max_tokens: field required", "max_tokens"},
  Case{Api::messages, R"({"max_tokens":0})", "max_tokens: must be at least 1", "max_tokens"},
  Case{Api::messages, R"({"max_tokens":"10"})", "max_tokens: must be an integer, got a string", "max_tokens"},
  Case{Api::messages, R"({"model":null})", "model: field required", "model"},
  Case{Api::messages, R"({"messages":[]})", "messages: must contain at least one message", "messages"},
  Case{Api::messages, R"({"messages":null})", "messages: field required", "messages"},
  Case{Api::messages, R"({"messages":[{"role":"tool","content":"x"}]})",
       "messages[0].role: must be one of 'user', 'assistant', 'system', got 'tool'", "messages[0].role"},
  Case{Api::messages, R"({"messages":[{"role":"user","content":"a"},{"role":"system","content":5}]})",
       "messages[1].content: must be a string or an array of text blocks", "messages[1].content"},
  Case{Api::messages, R"({"messages":[{"role":"user"}]})", "messages[0].content: field required", "messages[0].content"},
  // Found by fuzz_schemas_requests: accepted, then the empty turn vanished in translation.
  Case{Api::messages, R"({"messages":[{"role":"user","content":[]}]})",
       "messages[0].content: all messages must have non-empty content except for the optional final assistant message",
       "messages[0].content"},
  Case{Api::messages, R"({"messages":[{"role":"user","content":"a"},{"role":"assistant","content":[]},{"role":"user","content":"b"}]})",
       "messages[1].content: all messages must have non-empty content except for the optional final assistant message",
       "messages[1].content"},
  Case{Api::messages, R"({"messages":[{"role":"user","content":1}]})",
       "messages[0].content: must be a string or an array of content blocks, got a number", "messages[0].content"},
  Case{Api::messages, R"({"messages":[{"role":"user","content":[{"text":"x"}]}]})",
       "messages[0].content[0].type: field required", "messages[0].content[0].type"},
  Case{Api::messages, R"({"messages":[{"role":"user","content":[{"type":"search_result"}]}]})",
       "messages[0].content[0].type: must be one of 'text', 'image', 'document', 'tool_use', 'tool_result', 'thinking', 'redacted_thinking', got 'search_result'",
       "messages[0].content[0].type"},
  Case{Api::messages, R"({"messages":[{"role":"user","content":[{"type":"document"}]}]})",
       "messages[0].content[0].source: field required", "messages[0].content[0].source"},
  Case{Api::messages, R"({"messages":[{"role":"user","content":[{"type":"document","source":{"type":"zip"}}]}]})",
       "messages[0].content[0].source.type: must be one of 'text', 'content', 'base64', 'url', 'file', got 'zip'",
       "messages[0].content[0].source.type"},
  Case{Api::messages, R"({"messages":[{"role":"user","content":[{"type":"document","source":{"type":"text","media_type":"text/html","data":"x"}}]}]})",
       "messages[0].content[0].source.media_type: must be one of 'text/plain', got 'text/html'",
       "messages[0].content[0].source.media_type"},
  Case{Api::messages, R"({"messages":[{"role":"user","content":[{"type":"document","source":{"type":"base64","media_type":"application/pdf"}}]}]})",
       "messages[0].content[0].source.data: field required", "messages[0].content[0].source.data"},
  Case{Api::messages, R"({"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"video"}]}]}]})",
       "messages[0].content[0].content[0].type: must be one of 'text', 'image', 'document', got 'video'",
       "messages[0].content[0].content[0].type"},
  Case{Api::messages, R"({"messages":[{"role":"user","content":[{"type":"text","text":"x","cache_control":{"type":"persistent"}}]}]})",
       "messages[0].content[0].cache_control.type: must be one of 'ephemeral', got 'persistent'",
       "messages[0].content[0].cache_control.type"},
  Case{Api::messages, R"({"cache_control":{"type":"ephemeral","ttl":"2h"}})",
       "cache_control.ttl: must be one of '5m', '1h', got '2h'", "cache_control.ttl"},
  Case{Api::messages, R"({"system":[{"type":"text","text":"s","cache_control":"yes"}]})",
       "system[0].cache_control: must be an object, got a string", "system[0].cache_control"},
  Case{Api::messages, R"({"output_config":{"effort":"extreme"}})",
       "output_config.effort: must be one of 'low', 'medium', 'high', 'xhigh', 'max', got 'extreme'", "output_config.effort"},
  Case{Api::messages, R"({"output_config":{"format":{"type":"regex"}}})",
       "output_config.format.type: must be one of 'json_schema', got 'regex'", "output_config.format.type"},
  Case{Api::messages, R"({"output_config":{"format":{"type":"json_schema"}}})",
       "output_config.format.schema: field required", "output_config.format.schema"},
  Case{Api::messages, R"({"context_management":{"edits":[{}]}})",
       "context_management.edits[0].type: field required", "context_management.edits[0].type"},
  Case{Api::messages, R"({"context_management":[]})",
       "context_management: must be an object, got an array", "context_management"},
  Case{Api::messages, R"({"messages":[{"role":"user","content":[{"type":"text","text":3}]}]})",
       "messages[0].content[0].text: must be a string, got a number", "messages[0].content[0].text"},
  Case{Api::messages, R"({"messages":[{"role":"user","content":[{"type":"image","source":{"type":"file"}}]}]})",
       "messages[0].content[0].source.type: must be one of 'base64', 'url', got 'file'", "messages[0].content[0].source.type"},
  Case{Api::messages, R"({"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/bmp","data":"x"}}]}]})",
       "messages[0].content[0].source.media_type: must be one of 'image/jpeg', 'image/png', 'image/gif', 'image/webp', got 'image/bmp'",
       "messages[0].content[0].source.media_type"},
  Case{Api::messages, R"({"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png"}}]}]})",
       "messages[0].content[0].source.data: field required", "messages[0].content[0].source.data"},
  Case{Api::messages, R"({"messages":[{"role":"user","content":[{"type":"tool_use","id":"t","name":"f","input":{}}]}]})",
       "messages[0].content[0].type: 'tool_use' is only allowed in assistant messages", "messages[0].content[0].type"},
  Case{Api::messages, R"({"messages":[{"role":"assistant","content":[{"type":"tool_result","tool_use_id":"t"}]}]})",
       "messages[0].content[0].type: 'tool_result' is only allowed in user messages", "messages[0].content[0].type"},
  Case{Api::messages, R"({"messages":[{"role":"user","content":[{"type":"tool_result","content":"x"}]}]})",
       "messages[0].content[0].tool_use_id: field required", "messages[0].content[0].tool_use_id"},
  Case{Api::messages, R"({"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":[1]}]}]})",
       "messages[0].content[0].input: must be an object", "messages[0].content[0].input"},
  Case{Api::messages, R"({"messages":[{"role":"assistant","content":[{"type":"redacted_thinking"}]}]})",
       "messages[0].content[0].data: field required", "messages[0].content[0].data"},
  Case{Api::messages, R"({"system":5})", "system: must be a string or an array of text blocks", "system"},
  Case{Api::messages, R"({"system":[{"type":"image"}]})", "system[0].type: must be one of 'text', got 'image'", "system[0].type"},
  Case{Api::messages, R"({"temperature":1.5})", "temperature: must be between 0 and 1", "temperature"},
  Case{Api::messages, R"({"top_p":2})", "top_p: must be between 0 and 1", "top_p"},
  Case{Api::messages, R"({"top_k":-1})", "top_k: must be at least 0", "top_k"},
  Case{Api::messages, R"({"stop_sequences":"END"})", "stop_sequences: must be an array, got a string", "stop_sequences"},
  Case{Api::messages, R"({"stop_sequences":[1]})", "stop_sequences[0]: must be a string, got a number", "stop_sequences[0]"},
  Case{Api::messages, R"({"stream":"true"})", "stream: must be a boolean, got a string", "stream"},
  Case{Api::messages, R"({"metadata":"x"})", "metadata: must be an object, got a string", "metadata"},
  Case{Api::messages, R"({"tools":[{"name":"f"}]})", "tools[0].input_schema: field required", "tools[0].input_schema"},
  Case{Api::messages, R"({"tools":[{"input_schema":{}}]})", "tools[0].name: field required", "tools[0].name"},
  Case{Api::messages, R"({"tools":[{"type":"web_search_20250305","name":"web_search"}]})",
       "tools[0].type: unsupported tool type 'web_search_20250305' (only client tools with input_schema)", "tools[0].type"},
  Case{Api::messages, R"({"tool_choice":{"type":"required"}})",
       "tool_choice.type: must be one of 'auto', 'any', 'tool', 'none', got 'required'", "tool_choice.type"},
  Case{Api::messages, R"({"tool_choice":{"type":"tool"}})", "tool_choice.name: field required", "tool_choice.name"},
  Case{Api::messages, R"({"tool_choice":"auto"})", "tool_choice: must be an object, got a string", "tool_choice"},
  Case{Api::messages, R"({"thinking":{"type":"on"}})", "thinking.type: must be one of 'enabled', 'adaptive', 'disabled', got 'on'", "thinking.type"},
  Case{Api::messages, R"({"thinking":{"type":"enabled"}})", "thinking.budget_tokens: field required", "thinking.budget_tokens"},
  Case{Api::messages, R"({"max_tokens":4000,"thinking":{"type":"enabled","budget_tokens":500}})",
       "thinking.budget_tokens: must be at least 1024", "thinking.budget_tokens"},
  Case{Api::messages, R"({"max_tokens":1024,"thinking":{"type":"enabled","budget_tokens":1024}})",
       "thinking.budget_tokens: must be less than max_tokens", "thinking.budget_tokens"}));

INSTANTIATE_TEST_SUITE_P(OpenAiResponses, Validation, ::testing::Values(
  Case{Api::responses, R"({"model":null})", "model: field required", "model"},
  Case{Api::responses, R"({"input":null})", "input: field required", "input"},
  Case{Api::responses, R"({"input":[]})", "input: must contain at least one item", "input"},
  Case{Api::responses, R"({"input":5})", "input: must be a string or an array of input items, got a number", "input"},
  Case{Api::responses, R"({"input":[{"role":"tool","content":"x"}]})",
       "input[0].role: must be one of 'user', 'assistant', 'system', 'developer', got 'tool'", "input[0].role"},
  Case{Api::responses, R"({"input":[{"role":"user","content":[{"type":"output_text","text":"x"}]}]})",
       "input[0].content[0].type: must be one of 'input_text', 'input_image', 'input_file', got 'output_text'",
       "input[0].content[0].type"},
  Case{Api::responses, R"({"input":[{"role":"user","content":[{"type":"input_image"}]}]})",
       "input[0].content[0].image_url: field required", "input[0].content[0].image_url"},
  Case{Api::responses, R"({"input":[{"role":"user","content":[{"type":"input_file"}]}]})",
       "input[0].content[0]: an input_file needs file_data, file_url or file_id", "input[0].content[0]"},
  Case{Api::responses, R"({"input":[{"type":"function_call","name":"f","arguments":"{}"}]})",
       "input[0].call_id: field required", "input[0].call_id"},
  Case{Api::responses, R"({"input":[{"type":"function_call_output","call_id":"c"}]})",
       "input[0].output: field required", "input[0].output"},
  Case{Api::responses, R"({"input":[{"type":"item_reference","id":"msg_1"}]})",
       "input[0].type: 'item_reference' is not supported: send the item itself, or continue with previous_response_id",
       "input[0].type"},
  Case{Api::responses, R"({"input":[{"type":"web_search_call","id":"ws_1"}]})",
       "input[0].type: unsupported input item type 'web_search_call' (supported: 'message', 'function_call', 'function_call_output', 'reasoning')",
       "input[0].type"},
  Case{Api::responses, R"({"instructions":5})", "instructions: must be a string, got a number", "instructions"},
  Case{Api::responses, R"({"max_output_tokens":0})", "max_output_tokens: must be at least 1", "max_output_tokens"},
  Case{Api::responses, R"({"temperature":3})", "temperature: must be between 0 and 2", "temperature"},
  Case{Api::responses, R"({"top_p":-1})", "top_p: must be between 0 and 1", "top_p"},
  Case{Api::responses, R"({"top_logprobs":21})", "top_logprobs: must be between 0 and 20", "top_logprobs"},
  Case{Api::responses, R"({"tools":[{"type":"web_search"}]})",
       "tools[0].type: unsupported tool type 'web_search' (only 'function' tools)", "tools[0].type"},
  Case{Api::responses, R"({"tools":[{"type":"function"}]})", "tools[0].name: field required", "tools[0].name"},
  Case{Api::responses, R"({"tool_choice":"any"})",
       "tool_choice: must be one of 'none', 'auto', 'required', got 'any'", "tool_choice"},
  Case{Api::responses, R"({"tool_choice":{"type":"function","name":"g"}})",
       "tool_choice.name: no tool named 'g' in tools", "tool_choice.name"},
  Case{Api::responses, R"({"tool_choice":{"type":"file_search"}})",
       "tool_choice.type: must be one of 'function', got 'file_search'", "tool_choice.type"},
  Case{Api::responses, R"({"text":{"format":{"type":"xml"}}})",
       "text.format.type: must be one of 'text', 'json_object', 'json_schema', got 'xml'", "text.format.type"},
  Case{Api::responses, R"({"text":{"format":{"type":"json_schema","schema":{}}}})",
       "text.format.name: field required", "text.format.name"},
  Case{Api::responses, R"({"text":{"verbosity":"loud"}})",
       "text.verbosity: must be one of 'low', 'medium', 'high', got 'loud'", "text.verbosity"},
  Case{Api::responses, R"({"reasoning":{"effort":"extreme"}})",
       "reasoning.effort: must be one of 'none', 'minimal', 'low', 'medium', 'high', 'xhigh', got 'extreme'",
       "reasoning.effort"},
  Case{Api::responses, R"({"reasoning":{"summary":"long"}})",
       "reasoning.summary: must be one of 'auto', 'concise', 'detailed', got 'long'", "reasoning.summary"},
  Case{Api::responses, R"({"store":"yes"})", "store: must be a boolean, got a string", "store"},
  Case{Api::responses, R"({"previous_response_id":5})", "previous_response_id: must be a string, got a number",
       "previous_response_id"},
  Case{Api::responses, R"({"metadata":{"k":1}})", "metadata.k: must be a string", "metadata.k"},
  Case{Api::responses, R"({"truncation":"middle"})", "truncation: must be one of 'auto', 'disabled', got 'middle'", "truncation"},
  Case{Api::responses, R"({"background":true})",
       "background: background responses are not supported; send the request without it (or stream it)", "background"},
  Case{Api::responses, R"({"conversation":"conv_1"})",
       "conversation: conversations are not supported; continue with previous_response_id", "conversation"},
  Case{Api::responses, R"({"prompt":{"id":"pmpt_1"}})",
       "prompt: stored prompt templates are not supported; send instructions and input", "prompt"},
  Case{Api::responses, R"({"include":[5]})", "include[0]: must be a string, got a number", "include[0]"}));

// ---------------------------------------------------------------- body-level failures

TEST(BodyErrors, MalformedJsonNamesThePosition) {
  auto result = parse_openai_chat_request("{\"model\": \"m\",\n  \"messages\": [,]}", "application/json");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().message.rfind("invalid JSON at line 2 column 16 (offset 30): ", 0), 0u) << result.error().message;
  EXPECT_EQ(result.error().http_status(Protocol::openai), 400);

  auto truncated = parse_anthropic_messages_request(R"({"model": "m")", "application/json");
  ASSERT_FALSE(truncated.ok());
  EXPECT_EQ(truncated.error().message.rfind("invalid JSON at line 1 column 14 (offset 13)", 0), 0u) << truncated.error().message;

  auto trailing = parse_anthropic_messages_request(R"({"model": "m"} x)", "application/json");
  ASSERT_FALSE(trailing.ok());
  EXPECT_EQ(trailing.error().message.rfind("invalid JSON at line 1 column 16 (offset 15)", 0), 0u) << trailing.error().message;
}

TEST(BodyErrors, EmptyBodyWrongTypeAndContentType) {
  for (Api api : {Api::chat, Api::completion, Api::messages, Api::responses}) {
    auto empty = parse(api, "  \n");
    ASSERT_FALSE(empty.ok());
    EXPECT_EQ(empty.error().message, "request body is empty; expected a JSON object");

    auto array = parse(api, "[1,2]");
    ASSERT_FALSE(array.ok());
    EXPECT_EQ(array.error().message, "request body must be a JSON object, got an array");

    auto form = parse(api, json::serialize(valid_body(api)), "application/x-www-form-urlencoded");
    ASSERT_FALSE(form.ok());
    EXPECT_EQ(form.error().message, "Content-Type must be application/json, got 'application/x-www-form-urlencoded'");
    EXPECT_EQ(form.error().http_status(Protocol::anthropic), 400);
  }
}

TEST(BodyErrors, DeepNestingIsRefusedNotCrashing) {
  std::string deep = R"({"model":"m","messages":)" + std::string(100000, '[') + std::string(100000, ']') + "}";
  auto result = parse_openai_chat_request(deep, "application/json");
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.error().message.find("invalid JSON"), std::string::npos);
}

TEST(BodyErrors, HugeNumbersAreRangeErrors) {
  auto result = parse_openai_chat_request(
      R"({"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":1e300})", "application/json");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().message, "max_tokens: must be an integer");
  auto big = parse_openai_chat_request(
      R"({"model":"m","messages":[{"role":"user","content":"x"}],"seed":18446744073709551615})", "application/json");
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().message, "seed: is too large");
}

// ---------------------------------------------------------------- other layers' errors

TEST(ErrorShapes, EachKindInBothProtocols) {
  struct Expected {
    ErrorKind kind;
    int openai_status;
    const char* openai_type;
    const char* openai_code;
    int anthropic_status;
    const char* anthropic_type;
  };
  const Expected table[] = {
      {ErrorKind::invalid_request, 400, "invalid_request_error", nullptr, 400, "invalid_request_error"},
      {ErrorKind::authentication, 401, "invalid_request_error", "invalid_api_key", 401, "authentication_error"},
      {ErrorKind::permission, 403, "invalid_request_error", "permission_denied", 403, "permission_error"},
      {ErrorKind::not_found, 404, "invalid_request_error", nullptr, 404, "not_found_error"},
      {ErrorKind::model_not_found, 404, "invalid_request_error", "model_not_found", 404, "not_found_error"},
      {ErrorKind::request_too_large, 413, "invalid_request_error", "request_too_large", 413, "request_too_large"},
      {ErrorKind::rate_limit, 429, "rate_limit_error", "rate_limit_exceeded", 429, "rate_limit_error"},
      {ErrorKind::api_error, 500, "server_error", nullptr, 500, "api_error"},
      {ErrorKind::timeout, 504, "server_error", "timeout", 504, "timeout_error"},
      {ErrorKind::overloaded, 503, "server_error", "overloaded", 529, "overloaded_error"},
      {ErrorKind::context_length_exceeded, 400, "invalid_request_error", "context_length_exceeded", 400,
       "invalid_request_error"},
      {ErrorKind::queue_full, 429, "rate_limit_error", "rate_limit_exceeded", 529, "overloaded_error"},
      {ErrorKind::unavailable, 503, "server_error", "overloaded", 503, "overloaded_error"},
      {ErrorKind::unsupported, 400, "invalid_request_error", "unsupported", 400, "invalid_request_error"},
      {ErrorKind::upstream_error, 502, "server_error", "bad_gateway", 502, "api_error"},
  };
  for (const auto& expected : table) {
    ApiError error = make_error(expected.kind, "something happened");
    EXPECT_EQ(error.http_status(Protocol::openai), expected.openai_status);
    EXPECT_EQ(error.http_status(Protocol::anthropic), expected.anthropic_status);
    json::value openai = json::parse(render_error(error, Protocol::openai));
    json::object openai_error{{"message", "something happened"},
                              {"type", expected.openai_type},
                              {"param", nullptr},
                              {"code", expected.openai_code ? json::value(expected.openai_code) : json::value()}};
    EXPECT_JSON_EQ(openai, (json::object{{"error", openai_error}}));
    json::value anthropic = json::parse(render_error(error, Protocol::anthropic));
    EXPECT_JSON_EQ(anthropic, (json::object{{"type", "error"},
                                            {"error", {{"type", expected.anthropic_type}, {"message", "something happened"}}}}));
  }
  ApiError custom = make_error(ErrorKind::invalid_request, "bad", "x");
  custom.code = "custom_code";
  custom.status = 422;  // an upstream's exact status wins over the kind's
  EXPECT_EQ(custom.http_status(Protocol::openai), 422);
  EXPECT_EQ(custom.http_status(Protocol::anthropic), 422);
  EXPECT_EQ(json::parse(render_error(custom, Protocol::openai)).at("error").at("code").as_string(), "custom_code");
}

TEST(Errors, StatusesMapToKinds) {
  EXPECT_EQ(error_kind_for_status(400), ErrorKind::invalid_request);
  EXPECT_EQ(error_kind_for_status(401), ErrorKind::authentication);
  EXPECT_EQ(error_kind_for_status(403), ErrorKind::permission);
  EXPECT_EQ(error_kind_for_status(404), ErrorKind::not_found);
  EXPECT_EQ(error_kind_for_status(408), ErrorKind::invalid_request);
  EXPECT_EQ(error_kind_for_status(413), ErrorKind::request_too_large);
  EXPECT_EQ(error_kind_for_status(429), ErrorKind::rate_limit);
  EXPECT_EQ(error_kind_for_status(500), ErrorKind::api_error);
  EXPECT_EQ(error_kind_for_status(502), ErrorKind::upstream_error);
  EXPECT_EQ(error_kind_for_status(503), ErrorKind::unavailable);
  EXPECT_EQ(error_kind_for_status(504), ErrorKind::timeout);
  EXPECT_EQ(error_kind_for_status(529), ErrorKind::overloaded);
  EXPECT_EQ(parse_protocol("anthropic"), Protocol::anthropic);
  EXPECT_EQ(parse_protocol("openai"), Protocol::openai);
  EXPECT_FALSE(parse_protocol("OpenAI"));
  EXPECT_EQ(protocol_name(Protocol::anthropic), "anthropic");
}

// Anthropic's one exception to non-empty turns: a final assistant turn (the answer's start) may be empty.
TEST(AnthropicMessages, AnEmptyFinalAssistantTurnIsAccepted) {
  auto parsed = parse(Api::messages, R"({"model":"m","max_tokens":10,"messages":[
      {"role":"user","content":"hi"},{"role":"assistant","content":[]}]})");
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->messages.size(), 2u);
}

}  // namespace
}  // namespace tandem::schemas
