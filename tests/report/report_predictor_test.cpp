// nnjoule report --predictor: a bundle trained with nnjoule train on a tiny database predicts the
// models measured in it, and the page embeds those points with their labels.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "nnjoule/predict/bundle.hpp"
#include "nnjoule/predict/features.hpp"
#include "nnjoule/store/store.hpp"
#include "predict/predict_support.hpp"
#include "report/report_support.hpp"
#include "support/test_support.hpp"

namespace nnjoule::report {
namespace {

using nlohmann::json;
using nnjoule::testing::read_text;
using nnjoule::testing::run_cli;
using nnjoule::testing::TempDir;

const Provenance kEstimate{Origin::kEstimated, "cpu-time model"};

struct TinyModel {
  std::string name;
  std::vector<store::ModelKernel> kernels;
  std::vector<std::string> unknown_ops;
  std::optional<double> energy_mj, latency_ms;  // measured
  int64_t threads = 1;
};

store::ModelKernel conv(int64_t hw, int64_t cin, int64_t cout, int64_t k, int64_t stride) {
  const kernels::KernelConfig c{
      {"HW", hw}, {"CIN", cin}, {"COUT", cout}, {"KERNEL_SIZE", k}, {"STRIDES", stride}};
  const auto z = predict::kernel_sizes("conv-bn-relu", c);
  return {"conv-bn-relu",
          "conv_" + std::to_string(hw) + "_" + std::to_string(cout),
          c,
          z.flops,
          static_cast<int64_t>(z.params),
          static_cast<int64_t>(z.bytes)};
}

store::ModelKernel maxpool(int64_t hw, int64_t cin) {
  const kernels::KernelConfig c{{"HW", hw}, {"CIN", cin}, {"KERNEL_SIZE", 3}, {"POOL_STRIDES", 2}};
  const auto z = predict::kernel_sizes("maxpool", c);
  return {"maxpool", "pool_" + std::to_string(hw),   c,
          z.flops,   static_cast<int64_t>(z.params), static_cast<int64_t>(z.bytes)};
}

// What the synthetic dataset says the kernels cost, summed.
predict::Targets synthetic_total(const std::vector<store::ModelKernel>& ks) {
  predict::Targets t;
  t.energy_mj = 0;
  t.latency_ms = 0;
  for (const auto& k : ks) {
    const auto s = predict::testing::synthetic_targets(k.type, k.config);
    *t.energy_mj += *s.energy_mj;
    *t.latency_ms += *s.latency_ms;
  }
  return t;
}

// net-a measured at what its kernels cost, net-b at twice that, net-c (an unknown op) with
// latency only, net-d at 4 threads (not what the bundle predicts).
std::vector<TinyModel> tiny_models() {
  std::vector<TinyModel> ms;
  TinyModel a{"net-a", {conv(56, 16, 32, 3, 2), conv(28, 32, 64, 3, 1), maxpool(28, 64)}};
  const auto ta = synthetic_total(a.kernels);
  a.energy_mj = ta.energy_mj;
  a.latency_ms = ta.latency_ms;
  TinyModel b{"net-b", {conv(28, 32, 32, 3, 1), conv(14, 32, 128, 1, 1), maxpool(14, 128)}};
  const auto tb = synthetic_total(b.kernels);
  b.energy_mj = 2 * *tb.energy_mj;
  b.latency_ms = 2 * *tb.latency_ms;
  TinyModel c{"net-c", {conv(14, 64, 96, 3, 1)}, {"FancyOp fancy_1"}};
  c.latency_ms = *synthetic_total(c.kernels).latency_ms;
  TinyModel d{"net-d", {conv(56, 16, 32, 3, 2)}};
  d.energy_mj = *synthetic_total(d.kernels).energy_mj;
  d.latency_ms = *synthetic_total(d.kernels).latency_ms;
  d.threads = 4;
  return {a, b, c, d};
}

// One device's synthetic kernel rows at 1 thread, the given models, one application result
// (unless told not to).
void fill(const std::filesystem::path& file, const std::string& device,
          const std::vector<TinyModel>& models, bool applications = true) {
  store::Store s(file);
  store::Device d;
  d.name = device;
  d.runtime = "XNNPACK";
  const int64_t dev = s.ensure_device(d);
  store::Run run;
  run.device_id = dev;
  run.kind = "kernels";
  run.provenance = kEstimate;
  run.settings = {{"threads", 1}};
  const int64_t run_id = s.begin_run(run);
  const auto rows = predict::testing::kernel_rows(predict::testing::synthetic_dataset(60, 20),
                                                  run_id, dev, kEstimate);
  s.add_kernels(rows);
  for (const auto& tm : models) {
    store::Model m;
    m.hash = tm.name;
    m.hash_kind = "onnx";
    m.name = tm.name;
    m.family = "tiny";
    m.kernels = tm.kernels;
    m.unknown_ops = tm.unknown_ops;
    store::ModelRow row;
    row.run_id = run_id;
    row.device_id = dev;
    row.key = tm.name + "@" + std::to_string(tm.threads);
    row.threads = tm.threads;
    row.m.energy_mj = tm.energy_mj;
    row.m.latency_ms = tm.latency_ms;
    row.m.provenance = kEstimate;
    s.add_model_measurement(m, row);
  }
  s.end_run(run_id, "complete");
  if (!applications) return;

  // One application result, as nnjoule apps stores it: under its own device row (bench names
  // the runtime differently), with the same name.
  store::Device bench_device = d;
  bench_device.runtime = "nnjoule XNNPACK (CPU)";
  const int64_t bench_dev = s.ensure_device(bench_device);
  store::Run app_run;
  app_run.device_id = bench_dev;
  app_run.kind = "applications";
  app_run.provenance = kEstimate;
  app_run.settings = {{"tdp_w", 15.0}, {"configs", {{{"model", "m"}, {"delegate", "CPU1"}}}}};
  const int64_t app_id = s.begin_run(app_run);
  store::AppRow app;
  app.run_id = app_id;
  app.device_id = bench_dev;
  app.key = "m/CPU1";
  app.app = "classification";
  app.model = "m";
  app.delegate = "CPU1";
  app.threads = 1;
  app.m.latency_ms = 25;
  app.m.energy_mj = 100;
  app.m.power_mw = 4000;
  app.m.provenance = kEstimate;
  s.add_application(app);
  s.end_run(app_id, "complete");
}

// The chart specs the page hands vega-embed, by element id.
std::map<std::string, json> embedded_charts(const std::string& html) {
  const std::string open = "var charts=";
  const auto a = html.find(open);
  const auto b = html.find(";\nif(window.__nnjouleEarly)", a);
  if (a == std::string::npos || b == std::string::npos) return {};
  std::map<std::string, json> out;
  for (const auto& c : json::parse(html.substr(a + open.size(), b - a - open.size())))
    out[c.at("id").get<std::string>()] = c.at("spec");
  return out;
}

// The measured points of a predicted-vs-measured spec (its last layer), by model.
std::map<std::string, json> points(const json& spec) {
  std::map<std::string, json> out;
  for (const auto& v : spec.at("layer").back().at("data").at("values"))
    out[v.at("model").get<std::string>()] = v;
  return out;
}

TEST(ReportPredictor, PointsOfEveryMeasuredModelWithTheirLabels) {
  TempDir tmp;
  const std::string db = (tmp / "tiny.db").string();
  const auto models = tiny_models();
  fill(db, "report-host", models);
  const std::string bundle = (tmp / "tiny-bundle").string();
  auto r = run_cli({"train", "--db", db, "-o", bundle, "--cv-folds", "0", "--jobs", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  const std::string out = (tmp / "r.html").string();
  r = run_cli({"report", "--db", db, "--predictor", bundle, "-o", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("3 models measured on report-host at 1 thread ("), std::string::npos)
      << r.out;
  const auto html = read_text(out);
  // The bench device row scores under the plain name: the collect row has no results.
  EXPECT_NE(html.find("<td class=dev>report-host</td>"), std::string::npos);
  EXPECT_EQ(html.find("report-host #"), std::string::npos);
  const auto charts = embedded_charts(html);
  ASSERT_TRUE(charts.count("chart-predicted-energy")) << "no energy scatter";
  ASSERT_TRUE(charts.count("chart-predicted-latency")) << "no latency scatter";

  // What the bundle predicts for the same kernels (unknown ops left out).
  const auto p = predict::Predictor::load(bundle);
  std::map<std::string, predict::Targets> expected;
  for (const auto& m : models) {
    std::vector<kernels::Kernel> ks;
    for (const auto& k : m.kernels) {
      kernels::Kernel kk;
      kk.type = k.type;
      kk.name = k.name;
      kk.config = k.config;
      kk.flops = k.flops;
      kk.bytes = k.bytes;
      ks.push_back(kk);
    }
    expected[m.name] = p.predict(ks, m.name).total;
  }

  // Energy: net-a and net-b (net-c has no measured energy, net-d ran at 4 threads).
  const auto energy = points(charts.at("chart-predicted-energy"));
  ASSERT_EQ(energy.size(), 2u);
  int within = 0;
  for (const auto* name : {"net-a", "net-b"}) {
    const auto& v = energy.at(name);
    const auto& m = *std::find_if(models.begin(), models.end(),
                                  [&](const TinyModel& t) { return t.name == name; });
    EXPECT_DOUBLE_EQ(v.at("measured").get<double>(), *m.energy_mj) << name;
    EXPECT_NEAR(v.at("predicted").get<double>(), *expected[name].energy_mj,
                1e-9 * *expected[name].energy_mj)
        << name;
    EXPECT_EQ(v.at("measured_label"), "estimated (cpu-time model)");
    EXPECT_EQ(v.at("predicted_label"), "predicted (tiny-bundle)");
    within += std::fabs(*expected[name].energy_mj - *m.energy_mj) <= 0.1 * *m.energy_mj;
  }
  // net-b was measured at twice its kernels' cost: far outside the band.
  EXPECT_EQ(energy.at("net-b").at("within"), "outside ±10%");
  EXPECT_NE(html.find(std::to_string(within) + " of 2 models within ±10%"), std::string::npos);

  // Latency: net-c too, its prediction a lower bound; the clock's label.
  const auto latency = points(charts.at("chart-predicted-latency"));
  ASSERT_EQ(latency.size(), 3u);
  EXPECT_FALSE(latency.count("net-d"));
  EXPECT_EQ(latency.at("net-c").at("measured_label"), "measured (clock)");
  EXPECT_EQ(latency.at("net-c").at("predicted_label"), "predicted (tiny-bundle)");
  EXPECT_NEAR(latency.at("net-c").at("predicted").get<double>(), *expected["net-c"].latency_ms,
              1e-9 * *expected["net-c"].latency_ms);
  EXPECT_NE(latency.at("net-c").at("note").get<std::string>().find("lower bound"),
            std::string::npos);
  EXPECT_NE(html.find("net-c: the prediction is a lower bound: unknown ops left out (FancyOp)"),
            std::string::npos);
  EXPECT_NE(html.find("The bundle was trained on this database"), std::string::npos);

  if (report::testing::have_chromium()) {
    EXPECT_EQ(report::testing::chromium_status(out), "ok");
  }
}

TEST(ReportPredictor, NoModelsForTheDeviceIsSaidNotDrawn) {
  TempDir tmp;
  const std::string db = (tmp / "kernels.db").string();
  fill(db, "report-host", {});
  const std::string bundle = (tmp / "b").string();
  ASSERT_EQ(
      run_cli({"train", "--db", db, "-o", bundle, "--cv-folds", "0", "--jobs", "1"}).exit_code, 0);
  auto r = run_cli({"report", "--db", db, "--predictor", bundle, "-o", (tmp / "r.html").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto html = read_text(tmp / "r.html");
  EXPECT_FALSE(embedded_charts(html).count("chart-predicted-energy"));
  EXPECT_NE(html.find("No predictions: kernels.db holds no measured models of "
                      "&#39;report-host&#39;"),
            std::string::npos);
  EXPECT_NE(r.out.find("nnjoule collect models"), std::string::npos) << r.out;

  // Models measured at another thread count only: the note says which.
  auto only4 = tiny_models();
  only4.erase(only4.begin(), only4.begin() + 3);
  const std::string db4 = (tmp / "four.db").string();
  fill(db4, "report-host", only4);
  r = run_cli({"report", "--db", db4, "--predictor", bundle, "-o", (tmp / "r4.html").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("at other thread counts only (1 model at 4 threads)"), std::string::npos)
      << r.out;
  EXPECT_FALSE(embedded_charts(read_text(tmp / "r4.html")).count("chart-predicted-energy"));

  // Without --predictor: how to get one.
  r = run_cli({"report", "--db", db, "-o", (tmp / "plain.html").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  html = read_text(tmp / "plain.html");
  EXPECT_NE(html.find("--predictor BUNDLE"), std::string::npos);
  EXPECT_NE(html.find("nnjoule train"), std::string::npos);
  EXPECT_NE(html.find("nnjoule build-predictor"), std::string::npos);
}

// A database of collected models without nnjoule apps results: the predictions alone.
TEST(ReportPredictor, CollectedModelsWithoutApplicationResults) {
  TempDir tmp;
  const std::string db = (tmp / "collect.db").string();
  fill(db, "report-host", tiny_models(), false);
  const std::string bundle = (tmp / "b").string();
  ASSERT_EQ(
      run_cli({"train", "--db", db, "-o", bundle, "--cv-folds", "0", "--jobs", "1"}).exit_code, 0);
  const std::string out = (tmp / "r.html").string();
  auto r = run_cli({"report", "--db", db, "--predictor", bundle, "-o", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto html = read_text(out);
  EXPECT_NE(html.find("No application results in collect.db"), std::string::npos);
  const auto charts = embedded_charts(html);
  EXPECT_FALSE(charts.count("chart-bubble"));
  ASSERT_TRUE(charts.count("chart-predicted-energy"));
  EXPECT_EQ(points(charts.at("chart-predicted-energy")).size(), 2u);
  if (report::testing::have_chromium()) {
    EXPECT_EQ(report::testing::chromium_status(out), "ok");
  }
  // Without a predictor there is nothing to report.
  r = run_cli({"report", "--db", db, "-o", out});
  EXPECT_TRUE(nnjoule::testing::one_error_line(r, "no application measurements")) << r.err;
}

TEST(ReportPredictor, BundleOfAnotherDeviceIsOneLineError) {
  TempDir tmp;
  const std::string db = (tmp / "host.db").string();
  fill(db, "report-host", {});
  const std::string bundle = (tmp / "host-bundle").string();
  ASSERT_EQ(
      run_cli({"train", "--db", db, "-o", bundle, "--cv-folds", "0", "--jobs", "1"}).exit_code, 0);
  const std::string other = (tmp / "phone.db").string();
  fill(other, "phone-x", tiny_models());
  const std::string out = (tmp / "r.html").string();
  auto r = run_cli({"report", "--db", other, "--predictor", bundle, "-o", out});
  EXPECT_TRUE(nnjoule::testing::one_error_line(r, "is for device 'report-host'")) << r.err;
  EXPECT_NE(r.err.find("'phone-x'"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(out));

  r = run_cli({"report", "--db", db, "--predictor", (tmp / "none").string(), "-o", out});
  EXPECT_TRUE(nnjoule::testing::one_error_line(r, "no such predictor bundle")) << r.err;
  r = run_cli({"report", "--measurements", db, "--predictor", bundle, "-o", out});
  EXPECT_TRUE(nnjoule::testing::one_error_line(r, "--predictor needs --db")) << r.err;
}

}  // namespace
}  // namespace nnjoule::report
