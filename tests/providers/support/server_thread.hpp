// A MockServer on its own thread, for tests whose code under test runs its own io_context (a
// command, a child process).
#pragma once

#include <optional>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "tests/providers/support/mock_server.hpp"

namespace fh::test {

struct ServerThread {
  boost::asio::io_context ctx;
  std::optional<MockServer> server;
  std::thread thread;
  explicit ServerThread(MockServer::Handler h) {
    server.emplace(ctx.get_executor(), std::move(h));
    thread = std::thread([this] { ctx.run(); });
  }
  ~ServerThread() {
    boost::asio::post(ctx, [this] { server->stop(); });
    ctx.stop();
    thread.join();
  }
};

}  // namespace fh::test
