#pragma once
// Counted features of a kernel config (FLOPs, parameters, bytes, shapes), from nnjoule's own
// single-kernel model of it: the same numbers for collected and imported rows.
#include <optional>
#include <string>

#include "nnjoule/kernels/kernel.hpp"

namespace nnjoule::store {

// Builds the single-kernel model (shape-only weights) and detects its kernel. Throws Error
// naming the type and key when the zoo cannot build the config, or when detection does not
// find exactly one kernel of `type`.
kernels::Kernel describe_config(const std::string& type, const kernels::KernelConfig& config);

}  // namespace nnjoule::store
