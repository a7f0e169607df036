// Sampler overhead: CPU time of the sampling thread as a share of one core, polling a fake
// RAPL tree (3 domains) at a fixed 1 kHz, beside two baselines run the same way: a thread that
// only sleeps on a 1 kHz grid (the cost of waking up at all, which the kernel and, in a virtual
// machine, the hypervisor charge to the thread) and the adaptive default.
// Usage: bench_sampler_overhead [seconds per run, default 3]
#include <fmt/format.h>
#include <stdlib.h>
#include <time.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "nnjoule/meter/meters.hpp"
#include "nnjoule/meter/sampler.hpp"

using namespace nnjoule::meter;
namespace fs = std::filesystem;

namespace {

struct Run {
  double wall_s, cpu_s;
  int64_t reads;
};

Run run(const std::shared_ptr<Meter>& meter, SamplerOptions opt, double seconds) {
  SteadyClock clock;
  Sampler s({meter}, clock, opt);
  const double t0 = clock.now_s();
  s.start();
  s.begin_window("w");
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  s.end_window("w");
  s.stop();
  return {clock.now_s() - t0, s.thread_cpu_s(), s.stats(0).reads};
}

double thread_cpu() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// A thread that wakes on a 1 kHz grid and does nothing else.
Run empty_timer(double seconds) {
  Run r{};
  std::thread t([&] {
    timespec next{};
    clock_gettime(CLOCK_MONOTONIC, &next);
    const auto w0 = std::chrono::steady_clock::now();
    const double c0 = thread_cpu();
    while (std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count() < seconds) {
      next.tv_nsec += 1000000;
      if (next.tv_nsec >= 1000000000) next.tv_nsec -= 1000000000, ++next.tv_sec;
      clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, nullptr);
      ++r.reads;
    }
    r.cpu_s = thread_cpu() - c0;
    r.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
  });
  t.join();
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 3.0;
  std::string tmpl = (fs::temp_directory_path() / "nnjoule-bench-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) return 1;
  const fs::path root = tmpl;
  auto zone = [&](const std::string& z, const std::string& name) {
    const fs::path d = root / "sys/class/powercap" / z;
    fs::create_directories(d);
    std::ofstream(d / "name") << name << "\n";
    std::ofstream(d / "energy_uj") << 123456789 << "\n";
    std::ofstream(d / "max_energy_range_uj") << 262143328850LL << "\n";
  };
  zone("intel-rapl:0", "package-0");
  zone("intel-rapl:0:0", "core");
  zone("intel-rapl:0:1", "dram");
  auto found = find_rapl(std::make_shared<SysFs>(root));
  if (found.at(0).status != Finding::Status::kFound) {
    fmt::print(stderr, "fake tree not usable: {}\n", found[0].reason);
    return 1;
  }
  const auto meter = found[0].meter;

  SamplerOptions fixed;
  fixed.fixed_interval_s = 0.001;
  const Run khz = run(meter, fixed, seconds);
  const Run adaptive = run(meter, SamplerOptions{}, seconds);
  const Run timer = empty_timer(seconds);
  fs::remove_all(root);

  auto line = [](const char* what, const Run& r) {
    fmt::print("{:<30} {:>8.0f} reads/s  {:>7.2f} us/read  thread CPU {:>6.3f}% of one core\n",
               what, r.reads / r.wall_s, r.cpu_s / std::max<int64_t>(r.reads, 1) * 1e6,
               100 * r.cpu_s / r.wall_s);
  };
  fmt::print("sampler overhead, fake RAPL tree with 3 domains, {:.1f} s per run\n", seconds);
  line("sampler, fixed 1 kHz", khz);
  line("baseline: empty 1 kHz timer", timer);
  line("sampler, adaptive (default)", adaptive);
  const double share = khz.cpu_s / khz.wall_s;
  const double wake = timer.cpu_s / std::max<int64_t>(timer.reads, 1);
  const double beyond = (khz.cpu_s - wake * static_cast<double>(khz.reads)) / khz.wall_s;
  fmt::print("1 kHz share of one core: {:.4f} (target < 0.01: {})\n", share,
             share < 0.01 ? "met" : "NOT met");
  fmt::print("of which waking up (empty timer): {:.4f}; sampler work beyond it: {:.4f}\n",
             share - beyond, beyond);
  fmt::print("ratio sampler / empty timer per wake-up: {:.2f}x\n",
             (khz.cpu_s / std::max<int64_t>(khz.reads, 1)) / wake);
  fmt::print("ratio 1 kHz / adaptive CPU: {:.1f}x\n",
             adaptive.cpu_s > 0 ? khz.cpu_s / adaptive.cpu_s : 0.0);
  return 0;
}
