#include "nnjoule/store/features.hpp"

#include <fmt/format.h>

#include "nnjoule/common/error.hpp"
#include "nnjoule/kernels/detect.hpp"
#include "nnjoule/zoo/kernel_models.hpp"

namespace nnjoule::store {

kernels::Kernel describe_config(const std::string& type, const kernels::KernelConfig& config) {
  const graph::Graph g = zoo::build_kernel_model(type, config, 0, false);
  auto ks = kernels::detect_kernels(g);
  if (ks.size() != 1 || ks[0].type != type) {
    std::string found;
    for (const auto& k : ks) found += (found.empty() ? "" : ", ") + k.type;
    fail("kernel '{}' ({}): its single-kernel model is detected as [{}]", type, config.str(),
         found);
  }
  return std::move(ks[0]);
}

}  // namespace nnjoule::store
