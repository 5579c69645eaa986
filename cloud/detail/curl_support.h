// Helpers of the upstream client's shards: libcurl's result codes as TransferError, and the
// trimming and lower-casing of response header lines.
#pragma once

#include "cloud/upstream_client.h"

#include <curl/curl.h>

#include <string>
#include <string_view>

namespace tandem::cloud::detail {

// `connected`: the transfer got past the connect phase (libcurl's only timeout of ours is there).
TransferError classify(CURLcode code, bool connected);
std::string trim(std::string_view text);
std::string lower(std::string_view text);

}  // namespace tandem::cloud::detail
