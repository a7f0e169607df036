#pragma once
// A device farm's collection: a plan of kernels or models stored in the dataset's work queue
// (store::Store::add_work), measured by workers on many devices that claim its items under a
// lease (collect_work). Item keys and payloads do not depend on the device: each worker keys
// its rows with its own runner's settings, so a kernel a device already stored (by `collect`,
// a push, or an earlier worker) is marked done without measuring it again.
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "nnjoule/collect/collection.hpp"

namespace nnjoule::collect {

using WorkItems = std::vector<std::pair<std::string, nlohmann::json>>;

// The plan collect_kernels would measure, as work items: key "<type> <config>" (" @int8" for
// int8), payload {"kind": "kernel", "type", "config" ([[key, value], ...] in the config's order),
// "dtype", "seed"}.
WorkItems kernel_work_items(const KernelCollectOptions& options);
// The models collect_models would measure, as work items: key "<model name>" (" (repeat N)"),
// payload {"kind": "model", "family", "variant", "seed", "sample_resolution", "repeat"}.
WorkItems model_work_items(const ModelCollectOptions& options);

struct WorkOptions {
  std::string plan;
  std::string device;  // this device's label: claims the plan's items for it and for any device
  std::string worker;  // unique per worker process: "<host>:<pid>" by default
  // A held lease is renewed every third of it, so only a worker that is gone (killed, cut off)
  // loses its items, which others claim when the lease expires.
  std::chrono::milliseconds lease{std::chrono::minutes(2)};
  // With nothing claimable while other workers hold items: wait for them (and take over the
  // items of workers whose leases expire) instead of ending.
  bool wait = false;
  std::chrono::milliseconds poll{std::chrono::seconds(5)};
  bool breakdown = true;  // per-kernel latency of model items
  std::string command;
};

// Claims, measures and completes the plan's items until none is left for this device (or a
// stop request). A result is stored in the transaction that marks its item done; an item that
// fails to build or run is marked failed with its error and not claimed again.
CollectReport collect_work(store::Store& store, Runner& runner, const WorkOptions& options,
                           const std::atomic<bool>& stop, const ProgressFn& progress = {});

}  // namespace nnjoule::collect
