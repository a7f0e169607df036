#pragma once
// Helpers every lowering file of the compiler shares (compiler.cpp, lower_*.cpp).
#include <fmt/format.h>

#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "compiler.hpp"
#include "nnjoule/common/error.hpp"
#include "ops.hpp"

namespace nnjoule::exec::detail {

inline constexpr float kInf = std::numeric_limits<float>::infinity();

using graph::Graph;
using graph::Node;
inline constexpr int64_t kAlign = 64;

inline void xnn_check(xnn_status s, const std::string& node, const char* what) {
  if (s != xnn_status_success) {
    fail("node '{}': XNNPACK {} failed ({})", node, what, xnn_status_name(s));
  }
}

inline std::string perm_str(const Perm& p) {
  std::string s;
  for (int d : p) s += static_cast<char>('0' + d);
  return s;
}

inline DimMap ident(int d, int64_t len) {
  DimMap m{d, std::vector<int64_t>(static_cast<size_t>(len))};
  for (int64_t i = 0; i < len; ++i) m.idx[i] = i;
  return m;
}

inline Perm inverse(const Perm& p) {
  Perm inv(p.size());
  for (size_t i = 0; i < p.size(); ++i) inv[p[i]] = static_cast<int>(i);
  return inv;
}

// The runner of an XNNPACK operator; checks the status so a failure is never silent.
inline std::function<void()> xnn_runner(std::shared_ptr<XnnOp> op, pthreadpool_t pool,
                                        std::string name) {
  return [op = std::move(op), pool, name = std::move(name)] {
    const xnn_status s = xnn_run_operator(op->op, pool);
    if (s != xnn_status_success)
      fail("node '{}': XNNPACK run failed ({})", name, xnn_status_name(s));
  };
}

inline std::vector<size_t> to_sizes(const Shape& s) {
  return {s.begin(), s.end()};
}

inline std::string fused_label(const std::vector<std::string>& fused) {
  std::string s;
  for (const auto& f : fused) s += " +" + f;
  return s;
}

}  // namespace nnjoule::exec::detail
