#pragma once
// Everything one collection measures with: a session (meters chosen, the sampler running) and
// the runner on the engine with its protocol profile and shared idle baseline. `nnjoule
// collect`, `build-predictor` and a program of its own set one up from plain options.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "nnjoule/collect/pinning.hpp"
#include "nnjoule/collect/runner.hpp"
#include "nnjoule/collect/session.hpp"

namespace nnjoule::collect {

struct RigOptions {
  MeterSetup meters;
  int threads = 1;
  std::vector<int> cpus;             // pin the engine's threads (empty: not pinned)
  std::string profile = "standard";  // protocol_profile(): "standard" or "quick"
  double idle_s = 2.0;               // the shared idle baseline, each side (0: none)
  double idle_every_s = 600;         // re-taken after this long (0: once)
  uint64_t seed = 0;                 // inputs use seed + 1
  bool host_reference = true;        // RunnerOptions::host_reference
  // --pin-freq: "max", "min" or MHz for the clusters of `cpus` (all when empty), held for the
  // rig's life (idle baselines included); empty: the governor's clocks.
  std::string pin_freq;
};

class Rig {
 public:
  // Notes a busy host first (other work slows every measurement), then starts the session and
  // pins the clocks (throws Error naming the file when that is not permitted).
  explicit Rig(const RigOptions& options);
  ~Rig();
  Runner& runner() { return *runner_; }
  Session& session() { return *session_; }
  // The session's notes (meters skipped, fallbacks) and a busy host's.
  const std::vector<std::string>& notes() const { return notes_; }
  // Writes the pinned clusters' previous clock limits back now (the destructor does too, also
  // when a collection throws): "" when nothing was pinned, else one line saying what happened.
  std::string restore_clocks();

 private:
  std::unique_ptr<Session> session_;
  std::unique_ptr<ClockPin> pin_;  // destroyed after the runner, before the session
  std::unique_ptr<Runner> runner_;
  std::vector<std::string> notes_;
};

}  // namespace nnjoule::collect
