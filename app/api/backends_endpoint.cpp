// GET /v1/backends: every backend the router knows, with its live state (the shared contract's
// shape: unknown fields are null, never invented).
#include "app/api/endpoints.h"

#include <boost/json.hpp>

namespace tandem::api {

namespace {

template <class T>
boost::json::value or_null(const std::optional<T>& value) {
  if (!value) return nullptr;
  return boost::json::value(*value);
}

}  // namespace

boost::json::object backend_status_json(const backend::BackendStatus& status) {
  boost::json::object out;
  out["name"] = status.name;
  out["kind"] = status.kind;
  boost::json::array models;
  for (const auto& model : status.models) models.emplace_back(model);
  out["models"] = std::move(models);
  out["state"] = status.state;
  out["error_rate"] = status.error_rate;
  out["latency_p50_ms"] = or_null(status.latency_p50_ms);
  out["in_flight"] = status.in_flight;
  out["queue"] = or_null(status.queue);
  out["running"] = or_null(status.running);
  out["kv_used"] = or_null(status.kv_used);
  out["kv_capacity"] = or_null(status.kv_capacity);
  out["tokens_per_second"] = or_null(status.tokens_per_second);
  return out;
}

asio::awaitable<void> handle_list_backends(ApiState& api, http::RequestContext& ctx) {
  boost::json::array data;
  for (const auto& status : api.backend_statuses) data.emplace_back(backend_status_json(status()));
  boost::json::object body;
  body["object"] = "list";
  body["data"] = std::move(data);
  std::string text = boost::json::serialize(body);
  co_await ctx.respond(200, std::move(text));
}

}  // namespace tandem::api
