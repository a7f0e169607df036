#include "nnjoule/collect/protocol.hpp"

#include <algorithm>
#include <cmath>
#include <thread>

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/parse.hpp"
#include "nnjoule/common/stats.hpp"
#include "nnjoule/common/table.hpp"
#include "nnjoule/meter/meters.hpp"

namespace nnjoule::collect {
namespace {

using meter::EnergyWindow;

double now(const Context& ctx) {
  return ctx.sampler->clock().now_s();
}

void check(const Context& ctx, const ProtocolOptions& o) {
  if (!ctx.sampler) fail("measurement: no sampler");
  if (!ctx.sleep) fail("measurement: no sleeper");
  if (!ctx.fs) fail("measurement: no sysfs root");
  if (o.idle_s < 0) fail("idle baseline must not be negative (got {} s)", o.idle_s);
  if (!(o.ci_target > 0)) fail("CI target must be positive (got {})", o.ci_target);
  if (o.min_windows < 2) fail("at least 2 windows are needed for a confidence interval");
  if (o.max_windows < o.min_windows)
    fail("max windows ({}) < min windows ({})", o.max_windows, o.min_windows);
  if (!(o.time_cap_s > 0)) fail("time cap must be positive (got {} s)", o.time_cap_s);
  if (o.min_window_s < 0 || o.min_updates < 0) fail("window minimums must not be negative");
  if (!(o.max_steal > 0) || !(o.max_cpu_pressure > 0) || o.max_disturbed < 0)
    fail("disturbance limits must be positive (steal {}, CPU pressure {}, re-measured {})",
         o.max_steal, o.max_cpu_pressure, o.max_disturbed);
}

std::optional<EnergyWindow> idle(const Context& ctx, const std::string& name, double s) {
  if (s <= 0) return std::nullopt;
  ctx.sampler->begin_window(name);
  ctx.sleep(s);
  return ctx.sampler->end_window(name);
}

std::optional<double> mean_of(std::optional<double> a, std::optional<double> b) {
  if (a && b) return (*a + *b) / 2;
  return a ? a : b;
}

std::optional<double> finite(double v) {
  return std::isfinite(v) ? std::optional<double>(v) : std::nullopt;
}

// The update period the window length must cover K times, with what to say when unknown.
std::optional<double> primary_period(const Context& ctx, Measurement& m) {
  const auto st = ctx.sampler->stats(0);
  if (st.update_period_s) return st.update_period_s;
  m.notes.push_back(fmt::format(
      "the update period of {} was not measured (its value did not change in {} reads); window "
      "length from the minimum duration only",
      m.meter, st.reads));
  return std::nullopt;
}

// The host's interference around one window: the machine's CPU ticks (steal) and the CPU
// pressure stall counter, read at both edges. Either may be unreadable (no /proc/pressure
// before Linux 4.20, a fake tree without it): then it is not judged, and says so.
struct HostLoad {
  std::optional<meter::CpuTicks> ticks;
  std::optional<int64_t> pressure_us;  // /proc/pressure/cpu "some" total
};

HostLoad read_host_load(const meter::SysFs* fs) {
  HostLoad h;
  if (!fs) return h;
  try {
    if (auto stat = fs->read("/proc/stat")) h.ticks = meter::parse_cpu_ticks(*stat, "/proc/stat");
  } catch (const Error&) {
  }
  if (auto psi = fs->read("/proc/pressure/cpu")) {
    const auto at = psi->find("total=");
    if (psi->rfind("some ", 0) == 0 && at != std::string::npos) {
      const std::string_view line(*psi);
      h.pressure_us = parse_integer(line.substr(at + 6, line.find('\n', at) - at - 6));
      if (h.pressure_us && *h.pressure_us < 0) h.pressure_us.reset();
    }
  }
  return h;
}

struct Disturbance {
  std::optional<double> steal, pressure;  // shares of the window
};

Disturbance disturbance(const HostLoad& a, const HostLoad& b, double dur_s) {
  Disturbance d;
  if (a.ticks && b.ticks && b.ticks->total > a.ticks->total)
    d.steal = static_cast<double>(b.ticks->steal - a.ticks->steal) /
              static_cast<double>(b.ticks->total - a.ticks->total);
  if (a.pressure_us && b.pressure_us && dur_s > 0)
    d.pressure = static_cast<double>(*b.pressure_us - *a.pressure_us) / (dur_s * 1e6);
  return d;
}

// A baseline that moved more than this between before and after is reported: the work's own
// after-effects (a GPU's clocks stay up for seconds after load) or the host changed.
constexpr double kIdleDriftNote = 0.10;

void note_drift(Measurement& m, double before_mw, double after_mw) {
  const double rel = std::abs(after_mw - before_mw) / std::max((before_mw + after_mw) / 2, 1e-9);
  if (rel > kIdleDriftNote)
    m.notes.push_back(fmt::format(
        "idle power after the work ({} mW) differs from before ({} mW) by {:.0f}%: the device had "
        "not returned to idle (tail power, temperature) or its load changed; dynamic energy is "
        "uncertain by +/- {} mJ",
        format_number(after_mw), format_number(before_mw), rel * 100,
        format_number(*m.dynamic_energy_drift_mj)));
  // Below idle is noise too (a counter's coarse steps, the baselines' own spread), not a
  // negative cost: the H200's idle `sleep 2` came out -451 mJ against a 438 mJ band.
  if (*m.dynamic_energy_mj <= *m.dynamic_energy_drift_mj)
    m.notes.push_back(fmt::format(
        "dynamic energy {} mJ is not distinguishable from idle on this meter (the idle baseline "
        "drifted by +/- {} mJ over the work)",
        format_number(*m.dynamic_energy_mj), format_number(*m.dynamic_energy_drift_mj)));
}

// Sums the kept windows per meter and splits them into idle and dynamic energy.
void fill(Measurement& m, const Context& ctx, const std::vector<EnergyWindow>& windows,
          const std::optional<EnergyWindow>& before, const std::optional<EnergyWindow>& after) {
  const auto& meters = ctx.sampler->meters();
  double dur_s = 0;
  for (const auto& w : windows) dur_s += w.duration_ms / 1e3;
  m.duration_ms = dur_s * 1e3;
  for (size_t k = 0; k < meters.size(); ++k) {
    MeterResult r;
    r.meter = meters[k]->name();
    r.kind = meters[k]->kind();
    r.provenance = meters[k]->provenance();
    for (const auto& d : meters[k]->domains()) r.domains.push_back({d.name, d.in_total, 0, 0});
    for (const auto& w : windows) {
      r.energy_mj += w.meters[k].energy_mj;
      for (size_t i = 0; i < r.domains.size(); ++i)
        r.domains[i].energy_mj += w.meters[k].domains[i].energy_mj;
    }
    r.avg_power_mw = dur_s > 0 ? r.energy_mj / dur_s : 0;
    for (auto& d : r.domains) d.avg_power_mw = dur_s > 0 ? d.energy_mj / dur_s : 0;
    std::optional<double> pb, pa;
    if (before) pb = finite(before->meters[k].avg_power_mw);
    if (after) pa = finite(after->meters[k].avg_power_mw);
    r.idle_power_mw = mean_of(pb, pa);
    if (r.idle_power_mw) r.dynamic_energy_mj = r.energy_mj - *r.idle_power_mw * dur_s;
    const auto st = ctx.sampler->stats(k);
    if (st.update_period_s) r.update_period_ms = *st.update_period_s * 1e3;
    r.update_period_upper_bound = st.period_is_upper_bound;
    if (k == 0) {
      m.energy_mj = r.energy_mj;
      m.avg_power_mw = r.avg_power_mw;
      m.idle_before_mw = pb;
      m.idle_after_mw = pa;
      m.idle_power_mw = r.idle_power_mw;
      m.dynamic_energy_mj = r.dynamic_energy_mj;
      if (pb && pa && r.dynamic_energy_mj) {
        m.dynamic_energy_drift_mj = std::abs(*pb - *pa) / 2 * dur_s;
        note_drift(m, *pb, *pa);
      }
    }
    m.meters.push_back(std::move(r));
  }
  if (!m.idle_power_mw) m.notes.push_back("no idle baseline: dynamic energy unknown");
}

Measurement start(const Context& ctx, const std::string& name, const std::string& kind,
                  int threads) {
  Measurement m;
  m.workload = name;
  m.kind = kind;
  const auto& primary = ctx.sampler->meters().front();
  m.meter = primary->name();
  m.provenance = primary->provenance();
  m.device = read_device_state(*ctx.fs, threads, ctx.sampler->meters());
  m.device.pinned_clocks = ctx.pinned;
  for (const auto& p : ctx.pinned)
    m.device.notes.push_back(fmt::format(
        "cluster {} {} pinned at {} MHz with --pin-freq {} ({}); its previous limits {}-{} MHz "
        "are written back afterwards",
        p.cluster, cpu_ranges(p.cpus), format_number(p.mhz), p.requested, p.method,
        format_number(p.saved_min_mhz.value_or(0)), format_number(p.saved_max_mhz.value_or(0))));
  return m;
}

}  // namespace

Sleeper real_sleeper() {
  return [](double s) { std::this_thread::sleep_for(std::chrono::duration<double>(s)); };
}

Measurement measure_workload(const Context& ctx, const Workload& workload, const std::string& name,
                             const ProtocolOptions& o, const WindowHooks& hooks) {
  check(ctx, o);
  Measurement m = start(ctx, name, "model", o.threads);
  const auto before = idle(ctx, "idle-before", o.idle_s);

  // Warm-up; its mean latency sizes the windows.
  const double t0 = now(ctx);
  int64_t runs = 0;
  while (runs < o.warmup_runs || now(ctx) - t0 < o.warmup_s) {
    workload(1);
    ++runs;
    if (now(ctx) - t0 > o.time_cap_s) break;
  }
  const double latency_est =
      std::max((now(ctx) - t0) / static_cast<double>(std::max<int64_t>(runs, 1)), 1e-9);

  const auto period = primary_period(ctx, m);
  const double target = std::max(o.min_window_s, period ? o.min_updates * *period : 0.0);
  m.window_target_ms = target * 1e3;
  int64_t n = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(target / latency_est)));

  std::vector<EnergyWindow> kept;
  std::vector<int64_t> per_window;
  std::vector<double> energy, latency;
  int short_windows = 0;
  const double t_start = now(ctx);
  for (;;) {
    const std::string wname =
        fmt::format("window-{}", kept.size() + short_windows + m.disturbed_windows);
    const HostLoad load0 = read_host_load(ctx.fs.get());
    const auto clocks0 = cluster_clocks(*ctx.fs, m.device.clusters);
    if (hooks.begin) hooks.begin();
    ctx.sampler->begin_window(wname);
    workload(n);
    EnergyWindow w = ctx.sampler->end_window(wname);
    const double dur_s = w.duration_ms / 1e3;
    const Disturbance dist = disturbance(load0, read_host_load(ctx.fs.get()), dur_s);
    if (!(dur_s > 0))
      fail("{}: a window of {} inferences took no time on the sampler's clock", name, n);
    const bool capped = now(ctx) - t_start >= o.time_cap_s;
    if (dur_s < target * (1 - 1e-9)) {  // rounding in the clock is not a short window
      // The warm-up's latency was optimistic: more inferences per window, and try again.
      ++short_windows;
      if (hooks.end) hooks.end(false);
      const double grow = dur_s > 0 ? target / dur_s * 1.05 : 2.0;
      n = std::max(n + 1, static_cast<int64_t>(std::ceil(static_cast<double>(n) * grow)));
      if (capped) {
        m.stop_reason = "time cap";
        break;
      }
      continue;
    }
    const bool disturbed = (dist.steal && *dist.steal > o.max_steal) ||
                           (dist.pressure && *dist.pressure > o.max_cpu_pressure);
    if (disturbed && m.disturbed_windows < o.max_disturbed && !capped) {
      ++m.disturbed_windows;  // another process or VM took the CPU: measure the window again
      if (hooks.end) hooks.end(false);
      continue;
    }
    m.disturbed = m.disturbed || disturbed;
    auto worst = [](std::optional<double>& acc, const std::optional<double>& v) {
      if (v) acc = std::max(acc.value_or(0.0), *v);
    };
    worst(m.max_steal_share, dist.steal);
    worst(m.max_cpu_pressure_share, dist.pressure);
    if (hooks.end) hooks.end(true);
    const auto clocks = cluster_clocks(*ctx.fs, m.device.clusters);
    const auto governors = cluster_governors(*ctx.fs, m.device.clusters);
    for (size_t c = 0; c < clocks.size(); ++c) {
      if (m.window_clocks.size() <= c)
        m.window_clocks.push_back({m.device.clusters[c].name, {}, {}, {}});
      auto& wc = m.window_clocks[c];
      wc.governor_end = governors[c];
      for (const auto& v : {clocks0[c], clocks[c]}) {
        if (!v) continue;
        wc.min_mhz = std::min(wc.min_mhz.value_or(*v), *v);
        wc.max_mhz = std::max(wc.max_mhz.value_or(*v), *v);
      }
    }
    energy.push_back(w.primary().energy_mj / static_cast<double>(n));
    latency.push_back(w.duration_ms / static_cast<double>(n));
    per_window.push_back(n);
    kept.push_back(std::move(w));
    if (static_cast<int>(kept.size()) >= o.min_windows) {
      const double mean = stats::mean(energy);
      const double rel = stats::ci95_halfwidth(energy) / std::fabs(mean);
      if (rel <= o.ci_target) {
        m.converged = true;
        m.stop_reason = "ci target met";
        break;
      }
    }
    if (static_cast<int>(kept.size()) >= o.max_windows) {
      m.stop_reason = "max windows";
      break;
    }
    if (capped) {
      m.stop_reason = "time cap";
      break;
    }
  }
  m.temperatures_end = read_temperatures(*ctx.fs);
  const auto after = idle(ctx, "idle-after", o.idle_s);
  if (kept.empty())
    fail("{}: no window reached the target length of {:.3f} s within the time cap of {} s", name,
         target, o.time_cap_s);
  if (short_windows > 0)
    m.notes.push_back(fmt::format("{} window(s) shorter than {:.3f} s discarded and resized",
                                  short_windows, target));
  if (m.disturbed_windows > 0)
    m.notes.push_back(fmt::format(
        "{} window(s) measured again: steal above {:.0f}% or CPU pressure above {:.0f}% of the "
        "window (other processes or virtual machines took the CPU)",
        m.disturbed_windows, o.max_steal * 100, o.max_cpu_pressure * 100));
  if (m.disturbed)
    m.notes.push_back(fmt::format(
        "disturbed: windows with steal up to {} and CPU pressure up to {} of the window had to be "
        "kept (the limit of {} re-measured windows was reached); latency and energy carry that "
        "interference",
        m.max_steal_share ? fmt::format("{:.0f}%", *m.max_steal_share * 100) : "unknown",
        m.max_cpu_pressure_share ? fmt::format("{:.0f}%", *m.max_cpu_pressure_share * 100)
                                 : "unknown",
        o.max_disturbed));

  fill(m, ctx, kept, before, after);
  m.windows = static_cast<int>(kept.size());
  m.inferences_per_window = per_window.back();
  for (int64_t k : per_window) m.inferences += k;
  m.energy_per_inference_mj = stats::mean(energy);
  m.energy_ci95_mj = finite(stats::ci95_halfwidth(energy));
  if (m.energy_ci95_mj && *m.energy_per_inference_mj != 0)
    m.energy_ci95_rel = *m.energy_ci95_mj / std::fabs(*m.energy_per_inference_mj);
  m.latency_ms = stats::mean(latency);
  m.latency_ci95_ms = finite(stats::ci95_halfwidth(latency));
  if (m.idle_power_mw) {
    std::vector<double> dyn;
    for (size_t i = 0; i < kept.size(); ++i)
      dyn.push_back((kept[i].primary().energy_mj - *m.idle_power_mw * kept[i].duration_ms / 1e3) /
                    static_cast<double>(per_window[i]));
    m.dynamic_energy_per_inference_mj = stats::mean(dyn);
  }
  if (!m.converged)
    m.notes.push_back(fmt::format("stopped by {} before the 95% CI reached {:.1f}% of the mean",
                                  m.stop_reason, o.ci_target * 100));
  return m;
}

Measurement measure_run(const Context& ctx, const std::function<CommandResult()>& run,
                        const std::string& name, const ProtocolOptions& o) {
  check(ctx, o);
  Measurement m = start(ctx, name, "command", o.threads);
  const auto before = idle(ctx, "idle-before", o.idle_s);
  ctx.sampler->begin_window("run");
  CommandResult result;
  try {
    result = run();
  } catch (...) {
    ctx.sampler->end_window("run");
    throw;
  }
  EnergyWindow w = ctx.sampler->end_window("run");
  const auto after = idle(ctx, "idle-after", o.idle_s);
  const int code = result.exit_code;
  m.exit_code = code;
  m.cpu_time_ms = result.cpu_s * 1e3;
  m.windows = 1;
  m.stop_reason = "command finished";
  fill(m, ctx, {w}, before, after);
  if (const auto period = ctx.sampler->stats(0).update_period_s) {
    const double need = o.min_updates * *period;
    m.window_target_ms = need * 1e3;
    if (w.duration_ms / 1e3 < need)
      m.notes.push_back(fmt::format(
          "the run lasted {:.3f} s, less than {} updates of {} ({:.3f} s each): coarse result",
          w.duration_ms / 1e3, o.min_updates, m.meter, *period));
  }
  if (code != 0) m.notes.push_back(fmt::format("the command exited with status {}", code));
  return m;
}

}  // namespace nnjoule::collect
