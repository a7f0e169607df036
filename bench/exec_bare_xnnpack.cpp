// The baseline for nnjoule's engine overhead: ResNet-18 and MobileNetV2 (torchvision's
// architectures, batch-norm folded, random weights) written by hand as a sequence of XNNPACK
// operators, NHWC, with no framework around them: the same operators nnjoule's compiler
// creates for the exported ONNX files. bench/exec_compare.py runs it beside `nnjoule run`.
//
//   bench_exec_bare_xnnpack resnet18|mobilenetv2 [--threads N] [--runs N] [--warmup N]
//
// Prints one JSON line: {"model", "threads", "operators", "samples_ms", "median_ms"}.
#include <pthreadpool.h>
#include <xnnpack.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

void check(xnn_status s, const char* what) {
  if (s != xnn_status_success) throw std::runtime_error(std::string("XNNPACK failed: ") + what);
}

struct Buffer {
  std::vector<float> data;
  size_t h = 0, w = 0, c = 0;
  explicit Buffer(size_t h_, size_t w_, size_t c_) : data(h_ * w_ * c_ + 16), h(h_), w(w_), c(c_) {}
};

class Net {
 public:
  explicit Net(pthreadpool_t pool) : pool_(pool) {}
  ~Net() {
    for (auto op : ops_) xnn_delete_operator(op);
  }
  Net(const Net&) = delete;
  Net& operator=(const Net&) = delete;

  Buffer* input(size_t h, size_t w, size_t c) {
    Buffer* b = buffer(h, w, c);
    for (auto& v : b->data) v = uniform();
    return b;
  }

  // A convolution with batch-norm folded in (random weights and bias) and an output clamp.
  Buffer* conv(Buffer* x, size_t cout, uint32_t k, uint32_t s, uint32_t pad, bool depthwise,
               float lo, float hi) {
    const size_t groups = depthwise ? x->c : 1;
    const size_t gic = depthwise ? 1 : x->c, goc = depthwise ? 1 : cout;
    const size_t oh = (x->h + 2 * pad - k) / s + 1, ow = (x->w + 2 * pad - k) / s + 1;
    std::vector<float> weights(groups * goc * k * k * gic), bias(cout);
    const float scale = std::sqrt(6.f / static_cast<float>(gic * k * k));
    for (auto& v : weights) v = uniform() * scale;
    for (auto& v : bias) v = uniform() * 0.1f;
    xnn_operator_t op = nullptr;
    check(xnn_create_convolution2d_nhwc_f32(pad, pad, pad, pad, k, k, s, s, 1, 1,
                                            static_cast<uint32_t>(groups), gic, goc, x->c, cout,
                                            weights.data(), bias.data(), lo, hi, 0, &op),
          "create convolution");
    Buffer* y = buffer(oh, ow, cout);
    check(
        xnn_setup_convolution2d_nhwc_f32(op, 1, x->h, x->w, x->data.data(), y->data.data(), pool_),
        "setup convolution");
    ops_.push_back(op);
    return y;
  }

  Buffer* maxpool(Buffer* x, uint32_t k, uint32_t s, uint32_t pad) {
    const size_t oh = (x->h + 2 * pad - k) / s + 1, ow = (x->w + 2 * pad - k) / s + 1;
    xnn_operator_t op = nullptr;
    check(xnn_create_max_pooling2d_nhwc_f32(pad, pad, pad, pad, k, k, s, s, 1, 1, x->c, x->c, x->c,
                                            -kInf, kInf, 0, &op),
          "create max pooling");
    Buffer* y = buffer(oh, ow, x->c);
    check(
        xnn_setup_max_pooling2d_nhwc_f32(op, 1, x->h, x->w, x->data.data(), y->data.data(), pool_),
        "setup max pooling");
    ops_.push_back(op);
    return y;
  }

  Buffer* add(Buffer* a, Buffer* b, float lo, float hi) {
    xnn_operator_t op = nullptr;
    check(xnn_create_add_nd_f32(lo, hi, 0, &op), "create add");
    Buffer* y = buffer(a->h, a->w, a->c);
    const size_t shape[4] = {1, a->h, a->w, a->c};
    check(xnn_setup_add_nd_f32(op, 4, shape, 4, shape, a->data.data(), b->data.data(),
                               y->data.data(), pool_),
          "setup add");
    ops_.push_back(op);
    return y;
  }

  Buffer* global_avgpool(Buffer* x) {
    xnn_operator_t op = nullptr;
    check(xnn_create_global_average_pooling_nwc_f32(x->c, x->c, x->c, -kInf, kInf, 0, &op),
          "create global average pooling");
    Buffer* y = buffer(1, 1, x->c);
    check(xnn_setup_global_average_pooling_nwc_f32(op, 1, x->h * x->w, x->data.data(),
                                                   y->data.data(), pool_),
          "setup global average pooling");
    ops_.push_back(op);
    return y;
  }

  Buffer* fc(Buffer* x, size_t cout) {
    std::vector<float> weights(cout * x->c), bias(cout);
    for (auto& v : weights) v = uniform() / std::sqrt(static_cast<float>(x->c));
    for (auto& v : bias) v = uniform() * 0.1f;
    xnn_operator_t op = nullptr;
    check(xnn_create_fully_connected_nc_f32(x->c, cout, x->c, cout, weights.data(), bias.data(),
                                            -kInf, kInf, 0, &op),
          "create fully connected");
    Buffer* y = buffer(1, 1, cout);
    check(xnn_setup_fully_connected_nc_f32(op, 1, x->data.data(), y->data.data(), pool_),
          "setup fully connected");
    ops_.push_back(op);
    return y;
  }

  void run() {
    for (auto op : ops_) check(xnn_run_operator(op, pool_), "run");
  }
  size_t operators() const { return ops_.size(); }

 private:
  Buffer* buffer(size_t h, size_t w, size_t c) {
    buffers_.push_back(std::make_unique<Buffer>(h, w, c));
    return buffers_.back().get();
  }
  float uniform() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 7;
    state_ ^= state_ << 17;
    return static_cast<float>(state_ >> 11) / static_cast<float>(1ull << 53) * 2.f - 1.f;
  }

  pthreadpool_t pool_;
  std::vector<xnn_operator_t> ops_;
  std::vector<std::unique_ptr<Buffer>> buffers_;
  uint64_t state_ = 0x9E3779B97F4A7C15ull;
};

// torchvision resnet18: 7x7 stem, max pool, 4 stages of 2 basic blocks, GAP, fc.
void build_resnet18(Net& n) {
  Buffer* x = n.input(224, 224, 3);
  x = n.conv(x, 64, 7, 2, 3, false, 0, kInf);
  x = n.maxpool(x, 3, 2, 1);
  size_t cin = 64;
  for (size_t stage = 0; stage < 4; ++stage) {
    const size_t cout = 64u << stage;
    for (int block = 0; block < 2; ++block) {
      const uint32_t s = stage > 0 && block == 0 ? 2 : 1;
      Buffer* y = n.conv(x, cout, 3, s, 1, false, 0, kInf);
      y = n.conv(y, cout, 3, 1, 1, false, -kInf, kInf);
      Buffer* shortcut = x;
      if (s != 1 || cin != cout) shortcut = n.conv(x, cout, 1, s, 0, false, -kInf, kInf);
      x = n.add(y, shortcut, 0, kInf);
      cin = cout;
    }
  }
  n.fc(n.global_avgpool(x), 1000);
}

// torchvision mobilenet_v2: inverted residual blocks (expansion t, channels c, repeats n,
// stride s) with ReLU6, a 1x1 conv to 1280, GAP, fc.
void build_mobilenetv2(Net& n) {
  Buffer* x = n.input(224, 224, 3);
  x = n.conv(x, 32, 3, 2, 1, false, 0, 6);
  const int cfg[7][4] = {{1, 16, 1, 1}, {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                         {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
  size_t cin = 32;
  for (const auto& c : cfg) {
    for (int i = 0; i < c[2]; ++i) {
      const uint32_t s = i == 0 ? static_cast<uint32_t>(c[3]) : 1;
      const auto cout = static_cast<size_t>(c[1]);
      Buffer* y = x;
      if (c[0] != 1) y = n.conv(y, cin * static_cast<size_t>(c[0]), 1, 1, 0, false, 0, 6);
      y = n.conv(y, y->c, 3, s, 1, true, 0, 6);
      y = n.conv(y, cout, 1, 1, 0, false, -kInf, kInf);
      x = s == 1 && cin == cout ? n.add(x, y, -kInf, kInf) : y;
      cin = cout;
    }
  }
  x = n.conv(x, 1280, 1, 1, 0, false, 0, 6);
  n.fc(n.global_avgpool(x), 1000);
}

int usage() {
  std::fprintf(stderr,
               "usage: bench_exec_bare_xnnpack resnet18|mobilenetv2 [--threads N] [--runs N] "
               "[--warmup N]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  const std::string model = argv[1];
  int threads = 1, runs = 50, warmup = 10;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const int value = std::atoi(argv[i + 1]);
    if (flag == "--threads")
      threads = value;
    else if (flag == "--runs")
      runs = value;
    else if (flag == "--warmup")
      warmup = value;
    else
      return usage();
  }
  if ((model != "resnet18" && model != "mobilenetv2") || threads < 1 || runs < 1 || warmup < 0) {
    return usage();
  }
  try {
    check(xnn_initialize(nullptr), "initialize");
    pthreadpool_t pool = threads > 1 ? pthreadpool_create(static_cast<size_t>(threads)) : nullptr;
    std::vector<double> samples;
    size_t operators = 0;
    {
      Net net(pool);
      if (model == "resnet18")
        build_resnet18(net);
      else
        build_mobilenetv2(net);
      operators = net.operators();
      for (int i = 0; i < warmup; ++i) net.run();
      for (int i = 0; i < runs; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        net.run();
        const auto t1 = std::chrono::steady_clock::now();
        samples.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      }
    }
    if (pool) pthreadpool_destroy(pool);
    std::vector<double> sorted = samples;
    std::sort(sorted.begin(), sorted.end());
    const size_t n = sorted.size();
    const double median = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    std::printf("{\"model\": \"%s\", \"threads\": %d, \"operators\": %zu, \"samples_ms\": [",
                model.c_str(), threads, operators);
    for (size_t i = 0; i < samples.size(); ++i) std::printf("%s%.6f", i ? ", " : "", samples[i]);
    std::printf("], \"median_ms\": %.6f}\n", median);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_exec_bare_xnnpack: %s\n", e.what());
    return 1;
  }
  return 0;
}
