#pragma once
// What the collection loops share (collection.cpp, farm.cpp): a collection's run bookkeeping and
// report (Session), and measuring one kernel or model item.
#include <fmt/format.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>

#include "nnjoule/collect/collection.hpp"
#include "nnjoule/common/error.hpp"
#include "nnjoule/zoo/zoo.hpp"

namespace nnjoule::collect::detail {

using namespace store;  // the loops write datasets: rows, runs, devices

using Clock = std::chrono::steady_clock;

inline double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// One collection: the run row is created with the first measurement, so a re-run that finds
// everything stored leaves no empty run behind.
class Session {
 public:
  Session(Store& store, Runner& runner, std::string kind, std::string command, int64_t total,
          const ProgressFn& progress)
      : store_(store), runner_(runner), progress_(progress) {
    report_.kind = std::move(kind);
    report_.planned = total;
    command_ = std::move(command);
    device_id_ = store_.ensure_device(runner_.device());
    report_.provenance = runner_.provenance().label();
    // A collection of this kind on this device that was killed left its run "running".
    for (const Run& r : store_.close_interrupted_runs(device_id_, report_.kind)) {
      report_.resumed_runs.push_back(r.id);
      if (!progress_) continue;
      Progress p;
      p.total = report_.planned;
      p.label = resume_line(r, store_.run_rows(r.id));
      p.status = "resumed";
      progress_(p);
    }
  }

  int64_t device_id() const { return device_id_; }

  int64_t run_id() {
    if (report_.run_id == 0) {
      Run run;
      run.device_id = device_id_;
      run.kind = report_.kind;
      run.provenance = runner_.provenance();
      run.settings = runner_.run_settings();
      run.command = command_;
      report_.run_id = store_.begin_run(run);
      heartbeat_ = std::make_unique<Heartbeat>(store_.target(), report_.run_id);
    }
    return report_.run_id;
  }

  void skipped(const std::string& label) {
    ++report_.skipped;
    emit(label, "stored", "", std::nullopt);
  }
  void failed(const std::string& label, const std::string& error) {
    ++report_.failed;
    report_.failures.push_back(label + ": " + error);
    emit(label, "failed", error, std::nullopt);
  }
  void measured(const std::string& label, const RunResult& r, double item_s) {
    ++report_.measured;
    report_.item_wall_s += item_s;
    report_.measured_s += r.measured_s;
    for (const auto& [phase, t] : r.phases_s) report_.phases_s[phase] += t;
    emit(label, "measured", "", r);
  }

  // The loop every collection shares: a stop request ends it as interrupted, anything thrown
  // past `each` (the store failing) ends the run as failed.
  template <typename Items, typename F>
  CollectReport collect(const Items& items, const std::atomic<bool>& stop, F&& each) {
    try {
      for (const auto& item : items) {
        if (stop.load()) {
          end(true);
          return report_;
        }
        each(item);
      }
    } catch (...) {
      abort();
      throw;
    }
    end(false);
    return report_;
  }

  // Stores one measured item through `add` and reports it with its build and store phases.
  template <typename F>
  void store_measured(const std::string& label, RunResult& result, double build_s,
                      Clock::time_point t0, F&& add) {
    const auto t_store = Clock::now();
    add();
    result.phases_s["build"] = build_s;
    result.phases_s["store"] = since(t_store);
    measured(label, result, since(t0));
  }

  const CollectReport& report() const { return report_; }

  void end(bool interrupted) {
    heartbeat_.reset();
    report_.interrupted = interrupted;
    report_.wall_s = since(start_);
    if (report_.run_id != 0)
      store_.end_run(report_.run_id, interrupted ? "interrupted" : "complete");
  }
  void abort() {
    heartbeat_.reset();
    report_.wall_s = since(start_);
    if (report_.run_id == 0) return;
    try {
      store_.end_run(report_.run_id, "failed");
    } catch (const Error&) {
      // The store itself is failing (disk full): the run stays "running", which is true enough.
    }
  }

 private:
  void emit(const std::string& label, const char* status, const std::string& error,
            const std::optional<RunResult>& r) {
    ++index_;
    if (!progress_) return;
    Progress p;
    p.index = index_;
    p.total = report_.planned;
    p.measured = report_.measured;
    p.skipped = report_.skipped;
    p.failed = report_.failed;
    p.label = label;
    p.status = status;
    p.error = error;
    p.result = r;
    p.elapsed_s = since(start_);
    p.measuring_s = report_.item_wall_s;
    progress_(p);
  }

  Store& store_;
  Runner& runner_;
  const ProgressFn& progress_;
  CollectReport report_;
  std::string command_;
  int64_t device_id_ = 0;
  int64_t index_ = 0;
  Clock::time_point start_ = Clock::now();
  std::unique_ptr<Heartbeat> heartbeat_;  // while the run is open
};

// Build and run failures are the kernel's problem: reported, the collection goes on. Store
// failures (disk full, ...) end the collection.
template <typename F>
std::optional<std::string> attempt(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return std::string(e.what());
  } catch (const std::bad_alloc&) {
    return std::string("out of memory");
  } catch (const std::exception& e) {
    return fmt::format("internal error: {}", e.what());
  }
  return std::nullopt;
}

// One kernel of a plan measured on `runner` (weights seeded by `seed`): the row without its run
// and device, or the error that kept it from building or running.
struct KernelMeasurement {
  KernelRow row;
  RunResult result;
  double build_s = 0;
  std::optional<std::string> error;
};
KernelMeasurement measure_kernel_item(Runner& runner, const KernelPlanItem& item, uint64_t seed);

// One model of a model collection: the n-th repeat (0-based) of a zoo model spec.
struct ModelItem {
  zoo::ModelSpec spec;
  int64_t repeat = 0;
  std::string label() const;
};
// Builds and measures it unless its resume key under `settings` is in `stored` (then `stored`
// is true and nothing ran).
struct ModelMeasurement {
  Model model;
  ModelRow row;
  RunResult result;
  double build_s = 0;
  bool stored = false;
  std::optional<std::string> error;
};
ModelMeasurement measure_model_item(Runner& runner, const ModelItem& item,
                                    const nlohmann::json& settings,
                                    const std::unordered_set<std::string>& stored, bool breakdown);

}  // namespace nnjoule::collect::detail
