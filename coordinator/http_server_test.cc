#include "coordinator/http_server.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <chrono>
#include <fstream>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "coordinator/http_test_util.h"

namespace compsweep::coordinator {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using nlohmann::json;
using testing::FakeControl;
using testing::TempDir;
using testing::TestDb;

// A blocking client connection with a receive timeout, so a broken server fails
// the test instead of hanging it.
class Client {
 public:
  explicit Client(int port) : socket_(ioc_) {
    socket_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)));
    timeval tv{5, 0};
    setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }

  http::response<http::string_body> Send(http::verb method, const std::string& target,
                                         const std::string& body = "",
                                         const std::string& token = "") {
    http::request<http::string_body> req{method, target, 11};
    req.set(http::field::host, "127.0.0.1");
    if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
    req.body() = body;
    req.prepare_payload();
    http::write(socket_, req);
    http::response<http::string_body> res;
    http::read(socket_, buffer_, res);
    return res;
  }

  void WriteRaw(const std::string& text) { net::write(socket_, net::buffer(text)); }

  // Writes what it can (an error is returned, not thrown: the server may close).
  boost::system::error_code TryWriteRaw(const std::string& text) {
    boost::system::error_code ec;
    net::write(socket_, net::buffer(text), ec);
    return ec;
  }

  // Reads one response; a read error (such as a reset) fails the test.
  http::response<http::string_body> ReadResponse() {
    http::response_parser<http::string_body> parser;
    parser.body_limit(64u << 20);
    boost::system::error_code ec;
    if (!raw_.empty()) {
      net::buffer_copy(buffer_.prepare(raw_.size()), net::buffer(raw_));
      buffer_.commit(raw_.size());
      raw_.clear();
    }
    http::read(socket_, buffer_, parser, ec);
    EXPECT_FALSE(ec) << ec.message();
    return parser.release();
  }

  void ClearRaw() { raw_.clear(); }

  // True when the server has closed the connection (a read gives EOF).
  bool ServerClosed() {
    char c;
    boost::system::error_code ec;
    socket_.read_some(net::buffer(&c, 1), ec);
    return ec == net::error::eof;
  }

  // Reads until `needle` has arrived (or the receive timeout hits); returns all text.
  std::string ReadUntil(const std::string& needle) {
    boost::system::error_code ec;
    net::read_until(socket_, net::dynamic_buffer(raw_), needle, ec);
    return raw_;
  }

 private:
  net::io_context ioc_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
  std::string raw_;
};

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = std::make_unique<TestDb>((dir_.path() / "s.db").string());
    const int64_t s =
        db_->AddSweep("sock", json::array({{{"metric", "val_accuracy"}, {"maximize", true}}}));
    db_->AddTrial(s, 0, "succeeded", {{"a", 1}}, {{"val_accuracy", 0.5}});
    std::filesystem::create_directories(dir_.path() / "web");
    std::ofstream(dir_.path() / "web" / "index.html") << "<html>dash</html>";
  }

  std::unique_ptr<HttpServer> Start(const std::string& token = "",
                                    const std::string& bind = "127.0.0.1") {
    HttpOptions o;
    o.bind = bind;
    o.port = 0;
    o.db_path = db_->path();
    o.static_dir = (dir_.path() / "web").string();
    o.token = token;
    o.threads = 2;
    auto server = HttpServer::Create(o, &control_, &hub_);
    EXPECT_TRUE(server.ok()) << server.status().ToString();
    return server.ok() ? std::move(server).value() : nullptr;
  }

  TempDir dir_;
  std::unique_ptr<TestDb> db_;
  FakeControl control_;
  EventHub hub_;
};

TEST_F(HttpServerTest, ServesApiAndStaticOverKeepAlive) {
  auto server = Start();
  ASSERT_TRUE(server);
  EXPECT_GT(server->port(), 0);
  Client c(server->port());
  auto res = c.Send(http::verb::get, "/api/sweeps");
  EXPECT_EQ(res.result(), http::status::ok);
  json body = json::parse(res.body());
  EXPECT_EQ(body["sweeps"][0]["name"], "sock");
  res = c.Send(http::verb::get, "/");  // same connection
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(res.body(), "<html>dash</html>");
  res = c.Send(http::verb::get, "/%2e%2e/s.db");
  EXPECT_EQ(res.result(), http::status::not_found);
  res = c.Send(http::verb::post, "/api/sweeps", "name: x\n");
  EXPECT_EQ(res.result(), http::status::created);
  EXPECT_EQ(json::parse(res.body())["id"], 7);
  server->Stop();
}

TEST_F(HttpServerTest, TokenRequiredForPostOnly) {
  auto server = Start("tok");
  ASSERT_TRUE(server);
  Client c(server->port());
  EXPECT_EQ(c.Send(http::verb::get, "/api/sweeps/1").result(), http::status::ok);
  EXPECT_EQ(c.Send(http::verb::post, "/api/sweeps/1/cancel").result(), http::status::unauthorized);
  EXPECT_EQ(c.Send(http::verb::post, "/api/sweeps/1/cancel", "", "tok").result(), http::status::ok);
}

TEST_F(HttpServerTest, NonLoopbackNeedsToken) {
  HttpOptions o;
  o.bind = "0.0.0.0";
  o.port = 0;
  o.db_path = db_->path();
  auto refused = HttpServer::Create(o, &control_, &hub_);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  o.token = "t";
  auto ok = HttpServer::Create(o, &control_, &hub_);
  EXPECT_TRUE(ok.ok()) << ok.status().ToString();
  o.bind = "not an address";
  EXPECT_EQ(HttpServer::Create(o, &control_, &hub_).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(HttpServerTest, PortInUseIsUnavailable) {
  auto first = Start();
  ASSERT_TRUE(first);
  HttpOptions o;
  o.port = first->port();
  o.db_path = db_->path();
  auto second = HttpServer::Create(o, &control_, &hub_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
}

TEST_F(HttpServerTest, MalformedRequestGets400) {
  auto server = Start();
  ASSERT_TRUE(server);
  Client c(server->port());
  c.WriteRaw("THIS IS NOT HTTP\r\n\r\n");
  const std::string text = c.ReadUntil("\r\n\r\n");
  EXPECT_EQ(text.rfind("HTTP/1.1 400", 0), 0u) << text;
}

TEST_F(HttpServerTest, ServerSentEventsLiveAndReplay) {
  auto server = Start();
  ASSERT_TRUE(server);
  hub_.Publish("sweep_submitted", {{"sweep_id", 1}});  // seq 1, before connecting
  Client live(server->port());
  live.WriteRaw("GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n");
  std::string text = live.ReadUntil("retry: 2000\n\n");
  EXPECT_NE(text.find("Content-Type: text/event-stream"), std::string::npos) << text;
  // Without Last-Event-ID a client gets the retained backlog too.
  text = live.ReadUntil("id: 1\n");
  EXPECT_NE(text.find("id: 1\nevent: sweep_submitted\ndata: {\"sweep_id\":1}\n\n"),
            std::string::npos);
  hub_.Publish("trial_finished", {{"trial_id", 5}, {"sweep_id", 1}});
  text = live.ReadUntil("\"trial_id\":5}\n\n");
  EXPECT_NE(text.find("id: 2\nevent: trial_finished\ndata: {\"sweep_id\":1,\"trial_id\":5}\n\n"),
            std::string::npos)
      << text;

  // A reconnecting client with Last-Event-ID: 1 gets only event 2.
  Client again(server->port());
  again.WriteRaw("GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nLast-Event-ID: 1\r\n\r\n");
  text = again.ReadUntil("id: 2\n");
  EXPECT_EQ(text.find("id: 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("id: 2\nevent: trial_finished"), std::string::npos) << text;
  server->Stop();  // with open streams: must return
}

TEST_F(HttpServerTest, StopWithOpenConnectionsAndConcurrentClients) {
  auto server = Start();
  ASSERT_TRUE(server);
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i) {
    clients.emplace_back([&] {
      Client c(server->port());
      for (int j = 0; j < 20; ++j) {
        if (c.Send(http::verb::get, "/api/sweeps/1/pareto").result() == http::status::ok) ++ok;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), 160);
  Client idle(server->port());
  idle.WriteRaw("GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  idle.ReadUntil("retry");
  server->Stop();
  server.reset();
}

// Over-limit bodies get a short 413 JSON reply that the client can read, not a
// connection reset: the server drains what the client still sends before closing.
TEST_F(HttpServerTest, OverLimitBodyGets413NotAReset) {
  auto server = Start();
  ASSERT_TRUE(server);
  for (const auto& [target, size] :
       std::vector<std::pair<std::string, size_t>>{{"/api/sweeps/1/cancel", kBodyLimit + 1},
                                                   {"/api/sweeps", 5500000},
                                                   {"/api/sweeps", 24u << 20}}) {
    Client c(server->port());
    const std::string body(size, 'x');
    ASSERT_FALSE(c.TryWriteRaw("POST " + target +
                               " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " +
                               std::to_string(body.size()) + "\r\n\r\n" + body))
        << "the server reset the connection while the client wrote " << size << " bytes";
    auto res = c.ReadResponse();
    EXPECT_EQ(res.result(), http::status::payload_too_large) << target;
    EXPECT_LT(res.body().size(), 200u);
    EXPECT_THAT(json::parse(res.body())["error"].get<std::string>(),
                ::testing::HasSubstr("request body too large: the limit is"));
    EXPECT_FALSE(res.keep_alive());
    EXPECT_TRUE(c.ServerClosed());
  }
  EXPECT_TRUE(control_.submitted.empty());
}

TEST_F(HttpServerTest, ChunkedBodyOverLimitGets413) {
  auto server = Start();
  ASSERT_TRUE(server);
  Client c(server->port());
  std::string req =
      "POST /api/sweeps/1/cancel HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: "
      "chunked\r\n\r\n";
  const std::string chunk(64 * 1024, 'y');
  for (size_t sent = 0; sent <= kBodyLimit; sent += chunk.size())
    req += "10000\r\n" + chunk + "\r\n";
  req += "0\r\n\r\n";
  ASSERT_FALSE(c.TryWriteRaw(req));
  auto res = c.ReadResponse();
  EXPECT_EQ(res.result(), http::status::payload_too_large);
  EXPECT_LT(res.body().size(), 200u);
}

TEST_F(HttpServerTest, ExpectContinueIsAnsweredBeforeTheBody) {
  auto server = Start();
  ASSERT_TRUE(server);
  {  // Too large: refused from the header alone; the client never sends the body.
    Client c(server->port());
    c.WriteRaw(
        "POST /api/sweeps HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\n"
        "Content-Length: 100000000\r\n\r\n");
    auto res = c.ReadResponse();
    EXPECT_EQ(res.result(), http::status::payload_too_large);
    EXPECT_THAT(res.body(), ::testing::HasSubstr(std::to_string(kBodyLimit)));
  }
  {  // Within the limit: 100 Continue, then 201.
    Client c(server->port());
    const std::string body = "name: big\n# " + std::string(kBodyLimit - 100, 'c') + "\n";
    c.WriteRaw(
        "POST /api/sweeps HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\n"
        "Content-Length: " +
        std::to_string(body.size()) + "\r\n\r\n");
    const std::string interim = c.ReadUntil("\r\n\r\n");
    EXPECT_EQ(interim.rfind("HTTP/1.1 100 Continue\r\n", 0), 0u) << interim;
    c.ClearRaw();
    c.WriteRaw(body);
    auto res = c.ReadResponse();
    EXPECT_EQ(res.result(), http::status::created) << res.body();
    ASSERT_EQ(control_.submitted.size(), 1u);
    EXPECT_EQ(control_.submitted[0].size(), body.size());
  }
}

TEST_F(HttpServerTest, OversizedHeaderGets431) {
  auto server = Start();
  ASSERT_TRUE(server);
  Client c(server->port());
  ASSERT_FALSE(c.TryWriteRaw("GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " +
                             std::string(kHeaderLimit + 10, 'h') + "\r\n\r\n"));
  auto res = c.ReadResponse();
  EXPECT_EQ(res.result(), http::status::request_header_fields_too_large);
  EXPECT_LT(res.body().size(), 200u);
}

// A control whose submit runs (like a large expansion) until it is told to stop,
// and records how it ended.
class SlowControl : public FakeControl {
 public:
  SubmitOutcome SubmitUnless(const std::string&, const std::string&, bool,
                             const std::function<bool()>& stop) override {
    started = true;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!stop()) {
      if (std::chrono::steady_clock::now() > deadline) return {};
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    stopped = true;
    SubmitOutcome out;
    out.status = Cancelled("stopped");
    return out;
  }
  std::atomic<bool> started{false};
  std::atomic<bool> stopped{false};
};

std::unique_ptr<HttpServer> StartWith(CoordinatorControl* control, const std::string& db) {
  HttpOptions o;
  o.port = 0;
  o.db_path = db;
  o.threads = 2;
  auto server = HttpServer::Create(o, control, nullptr);
  EXPECT_TRUE(server.ok()) << server.status().ToString();
  return server.ok() ? std::move(server).value() : nullptr;
}

bool WaitFor(const std::atomic<bool>& flag) {
  for (int i = 0; i < 400 && !flag; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  return flag;
}

TEST_F(HttpServerTest, ClientThatGoesAwayStopsALongSubmit) {
  SlowControl control;
  auto server = StartWith(&control, db_->path());
  ASSERT_TRUE(server);
  {
    Client c(server->port());
    c.WriteRaw(
        "POST /api/sweeps HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 8\r\n\r\nname: x\n");
    ASSERT_TRUE(WaitFor(control.started));
    EXPECT_FALSE(control.stopped);
  }  // the client closes its socket
  EXPECT_TRUE(WaitFor(control.stopped));
  // The server still answers others.
  Client other(server->port());
  EXPECT_EQ(other.Send(http::verb::get, "/api/health").result(), http::status::ok);
}

TEST_F(HttpServerTest, PipelinedRequestIsNotMistakenForADisconnect) {
  FakeControl control;
  auto server = StartWith(&control, db_->path());
  ASSERT_TRUE(server);
  Client c(server->port());
  c.WriteRaw(
      "POST /api/sweeps HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 8\r\n\r\nname: x\n"
      "GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  EXPECT_EQ(c.ReadResponse().result(), http::status::created);
  EXPECT_EQ(c.ReadResponse().result(), http::status::ok);
}

TEST_F(HttpServerTest, StopEndsALongSubmitPromptly) {
  SlowControl control;
  auto server = StartWith(&control, db_->path());
  ASSERT_TRUE(server);
  Client c(server->port());
  c.WriteRaw("POST /api/sweeps HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 8\r\n\r\nname: x\n");
  ASSERT_TRUE(WaitFor(control.started));
  const auto t0 = std::chrono::steady_clock::now();
  server->Stop();  // as on SIGTERM
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  EXPECT_TRUE(control.stopped);
  EXPECT_LT(ms, 2000);  // the submit alone would run for 10 s
}

}  // namespace
}  // namespace compsweep::coordinator
