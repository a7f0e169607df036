#include "nnjoule/meter/sampler.hpp"

#include <pthread.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "nnjoule/common/error.hpp"

namespace nnjoule::meter {
namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
// Changes needed before the mean gap between them counts as the update period.
constexpr int64_t kPeriodChanges = 5;
// Reads that all changed before concluding the meter updates faster than it is polled.
constexpr int64_t kUpperBoundReads = 9;

double thread_cpu_now() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}
}  // namespace

std::optional<double> wrap_period_s(const Domain& d) {
  if (d.signal != Signal::kEnergy || !(d.wrap_mj > 0) || !(d.max_power_mw > 0)) return std::nullopt;
  return d.wrap_mj / d.max_power_mw;  // mJ / mW = s
}

std::optional<double> wrap_poll_interval_s(const Domain& d, const SamplerOptions& o) {
  const auto period = wrap_period_s(d);
  if (!period) return std::nullopt;
  return *period / o.wrap_safety;
}

const MeterEnergy& EnergyWindow::meter(std::string_view which) const {
  for (const auto& m : meters)
    if (m.meter == which) return m;
  for (const auto& m : meters)
    if (m.kind == which) return m;
  fail("window '{}': no meter '{}'", name, which);
}

const MeterEnergy& EnergyWindow::primary() const {
  if (meters.empty()) fail("window '{}' has no meters", name);
  return meters.front();
}

Sampler::Sampler(std::vector<std::shared_ptr<Meter>> meters, Clock& clock, SamplerOptions options)
    : meters_(std::move(meters)), clock_(clock), opt_(options) {
  if (meters_.empty()) fail("sampler: no meters to sample");
  if (!(opt_.fastest_interval_s > 0) || opt_.min_interval_s < opt_.fastest_interval_s ||
      opt_.max_interval_s < opt_.min_interval_s || !std::isfinite(opt_.max_interval_s))
    fail("sampler: intervals must satisfy 0 < fastest ({}) <= min ({}) <= max ({})",
         opt_.fastest_interval_s, opt_.min_interval_s, opt_.max_interval_s);
  if (!(opt_.wrap_safety >= 1))
    fail("sampler: wrap_safety {} must be at least 1", opt_.wrap_safety);
  for (const auto& meter : meters_) {
    if (!meter) fail("sampler: null meter");
    MeterState m;
    m.meter = meter;
    const auto& doms = meter->domains();
    m.d.resize(doms.size());
    m.buf.assign(doms.size(), 0.0);
    for (const auto& d : doms) {
      if (d.signal == Signal::kEnergy) m.has_counter = true;
      if (d.signal == Signal::kPower) m.has_power = true;
    }
    m.polled = m.has_counter || m.has_power;
    // A counter that can wrap within a few polls is polled faster than usual, or refused when
    // even the fastest polls could miss a wrap.
    m.wrap_cap = kInf;
    m.floor = opt_.min_interval_s;
    for (const auto& d : doms) {
      const auto need = wrap_poll_interval_s(d, opt_);
      if (!need) continue;
      const std::string why = fmt::format(
          "counter '{}' wraps every {:g} ms at up to {:g} W ({})", d.name, *wrap_period_s(d) * 1e3,
          d.max_power_mw / 1e3, d.max_power_source.empty() ? "its ceiling" : d.max_power_source);
      if (*need < opt_.fastest_interval_s)
        fail(
            "{}: {}: catching every wrap needs a poll every {:g} ms, faster than the sampler "
            "polls ({:g} ms at most)",
            meter->name(), why, *need * 1e3, opt_.fastest_interval_s * 1e3);
      m.wrap_cap = std::min(m.wrap_cap, *need);
      if (*need < m.floor) {
        m.floor = *need;
        m.polling_note = fmt::format("polled every {:g} ms (not the usual {:g} ms): {}",
                                     *need * 1e3, opt_.min_interval_s * 1e3, why);
      }
    }
    if (auto known = meter->known_update_period_s()) {
      m.period = *known;
      m.period_known = true;
      m.discovering = false;
    }
    m.interval = opt_.fixed_interval_s > 0 ? opt_.fixed_interval_s : m.floor;
    m.next_due = m.polled ? -kInf : kInf;
    meter->attach_timeline(clock_.realtime_at_zero_s());
    state_.push_back(std::move(m));
  }
}

Sampler::~Sampler() {
  stop();
}

double Sampler::monotonic_locked(double now) {
  if (now < last_now_) now = last_now_;
  last_now_ = now;
  return now;
}

int Sampler::step(double now_s) {
  std::lock_guard lk(mu_);
  return step_locked(monotonic_locked(now_s));
}

int Sampler::step_locked(double now) {
  int n = 0;
  for (auto& m : state_) {
    if (m.polled && m.error.empty() && now >= m.next_due) {
      read_locked(m, now);
      ++n;
    }
  }
  return n;
}

double Sampler::next_due_s() const {
  std::lock_guard lk(mu_);
  double due = kInf;
  for (const auto& m : state_)
    if (m.polled && m.error.empty()) due = std::min(due, m.next_due);
  return due;
}

void Sampler::read_locked(MeterState& m, double now) {
  const auto& doms = m.meter->domains();
  try {
    m.meter->read(now, m.buf);
  } catch (const std::exception& e) {
    m.error = e.what();
    m.next_due = kInf;
    return;
  }
  bool changed = false;
  for (size_t i = 0; i < doms.size(); ++i) {
    const Domain& dom = doms[i];
    if (dom.signal == Signal::kOffline) continue;
    DomainState& s = m.d[i];
    const double v = m.buf[i];
    if (!std::isfinite(v)) {
      m.error = fmt::format("{}: domain '{}' read a non-finite value", m.meter->name(), dom.name);
      m.next_due = kInf;
      return;
    }
    if (!s.has) {
      s.has = true;
      s.raw = v;
      s.t = now;
      if (dom.signal == Signal::kPower) m.max_power_mw = std::max(m.max_power_mw, v);
      continue;
    }
    const double dt = now - s.t;
    double step = 0;
    if (dom.signal == Signal::kEnergy) {
      double delta = v - s.raw;
      if (delta < 0) {
        if (dom.wrap_mj <= 0) {
          m.error =
              fmt::format("{}: counter '{}' went backwards ({} -> {} mJ) and has no wrap range",
                          m.meter->name(), dom.name, s.raw, v);
          m.next_due = kInf;
          return;
        }
        // One wrap: polling faster than the wrap period (adapt_locked) rules out more.
        delta += dom.wrap_mj;
        ++s.wraps;
      }
      // With a listed ceiling the sampler knows when a read came too late to tell one wrap from
      // two: the counter could have moved delta + k x range, k >= 1, within its ceiling.
      if (dom.wrap_mj > 0 && dom.max_power_mw > 0 && !dom.max_power_assumed &&
          delta + dom.wrap_mj <= dom.max_power_mw * dt) {
        m.error = fmt::format(
            "{}: counter '{}' was read {:g} ms apart: at up to {:g} W ({}) it may have wrapped "
            "more than once in that time (range {:g} mJ), so its energy cannot be counted; the "
            "sampler fell behind (an overloaded machine?)",
            m.meter->name(), dom.name, dt * 1e3, dom.max_power_mw / 1e3,
            dom.max_power_source.empty() ? "its ceiling" : dom.max_power_source, dom.wrap_mj);
        m.next_due = kInf;
        return;
      }
      step = delta;
      s.cum_mj += delta;
      if (dt > 0) m.max_power_mw = std::max(m.max_power_mw, delta / dt);
    } else {
      step = std::fabs(v - s.raw);
      s.cum_mj += 0.5 * (s.raw + v) * dt;  // mW x s = mJ
      m.max_power_mw = std::max(m.max_power_mw, v);
    }
    if (step != 0) {
      changed = true;
      s.min_step = s.min_step == 0 ? step : std::min(s.min_step, step);
    }
    s.raw = v;
    s.t = now;
  }
  ++m.reads;
  if (m.reads > 1) {
    if (changed) {
      ++m.changes;
      if (!m.first_change_t)
        m.first_change_t = now;
      else
        ++m.span_changes;
      m.last_change_t = now;
      m.unchanged_run = 0;
    } else {
      ++m.unchanged_run;
      if (m.first_change_t) ++m.span_unchanged;
    }
  }
  m.last_t = now;
  const double prev_interval = m.interval;
  adapt_locked(m);
  // Keep a fixed grid while on time, so wake-up latency does not stretch every interval; restart
  // it after an edge read, a change of interval or a late wake-up.
  const double grid = m.next_due + m.interval;
  m.next_due =
      (m.interval == prev_interval && std::isfinite(m.next_due) && m.next_due <= now && grid > now)
          ? grid
          : now + m.interval;
}

void Sampler::adapt_locked(MeterState& m) {
  // The period is measured while discovering only: the fine polling then is what makes the gaps
  // between changes meaningful; later, coarser polls would measure the poll interval instead.
  if (!m.period_known && m.discovering) {
    if (m.span_changes + 1 >= kPeriodChanges && m.span_unchanged > 0) {
      // Mean gap between changes: time-based, so it stays right when the poll rate changes.
      m.period = (*m.last_change_t - *m.first_change_t) / static_cast<double>(m.span_changes);
      m.period_upper = false;
      m.discovering = false;
    } else if (m.reads >= kUpperBoundReads && m.span_unchanged == 0 && m.changes == m.reads - 1 &&
               (!m.period || m.period_upper)) {
      m.period = m.interval;
      m.period_upper = true;
      m.discovering = false;
    }
  }
  if (opt_.fixed_interval_s > 0) {
    m.interval = opt_.fixed_interval_s;
    return;
  }
  double iv = m.interval;
  if (m.discovering) {
    // Slow sensors (battery gauges) do not change for seconds: back off while waiting.
    if (m.unchanged_run > 0 && m.unchanged_run % opt_.backoff_reads == 0) iv *= 2;
  } else if (m.has_power) {
    iv = m.period_upper || !m.period ? opt_.min_interval_s : *m.period / 2;
  } else {
    iv = opt_.max_interval_s;  // counters are read at window edges; polls only catch wraps
  }
  if (m.has_counter && m.max_power_mw > 0) {
    for (const auto& d : m.meter->domains()) {
      if (d.signal == Signal::kEnergy && d.wrap_mj > 0)
        iv = std::min(iv, d.wrap_mj / m.max_power_mw / opt_.wrap_safety);
    }
  }
  iv = std::min(iv, m.wrap_cap);
  m.interval = std::clamp(iv, m.floor, opt_.max_interval_s);
}

Sampler::Snapshot Sampler::snapshot_locked(double now) {
  Snapshot s;
  s.t = now;
  for (auto& m : state_) {
    if (m.polled && m.error.empty() && !(m.reads > 0 && m.last_t == now)) read_locked(m, now);
    if (!m.error.empty()) fail("{}", m.error);
    std::vector<double> cum;
    std::vector<int64_t> wraps;
    for (const auto& d : m.d) {
      cum.push_back(d.cum_mj);
      wraps.push_back(d.wraps);
    }
    s.cum.push_back(std::move(cum));
    s.wraps.push_back(std::move(wraps));
    s.reads.push_back(m.reads);
    s.changes.push_back(m.changes);
  }
  return s;
}

void Sampler::begin_window(const std::string& name) {
  std::lock_guard lk(mu_);
  if (open_.count(name)) fail("window '{}' is already open", name);
  open_[name] = snapshot_locked(monotonic_locked(clock_.now_s()));
}

void Sampler::begin_window(const std::string& name, double now_s) {
  std::lock_guard lk(mu_);
  if (open_.count(name)) fail("window '{}' is already open", name);
  open_[name] = snapshot_locked(monotonic_locked(now_s));
}

EnergyWindow Sampler::end_window(const std::string& name) {
  return end_window(name, std::numeric_limits<double>::quiet_NaN());
}

EnergyWindow Sampler::end_window(const std::string& name, double now_s) {
  std::lock_guard lk(mu_);
  auto it = open_.find(name);
  if (it == open_.end()) fail("window '{}' was never opened", name);
  const Snapshot begin = std::move(it->second);
  open_.erase(it);
  const double now = monotonic_locked(std::isnan(now_s) ? clock_.now_s() : now_s);
  const Snapshot end = snapshot_locked(now);
  EnergyWindow w;
  w.name = name;
  w.begin_s = begin.t;
  w.end_s = now;
  const double dur = now - begin.t;
  w.duration_ms = dur * 1e3;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (size_t k = 0; k < state_.size(); ++k) {
    auto& m = state_[k];
    MeterEnergy me;
    me.meter = m.meter->name();
    me.kind = m.meter->kind();
    me.provenance = m.meter->provenance();
    me.reads = end.reads[k] - begin.reads[k] + 1;
    me.updates = end.changes[k] - begin.changes[k];
    const auto& doms = m.meter->domains();
    for (size_t i = 0; i < doms.size(); ++i) {
      DomainEnergy de;
      de.name = doms[i].name;
      de.signal = doms[i].signal;
      de.in_total = doms[i].in_total;
      de.energy_mj = doms[i].signal == Signal::kOffline ? m.meter->integrate_mj(i, begin.t, now)
                                                        : end.cum[k][i] - begin.cum[k][i];
      de.wraps = end.wraps[k][i] - begin.wraps[k][i];
      de.avg_power_mw = dur > 0 ? de.energy_mj / dur : nan;
      if (de.in_total) me.energy_mj += de.energy_mj;
      me.domains.push_back(std::move(de));
    }
    me.avg_power_mw = dur > 0 ? me.energy_mj / dur : nan;
    w.meters.push_back(std::move(me));
  }
  return w;
}

MeterStats Sampler::stats(size_t meter) const {
  std::lock_guard lk(mu_);
  const auto& m = state_.at(meter);
  MeterStats s;
  s.update_period_s = m.period;
  s.period_is_upper_bound = m.period_upper;
  s.period_known = m.period_known;
  s.interval_s = m.interval;
  s.reads = m.reads;
  s.changes = m.changes;
  s.max_power_mw = m.max_power_mw;
  s.error = m.error;
  s.polling_note = m.polling_note;
  for (size_t k = 0; k < m.d.size(); ++k) {
    const auto known = m.meter->known_resolution(k);
    s.resolution_known.push_back(known.has_value());
    s.resolution.push_back(known                 ? known
                           : m.d[k].min_step > 0 ? std::optional<double>(m.d[k].min_step)
                                                 : std::nullopt);
  }
  return s;
}

void Sampler::start() {
  if (thread_.joinable()) return;
  {
    std::lock_guard lk(mu_);
    stop_ = false;
  }
  thread_ = std::thread([this] { run(); });
}

void Sampler::stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Sampler::run() {
  std::unique_lock lk(mu_);
  const double cpu0 = thread_cpu_now();
  while (!stop_) {
    step_locked(monotonic_locked(clock_.now_s()));
    double due = kInf;
    for (const auto& m : state_)
      if (m.polled && m.error.empty()) due = std::min(due, m.next_due);
    double wait = due - clock_.now_s();
    if (!std::isfinite(wait)) wait = opt_.max_interval_s;
    if (wait <= 0) continue;
    cv_.wait_for(lk, std::chrono::duration<double>(wait));
  }
  final_cpu_s_ += thread_cpu_now() - cpu0;
}

double Sampler::thread_cpu_s() const {
  std::lock_guard lk(mu_);
  if (thread_.joinable()) {
    clockid_t cid;
    auto handle = const_cast<std::thread&>(thread_).native_handle();
    if (pthread_getcpuclockid(handle, &cid) == 0) {
      timespec ts{};
      if (clock_gettime(cid, &ts) == 0)
        return final_cpu_s_ + static_cast<double>(ts.tv_sec) +
               static_cast<double>(ts.tv_nsec) * 1e-9;
    }
  }
  return final_cpu_s_;
}

}  // namespace nnjoule::meter
