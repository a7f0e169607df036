#include "nnjoule/collect/collection.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <memory>

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/io.hpp"
#include "nnjoule/common/table.hpp"
#include "nnjoule/exec/engine.hpp"
#include "nnjoule/graph/onnx.hpp"
#include "nnjoule/kernels/detect.hpp"
#include "nnjoule/zoo/kernel_models.hpp"
#include "nnjoule/zoo/quantize.hpp"
#include "nnjoule/zoo/sampling.hpp"
#include "nnjoule/zoo/zoo.hpp"

namespace nnjoule::collect {

using namespace store;  // the loops write datasets: rows, runs, devices
using nlohmann::json;

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) {
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
      heartbeat_ = std::make_unique<Heartbeat>(store_.path(), report_.run_id);
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

// The single-kernel model of a plan item and the kernel it measures. An int8 item's model is
// the quantized one: its float input and output go through a quantize and a dequantize kernel
// around the int8 kernel, which the measurement includes (they touch the input and output
// once, as in any int8 model with float I/O).
struct KernelModel {
  graph::Graph g;
  std::vector<kernels::Kernel> kernels;
  size_t measured = 0;  // index into kernels
};
KernelModel kernel_model(const KernelPlanItem& item, uint64_t seed) {
  KernelModel r;
  r.g = zoo::build_kernel_model(item.type, item.config, seed, true);
  if (item.dtype == kernels::kFp32) {
    r.kernels = kernels::detect_kernels(r.g);
    if (r.kernels.size() != 1 || r.kernels[0].type != item.type) {
      fail("the single-kernel model is not detected as one {} kernel", item.type);
    }
    return r;
  }
  if (item.dtype != kernels::kInt8) fail("unknown dtype '{}' (expected fp32 or int8)", item.dtype);
  zoo::QuantizeOptions qo{.runner = exec::run_feeds, .eval_inputs = 0, .seed = seed};
  r.g = zoo::quantize_qdq(r.g, qo);
  r.kernels = kernels::detect_kernels(r.g);
  std::vector<size_t> int8;
  std::string found;
  for (size_t i = 0; i < r.kernels.size(); ++i) {
    const auto& k = r.kernels[i];
    found += fmt::format("{}{}/{}", found.empty() ? "" : ", ", k.type, k.dtype);
    if (k.dtype == kernels::kInt8) int8.push_back(i);
  }
  if (int8.size() != 1) {
    fail(
        "the quantized single-kernel model has {} int8 kernels, not one (kernels: {}; the engine "
        "runs {} in float)",
        int8.size(), found, item.type);
  }
  r.measured = int8[0];
  return r;
}

}  // namespace

std::vector<KernelPlanItem> plan_kernels(Runner& runner, const KernelCollectOptions& options) {
  if (options.count < 0) fail("--count must not be negative");
  zoo::PriorOptions po;
  po.variants = options.prior_variants;
  po.seed = options.seed;
  const zoo::ConfigPrior prior = zoo::build_prior(po);
  std::vector<std::string> types;
  for (const auto& t : options.kernel_types) types.push_back(kernels::canonical_kernel_type(t));
  const auto samples =
      zoo::sample_collection(prior, types, options.count, options.floor, options.seed);
  json settings = runner.key_settings();
  // fp32 keys stay what they were before dtypes, so existing datasets resume.
  if (options.dtype != kernels::kFp32) settings["dtype"] = options.dtype;
  std::vector<KernelPlanItem> plan;
  plan.reserve(samples.size());
  for (const auto& s : samples)
    plan.push_back({s.type, s.config, kernel_key(s.type, s.config, settings), options.dtype});
  return plan;
}

CollectReport collect_kernels(Store& store, Runner& runner, const KernelCollectOptions& options,
                              const std::atomic<bool>& stop, const ProgressFn& progress) {
  return collect_kernel_plan(store, runner, plan_kernels(runner, options), options.command,
                             options.seed, stop, progress);
}

CollectReport collect_kernel_plan(Store& store, Runner& runner,
                                  const std::vector<KernelPlanItem>& plan,
                                  const std::string& command, uint64_t seed,
                                  const std::atomic<bool>& stop, const ProgressFn& progress) {
  Session session(store, runner, "kernels", command, static_cast<int64_t>(plan.size()), progress);
  const auto stored = store.kernel_keys(session.device_id());
  return session.collect(plan, stop, [&](const KernelPlanItem& item) {
    const std::string label = item.type + " " + item.config.str();
    if (stored.count(item.key)) {
      session.skipped(label);
      return;
    }
    const auto t0 = Clock::now();
    KernelRow row;
    RunResult result;
    double build_s = 0;
    const auto error = attempt([&] {
      const KernelModel km = kernel_model(item, seed);
      const kernels::Kernel& k = km.kernels[km.measured];
      build_s = since(t0);
      result = runner.measure(km.g, km.kernels, false);
      row.kernel_type = k.type;
      row.dtype = k.dtype;
      row.flops = k.flops;
      row.params = k.params;
      row.bytes = k.bytes;
      row.input_shapes = k.input_shapes;
      row.output_shapes = k.output_shapes;
    });
    if (error) {
      session.failed(label, *error);
      return;
    }
    row.run_id = session.run_id();
    row.device_id = session.device_id();
    row.key = item.key;
    row.config = item.config;
    row.threads = runner.threads();
    row.m = result.m;
    session.store_measured(label, result, build_s, t0, [&] { store.add_kernel(row); });
  });
}

const std::vector<std::string>& default_model_families() {
  static const std::vector<std::string> f = {"resnet18",         "mobilenetv1", "mobilenetv2",
                                             "mobilenetv3small", "mnasnet",     "squeezenet",
                                             "shufflenetv2",     "googlenet"};
  return f;
}

CollectReport collect_models(Store& store, Runner& runner, const ModelCollectOptions& options,
                             const std::atomic<bool>& stop, const ProgressFn& progress) {
  if (options.variants < 0) fail("--variants must not be negative");
  if (options.repeats < 1 || options.repeats > 1000)
    fail("--repeat must be between 1 and 1000 (got {})", options.repeats);
  std::vector<zoo::ModelSpec> specs;
  const auto families = options.families.empty() ? zoo::family_names() : options.families;
  for (const auto& f : families) {
    zoo::family(f);  // names the known families when `f` is not one
    for (int64_t v = -1; v < options.variants; ++v) {
      zoo::ModelSpec spec;
      spec.family = f;
      spec.variant = v;
      spec.seed = options.seed;
      spec.sample_resolution = options.sample_resolution && v >= 0;
      specs.push_back(spec);
    }
  }
  // Pass-major order: every model once, then every model again.
  std::vector<std::pair<zoo::ModelSpec, int64_t>> items;
  for (int64_t r = 0; r < options.repeats; ++r)
    for (const auto& spec : specs) items.emplace_back(spec, r);
  Session session(store, runner, "models", options.command, static_cast<int64_t>(items.size()),
                  progress);
  const json settings = runner.key_settings();
  const auto stored = store.model_keys(session.device_id());
  return session.collect(items, stop, [&](const std::pair<zoo::ModelSpec, int64_t>& item) {
    const auto& [spec, repeat] = item;
    const std::string label =
        zoo::model_name(spec) + (repeat > 0 ? fmt::format(" (repeat {})", repeat + 1) : "");
    const auto t0 = Clock::now();
    Model model;
    ModelRow row;
    RunResult result;
    double build_s = 0;
    bool already = false;
    const auto error = attempt([&] {
      const graph::Graph g = zoo::build_model(spec);
      model.hash = content_hash(graph::to_onnx_bytes(g));
      // The first measurement keeps the key it always had; repeats are keyed apart.
      json key_settings = settings;
      if (repeat > 0) key_settings["repeat"] = repeat;
      row.key = model_key(model.hash, key_settings);
      if (stored.count(row.key)) {
        already = true;
        return;
      }
      const auto ks = kernels::detect_kernels(g);
      const auto totals = kernels::summarize(g, ks);
      model.hash_kind = "onnx";
      model.name = zoo::model_name(spec);
      model.family = spec.family;
      model.variant = spec.variant;
      model.resolution = zoo::resolved_resolution(spec);
      model.seed = spec.seed;
      model.flops = totals.flops;
      model.params = totals.params;
      model.bytes = totals.bytes;
      for (const auto& k : ks)
        model.kernels.push_back({k.type, k.name, k.config, k.flops, k.params, k.bytes, k.dtype});
      for (const auto& [op, node] : totals.unknown_ops)
        model.unknown_ops.push_back(op + " " + node);
      build_s = since(t0);
      result = runner.measure(g, ks, options.breakdown);
    });
    if (already) {
      session.skipped(label);
      return;
    }
    if (error) {
      session.failed(label, *error);
      return;
    }
    row.run_id = session.run_id();
    row.device_id = session.device_id();
    row.threads = runner.threads();
    row.m = result.m;
    row.kernel_latency_ms = result.kernel_latency_ms;
    session.store_measured(label, result, build_s, t0,
                           [&] { store.add_model_measurement(model, row); });
  });
}

// ---- reporting ----------------------------------------------------------------------------

std::string resume_line(const Run& run, int64_t rows) {
  return fmt::format(
      "resuming interrupted run {} ({}, started {}, {} measurement{} stored): {}; what is stored "
      "is skipped",
      run.id, run.kind, run.started_at, rows, rows == 1 ? "" : "s", run.status_note);
}

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  if (s < 60) return fmt::format("{:.1f}s", s);
  const auto total = static_cast<int64_t>(std::llround(s));
  if (total < 3600) return fmt::format("{}m{:02d}s", total / 60, total % 60);
  return fmt::format("{}h{:02d}m", total / 3600, (total % 3600) / 60);
}

std::string CollectReport::to_text() const {
  std::string s =
      fmt::format("{} {}: {} planned, {} measured, {} already stored, {} failed{}\n", kind,
                  interrupted ? "collection interrupted" : "collection done", planned, measured,
                  skipped, failed, run_id ? fmt::format(" (run {})", run_id) : "");
  if (measured > 0) {
    s += fmt::format(
        "numbers: {}; {} in {} ({:.1f} per minute); {:.0f}% of the measuring time inside "
        "measured windows\n",
        provenance, measured, format_duration(wall_s), measured / std::max(wall_s, 1e-9) * 60,
        item_wall_s > 0 ? 100 * measured_s / item_wall_s : 0.0);
  }
  if (measured > 0 && item_wall_s > 0) {
    s += "outside the windows:";
    for (const auto& [phase, t] : phases_s)
      s += fmt::format(" {} {:.0f}%,", phase, 100 * t / item_wall_s);
    s.back() = '\n';
  }
  for (const auto& f : failures) s += "  failed: " + f + "\n";
  if (interrupted) s += "stopped on request; run the same command again to resume\n";
  return s;
}

json CollectReport::to_json() const {
  return {{"kind", kind},
          {"planned", planned},
          {"measured", measured},
          {"skipped", skipped},
          {"failed", failed},
          {"failures", failures},
          {"interrupted", interrupted},
          {"run_id", run_id},
          {"resumed_runs", resumed_runs},
          {"wall_s", wall_s},
          {"item_wall_s", item_wall_s},
          {"measured_s", measured_s},
          {"phases_s", phases_s},
          {"origin", provenance}};
}

ProgressPrinter::ProgressPrinter(std::ostream& out, bool tty) : out_(out), tty_(tty) {}

void ProgressPrinter::operator()(const Progress& p) {
  if (p.status == "resumed") {
    if (tty_ && drawn_) out_ << "\r\033[K";
    out_ << p.label << "\n";
    out_.flush();
    drawn_ = false;
    return;
  }
  std::string numbers;
  if (p.result) {
    const Measured& m = p.result->m;
    auto opt = [](const std::optional<double>& v, const char* unit) {
      return v ? fmt::format("{} {}", format_number(*v), unit) : fmt::format("? {}", unit);
    };
    numbers = fmt::format("{}, {}, {} ({})", opt(m.latency_ms, "ms"), opt(m.energy_mj, "mJ"),
                          opt(m.power_mw, "mW"), m.provenance.label());
  }
  if (!tty_) {
    if (p.status == "measured") {
      out_ << fmt::format("[{}/{}] {}: {}\n", p.index, p.total, p.label, numbers);
    } else if (p.status == "failed") {
      out_ << fmt::format("[{}/{}] {}: failed: {}\n", p.index, p.total, p.label, p.error);
    } else {
      out_ << fmt::format("[{}/{}] {}: already stored\n", p.index, p.total, p.label);
    }
    out_.flush();
    return;
  }
  // Rate and ETA count measured items only: stored ones are skipped in no time.
  const double per_item = p.measured > 0 ? p.measuring_s / static_cast<double>(p.measured) : NAN;
  const double rate = p.measured > 0 && p.elapsed_s > 0 ? 60.0 * p.measured / p.elapsed_s : 0;
  const double eta = per_item * static_cast<double>(p.total - p.index);
  const int width = 24;
  const int filled = p.total > 0 ? static_cast<int>(width * p.index / p.total) : width;
  std::string bar(static_cast<size_t>(filled), '#');
  bar.resize(static_cast<size_t>(width), '.');
  std::string line = fmt::format("[{}] {}/{} {:.1f}/min ETA {}", bar, p.index, p.total, rate,
                                 p.measured > 0 ? format_duration(eta) : std::string("?"));
  if (p.skipped) line += fmt::format(" ({} stored)", p.skipped);
  if (p.failed) line += fmt::format(" ({} failed)", p.failed);
  line += " " + p.label;
  if (line.size() > 150) line.resize(150);
  if (p.status == "failed") {
    // Failures stay on screen above the bar.
    out_ << "\r\033[K" << fmt::format("failed: {}: {}\n", p.label, p.error);
  }
  out_ << "\r\033[K" << line;
  out_.flush();
  drawn_ = true;
}

void ProgressPrinter::finish() {
  if (tty_ && drawn_) out_ << "\n";
  out_.flush();
  drawn_ = false;
}

}  // namespace nnjoule::collect
