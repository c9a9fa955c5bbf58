// The crash test's daemon process: mock providers and the test tools (append, danger).
//   daemon_test_server DATA_DIR WORKSPACE PORT_FILE [PLAN_DIR]
#include <filesystem>
#include <fstream>
#include <iostream>

#include <boost/asio/io_context.hpp>

#include "tests/daemon/support.hpp"

int main(int argc, char** argv) {
  if (argc != 4 && argc != 5) {
    std::cerr << "usage: daemon_test_server DATA_DIR WORKSPACE PORT_FILE [PLAN_DIR]\n";
    return 2;
  }
  boost::asio::io_context io(1);
  fh::httpd::DaemonOptions o;
  o.data_dir = argv[1];
  o.workspace = argv[2];
  if (argc == 5) o.plan_dir = argv[4];
  fh::httpd::Daemon daemon(io.get_executor(), fh::test::test_providers(), o, fh::test::test_tools());
  fh::httpd::ServerOptions so;
  so.log = [](const fh::json&) {};
  fh::httpd::Server server(io.get_executor(), so, daemon.handler());
  if (auto r = server.start(); !r) {
    std::cerr << r.error().message << "\n";
    return 1;
  }
  daemon.set_port(server.port());
  if (auto r = daemon.open(); !r) {
    std::cerr << r.error().message << "\n";
    return 1;
  }
  {
    std::ofstream pf(std::string(argv[3]) + ".tmp");
    pf << server.port() << "\n";
  }
  std::filesystem::rename(std::string(argv[3]) + ".tmp", argv[3]);
  io.run();
  return 0;
}
