#pragma once

// Servers no one here wrote, from Debian's packages (scripts/install-deps.sh): nginx, an aiohttp
// app and a gunicorn app, each in its own process on a loopback port, stopped by its destructor.
// A server that cannot start says why in why_not(); a test asserts ready() and fails with it.

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/loadgen/test_servers.h"

namespace iolab::testing {

class OutsideServer {
 public:
  /// Runs `argv` (argv[0] a path) with stdout and stderr to a log in `dir`, and waits up to 15 s
  /// for `port` to accept connections.
  OutsideServer(std::string what, std::string dir, std::vector<std::string> argv, int port)
      : what_(std::move(what)), dir_(std::move(dir)), port_(port) {
    if (::access(argv[0].c_str(), X_OK) != 0) {
      why_not_ = what_ + ": " + argv[0] + " is not installed (scripts/install-deps.sh)";
      return;
    }
    const std::string log = dir_ + "/server.log";
    // Built before fork(): the child of a threaded process may only make system calls.
    std::vector<char*> args;
    for (std::string& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    const bool up = wait_for([this] { return accepts() || exited(); }, 15s) && !exited();
    if (!up)
      why_not_ = what_ + " did not start on port " + std::to_string(port_) + ": " + read(log);
  }
  ~OutsideServer() {
    if (pid_ > 0) {
      ::kill(-pid_, SIGTERM);
      if (!wait_for([this] { return exited(); }, 10s)) ::kill(-pid_, SIGKILL);
      if (!reaped_) ::waitpid(pid_, nullptr, 0);
    }
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  bool ready() const { return why_not_.empty(); }
  const std::string& why_not() const { return why_not_; }
  int port() const { return port_; }

  /// A fresh directory for a server's files, readable by nginx's unprivileged workers.
  static std::string make_dir() {
    std::string dir = "/tmp/iolab-conformance-XXXXXX";
    // Without one, the server cannot start and says so.
    if (::mkdtemp(dir.data()) == nullptr) return "/nonexistent/iolab-conformance";
    ::chmod(dir.c_str(), 0755);
    return dir;
  }

  static void write(const std::string& path, const std::string& text) {
    std::ofstream(path) << text;
  }

 private:
  static std::string read(const std::string& path) {
    std::ostringstream out;
    out << std::ifstream(path).rdbuf();
    return out.str();
  }

  bool accepts() const {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port_));
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    ::close(fd);
    return ok;
  }

  bool exited() {
    if (reaped_) return true;
    reaped_ = ::waitpid(pid_, nullptr, WNOHANG) == pid_;
    return reaped_;
  }

  std::string what_;
  std::string dir_;
  int port_;
  pid_t pid_ = -1;
  bool reaped_ = false;
  std::string why_not_;
};

/// nginx, one worker, `server_lines` inside its server block (listen is given).
inline OutsideServer start_nginx(const std::string& server_lines) {
  const std::string dir = OutsideServer::make_dir();
  const int port = closed_port();
  OutsideServer::write(dir + "/nginx.conf",
                       "worker_processes 1;\ndaemon off;\npid " + dir +
                           "/nginx.pid;\n"
                           "error_log " +
                           dir +
                           "/error.log warn;\n"
                           "events { worker_connections 1024; }\n"
                           "http {\n  access_log off;\n  client_body_temp_path " +
                           dir +
                           ";\n"
                           "  server {\n    listen 127.0.0.1:" +
                           std::to_string(port) + ";\n" + server_lines + "\n  }\n}\n");
  return OutsideServer(
      "nginx", dir,
      {"/usr/sbin/nginx", "-p", dir, "-c", dir + "/nginx.conf", "-e", dir + "/error.log"}, port);
}

/// An aiohttp app whose handler answers 200 "ok" without reading the request's body; on /big
/// with a 100 KiB Set-Cookie header.
inline OutsideServer start_aiohttp() {
  const std::string dir = OutsideServer::make_dir();
  const int port = closed_port();
  OutsideServer::write(
      dir + "/app.py",
      "import sys\nfrom aiohttp import web\n"
      "async def handle(request):\n    return web.Response(text='ok')\n"
      "async def big(request):\n"
      "    return web.Response(text='ok', headers={'Set-Cookie': 'a=' + 'c' * 102400})\n"
      "app = web.Application(client_max_size=64 * 1024 * 1024)\n"
      "app.router.add_route('*', '/', handle)\n"
      "app.router.add_route('GET', '/big', big)\n"
      "web.run_app(app, host='127.0.0.1', port=int(sys.argv[1]), print=None,"
      " access_log=None)\n");
  return OutsideServer("aiohttp", dir, {"/usr/bin/python3", dir + "/app.py", std::to_string(port)},
                       port);
}

/// gunicorn's sync worker with a WSGI app that answers 200 "ok" without reading the body.
inline OutsideServer start_gunicorn() {
  const std::string dir = OutsideServer::make_dir();
  const int port = closed_port();
  OutsideServer::write(dir + "/app.py",
                       "def app(environ, start_response):\n"
                       "    start_response('200 OK', [('Content-Length', '2')])\n"
                       "    return [b'ok']\n");
  return OutsideServer("gunicorn", dir,
                       {"/usr/bin/gunicorn", "--chdir", dir, "-w", "1", "-b",
                        "127.0.0.1:" + std::to_string(port), "--log-level", "warning", "app:app"},
                       port);
}

}  // namespace iolab::testing
