// Every op the IR knows, on the XNNPACK engine against the reference executor.
#include <gtest/gtest.h>

#include "nnjoule/common/rng.hpp"
#include "nnjoule/graph/builder.hpp"
#include "nnjoule/graph/shape_inference.hpp"
#include "support.hpp"

using namespace nnjoule;
using namespace nnjoule::graph;
using nnjoule::exec::testing::compute_steps;
using nnjoule::exec::testing::engine_error;
using nnjoule::exec::testing::kTolerance;

namespace {

Graph one_output(GraphBuilder& b, const std::string& y) {
  return b.finish({y});
}

}  // namespace

TEST(ExecOps, RandomConvolutions) {
  Rng rng(11);
  for (int t = 0; t < 40; ++t) {
    GraphBuilder b("conv" + std::to_string(t), 100 + t);
    const int64_t groups_kind = rng.uniform_int(0, 2);  // dense, grouped, depthwise
    int64_t cin = rng.uniform_int(1, 4) * 4;
    int64_t cout = rng.uniform_int(1, 4) * 4;
    int64_t groups = 1;
    if (groups_kind == 1) groups = 2;
    if (groups_kind == 2) groups = cin, cout = cin * rng.uniform_int(1, 2);
    const int64_t k = std::vector<int64_t>{1, 3, 5, 7}[rng.uniform_int(0, 3)];
    ConvOptions o;
    o.stride = rng.uniform_int(1, 2);
    o.dilation = k > 1 ? rng.uniform_int(1, 2) : 1;
    o.pad = rng.uniform_int(0, 1) ? -1 : rng.uniform_int(0, k / 2);
    o.groups = groups;
    o.bias = rng.uniform_int(0, 1) == 1;
    const int64_t h = rng.uniform_int(k * o.dilation, 17), w = rng.uniform_int(k * o.dilation, 15);
    auto x = b.input("x", {rng.uniform_int(1, 2), cin, h, w});
    auto y = b.conv(x, cout, k, o);
    auto g = one_output(b, y);
    const double err = engine_error(g, 1 + t % 2);
    EXPECT_LE(err, kTolerance) << "config " << t << ": cin " << cin << " cout " << cout << " k "
                               << k << " s " << o.stride << " d " << o.dilation << " pad " << o.pad
                               << " groups " << groups;
  }
}

// Beyond 25 taps the depthwise convolution runs on nnjoule's own kernel: channel tiles with a
// remainder (37 = 16 + 16 + 4 + 1, 28 = 16 + 8 + 4 channels), a multiplier with 10 = 5 x 2
// channels, strides, dilations, asymmetric pads, a fused clamp, one and two threads,
// against the reference executor.
TEST(ExecOps, LargeDepthwiseOnOwnKernel) {
  struct Case {
    int64_t cin, mult, k, stride, dilation, h, w;
    bool bias;
  };
  const std::vector<Case> cases = {{37, 1, 7, 1, 1, 15, 13, true},  {28, 1, 7, 1, 1, 9, 9, false},
                                   {32, 1, 7, 2, 1, 16, 16, false}, {16, 1, 9, 1, 2, 20, 21, true},
                                   {8, 2, 7, 2, 1, 12, 11, true},   {5, 2, 7, 1, 1, 10, 10, true}};
  for (const auto& c : cases) {
    GraphBuilder b("dw-large", 40);
    auto x = b.input("x", {2, c.cin, c.h, c.w});
    ConvOptions o;
    o.groups = c.cin;
    o.stride = c.stride;
    o.dilation = c.dilation;
    o.bias = c.bias;
    auto y = b.relu6(b.bn(b.conv(x, c.cin * c.mult, c.k, o)));
    auto g = one_output(b, y);
    // Asymmetric padding, as TensorFlow's SAME gives for even input sizes.
    auto& pads = std::get<std::vector<int64_t>>(g.nodes[0].attrs.at("pads"));
    pads[2] += 1;
    graph::infer_shapes(g);
    for (int threads : {1, 2}) {
      EXPECT_LE(engine_error(g, threads), kTolerance)
          << "cin " << c.cin << " k " << c.k << " stride " << c.stride << " threads " << threads;
    }
    auto m = exec::compile(g);
    ASSERT_EQ(compute_steps(m), 1u);
    bool own = false;
    for (const auto& s : m.steps()) own |= s.impl.starts_with("nnjoule:depthwise");
    EXPECT_TRUE(own) << "cin " << c.cin << " k " << c.k;
  }
}

TEST(ExecOps, ConvBatchNormActivationFuseIntoOneStep) {
  for (const std::string act : {"relu", "relu6", "none"}) {
    GraphBuilder b("cbr", 3);
    auto x = b.input("x", {1, 8, 12, 12});
    auto y = b.activation(b.bn(b.conv(x, 16, 3, 1)), act);
    auto g = one_output(b, y);
    EXPECT_LE(engine_error(g), kTolerance) << act;
    auto m = exec::compile(g);
    EXPECT_EQ(compute_steps(m), 1u) << act;
  }
}

TEST(ExecOps, HardSigmoidFoldsIntoConvolution) {
  GraphBuilder b("se", 4);
  auto x = b.input("x", {1, 16, 9, 9});
  auto y = b.se(b.conv(x, 16, 3, 1), 4);
  auto g = one_output(b, y);
  EXPECT_LE(engine_error(g), kTolerance);
  EXPECT_LE(engine_error(g, 2), kTolerance);
  auto m = exec::compile(g);
  // conv, GAP, conv+relu, conv+hsigmoid, mul
  EXPECT_EQ(compute_steps(m), 5u);
}

TEST(ExecOps, StandaloneBatchNorm) {
  GraphBuilder b("bn", 5);
  auto x = b.input("x", {2, 6, 5, 7});
  auto y = b.relu(b.bn(x));
  auto f = b.input("f", {3, 10});
  auto z = b.relu6(b.bn(f));
  auto g = b.finish({y, z});
  EXPECT_LE(engine_error(g), kTolerance);
}

TEST(ExecOps, ConvTranspose) {
  struct Case {
    int64_t cin, cout, k, s, p, op;
  };
  for (const Case c : {Case{4, 8, 3, 2, 1, 1}, Case{8, 4, 4, 2, 1, 0}, Case{3, 5, 2, 2, 0, 0},
                       Case{6, 6, 3, 1, 1, 0}, Case{4, 4, 5, 3, 2, 2}}) {
    GraphBuilder b("deconv", 6);
    auto x = b.input("x", {1, c.cin, 6, 5});
    auto y = b.relu(b.conv_transpose(x, c.cout, c.k, c.s, c.p, c.op));
    auto g = one_output(b, y);
    EXPECT_LE(engine_error(g), kTolerance) << c.cin << " " << c.cout << " " << c.k << " " << c.s;
  }
}

TEST(ExecOps, Pooling) {
  struct Case {
    bool max;
    int64_t k, s, p;
    bool ceil, include_pad;
    int64_t h;
  };
  for (const Case c : {Case{true, 3, 2, 1, false, false, 14}, Case{true, 3, 2, 0, true, false, 13},
                       Case{true, 2, 2, 0, false, false, 9}, Case{false, 3, 1, 1, false, false, 8},
                       Case{false, 3, 1, 1, false, true, 8}, Case{false, 2, 2, 0, true, false, 7},
                       Case{false, 3, 2, 1, true, true, 10}, Case{true, 1, 2, 0, false, false, 9},
                       Case{false, 1, 2, 0, false, false, 9}, Case{false, 7, 1, 0, false, false, 7},
                       Case{true, 3, 3, 1, true, false, 11}}) {
    GraphBuilder b("pool", 7);
    auto x = b.input("x", {2, 5, c.h, c.h + 1});
    auto y = c.max ? b.maxpool(x, c.k, c.s, c.p, c.ceil)
                   : b.avgpool(x, c.k, c.s, c.p, c.ceil, c.include_pad);
    auto g = one_output(b, b.relu(y));
    EXPECT_LE(engine_error(g), kTolerance)
        << (c.max ? "max" : "avg") << " k" << c.k << " s" << c.s << " p" << c.p << " ceil "
        << c.ceil << " include_pad " << c.include_pad;
  }
}

TEST(ExecOps, DilatedMaxPool) {
  GraphBuilder b("dmax", 8);
  auto x = b.input("x", {1, 4, 11, 11});
  auto y = b.node("MaxPool", {x},
                  {{"kernel_shape", std::vector<int64_t>{3, 3}},
                   {"strides", std::vector<int64_t>{1, 1}},
                   {"pads", std::vector<int64_t>{2, 2, 2, 2}},
                   {"dilations", std::vector<int64_t>{2, 2}}})[0];
  auto g = one_output(b, y);
  EXPECT_LE(engine_error(g), kTolerance);
}

TEST(ExecOps, MeansAndGlobalPooling) {
  GraphBuilder b("mean", 9);
  auto x = b.input("x", {2, 6, 5, 4});
  auto c = b.conv(x, 6, 1, 1);  // NHWC inside
  auto g1 = b.global_avgpool(c);
  auto r1 = b.reduce_mean(c, {2, 3}, false);
  auto r2 = b.reduce_mean(c, {1}, true);
  auto r3 = b.reduce_mean(c, {-1, 1}, false);
  auto s = b.input("s", {3, 4, 5});
  auto r4 = b.reduce_mean(s, {2}, false);
  auto g5 = b.global_avgpool(s);
  auto g = b.finish({g1, r1, r2, r3, r4, g5});
  EXPECT_LE(engine_error(g), kTolerance);
}

TEST(ExecOps, FullyConnected) {
  GraphBuilder b("fc", 10);
  auto x = b.input("x", {2, 8, 3, 3});
  auto f = b.flatten(b.conv(x, 8, 3, 1));  // needs NHWC -> NCHW before flattening
  auto y = b.relu(b.fc(f, 10));
  auto z = b.softmax(b.fc(b.flatten(b.global_avgpool(x)), 5));
  auto g = b.finish({y, z});
  EXPECT_LE(engine_error(g), kTolerance);
  EXPECT_LE(engine_error(g, 2), kTolerance);
}

TEST(ExecOps, GemmVariants) {
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb)
      for (int c_kind = 0; c_kind < 4; ++c_kind) {
        GraphBuilder b("gemm", 11);
        auto a = b.input("a", ta ? Shape{6, 3} : Shape{3, 6});
        auto w = b.weight(tb ? Shape{4, 6} : Shape{6, 4}, 6, "w");
        std::vector<std::string> ins = {a, w};
        if (c_kind == 1) ins.push_back(b.weight({4}, 4, "c"));
        if (c_kind == 2) ins.push_back(b.weight({3, 4}, 4, "c"));
        if (c_kind == 3) ins.push_back(b.input("c", {3, 1}));
        auto y = b.node("Gemm", ins,
                        {{"transA", int64_t{ta}},
                         {"transB", int64_t{tb}},
                         {"alpha", 0.5f},
                         {"beta", c_kind == 3 ? 1.f : 2.f}})[0];
        auto g = one_output(b, b.relu(y));
        EXPECT_LE(engine_error(g), kTolerance) << ta << tb << c_kind;
      }
}

TEST(ExecOps, MatMul) {
  GraphBuilder b("mm", 12);
  auto x = b.input("x", {2, 7, 16});
  auto h = b.matmul_weight(x, 12);                 // fully connected over the last axis
  auto hb = b.add(h, b.weight({12}, 12, "bias"));  // folds into the fc bias
  auto q = b.input("q", {2, 3, 7, 5});
  auto k = b.input("k", {1, 5, 4});
  auto qk = b.matmul(q, k);  // batched, broadcast
  auto v = b.input("v", {5});
  auto qv = b.matmul(q, v);  // vector
  auto g = b.finish({b.relu(hb), qk, qv});
  EXPECT_LE(engine_error(g), kTolerance);
  EXPECT_LE(engine_error(g, 2), kTolerance);
}

TEST(ExecOps, BroadcastingBinaryOps) {
  GraphBuilder b("bin", 13);
  auto x = b.input("x", {2, 8, 5, 6});
  auto c = b.conv(x, 8, 3, 1);                         // NHWC
  auto s1 = b.add(c, b.weight({1, 8, 1, 1}, 1, "b"));  // per-channel constant
  auto s2 = b.mul(c, b.input("m", {2, 1, 5, 6}));      // broadcast over channels
  auto s3 = b.sub(b.input("z", {8, 1, 1}), c);         // lower rank, first operand
  auto s4 = b.div(c, b.add(b.sigmoid(b.input("d", {6})), b.constant({1}, {1.f}, "one")));
  auto s5 = b.relu(b.add(c, x));  // add-relu fuses
  auto p = b.input("p", {3, 4});
  auto s6 = b.mul(p, b.input("p2", {3, 1}));
  auto g = b.finish({s1, s2, s3, s4, s5, s6});
  EXPECT_LE(engine_error(g), kTolerance);
  EXPECT_LE(engine_error(g, 2), kTolerance);
}

TEST(ExecOps, Activations) {
  GraphBuilder b("act", 14);
  auto x = b.input("x", {1, 6, 7, 5});
  auto c = b.conv(x, 6, 1, 1);
  std::vector<std::string> outs;
  for (const std::string a : {"relu", "relu6", "hswish", "sigmoid", "swish", "leakyrelu"}) {
    outs.push_back(b.activation(c, a));
  }
  outs.push_back(b.tanh(c));
  outs.push_back(b.hsigmoid(x));
  outs.push_back(b.clip(x, -0.5f, 0.25f));
  outs.push_back(b.node("Identity", {c})[0]);
  outs.push_back(b.node("Clip", {x}, {{"max", 0.1f}})[0]);
  outs.push_back(b.mul(c, b.hsigmoid(c)));  // h-swish as torch exports it before opset 14
  auto g = b.finish(outs);
  EXPECT_LE(engine_error(g), kTolerance);
  EXPECT_LE(engine_error(g, 2), kTolerance);
  size_t hswish = 0;
  const auto m = exec::compile(g);
  for (const auto& s : m.steps()) hswish += s.op == "hswish";
  EXPECT_EQ(hswish, 2u);
}

TEST(ExecOps, Softmax) {
  GraphBuilder b("softmax", 15);
  auto x = b.input("x", {2, 5, 3, 4});
  auto c = b.conv(x, 5, 1, 1);
  auto g = b.finish({b.softmax(c, 1), b.softmax(c, 2), b.softmax(c, -1),
                     b.softmax(b.input("v", {3, 10}), 1), b.softmax(b.input("w", {3, 4, 2}), 0)});
  EXPECT_LE(engine_error(g), kTolerance);
}

TEST(ExecOps, ConcatAndSplit) {
  GraphBuilder b("cat", 16);
  auto x = b.input("x", {2, 4, 5, 6});
  auto c1 = b.conv(x, 3, 1, 1);
  auto c2 = b.conv(x, 5, 3, 1);
  auto k1 = b.concat({c1, c2, x}, 1);
  auto k2 = b.concat({c1, b.conv(x, 3, 1, 1)}, 2);
  auto k3 = b.concat({x, b.weight({1, 4, 5, 6}, 1, "k")}, 0);
  auto k4 = b.concat({b.input("a", {3, 2}), b.input("b2", {3, 5})}, -1);
  auto parts = b.split(c2, {2, 3}, 1);
  auto parts2 = b.split(x, {2, 4}, 3);
  auto parts3 = b.node("Split", {x}, {{"axis", int64_t{1}}}, 2);
  auto g = b.finish(
      {k1, k2, k3, k4, parts[0], b.relu(parts[1]), parts2[0], parts2[1], parts3[0], parts3[1]});
  EXPECT_LE(engine_error(g), kTolerance);
  EXPECT_LE(engine_error(g, 2), kTolerance);
}

TEST(ExecOps, SlicePadTranspose) {
  GraphBuilder b("move", 17);
  auto x = b.input("x", {2, 6, 7, 8});
  auto c = b.conv(x, 6, 1, 1);
  auto s1 = b.slice(c, {1, 3}, {1, -6}, {5, 100}, {2, 1});
  auto s2 = b.slice(x, {2}, {-1}, {-100}, {-2});
  auto p1 = b.pad(c, {0, 0, 1, 2, 0, 0, 2, 1}, 0.5f);
  auto p2 = b.node("Pad", {c},
                   {{"pads", std::vector<int64_t>{0, 0, 2, 3, 0, 0, 1, 2}},
                    {"mode", std::string("reflect")}})[0];
  auto p3 = b.node(
      "Pad", {x},
      {{"pads", std::vector<int64_t>{0, 1, 2, 0, 0, 0, 3, 1}}, {"mode", std::string("edge")}})[0];
  auto p4 = b.pad(x, {0, 0, -1, 2, 0, -2, 0, 0});
  auto t1 = b.transpose(c, {0, 2, 3, 1});
  auto t2 = b.relu(b.transpose(c, {3, 1, 0, 2}));
  auto t3 = b.conv(b.transpose(x, {0, 1, 3, 2}), 4, 3, 1);
  auto g = b.finish({s1, s2, p1, p2, p3, p4, t1, t2, t3});
  EXPECT_LE(engine_error(g), kTolerance);
  EXPECT_LE(engine_error(g, 2), kTolerance);
}

TEST(ExecOps, ReshapeFlattenAndTokens) {
  GraphBuilder b("tokens", 18);
  auto x = b.input("x", {1, 3, 16, 16});
  auto p = b.conv(x, 8, 4, ConvOptions{.stride = 4, .pad = 0});  // patch embedding [1,8,4,4]
  auto t = b.transpose(b.reshape(p, {1, 8, 16}), {0, 2, 1});     // [1,16,8] tokens
  auto h = b.matmul_weight(t, 8);
  auto back = b.reshape(b.transpose(h, {0, 2, 1}), {1, 8, 4, 4});
  auto y = b.conv(back, 4, 3, 1);
  auto f = b.flatten(y, 2);
  auto g = b.finish({y, f, b.flatten(x, 0)});
  EXPECT_LE(engine_error(g), kTolerance);
}

TEST(ExecOps, ChannelShuffleRunsAsOneOperator) {
  GraphBuilder b("shuffle", 19);
  auto x = b.input("x", {2, 12, 5, 5});
  auto c = b.conv(x, 12, 1, 1);
  auto y = b.conv(b.channel_shuffle(c, 3), 12, 1, 1);
  auto g = one_output(b, y);
  EXPECT_LE(engine_error(g), kTolerance);
  auto m = exec::compile(g);
  EXPECT_EQ(compute_steps(m), 3u);
  bool found = false;
  for (const auto& s : m.steps()) found |= s.op == "channelshuffle" && s.nodes.size() == 3;
  EXPECT_TRUE(found);
}

TEST(ExecOps, Resize) {
  for (const std::string coord :
       {"half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel"})
    for (const std::string mode : {"nearest", "linear"}) {
      GraphBuilder b("resize", 20);
      auto x = b.input("x", {1, 3, 5, 4});
      auto c = b.conv(x, 3, 1, 1);
      std::map<std::string, AttrValue> attrs = {{"scales", std::vector<float>{1.f, 1.f, 2.f, 3.f}},
                                                {"mode", mode},
                                                {"coordinate_transformation_mode", coord}};
      auto y = b.node("Resize", {c}, attrs)[0];
      auto g = one_output(b, y);
      EXPECT_LE(engine_error(g), kTolerance) << mode << " " << coord;
    }
  for (const std::string coord : {"half_pixel", "tf_half_pixel_for_nn", "align_corners"}) {
    // 257 / 33 is no float: XNNPACK's size-derived scale would differ from ONNX's.
    GraphBuilder b("resize-odd", 25);
    auto x = b.input("x", {1, 4, 33, 9});
    auto y = b.node("Resize", {b.conv(x, 4, 1, 1)},
                    {{"scales", std::vector<float>{1.f, 1.f, 257.f / 33.f, 0.5f}},
                     {"mode", std::string("linear")},
                     {"coordinate_transformation_mode", coord}})[0];
    EXPECT_LE(engine_error(b.finish({y}), 2), kTolerance) << coord;
  }
  GraphBuilder b("resize-floor", 21);
  auto x = b.input("x", {1, 2, 6, 6});
  auto y = b.node("Resize", {x},
                  {{"scales", std::vector<float>{1.f, 1.f, 0.5f, 1.5f}},
                   {"mode", std::string("nearest")},
                   {"coordinate_transformation_mode", std::string("asymmetric")},
                   {"nearest_mode", std::string("floor")}})[0];
  EXPECT_LE(engine_error(b.finish({y})), kTolerance);
}

// The resize formulas are shared by the engine and the reference executor, so they are checked
// here against values worked out by hand from the ONNX operator spec.
TEST(ExecOps, ResizeFollowsTheOnnxSpec) {
  struct Case {
    std::string mode, coord, nearest;
    float scale;
    std::vector<float> want;
  };
  const std::vector<float> ramp = {0, 1, 2, 3, 4, 5, 6, 7};
  const std::vector<Case> cases = {
      // half_pixel at 1/2: sources 0.5, 2.5, 4.5, 6.5; the tie rounds down or up.
      {"nearest", "half_pixel", "round_prefer_floor", 0.5f, {0, 2, 4, 6}},
      {"nearest", "half_pixel", "round_prefer_ceil", 0.5f, {1, 3, 5, 7}},
      {"nearest", "asymmetric", "floor", 0.5f, {0, 2, 4, 6}},
      {"nearest", "asymmetric", "ceil", 0.75f, {0, 2, 3, 4, 6, 7}},  // o / 0.75
      {"linear", "half_pixel", "", 0.5f, {0.5f, 2.5f, 4.5f, 6.5f}},
      {"linear", "align_corners", "", 0.5f, {0, 7.f / 3, 14.f / 3, 7}},
      {"linear", "asymmetric", "", 0.5f, {0, 2, 4, 6}},
  };
  for (const auto& c : cases) {
    GraphBuilder b("resize-spec", 30);
    auto x = b.input("x", {1, 1, 1, 8});
    std::map<std::string, AttrValue> attrs = {
        {"scales", std::vector<float>{1.f, 1.f, 1.f, c.scale}},
        {"mode", c.mode},
        {"coordinate_transformation_mode", c.coord}};
    if (!c.nearest.empty()) attrs["nearest_mode"] = c.nearest;
    auto y = b.node("Resize", {x}, attrs)[0];
    const Graph g = b.finish({y});
    const exec::Tensor in({1, 1, 1, 8}, ramp);
    const auto ref = exec::run_reference(g, {in});
    auto m = exec::compile(g);
    m.set_input(0, in.data);
    m.run();
    const auto got = m.output_tensor(0);
    ASSERT_EQ(ref[0].data.size(), c.want.size()) << c.mode << " " << c.coord << " " << c.nearest;
    for (size_t i = 0; i < c.want.size(); ++i) {
      EXPECT_NEAR(ref[0].data[i], c.want[i], 1e-5) << c.coord << " " << c.nearest << " @" << i;
      EXPECT_NEAR(got.data[i], c.want[i], 1e-5) << c.coord << " " << c.nearest << " @" << i;
    }
  }
}

TEST(ExecOps, Gather) {
  GraphBuilder b("gather", 22);
  auto x = b.input("x", {4, 6, 5});
  auto i0 = b.constant_ints({}, {2}, "i");
  auto i1 = b.constant_ints({3}, {0, -1, 2}, "i");
  auto i2 = b.constant_ints({2, 2}, {1, 1, 0, 4}, "i");
  auto g = b.finish({b.gather(x, i0, 0), b.gather(x, i1, 1), b.gather(x, i2, 2)});
  EXPECT_LE(engine_error(g), kTolerance);
}

TEST(ExecOps, ConstantSubgraphsFold) {
  GraphBuilder b("fold", 23);
  auto x = b.input("x", {1, 4});
  auto w = b.weight({1, 4}, 4, "w");
  auto k = b.mul(b.relu(w), b.constant({1}, {2.f}, "two"));  // constant-only: folded
  auto g = b.finish({b.add(x, k), k});
  EXPECT_LE(engine_error(g), kTolerance);
  auto m = exec::compile(g);
  bool noted = false;
  for (const auto& n : m.notes()) noted |= n.find("folded") != std::string::npos;
  EXPECT_TRUE(noted);
}

TEST(ExecOps, ThreadCountsAgree) {
  GraphBuilder b("threads", 24);
  auto x = b.input("x", {1, 3, 32, 32});
  auto y = b.relu(b.bn(b.conv(x, 16, 3, 2)));
  y = b.relu6(b.bn(b.dwconv(y, 3, 1)));
  y = b.fc(b.flatten(b.global_avgpool(y)), 10);
  auto g = one_output(b, y);
  const auto in = exec::testing::random_inputs(g, 3);
  std::vector<exec::Tensor> outs;
  for (int threads : {1, 2, 3}) {
    exec::CompileOptions o;
    o.threads = threads;
    auto m = exec::compile(g, o);
    outs.push_back(exec::run_model(m, in)[0]);
  }
  EXPECT_LE(exec::relative_error(outs[1], outs[0]), 1e-6);
  EXPECT_LE(exec::relative_error(outs[2], outs[0]), 1e-6);
}
