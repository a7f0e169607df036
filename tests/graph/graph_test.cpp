#include <gtest/gtest.h>

#include "nnjoule/common/error.hpp"
#include "nnjoule/graph/builder.hpp"
#include "nnjoule/graph/shape_inference.hpp"

using namespace nnjoule;
using namespace nnjoule::graph;

TEST(Graph, BuilderInfersConvPoolShapes) {
  GraphBuilder b("t", 1);
  auto x = b.input("x", {1, 3, 224, 224});
  auto c = b.conv(x, 64, 7, ConvOptions{.stride = 2, .pad = 3});
  EXPECT_EQ(b.shape(c), (Shape{1, 64, 112, 112}));
  auto p = b.maxpool(b.relu(b.bn(c)), 3, 2, 1);
  EXPECT_EQ(b.shape(p), (Shape{1, 64, 56, 56}));
  auto d = b.dwconv(p, 3, 2);
  EXPECT_EQ(b.shape(d), (Shape{1, 64, 28, 28}));
  auto g = b.finish({d});
  EXPECT_EQ(g.nodes.size(), 5u);
}

TEST(Graph, CeilModePoolDropsWindowStartingInPadding) {
  // 112 -> ceil((112 - 3) / 2) + 1 = 56 (SqueezeNet / GoogLeNet pools).
  EXPECT_EQ(window_output(112, 3, 2, 0, 0, 1, true), 56);
  EXPECT_EQ(window_output(13, 3, 2, 0, 0, 1, true), 6);
  EXPECT_EQ(window_output(14, 3, 2, 0, 0, 1, true), 7);
  EXPECT_EQ(window_output(14, 3, 2, 0, 0, 1, false), 6);
}

TEST(Graph, ToposortDetectsCycles) {
  Graph g;
  g.name = "cyclic";
  g.inputs = {"x"};
  g.values["x"] = {DType::kFloat32, {1, 4}};
  g.nodes.push_back(Node{"a", "Add", {"x", "c"}, {"b"}, {}});
  g.nodes.push_back(Node{"r", "Relu", {"b"}, {"c"}, {}});
  try {
    g.toposort();
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cycle"), std::string::npos) << e.what();
  }
}

TEST(Graph, BroadcastRejectsIncompatibleShapes) {
  EXPECT_EQ(broadcast_shapes({1, 8, 4, 4}, {1, 8, 1, 1}, "t"), (Shape{1, 8, 4, 4}));
  EXPECT_THROW(broadcast_shapes({1, 8, 4, 4}, {1, 7, 1, 1}, "t"), Error);
}

TEST(Graph, ChannelShuffleAndSeKeepShape) {
  GraphBuilder b("t", 2);
  auto x = b.input("x", {1, 24, 8, 8});
  auto s = b.channel_shuffle(x, 2);
  EXPECT_EQ(b.shape(s), (Shape{1, 24, 8, 8}));
  auto e = b.se(s, 6);
  EXPECT_EQ(b.shape(e), (Shape{1, 24, 8, 8}));
}

TEST(Graph, SeededWeightsAreDeterministic) {
  auto build = [](uint64_t seed) {
    GraphBuilder b("t", seed);
    auto x = b.input("x", {1, 3, 8, 8});
    return b.finish({b.conv(x, 4, 3)});
  };
  auto a = build(7), a2 = build(7), c = build(8);
  const auto& wa = a.constant(a.nodes[0].inputs[1]).f32;
  EXPECT_EQ(wa, a2.constant(a2.nodes[0].inputs[1]).f32);
  EXPECT_NE(wa, c.constant(c.nodes[0].inputs[1]).f32);
}
