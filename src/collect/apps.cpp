#include "nnjoule/collect/apps.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "nnjoule/collect/clusters.hpp"
#include "nnjoule/collect/runner.hpp"
#include "nnjoule/common/error.hpp"
#include "nnjoule/common/io.hpp"
#include "nnjoule/common/plausible.hpp"
#include "nnjoule/common/rng.hpp"
#include "nnjoule/common/stats.hpp"
#include "nnjoule/common/text.hpp"
#include "nnjoule/exec/engine.hpp"
#include "nnjoule/graph/onnx.hpp"
#include "nnjoule/graph/quant.hpp"
#include "nnjoule/meter/meters.hpp"
#include "nnjoule/zoo/processing.hpp"
#include "nnjoule/zoo/quantize.hpp"
#include "nnjoule/zoo/suite_models.hpp"

namespace nnjoule::collect {

// Suites, their models and their pre/post-processing are the zoo's.
using namespace nnjoule::zoo;

namespace {
using Clock = std::chrono::steady_clock;

constexpr const char* kQuestion = "Which library does nnjoule use to run models on the CPU?";
constexpr const char* kContext =
    "nnjoule measures, predicts and scores the energy of neural-network inference on edge "
    "devices. It compiles each model into XNNPACK operators, runs them on one or more threads, "
    "and reads power from RAPL, INA rails, battery gauges or an estimate when no sensor exists. "
    "Scores follow the DeepEn2023 study: the power consumption score and the inference energy "
    "consumption score of a device over a suite of applications.";

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

std::string shape_str(const graph::Shape& s) {
  std::string o = "[";
  for (size_t i = 0; i < s.size(); ++i) o += (i ? "," : "") + std::to_string(s[i]);
  return o + "]";
}

}  // namespace

struct Pipeline::Impl {
  SuiteEntry entry;
  graph::Graph g;
  std::optional<exec::CompiledModel> m;
  graph::Shape in_shape;
  std::string image_bytes;        // encoded image, decoded by every pre()
  std::vector<int16_t> pcm;       // speech
  std::vector<float> embeddings;  // MobileBERT word-embedding table
  std::vector<float> input;
  std::vector<Anchor> anchors;
  std::string result;

  [[noreturn]] void bad(const std::string& what) const {
    fail("suite entry '{}' ({}): {}", entry.id, application_name(entry.application), what);
  }
};

Pipeline::Pipeline(const SuiteEntry& entry, int threads, uint64_t seed,
                   const std::vector<int>& cpus)
    : impl_(std::make_unique<Impl>()) {
  auto& im = *impl_;
  im.entry = entry;
  if (!entry.unsupported.empty()) im.bad(entry.unsupported);
  im.g = entry.builtin.empty() ? graph::load_onnx(entry.onnx)
                               : zoo::build_suite_model(entry.builtin, seed);
  const bool quantized =
      std::any_of(im.g.nodes.begin(), im.g.nodes.end(),
                  [](const graph::Node& n) { return graph::is_quant_op(n.op_type); });
  if (entry.precision == "int8" && !entry.builtin.empty()) {
    // The suite's INT8 models: the float model through the zoo's post-training quantizer
    // (docs/quantization.md), calibrated on the quantizer's synthetic inputs.
    zoo::QuantizeOptions q{.runner = exec::run_feeds, .eval_inputs = 0, .seed = seed};
    im.g = zoo::quantize_qdq(im.g, q);
  } else if (entry.precision == "int8" && !quantized) {
    im.bad(
        fmt::format("precision int8, but '{}' has no QuantizeLinear/DequantizeLinear nodes "
                    "(quantize it first: nnjoule quantize)",
                    entry.onnx.string()));
  }
  if (im.g.inputs.size() != 1) {
    im.bad(fmt::format("the model has {} inputs; the pipeline feeds one", im.g.inputs.size()));
  }
  im.in_shape = im.g.shape(im.g.inputs[0]);
  const auto out0 = im.g.shape(im.g.outputs.at(0));
  const auto app = entry.application;
  const bool image = app == Application::kClassification || app == Application::kDetection ||
                     app == Application::kSegmentation || app == Application::kSuperResolution;
  if (image) {
    if (im.in_shape.size() != 4 || im.in_shape[0] != 1 || im.in_shape[1] != 3) {
      im.bad("input " + shape_str(im.in_shape) + " is not an image [1,3,H,W]");
    }
    if (!entry.pre.input.empty()) {
      im.image_bytes = read_file(entry.pre.input);
      decode_image(im.image_bytes, entry.pre.input.string());  // fail early on a bad file
    } else {
      im.image_bytes =
          encode_png(generate_image(entry.pre.source_width, entry.pre.source_height, seed));
    }
  }
  switch (app) {
    case Application::kClassification:
      if (out0.empty() || out0[0] != 1)
        im.bad("output " + shape_str(out0) + " is not [1,K] logits");
      break;
    case Application::kDetection: {
      if (entry.builtin.empty()) im.bad("detection needs a built-in SSD model (anchor layout)");
      im.anchors = ssd_anchors(zoo::ssd_layout(entry.builtin));
      break;
    }
    case Application::kSegmentation:
      if (out0.size() != 4) im.bad("output " + shape_str(out0) + " is not [1,C,H,W] logits");
      break;
    case Application::kSuperResolution:
      if (out0.size() != 4 || out0[1] != 3)
        im.bad("output " + shape_str(out0) + " is not an image [1,3,H,W]");
      break;
    case Application::kQuestionAnswering: {
      if (im.in_shape.size() != 3 || im.in_shape[2] != zoo::kMobileBertEmbedding) {
        im.bad("input " + shape_str(im.in_shape) + " is not [1,L,128] word embeddings");
      }
      // The word-embedding table the pipeline looks tokens up in (seeded, like the weights).
      Rng rng(hash_mix(seed, 0x3e3b));
      im.embeddings.resize(static_cast<size_t>(zoo::kMobileBertVocab * zoo::kMobileBertEmbedding));
      for (auto& v : im.embeddings) v = static_cast<float>(rng.uniform(-0.1, 0.1));
      break;
    }
    case Application::kSpeech: {
      if (im.in_shape.size() != 4 || im.in_shape[1] != 1) {
        im.bad("input " + shape_str(im.in_shape) + " is not a spectrogram [1,1,frames,bins]");
      }
      if (!entry.pre.input.empty()) {
        const auto raw = read_file(entry.pre.input);
        if (raw.size() % 2)
          fail("{}: raw 16-bit audio must have an even byte count", entry.pre.input.string());
        im.pcm.resize(raw.size() / 2);
        for (size_t i = 0; i < im.pcm.size(); ++i) {
          im.pcm[i] = static_cast<int16_t>(static_cast<uint8_t>(raw[2 * i]) |
                                           (static_cast<uint8_t>(raw[2 * i + 1]) << 8));
        }
      } else {
        im.pcm = generate_audio(480 + (im.in_shape[2] - 1) * 160, seed);
      }
      break;
    }
  }
  exec::CompileOptions co;
  co.threads = threads;
  co.cpus = cpus;
  im.m.emplace(
      with_context("suite entry '" + entry.id + "'", [&] { return exec::compile(im.g, co); }));
}

Pipeline::~Pipeline() = default;
Pipeline::Pipeline(Pipeline&&) noexcept = default;

void Pipeline::pre() {
  auto& im = *impl_;
  switch (im.entry.application) {
    case Application::kClassification:
    case Application::kDetection:
    case Application::kSegmentation:
    case Application::kSuperResolution: {
      const auto img = decode_image(im.image_bytes, im.entry.id);
      im.input =
          image_to_tensor(img, im.in_shape[3], im.in_shape[2], im.entry.pre.mean, im.entry.pre.std);
      break;
    }
    case Application::kQuestionAnswering: {
      const auto ids = tokenize(kQuestion, kContext, zoo::kMobileBertVocab, im.in_shape[1]);
      im.input = embed(ids, im.embeddings, zoo::kMobileBertEmbedding);
      break;
    }
    case Application::kSpeech:
      im.input = spectrogram(im.pcm, im.in_shape[2], im.in_shape[3]);
      break;
  }
  im.m->set_input(0, im.input);
}

void Pipeline::infer() {
  impl_->m->run();
}

void Pipeline::post() {
  auto& im = *impl_;
  auto& m = *im.m;
  switch (im.entry.application) {
    case Application::kClassification:
    case Application::kSpeech: {
      const auto top = softmax_top_k(m.output(0), im.entry.post.top_k);
      im.result = fmt::format("top-1 class {} (p {:.4f}) of {}", top[0].index, top[0].probability,
                              m.output(0).size());
      break;
    }
    case Application::kDetection: {
      const int64_t classes = m.outputs().at(1).shape.back();
      const auto det =
          decode_ssd(m.output(0), m.output(1), im.anchors, classes, im.entry.post.score_threshold,
                     im.entry.post.iou_threshold, im.entry.post.max_detections);
      im.result =
          fmt::format("{} detections above {:.2f}", det.size(), im.entry.post.score_threshold);
      break;
    }
    case Application::kSegmentation: {
      const auto& s = m.outputs().at(0).shape;
      const auto mask = argmax_mask(m.output(0), s[1], s[2], s[3]);
      std::set<uint8_t> present(mask.begin(), mask.end());
      im.result = fmt::format("{}x{} mask, {} classes present", s[3], s[2], present.size());
      break;
    }
    case Application::kSuperResolution: {
      const auto& s = m.outputs().at(0).shape;
      const auto img = tensor_to_image(m.output(0), s[3], s[2]);
      im.result = fmt::format("{}x{} image", img.width, img.height);
      break;
    }
    case Application::kQuestionAnswering: {
      const auto [b, e] = answer_span(m.output(0), m.outputs().at(0).shape[1]);
      im.result = fmt::format("answer tokens {}..{}", b, e);
      break;
    }
  }
}

const std::string& Pipeline::result() const {
  return impl_->result;
}
exec::CompiledModel& Pipeline::model() {
  return *impl_->m;
}
const graph::Graph& Pipeline::graph() const {
  return impl_->g;
}

SuiteRunOptions quick_suite_options() {
  SuiteRunOptions o;
  o.protocol.idle_s = 0.5;
  o.protocol.warmup_runs = 1;
  o.protocol.warmup_s = 0.2;
  o.protocol.min_window_s = 0.4;
  o.protocol.min_windows = 3;
  o.protocol.ci_target = 0.05;
  o.protocol.time_cap_s = 5;
  o.stage_protocol = o.protocol;
  o.stage_protocol.idle_s = 0;
  o.stage_protocol.warmup_s = 0.1;
  o.stage_protocol.min_window_s = 0.3;
  o.stage_protocol.time_cap_s = 2;
  o.trace_idle_s = 0.3;
  o.trace_run_s = 0.6;
  return o;
}

namespace {

std::vector<TraceSample> record_trace(Pipeline& p, const collect::Context& ctx,
                                      const SuiteRunOptions& o) {
  std::vector<TraceSample> samples;
  std::atomic<bool> running{false}, stop{false};
  std::mutex mu;
  std::string error;
  auto* sampler = ctx.sampler;
  const double t0 = sampler->clock().now_s();
  std::thread tracer([&] {
    try {
      int i = 0;
      std::string name = "nnjoule-trace-0";
      sampler->begin_window(name);
      while (!stop.load()) {
        std::this_thread::sleep_for(std::chrono::duration<double>(o.trace_step_s));
        const bool run = running.load();
        const std::string next = "nnjoule-trace-" + std::to_string(++i);
        const auto w = sampler->end_window(name);
        sampler->begin_window(next);
        name = next;
        std::lock_guard<std::mutex> lock(mu);
        samples.push_back(
            {(w.begin_s + w.end_s) / 2 - t0, w.primary().avg_power_mw, run ? "run" : "idle"});
      }
      sampler->end_window(name);
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> lock(mu);
      error = e.what();
    }
  });
  try {
    ctx.sleep(o.trace_idle_s);
    running = true;
    const auto t = Clock::now();
    do p.run_once();
    while (ms_since(t) < o.trace_run_s * 1000);
    running = false;
    ctx.sleep(o.trace_idle_s);
  } catch (...) {
    stop = true;
    tracer.join();
    throw;
  }
  stop = true;
  tracer.join();
  if (!error.empty()) fail("power trace: {}", error);
  return samples;
}

}  // namespace

std::vector<int> delegate_cpus(const meter::SysFs& fs, int threads) {
  const auto clusters = discover_clusters(fs);
  const bool one_kind = clusters.empty() || clusters.front().name.rfind("all", 0) == 0;
  if (threads < 1 || one_kind) return {};
  std::vector<int> big = resolve_cpus(fs, "big");
  if (static_cast<int>(big.size()) > threads) big.resize(static_cast<size_t>(threads));
  return big;
}

ConfigResult run_config(const Suite& suite, const ConfigKey& config, const collect::Context& ctx,
                        const SuiteRunOptions& o) {
  const auto& entry = suite.entry(config.model);
  const auto& del = suite.delegate(config.delegate);
  ConfigResult r;
  r.config = config;
  r.title = entry.title;
  r.application = std::string(application_name(entry.application));
  r.threads = del.threads;
  r.unsupported = suite.unsupported_reason(config);
  if (!r.unsupported.empty()) return r;
  auto say = [&](const std::string& s) {
    if (o.progress) o.progress(config.label() + ": " + s);
  };
  r.cpus = delegate_cpus(*ctx.fs, del.threads);
  say("building " + entry.title +
      (r.cpus.empty() ? std::string() : " on the big cores (CPUs " + cpu_ranges(r.cpus) + ")"));
  Pipeline p(entry, del.threads, o.seed, r.cpus);
  p.run_once();
  r.output = p.result();

  auto protocol = o.protocol;
  protocol.threads = del.threads;
  say("measuring the whole pipeline");
  r.whole = collect::measure_workload(
      ctx,
      [&](int64_t n) {
        for (int64_t i = 0; i < n; ++i) p.run_once();
      },
      suite.name + ":" + config.label(), protocol);
  if (!r.cpus.empty()) {
    // The engine pins its threads (and the caller, which runs pre- and post-processing).
    r.whole.device.affinity = r.cpus;
    r.whole.device.cores_used = std::min<int>(del.threads, static_cast<int>(r.cpus.size()));
    r.whole.notes.push_back(fmt::format(
        "{} ran on the big cores (CPUs {}), as DeepEn2023's CPU delegates did on its phones",
        config.delegate, cpu_ranges(r.cpus)));
  }

  auto stage_protocol = o.stage_protocol;
  stage_protocol.threads = del.threads;
  const std::pair<const char*, void (Pipeline::*)()> stages[] = {
      {"pre-processing", &Pipeline::pre},
      {"inference", &Pipeline::infer},
      {"post-processing", &Pipeline::post}};
  for (auto [name, fn] : stages) {
    say(std::string("measuring ") + name);
    const auto m = collect::measure_workload(
        ctx,
        [&, fn = fn](int64_t n) {
          for (int64_t i = 0; i < n; ++i) (p.*fn)();
        },
        suite.name + ":" + config.label() + ":" + name, stage_protocol);
    r.stages.push_back({name, m.latency_ms.value_or(0), m.energy_per_inference_mj});
  }

  // Per-kernel breakdown: the median of a few timed runs per step, the inference energy split
  // by each step's share of the inference time.
  say("timing kernels");
  auto& model = p.model();
  const auto& steps = model.steps();
  std::vector<std::vector<double>> per_step(steps.size());
  std::vector<double> buf(steps.size());
  // Up to three runs, fewer when one takes long (a slow model on an oversubscribed machine).
  const auto kernels_t0 = Clock::now();
  for (int run = 0; run < 3 && (run == 0 || ms_since(kernels_t0) < 1000); ++run) {
    p.pre();
    model.run_timed(buf);
    for (size_t i = 0; i < steps.size(); ++i) per_step[i].push_back(buf[i]);
  }
  double total_ms = 0;
  std::vector<double> med(steps.size());
  for (size_t i = 0; i < steps.size(); ++i) total_ms += med[i] = stats::median(per_step[i]);
  const std::optional<double> infer_mj = r.stages[1].energy_mj;
  for (size_t i = 0; i < steps.size(); ++i) {
    r.kernels.push_back({steps[i].name, steps[i].io ? "layout" : steps[i].op, med[i],
                         infer_mj && total_ms > 0 ? *infer_mj * med[i] / total_ms : 0});
  }
  if (!infer_mj) r.kernels.clear();

  say("recording a power trace");
  r.trace = record_trace(p, ctx, o);
  return r;
}

namespace {

std::string config_key(const Suite& suite, const SuiteEntry& e, const Delegate& d, uint64_t seed,
                       const std::vector<int>& cpus) {
  const std::string model =
      e.builtin.empty() ? "onnx:" + content_hash(read_file(e.onnx)) : "builtin:" + e.builtin;
  // Pinned CPUs join the key only when there are some: keys of unpinned runs stay as they were.
  return content_hash(fmt::format("app|{}|{}|{}|{}|{}|{}|{}{}", suite.name, e.id, model, d.name,
                                  d.threads, seed, e.pre.input.string(),
                                  cpus.empty() ? std::string() : "|cpus=" + cpu_ranges(cpus)));
}

nlohmann::json protocol_json(const collect::ProtocolOptions& p) {
  return {{"idle_s", p.idle_s},           {"warmup_runs", p.warmup_runs},
          {"warmup_s", p.warmup_s},       {"min_window_s", p.min_window_s},
          {"min_updates", p.min_updates}, {"ci_target", p.ci_target},
          {"min_windows", p.min_windows}, {"max_windows", p.max_windows},
          {"time_cap_s", p.time_cap_s}};
}

}  // namespace

SuiteRun run_suite(const Suite& suite, store::Store& db, const collect::Context& ctx,
                   const Provenance& provenance, const SuiteRunOptions& o,
                   const std::string& command, std::optional<double> tdp_w,
                   const std::string& tdp_source) {
  // Before any measuring: a TDP that cannot be right would only fail when scored.
  if (tdp_w) check_tdp_w(*tdp_w, tdp_source.empty() ? std::string("TDP") : tdp_source);
  SuiteRun out;
  // The same description as `collect`'s: one machine is one device row, so its kernel dataset
  // and its scores meet.
  out.device = collect::describe_host(ctx);
  const int64_t device_id = db.ensure_device(out.device);
  out.device.id = device_id;
  nlohmann::json configs = nlohmann::json::array(), unsupported = nlohmann::json::object();
  for (const auto& c : suite.configs()) {
    configs.push_back({{"model", c.model}, {"delegate", c.delegate}});
    if (auto why = suite.unsupported_reason(c); !why.empty()) unsupported[c.label()] = why;
  }
  store::Run run;
  run.device_id = device_id;
  run.kind = "applications";
  run.provenance = provenance;
  run.command = command;
  run.settings = {{"suite", suite.name},
                  {"suite_file", suite.source.string()},
                  {"configs", configs},
                  {"unsupported", unsupported},
                  {"seed", o.seed},
                  {"protocol", protocol_json(o.protocol)},
                  {"stage_protocol", protocol_json(o.stage_protocol)}};
  if (tdp_w) {
    run.settings["tdp_w"] = *tdp_w;
    run.settings["tdp_source"] = tdp_source;
  }
  out.run_id = db.begin_run(run);
  try {
    const auto done = db.application_keys(device_id);
    for (const auto& c : suite.configs()) {
      const auto& e = suite.entry(c.model);
      const auto& d = suite.delegate(c.delegate);
      ConfigResult r;
      r.config = c;
      r.title = e.title;
      r.application = std::string(application_name(e.application));
      r.threads = d.threads;
      r.unsupported = suite.unsupported_reason(c);
      if (!r.unsupported.empty()) {
        out.results.push_back(std::move(r));
        continue;
      }
      const auto key = config_key(suite, e, d, o.seed, delegate_cpus(*ctx.fs, d.threads));
      if (done.count(key)) {
        r.skipped = "already stored for this device";
        if (o.progress) o.progress(c.label() + ": already stored, skipped");
        out.results.push_back(std::move(r));
        continue;
      }
      r = run_config(suite, c, ctx, o);
      store::AppRow row;
      row.run_id = out.run_id;
      row.device_id = device_id;
      row.key = key;
      row.app = r.application;
      row.model = c.model;
      row.configuration = r.title;
      row.delegate = c.delegate;
      row.threads = d.threads;
      const auto& w = r.whole;
      row.m.latency_ms = w.latency_ms;
      row.m.latency_ci_ms = w.latency_ci95_ms;
      row.m.energy_mj = w.energy_per_inference_mj;
      row.m.dynamic_energy_mj = w.dynamic_energy_per_inference_mj;
      row.m.energy_ci_mj = w.energy_ci95_mj;
      row.m.power_mw = w.avg_power_mw;
      row.m.idle_power_mw = w.idle_power_mw;
      row.m.n = w.inferences;
      row.m.provenance = w.provenance;
      row.m.device_state = collect::to_json(w.device);
      if (!w.converged) row.m.flags.push_back("not_converged");
      nlohmann::json stages = nlohmann::json::array(), kernels = nlohmann::json::array(),
                     trace = nlohmann::json::array();
      for (const auto& s : r.stages) {
        stages.push_back(
            {{"stage", s.stage},
             {"latency_ms", s.latency_ms},
             {"energy_mj", s.energy_mj ? nlohmann::json(*s.energy_mj) : nlohmann::json(nullptr)}});
      }
      for (const auto& k : r.kernels) {
        kernels.push_back({{"name", k.name},
                           {"op", k.op},
                           {"latency_ms", k.latency_ms},
                           {"energy_mj", k.energy_mj}});
      }
      for (const auto& t : r.trace) trace.push_back({t.t_s, t.power_mw, t.phase});
      row.details = {
          {"suite", suite.name},
          {"title", r.title},
          {"model", e.builtin.empty() ? e.onnx.string() : e.builtin},
          {"output", r.output},
          {"stop_reason", w.stop_reason},
          {"stages", stages},
          {"kernels", kernels},
          {"kernels_label",
           "estimated: inference energy split by each step's share of the inference time"},
          {"power_trace", trace},
          {"cpus", r.cpus},
          {"notes", w.notes}};
      db.add_application(row);
      if (o.progress) {
        o.progress(fmt::format(
            "{}: {} ms, {} mJ per run, {} mW average ({}); {}", c.label(),
            w.latency_ms ? fmt::format("{:.2f}", *w.latency_ms) : "n/a",
            w.energy_per_inference_mj ? fmt::format("{:.2f}", *w.energy_per_inference_mj) : "n/a",
            fmt::format("{:.0f}", w.avg_power_mw), w.provenance.label(), r.output));
      }
      out.results.push_back(std::move(r));
    }
  } catch (...) {
    db.end_run(out.run_id, "failed");
    throw;
  }
  db.end_run(out.run_id, "complete");
  return out;
}

}  // namespace nnjoule::collect
