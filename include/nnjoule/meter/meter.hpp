#pragma once
// One interface for every power or energy sensor nnjoule reads. A meter has domains (RAPL
// package and dram, INA rails, one per GPU); each is an energy counter, a power reading the
// sampler integrates, or an offline trace integrated over a window after the fact.
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "nnjoule/common/provenance.hpp"

namespace nnjoule::meter {

enum class Signal {
  kEnergy,   // cumulative counter in mJ; read at window edges, polled only to catch wraps
  kPower,    // instantaneous power in mW; polled and integrated by the trapezoid rule
  kOffline,  // a recorded trace: integrated over a window's time span, never polled
};
std::string_view signal_name(Signal s);

struct Domain {
  std::string name;  // "package-0", "VDD_IN", "gpu0"
  Signal signal = Signal::kEnergy;
  double wrap_mj = 0;    // an energy counter returns to 0 after this value; 0: never wraps
  bool in_total = true;  // counted in the meter's total (false: part of another domain)
  std::string note;      // "inside package-0", "total rail", "cross-check of gpu0"
  // A wrapping counter's ceiling: the most the domain can draw (a RAPL zone's power limit).
  // Its range over this power is the shortest wrap period, which sets how often the sampler
  // must poll (wrap_poll_interval_s). 0: not known.
  double max_power_mw = 0;
  std::string max_power_source;    // "constraint_1_max_power_uw", "assumed: ...", ...
  bool max_power_assumed = false;  // a ceiling assumed, not listed by the device
};

class Meter {
 public:
  virtual ~Meter() = default;
  // The family ("rapl", "perf", "nvml", "ina", "hwmon", "battery", "trace", "estimate").
  virtual std::string kind() const = 0;
  // This instance ("rapl", "hwmon:amdgpu"); --meter accepts either.
  virtual std::string name() const { return kind(); }
  // measured (name) for sensors; the estimate overrides it.
  virtual Provenance provenance() const { return {Origin::kMeasured, name()}; }
  const std::vector<Domain>& domains() const { return domains_; }

  // Reads every polled domain once at `now_s` on the sampler timeline: out[i] is the raw
  // counter (mJ) or the power (mW) of domain i; offline slots are left alone. Throws Error.
  virtual void read(double now_s, std::span<double> out) = 0;
  // Offline domains: energy in [t0_s, t1_s] of the sampler timeline.
  virtual double integrate_mj(size_t domain, double t0_s, double t1_s);
  // A period that needs no measuring (a model's tick, a trace's sample spacing).
  virtual std::optional<double> known_update_period_s() const { return std::nullopt; }
  // A smallest step that needs no measuring (a model's one tick of busy time, mJ): the step a
  // probe sees in a modelled counter is only its own polling interval times the idle power.
  virtual std::optional<double> known_resolution(size_t domain) const {
    (void)domain;
    return std::nullopt;
  }
  // The sampler tells each meter which wall-clock time its timeline's zero is.
  virtual void attach_timeline(double realtime_at_zero_s) { (void)realtime_at_zero_s; }

 protected:
  std::vector<Domain> domains_;
};

// What discovery says about one meter family (or one instance of it).
struct Finding {
  enum class Status {
    kFound,     // usable; `meter` is set
    kNotFound,  // no such sensor here; `reason` says what was looked for
    kRefused,   // present but unusable or unsafe; `reason` says why and how to fix it
    kNotUsed,   // needs an option to be used (a trace file)
  };
  std::string kind;
  std::string name;
  Status status = Status::kNotFound;
  std::string reason;  // for kFound: details worth showing (the estimate's basis)
  std::shared_ptr<Meter> meter;
};
std::string_view status_name(Finding::Status s);

// One monotonic timeline for every meter in a measurement. Seconds since the clock's zero.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual double now_s() = 0;
  // Wall-clock (Unix epoch seconds) at this clock's zero; aligns external traces.
  virtual double realtime_at_zero_s() = 0;
};

// std::chrono::steady_clock (CLOCK_MONOTONIC), zero at construction.
class SteadyClock : public Clock {
 public:
  SteadyClock();
  double now_s() override;
  double realtime_at_zero_s() override { return realtime_zero_; }

 private:
  int64_t zero_ns_;
  double realtime_zero_;
};

// Moved by hand: deterministic tests and replayed traces.
class ManualClock : public Clock {
 public:
  explicit ManualClock(double start_s = 0, double realtime_at_zero_s = 0)
      : now_(start_s), realtime_zero_(realtime_at_zero_s) {}
  double now_s() override { return now_; }
  double realtime_at_zero_s() override { return realtime_zero_; }
  void set(double t) { now_ = t; }
  void advance(double dt) { now_ += dt; }

 private:
  double now_;
  double realtime_zero_;
};

}  // namespace nnjoule::meter
