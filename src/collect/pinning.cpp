#include "nnjoule/collect/pinning.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <sstream>

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/parse.hpp"
#include "nnjoule/common/table.hpp"

namespace nnjoule::collect {
namespace {

const std::string kCpuDir = "/sys/devices/system/cpu";

std::string reason(int err) {
  if (err == EACCES || err == EPERM)
    return fmt::format("{}; pinning the clock needs root", std::strerror(err));
  return std::strerror(err);
}

int64_t read_khz(const meter::SysFs& fs, const std::string& rel) {
  int err = 0;
  const auto v = fs.try_read_int(rel, &err);
  if (!v) fail("--pin-freq: {}: cannot read ({})", fs.show(rel), reason(err));
  if (*v <= 0) fail("--pin-freq: {}: {} kHz is no clock", fs.show(rel), *v);
  return *v;
}

void write_khz(const meter::SysFs& fs, const std::string& rel, int64_t khz) {
  if (const int err = fs.write(rel, std::to_string(khz)); err != 0)
    fail("--pin-freq: {}: cannot write {} ({})", fs.show(rel), khz, reason(err));
}

// Moves the policy's limits from [cur_min, cur_max] to [lo, hi] in an order the kernel accepts
// at every step (it refuses a minimum above the maximum): raising, the maximum first; lowering,
// the minimum first. A limit already at its value is not written.
void set_limits(const meter::SysFs& fs, const std::string& dir, int64_t cur_min, int64_t cur_max,
                int64_t lo, int64_t hi) {
  const std::string min_file = meter::join(dir, "scaling_min_freq");
  const std::string max_file = meter::join(dir, "scaling_max_freq");
  auto put = [&](const std::string& file, int64_t now, int64_t v) {
    if (now != v) write_khz(fs, file, v);
  };
  if (lo > cur_max) {
    put(max_file, cur_max, hi);
    put(min_file, cur_min, lo);
  } else {
    put(min_file, cur_min, lo);
    put(max_file, cur_max, hi);
  }
}

// The available clock nearest `khz` (scaling_available_frequencies, when the driver lists them).
int64_t snap(const meter::SysFs& fs, const std::string& dir, int64_t khz) {
  const auto text = fs.read(meter::join(dir, "scaling_available_frequencies"));
  if (!text) return khz;
  std::istringstream in(*text);
  std::string word;
  std::optional<int64_t> best;
  while (in >> word) {
    const auto v = parse_integer(word);
    if (!v || *v <= 0) continue;
    if (!best || std::llabs(*v - khz) < std::llabs(*best - khz)) best = *v;
  }
  return best.value_or(khz);
}

}  // namespace

void check_pin_spec(const std::string& spec) {
  if (spec == "max" || spec == "min") return;
  const auto v = parse_number(spec);
  if (!v || !(*v > 0))
    fail("--pin-freq {}: expected max, min or a clock in MHz (a positive number)", spec);
}

ClockPin::ClockPin(std::shared_ptr<const meter::SysFs> fs, const std::string& spec,
                   const std::vector<int>& cpus)
    : fs_(std::move(fs)) {
  check_pin_spec(spec);
  const auto clusters = discover_clusters(*fs_);
  if (clusters.empty()) fail("--pin-freq: no online CPU found under {}", fs_->show(kCpuDir));
  try {
    for (const auto& c : clusters) {
      const bool used = cpus.empty() || std::any_of(c.cpus.begin(), c.cpus.end(), [&](int x) {
                          return std::find(cpus.begin(), cpus.end(), x) != cpus.end();
                        });
      if (!used || c.cpus.empty()) continue;
      const std::string dir = meter::join(kCpuDir, "cpu" + std::to_string(c.cpus[0]) + "/cpufreq");
      if (!fs_->is_dir(dir))
        fail("--pin-freq: {}: not present (this kernel exposes no clock control for cluster {})",
             fs_->show(dir), c.name);
      const int64_t hw_min = read_khz(*fs_, meter::join(dir, "cpuinfo_min_freq"));
      const int64_t hw_max = read_khz(*fs_, meter::join(dir, "cpuinfo_max_freq"));
      int64_t target = 0;
      if (spec == "max") {
        target = hw_max;
      } else if (spec == "min") {
        target = hw_min;
      } else {
        const double mhz = *parse_number(spec);
        if (mhz * 1000 < static_cast<double>(hw_min) || mhz * 1000 > static_cast<double>(hw_max))
          fail(
              "--pin-freq {}: {} MHz is outside cluster {}'s {}-{} MHz (cpuinfo_min_freq.."
              "cpuinfo_max_freq of {})",
              spec, format_number(mhz), c.name, format_number(hw_min / 1000.0),
              format_number(hw_max / 1000.0), fs_->show(dir));
        target = snap(*fs_, dir, std::llround(mhz * 1000));
      }
      PinnedClock p;
      p.cluster = c.name;
      p.cpus = c.cpus;
      p.requested = spec;
      p.mhz = static_cast<double>(target) / 1000.0;
      p.method = kPinMethod;
      p.governor = fs_->read_trimmed(meter::join(dir, "scaling_governor")).value_or("");
      const int64_t saved_min = read_khz(*fs_, meter::join(dir, "scaling_min_freq"));
      const int64_t saved_max = read_khz(*fs_, meter::join(dir, "scaling_max_freq"));
      p.saved_min_mhz = static_cast<double>(saved_min) / 1000.0;
      p.saved_max_mhz = static_cast<double>(saved_max) / 1000.0;
      // Recorded before writing: a failure halfway through still gets this cluster restored.
      pinned_.push_back(p);
      dirs_.push_back(dir);
      set_limits(*fs_, dir, saved_min, saved_max, target, target);
      for (const char* f : {"scaling_min_freq", "scaling_max_freq"}) {
        const auto now = fs_->try_read_int(meter::join(dir, f));
        if (now && *now != target)
          notes_.push_back(fmt::format(
              "{} reads {} kHz after writing {} (a thermal or QoS limit of the kernel): cluster "
              "{} does not run at the pinned clock",
              fs_->show(meter::join(dir, f)), *now, target, c.name));
      }
    }
    if (pinned_.empty())
      fail("--pin-freq: none of CPUs {} belongs to a cluster under {}", cpu_ranges(cpus),
           fs_->show(kCpuDir));
  } catch (...) {
    for (const auto& p : restore()) std::cerr << "nnjoule: " << p << "\n";
    throw;
  }
}

ClockPin::~ClockPin() {
  try {
    for (const auto& p : restore()) std::cerr << "nnjoule: " << p << "\n";
  } catch (...) {
    std::cerr << "nnjoule: --pin-freq: restoring the CPU clock limits failed\n";
  }
}

const std::vector<std::string>& ClockPin::restore() {
  if (restored_) return restore_problems_;
  restored_ = true;
  for (size_t i = 0; i < pinned_.size(); ++i) {
    PinnedClock& p = pinned_[i];
    const int64_t lo = std::llround(*p.saved_min_mhz * 1000);
    const int64_t hi = std::llround(*p.saved_max_mhz * 1000);
    // What the limits are now: the pinned clock, unless a write failed halfway or never
    // happened (then there is less, or nothing, to put back).
    const int64_t pinned = std::llround(p.mhz * 1000);
    const int64_t cur_min =
        fs_->try_read_int(meter::join(dirs_[i], "scaling_min_freq")).value_or(pinned);
    const int64_t cur_max =
        fs_->try_read_int(meter::join(dirs_[i], "scaling_max_freq")).value_or(pinned);
    try {
      set_limits(*fs_, dirs_[i], cur_min, cur_max, lo, hi);
      p.restored = true;
    } catch (const Error& e) {
      restore_problems_.push_back(
          fmt::format("{} (cluster {} stays limited; write {} and {} kHz back by hand)", e.what(),
                      p.cluster, lo, hi));
    }
  }
  return restore_problems_;
}

std::string describe(const PinnedClock& p) {
  return fmt::format("{} {} at {} MHz ({}; {}; {})", p.cluster, cpu_ranges(p.cpus),
                     format_number(p.mhz), p.requested, p.method,
                     p.restored ? "restored" : "not restored when recorded");
}

}  // namespace nnjoule::collect
