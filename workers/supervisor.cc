#include "workers/supervisor.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <future>
#include <iostream>

#include "core/duration.h"
#include "core/errors.h"
#include "variants/net.h"

extern char** environ;

namespace iolab {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kReadyFd = 3;
constexpr int kStatsFd = 4;
constexpr int kListenFd = 5;
constexpr auto kStartTimeout = std::chrono::seconds(10);
constexpr auto kRestartDelay = std::chrono::milliseconds(100);

int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

int poll_ms(std::chrono::steady_clock::duration d) {
  return static_cast<int>(
      std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::milliseconds>(d).count()));
}

}  // namespace

Supervisor::Supervisor(WorkerSetSpec spec) : spec_(std::move(spec)) {}

Supervisor::~Supervisor() { stop(); }

std::vector<std::string> Supervisor::worker_args() const {
  return {spec_.executable,     "worker",
          "--variant",          spec_.variant.name(),
          "--listen",           spec_.listen.host + ":" + std::to_string(port_),
          "--upstream",         spec_.upstream.url.to_string(),
          "--upstream-timeout", format_duration(spec_.upstream.timeout),
          "--pool-size",        std::to_string(spec_.variant.pool_size),
          "--stack-bytes",      std::to_string(spec_.variant.stack_bytes),
          "--ready-fd",         std::to_string(kReadyFd)};
}

Supervisor::Worker Supervisor::spawn(int ready_fd, size_t slot) {
  std::vector<std::string> args = worker_args();
  if (ready_fd < 0) {
    // A restarted worker has no ready pipe: told `--ready-fd 3`, it would close whatever took
    // descriptor 3 (its own listening socket), and then not stop on SIGTERM.
    const auto it = std::find(args.begin(), args.end(), "--ready-fd");
    if (it != args.end()) args.erase(it, it + 2);
  }
  if (listen_fd_ >= 0) args.insert(args.end(), {"--listen-fd", std::to_string(kListenFd)});
  if (spec_.stats) {
    args.insert(args.end(), {"--stats-fd", std::to_string(kStatsFd), "--stats-slot",
                             std::to_string(first_slot_ + static_cast<int>(slot))});
  }
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (ready_fd >= 0) posix_spawn_file_actions_adddup2(&actions, ready_fd, kReadyFd);
  if (spec_.stats) posix_spawn_file_actions_adddup2(&actions, spec_.stats->fd(), kStatsFd);
  if (listen_fd_ >= 0) posix_spawn_file_actions_adddup2(&actions, listen_fd_, kListenFd);
  // The parent may block signals for its own sigwait thread; a worker starts with none blocked.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  pid_t pid = -1;
  const int rc =
      ::posix_spawn(&pid, spec_.executable.c_str(), &actions, &attr, argv.data(), environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return {};
  return {pid, pidfd_open(pid)};
}

std::optional<WorkerStatsValues> Supervisor::published_stats() const {
  if (!spec_.stats || first_slot_ < 0) return std::nullopt;
  WorkerStatsValues sum;
  for (int i = 0; i < spec_.variant.workers; ++i) {
    sum += read_slot(spec_.stats->layout().slots[static_cast<size_t>(first_slot_ + i)]);
  }
  return sum;
}

void Supervisor::reserve_port(const sockaddr_in& addr) {
  reserve_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  ::setsockopt(reserve_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  ::setsockopt(reserve_fd_, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (::bind(reserve_fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    ::close(reserve_fd_);
    reserve_fd_ = -1;
    throw StartError("cannot listen on " + spec_.listen.to_string() + ": " + std::strerror(err));
  }
  sockaddr_in bound{};
  socklen_t len = sizeof bound;
  ::getsockname(reserve_fd_, reinterpret_cast<sockaddr*>(&bound), &len);
  port_ = ntohs(bound.sin_port);
}

uint16_t Supervisor::start() {
  if (spec_.variant.workers < 1) throw StartError("workers must be at least 1");
  if (spec_.stats) first_slot_ = spec_.stats->acquire(spec_.variant.workers);
  const auto addr = spec_.listen.sockaddr();
  if (!addr) throw StartError("cannot listen on " + spec_.listen.to_string());
  if (spec_.variant.accept == AcceptMode::kShared) {
    listen_fd_ = open_listener(spec_.listen, /*reuse_port=*/false);
    port_ = bound_port(listen_fd_);
  } else {
    reserve_port(*addr);
  }
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

  std::promise<void> ready;
  std::future<void> ready_future = ready.get_future();
  thread_ = std::jthread([this, &ready](std::stop_token stop) {
    std::vector<int> ready_fds;
    {
      std::lock_guard lock(mutex_);
      for (int i = 0; i < spec_.variant.workers; ++i) {
        int pipe_fds[2];
        if (::pipe2(pipe_fds, O_CLOEXEC) != 0) break;
        const Worker w = spawn(pipe_fds[1], static_cast<size_t>(i));
        ::close(pipe_fds[1]);
        ready_fds.push_back(pipe_fds[0]);
        if (w.pid < 0) {
          start_error_ = "cannot spawn " + spec_.executable + ": " + std::strerror(errno);
          break;
        }
        workers_.push_back(w);
      }
    }
    const auto deadline = Clock::now() + kStartTimeout;
    for (int fd : ready_fds) {
      pollfd p{fd, POLLIN, 0};
      char byte = 0;
      if (start_error_.empty() &&
          (::poll(&p, 1, poll_ms(deadline - Clock::now())) != 1 || ::read(fd, &byte, 1) != 1)) {
        start_error_ = "variant " + spec_.variant.name() + ": a worker did not start";
      }
      ::close(fd);
    }
    started_ = start_error_.empty();
    ready.set_value();
    if (started_) run(stop);
  });
  ready_future.wait();
  if (!started_) {
    const std::string error = start_error_;
    stop(std::chrono::milliseconds(0));
    throw StartError(error);
  }
  return port_;
}

void Supervisor::run(std::stop_token stop) {
  while (!stop.stop_requested()) {
    std::vector<pollfd> fds;
    {
      std::lock_guard lock(mutex_);
      for (const Worker& w : workers_) fds.push_back({w.pidfd, POLLIN, 0});
    }
    fds.push_back({wake_fd_, POLLIN, 0});
    if (::poll(fds.data(), fds.size(), -1) < 0 && errno != EINTR) return;
    if (stop.stop_requested()) return;
    for (size_t i = 0; i + 1 < fds.size(); ++i) {
      if (!(fds[i].revents & POLLIN)) continue;
      {
        std::lock_guard lock(mutex_);
        ::waitpid(workers_[i].pid, nullptr, 0);
        ::close(workers_[i].pidfd);
        workers_[i] = Worker{};
      }
      // A short pause keeps a worker that dies at start-up from spinning the machine. It is
      // taken without the lock: pids() (a /metrics scrape) must not wait for it.
      pollfd wake{wake_fd_, POLLIN, 0};
      if (::poll(&wake, 1, poll_ms(kRestartDelay)) > 0 || stop.stop_requested()) return;
      std::lock_guard lock(mutex_);
      workers_[i] = spawn(-1, i);
      restarts_.fetch_add(1, std::memory_order_relaxed);
      if (spec_.stats) spec_.stats->layout().restarts.fetch_add(1, std::memory_order_relaxed);
    }
  }
}

void Supervisor::stop(std::chrono::milliseconds grace) {
  if (thread_.joinable()) {
    thread_.request_stop();
    const uint64_t one = 1;
    [[maybe_unused]] const auto n = ::write(wake_fd_, &one, sizeof one);
    thread_.join();
  }
  std::lock_guard lock(mutex_);
  for (const Worker& w : workers_) {
    if (w.pid > 0) ::kill(w.pid, SIGTERM);
  }
  const auto deadline = Clock::now() + grace;
  for (Worker& w : workers_) {
    if (w.pid <= 0) continue;
    pollfd p{w.pidfd, POLLIN, 0};
    if (w.pidfd < 0 || ::poll(&p, 1, poll_ms(deadline - Clock::now())) != 1) ::kill(w.pid, SIGKILL);
    ::waitpid(w.pid, nullptr, 0);
    if (w.pidfd >= 0) ::close(w.pidfd);
  }
  workers_.clear();
  // Every worker is reaped: no one writes the slots any more.
  if (spec_.stats && first_slot_ >= 0) spec_.stats->release(first_slot_, spec_.variant.workers);
  first_slot_ = -1;
  for (int* fd : {&reserve_fd_, &listen_fd_, &wake_fd_}) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
}

std::vector<pid_t> Supervisor::pids() const {
  std::lock_guard lock(mutex_);
  std::vector<pid_t> pids;
  for (const Worker& w : workers_) {
    if (w.pid > 0) pids.push_back(w.pid);
  }
  return pids;
}

int run_worker(const VariantSpec& variant, const UpstreamOptions& upstream, const Endpoint& listen,
               int ready_fd, int stats_fd, int stats_slot, int listen_fd) {
  const pid_t parent = ::getppid();
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (::getppid() != parent) return 1;  // the supervisor died before we asked

  // Block the stop signals before any thread starts, so that only sigwait below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::unique_ptr<Variant> server;
  std::shared_ptr<StatsRegion> region;
  std::unique_ptr<StatsPublisher> publisher;
  try {
    if (stats_fd >= 0) {
      if (stats_slot < 0 || stats_slot >= StatsRegion::kMaxSlots) {
        throw StartError("--stats-slot out of range");
      }
      region = StatsRegion::attach(stats_fd);
    }
    server = make_variant(variant, upstream);
    if (listen_fd >= 0) {
      server->serve(listen_fd);
    } else {
      server->start(listen);
    }
    if (region) {
      publisher = std::make_unique<StatsPublisher>(
          server->stats(), region->layout().slots[static_cast<size_t>(stats_slot)]);
    }
  } catch (const std::exception& e) {
    std::cerr << "iolab worker: " << e.what() << "\n";
    return 1;
  }
  if (ready_fd >= 0) {
    const char byte = 'R';
    [[maybe_unused]] const auto n = ::write(ready_fd, &byte, 1);
    ::close(ready_fd);
  }
  int received = 0;
  sigwait(&signals, &received);
  server->stop();
  publisher.reset();  // the last copy, after the last request
  return 0;
}

}  // namespace iolab
