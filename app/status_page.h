// The status page and playground served at GET / (app/status_page.html, embedded in the binary
// at configure time: no files to install, nothing fetched from the internet).
#pragma once

#include <string_view>

namespace tandem::app {

std::string_view status_page_html();

}  // namespace tandem::app
