// What a user does with an INT8 model, end to end through the command line: quantize a float
// model, run and measure it, inspect and run an operator-form (QLinear) file, train on int8
// kernel rows, and predict the quantized model kernel by kernel.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "graph/onnx_test_models.hpp"
#include "nnjoule/common/io.hpp"
#include "nnjoule/graph/builder.hpp"
#include "nnjoule/graph/onnx.hpp"
#include "nnjoule/store/store.hpp"
#include "predict_support.hpp"
#include "support/test_support.hpp"

using namespace nnjoule;
using nnjoule::testing::run_cli;
using nnjoule::testing::TempDir;

namespace {

graph::Graph float_net() {
  graph::GraphBuilder b("int8-cli", 4);
  auto x = b.input("x", {1, 3, 16, 16});
  auto y = b.relu(b.bn(b.conv(x, 16, 3, 1)));
  y = b.relu(b.conv(y, 16, 3, 1));
  return b.finish({b.fc(b.flatten(b.global_avgpool(y)), 10)});
}

// QLinearConv + com.microsoft QLinearAdd, as ONNX Runtime's quantizer writes operator form.
std::string qlinear_model() {
  using onnx::TensorProto;
  nnjoule::testing::ModelMaker m(13);
  m.import_domain("com.microsoft", 1);
  m.input("x", {1, 4, 8, 8}).output("y");
  m.floats("xs", {}, {0.02f}).typed("xz", {}, TensorProto::UINT8, {128});
  m.floats("ys", {}, {0.05f}).typed("yz", {}, TensorProto::UINT8, {120});
  std::vector<int64_t> w(4 * 4 * 9);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<int64_t>((i * 37) % 255) - 127;
  m.typed("w", {4, 4, 3, 3}, TensorProto::INT8, w);
  m.floats("ws", {}, {0.01f}).typed("wz", {}, TensorProto::INT8, {0});
  m.node("QuantizeLinear", {"x", "xs", "xz"}, {"xq"});
  auto& c = m.node("QLinearConv", {"xq", "xs", "xz", "w", "ws", "wz", "ys", "yz"}, {"cq"});
  nnjoule::testing::ModelMaker::attr(c, "pads", std::vector<int64_t>{1, 1, 1, 1});
  m.node("QLinearAdd", {"cq", "ys", "yz", "xq", "xs", "xz", "ys", "yz"}, {"aq"})
      .set_domain("com.microsoft");
  m.node("DequantizeLinear", {"aq", "ys", "yz"}, {"y"});
  return m.bytes();
}

}  // namespace

TEST(Int8Cli, QuantizeRunMeasureInspectTrainPredict) {
  TempDir tmp;
  const std::string fp32 = (tmp / "net.onnx").string(), int8 = (tmp / "net-int8.onnx").string();
  graph::save_onnx(float_net(), fp32);
  auto r = run_cli({"quantize", fp32, "-o", int8, "--calibration", "4", "--eval", "4"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("measured"), std::string::npos) << r.out;

  r = run_cli({"run", int8, "--runs", "2", "--warmup", "1", "--per-kernel"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("latency_ms, measured"), std::string::npos) << r.out;
  r = run_cli({"run", int8, "--runs", "1", "--warmup", "0", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  int int8_steps = 0;
  const auto run_json = nlohmann::json::parse(r.out);
  for (const auto& n : run_json["notes"]) {
    if (n.get<std::string>().rfind("int8 operators: ", 0) == 0) {
      int8_steps = std::stoi(n.get<std::string>().substr(16));
    }
  }
  EXPECT_GE(int8_steps, 3) << r.out;  // two convs and the fc

  r = run_cli({"measure", int8, "--meter", "estimate", "--idle", "0", "--time-cap", "1",
               "--min-window", "0.05", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto m = nlohmann::json::parse(r.out);
  EXPECT_GT(m["energy_per_inference_mj"].get<double>(), 0) << r.out;

  const std::string ql = (tmp / "qlinear.onnx").string();
  nnjoule::testing::write_text(ql, qlinear_model());
  r = run_cli({"inspect", ql, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["kernel_dtypes"]["int8"], 2) << r.out;
  r = run_cli({"run", ql, "--runs", "1", "--warmup", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  // Int8 kernel rows as `collect kernels --dtype int8` stores them (values from a FLOP model:
  // a collection's real timings would make this test depend on the machine's load).
  const std::string db = (tmp / "k.db").string(), bundle = (tmp / "bundle").string();
  {
    store::Store s(db);
    const auto run = predict::testing::begin_kernel_run(s, "int8-host");
    auto add = [&](const std::string& type, kernels::KernelConfig c, double flops) {
      store::KernelRow row;
      row.run_id = run.run_id;
      row.device_id = run.device_id;
      row.kernel_type = type;
      row.dtype = "int8";
      row.config = c;
      row.threads = 1;
      row.key = store::kernel_key(type, c, {{"threads", 1}, {"dtype", "int8"}});
      const double ms = 0.01 + flops * 2e-8;
      row.m.latency_ms = ms;
      row.m.energy_mj = ms * 5;
      row.m.provenance = run.provenance;
      s.add_kernel(row);
    };
    for (int64_t hw : {8, 16, 32})
      for (int64_t cin : {3, 8, 16, 32})
        for (int64_t cout : {16, 32, 64})
          for (int64_t k : {1, 3}) {
            add("conv-relu",
                {{"HW", hw}, {"CIN", cin}, {"COUT", cout}, {"KERNEL_SIZE", k}, {"STRIDES", 1}},
                2.0 * hw * hw * cin * cout * k * k);
          }
    for (int64_t cin : {16, 64, 256, 1024})
      for (int64_t cout : {10, 100, 1000})
        add("fc", {{"CIN", cin}, {"COUT", cout}}, 2.0 * cin * cout);
    s.end_run(run.run_id, "complete");
  }
  r = run_cli({"train", "--db", db, "-o", bundle, "--cv-folds", "2", "--jobs", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_cli({"predict", int8, "--predictor", bundle, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto p = nlohmann::json::parse(r.out);
  int by_regressor = 0;
  for (const auto& k : p["kernels"]) {
    if (k["type"] == "conv-relu@int8" && k["method"]["energy_mj"] == "regressor") ++by_regressor;
  }
  EXPECT_EQ(by_regressor, 2) << r.out;
  // The model's own quantize/dequantize edges take the int8 fallback: the total is known.
  ASSERT_TRUE(p["total"]["energy_mj"].is_number()) << r.out;
  EXPECT_GT(p["total"]["energy_mj"].get<double>(), 0) << r.out;
  // The float model has no fp32 data in this bundle: said so, never predicted from int8 rows.
  r = run_cli({"predict", fp32, "--predictor", bundle});
  EXPECT_EQ(r.out.find("conv-relu@int8"), std::string::npos) << r.out;
}
