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
        db_->AddSweep("sock", json::array({{{"metric", "accuracy"}, {"maximize", true}}}));
    db_->AddTrial(s, 0, "succeeded", {{"a", 1}}, {{"accuracy", 0.5}});
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

}  // namespace
}  // namespace compsweep::coordinator
