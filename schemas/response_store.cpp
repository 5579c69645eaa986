#include "schemas/response_store.h"

#include <algorithm>

namespace tandem::schemas {

StoredResponse make_stored_response(const InternalRequest& request, const TextResult& result,
                                    boost::json::object response) {
  StoredResponse stored;
  stored.id = result.id;
  stored.response = std::move(response);
  stored.conversation = request.messages;
  Message turn{Role::assistant, {}, ""};
  for (const auto& part : result.content) {
    if (std::holds_alternative<TextPart>(part) || std::holds_alternative<ToolCallPart>(part) ||
        std::holds_alternative<ThinkingPart>(part)) {
      turn.content.push_back(part);
    }
  }
  if (!turn.content.empty()) stored.conversation.push_back(std::move(turn));
  return stored;
}

ApiError response_not_found(std::string_view id) {
  return make_error(ErrorKind::not_found, "Response with id '" + std::string(id) + "' not found.");
}

ResponseStore::ResponseStore(std::size_t max_entries, std::chrono::seconds ttl, Clock clock)
    : max_entries_(std::max<std::size_t>(1, max_entries)), ttl_(ttl), clock_(std::move(clock)) {}

void ResponseStore::evict_expired_locked(std::chrono::steady_clock::time_point now) {
  while (!order_.empty()) {
    auto it = entries_.find(order_.front());
    if (it != entries_.end() && it->second.expires > now) break;
    // Entries expire in insertion order (one TTL for all), so the scan stops at the first live one.
    if (it != entries_.end()) entries_.erase(it);
    order_.pop_front();
  }
}

void ResponseStore::put(StoredResponse response) {
  std::lock_guard lock(mutex_);
  auto now = clock_();
  evict_expired_locked(now);
  std::string id = response.id;
  if (entries_.erase(id) > 0) order_.erase(std::find(order_.begin(), order_.end(), id));
  entries_[id] = Entry{std::move(response), now + ttl_};
  order_.push_back(std::move(id));
  while (entries_.size() > max_entries_ && !order_.empty()) {
    entries_.erase(order_.front());
    order_.pop_front();
  }
}

std::optional<StoredResponse> ResponseStore::get(std::string_view id) {
  std::lock_guard lock(mutex_);
  evict_expired_locked(clock_());
  auto it = entries_.find(std::string(id));
  if (it == entries_.end()) return std::nullopt;
  return it->second.response;
}

bool ResponseStore::erase(std::string_view id) {
  std::lock_guard lock(mutex_);
  evict_expired_locked(clock_());
  auto it = entries_.find(std::string(id));
  if (it == entries_.end()) return false;
  entries_.erase(it);
  order_.erase(std::find(order_.begin(), order_.end(), std::string(id)));
  return true;
}

std::size_t ResponseStore::size() {
  std::lock_guard lock(mutex_);
  evict_expired_locked(clock_());
  return entries_.size();
}

Result<InternalRequest> ResponseStore::with_history(InternalRequest request) {
  const std::string& previous = request.responses.previous_response_id;
  if (previous.empty()) return request;
  auto stored = get(previous);
  if (!stored) {
    ApiError error = response_not_found(previous);
    error.message = "Previous response with id '" + previous + "' not found.";
    error.param = "previous_response_id";
    return error;
  }
  std::vector<Message> messages = std::move(stored->conversation);
  for (auto& message : request.messages) messages.push_back(std::move(message));
  request.messages = std::move(messages);
  return request;
}

}  // namespace tandem::schemas
