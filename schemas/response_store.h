// A bounded in-memory store of Responses API responses: what `store: true` keeps so that
// GET /v1/responses/{id} can return it, DELETE can forget it, and a later request can continue
// the conversation with previous_response_id. Bounded in count (the oldest go first) and in age
// (entries expire after the TTL); the clock is injectable so tests need no waiting. Thread-safe.
// No HTTP here: the endpoint handlers (and any backend) use it directly.
#pragma once

#include "schemas/errors.h"
#include "schemas/internal.h"

#include <boost/json/object.hpp>

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tandem::schemas {

struct StoredResponse {
  std::string id;
  boost::json::object response;        // the `response` object as the client received it
  std::vector<Message> conversation;   // the input (instructions excluded) plus the output turn
};

// What a finished response leaves for a continuation: the request's conversation (its own
// history already expanded) followed by the assistant turn of `result`.
StoredResponse make_stored_response(const InternalRequest& request, const TextResult& result,
                                    boost::json::object response);

class ResponseStore {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  ResponseStore(std::size_t max_entries, std::chrono::seconds ttl,
                Clock clock = [] { return std::chrono::steady_clock::now(); });

  // Replaces an entry with the same id. Evicts expired entries, then the oldest beyond the bound.
  void put(StoredResponse response);
  std::optional<StoredResponse> get(std::string_view id);
  bool erase(std::string_view id);  // false when absent or expired
  std::size_t size();

  // previous_response_id → the stored conversation placed before the request's own messages.
  // Instructions are not carried over (the API's rule). An unknown or expired id is a 404
  // naming previous_response_id. Requests without one pass unchanged.
  Result<InternalRequest> with_history(InternalRequest request);

 private:
  struct Entry {
    StoredResponse response;
    std::chrono::steady_clock::time_point expires;
  };
  void evict_expired_locked(std::chrono::steady_clock::time_point now);

  std::size_t max_entries_;
  std::chrono::seconds ttl_;
  Clock clock_;
  std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
  std::deque<std::string> order_;  // insertion order, oldest first (may hold ids since erased)
};

// The 404 for GET/DELETE of an id the store does not have (OpenAI's shape and wording).
ApiError response_not_found(std::string_view id);

}  // namespace tandem::schemas
