// GET /v1/models and /v1/models/{id}: the loaded models, in OpenAI's list shape, or Anthropic's
// when the client sends `anthropic-version` (as the Anthropic SDK always does).
#include "app/api/endpoints.h"

#include "actors/bridge.h"

#include <boost/json.hpp>

#include <algorithm>
#include <cctype>
#include <ctime>

namespace tandem::api {

namespace json = boost::json;

namespace {

std::string rfc3339(int64_t unix_seconds) {
  std::time_t time = static_cast<std::time_t>(unix_seconds);
  std::tm utc{};
  gmtime_r(&time, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

json::object openai_model(const backend::ModelInfo& model) {
  json::object entry;
  entry["id"] = model.id;
  entry["object"] = "model";
  entry["created"] = model.created;
  entry["owned_by"] = model.owned_by;
  return entry;
}

json::object anthropic_model(const backend::ModelInfo& model) {
  json::object entry;
  entry["type"] = "model";
  entry["id"] = model.id;
  entry["display_name"] = model.display_name.empty() ? model.id : model.display_name;
  entry["created_at"] = rfc3339(model.created);
  return entry;
}

std::string list_body(const std::vector<backend::ModelInfo>& models, schemas::Protocol protocol) {
  json::array data;
  for (const auto& model : models) {
    data.push_back(protocol == schemas::Protocol::anthropic ? anthropic_model(model) : openai_model(model));
  }
  json::object body;
  if (protocol == schemas::Protocol::anthropic) {
    body["data"] = std::move(data);
    body["first_id"] = models.empty() ? json::value() : json::value(models.front().id);
    body["last_id"] = models.empty() ? json::value() : json::value(models.back().id);
    body["has_more"] = false;
  } else {
    body["object"] = "list";
    body["data"] = std::move(data);
  }
  return json::serialize(body);
}

bool equals_ignoring_case(const std::string& a, const std::string& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// The model `name` names: an id or alias, exactly, then ignoring case (as the router routes).
const backend::ModelInfo* find_model(const std::vector<backend::ModelInfo>& models, const std::string& name) {
  for (bool ignore_case : {false, true}) {
    auto same = [&](const std::string& candidate) {
      return ignore_case ? equals_ignoring_case(candidate, name) : candidate == name;
    };
    for (const auto& model : models) {
      if (same(model.id) || std::any_of(model.aliases.begin(), model.aliases.end(), same)) return &model;
    }
  }
  return nullptr;
}

schemas::ApiError unknown_model(const std::string& name, const std::vector<backend::ModelInfo>& models) {
  std::string message = "The model '" + name + "' does not exist or is not served here";
  if (models.empty()) {
    message += "; no model is loaded";
  } else {
    message += "; available models: ";
    for (size_t i = 0; i < models.size(); ++i) message += (i ? ", " : "") + models[i].id;
  }
  return schemas::make_error(schemas::ErrorKind::model_not_found, std::move(message), "model");
}

// Every backend's models, through the router; nullopt after answering the failure.
asio::awaitable<std::optional<backend::ModelList>> describe_all(ApiState& api, http::RequestContext& ctx,
                                                                schemas::Protocol protocol) {
  std::optional<backend::ModelList> list;
  std::string failure;
  try {
    auto operation = actors::ask<backend::ModelList>(*api.runtime, api.router, api.backend_timeout,
                                                     backend::describe_atom::value);
    list = co_await std::move(operation);
  } catch (const std::exception& e) {
    failure = e.what();
  }
  if (!list) {
    auto error = schemas::make_error(schemas::ErrorKind::api_error, "the model router did not answer: " + failure);
    co_await respond_error(ctx, protocol, error);
  }
  co_return list;
}

}  // namespace

asio::awaitable<void> handle_list_models(ApiState& api, http::RequestContext& ctx) {
  const auto protocol = caller_protocol(ctx);
  auto list = co_await describe_all(api, ctx, protocol);
  if (!list) co_return;
  co_await ctx.respond(200, list_body(list->models, protocol));
}

asio::awaitable<void> handle_get_model(ApiState& api, http::RequestContext& ctx) {
  const auto protocol = caller_protocol(ctx);
  auto list = co_await describe_all(api, ctx, protocol);
  if (!list) co_return;
  const std::string name(ctx.path_param("id"));
  const auto* model = find_model(list->models, name);
  if (!model) {
    auto error = unknown_model(name, list->models);
    co_await respond_error(ctx, protocol, error);
    co_return;
  }
  auto entry = protocol == schemas::Protocol::anthropic ? anthropic_model(*model) : openai_model(*model);
  co_await ctx.respond(200, json::serialize(entry));
}

}  // namespace tandem::api
