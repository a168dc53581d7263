#include "coordinator/http_server.h"

#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include "coordinator/http_api.h"

namespace compsweep::coordinator {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

constexpr auto kIdleTimeout = std::chrono::seconds(60);
constexpr auto kKeepAliveInterval = std::chrono::seconds(15);
constexpr size_t kSseQueueLimit = 2000;  // events buffered per slow subscriber
// After refusing a request whose body was not read, the server keeps reading (and
// dropping) what the client still sends, up to these bounds, before it closes:
// closing a socket with unread data sends a TCP reset, and the client would see
// "connection reset" or "broken pipe" instead of the 413 (a "lingering close").
constexpr size_t kDrainLimit = 64u << 20;
constexpr auto kDrainTimeout = std::chrono::seconds(10);

// Server state shared by the sessions; outlives every session's pending work
// because the server joins its threads before it is destroyed.
struct Shared {
  ApiHandler* api;
  EventHub* hub;
  net::thread_pool* handlers;
  const std::atomic<bool>* stopping;  // set by Stop before it joins the handlers
};

// A Server-Sent Events stream (GET /api/events). Runs on the connection's strand;
// events arrive from the publisher's thread into a bounded inbox and are turned
// into frames on the strand. At most one write is in flight.
class EventStream : public std::enable_shared_from_this<EventStream> {
 public:
  EventStream(beast::tcp_stream stream, Shared shared)
      : stream_(std::move(stream)), shared_(shared), keepalive_(stream_.get_executor()) {}

  ~EventStream() {
    if (sub_id_ != 0 && shared_.hub) shared_.hub->Unsubscribe(sub_id_);
  }

  // REQUIRES: running on the strand.
  void Start(const HttpRequest& req) {
    stream_.expires_never();
    std::string head =
        "HTTP/1.1 200 OK\r\nServer: compsweep\r\nContent-Type: text/event-stream\r\n"
        "Cache-Control: no-store\r\nX-Accel-Buffering: no\r\nConnection: close\r\n\r\n"
        "retry: 2000\n\n";
    outbox_.push_back(std::move(head));
    if (shared_.hub) {
      std::weak_ptr<EventStream> weak = weak_from_this();
      std::vector<Event> backlog;
      bool complete = true;
      sub_id_ = shared_.hub->SubscribeAfter(
          ApiHandler::LastEventId(req),
          [weak](const Event& e) {
            if (auto self = weak.lock()) self->Deliver(e);
          },
          &backlog, &complete);
      if (!complete) outbox_.push_back("event: resync\ndata: {}\n\n");
      for (const Event& e : backlog) outbox_.push_back(ApiHandler::FormatEvent(e));
    }
    Flush();
    ArmKeepAlive();
    WatchForClose();
  }

 private:
  // Publisher's thread: only queue and post.
  void Deliver(const Event& e) {
    bool post = false;
    {
      std::lock_guard<std::mutex> lock(inbox_mu_);
      inbox_.push_back(e);
      if (inbox_.size() > kSseQueueLimit) {
        inbox_.pop_front();
        overflowed_ = true;
      }
      post = !drain_posted_;
      drain_posted_ = true;
    }
    if (post) net::post(stream_.get_executor(), [self = shared_from_this()] { self->Drain(); });
  }

  void Drain() {
    std::deque<Event> events;
    bool overflowed = false;
    {
      std::lock_guard<std::mutex> lock(inbox_mu_);
      events.swap(inbox_);
      overflowed = overflowed_;
      overflowed_ = false;
      drain_posted_ = false;
    }
    if (closed_) return;
    // Dropped events: tell the page to refetch instead of showing a partial view.
    if (overflowed) outbox_.push_back("event: resync\ndata: {}\n\n");
    for (const Event& e : events) outbox_.push_back(ApiHandler::FormatEvent(e));
    Flush();
  }

  void Flush() {
    if (writing_ || closed_ || outbox_.empty()) return;
    writing_ = true;
    current_.clear();
    for (auto& s : outbox_) current_ += s;
    outbox_.clear();
    net::async_write(stream_, net::buffer(current_),
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       self->writing_ = false;
                       if (ec) return self->Close();
                       self->Flush();
                     });
  }

  void ArmKeepAlive() {
    keepalive_.expires_after(kKeepAliveInterval);
    keepalive_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->closed_) return;
      self->outbox_.push_back(": keep-alive\n\n");
      self->Flush();
      self->ArmKeepAlive();
    });
  }

  // The client never sends anything after its request; a read completing (EOF or
  // error) means it went away.
  void WatchForClose() {
    stream_.socket().async_read_some(net::buffer(scratch_),
                                     [self = shared_from_this()](beast::error_code ec, size_t) {
                                       if (ec) return self->Close();
                                       self->WatchForClose();
                                     });
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    keepalive_.cancel();
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
  }

  beast::tcp_stream stream_;
  Shared shared_;
  net::steady_timer keepalive_;
  int64_t sub_id_ = 0;
  // Strand-only state.
  std::deque<std::string> outbox_;
  std::string current_;
  bool writing_ = false;
  bool closed_ = false;
  char scratch_[256];
  // Shared with the publisher's thread.
  std::mutex inbox_mu_;
  std::deque<Event> inbox_;    // GUARDED_BY(inbox_mu_)
  bool overflowed_ = false;    // GUARDED_BY(inbox_mu_)
  bool drain_posted_ = false;  // GUARDED_BY(inbox_mu_)
};

using Parser = http::request_parser<http::string_body>;

// One HTTP/1.1 connection: read a request, let the handler pool answer it, write
// the response, repeat while keep-alive. Runs on its own strand.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Shared shared) : stream_(std::move(socket)), shared_(shared) {}

  void Run() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->Read(); });
  }

 private:
  // The header first, so that a body announced as too large is refused before it
  // is read (and before a client that sent "Expect: 100-continue" sends it).
  void Read() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(kHeaderLimit));
    parser_->body_limit(kBodyLimit);
    stream_.expires_after(kIdleTimeout);
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (ec) return OnRead(ec);
    const auto& header = parser_->get();
    const auto length = parser_->content_length();
    if (length && *length > kBodyLimit) return Refuse(TooLarge());
    if (beast::iequals(header[http::field::expect], "100-continue")) {
      // curl and others wait (about a second) for this before sending a large body.
      auto cont = std::make_shared<http::response<http::empty_body>>(http::status::continue_, 11);
      http::async_write(stream_, *cont,
                        [self = shared_from_this(), cont](beast::error_code ec, size_t) {
                          if (ec) return self->Close();
                          self->ReadBody();
                        });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == net::error::operation_aborted) {
      return Close();
    }
    if (ec == http::error::body_limit) return Refuse(TooLarge());
    if (ec == http::error::header_limit) {
      return Refuse(
          Error(http::status::request_header_fields_too_large,
                "request header too large (limit " + std::to_string(kHeaderLimit) + " bytes)"));
    }
    if (ec) return Refuse(Error(http::status::bad_request, "malformed request"));
    HttpRequest req = parser_->release();
    if (ApiHandler::IsEventStream(req)) {
      if (auto refused = shared_.api->Admit(req)) return Write(std::move(*refused));
      auto events = std::make_shared<EventStream>(std::move(stream_), shared_);
      events->Start(req);
      return;
    }
    // The handler may block on SQLite or on the core; keep it off the I/O threads.
    // A long one (a large sweep) gives up once the server stops or the client
    // goes away.
    auto gone = std::make_shared<std::atomic<bool>>(false);
    WatchForDisconnect(gone);
    net::post(*shared_.handlers, [self = shared_from_this(), req = std::move(req), gone]() mutable {
      const std::atomic<bool>* stopping = self->shared_.stopping;
      HttpResponse res =
          self->shared_.api->HandleRequest(req, [&] { return gone->load() || stopping->load(); });
      net::post(self->stream_.get_executor(), [self, res = std::move(res)]() mutable {
        self->StopWatching();
        self->Write(std::move(res));
      });
    });
  }

  // While a handler runs nothing is read; a readable socket then means either
  // the client's EOF (or reset): it went away, or a pipelined next request: it
  // is still there. A non-blocking peek tells which without consuming anything.
  // Each watch has its own number, so a completion left over from the previous
  // request of a keep-alive connection is ignored.
  void WatchForDisconnect(std::shared_ptr<std::atomic<bool>> gone) {
    const uint64_t id = ++watch_id_;
    stream_.socket().async_wait(
        tcp::socket::wait_read, [self = shared_from_this(), gone, id](beast::error_code ec) {
          if (ec || id != self->watch_id_) return;
          char c;
          const ssize_t n =
              ::recv(self->stream_.socket().native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
          if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            gone->store(true);
          } else if (n < 0) {
            --self->watch_id_;  // nothing there after all: watch again under the same number
            self->WatchForDisconnect(gone);
          }
        });
  }

  void StopWatching() {
    ++watch_id_;
    beast::error_code ec;
    stream_.socket().cancel(ec);
  }

  static HttpResponse Error(http::status status, const std::string& message) {
    HttpRequest bad;
    bad.version(11);
    bad.keep_alive(false);
    HttpResponse res = ErrorResponse(bad, status, message);
    res.keep_alive(false);
    return res;
  }

  static HttpResponse TooLarge() {
    return Error(http::status::payload_too_large,
                 "request body too large: the limit is " + std::to_string(kBodyLimit) + " bytes");
  }

  // Answers a request that was not read to its end, then closes gracefully (see
  // kDrainLimit).
  void Refuse(HttpResponse res) {
    linger_ = true;
    Write(std::move(res));
  }

  void Write(HttpResponse res) {
    response_ = std::move(res);
    stream_.expires_after(kIdleTimeout);
    http::async_write(stream_, response_,
                      [self = shared_from_this()](beast::error_code ec, size_t) {
                        if (ec || !self->response_.keep_alive()) return self->Close();
                        self->Read();
                      });
  }

  void Close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (linger_ && !ec) {
      stream_.expires_after(kDrainTimeout);
      return Drain();
    }
    stream_.socket().close(ec);
  }

  // Reads and drops what the client still sends until it closes, up to
  // kDrainLimit bytes or kDrainTimeout.
  void Drain() {
    stream_.async_read_some(net::buffer(drain_),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              self->drained_ += n;
                              if (ec || self->drained_ > kDrainLimit) {
                                self->linger_ = false;
                                return self->Close();
                              }
                              self->Drain();
                            });
  }

  beast::tcp_stream stream_;
  Shared shared_;
  beast::flat_buffer buffer_;
  std::optional<Parser> parser_;
  HttpResponse response_;  // the one write in flight
  bool linger_ = false;    // drain the rest of the request before closing
  uint64_t watch_id_ = 0;  // of the current WatchForDisconnect
  size_t drained_ = 0;
  char drain_[16384];
};

class HttpServerImpl : public HttpServer {
 public:
  HttpServerImpl(const HttpOptions& options, ApiOptions api_options, CoordinatorControl* control,
                 EventHub* hub)
      : api_(std::move(api_options), control, hub),
        ioc_(std::max(1, options.threads)),
        handlers_(static_cast<size_t>(std::max(2, options.threads))),
        acceptor_(net::make_strand(ioc_)),
        threads_count_(std::max(1, options.threads)),
        shared_{&api_, hub, &handlers_, &stopped_} {}

  ~HttpServerImpl() override { Stop(); }

  Status Listen(const tcp::endpoint& endpoint) {
    try {
      acceptor_.open(endpoint.protocol());
      acceptor_.set_option(net::socket_base::reuse_address(true));
      acceptor_.bind(endpoint);
      acceptor_.listen(net::socket_base::max_listen_connections);
      port_ = acceptor_.local_endpoint().port();
    } catch (const boost::system::system_error& e) {
      return Unavailable("cannot listen on " + endpoint.address().to_string() + ":" +
                         std::to_string(endpoint.port()) + ": " + e.code().message());
    }
    Accept();
    for (int i = 0; i < threads_count_; ++i) threads_.emplace_back([this] { ioc_.run(); });
    // Requests are served meanwhile; one that comes before its sweep is warm loads
    // it itself (or waits for the warm-up's load of it).
    warm_ = std::thread([this] {
      const auto t0 = std::chrono::steady_clock::now();
      const int n = api_.WarmUp(stopped_);
      if (n > 0) {
        spdlog::debug("http: Pareto columns of {} sweep(s) loaded in {} ms", n,
                      std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - t0)
                          .count());
      }
    });
    return Status::Ok();
  }

  int port() const override { return port_; }

  void Stop() override {
    if (stopped_.exchange(true)) return;
    net::post(acceptor_.get_executor(), [this] {
      beast::error_code ec;
      acceptor_.close(ec);
    });
    ioc_.stop();
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
    if (warm_.joinable()) warm_.join();
    handlers_.join();
  }

 private:
  void Accept() {
    acceptor_.async_accept(net::make_strand(ioc_),
                           [this](beast::error_code ec, tcp::socket socket) {
                             if (ec == net::error::operation_aborted || !acceptor_.is_open())
                               return;
                             if (!ec) std::make_shared<Session>(std::move(socket), shared_)->Run();
                             Accept();
                           });
  }

  ApiHandler api_;
  net::io_context ioc_;
  net::thread_pool handlers_;
  tcp::acceptor acceptor_;
  const int threads_count_;
  Shared shared_;
  std::vector<std::thread> threads_;
  std::thread warm_;  // ApiHandler::WarmUp, once at start
  std::atomic<bool> stopped_{false};
  int port_ = 0;
};

}  // namespace

Result<std::unique_ptr<HttpServer>> HttpServer::Create(const HttpOptions& options,
                                                       CoordinatorControl* control, EventHub* hub) {
  const std::string bind =
      options.bind == "localhost" || options.bind.empty() ? "127.0.0.1" : options.bind;
  beast::error_code ec;
  const net::ip::address address = net::ip::make_address(bind, ec);
  if (ec) return InvalidArgument("bad bind address '" + options.bind + "': " + ec.message());
  if (options.port < 0 || options.port > 65535) {
    return InvalidArgument("bad port " + std::to_string(options.port));
  }
  if (!address.is_loopback() && options.token.empty()) {
    return FailedPrecondition("serving the dashboard on " + bind +
                              " (not loopback) needs a token: pass --token or set COMPSWEEP_TOKEN");
  }
  ApiOptions api;
  api.db_path = options.db_path;
  api.static_dir = options.static_dir;
  api.token = options.token;
  api.loopback_hosts_only = address.is_loopback() && options.token.empty();
  api.read_only = options.read_only;
  auto server = std::make_unique<HttpServerImpl>(options, std::move(api), control, hub);
  RETURN_IF_ERROR(server->Listen(tcp::endpoint(address, static_cast<uint16_t>(options.port))));
  return std::unique_ptr<HttpServer>(std::move(server));
}

}  // namespace compsweep::coordinator
