#pragma once
// A small deterministic generator: std distributions differ between standard libraries, and
// every zoo model, variant and sample must be the same on every machine for a given seed.
#include <cstdint>
#include <string_view>

namespace nnjoule {

class Rng {
 public:
  explicit Rng(uint64_t seed);
  uint64_t next();                              // xoshiro256**
  double uniform();                             // [0, 1)
  double uniform(double lo, double hi);         // [lo, hi)
  int64_t uniform_int(int64_t lo, int64_t hi);  // [lo, hi] inclusive
  double normal();                              // standard normal (Box-Muller)
  Rng fork(uint64_t stream) const;              // independent generator for a sub-task

 private:
  uint64_t s_[4];
  double spare_ = 0;
  bool has_spare_ = false;
};

uint64_t hash_mix(uint64_t a, uint64_t b);
uint64_t hash_string(std::string_view s);  // FNV-1a, stable across runs

}  // namespace nnjoule
