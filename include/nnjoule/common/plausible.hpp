#pragma once
// Plausible ranges for numbers read from files, options and stored runs: a value outside its
// range is an error naming where it came from, never a silent absurd result.
#include <string>

namespace nnjoule {

struct Plausible {
  double min;
  double max;
  const char* unit;  // "W", "J", "ms", "" (none)
};
inline constexpr Plausible kTdpRange{0.01, 1e5, "W"};  // 10 mW .. 100 kW

// Throws Error "<where>: <what><value> <unit> is outside the plausible range <min> to <max>
// <unit>" (or "must be positive", "is not a finite number"). `shown` is the value as the input
// wrote it; empty: the value printed.
void check_plausible(double value, const Plausible& range, const std::string& where,
                     const std::string& what, const std::string& shown = "");
// A TDP in watts, from `where` (an option, a file, a stored run); throws Error naming it.
void check_tdp_w(double tdp_w, const std::string& where);

}  // namespace nnjoule
