#pragma once
// A simulated device for protocol tests (protocol_test.cpp, pinning_test.cpp).
#include <cmath>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "meter/fake_tree.hpp"
#include "nnjoule/collect/protocol.hpp"
#include "nnjoule/meter/sampler.hpp"

namespace nnjoule::testing {

// A simulated device: an energy counter fed by idle power and by each inference, on a manual
// clock. Idle waits advance in 1 ms steps so the sampler sees the counter move.
struct Sim {
  meter::ManualClock clock;
  double energy_mj = 0;
  double idle_mw = 1000;
  std::shared_ptr<meter::Meter> meter;
  std::unique_ptr<meter::Sampler> sampler;
  FakeTree tree;

  explicit Sim(std::optional<double> known_period = std::nullopt) {
    meter = std::make_shared<FunctionMeter>(
        "sim", std::vector<meter::Domain>{{"board", meter::Signal::kEnergy, 0, true, ""}},
        std::vector<FunctionMeter::Fn>{[this](double) { return energy_mj; }});
    if (known_period)
      meter = std::make_shared<PeriodMeter>(*known_period, [this] { return energy_mj; });
    sampler =
        std::make_unique<meter::Sampler>(std::vector<std::shared_ptr<meter::Meter>>{meter}, clock);
    tree.write("/proc/cpuinfo", "processor\t: 0\nmodel name\t: Test CPU\n");
    tree.write("/sys/devices/system/cpu/online", "0\n");
  }
  void pass(double s, double extra_mj = 0) {
    clock.advance(s);
    energy_mj += idle_mw * s + extra_mj;
  }
  collect::Sleeper sleeper() {
    return [this](double s) {
      const int steps = static_cast<int>(std::llround(s * 1000));
      for (int i = 0; i < steps; ++i) {
        pass(0.001);
        sampler->step(clock.now_s());
      }
    };
  }
  collect::Context ctx() { return collect::Context{sampler.get(), sleeper(), tree.fs()}; }

  // A counter meter with a declared update period (a slow sensor).
  class PeriodMeter : public meter::Meter {
   public:
    PeriodMeter(double period, std::function<double()> fn) : period_(period), fn_(std::move(fn)) {
      domains_.push_back({"board", meter::Signal::kEnergy, 0, true, ""});
    }
    std::string kind() const override { return "sim"; }
    std::optional<double> known_update_period_s() const override { return period_; }
    void read(double, std::span<double> out) override { out[0] = fn_(); }

   private:
    double period_;
    std::function<double()> fn_;
  };
};

}  // namespace nnjoule::testing
