// Small HTTP helpers shared by the API handler and the server: request/response
// types, URL decoding, query strings, JSON/CSV responses, content types.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "common/status.h"

namespace compsweep::coordinator {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;

// Request size limits; larger requests get 413 (431 for the header). A sweep
// file is the largest body the API takes: validating a 1 MiB worst case (a list
// of 350,000 values) takes about 180 MB and a few seconds, and the cost grows
// with the size (8 MiB: 1.4 GB), see docs/robustness.md.
inline constexpr uint64_t kBodyLimit = 1u << 20;
inline constexpr size_t kHeaderLimit = 16u << 10;  // request line and header fields

// Boost 1.74's beast::string_view is not std::string_view.
inline std::string_view ToStd(boost::beast::string_view s) { return {s.data(), s.size()}; }

// Percent-decodes `in` ('+' stays '+' unless plus_as_space). Returns nullopt on a
// malformed escape.
std::optional<std::string> UrlDecode(std::string_view in, bool plus_as_space = false);

// Splits a request target into its path (still encoded) and query string.
void SplitTarget(std::string_view target, std::string* path, std::string* query);

// Parses "a=1&b=x%20y" (form encoding: '+' is a space). Later keys win.
std::map<std::string, std::string> ParseQuery(std::string_view query);

// Parses a positive decimal id ("12"); nullopt for anything else.
std::optional<int64_t> ParseId(std::string_view text);

// Splits on `sep`, dropping empty parts.
std::vector<std::string> SplitList(std::string_view text, char sep);

// Responses. All carry Cache-Control: no-store and the request's version/keep-alive.
HttpResponse JsonResponse(const HttpRequest& req, boost::beast::http::status status,
                          const nlohmann::json& body);
HttpResponse ErrorResponse(const HttpRequest& req, boost::beast::http::status status,
                           const std::string& message);
HttpResponse TextResponse(const HttpRequest& req, boost::beast::http::status status,
                          std::string content_type, std::string body);

// HTTP status for a non-OK Status (NotFound -> 404, InvalidArgument -> 400, ...).
boost::beast::http::status HttpStatusFor(const Status& status);

// One CSV field (RFC 4180): quoted when it holds a comma, quote, CR or LF, or
// leading/trailing spaces; text that a spreadsheet would run as a formula
// ('=', '+', '@', tab) is prefixed with a quote character.
std::string CsvField(std::string_view text);

// Content type by file extension (".js" -> "text/javascript; charset=utf-8").
std::string ContentTypeFor(std::string_view path);

// Constant-time comparison for secrets.
bool SecretEquals(std::string_view a, std::string_view b);

}  // namespace compsweep::coordinator
