// Collection throughput: kernels per minute that `nnjoule collect kernels` measures and stores
// with a measurement profile (default quick), and the harness overhead outside the measured
// windows (building the single-kernel model, compiling it, warm-up, the shared idle baseline,
// storing the row), beside a baseline run of the same kernels: the bare protocol on models
// compiled beforehand, nothing built or stored.
// Usage: bench_collect_throughput [kernels, default 30] [profile: quick|standard]
// Numbers on the development VM are in docs/datasets.md (Collecting).
#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <map>

#include "nnjoule/collect/runner.hpp"
#include "nnjoule/common/table.hpp"
#include "nnjoule/exec/engine.hpp"
#include "nnjoule/exec/harness.hpp"
#include "nnjoule/kernels/detect.hpp"
#include "nnjoule/meter/discovery.hpp"
#include "nnjoule/zoo/kernel_models.hpp"

using namespace nnjoule;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

struct Item {
  double latency_ms = 0;
  double wall_s = 0;      // the whole item in the collection
  double windows_s = 0;   // inside measured windows
  double baseline_s = 0;  // the bare protocol on a precompiled model
  std::map<std::string, double> phases_s;
};

struct Share {
  int n = 0;
  double wall = 0, windows = 0, baseline = 0;
  std::map<std::string, double> phases_s;
  void add(const Item& i) {
    ++n;
    wall += i.wall_s;
    windows += i.windows_s;
    baseline += i.baseline_s;
    for (const auto& [p, t] : i.phases_s) phases_s[p] += t;
  }
};

}  // namespace

int main(int argc, char** argv) {
  const int64_t count = argc > 1 ? std::stoll(argv[1]) : 30;
  const std::string profile = argc > 2 ? argv[2] : "quick";

  meter::DiscoverOptions d;
  d.fs = std::make_shared<const meter::SysFs>("/");
  d.charge_this_process();
  auto sel = meter::select_meters(meter::discover_meters(d), {});
  meter::SteadyClock clock;
  meter::Sampler sampler(sel.meters, clock);
  collect::Context ctx{&sampler, collect::real_sleeper(), d.fs};
  collect::RunnerOptions ro;
  ro.protocol = collect::protocol_profile(profile);
  ro.idle_s = 1.0;
  auto runner = collect::make_runner(ctx, ro);
  sampler.start();

  const fs::path dir = fs::temp_directory_path() / fmt::format("nnjoule-bench-{}", getpid());
  fs::create_directories(dir);
  store::Store db(dir / "bench.db");

  collect::KernelCollectOptions ko;
  ko.count = count;
  ko.floor = 1;
  ko.seed = 1;
  auto t0 = Clock::now();
  const auto plan = collect::plan_kernels(*runner, ko);
  const double plan_s = since(t0);

  // Baseline: right after each collected kernel (so both see the same machine load), the bare
  // protocol on the same kernel, compiled beforehand; only measure_workload is timed.
  collect::ProtocolOptions po = ro.protocol;
  po.idle_s = 0;
  std::map<std::string, const collect::KernelPlanItem*> by_label;
  for (const auto& p : plan) by_label[p.type + " " + p.config.str()] = &p;
  std::vector<Item> items;
  double last_measuring = 0;
  std::atomic<bool> stop{false};
  t0 = Clock::now();
  const auto report =
      collect::collect_kernels(db, *runner, ko, stop, [&](const collect::Progress& p) {
        if (!p.result) return;
        Item i;
        i.latency_ms = p.result->m.latency_ms.value_or(0);
        i.wall_s = p.measuring_s - last_measuring;
        i.windows_s = p.result->measured_s;
        i.phases_s = p.result->phases_s;
        last_measuring = p.measuring_s;
        const collect::KernelPlanItem& item = *by_label.at(p.label);
        const graph::Graph g = zoo::build_kernel_model(item.type, item.config, ko.seed, true);
        auto compiled = exec::compile(g, {});
        exec::set_inputs(compiled, exec::random_inputs(compiled, 1));
        const auto b0 = Clock::now();
        collect::measure_workload(
            ctx,
            [&](int64_t n) {
              for (int64_t r = 0; r < n; ++r) compiled.run();
            },
            g.name, po);
        i.baseline_s = since(b0);
        items.push_back(i);
        fmt::print(stderr, "\r[{}/{}] {}", p.index, p.total, p.label.substr(0, 60));
      });
  const double total_s = since(t0);
  fmt::print(stderr, "\n");
  sampler.stop();
  fs::remove_all(dir);

  Share all, big, small;
  for (const auto& i : items) {
    all.add(i);
    (i.latency_ms >= 1.0 ? big : small).add(i);
  }
  auto row = [](const char* name, const Share& s) -> std::vector<std::string> {
    if (s.n == 0) return {name, "0", "-", "-", "-", "-"};
    return {name,
            std::to_string(s.n),
            fmt::format("{:.1f}", 60.0 * s.n / s.wall),
            fmt::format("{:.1f}%", 100.0 * (1 - s.windows / s.wall)),
            fmt::format("{:.1f}", 60.0 * s.n / s.baseline),
            fmt::format("{:.2f}", s.wall / s.baseline)};
  };
  TextTable t({"kernels", "n", "per minute", "overhead (outside windows)", "baseline per minute",
               "ratio to baseline"},
              {TextTable::Align::kLeft, TextTable::Align::kRight, TextTable::Align::kRight,
               TextTable::Align::kRight, TextTable::Align::kRight, TextTable::Align::kRight});
  t.add_row(row("all", all));
  t.add_row(row(">= 1 ms", big));
  t.add_row(row("< 1 ms", small));
  fmt::print("collect kernels, profile {}, meter {} ({}), 1 thread\n", profile,
             sampler.meters().front()->name(), report.provenance);
  fmt::print("prior and plan: {:.1f} s (once per collection)\n", plan_s);
  fmt::print(
      "collection: {} kernels in {:.1f} s of items: {:.1f} kernels per minute (prior "
      "excluded; baseline runs interleaved, {:.1f} s in all)\n\n",
      report.measured, all.wall, 60.0 * report.measured / all.wall, total_s);
  fmt::print("{}", t.render());
  for (const auto* share : {&all, &big}) {
    if (share->n == 0) continue;
    fmt::print("{} outside the windows:", share == &all ? "all kernels:" : "kernels >= 1 ms:");
    for (const auto& [phase, secs] : share->phases_s)
      fmt::print(" {} {:.1f}%,", phase, 100 * secs / share->wall);
    fmt::print("\n");
  }
  if (big.n > 0) {
    const double ov = 100.0 * (1 - big.windows / big.wall);
    fmt::print(
        "\ntarget: overhead under 20% of wall time for kernels of 1 ms and more: {:.1f}% "
        "({})\n",
        ov, ov < 20 ? "met" : "not met");
  }
  return 0;
}
