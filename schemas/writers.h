// The response writers for a request, whatever its protocol and endpoint: what a backend calls so
// that it needs no per-protocol code to answer (chat, legacy completions, Messages, Responses).
#pragma once

#include "schemas/internal.h"
#include "schemas/stream_writer.h"

#include <boost/json/object.hpp>

#include <memory>
#include <vector>

namespace tandem::schemas {

// The stream writer for `request`, with include_usage and the choice count (`n`) taken from it.
// A Responses writer keeps a reference to `request`: the request must outlive the writer.
std::unique_ptr<StreamWriter> make_stream_writer(const InternalRequest& request, StreamWriterOptions options);

// The complete response body for `request`: one result per choice (n > 1 only for OpenAI chat
// and legacy completions; the other endpoints answer with the first).
boost::json::object complete_response(const InternalRequest& request, const std::vector<TextResult>& choices);

}  // namespace tandem::schemas
