#include "nnjoule/collect/collection.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>

#include "collection_detail.hpp"

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

using namespace detail;
using nlohmann::json;

namespace {

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

void check_kernel_types(const std::vector<std::string>& types, const std::string& context) {
  std::vector<std::string> known;
  for (const auto& t : zoo::kernel_model_types()) known.push_back(t.name);
  for (const auto& t : types) {
    if (std::find(known.begin(), known.end(), kernels::canonical_kernel_type(t)) == known.end())
      fail("{}: unknown kernel type '{}' (known: {})", context, t, fmt::join(known, ", "));
  }
}

std::vector<KernelPlanItem> plan_kernels(Runner& runner, const KernelCollectOptions& options) {
  return plan_kernels(options, runner.key_settings());
}

std::vector<KernelPlanItem> plan_kernels(const KernelCollectOptions& options,
                                         const json& key_settings) {
  if (options.count < 0) fail("--count must not be negative");
  zoo::PriorOptions po;
  po.variants = options.prior_variants;
  po.seed = options.seed;
  const zoo::ConfigPrior prior = zoo::build_prior(po);
  std::vector<std::string> types;
  for (const auto& t : options.kernel_types) types.push_back(kernels::canonical_kernel_type(t));
  const auto samples =
      zoo::sample_collection(prior, types, options.count, options.floor, options.seed);
  json settings = key_settings;
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

KernelMeasurement detail::measure_kernel_item(Runner& runner, const KernelPlanItem& item,
                                              uint64_t seed) {
  KernelMeasurement out;
  const auto t0 = Clock::now();
  KernelRow& row = out.row;
  out.error = attempt([&] {
    const KernelModel km = kernel_model(item, seed);
    const kernels::Kernel& k = km.kernels[km.measured];
    out.build_s = since(t0);
    out.result = runner.measure(km.g, km.kernels, false);
    row.kernel_type = k.type;
    row.dtype = k.dtype;
    row.flops = k.flops;
    row.params = k.params;
    row.bytes = k.bytes;
    row.input_shapes = k.input_shapes;
    row.output_shapes = k.output_shapes;
  });
  row.key = item.key;
  row.config = item.config;
  row.threads = runner.threads();
  row.m = out.result.m;
  return out;
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
    KernelMeasurement km = measure_kernel_item(runner, item, seed);
    if (km.error) {
      session.failed(label, *km.error);
      return;
    }
    km.row.run_id = session.run_id();
    km.row.device_id = session.device_id();
    session.store_measured(label, km.result, km.build_s, t0, [&] { store.add_kernel(km.row); });
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
  std::vector<ModelItem> items;
  for (int64_t r = 0; r < options.repeats; ++r)
    for (const auto& spec : specs) items.push_back({spec, r});
  Session session(store, runner, "models", options.command, static_cast<int64_t>(items.size()),
                  progress);
  const json settings = runner.key_settings();
  const auto stored = store.model_keys(session.device_id());
  return session.collect(items, stop, [&](const ModelItem& item) {
    const auto t0 = Clock::now();
    ModelMeasurement mm = measure_model_item(runner, item, settings, stored, options.breakdown);
    if (mm.stored) {
      session.skipped(item.label());
      return;
    }
    if (mm.error) {
      session.failed(item.label(), *mm.error);
      return;
    }
    mm.row.run_id = session.run_id();
    mm.row.device_id = session.device_id();
    session.store_measured(item.label(), mm.result, mm.build_s, t0,
                           [&] { store.add_model_measurement(mm.model, mm.row); });
  });
}

std::string ModelItem::label() const {
  return zoo::model_name(spec) + (repeat > 0 ? fmt::format(" (repeat {})", repeat + 1) : "");
}

ModelMeasurement detail::measure_model_item(Runner& runner, const ModelItem& item,
                                            const json& settings,
                                            const std::unordered_set<std::string>& stored,
                                            bool breakdown) {
  ModelMeasurement out;
  const auto t0 = Clock::now();
  Model& model = out.model;
  ModelRow& row = out.row;
  const zoo::ModelSpec& spec = item.spec;
  out.error = attempt([&] {
    const graph::Graph g = zoo::build_model(spec);
    model.hash = content_hash(graph::to_onnx_bytes(g));
    // The first measurement keeps the key it always had; repeats are keyed apart.
    json key_settings = settings;
    if (item.repeat > 0) key_settings["repeat"] = item.repeat;
    row.key = model_key(model.hash, key_settings);
    if (stored.count(row.key)) {
      out.stored = true;
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
    for (const auto& [op, node] : totals.unknown_ops) model.unknown_ops.push_back(op + " " + node);
    out.build_s = since(t0);
    out.result = runner.measure(g, ks, breakdown);
  });
  row.threads = runner.threads();
  row.m = out.result.m;
  row.kernel_latency_ms = out.result.kernel_latency_ms;
  return out;
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
