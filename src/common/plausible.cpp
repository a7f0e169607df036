#include "nnjoule/common/plausible.hpp"

#include <fmt/format.h>

#include <cmath>

#include "nnjoule/common/error.hpp"

namespace nnjoule {

void check_plausible(double value, const Plausible& range, const std::string& where,
                     const std::string& what, const std::string& shown) {
  const std::string v = shown.empty() ? fmt::format("{}", value) : shown;
  const std::string unit = range.unit[0] ? std::string(" ") + range.unit : std::string();
  if (!std::isfinite(value)) fail("{}: {}{} is not a finite number", where, what, v);
  if (range.min > 0 && !(value > 0)) fail("{}: {}{} must be positive", where, what, v);
  if (value < range.min || value > range.max) {
    fail("{}: {}{}{} is outside the plausible range {} to {}{}", where, what, v, unit, range.min,
         range.max, unit);
  }
}

void check_tdp_w(double tdp_w, const std::string& where) {
  check_plausible(tdp_w, kTdpRange, where, "TDP ");
}

}  // namespace nnjoule
