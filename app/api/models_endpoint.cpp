// GET /v1/models and /v1/models/{id}: the loaded models, in OpenAI's list shape, or Anthropic's
// when the client sends `anthropic-version` (as the Anthropic SDK always does).
#include "app/api/endpoints.h"

#include "engine/loaded_model.h"

#include <boost/json.hpp>

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

json::object openai_model(const actors::ServedModel& model) {
  json::object entry;
  entry["id"] = model.id;
  entry["object"] = "model";
  entry["created"] = model.created;
  entry["owned_by"] = "tandem";
  return entry;
}

json::object anthropic_model(const actors::ServedModel& model) {
  json::object entry;
  entry["type"] = "model";
  entry["id"] = model.id;
  const auto& name = model.model->config().name;
  entry["display_name"] = name.empty() ? model.id : name;
  entry["created_at"] = rfc3339(model.created);
  return entry;
}

std::string list_body(const std::vector<std::shared_ptr<const actors::ServedModel>>& models,
                      schemas::Protocol protocol) {
  json::array data;
  for (const auto& model : models) {
    data.push_back(protocol == schemas::Protocol::anthropic ? anthropic_model(*model) : openai_model(*model));
  }
  json::object body;
  if (protocol == schemas::Protocol::anthropic) {
    body["data"] = std::move(data);
    body["first_id"] = models.empty() ? json::value() : json::value(models.front()->id);
    body["last_id"] = models.empty() ? json::value() : json::value(models.back()->id);
    body["has_more"] = false;
  } else {
    body["object"] = "list";
    body["data"] = std::move(data);
  }
  return json::serialize(body);
}

}  // namespace

asio::awaitable<void> handle_list_models(ApiState& api, http::RequestContext& ctx) {
  const auto protocol = caller_protocol(ctx);
  std::optional<actors::ModelList> list;
  std::string failure;
  try {
    auto operation = actors::ask<actors::ModelList>(*api.runtime, api.router, api.ask_timeout,
                                                    actors::models_atom::value);
    list = co_await std::move(operation);
  } catch (const std::exception& e) {
    failure = e.what();
  }
  if (!list) {
    co_await respond_error(ctx, protocol,
                           schemas::make_error(schemas::ErrorKind::api_error, "the model router did not answer: " + failure));
    co_return;
  }
  co_await ctx.respond(200, list_body(list->models, protocol));
}

asio::awaitable<void> handle_get_model(ApiState& api, http::RequestContext& ctx) {
  const auto protocol = caller_protocol(ctx);
  auto served = co_await find_model(api, ctx, protocol, std::string(ctx.path_param("id")));
  if (!served) co_return;
  auto entry = protocol == schemas::Protocol::anthropic ? anthropic_model(*served) : openai_model(*served);
  co_await ctx.respond(200, json::serialize(entry));
}

}  // namespace tandem::api
