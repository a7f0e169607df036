#include "nnjoule/collect/runner.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/stats.hpp"
#include "nnjoule/exec/engine.hpp"
#include "nnjoule/exec/harness.hpp"
#include "nnjoule/zoo/kernel_models.hpp"

namespace nnjoule::collect {

using nlohmann::json;
using store::Device;

ProtocolOptions protocol_profile(const std::string& name) {
  ProtocolOptions o;
  if (name == "quick") {
    o.warmup_runs = 3;
    o.warmup_s = 0.1;
    o.min_window_s = 0.2;
    o.min_windows = 3;
    o.max_windows = 50;
    o.ci_target = 0.05;
    o.time_cap_s = 5;
    return o;
  }
  if (name == "standard") {
    o.time_cap_s = 30;
    return o;
  }
  fail("unknown measurement profile '{}' (expected quick or standard)", name);
}

namespace {

// The host reference kernel (RunnerOptions::host_reference).
const kernels::KernelConfig kReferenceConfig{
    {"HW", 28}, {"CIN", 64}, {"COUT", 64}, {"KERNEL_SIZE", 3}, {"STRIDES", 1}};
constexpr const char* kReferenceType = "conv-bn-relu";

std::string os_release() {
  std::ifstream in("/etc/os-release");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("PRETTY_NAME=", 0) == 0) {
      std::string v = line.substr(12);
      if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
      return v;
    }
  }
  return {};
}

std::optional<double> dynamic_of(const std::optional<double>& energy_mj,
                                 const std::optional<double>& idle_mw,
                                 const std::optional<double>& latency_ms) {
  if (!energy_mj || !idle_mw || !latency_ms) return std::nullopt;
  return *energy_mj - *idle_mw * *latency_ms / 1000.0;
}

class EngineRunner : public Runner {
 public:
  EngineRunner(const Context& ctx, const RunnerOptions& o) : ctx_(ctx), o_(o) {
    if (!ctx_.sampler || ctx_.sampler->meters().empty()) fail("the runner needs a meter");
    if (o_.threads < 1) fail("threads must be at least 1 (got {})", o_.threads);
    device_ = describe_host(ctx_);
  }

  Device device() override { return device_; }
  json key_settings() override {
    json k = {{"threads", o_.threads},
              {"cpus", o_.cpus},
              {"meter", ctx_.sampler->meters().front()->name()},
              {"runtime", device_.runtime}};
    // A kernel at another pinned clock is another measurement; unpinned keys stay as they were.
    if (!ctx_.pinned.empty()) {
      json pins = json::object();
      for (const auto& p : ctx_.pinned) pins[p.cluster] = p.mhz;
      k["pinned_mhz"] = pins;
    }
    return k;
  }
  json run_settings() override {
    const auto& p = o_.protocol;
    json s = key_settings();
    s["protocol"] = {{"warmup_runs", p.warmup_runs},   {"warmup_s", p.warmup_s},
                     {"min_window_s", p.min_window_s}, {"min_updates", p.min_updates},
                     {"ci_target", p.ci_target},       {"min_windows", p.min_windows},
                     {"max_windows", p.max_windows},   {"time_cap_s", p.time_cap_s}};
    s["idle_baseline"] = {{"idle_s", o_.idle_s}, {"every_s", o_.idle_every_s}, {"shared", true}};
    s["breakdown"] = "per-kernel times of the measured windows' own runs";
    s["input_seed"] = o_.input_seed;
    return s;
  }
  Provenance provenance() override { return ctx_.sampler->meters().front()->provenance(); }
  int threads() override { return o_.threads; }

  RunResult measure(const graph::Graph& g, const std::vector<kernels::Kernel>& ks,
                    bool breakdown) override {
    RunResult r;
    auto t = Clock::now();
    exec::CompileOptions co;
    co.threads = o_.threads;
    co.cpus = o_.cpus;
    exec::CompiledModel compiled = exec::compile(g, co);
    exec::set_inputs(compiled, exec::random_inputs(compiled, o_.input_seed));
    r.phases_s["compile"] = lap(t);
    if (refresh_idle()) r.phases_s["idle baseline"] = lap(t);
    const std::optional<double> reference_before = time_reference();
    double reference_s = lap(t);

    ProtocolOptions po = o_.protocol;
    po.idle_s = 0;
    po.threads = o_.threads;
    // With a breakdown, every inference of the measured windows times its steps (one clock read
    // between steps): the kernels' latencies come from the very runs behind the model's, so
    // their sum and the whole agree by construction up to the time between steps.
    const size_t n_steps = compiled.steps().size();
    std::vector<double> step(n_steps), pending(n_steps, 0.0), kept(n_steps, 0.0);
    int64_t pending_n = 0, kept_windows = 0;
    WindowHooks hooks;
    if (breakdown) {
      hooks.begin = [&] {
        std::fill(pending.begin(), pending.end(), 0.0);
        pending_n = 0;
      };
      // Per-window means, averaged over the windows as the model's latency is: the kernels then
      // sum to at most the model's latency whatever the windows' sizes.
      hooks.end = [&](bool keep) {
        if (!keep || pending_n == 0) return;
        for (size_t s = 0; s < n_steps; ++s) kept[s] += pending[s] / static_cast<double>(pending_n);
        ++kept_windows;
      };
    }
    Measurement m = measure_workload(
        ctx_,
        [&](int64_t n) {
          if (!breakdown) {
            for (int64_t i = 0; i < n; ++i) compiled.run();
            return;
          }
          for (int64_t i = 0; i < n; ++i) {
            compiled.run_timed(step);
            for (size_t s = 0; s < n_steps; ++s) pending[s] += step[s];
          }
          pending_n += n;
        },
        g.name, po, hooks);
    r.measured_s = m.duration_ms / 1000.0;
    r.phases_s["warm-up and stopping rule"] = std::max(0.0, lap(t) - r.measured_s);
    r.m.latency_ms = m.latency_ms;
    r.m.latency_ci_ms = m.latency_ci95_ms;
    r.m.energy_mj = m.energy_per_inference_mj;
    r.m.energy_ci_mj = m.energy_ci95_mj;
    r.m.power_mw = m.avg_power_mw;
    r.m.idle_power_mw = idle_mw_;
    r.m.dynamic_energy_mj = dynamic_of(r.m.energy_mj, idle_mw_, r.m.latency_ms);
    r.m.n = m.inferences;
    r.m.provenance = m.provenance;
    if (!o_.cpus.empty()) {
      // The engine pins its threads: the clusters they ran on are these CPUs' (the predictor
      // reads the cluster and its clock from here).
      m.device.affinity = o_.cpus;
      m.device.cores_used = std::min<int>(o_.threads, static_cast<int>(o_.cpus.size()));
    }
    r.m.device_state = to_json(m.device);
    r.m.device_state["window_clocks"] = window_clocks_json(m);
    if (reference_before) {
      const double after = *time_reference();
      r.phases_s["host reference"] = reference_s + lap(t);
      r.m.device_state["host_reference"] = {
          {"workload", fmt::format("{} {} (nnjoule exec)", kReferenceType, kReferenceConfig.str())},
          {"before_ms", *reference_before},
          {"after_ms", after},
          {"ms", std::sqrt(*reference_before * after)}};
    }
    if (!m.converged) r.m.flags.push_back("ci_not_met");
    if (m.disturbed) r.m.flags.push_back("disturbed");
    if (breakdown && kept_windows > 0) {
      // The mean step times of the kept windows' inferences, as one "run" for per_kernel.
      exec::LatencyResult lat;
      lat.step_ms.resize(n_steps);
      double sum = 0;
      for (size_t s = 0; s < n_steps; ++s) {
        lat.step_ms[s] = {kept[s] / static_cast<double>(kept_windows)};
        sum += lat.step_ms[s][0];
      }
      lat.samples_ms = {sum};
      const auto timings = exec::per_kernel(compiled, lat, ks);
      r.kernel_latency_ms.assign(ks.size(), std::nullopt);
      for (size_t i = 0; i < ks.size(); ++i) {
        for (const auto& kt : timings) {
          if (kt.name == ks[i].name && !kt.steps.empty()) r.kernel_latency_ms[i] = kt.ms.median;
        }
      }
    }
    return r;
  }

 private:
  using Clock = std::chrono::steady_clock;
  static double lap(Clock::time_point& t) {
    const auto now = Clock::now();
    const double s = std::chrono::duration<double>(now - t).count();
    t = now;
    return s;
  }

  // The median of 9 runs of the reference kernel (after one warm-up), compiled once with the
  // measurement's threads and CPUs; nullopt when the runner takes no reference.
  std::optional<double> time_reference() {
    if (!o_.host_reference) return std::nullopt;
    if (!reference_) {
      const graph::Graph g = zoo::build_kernel_model(kReferenceType, kReferenceConfig, 1, true);
      exec::CompileOptions co;
      co.threads = o_.threads;
      co.cpus = o_.cpus;
      reference_ = std::make_unique<exec::CompiledModel>(exec::compile(g, co));
      exec::set_inputs(*reference_, exec::random_inputs(*reference_, 1));
    }
    reference_->run();
    std::vector<double> ms;
    for (int i = 0; i < 9; ++i) {
      const auto t0 = Clock::now();
      reference_->run();
      ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    return stats::median(ms);
  }

  // The shared idle baseline: idle power before and after a window around nothing. True when
  // it was (re)taken now.
  bool refresh_idle() {
    if (o_.idle_s <= 0) return false;
    const auto now = std::chrono::steady_clock::now();
    if (idle_taken_ && (o_.idle_every_s <= 0 ||
                        std::chrono::duration<double>(now - idle_at_).count() < o_.idle_every_s)) {
      return false;
    }
    ProtocolOptions po = o_.protocol;
    po.idle_s = o_.idle_s;
    po.threads = o_.threads;
    const Measurement m = measure_run(
        ctx_, [] { return CommandResult{}; }, "idle baseline", po);
    idle_mw_ = m.idle_power_mw;
    idle_taken_ = true;
    idle_at_ = std::chrono::steady_clock::now();
    return true;
  }

  Context ctx_;
  RunnerOptions o_;
  Device device_;
  std::optional<double> idle_mw_;
  bool idle_taken_ = false;
  std::chrono::steady_clock::time_point idle_at_;
  std::unique_ptr<exec::CompiledModel> reference_;
};

}  // namespace

Device describe_host(const Context& ctx) {
  Device d;
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) == 0) d.name = host;
  if (d.name.empty()) d.name = "localhost";
  utsname u{};
  std::string kernel;
  if (uname(&u) == 0) {
    d.arch = u.machine;
    kernel = u.release;
  }
  const DeviceState state = read_device_state(
      *ctx.fs, 0,
      ctx.sampler ? ctx.sampler->meters() : std::vector<std::shared_ptr<meter::Meter>>{});
  d.cpu = state.cpu_model;
  d.cores = state.logical_cores;
  const std::string os = os_release();
  d.os = os.empty() ? "Linux " + kernel : fmt::format("{} (Linux {})", os, kernel);
  d.runtime = "XNNPACK (nnjoule exec)";
  return d;
}

std::unique_ptr<Runner> make_runner(const Context& ctx, const RunnerOptions& options) {
  return std::make_unique<EngineRunner>(ctx, options);
}

}  // namespace nnjoule::collect
