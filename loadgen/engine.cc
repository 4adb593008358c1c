#include "loadgen/engine.h"

#include <unistd.h>

#include <algorithm>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "loadgen/preflight.h"
#include "loadgen/request.h"
#include "loadgen/run_context.h"
#include "loadgen/timeline.h"
#include "loadgen/worker.h"

namespace iolab {
namespace {

using loadgen::Clock;
using loadgen::RunContext;
using loadgen::Worker;

// How often the thread that called run_load gathers the seconds the workers have finished.
constexpr auto kCollectInterval = 10ms;

bool is_idempotent(const std::string& method) {
  for (const char* m : {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"}) {
    if (method == m) return true;
  }
  return false;
}

// Everything of the context but its clocks and stop token, from a validated spec.
void fill_context(RunContext& context, const LoadSpec& spec, const std::string& request,
                  LoadProgress* progress) {
  context.request_bytes = request.size();
  context.idempotent = is_idempotent(spec.method);
  context.pipeline = static_cast<uint32_t>(spec.pipeline);
  context.batch.reserve(request.size() * context.pipeline);
  for (uint32_t i = 0; i < context.pipeline; ++i) context.batch += request;
  context.open_loop = spec.rate > 0;
  context.head = spec.method == "HEAD";
  // A segment keeps its connections' slots of the whole run's schedule.
  const double schedule_rate = spec.segment ? spec.segment->whole_rate : spec.rate;
  context.ns_per_request = context.open_loop ? 1e9 / schedule_rate : 0;
  context.connections = static_cast<uint64_t>(spec.segment ? spec.segment->whole_connections
                                                           : spec.connections);
  context.timeout = spec.timeout;
  context.max_requests = spec.max_requests;
  context.progress = progress;
  context.max_head_bytes = spec.max_head_bytes;
}

// "8210" as "8,210".
std::string with_thousands(uint64_t value) {
  std::string digits = std::to_string(value);
  for (size_t i = digits.size(); i > 3; i -= 3) digits.insert(i - 3, 1, ',');
  return digits;
}

// The spec's connections shared out over its threads, in order.
std::vector<std::unique_ptr<Worker>> make_workers(RunContext& context, const LoadSpec& spec) {
  std::vector<std::unique_ptr<Worker>> workers;
  workers.reserve(static_cast<size_t>(spec.threads));
  uint64_t first_index =
      spec.segment ? spec.segment->segment.first_of(
                         static_cast<uint64_t>(spec.segment->whole_connections))
                   : 0;
  for (int i = 0; i < spec.threads; ++i) {
    const int share =
        spec.connections / spec.threads + (i < spec.connections % spec.threads ? 1 : 0);
    workers.push_back(std::make_unique<Worker>(context, share, first_index));
    first_index += static_cast<uint64_t>(share);
  }
  return workers;
}

// Waits until the spec's start_at on the wall clock, if any, or until `stop`.
void wait_for_start(const LoadSpec& spec, const std::stop_token& stop) {
  if (!spec.start_at) return;
  // Short sleeps, so a stop is seen; the last one ends on the instant.
  while (!stop.stop_requested()) {
    const auto left = *spec.start_at - std::chrono::system_clock::now();
    if (left <= std::chrono::system_clock::duration::zero()) return;
    std::this_thread::sleep_for(std::min<std::chrono::system_clock::duration>(left, 100ms));
  }
}

std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0) return "unknown";
  return name;
}

// Adds up what the stopped workers measured; returns when the last of them stopped.
Clock::time_point add_up(const std::vector<std::unique_ptr<Worker>>& workers,
                         const RunContext& context, LoadResult& result) {
  Clock::time_point end = context.start;
  int64_t lag_sum_ns = 0;
  uint64_t lag_count = 0;
  for (const auto& worker : workers) {
    result.latency.merge(worker->latency());
    result.uncorrected.merge(worker->uncorrected());
    result.requests += worker->requests();
    result.reconnects += worker->reconnects();
    result.resent += worker->resent();
    const ErrorCounts& e = worker->errors();
    result.errors.connect += e.connect;
    result.errors.read += e.read;
    result.errors.write += e.write;
    result.errors.timeout += e.timeout;
    result.errors.status += e.status;
    result.errors.protocol += e.protocol;
    const loadgen::OpenLoopSchedule& schedule = worker->schedule();
    result.lag_max = std::max(result.lag_max, std::chrono::nanoseconds(schedule.lag_max_ns()));
    lag_sum_ns += schedule.lag_sum_ns();
    lag_count += schedule.lag_count();
    end = std::max(end, worker->end_time());
  }
  if (!context.open_loop) result.uncorrected = result.latency;
  if (!context.first_protocol_error.reason.empty()) {
    result.protocol_error = context.first_protocol_error.to_string();
  }
  if (lag_count != 0) {
    result.lag_mean = std::chrono::nanoseconds(lag_sum_ns / static_cast<int64_t>(lag_count));
  }
  return end;
}

}  // namespace

std::string ProtocolError::to_string() const {
  if (reason.empty()) return {};
  return std::string(reason) + " at byte " + with_thousands(offset) + " of an answer";
}

LoadResult run_load(const LoadSpec& spec, std::stop_token stop, LoadProgress* progress) {
  LoadResult result;
  result.spec = spec;
  loadgen::validate(result.spec);
  const LoadSpec& run_spec = result.spec;
  const std::string request = build_request(run_spec);
  reserve_open_files(run_spec.connections);

  RunContext context;
  context.addr = *run_spec.target.endpoint.sockaddr();
  if (!run_spec.source.empty()) {
    context.bind_source = true;
    context.source = *Endpoint{run_spec.source, 0}.sockaddr();
  }
  loadgen::probe(run_spec.target.endpoint, context);
  fill_context(context, run_spec, request, progress);
  // The caller's token is forwarded into one of our own, so a failure to start every thread can
  // stop the ones already running.
  std::stop_source internal_stop;
  context.stop = internal_stop.get_token();
  std::stop_callback forward_stop(stop, [&internal_stop] { internal_stop.request_stop(); });

  std::vector<std::unique_ptr<Worker>> workers = make_workers(context, run_spec);
  result.timeline.reserve(static_cast<size_t>(
      std::chrono::ceil<std::chrono::seconds>(run_spec.warmup + run_spec.duration).count() + 1));
  std::vector<loadgen::TimelineRing*> rings;
  for (const auto& worker : workers) rings.push_back(&worker->timeline());
  loadgen::TimelineCollector collector(std::move(rings), context, result.timeline);

  wait_for_start(run_spec, context.stop);
  context.start = Clock::now();
  result.started_at = std::chrono::system_clock::now();
  if (run_spec.start_at) result.start_skew = result.started_at - *run_spec.start_at;
  result.host = host_name();
  context.window_start = context.start + run_spec.warmup;
  context.window_end = context.window_start + run_spec.duration;
  {
    std::vector<std::jthread> threads;
    threads.reserve(workers.size());
    try {
      for (auto& worker : workers) threads.emplace_back([w = worker.get()] { w->run(); });
      while (!collector.all_done()) {
        std::this_thread::sleep_for(kCollectInterval);
        collector.collect();
      }
    } catch (...) {
      internal_stop.request_stop();
      throw;
    }
  }

  Clock::time_point end = add_up(workers, context, result);
  end = std::min(end, context.window_end);
  collector.finish(end);
  result.elapsed = std::max(Clock::duration::zero(), end - context.window_start);
  return result;
}

}  // namespace iolab
