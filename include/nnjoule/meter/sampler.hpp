#pragma once
// The sampler: one thread per measurement polls every meter on one monotonic timeline, each at
// a rate adapted to the update period it measures for that meter; energy windows can be opened
// and closed from any thread, nested or overlapping. Tests drive step(now) by hand instead.
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "nnjoule/meter/meter.hpp"

namespace nnjoule::meter {

struct SamplerOptions {
  double min_interval_s = 0.001;  // never poll a meter faster than this ...
  // ... unless a counter's shortest wrap period asks for it (down to this; a counter that would
  // need faster polls is refused)
  double fastest_interval_s = 0.0001;
  double max_interval_s = 0.25;  // never slower (keeps stop() and edges prompt)
  double fixed_interval_s = 0;   // > 0: poll every meter at this interval, no adaptation
  double wrap_safety = 4;        // polls per shortest wrap period of a counter, at least
  int backoff_reads = 32;        // unchanged reads in a row before the interval doubles
};

// How often a wrapping counter must be polled: its shortest wrap period (wrap_mj over
// max_power_mw) divided by options.wrap_safety. nullopt when the domain is no wrapping counter
// or its ceiling is unknown.
std::optional<double> wrap_poll_interval_s(const Domain& domain, const SamplerOptions& options);
// The shortest wrap period of a wrapping counter with a known ceiling, in seconds.
std::optional<double> wrap_period_s(const Domain& domain);

struct DomainEnergy {
  std::string name;
  Signal signal = Signal::kEnergy;
  bool in_total = true;
  double energy_mj = 0;
  double avg_power_mw = 0;
  int64_t wraps = 0;  // counter wrap-arounds corrected inside the window
};

struct MeterEnergy {
  std::string meter;  // Meter::name()
  std::string kind;
  Provenance provenance;
  double energy_mj = 0;  // over the domains in the total
  double avg_power_mw = 0;
  std::vector<DomainEnergy> domains;
  int64_t reads = 0;    // reads inside the window, both edges included
  int64_t updates = 0;  // reads that saw a new value
};

struct EnergyWindow {
  std::string name;
  double begin_s = 0, end_s = 0;  // sampler timeline
  double duration_ms = 0;
  std::vector<MeterEnergy> meters;  // in the sampler's meter order; the first is the primary
  const MeterEnergy& meter(std::string_view which) const;  // by name or kind; throws Error
  const MeterEnergy& primary() const;
};

struct MeterStats {
  std::optional<double> update_period_s;  // median time between value changes
  bool period_is_upper_bound = false;     // every read changed: the true period is shorter
  bool period_known = false;              // declared by the meter, not measured
  double interval_s = 0;                  // current poll interval
  int64_t reads = 0, changes = 0;
  std::vector<std::optional<double>> resolution;  // per domain: smallest step seen (mJ or mW)
  std::vector<bool> resolution_known;             // per domain: declared by the meter, not seen
  double max_power_mw = 0;                        // highest power seen
  std::string error;                              // the read that failed, if one did
  // Set when a counter's wrap period makes the sampler poll faster than min_interval_s:
  // "polled every 0.125 ms (not the usual 1 ms): counter 'package-0' wraps every ...".
  std::string polling_note;
};

class Sampler {
 public:
  Sampler(std::vector<std::shared_ptr<Meter>> meters, Clock& clock, SamplerOptions options = {});
  ~Sampler();
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;

  // The background thread; without it the caller drives step().
  void start();
  void stop();
  bool running() const { return thread_.joinable(); }

  // Reads every meter that is due at `now_s`; returns how many meters were read.
  int step(double now_s);
  // When the next meter falls due (infinity when no meter is polled).
  double next_due_s() const;

  void begin_window(const std::string& name);
  EnergyWindow end_window(const std::string& name);
  // With explicit times for deterministic tests; times never go backwards.
  void begin_window(const std::string& name, double now_s);
  EnergyWindow end_window(const std::string& name, double now_s);

  const std::vector<std::shared_ptr<Meter>>& meters() const { return meters_; }
  MeterStats stats(size_t meter) const;
  Clock& clock() { return clock_; }
  // CPU seconds the sampling thread has used (for the overhead benchmark).
  double thread_cpu_s() const;

 private:
  struct DomainState {
    bool has = false;
    double raw = 0, t = 0;  // last reading and its time
    double cum_mj = 0;      // unwrapped counter or power integral since the first read
    double min_step = 0;
    int64_t wraps = 0;
  };
  struct MeterState {
    std::shared_ptr<Meter> meter;
    std::vector<DomainState> d;
    std::vector<double> buf;
    bool polled = false, has_counter = false, has_power = false;
    double interval = 0, next_due = 0, last_t = 0;
    // Polls never come slower than wrap_cap (the counters' wrap periods ask for it) nor faster
    // than floor (min_interval_s, or below it down to fastest_interval_s for wrap_cap).
    double wrap_cap = 0, floor = 0;
    std::string polling_note;
    int64_t reads = 0, changes = 0, unchanged_run = 0;
    // The span from the first to the last value change seen, for the mean update period.
    std::optional<double> first_change_t, last_change_t;
    int64_t span_changes = 0, span_unchanged = 0;
    std::optional<double> period;
    bool period_upper = false, period_known = false, discovering = true;
    double max_power_mw = 0;
    std::string error;
  };
  struct Snapshot {
    double t = 0;
    std::vector<std::vector<double>> cum;
    std::vector<std::vector<int64_t>> wraps;
    std::vector<int64_t> reads, changes;
  };

  int step_locked(double now);
  void read_locked(MeterState& m, double now);
  void adapt_locked(MeterState& m);
  double monotonic_locked(double now);
  Snapshot snapshot_locked(double now);
  void run();

  std::vector<std::shared_ptr<Meter>> meters_;
  Clock& clock_;
  SamplerOptions opt_;
  std::vector<MeterState> state_;
  std::map<std::string, Snapshot> open_;
  double last_now_ = -1e300;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
  double final_cpu_s_ = 0;
};

}  // namespace nnjoule::meter
