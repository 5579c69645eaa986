// Reading a few values out of JSON while the text is validated, without building the document:
// what proxied bodies need (their usage, their top-level "model") at a fraction of a full parse.
//
// A reader derives from JsonSaxReader<Reader> (a boost::json::basic_parser handler whose
// callbacks do nothing) and provides
//   void on_open(bool object);               // an object (true) or array (false) begins
//   void on_close();                         // it ends
//   void on_whole_key(std::string_view key); // a key, its pieces joined and escapes decoded
//   void on_scalar();                        // a string, number, true, false or null ended
// It may hide other callbacks to see values (on_string, on_int64, ...); those end with
// `return scalar();`.
#pragma once

#include <boost/json/basic_parser_impl.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tandem::schemas {

template <class Reader>
class JsonSaxReader {
 public:
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);

  using error_code = boost::system::error_code;
  using string_view = boost::json::string_view;

  bool on_document_begin(error_code&) { return true; }
  bool on_document_end(error_code&) { return true; }
  bool on_object_begin(error_code&) { return open(true); }
  bool on_object_end(std::size_t, error_code&) { return close(); }
  bool on_array_begin(error_code&) { return open(false); }
  bool on_array_end(std::size_t, error_code&) { return close(); }
  bool on_key_part(string_view part, std::size_t, error_code&) {
    key_.append(part.data(), part.size());
    return true;
  }
  bool on_key(string_view part, std::size_t, error_code&) {
    key_.append(part.data(), part.size());
    reader().on_whole_key(key_);
    key_.clear();
    return true;
  }
  bool on_string_part(string_view, std::size_t, error_code&) { return true; }
  bool on_string(string_view, std::size_t, error_code&) { return scalar(); }
  bool on_number_part(string_view, error_code&) { return true; }
  bool on_int64(std::int64_t, string_view, error_code&) { return scalar(); }
  bool on_uint64(std::uint64_t, string_view, error_code&) { return scalar(); }
  bool on_double(double, string_view, error_code&) { return scalar(); }
  bool on_bool(bool, error_code&) { return scalar(); }
  bool on_null(error_code&) { return scalar(); }
  bool on_comment_part(string_view, error_code&) { return true; }
  bool on_comment(string_view, error_code&) { return true; }

 protected:
  bool scalar() {
    reader().on_scalar();
    return true;
  }

 private:
  Reader& reader() { return static_cast<Reader&>(*this); }
  bool open(bool object) {
    reader().on_open(object);
    return true;
  }
  bool close() {
    reader().on_close();
    return true;
  }

  std::string key_;
};

// The reader after it read all of `text`, when `text` is one complete JSON document with nothing
// after it (what json::parse accepts); nothing otherwise.
template <class Reader>
std::optional<Reader> read_json_sax(std::string_view text) {
  boost::json::basic_parser<Reader> parser(boost::json::parse_options{});
  boost::system::error_code ec;
  const std::size_t used = parser.write_some(false, text.data(), text.size(), ec);
  if (ec || !parser.done() || used != text.size()) return std::nullopt;
  return std::move(parser.handler());
}

}  // namespace tandem::schemas
