// nnjoule predict: energy, latency and power of a model (ONNX or zoo) or of a batch of kernel
// configs, from a predictor bundle. Every number is labelled predicted (<bundle>).
#include <fmt/format.h>

#include "command.hpp"
#include "nnjoule/collect/clusters.hpp"
#include "nnjoule/common/error.hpp"
#include "nnjoule/graph/onnx.hpp"
#include "nnjoule/meter/sysfs.hpp"
#include "nnjoule/predict/bundle.hpp"
#include "nnjoule/zoo/zoo.hpp"

namespace nnjoule::cli {
namespace {

struct PredictOptions {
  std::string model;
  std::string predictor;
  std::string kernels;
  std::string zoo;
  int64_t variant = -1;
  uint64_t seed = 0;
  int64_t resolution = 0;
  bool sample_resolution = false;
  bool json = false;
  std::optional<double> cpu_mhz, cpu_capacity;
  std::string cluster;
};

// Where to predict at, for a bundle trained at several clocks (feature set full+clock).
predict::KernelContext where(const PredictOptions& o) {
  predict::KernelContext c;
  c.cpu_mhz = o.cpu_mhz;
  c.cpu_capacity = o.cpu_capacity;
  if (!o.cluster.empty()) {
    if (o.cpu_capacity) fail("predict: give --cluster or --cpu-capacity, not both");
    const auto clusters = collect::discover_clusters(meter::SysFs("/"));
    std::string names;
    for (const auto& k : clusters) {
      names += (names.empty() ? "" : ", ") + k.name;
      if (k.name != o.cluster) continue;
      if (!k.capacity)
        fail("--cluster {}: this machine exposes no cpu_capacity for it; give --cpu-capacity",
             o.cluster);
      c.cpu_capacity = static_cast<double>(*k.capacity);
      return c;
    }
    fail("--cluster {}: this machine's clusters are {}", o.cluster,
         names.empty() ? std::string("unknown") : names);
  }
  return c;
}

void run_predict(const PredictOptions& o) {
  const int sources = !o.model.empty() + !o.kernels.empty() + !o.zoo.empty();
  if (sources != 1) {
    fail("predict needs exactly one of MODEL.onnx, --kernels FILE.csv or --zoo FAMILY");
  }
  const auto p = predict::Predictor::load(o.predictor, predict::Predictor::Load::kLazy);
  const predict::KernelContext at = where(o);
  if (!o.kernels.empty()) {
    const auto rows = predict::read_kernel_csv(o.kernels);
    std::vector<predict::KernelInput> in;
    for (const auto& r : rows) in.push_back({r.name, r.type, r.config, {}, {}, at});
    const auto out = with_context(o.kernels, [&] { return p.predict_kernels(in); });
    if (o.json)
      print_json(predict::kernel_predictions_json(p, out));
    else
      std::cout << predict::render_kernel_predictions(p, out);
    return;
  }
  graph::Graph g;
  std::string source;  // what errors name: the model file, or the zoo model
  if (!o.zoo.empty()) {
    // With --sample-resolution a variant is the model `collect models` measured under the
    // same name (it draws variant resolutions); without, the family's default side.
    const zoo::ModelSpec spec{.family = o.zoo,
                              .resolution = o.resolution,
                              .variant = o.variant,
                              .seed = o.seed,
                              .materialize_weights = false,
                              .sample_resolution = o.sample_resolution && o.variant >= 0};
    g = zoo::build_model(spec);
    g.name = zoo::model_name(spec);
    source = "zoo model " + g.name;
  } else {
    g = graph::load_onnx(o.model);
    source = o.model;
  }
  const auto mp = with_context(source, [&] { return p.predict(g, at); });
  if (o.json) {
    auto j = mp.to_json();
    j["graph_notes"] = g.notes;
    print_json(j);
    return;
  }
  std::cout << mp.render();
  for (const auto& n : g.notes) std::cout << "note: " << n << "\n";
}

void register_predict(CLI::App& app) {
  auto o = std::make_shared<PredictOptions>();
  auto* c = app.add_subcommand("predict",
                               "Predict energy, latency and power of a model or of kernel configs");
  c->add_option("model", o->model, "ONNX model file");
  c->add_option("--predictor", o->predictor, "Predictor bundle directory (nnjoule train -o)")
      ->required();
  c->add_option("--kernels", o->kernels,
                "CSV of kernel configs: a 'type' column and nn-Meter config columns (HW, CIN, "
                "COUT, KERNEL_SIZE, STRIDES, ...)");
  c->add_option("--cpu-mhz", o->cpu_mhz,
                "CPU clock to predict at, MHz (bundles trained at several clocks: full+clock)")
      ->check(CLI::PositiveNumber);
  c->add_option("--cpu-capacity", o->cpu_capacity,
                "cpu_capacity of the cluster to predict for (1024: the fastest core)")
      ->check(CLI::PositiveNumber);
  c->add_option("--cluster", o->cluster,
                "This machine's cluster to predict for (little, big, prime): its cpu_capacity");
  c->add_option("--zoo", o->zoo, "A zoo family instead of a file (see nnjoule zoo list)");
  c->add_option("--variant", o->variant, "Zoo variant index (-1: the base model)");
  c->add_option("--seed", o->seed, "Zoo variant seed");
  c->add_option("--resolution", o->resolution, "Zoo input side (0: the family's default)");
  c->add_flag("--sample-resolution", o->sample_resolution,
              "Draw the variant's input side from the family's set, as collect models does (the "
              "same name is then the same model)");
  c->add_flag("--json", o->json, "Print JSON");
  c->callback([o] { run_predict(*o); });
}

}  // namespace

NNJOULE_COMMAND(60, register_predict);

}  // namespace nnjoule::cli
