#pragma once
// Runs fn(0..n-1) on up to `jobs` threads (the caller's included); the first exception is
// rethrown after every task has finished. XGBoost's own threads stay at one per booster: on a
// shared, busy machine OpenMP teams spin and slow down by 10x or more.
#include <algorithm>
#include <atomic>
#include <exception>
#include <thread>
#include <vector>

namespace nnjoule::predict::detail {

template <typename F>
void parallel_for(size_t n, int jobs, F&& fn) {
  std::vector<std::exception_ptr> errors(n);
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i = next++; i < n; i = next++) {
      try {
        fn(i);
      } catch (...) {
        errors[i] = std::current_exception();
      }
    }
  };
  const size_t workers =
      std::max<size_t>(1, std::min<size_t>(static_cast<size_t>(std::max(jobs, 1)), n));
  std::vector<std::thread> pool;
  for (size_t w = 1; w < workers; ++w) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace nnjoule::predict::detail
