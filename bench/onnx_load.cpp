// ONNX import speed: load_onnx of the zoo's ResNet-50 (about 100 MB of weights) and
// MobileNetV2, and import + kernel detection (what `inspect` does) of both. Baselines run side
// by side: reading the file, and reading plus protobuf parsing (the least any importer does);
// the ratios to them are printed at the end.
//
//   bench_onnx_load [--benchmark_* flags]   run the benchmarks (build Release)
//   bench_onnx_load --import FILE...        import each file and print one summary line
//                                           (checks files written by other tools, e.g.
//                                           bench/export_torchvision.py); exit 1 on any error
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <onnx/onnx_pb.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/io.hpp"
#include "nnjoule/graph/onnx.hpp"
#include "nnjoule/kernels/detect.hpp"
#include "nnjoule/zoo/zoo.hpp"

namespace fs = std::filesystem;
using namespace nnjoule;

namespace {

// The models, exported once per run into a temporary directory.
class Models {
 public:
  static Models& get() {
    static Models m;
    return m;
  }
  const fs::path& path(const std::string& family) const { return paths_.at(family); }
  ~Models() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

 private:
  Models() {
    std::string tmpl = (fs::temp_directory_path() / "nnjoule-bench-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) fail("cannot create a temporary directory");
    dir_ = tmpl;
    for (const char* family : {"resnet50", "mobilenetv2"}) {
      const graph::Graph g = zoo::build_model(zoo::ModelSpec{.family = family});
      paths_[family] = dir_ / (std::string(family) + ".onnx");
      graph::save_onnx(g, paths_[family]);
      std::cerr << fmt::format("exported zoo {} to {} ({:.1f} MB)\n", family,
                               paths_[family].string(),
                               static_cast<double>(fs::file_size(paths_[family])) / 1e6);
    }
  }
  fs::path dir_;
  std::map<std::string, fs::path> paths_;
};

void BM_ReadFile(benchmark::State& state, const char* family) {
  const fs::path& p = Models::get().path(family);
  for (auto _ : state) benchmark::DoNotOptimize(read_file(p));
  state.counters["MB"] = static_cast<double>(fs::file_size(p)) / 1e6;
}

void BM_ProtobufParse(benchmark::State& state, const char* family) {
  const fs::path& p = Models::get().path(family);
  for (auto _ : state) {
    const std::string bytes = read_file(p);
    onnx::ModelProto m;
    if (!m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) fail("parse failed");
    benchmark::DoNotOptimize(m);
  }
}

void BM_LoadOnnx(benchmark::State& state, const char* family, bool onnx_check) {
  const fs::path& p = Models::get().path(family);
  size_t nodes = 0;
  for (auto _ : state) {
    graph::Graph g =
        graph::load_onnx(p, graph::ImportOptions{.check_with_onnx_inference = onnx_check});
    nodes = g.nodes.size();
    benchmark::DoNotOptimize(g);
  }
  state.counters["nodes"] = static_cast<double>(nodes);
}

void BM_LoadAndDetect(benchmark::State& state, const char* family) {
  const fs::path& p = Models::get().path(family);
  size_t kernels = 0;
  for (auto _ : state) {
    const graph::Graph g = graph::load_onnx(p);
    auto ks = kernels::detect_kernels(g);
    kernels = ks.size();
    benchmark::DoNotOptimize(ks);
  }
  state.counters["kernels"] = static_cast<double>(kernels);
}

BENCHMARK_CAPTURE(BM_ReadFile, resnet50, "resnet50")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_ProtobufParse, resnet50, "resnet50")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_LoadOnnx, resnet50, "resnet50", true)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_LoadOnnx, resnet50_no_onnx_check, "resnet50", false)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_LoadAndDetect, resnet50, "resnet50")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_ReadFile, mobilenetv2, "mobilenetv2")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_ProtobufParse, mobilenetv2, "mobilenetv2")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_LoadOnnx, mobilenetv2, "mobilenetv2", true)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_LoadAndDetect, mobilenetv2, "mobilenetv2")->Unit(benchmark::kMillisecond);

// Keeps each run's wall time so the ratios to the baselines can be printed at the end.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const auto& r : runs) {
      if (r.run_type == Run::RT_Iteration && r.iterations > 0) {
        ms_[r.benchmark_name()] = r.GetAdjustedRealTime();  // in the run's unit: ms
      }
    }
  }
  void print_ratios() const {
    for (const char* family : {"resnet50", "mobilenetv2"}) {
      const auto read = find("BM_ReadFile/", family), parse = find("BM_ProtobufParse/", family);
      for (const char* what : {"BM_LoadOnnx/", "BM_LoadAndDetect/"}) {
        const auto t = find(what, family);
        if (t <= 0 || read <= 0 || parse <= 0) continue;
        std::cout << fmt::format(
            "{}{}: {:.1f} ms wall = {:.2f}x reading the file, {:.2f}x reading + protobuf "
            "parsing\n",
            what, family, t, t / read, t / parse);
      }
    }
  }

 private:
  double find(const std::string& prefix, const std::string& family) const {
    auto it = ms_.find(prefix + family);
    return it == ms_.end() ? -1 : it->second;
  }
  std::map<std::string, double> ms_;
};

int import_files(const std::vector<std::string>& files) {
  int failures = 0;
  for (const auto& f : files) {
    try {
      const auto t0 = std::chrono::steady_clock::now();
      const graph::Graph g = graph::load_onnx(f);
      const double load_ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      const auto ks = kernels::detect_kernels(g);
      std::map<std::string, int> ops;
      for (const auto& n : g.nodes) ++ops[n.op_type];
      std::vector<std::string> op_counts;
      for (const auto& [op, count] : ops) op_counts.push_back(fmt::format("{}x{}", op, count));
      std::cout << fmt::format(
          "{}: ok: {} nodes, {} kernels, {:.1f} MB weights, load {:.1f} ms "
          "(measured, steady_clock); ops {}{}{}\n",
          f, g.nodes.size(), ks.size(), static_cast<double>(g.weight_bytes()) / 1e6, load_ms,
          fmt::join(op_counts, " "), g.notes.empty() ? "" : "; notes: ", fmt::join(g.notes, " | "));
    } catch (const Error& e) {
      ++failures;
      std::cout << f << ": error: " << e.what() << "\n";
    }
  }
  return failures ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "--import") {
    return import_files(std::vector<std::string>(argv + 2, argv + argc));
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  try {
    Models::get();
    RatioReporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    reporter.print_ratios();
  } catch (const Error& e) {
    std::cerr << "bench_onnx_load: error: " << e.what() << "\n";
    return 1;
  }
  benchmark::Shutdown();
  return 0;
}
