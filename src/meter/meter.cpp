#include "nnjoule/meter/meter.hpp"

#include <chrono>

#include "nnjoule/common/error.hpp"

namespace nnjoule::meter {

std::string_view signal_name(Signal s) {
  switch (s) {
    case Signal::kEnergy:
      return "energy";
    case Signal::kPower:
      return "power";
    case Signal::kOffline:
      return "trace";
  }
  return "unknown";
}

std::string_view status_name(Finding::Status s) {
  switch (s) {
    case Finding::Status::kFound:
      return "found";
    case Finding::Status::kNotFound:
      return "not found";
    case Finding::Status::kRefused:
      return "refused";
    case Finding::Status::kNotUsed:
      return "not used";
  }
  return "unknown";
}

double Meter::integrate_mj(size_t domain, double, double) {
  fail("{}: domain '{}' is polled, not integrated offline", name(),
       domain < domains_.size() ? domains_[domain].name : std::string("?"));
}

SteadyClock::SteadyClock() {
  using namespace std::chrono;
  // Take the wall clock between two steady readings so the pairing error is half the gap.
  const auto a = steady_clock::now();
  const auto w = system_clock::now();
  const auto b = steady_clock::now();
  zero_ns_ = duration_cast<nanoseconds>((a.time_since_epoch() + b.time_since_epoch()) / 2).count();
  realtime_zero_ = duration<double>(w.time_since_epoch()).count();
}

double SteadyClock::now_s() {
  using namespace std::chrono;
  const int64_t ns = duration_cast<nanoseconds>(steady_clock::now().time_since_epoch()).count();
  return static_cast<double>(ns - zero_ns_) * 1e-9;
}

}  // namespace nnjoule::meter
