// The store on SQLite beside PostgreSQL: kernel rows written per second (one transaction per
// row, as a collection writes them, and batches, as an import does), rows read per second, and
// work-queue items claimed and completed per second by 1, 4 and 16 worker processes.
// Usage: bench_store_backends DIR POSTGRES_URL_PREFIX [ROWS]; bench/store_backends.sh starts a
// server and runs it. Each back end gets fresh datasets: DIR/<name>.db, and databases
// PREFIX<name> that must exist and be empty.
#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "nnjoule/store/store.hpp"

using namespace nnjoule;
using namespace nnjoule::store;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

KernelRow row(int64_t run, int64_t dev, int i) {
  KernelRow r;
  r.run_id = run;
  r.device_id = dev;
  r.kernel_type = "conv-bn-relu";
  r.config = kernels::KernelConfig{{"HW", 7 + i % 50},
                                   {"CIN", 8 + i % 97},
                                   {"COUT", 8 + i % 89},
                                   {"KERNEL_SIZE", 1 + 2 * (i % 3)},
                                   {"STRIDES", 1 + i % 2}};
  r.key = kernel_key(r.kernel_type, *r.config, {{"i", i}});
  r.flops = 1e6 * (1 + i % 1000);
  r.params = 1000 + i % 5000;
  r.bytes = 4000 + i % 7000;
  r.threads = 1;
  // A plausible latency and energy that depend on the config, so that train has something to
  // learn.
  const double work =
      static_cast<double>(r.config->get("HW") * r.config->get("HW") * r.config->get("CIN") *
                          r.config->get("COUT") * r.config->get("KERNEL_SIZE"));
  r.m.latency_ms = 0.01 + work * 2e-8 * (1.0 + 0.01 * (i % 7));
  r.m.energy_mj = *r.m.latency_ms * 3.0;
  r.m.power_mw = 3000;
  r.m.n = 10;
  r.m.provenance = {Origin::kEstimated, "estimate:cpu-time"};
  return r;
}

Run kernels_run(int64_t dev) {
  Run r;
  r.device_id = dev;
  r.kind = "kernels";
  r.provenance = {Origin::kEstimated, "estimate:cpu-time"};
  return r;
}

Device device() {
  Device d;
  d.name = "bench-board";
  d.arch = "x86_64";
  d.runtime = "XNNPACK";
  return d;
}

struct Target {
  std::string name;
  std::string (*db)(const std::string& base, const std::string& what);
  std::string base;
};

std::string sqlite_db(const std::string& dir, const std::string& what) {
  return dir + "/" + what + ".db";
}
std::string pg_db(const std::string& prefix, const std::string& what) {
  return prefix + what;
}

// Items per second that `workers` processes claim and complete (one kernel row each).
double claim_rate(const std::string& db, int workers, int items) {
  int64_t dev = 0, run = 0;
  {
    Store s(db);
    dev = s.ensure_device(device());
    run = s.begin_run(kernels_run(dev));
    std::vector<std::pair<std::string, nlohmann::json>> plan;
    for (int i = 0; i < items; ++i)
      plan.emplace_back(fmt::format("{}", i), nlohmann::json{{"i", i}});
    s.add_work("bench", plan);
  }
  std::fflush(stdout);  // a child must not inherit unwritten output
  const auto t0 = Clock::now();
  std::vector<pid_t> pids;
  for (int w = 0; w < workers; ++w) {
    const pid_t pid = fork();
    if (pid == 0) {
      try {
        // 16 processes on one SQLite file queue for its write lock longer than the default 10 s
        // now and then: the bench measures throughput, not that limit.
        Store s(db, Store::Options{.busy_timeout_ms = 120000});
        const std::string name = fmt::format("w{}", w);
        while (const auto item = s.claim_work("bench", name, std::chrono::minutes(10))) {
          s.complete_work(*item, {row(run, dev, item->payload["i"].get<int>())});
        }
        _exit(0);
      } catch (const std::exception& e) {
        std::cerr << "worker: " << e.what() << "\n";
        _exit(1);
      }
    }
    pids.push_back(pid);
  }
  bool ok = true;
  for (const pid_t pid : pids) {
    int status = 0;
    waitpid(pid, &status, 0);
    ok = ok && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
  const double t = seconds_since(t0);
  if (!ok) throw std::runtime_error("a worker failed");
  if (Store(db).work_status("bench").done != items) throw std::runtime_error("items left");
  return items / t;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: bench_store_backends DIR POSTGRES_URL_PREFIX [ROWS]\n";
    return 2;
  }
  const int rows = argc > 3 ? std::atoi(argv[3]) : 100000;
  const std::vector<Target> targets = {{"SQLite", sqlite_db, argv[1]},
                                       {"PostgreSQL", pg_db, argv[2]}};
  try {
    fmt::print("{:<52} {:>10} {:>10} {:>9}\n", "rows or items per second", "SQLite", "PostgreSQL",
               "PG/SQLite");
    const auto line = [](const std::string& what, double a, double b) {
      fmt::print("{:<52} {:>10.0f} {:>10.0f} {:>9.2f}\n", what, a, b, b / a);
    };
    double single[2], batch[2], read[2];
    constexpr int kSingle = 2000;
    for (size_t k = 0; k < targets.size(); ++k) {
      const Target& t = targets[k];
      {
        Store s(t.db(t.base, "single"));
        const int64_t dev = s.ensure_device(device());
        const int64_t run = s.begin_run(kernels_run(dev));
        const auto t0 = Clock::now();
        for (int i = 0; i < kSingle; ++i) s.add_kernel(row(run, dev, i));
        single[k] = kSingle / seconds_since(t0);
      }
      {
        Store s(t.db(t.base, "rows"));
        const int64_t dev = s.ensure_device(device());
        const int64_t run = s.begin_run(kernels_run(dev));
        const auto t0 = Clock::now();
        std::vector<KernelRow> chunk;
        for (int i = 0; i < rows; ++i) {
          chunk.push_back(row(run, dev, i));
          if (chunk.size() == 1000 || i + 1 == rows) {
            s.add_kernels(chunk);
            chunk.clear();
          }
        }
        batch[k] = rows / seconds_since(t0);
        s.end_run(run, "complete");
      }
      {
        const Store s(t.db(t.base, "rows"), {.read_only = true});
        const auto t0 = Clock::now();
        const size_t n = s.kernels({.require_config = true}).size();
        read[k] = static_cast<double>(n) / seconds_since(t0);
      }
    }
    line(fmt::format("kernel rows written, 1 per transaction ({})", kSingle), single[0], single[1]);
    line(fmt::format("kernel rows written, 1000 per transaction ({})", rows), batch[0], batch[1]);
    line(fmt::format("kernel rows read ({})", rows), read[0], read[1]);
    for (const int workers : {1, 4, 16}) {
      double rate[2];
      for (size_t k = 0; k < targets.size(); ++k) {
        rate[k] = claim_rate(targets[k].db(targets[k].base, fmt::format("queue{}", workers)),
                             workers, 2000);
      }
      line(fmt::format("work items claimed + completed, {} workers", workers), rate[0], rate[1]);
    }
  } catch (const std::exception& e) {
    std::cerr << "bench_store_backends: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
