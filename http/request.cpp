#include "http/detail/connection.h"
#include "http/request.h"

#include <boost/url/decode_view.hpp>
#include <boost/url/params_encoded_view.hpp>
#include <boost/url/parse_query.hpp>

#include <algorithm>
#include <cctype>
#include <iterator>
#include <random>

namespace tandem::http {

std::optional<std::string_view> Request::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key == name) return std::string_view(value);
  }
  return std::nullopt;
}

std::optional<std::string> Request::query_param(std::string_view name) const {
  auto parsed = boost::urls::parse_query(query);
  if (!parsed) return std::nullopt;
  for (auto param : *parsed) {
    if (boost::urls::decode_view(param.key) == name) {
      if (!param.has_value) return std::string();
      std::string decoded;
      for (char c : boost::urls::decode_view(param.value)) decoded.push_back(c);
      return decoded;
    }
  }
  return std::nullopt;
}

std::pair<std::string, std::string> split_target(std::string_view target) {
  auto question = target.find('?');
  if (question == std::string_view::npos) return {std::string(target), {}};
  return {std::string(target.substr(0, question)), std::string(target.substr(question + 1))};
}

namespace detail {

std::string choose_request_id(std::optional<std::string_view> from_client) {
  auto sane = [](std::string_view id) {
    if (id.empty() || id.size() > 128) return false;
    return std::all_of(id.begin(), id.end(), [](unsigned char c) {
      return std::isalnum(c) || c == '.' || c == '_' || c == ':' || c == '-';
    });
  };
  if (from_client && sane(*from_client)) return std::string(*from_client);

  thread_local std::mt19937_64 generator{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = "req_";
  for (int word = 0; word < 2; ++word) {
    auto bits = generator();
    for (int nibble = 0; nibble < 12; ++nibble, bits >>= 4) id.push_back(kHex[bits & 0xf]);
  }
  return id;
}

bool constant_time_equals(std::string_view a, std::string_view b) {
  // Loop over the longer input and fold every byte difference into one accumulator.
  std::size_t length = std::max(a.size(), b.size());
  unsigned difference = a.size() == b.size() ? 0u : 1u;
  for (std::size_t i = 0; i < length; ++i) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    difference |= static_cast<unsigned>(x ^ y);
  }
  return difference == 0;
}

Request to_request(beast::http::request<beast::http::string_body>&& message) {
  Request request;
  request.method = std::string(message.method_string());
  request.target = std::string(message.target());
  std::tie(request.path, request.query) = split_target(request.target);
  request.headers.reserve(static_cast<std::size_t>(std::distance(message.begin(), message.end())));
  for (const auto& field : message) {
    std::string name(field.name_string());
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    request.headers.emplace_back(std::move(name), std::string(field.value()));
  }
  request.body = std::move(message.body());
  return request;
}

}  // namespace detail
}  // namespace tandem::http
