// libcurl multi driven by Asio. Curl is only ever touched on one strand per io_context
// (CurlService::strand_): socket readiness and curl's timer arrive as Asio completions on that
// strand, which call curl_multi_socket_action; finished transfers complete their awaiting coroutine
// through its own executor. Nothing here blocks: DNS runs on curl's resolver thread.
#include "providers/http/http.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>

#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "providers/http/curl_lib.hpp"

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace fh::http {

namespace {

// The loaded library. Called only where a multi handle, an easy handle or a URL handle exists,
// which needs it loaded (CurlService::init and parse_url check first).
const CurlLib& curl() { return *curl_lib(); }

// What a transfer completes with (default-constructible for the completion signature).
struct Outcome {
  std::optional<Response> response;
  Error error;
};

// The awaiting coroutine's completion handler, type-erased (Boost 1.81 has no
// any_completion_handler). complete() runs on the strand and hops to the handler's executor.
struct Completion {
  virtual ~Completion() = default;
  virtual void complete(Outcome&& o) = 0;
};

template <class Handler>
struct CompletionImpl final : Completion {
  Handler handler;
  asio::any_io_executor fallback;
  CompletionImpl(Handler&& h, asio::any_io_executor ex) : handler(std::move(h)), fallback(std::move(ex)) {}
  void complete(Outcome&& o) override {
    auto ex = asio::get_associated_executor(handler, fallback);
    asio::dispatch(ex, [h = std::move(handler), o = std::move(o)]() mutable {
      auto slot = asio::get_associated_cancellation_slot(h);
      if (slot.is_connected()) slot.clear();  // the transfer is gone; nothing left to cancel
      std::move(h)(std::move(o));
    });
  }
};

class CurlService;

struct Shard;

struct Transfer : std::enable_shared_from_this<Transfer> {
  CurlService* svc = nullptr;
  Shard* shard = nullptr;  // the multi handle it was added to
  CURL* easy = nullptr;
  curl_slist* header_list = nullptr;
  Request req;
  std::unique_ptr<Completion> completion;
  asio::any_io_executor caller;  // where on_chunk and the completion run (tracks work)
  std::optional<asio::steady_timer> watchdog;
  Clock::time_point start, first_byte_at, last_activity;
  bool got_first_byte = false;
  ResponseHead head;
  bool head_ready = false;
  Response resp;
  uint64_t body_bytes = 0;
  std::optional<Error> abort_reason;   // set when we stop the transfer ourselves
  std::atomic<bool> sink_stopped{false};
  bool done = false;
  char errbuf[CURL_ERROR_SIZE] = {0};

  ~Transfer() {
    if (header_list) curl().slist_free_all(header_list);
    if (easy) curl().easy_cleanup(easy);
  }
};

struct Socket {
  explicit Socket(asio::strand<asio::any_io_executor>& s) : sd(s) {}
  asio::posix::stream_descriptor sd;
  Shard* shard = nullptr;  // the multi handle that watches it
  int want = 0;  // CURL_POLL_* curl asked for
  bool reading = false, writing = false;
  bool owned = false;  // opened by our opensocket callback (we close it); else curl's own fd
  bool closed = false;
};

// One curl multi handle and its connection cache. libcurl 7.88 walks a host's whole connection
// list for every transfer it starts (looking for one to reuse), so with 1 000 HTTP/1.1 transfers
// in flight to one host that walk was 11 % of the CPU (perf, fan-out benchmark). Transfers fill
// the first shard up to kShardLoad at a time before the next is used: a sequential caller always
// lands in shard 0 and reuses its connection, and no list grows past about kShardLoad.
struct Shard {
  CURLM* multi = nullptr;
  CurlService* svc = nullptr;
  std::optional<asio::steady_timer> timer;
  bool kick_posted = false;  // a 0 ms timeout is queued on the strand
  int active = 0;            // transfers added and not finished
};

class CurlService : public asio::execution_context::service {
 public:
  static asio::execution_context::id id;

  explicit CurlService(asio::execution_context& ctx) : asio::execution_context::service(ctx) {}
  ~CurlService() override { shutdown(); }

  // Binds to the io_context on first use (the service gets only the execution_context).
  void init(const asio::any_io_executor& ex) {
    std::call_once(init_once_, [&] {
      asio::any_io_executor base = ex;
      if (auto* s = ex.target<asio::strand<asio::io_context::executor_type>>()) base = s->get_inner_executor();
      strand_.emplace(asio::make_strand(base));
      if (!curl_lib(&unavailable_)) return;  // no shard: every transfer fails with unavailable_
      if (!add_shard()) unavailable_ = "curl_multi_init failed";
    });
  }

  asio::strand<asio::any_io_executor>& strand() { return *strand_; }

  // Starts a transfer (on the strand).
  void start(std::shared_ptr<Transfer> t);
  // Stops a running transfer with `why` (on the strand); no-op if it already finished.
  void abort(const std::shared_ptr<Transfer>& t, std::optional<Error> why);

  Stats stats() const {
    return Stats{started_, connections_, static_cast<int>(transfers_.size()), static_cast<int>(shards_.size())};
  }

 private:
  // Called for every service of the io_context before any is destroyed: drop every Asio object we
  // hold now, while the strand and reactor services they belong to still exist.
  void shutdown() override {
    shutting_down_ = true;
    for (auto& [easy, t] : transfers_) {
      curl().multi_remove_handle(t->shard->multi, easy);
      t->completion.reset();  // destroys the waiting coroutine without resuming it
      t->watchdog.reset();
    }
    transfers_.clear();
    for (CURL* e : idle_) curl().easy_cleanup(e);
    idle_.clear();
    for (auto& sh : shards_) {
      curl().multi_cleanup(sh->multi);  // closes pooled connections through on_close
      sh->timer.reset();
    }
    shards_.clear();
    sockets_.clear();
    strand_.reset();
  }

  static int on_socket(CURL* easy, curl_socket_t fd, int what, void* userp, void* socketp);
  static int on_timer(CURLM* multi, long timeout_ms, void* userp);
  static curl_socket_t on_open(void* clientp, curlsocktype purpose, curl_sockaddr* addr);
  static int on_close(void* clientp, curl_socket_t fd);
  static size_t on_header(char* data, size_t size, size_t n, void* userp);
  static size_t on_write(char* data, size_t size, size_t n, void* userp);

  bool add_shard();
  Shard* pick_shard();
  void arm(const std::shared_ptr<Socket>& s, curl_socket_t fd);
  void act(Shard& sh, curl_socket_t fd, int ev_bitmask);
  void reap(Shard& sh);
  void finish(const std::shared_ptr<Transfer>& t, CURLcode rc);
  void arm_watchdog(const std::shared_ptr<Transfer>& t);
  void note_activity(Transfer& t);

  std::once_flag init_once_;
  std::optional<asio::strand<asio::any_io_executor>> strand_;
  static constexpr int kShardLoad = 128, kMaxShards = 16;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::unordered_map<CURL*, std::shared_ptr<Transfer>> transfers_;
  static constexpr size_t max_idle = 64;  // finished easy handles kept for reuse (~20 KB each)
  std::vector<CURL*> idle_;
  std::unordered_map<curl_socket_t, std::shared_ptr<Socket>> sockets_;
  bool shutting_down_ = false;
  std::string unavailable_;   // why libcurl could not be loaded (then there is no shard)
  uint64_t started_ = 0, connections_ = 0;
};

asio::execution_context::id CurlService::id;

Error net_error(Errc code, std::string msg, json detail = json::object()) {
  return make_error(code, std::move(msg), std::move(detail));
}

void CurlService::start(std::shared_ptr<Transfer> t) {
  if (t->done || shutting_down_) return;  // cancelled before it started
  Shard* sh = pick_shard();
  if (!sh) {
    t->done = true;
    t->completion->complete(Outcome{std::nullopt, net_error(Errc::internal, unavailable_)});  // not transient: no retry
    return;
  }
  Request& r = t->req;
  CURL* e = nullptr;
  if (!idle_.empty()) e = idle_.back(), idle_.pop_back();
  else e = curl().easy_init();
  if (!e) {
    t->completion->complete(Outcome{std::nullopt, net_error(Errc::internal, "curl_easy_init failed")});
    return;
  }
  t->easy = e;
  t->svc = this;
  t->shard = sh;
  curl().easy_setopt(e, CURLOPT_PRIVATE, t.get());
  curl().easy_setopt(e, CURLOPT_URL, r.url.c_str());
  curl().easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl().easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
  curl().easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  // TLS verification is never switched off; an extra CA bundle may be added.
  curl().easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
  curl().easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!r.ca_file.empty()) curl().easy_setopt(e, CURLOPT_CAINFO, r.ca_file.c_str());
  if (r.http_only) {
    curl().easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl().easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  }
  // Proxies: libcurl reads HTTPS_PROXY/https_proxy, http_proxy and NO_PROXY/no_proxy itself.
  if (r.proxy_off) curl().easy_setopt(e, CURLOPT_PROXY, "");
  if (r.max_redirects > 0) {
    curl().easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    curl().easy_setopt(e, CURLOPT_MAXREDIRS, r.max_redirects);
  }
  curl().easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(r.timeouts.connect.count()));
  curl().easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(r.timeouts.total.count()));
  if (r.method == "GET") {
    curl().easy_setopt(e, CURLOPT_HTTPGET, 1L);
  } else {
    if (r.method == "HEAD") curl().easy_setopt(e, CURLOPT_NOBODY, 1L);
    else if (r.method != "POST") curl().easy_setopt(e, CURLOPT_CUSTOMREQUEST, r.method.c_str());
    if (r.method != "HEAD") {
      curl().easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
      curl().easy_setopt(e, CURLOPT_POSTFIELDS, r.body.data());
    }
  }
  if (!r.bearer_token.empty()) {
    curl().easy_setopt(e, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
    curl().easy_setopt(e, CURLOPT_XOAUTH2_BEARER, r.bearer_token.c_str());
    curl().easy_setopt(e, CURLOPT_UNRESTRICTED_AUTH, 0L);
  }
  for (const auto& [k, v] : r.headers) t->header_list = curl().slist_append(t->header_list, (k + ": " + v).c_str());
  t->header_list = curl().slist_append(t->header_list, "Expect:");  // no 100-continue round trip
  curl().easy_setopt(e, CURLOPT_HTTPHEADER, t->header_list);
  curl().easy_setopt(e, CURLOPT_HEADERFUNCTION, &CurlService::on_header);
  curl().easy_setopt(e, CURLOPT_HEADERDATA, t.get());
  curl().easy_setopt(e, CURLOPT_WRITEFUNCTION, &CurlService::on_write);
  curl().easy_setopt(e, CURLOPT_WRITEDATA, t.get());
  curl().easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, &CurlService::on_open);
  curl().easy_setopt(e, CURLOPT_OPENSOCKETDATA, t.get());
  curl().easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, &CurlService::on_close);
  curl().easy_setopt(e, CURLOPT_CLOSESOCKETDATA, this);

  t->start = t->last_activity = Clock::now();
  transfers_[e] = t;
  ++started_;
  arm_watchdog(t);
  ++sh->active;
  if (CURLMcode mc = curl().multi_add_handle(sh->multi, e); mc != CURLM_OK) {
    --sh->active;
    t->shard = nullptr;
    transfers_.erase(e);
    t->watchdog.reset();
    t->completion->complete(Outcome{std::nullopt, net_error(Errc::internal, curl().multi_strerror(mc))});
  }
}

// One timer per transfer enforces "first byte" and "idle" without re-arming on every chunk: when
// it fires it compares the last activity with the limit and sleeps again for the remainder.
void CurlService::arm_watchdog(const std::shared_ptr<Transfer>& t) {
  if (!t->watchdog) t->watchdog.emplace(*strand_);
  auto deadline = t->got_first_byte ? t->last_activity + t->req.timeouts.idle : t->start + t->req.timeouts.first_byte;
  t->watchdog->expires_at(deadline);
  t->watchdog->async_wait(asio::bind_executor(*strand_, [this, w = std::weak_ptr<Transfer>(t)](boost::system::error_code ec) {
    auto t = w.lock();
    if (ec || !t || t->done || shutting_down_) return;
    auto now = Clock::now();
    if (!t->got_first_byte && now >= t->start + t->req.timeouts.first_byte) {
      abort(t, net_error(Errc::timeout, "no response within " + std::to_string(t->req.timeouts.first_byte.count()) + " ms",
                         {{"phase", "first_byte"}}));
    } else if (t->got_first_byte && now >= t->last_activity + t->req.timeouts.idle) {
      abort(t, net_error(Errc::timeout, "no data for " + std::to_string(t->req.timeouts.idle.count()) + " ms",
                         {{"phase", "idle"}, {"body_bytes", t->body_bytes}}));
    } else {
      arm_watchdog(t);
    }
  }));
}

void CurlService::note_activity(Transfer& t) {
  t.last_activity = Clock::now();
  if (!t.got_first_byte) {
    t.got_first_byte = true;
    t.first_byte_at = t.last_activity;
    arm_watchdog(t.shared_from_this());  // from now on the idle limit applies
  }
}

void CurlService::abort(const std::shared_ptr<Transfer>& t, std::optional<Error> why) {
  if (t->done || shutting_down_) return;
  if (why) t->abort_reason = std::move(why);
  if (t->easy && t->shard) curl().multi_remove_handle(t->shard->multi, t->easy);
  finish(t, CURLE_ABORTED_BY_CALLBACK);
}

void CurlService::finish(const std::shared_ptr<Transfer>& t, CURLcode rc) {
  if (t->done) return;
  t->done = true;
  if (t->shard) --t->shard->active, t->shard = nullptr;
  if (t->easy) transfers_.erase(t->easy);
  if (t->watchdog) t->watchdog->cancel();
  auto now = Clock::now();
  Outcome out;
  long status = 0;
  if (t->easy) curl().easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
  json detail = {{"status", status}, {"body_bytes", t->body_bytes}};
  if (t->abort_reason) {
    out.error = std::move(*t->abort_reason);
    if (out.error.detail.is_object()) out.error.detail.update(detail);
  } else if (rc == CURLE_OK || t->sink_stopped) {
    Response& r = t->resp;
    r.status = static_cast<int>(status);
    if (!t->head_ready) r.headers = std::move(t->head.headers);
    else r.headers = t->head.headers;
    char* url = nullptr;
    if (curl().easy_getinfo(t->easy, CURLINFO_EFFECTIVE_URL, &url) == CURLE_OK && url) r.effective_url = url;
    r.elapsed = std::chrono::duration_cast<milliseconds>(now - t->start);
    if (t->got_first_byte) r.time_to_first_byte = std::chrono::duration_cast<milliseconds>(t->first_byte_at - t->start);
    out.response = std::move(r);
  } else {
    std::string msg = t->errbuf[0] ? std::string(t->errbuf) : std::string(curl().easy_strerror(rc));
    detail["curl_code"] = static_cast<int>(rc);
    Errc code = Errc::unavailable;
    switch (rc) {
      case CURLE_OPERATION_TIMEDOUT: {
        curl_off_t connect_us = 0;
        curl().easy_getinfo(t->easy, CURLINFO_CONNECT_TIME_T, &connect_us);
        code = Errc::timeout;
        detail["phase"] = connect_us == 0 ? "connect" : "total";
        break;
      }
      case CURLE_UNSUPPORTED_PROTOCOL:
      case CURLE_URL_MALFORMAT: code = Errc::invalid_argument; break;
      case CURLE_TOO_MANY_REDIRECTS: code = Errc::limit_exceeded; break;
      default: break;  // DNS, connect, reset, TLS, truncated body: the network failed
    }
    out.error = net_error(code, msg, std::move(detail));
  }
  // The handle is out of the multi (reap and abort removed it) and read: reset, it serves the
  // next request; its connection stays in the multi's pool either way. A new handle per request
  // (calloc of its state and buffers, freed after) was ~6 % of the CPU of 1 000 concurrent runs.
  if (t->easy) {
    curl().easy_reset(t->easy);
    if (idle_.size() < max_idle) idle_.push_back(t->easy);
    else curl().easy_cleanup(t->easy);
    t->easy = nullptr;
  }
  auto completion = std::move(t->completion);
  if (completion) completion->complete(std::move(out));
}

int CurlService::on_socket(CURL*, curl_socket_t fd, int what, void* userp, void*) {
  auto* sh = static_cast<Shard*>(userp);
  CurlService* self = sh->svc;
  auto it = self->sockets_.find(fd);
  if (what == CURL_POLL_REMOVE) {
    if (it != self->sockets_.end()) {
      it->second->want = 0;
      if (!it->second->owned) {  // curl's own fd (resolver): stop watching, never close it
        boost::system::error_code ec;
        it->second->closed = true;
        it->second->sd.release();
        self->sockets_.erase(it);
        (void)ec;
      }
    }
    return 0;
  }
  if (it == self->sockets_.end()) {
    auto s = std::make_shared<Socket>(*self->strand_);
    boost::system::error_code ec;
    s->sd.assign(fd, ec);
    if (ec) return -1;
    it = self->sockets_.emplace(fd, std::move(s)).first;
  }
  it->second->want = what;
  it->second->shard = sh;
  self->arm(it->second, fd);
  return 0;
}

// Waits for the readiness curl asked for. Asio's epoll reactor is edge-triggered, and an edge can
// be spent while no wait is queued (e.g. data arrived while curl wanted only POLL_OUT), so before
// waiting we poll the fd once: if it is already ready, curl is called on the next loop turn.
void CurlService::arm(const std::shared_ptr<Socket>& s, curl_socket_t fd) {
  auto watch = [&](int curl_flag, short poll_flag, bool Socket::*busy, asio::posix::descriptor_base::wait_type w,
                   int select_flag) {
    if (!(s->want & curl_flag) || (*s).*busy) return;
    (*s).*busy = true;
    auto on_ready = [this, s, fd, curl_flag, busy, select_flag](boost::system::error_code ec) {
      (*s).*busy = false;
      if (ec || s->closed || shutting_down_ || !(s->want & curl_flag)) return;
      act(*s->shard, fd, select_flag);
      if (!s->closed) arm(s, fd);
    };
    pollfd p{fd, poll_flag, 0};
    if (::poll(&p, 1, 0) > 0 && p.revents != 0) {
      asio::post(*strand_, [on_ready]() mutable { on_ready({}); });
    } else {
      s->sd.async_wait(w, asio::bind_executor(*strand_, std::move(on_ready)));
    }
  };
  watch(CURL_POLL_IN, POLLIN, &Socket::reading, asio::posix::descriptor_base::wait_read, CURL_CSELECT_IN);
  watch(CURL_POLL_OUT, POLLOUT, &Socket::writing, asio::posix::descriptor_base::wait_write, CURL_CSELECT_OUT);
}

int CurlService::on_timer(CURLM*, long timeout_ms, void* userp) {
  auto* sh = static_cast<Shard*>(userp);
  CurlService* self = sh->svc;
  if (!sh->timer) return 0;
  if (timeout_ms < 0) {
    sh->timer->cancel();
    return 0;
  }
  // Never call back into curl from inside its callback: even a 0 ms timeout waits for the loop.
  // That one (curl asks for it on every added transfer) is a post, not the timer: re-arming the
  // reactor's earliest timer is a timerfd_settime system call, 10 % of the CPU of 1 000
  // concurrent runs (perf, fan-out benchmark).
  if (timeout_ms == 0) {
    sh->timer->cancel();
    if (!sh->kick_posted) {
      sh->kick_posted = true;
      asio::post(*self->strand_, [self, sh] {
        if (self->shutting_down_) return;  // the shards may be gone
        sh->kick_posted = false;
        self->act(*sh, CURL_SOCKET_TIMEOUT, 0);
      });
    }
    return 0;
  }
  sh->timer->expires_after(milliseconds(timeout_ms));
  sh->timer->async_wait(asio::bind_executor(*self->strand_, [self, sh](boost::system::error_code ec) {
    if (ec || self->shutting_down_) return;
    self->act(*sh, CURL_SOCKET_TIMEOUT, 0);
  }));
  return 0;
}

void CurlService::act(Shard& sh, curl_socket_t fd, int ev_bitmask) {
  int running = 0;
  curl().multi_socket_action(sh.multi, fd, ev_bitmask, &running);
  reap(sh);
}

bool CurlService::add_shard() {
  auto sh = std::make_unique<Shard>();
  sh->multi = curl().multi_init();
  if (!sh->multi) return false;
  sh->svc = this;
  sh->timer.emplace(*strand_);
  curl().multi_setopt(sh->multi, CURLMOPT_SOCKETFUNCTION, &CurlService::on_socket);
  curl().multi_setopt(sh->multi, CURLMOPT_SOCKETDATA, sh.get());
  curl().multi_setopt(sh->multi, CURLMOPT_TIMERFUNCTION, &CurlService::on_timer);
  curl().multi_setopt(sh->multi, CURLMOPT_TIMERDATA, sh.get());
  shards_.push_back(std::move(sh));
  return true;
}

// The first shard with room; a new one when all are full; past kMaxShards the least loaded.
Shard* CurlService::pick_shard() {
  if (shards_.empty()) return nullptr;
  for (auto& sh : shards_)
    if (sh->active < kShardLoad) return sh.get();
  if (static_cast<int>(shards_.size()) < kMaxShards && add_shard()) return shards_.back().get();
  return std::min_element(shards_.begin(), shards_.end(), [](auto& a, auto& b) { return a->active < b->active; })->get();
}

void CurlService::reap(Shard& sh) {
  int left = 0;
  while (CURLMsg* m = curl().multi_info_read(sh.multi, &left)) {
    if (m->msg != CURLMSG_DONE) continue;
    CURL* e = m->easy_handle;
    CURLcode rc = m->data.result;
    auto it = transfers_.find(e);
    curl().multi_remove_handle(sh.multi, e);
    if (it == transfers_.end()) continue;
    auto t = it->second;
    finish(t, rc);
  }
}

curl_socket_t CurlService::on_open(void* clientp, curlsocktype purpose, curl_sockaddr* addr) {
  auto* t = static_cast<Transfer*>(clientp);
  CurlService* self = t->svc;
  if (purpose == CURLSOCKTYPE_IPCXN && t->req.address_guard && !t->req.address_guard(&addr->addr)) {
    t->abort_reason = net_error(Errc::permission_denied, "connection refused by the address policy",
                                {{"phase", "connect"}});
    return CURL_SOCKET_BAD;
  }
  int fd = ::socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
  if (fd < 0) return CURL_SOCKET_BAD;
  if (auto old = self->sockets_.find(fd); old != self->sockets_.end()) {
    // A stale entry for a number the kernel reused: forget it without closing the new fd.
    old->second->closed = true;
    old->second->sd.release();
    self->sockets_.erase(old);
  }
  auto s = std::make_shared<Socket>(*self->strand_);
  boost::system::error_code ec;
  s->sd.assign(fd, ec);
  if (ec) {
    ::close(fd);
    return CURL_SOCKET_BAD;
  }
  s->owned = true;
  self->sockets_.emplace(fd, std::move(s));
  ++self->connections_;
  return fd;
}

int CurlService::on_close(void* clientp, curl_socket_t fd) {
  auto* self = static_cast<CurlService*>(clientp);
  auto it = self->sockets_.find(fd);
  if (it == self->sockets_.end()) return ::close(fd);
  auto s = it->second;
  self->sockets_.erase(it);
  s->closed = true;
  boost::system::error_code ec;
  s->sd.close(ec);  // cancels its waits; their handlers see `closed` and return
  return 0;
}

size_t CurlService::on_header(char* data, size_t size, size_t n, void* userp) {
  auto* t = static_cast<Transfer*>(userp);
  size_t len = size * n;
  std::string_view line(data, len);
  t->svc->note_activity(*t);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.substr(0, 5) == "HTTP/") {
    t->head.headers.clear();  // a new response (after 1xx or a redirect)
  } else if (auto colon = line.find(':'); colon != std::string_view::npos) {
    std::string name(line.substr(0, colon));
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    t->head.headers.emplace_back(std::move(name), std::string(value));
  }
  return len;
}

size_t CurlService::on_write(char* data, size_t size, size_t n, void* userp) {
  auto* t = static_cast<Transfer*>(userp);
  size_t len = size * n;
  CurlService* self = t->svc;
  self->note_activity(*t);
  if (t->sink_stopped) return 0;  // the consumer has all it wants
  if (!t->head_ready) {
    long status = 0;
    curl().easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    t->head.status = static_cast<int>(status);
    t->head_ready = true;
  }
  t->body_bytes += len;
  if (t->req.max_body_bytes && t->body_bytes > *t->req.max_body_bytes) {
    t->abort_reason = net_error(Errc::limit_exceeded,
                                "response body larger than " + std::to_string(*t->req.max_body_bytes) + " bytes",
                                {{"phase", "body"}});
    return 0;
  }
  if (!t->req.on_chunk) {
    t->resp.body.append(data, len);
    return len;
  }
  // Deliver on the caller's executor (inline when we already run there).
  auto keep = t->shared_from_this();
  asio::dispatch(t->caller, [keep, chunk = std::string(data, len)] {
    if (keep->sink_stopped) return;
    if (!keep->req.on_chunk(keep->head, chunk)) {
      keep->sink_stopped = true;
      // Stop the transfer from outside curl's callback.
      asio::post(keep->svc->strand(), [keep] {
        if (!keep->done) keep->svc->abort(keep, std::nullopt);
      });
    }
  });
  return len;
}

struct FetchInit {
  CurlService* svc;
  asio::any_io_executor caller;
  template <class Handler>
  void operator()(Handler&& handler, Request req) const {
    auto t = std::make_shared<Transfer>();
    t->req = std::move(req);
    t->caller = asio::prefer(caller, asio::execution::outstanding_work.tracked);
    auto slot = asio::get_associated_cancellation_slot(handler);
    t->completion = std::make_unique<CompletionImpl<std::decay_t<Handler>>>(std::forward<Handler>(handler), caller);
    if (slot.is_connected()) {
      slot.assign([w = std::weak_ptr<Transfer>(t), svc = svc](asio::cancellation_type) {
        asio::post(svc->strand(), [w, svc] {
          if (auto t = w.lock())
            svc->abort(t, make_error(Errc::cancelled, "request cancelled"));
        });
      });
    }
    asio::post(svc->strand(), [t, svc = svc]() mutable { svc->start(std::move(t)); });
  }
};

CurlService& service_for(const asio::any_io_executor& ex) {
  auto& ctx = asio::query(ex, asio::execution::context);
  auto& svc = asio::use_service<CurlService>(ctx);
  svc.init(ex);
  return svc;
}

}  // namespace

asio::awaitable<Result<Response>> fetch(Request req) {
  auto ex = co_await asio::this_coro::executor;
  CurlService& svc = service_for(ex);
  // Operands in named locals: GCC 12 destroys temporaries inside a co_await expression twice (an
  // executor copy released twice frees the run's strand under it).
  FetchInit init{&svc, ex};
  auto op = asio::async_initiate<decltype(asio::use_awaitable), void(Outcome)>(std::move(init), asio::use_awaitable,
                                                                               std::move(req));
  Outcome out = co_await std::move(op);
  if (out.response) co_return std::move(*out.response);
  co_return std::move(out.error);
}

asio::awaitable<Stats> stats() {
  auto ex = co_await asio::this_coro::executor;
  co_return service_for(ex).stats();
}

std::optional<UrlParts> parse_url(const std::string& url) {
  if (!curl_lib()) return std::nullopt;
  auto drop = [](CURLU* h) { curl().url_cleanup(h); };
  std::unique_ptr<CURLU, decltype(drop)> u(curl().url(), drop);
  if (!u || curl().url_set(u.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) return std::nullopt;
  auto part = [&](CURLUPart what) -> std::optional<std::string> {
    char* p = nullptr;
    if (curl().url_get(u.get(), what, &p, 0) != CURLUE_OK || !p) return std::nullopt;
    std::string v(p);
    curl().free(p);
    for (char& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return v;
  };
  auto scheme = part(CURLUPART_SCHEME);
  auto host = part(CURLUPART_HOST);
  if (!scheme || !host || host->empty()) return std::nullopt;
  if (host->size() > 2 && host->front() == '[' && host->back() == ']') *host = host->substr(1, host->size() - 2);
  return UrlParts{std::move(*scheme), std::move(*host)};
}

}  // namespace fh::http
