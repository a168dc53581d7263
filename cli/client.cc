// submit / status / cancel against a running coordinator's HTTP API (Boost.Beast client),
// and status read straight from a SQLite file through the API's query layer.
#include <cctype>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "cli/cli.h"
#include "coordinator/api_queries.h"
#include "coordinator/api_readers.h"
#include "coordinator/http_util.h"

namespace compsweep::cli {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

Result<HttpReply> HttpCall(const std::string& base_url, const std::string& method,
                           const std::string& target, const std::string& body,
                           const std::string& content_type, const std::string& token) {
  std::string rest = base_url;
  if (rest.rfind("http://", 0) == 0) rest = rest.substr(7);
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  std::string host = rest, port = "80";
  auto colon = rest.rfind(':');
  if (colon != std::string::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  try {
    boost::asio::io_context ioc;
    tcp::resolver resolver(ioc);
    beast::tcp_stream stream(ioc);
    stream.expires_after(std::chrono::seconds(30));
    stream.connect(resolver.resolve(host, port));
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    req.set(http::field::host, host);
    req.set(http::field::user_agent, "compsweep-cli");
    if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
    if (!body.empty()) {
      req.set(http::field::content_type, content_type);
      req.body() = body;
    }
    req.prepare_payload();
    beast::error_code write_ec;
    http::write(stream, req, write_ec);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(1ull << 30);
    beast::error_code read_ec;
    http::read(stream, buffer, parser, read_ec);
    // A server may answer (413) and close before the whole body is written: its
    // reply, when it arrived, says more than the write's "broken pipe".
    if (read_ec) {
      throw beast::system_error(write_ec ? write_ec : read_ec);
    }
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    return HttpReply{static_cast<int>(parser.get().result_int()), parser.get().body()};
  } catch (const std::exception& e) {
    return Unavailable("cannot reach coordinator at " + base_url + ": " + e.what());
  }
}

Result<nlohmann::json> HttpJson(const ClientArgs& c, const std::string& method,
                                const std::string& target) {
  ASSIGN_OR_RETURN(HttpReply r, HttpCall(c.coordinator, method, target, "", "", c.token));
  if (r.status / 100 != 2) {
    return Unavailable("coordinator answered " + std::to_string(r.status) + ": " + r.body);
  }
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_discarded()) return Unavailable("coordinator sent invalid JSON");
  return j;
}

int RunSubmit(const std::string& file, bool allow_large, const ClientArgs& c) {
  std::ifstream in(file);
  if (!in) {
    std::cerr << file << ": cannot read file\n";
    return 2;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) {
    std::cerr << file << ": cannot read file (read error)\n";
    return 2;
  }
  const std::string text = ss.str();
  if (text.empty()) {
    std::cerr << file << ": the file is empty; a sweep file holds a YAML mapping\n";
    return 2;
  }
  if (text.size() > coordinator::kBodyLimit) {
    std::cerr << file << ": " << text.size() << " bytes, more than the coordinator accepts ("
              << coordinator::kBodyLimit << " bytes)\n";
    return 2;
  }
  std::string target = "/api/sweeps?filename=";
  for (unsigned char ch : file) {
    if (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '/') {
      target += static_cast<char>(ch);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof(buf), "%%%02X", ch);
      target += buf;
    }
  }
  if (allow_large) target += "&allow_large=1";
  auto r = HttpCall(c.coordinator, "POST", target, text, "application/yaml", c.token);
  if (!r.ok()) {
    std::cerr << r.status().message() << "\n";
    return 1;
  }
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  if (r->status == 201 || r->status == 200) {
    std::cout << (j.is_object() ? j.value("id", nlohmann::json()).dump() : r->body) << "\n";
    return 0;
  }
  if (r->status == 400 && j.is_object() && j.contains("errors")) {
    for (const auto& e : j["errors"]) {
      std::cerr << (e.contains("text") ? e["text"].get<std::string>() : e.dump()) << "\n";
    }
    return 2;
  }
  if (r->status == 413) {
    std::cerr << file << ": the coordinator refused the file as too large: "
              << (j.is_object() ? j.value("error", r->body) : r->body) << "\n";
    return 2;
  }
  std::cerr << "coordinator answered " << r->status << ": " << r->body << "\n";
  return 1;
}

namespace {
void PrintSweepLine(const nlohmann::json& s) {
  std::cout << "sweep " << s.value("id", nlohmann::json()).dump() << " '"
            << s.value("name", std::string()) << "' " << s.value("state", std::string());
  if (s.contains("counts")) {
    for (auto it = s["counts"].begin(); it != s["counts"].end(); ++it) {
      std::cout << "  " << it.key() << "=" << it.value().dump();
    }
  }
  std::cout << "\n";
}
}  // namespace

int RunStatus(const std::string& sweep, const ClientArgs& c, const std::string& db) {
  if (!db.empty()) {
    // The HTTP API's queries on a read-only connection: the same lines as from a
    // coordinator.
    coordinator::ReaderPool pool(db, 0);
    auto lease = pool.Acquire();
    if (!lease.ok()) {
      std::cerr << lease.status().message() << "\n";
      return 1;
    }
    coordinator::ReadSnapshot snapshot(lease->db());
    if (sweep.empty()) {
      auto all = coordinator::ListSweeps(lease->db());
      if (!all.ok()) {
        std::cerr << "reading " << db << ": " << all.status().message() << "\n";
        return 1;
      }
      for (const auto& s : (*all)["sweeps"]) PrintSweepLine(s);  // newest first, as the API
      return 0;
    }
    auto id = coordinator::ParseId(sweep);
    if (!id) {
      std::cerr << "sweep id must be a number, got '" << sweep << "'\n";
      return 2;
    }
    auto one = coordinator::GetSweep(lease->db(), *id);
    if (!one.ok()) {
      std::cerr << (one.status().code() == StatusCode::kNotFound
                        ? "no sweep " + sweep + " in " + db
                        : "reading " + db + ": " + one.status().message())
                << "\n";
      return 1;
    }
    PrintSweepLine(*one);
    return 0;
  }
  auto reply = HttpJson(c, "GET", sweep.empty() ? "/api/sweeps" : "/api/sweeps/" + sweep);
  if (!reply.ok()) {
    std::cerr << reply.status().message() << "\n";
    return 1;
  }
  nlohmann::json j = *reply;
  if (j.is_object() && j.contains("sweeps")) j = j["sweeps"];
  if (j.is_array()) {
    for (const auto& s : j) PrintSweepLine(s);
  } else {
    PrintSweepLine(j);
  }
  return 0;
}

int RunCancel(const std::string& sweep, const ClientArgs& c) {
  auto r = HttpJson(c, "POST", "/api/sweeps/" + sweep + "/cancel");
  if (!r.ok()) {
    std::cerr << r.status().message() << "\n";
    return 1;
  }
  std::cout << "sweep " << sweep << " cancelled\n";
  return 0;
}

int RunRetry(const std::string& sweep, const ClientArgs& c) {
  auto r = HttpJson(c, "POST", "/api/sweeps/" + sweep + "/retry-failed");
  if (!r.ok()) {
    std::cerr << r.status().message() << "\n";
    return 1;
  }
  std::cout << "sweep " << sweep << ": "
            << (r->is_object() ? r->value("requeued", nlohmann::json(0)).dump() : r->dump())
            << " trial(s) re-queued\n";
  return 0;
}

int RunWorkers(const ClientArgs& c) {
  auto r = HttpJson(c, "GET", "/api/workers");
  if (!r.ok()) {
    std::cerr << r.status().message() << "\n";
    return 1;
  }
  nlohmann::json j = *r;
  if (j.is_object() && j.contains("workers")) j = j["workers"];
  for (const auto& w : j) {
    std::cout << w.value("id", std::string()) << "  " << w.value("state", std::string()) << "  "
              << w.value("device", std::string())
              << "  slots=" << w.value("slots", nlohmann::json()).dump()
              << "  running=" << w.value("running", nlohmann::json::array()).dump()
              << "  heartbeat_age_ms=" << w.value("heartbeat_age_ms", nlohmann::json()).dump()
              << "\n";
  }
  return 0;
}

}  // namespace compsweep::cli
