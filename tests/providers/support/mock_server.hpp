// A Boost.Beast mock HTTP server for provider tests and benchmarks: replays recorded response bytes
// exactly (whole, 1-byte or random-size HTTP chunks) and injects faults (status codes with headers,
// connection reset before headers or after N body bytes, missing terminators, a slow drip).
// Runs on the executor it is given (one thread); stop() closes the listener and every connection.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

namespace fh::test {

struct MockRequest {
  std::string method, target, body;
  std::map<std::string, std::string> headers;  // names lower-cased
};

struct MockResponse {
  enum class Split { whole, one_byte, random };
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers{{"content-type", "text/event-stream; charset=utf-8"}};
  std::string body;
  Split split = Split::whole;   // how the body is cut into HTTP chunks
  uint32_t seed = 1;            // for Split::random
  bool chunked = true;          // chunked transfer encoding, else Content-Length
  std::chrono::milliseconds gap{0};  // pause between chunks (a drip)
  bool reset_before_headers = false;  // read the request, then reset the connection
  std::optional<size_t> reset_after;  // send this many body bytes, then reset
  bool hang = false;            // accept the request and never answer
};

class MockServer {
 public:
  using Handler = std::function<MockResponse(const MockRequest&)>;
  explicit MockServer(boost::asio::any_io_executor ex, Handler h);
  ~MockServer();
  MockServer(const MockServer&) = delete;
  MockServer& operator=(const MockServer&) = delete;

  unsigned short port() const;
  std::string base_url() const;  // http://127.0.0.1:PORT
  void set_handler(Handler h);
  void stop();
  // Requests seen so far, in arrival order (read on the server's thread or after it stopped).
  const std::vector<MockRequest>& requests() const;
  size_t connections_accepted() const;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

// Reads a fixture file from ../shared/fixtures/providers/.
std::string read_fixture(const std::string& name);

}  // namespace fh::test
