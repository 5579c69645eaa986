#include "cloud/resilience/outcome.h"

namespace tandem::resilience {

std::string_view failure_kind_name(FailureKind kind) {
  switch (kind) {
    case FailureKind::none: return "none";
    case FailureKind::connect_error: return "connect_error";
    case FailureKind::timeout: return "timeout";
    case FailureKind::server_error: return "server_error";
    case FailureKind::throttled: return "throttled";
    case FailureKind::stream_cut: return "stream_cut";
    case FailureKind::caller_error: return "caller_error";
    case FailureKind::cancelled: return "cancelled";
  }
  return "unknown";
}

FailureKind classify_status(int status) {
  if (status < 400) return FailureKind::none;
  if (status == 408) return FailureKind::timeout;
  if (status == 429 || status == 529) return FailureKind::throttled;
  if (status < 500) return FailureKind::caller_error;
  return FailureKind::server_error;
}

bool counts_against_provider(const CallOutcome& outcome) {
  switch (outcome.failure) {
    case FailureKind::connect_error:
    case FailureKind::timeout:
    case FailureKind::server_error:
    case FailureKind::stream_cut: return true;
    case FailureKind::throttled: return outcome.retries_spent;
    case FailureKind::none:
    case FailureKind::caller_error:
    case FailureKind::cancelled: return false;
  }
  return false;
}

bool is_retryable(FailureKind kind) {
  switch (kind) {
    case FailureKind::connect_error:
    case FailureKind::timeout:
    case FailureKind::server_error:
    case FailureKind::throttled:
    case FailureKind::stream_cut: return true;
    case FailureKind::none:
    case FailureKind::caller_error:
    case FailureKind::cancelled: return false;
  }
  return false;
}

}  // namespace tandem::resilience
