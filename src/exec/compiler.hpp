#pragma once
// The lowering pass from Graph to engine steps (see compiler.cpp).
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "internal.hpp"

namespace nnjoule::exec::detail {

struct Clamp {
  float lo = -std::numeric_limits<float>::infinity();
  float hi = std::numeric_limits<float>::infinity();
  bool bounded() const {
    return lo != -std::numeric_limits<float>::infinity() ||
           hi != std::numeric_limits<float>::infinity();
  }
};

// A per-output-channel affine map and clamp folded into a linear operator.
struct Epilogue {
  std::vector<double> scale, shift;
  Clamp clamp;
  std::vector<std::string> fused;
};

// How one output logical axis reads the source: from axis `src`, at indices `idx`.
struct DimMap {
  int src = 0;
  std::vector<int64_t> idx;
};

class Compiler {
 public:
  Compiler(const graph::Graph& g, CompiledModel::Impl& m);
  // Fills m.values, m.buffers, m.constants, m.steps, m.inputs/outputs and m.notes.
  void run();

 private:
  int add_value(Value v);
  // `quant` (an int8 value's scale and zero point) makes an int8 value.
  int new_value(const std::string& name, const graph::Shape& shape, const Perm& perm,
                const Value* quant = nullptr);
  int alias(int src, const graph::Shape& shape, const Perm& perm);
  int constant_value(const std::string& name, const graph::Shape& shape, const Perm& perm,
                     std::vector<float> physical);
  int value_of(const std::string& tensor);
  const float* constant_data(int v) const;
  int ensure(int v, const Perm& p, bool output_io = false);
  int expand_rank(int v, size_t rank);
  IndexMap build_map(const Value& in, const graph::Shape& out_shape, const Perm& out_perm,
                     const std::vector<DimMap>& maps, float fill) const;
  void add_step(StepImpl s);
  StepImpl step_for(size_t node, const std::string& op, const std::string& impl,
                    std::vector<size_t> nodes) const;

  long sole_consumer(const std::string& t) const;
  std::optional<std::vector<double>> per_channel(const std::string& t, const graph::Shape& out,
                                                 int axis, int64_t channels) const;
  bool absorb_clamp(const graph::Node& c, Clamp& clamp) const;
  std::string absorb_clamps(std::string t, Clamp& clamp, std::vector<size_t>& nodes);
  std::string absorb(std::string t, int axis, int64_t channels, Epilogue& e,
                     std::vector<size_t>& nodes);
  const std::vector<float>& weights(const graph::Node& n, size_t i, const char* what) const;

  void fold_constants();
  void move_io_conversions();
  void lower(size_t i);

 public:  // the lowering entries of the op table (ops_*.cpp)
  void lower_conv(size_t i, bool transpose);
  void lower_batchnorm(size_t i);
  void lower_pool(size_t i);
  void lower_mean(size_t i);
  void add_fc_step(size_t i, const std::vector<size_t>& nodes, int in, int y, int64_t batch,
                   int64_t K, int64_t N, std::vector<float> kernel, std::vector<float> bias,
                   Clamp c, const std::string& label);
  void lower_gemm(size_t i);
  void lower_matmul(size_t i);
  int make_binary(size_t node, const std::string& op, int va, int vb, const std::string& out,
                  const graph::Shape& os, Clamp c, std::vector<size_t> nodes);
  void lower_binary(size_t i);
  void lower_unary(size_t i);
  void lower_softmax(size_t i);
  void lower_index_copy(size_t i, const std::string& kind, const Value& x, int in,
                        const std::string& out, const graph::Shape& os, const Perm& out_perm,
                        const std::vector<DimMap>& maps, float fill);
  void lower_concat_split(size_t i, bool concat);
  void lower_slice(size_t i);
  void lower_pad(size_t i);
  void lower_transpose(size_t i);
  void lower_reshape(size_t i);
  bool try_channel_shuffle(size_t i);
  void lower_gather(size_t i);
  void lower_resize(size_t i);
  // Quantized tensors (ops_quant.cpp).
  void lower_quantize(size_t i);
  void lower_dequantize(size_t i);
  int dequantize(size_t dq_node);  // the float value of a deferred DequantizeLinear
  bool lower_int8(size_t i);       // DQ -> op -> Q as one int8 operator; false: float path

 private:
  graph::Graph g_;
  CompiledModel::Impl& m_;
  std::map<std::string, int> val_;
  std::map<std::pair<int, Perm>, int> converted_;
  std::map<std::string, std::vector<size_t>> consumers_;
  std::set<std::string> outputs_;
  std::vector<bool> done_;
  long anchor_ = -1;
  std::map<std::string, int> counts_;
  // DequantizeLinear outputs of runtime tensors: converted to float only when a float op reads
  // them; int8 operators read the quantized value directly.
  std::map<std::string, size_t> deferred_;
  std::map<std::string, size_t> producers_;  // node writing each tensor, for quantized weights

 public:
  // For the int8 lowering (ops_quant.cpp).
  struct Int8Out;
  bool int8_output(const std::string& t, Int8Out& out) const;
  long int8_source(const std::string& t) const;  // the int8 value a deferred DQ reads, or -1
  void commit(const Int8Out& out, std::vector<size_t>& nodes);
};

}  // namespace nnjoule::exec::detail
