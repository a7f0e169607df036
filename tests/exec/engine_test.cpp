// Compile-time errors, memory planning, threads and affinity, the latency harness.
#include <gtest/gtest.h>
#include <sched.h>

#include <cmath>
#include <fstream>

#include "nnjoule/common/error.hpp"
#include "nnjoule/exec/harness.hpp"
#include "nnjoule/graph/builder.hpp"
#include "nnjoule/kernels/detect.hpp"
#include "nnjoule/zoo/zoo.hpp"
#include "support.hpp"
#include "support/test_support.hpp"

using namespace nnjoule;
using namespace nnjoule::graph;
using nnjoule::exec::testing::compute_steps;
using nnjoule::exec::testing::engine_error;
using nnjoule::exec::testing::kTolerance;

namespace {

std::string compile_error(const Graph& g, exec::CompileOptions o = {}) {
  try {
    exec::compile(g, o);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

using nnjoule::testing::contains;

Graph small_net() {
  GraphBuilder b("small", 1);
  auto x = b.input("x", {1, 3, 16, 16});
  auto y = b.relu(b.bn(b.conv(x, 8, 3, 2)));
  y = b.maxpool(y, 2, 2);
  return b.finish({b.fc(b.flatten(b.global_avgpool(y)), 4)});
}

}  // namespace

TEST(ExecErrors, UnsupportedOpNamesTheNode) {
  Graph g;
  g.name = "weird";
  g.inputs = {"x"};
  g.outputs = {"y"};
  g.values["x"] = {DType::kFloat32, {1, 4}};
  g.values["y"] = {DType::kFloat32, {1, 4}};
  g.nodes.push_back(Node{"erf_1", "Erf", {"x"}, {"y"}, {}});
  const std::string e = compile_error(g);
  EXPECT_TRUE(contains(e, "node 'erf_1' (Erf)")) << e;
  EXPECT_TRUE(contains(e, "not supported")) << e;
  EXPECT_TRUE(contains(std::string([&] {
                         try {
                           exec::run_reference(g, {exec::Tensor({1, 4})});
                         } catch (const Error& err) {
                           return std::string(err.what());
                         }
                         return std::string();
                       }()),
                       "erf_1"));
}

TEST(ExecErrors, IntegerInputsAndRuntimeIndices) {
  GraphBuilder b("ids", 2);
  auto table = b.weight({10, 4}, 4, "table");
  auto ids = b.int_input("ids", {3});
  auto g = b.finish({b.gather(table, ids, 0)});
  const std::string e = compile_error(g);
  EXPECT_TRUE(contains(e, "input 'ids' is int64")) << e;
}

TEST(ExecErrors, RuntimeWeightsAndShapeOnlyGraphs) {
  GraphBuilder b("rw", 3);
  auto x = b.input("x", {1, 4, 5, 5});
  auto w = b.input("w", {4, 4, 3, 3});
  auto y = b.node("Conv", {x, w}, {{"kernel_shape", std::vector<int64_t>{3, 3}}})[0];
  const std::string e = compile_error(b.finish({y}));
  EXPECT_TRUE(contains(e, "node 'conv_0' (Conv)") && contains(e, "must be a constant")) << e;

  GraphBuilder s("shape-only", 4, /*materialize_weights=*/false);
  auto xs = s.input("x", {1, 3, 8, 8});
  const std::string e2 = compile_error(s.finish({s.conv(xs, 4, 3, 1)}));
  EXPECT_TRUE(contains(e2, "no float32 values")) << e2;
}

TEST(ExecErrors, MemoryLimitIsCheckedBeforeAllocating) {
  GraphBuilder b("huge", 5);
  // 1 x 3 x 60000 x 60000 floats: 40 GiB of input alone; nothing of it is allocated.
  auto x = b.input("x", {1, 3, 60000, 60000});
  auto g = b.finish({b.conv(x, 3, 1, 1)});
  const std::string e = compile_error(g);  // against this machine's MemAvailable
  EXPECT_TRUE(contains(e, "model 'huge' needs") && contains(e, "GiB of activations")) << e;
  exec::CompileOptions o;
  o.memory_limit_bytes = 1 << 10;
  const std::string e2 = compile_error(small_net(), o);
  EXPECT_TRUE(contains(e2, "only 1.0 KiB of memory")) << e2;
}

TEST(ExecErrors, WrongInputSizeNamesBothCounts) {
  auto m = exec::compile(small_net());
  std::vector<float> data(100);
  try {
    m.set_input(0, data);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(),
                         "input 'x' [1,3,16,16] needs 768 floats (3072 bytes), got 100 "
                         "(400 bytes)"))
        << e.what();
  }
  nnjoule::testing::TempDir tmp;
  const auto f = tmp / "in.bin";
  nnjoule::testing::write_text(f, std::string(1000, 'x'));
  try {
    exec::read_inputs(m, std::vector<std::filesystem::path>{f});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), "has 1000 bytes; input 'x' [1,3,16,16] needs 3072 bytes"))
        << e.what();
  }
}

TEST(ExecErrors, CpuListsAndThreads) {
  EXPECT_EQ(exec::parse_cpu_list("0,2-4"), (std::vector<int>{0, 2, 3, 4}));
  EXPECT_THROW(exec::parse_cpu_list("0,0"), Error);
  EXPECT_THROW(exec::parse_cpu_list("a"), Error);
  EXPECT_THROW(exec::parse_cpu_list("3-1"), Error);
  exec::CompileOptions o;
  o.cpus = {100000};
  EXPECT_TRUE(contains(compile_error(small_net(), o), "cpu 100000 is not available"));
  o.cpus = {};
  o.threads = 0;
  EXPECT_TRUE(contains(compile_error(small_net(), o), "threads must be at least 1"));
}

TEST(ExecEngine, PinsThreadsAndRestoresAffinity) {
  cpu_set_t before;
  ASSERT_EQ(sched_getaffinity(0, sizeof(before), &before), 0);
  int first = -1;
  for (int c = 0; c < CPU_SETSIZE && first < 0; ++c)
    if (CPU_ISSET(c, &before)) first = c;
  {
    exec::CompileOptions o;
    o.threads = 2;
    o.cpus = {first};
    auto m = exec::compile(small_net(), o);
    cpu_set_t during;
    ASSERT_EQ(sched_getaffinity(0, sizeof(during), &during), 0);
    EXPECT_EQ(CPU_COUNT(&during), 1);
    EXPECT_TRUE(CPU_ISSET(first, &during));
    m.run();
  }
  cpu_set_t after;
  ASSERT_EQ(sched_getaffinity(0, sizeof(after), &after), 0);
  EXPECT_TRUE(CPU_EQUAL(&before, &after));
}

TEST(ExecEngine, ArenaReusesMemory) {
  auto g = zoo::build_model({.family = "resnet50", .resolution = 224, .seed = 1});
  auto m = exec::compile(g);
  // ResNet-50 at 224 computes ~65 MiB of activations; the arena holds a few layers only.
  EXPECT_GT(m.activation_bytes(), 60ll << 20);
  EXPECT_LT(m.arena_bytes() * 5, m.activation_bytes());
  for (const auto& s : m.steps()) EXPECT_FALSE(s.impl.empty()) << s.name;
}

TEST(ExecEngine, FusionsOfResNetAndMobileNet) {
  auto r18 = exec::compile(zoo::build_model({.family = "resnet18", .resolution = 64, .seed = 1}));
  size_t conv = 0, add = 0, layout = 0;
  for (const auto& s : r18.steps()) {
    conv += s.op == "conv";
    add += s.op == "add";
    layout += s.op == "layout";
  }
  EXPECT_EQ(conv, 20u);  // every BN and ReLU folded into its conv
  EXPECT_EQ(add, 8u);    // add-relu
  // The input is written NHWC by set_input; [1,512,1,1] -> [1,512] needs no copy.
  EXPECT_EQ(layout, 0u);
  EXPECT_EQ(r18.steps().size(), 20u + 8u + 1u + 1u + 1u);  // + maxpool, GAP, fc
}

TEST(ExecHarness, MeasuresAndBreaksDownByKernel) {
  const Graph g = small_net();
  auto m = exec::compile(g);
  exec::set_inputs(m, exec::random_inputs(m, 1));
  const auto r = exec::measure_latency(m, {.warmup = 2, .runs = 7, .per_step = true});
  EXPECT_EQ(r.samples_ms.size(), 7u);
  EXPECT_EQ(r.latency_ms.n, 7);
  EXPECT_EQ(r.provenance.origin, Origin::kMeasured);
  EXPECT_LE(r.latency_ms.p10, r.latency_ms.median);
  EXPECT_LE(r.latency_ms.median, r.latency_ms.p90);
  ASSERT_EQ(r.step_ms.size(), m.steps().size());
  const auto ks = kernels::detect_kernels(g);
  const auto kt = exec::per_kernel(m, r, ks);
  ASSERT_EQ(kt.size(), ks.size());  // no conversion at the edges inside run()
  // Every step lands in exactly one row.
  size_t steps = 0;
  for (const auto& k : kt) steps += k.steps.size();
  EXPECT_EQ(steps, m.steps().size());
  for (size_t k = 0; k < ks.size(); ++k) {
    if (kt[k].steps.empty()) {
      EXPECT_FALSE(kt[k].note.empty()) << kt[k].name;  // flatten: a view
    } else {
      EXPECT_EQ(kt[k].samples_ms.size(), 7u);
    }
  }
  const auto st = exec::measure_standalone(g, ks, {}, {.warmup = 1, .runs = 3}, 1);
  ASSERT_EQ(st.size(), ks.size());
  for (size_t k = 0; k < ks.size(); ++k) EXPECT_EQ(st[k].ran, !kt[k].steps.empty()) << ks[k].name;
}

TEST(ExecEngine, EdgeConversionsLeaveRun) {
  // The input goes to a conv (NHWC) and straight to an output (NCHW): it is read in two
  // layouts, so its conversion stays a step; the conv's output is converted when read.
  GraphBuilder b("edges", 9);
  auto x = b.input("x", {2, 3, 6, 5});
  auto y = b.conv(x, 4, 3, 1);
  auto g = b.finish({y, x, b.relu(x)});
  EXPECT_LE(engine_error(g), kTolerance);
  auto m = exec::compile(g);
  size_t io = 0;
  for (const auto& s : m.steps()) io += s.io;
  EXPECT_EQ(io, 1u);
  exec::set_inputs(m, exec::random_inputs(m, 4));
  const auto r = exec::measure_latency(m, {.warmup = 0, .runs = 2, .per_step = true});
  const auto kt = exec::per_kernel(m, r, kernels::detect_kernels(g));
  EXPECT_EQ(kt.back().name, "io:layout");
}

TEST(ExecEngine, ModelsWithoutSteps) {
  GraphBuilder b("views", 10);
  auto x = b.input("x", {2, 3, 4});
  auto y = b.node("Identity", {b.transpose(x, {0, 2, 1})})[0];
  auto g = b.finish({y, b.reshape(x, {6, 4}), b.weight({2, 2}, 2, "w")});
  EXPECT_LE(engine_error(g), kTolerance);
  auto m = exec::compile(g);
  EXPECT_EQ(compute_steps(m), 0u);  // the constant output is an io copy step
  exec::set_inputs(m, exec::random_inputs(m, 1));
  EXPECT_EQ(exec::measure_latency(m, {.warmup = 0, .runs = 3}).latency_ms.n, 3);
}

TEST(ExecHarness, KernelGraphsAgreeWithTheWholeModel) {
  auto g = zoo::build_model({.family = "mobilenetv3small", .resolution = 48, .seed = 2});
  const auto ks = kernels::detect_kernels(g);
  size_t checked = 0;
  for (const auto& k : ks) {
    const Graph sub = exec::kernel_graph(g, k);
    EXPECT_EQ(sub.nodes.size(), k.nodes.size());
    if (checked < 12) {
      EXPECT_LE(engine_error(sub), kTolerance) << k.name << " " << k.type;
    }
    ++checked;
  }
  EXPECT_GT(checked, 40u);
}

// Denormal inputs and results are flushed to zero on every thread, XNNPACK's operators and
// nnjoule's own kernels alike, as phone runtimes run; the caller's FP state is restored.
TEST(ExecEngine, DenormalsAreFlushedToZeroOnEveryThread) {
  GraphBuilder b("denormals", 1);
  auto x = b.input("x", {1, 8, 16, 16});
  auto sum = b.add(x, x);  // XNNPACK add
  auto t = b.tanh(x);      // nnjoule's unary kernel
  const Graph g = b.finish({sum, t});
  exec::Tensor in(g.shape("x"));
  const float tiny = 1e-39f;  // below FLT_MIN (1.18e-38): a denormal
  ASSERT_EQ(std::fpclassify(tiny), FP_SUBNORMAL);
  for (auto& v : in.data) v = tiny;
  for (int threads : {1, 2, 4}) {
    exec::CompileOptions o;
    o.threads = threads;
    auto m = exec::compile(g, o);
    const auto before = exec::testing::fp_state();
    const auto out = exec::run_model(m, {in});
    EXPECT_EQ(exec::testing::fp_state(), before) << threads << " threads";
    for (const auto& tensor : out)
      for (float v : tensor.data) ASSERT_EQ(v, 0.0f) << threads << " threads";
  }
}

// Convolutions whose weights outgrow the L2 run as several operators over parts of the output
// channels (3.7 MB of weights here: split on any L2 up to 7 MB), with the epilogue intact.
TEST(ExecEngine, ConvolutionsSplitForL2AgreeWithReference) {
  GraphBuilder b("split", 4);
  auto x = b.input("x", {1, 512, 4, 4});
  auto y = b.relu(b.bn(b.conv(x, 200, 3, 1)));
  auto z = b.add(b.conv(y, 200, 3, 1), y);
  const Graph g = b.finish({z});
  for (int threads : {1, 2}) {
    EXPECT_LE(engine_error(g, threads), kTolerance) << threads << " threads";
  }
  const auto m = exec::compile(g);
  const auto notes = m.notes();
  EXPECT_TRUE(std::any_of(notes.begin(), notes.end(), [](const std::string& s) {
    return s == "convolutions split by output channels for L2: 2";
  })) << ::testing::PrintToString(notes);
}
