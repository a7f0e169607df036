// Broken ONNX files: each must give one clear Error line (or, for a corruption that still
// describes a valid model, load) and never crash. The suite also runs under ASan/UBSan.
#include <gtest/gtest.h>

#include <fstream>

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/rng.hpp"
#include "nnjoule/graph/builder.hpp"
#include "nnjoule/graph/onnx.hpp"
#include "onnx_test_models.hpp"
#include "support/test_support.hpp"

using namespace nnjoule;
using namespace nnjoule::graph;
using nnjoule::testing::ModelMaker;

namespace {

using nnjoule::testing::contains;
using nnjoule::testing::error_of;

// A small model with most op kinds and little weight data, so corruptions hit structure.
std::string small_model_bytes() {
  GraphBuilder b("small", 9);
  auto x = b.input("x", {1, 3, 8, 8});
  auto c = b.relu6(b.bn(b.conv(x, 4, 3, 2)));
  auto s = b.split(c, {1, 3});
  auto cat = b.concat({b.hswish(s[0]), b.sigmoid(s[1])});
  auto p = b.slice(b.pad(b.maxpool(cat, 2, 2), {0, 0, 1, 1, 0, 0, 1, 1}), {2}, {0}, {3});
  auto r = b.resize(p, {1, 1, 2, 2});
  auto y = b.softmax(b.fc(b.flatten(b.global_avgpool(r)), 5));
  return to_onnx_bytes(b.finish({y}), ExportOptions{.opset = 13});
}

// Loading must either work or throw Error; anything else (other exceptions, crashes,
// sanitizer reports) fails. Returns whether it loaded.
bool loads_or_fails_cleanly(const std::string& bytes, const std::string& what) {
  try {
    const Graph g = load_onnx_bytes(bytes, "fuzz.onnx");
    g.validate();
    return true;
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind("fuzz.onnx: ", 0), 0u) << what << ": " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << what << ": " << msg;
    return false;
  } catch (const std::exception& e) {
    ADD_FAILURE() << what << ": exception other than nnjoule::Error: " << e.what();
    return false;
  }
}

}  // namespace

TEST(OnnxBadInput, MissingFile) {
  const std::string err = error_of([] { load_onnx("/nonexistent/dir/model.onnx"); });
  EXPECT_TRUE(contains(err, "/nonexistent/dir/model.onnx")) << err;
}

TEST(OnnxBadInput, EmptyFile) {
  nnjoule::testing::TempDir dir;
  nnjoule::testing::write_text(dir / "empty.onnx", "");
  const std::string err = error_of([&] { load_onnx(dir / "empty.onnx"); });
  EXPECT_TRUE(contains(err, "empty.onnx")) << err;
  EXPECT_TRUE(contains(err, "empty")) << err;
}

TEST(OnnxBadInput, GarbageBytes) {
  Rng rng(42);
  for (int i = 0; i < 200; ++i) {
    std::string bytes(static_cast<size_t>(rng.uniform_int(1, 4096)), '\0');
    for (auto& c : bytes) c = static_cast<char>(rng.uniform_int(0, 255));
    EXPECT_FALSE(loads_or_fails_cleanly(bytes, fmt::format("garbage #{}", i)));
  }
  const std::string err =
      error_of([] { load_onnx_bytes("this is a text file, not a model\n", "notes.txt"); });
  EXPECT_TRUE(contains(err, "notes.txt")) << err;
}

TEST(OnnxBadInput, TruncatedFiles) {
  const std::string bytes = small_model_bytes();
  ASSERT_TRUE(loads_or_fails_cleanly(bytes, "intact"));
  std::vector<size_t> cuts = {1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144};
  for (size_t k = 1; k < 64; ++k) cuts.push_back(bytes.size() * k / 64);
  cuts.push_back(bytes.size() - 1);
  int failed = 0;
  for (size_t cut : cuts) {
    failed += !loads_or_fails_cleanly(bytes.substr(0, cut), fmt::format("cut at {}", cut));
  }
  // A cut exactly between two fields can leave a smaller valid model; most cuts cannot.
  EXPECT_GT(failed, static_cast<int>(cuts.size()) * 3 / 4);
}

TEST(OnnxBadInput, BitFlippedFiles) {
  const std::string bytes = small_model_bytes();
  Rng rng(7);
  int loaded = 0;
  constexpr int kTrials = 600;
  for (int i = 0; i < kTrials; ++i) {
    std::string bad = bytes;
    const int flips = i % 3 + 1;
    std::string where;
    for (int f = 0; f < flips; ++f) {
      const auto pos =
          static_cast<size_t>(rng.uniform_int(0, static_cast<int64_t>(bad.size()) - 1));
      const int bit = static_cast<int>(rng.uniform_int(0, 7));
      bad[pos] = static_cast<char>(bad[pos] ^ (1 << bit));
      where += fmt::format(" {}:{}", pos, bit);
    }
    loaded += loads_or_fails_cleanly(bad, "flipped" + where);
  }
  // Flips inside weight bytes keep a valid model; flips in structure must be caught.
  EXPECT_GT(loaded, 0);
  EXPECT_LT(loaded, kTrials);
}

TEST(OnnxBadInput, CyclicGraph) {
  ModelMaker m(13);
  m.input("x", {1, 4}).output("c");
  m.node("Add", {"x", "c"}, {"b"}, "add_in_cycle");
  m.node("Relu", {"b"}, {"c"}, "relu_in_cycle");
  const std::string err = error_of([&] { load_onnx_bytes(m.bytes(), "cyclic.onnx"); });
  EXPECT_TRUE(contains(err, "cyclic.onnx")) << err;
  EXPECT_TRUE(contains(err, "cycle")) << err;
  EXPECT_TRUE(contains(err, "_in_cycle")) << err;
}

TEST(OnnxBadInput, ZeroAndNegativeDimensions) {
  for (int64_t d : {0, -3}) {
    ModelMaker m(13);
    m.input("pixels", {1, 3, d, 4}).output("y");
    m.node("Relu", {"pixels"}, {"y"});
    const std::string err = error_of([&] { load_onnx_bytes(m.bytes(), "dims.onnx"); });
    EXPECT_TRUE(contains(err, "'pixels'")) << err;
    EXPECT_TRUE(contains(err, "non-positive")) << err;
  }
  // An intermediate that comes out empty names its node.
  ModelMaker m(13);
  m.input("x", {1, 3, 4, 4}).output("y");
  m.ints("st", {1}, {3}).ints("en", {1}, {1}).ints("ax", {1}, {2});
  m.node("Slice", {"x", "st", "en", "ax"}, {"y"}, "empty_slice");
  const std::string err = error_of([&] { load_onnx_bytes(m.bytes(), "dims.onnx"); });
  EXPECT_TRUE(contains(err, "empty_slice")) << err;
  // A negative dimension in an initializer.
  ModelMaker w(13);
  w.input("x", {1, 3}).output("y");
  auto* t = w.model().mutable_graph()->add_initializer();
  t->set_name("bad_w");
  t->set_data_type(onnx::TensorProto::FLOAT);
  t->add_dims(-3);
  w.node("Add", {"x", "bad_w"}, {"y"});
  const std::string werr = error_of([&] { load_onnx_bytes(w.bytes(), "w.onnx"); });
  EXPECT_TRUE(contains(werr, "bad_w")) << werr;
}

TEST(OnnxBadInput, UnsupportedOpsAreListedWithTheirNodes) {
  ModelMaker m(13);
  m.input("x", {1, 3, 8, 8}).output("y");
  m.node("Relu", {"x"}, {"r"});
  m.node("LpNormalization", {"r"}, {"n1"}, "norm_first");
  m.node("LpNormalization", {"n1"}, {"n2"}, "norm_second");
  m.node("Erf", {"n2"}, {"e"}, "erf_node");
  auto& custom = m.node("FancyOp", {"e"}, {"y"}, "custom_node");
  custom.set_domain("com.example");
  m.model().add_opset_import()->set_domain("com.example");
  const std::string err = error_of([&] { load_onnx_bytes(m.bytes(), "ops.onnx"); });
  EXPECT_TRUE(contains(err, "unsupported ops")) << err;
  EXPECT_TRUE(contains(err, "LpNormalization (nodes 'norm_first', 'norm_second')")) << err;
  EXPECT_TRUE(contains(err, "Erf (node 'erf_node')")) << err;
  EXPECT_TRUE(contains(err, "com.example.FancyOp (node 'custom_node')")) << err;
}

TEST(OnnxBadInput, ShapeComputationOnARuntimeValueIsNamed) {
  ModelMaker m(13);
  m.input("x", {1, 4}).input("n", {1}, onnx::TensorProto::INT64).output("y");
  m.node("ConstantOfShape", {"n"}, {"y"}, "dynamic_fill");
  const std::string err = error_of([&] { load_onnx_bytes(m.bytes(), "dyn.onnx"); });
  EXPECT_TRUE(contains(err, "ConstantOfShape on a runtime tensor (node 'dynamic_fill')")) << err;
}

TEST(OnnxBadInput, ModelLevelProblems) {
  {
    ModelMaker m(6);
    m.input("x", {1, 4}).output("y");
    m.node("Relu", {"x"}, {"y"});
    EXPECT_TRUE(contains(error_of([&] { load_onnx_bytes(m.bytes(), "old.onnx"); }), "opset 6"));
  }
  {
    ModelMaker m(13);
    m.input("x", {1, 4}).output("y");
    m.node("Relu", {"x"}, {"y"});
    m.model().clear_opset_import();
    EXPECT_TRUE(contains(error_of([&] { load_onnx_bytes(m.bytes(), "m.onnx"); }), "opset"));
  }
  {
    onnx::ModelProto m;
    m.set_ir_version(7);
    EXPECT_TRUE(
        contains(error_of([&] { load_onnx_bytes(m.SerializeAsString(), "m.onnx"); }), "no graph"));
  }
  {
    ModelMaker m(13);
    m.input("x", {1, 4}).output("y");
    m.node("Relu", {"x"}, {"y"});
    auto* t = m.model().mutable_graph()->add_initializer();
    t->set_name("far_away");
    t->set_data_type(onnx::TensorProto::FLOAT);
    t->add_dims(4);
    t->set_data_location(onnx::TensorProto::EXTERNAL);
    auto* e = t->add_external_data();
    e->set_key("location");
    e->set_value("weights.bin");
    const std::string err = error_of([&] { load_onnx_bytes(m.bytes(), "ext.onnx"); });
    EXPECT_TRUE(contains(err, "far_away")) << err;
    EXPECT_TRUE(contains(err, "external")) << err;
  }
  {
    // Raw data that does not match the declared shape.
    ModelMaker m(13);
    m.input("x", {1, 4}).output("y");
    auto* t = m.model().mutable_graph()->add_initializer();
    t->set_name("short_w");
    t->set_data_type(onnx::TensorProto::FLOAT);
    t->add_dims(4);
    t->set_raw_data(std::string(12, '\0'));
    m.node("Add", {"x", "short_w"}, {"y"});
    const std::string err = error_of([&] { load_onnx_bytes(m.bytes(), "w.onnx"); });
    EXPECT_TRUE(contains(err, "short_w")) << err;
    EXPECT_TRUE(contains(err, "12 bytes")) << err;
  }
  {
    // A node with the wrong number of inputs is caught by onnx's schema check.
    ModelMaker m(13);
    m.input("x", {1, 4}).output("y");
    m.node("Add", {"x"}, {"y"}, "lonely_add");
    const std::string err = error_of([&] { load_onnx_bytes(m.bytes(), "m.onnx"); });
    EXPECT_TRUE(contains(err, "lonely_add")) << err;
  }
  {
    // A tensor that nothing produces.
    ModelMaker m(13);
    m.input("x", {1, 4}).output("y");
    m.node("Add", {"x", "ghost"}, {"y"}, "reads_ghost");
    const std::string err = error_of([&] { load_onnx_bytes(m.bytes(), "m.onnx"); });
    EXPECT_TRUE(contains(err, "ghost")) << err;
  }
}
