#include "nnjoule/predict/features.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "nnjoule/common/error.hpp"

namespace nnjoule::predict {

using kernels::KernelConfig;

namespace {

bool starts_with(std::string_view s, std::string_view p) {
  return s.substr(0, p.size()) == p;
}

// A required key, positive.
double need(std::string_view type, const KernelConfig& c, std::string_view key) {
  if (!c.has(key)) fail("kernel {}: config lacks {} (has: {})", type, key, c.str());
  const int64_t v = c.get(key);
  if (v <= 0) fail("kernel {}: config {}={} must be positive", type, key, v);
  return static_cast<double>(v);
}

// An optional key, positive when present.
double opt(std::string_view type, const KernelConfig& c, std::string_view key, double fallback) {
  if (!c.has(key)) return fallback;
  return need(type, c, key);
}

bool is_data_movement(std::string_view type) {
  const auto* t = kernels::find_kernel_type(type);
  return t != nullptr && t->group == "data";
}

// The inputs of a concat: CIN1..CINn in order, any n >= 1. Zeros are absent inputs (nn-Meter
// and DeepEn2023 write CIN1..CIN4 and leave unused slots 0); NS, when given, is the input count.
struct ConcatInputs {
  std::vector<double> channels;  // the inputs present, in order
  double sum = 0, max = 0, min = 0;
};

ConcatInputs concat_inputs(std::string_view type, const KernelConfig& c) {
  ConcatInputs r;
  std::vector<int64_t> cin;  // CIN<i> at i - 1; -1 where absent
  for (const auto& [key, v] : c.items()) {
    if (key.size() < 4 || key.size() > 7 || key.compare(0, 3, "CIN") != 0) continue;
    if (key.find_first_not_of("0123456789", 3) != std::string::npos) continue;
    const size_t i = std::stoul(key.substr(3));
    if (i == 0) fail("kernel {}: config key {}: inputs are numbered from CIN1", type, key);
    if (v < 0) fail("kernel {}: config {}={} must not be negative", type, key, v);
    if (cin.size() < i) cin.resize(i, -1);
    cin[i - 1] = v;
  }
  for (size_t i = 0; i < cin.size(); ++i) {
    if (cin[i] < 0) {
      fail("kernel {}: config has CIN{} but no CIN{} (has: {})", type, cin.size(), i + 1, c.str());
    }
    if (cin[i] > 0) r.channels.push_back(static_cast<double>(cin[i]));
  }
  const size_t keys = cin.size();
  if (r.channels.empty()) {
    fail("kernel {}: config needs at least one input, CIN1 > 0 (has: {})", type, c.str());
  }
  if (c.has("NS") && c.get("NS") != static_cast<int64_t>(r.channels.size())) {
    fail("kernel {}: config NS={} but CIN1..CIN{} give {} input(s) (has: {})", type, c.get("NS"),
         keys, r.channels.size(), c.str());
  }
  r.max = r.min = r.channels.front();
  for (double v : r.channels) {
    r.sum += v;
    r.max = std::max(r.max, v);
    r.min = std::min(r.min, v);
  }
  return r;
}

// nn-Meter's FLOPs and params (nn_meter/predictor/prediction/utils.py): bias counted, float
// division by the stride, fc params written as (2 * CIN + 1) * COUT.
struct NnMeterCounts {
  double flops = 0, params = 0;
};

NnMeterCounts nn_meter_counts(FeatureFamily f, std::string_view type, const KernelConfig& c) {
  NnMeterCounts r;
  if (f == FeatureFamily::kConv) {
    const double hw = need(type, c, "HW"), w = opt(type, c, "WIDTH", hw);
    const double cin = need(type, c, "CIN"), cout = need(type, c, "COUT");
    const double k = need(type, c, "KERNEL_SIZE"), kw = opt(type, c, "KERNEL_W", k);
    const double s = need(type, c, "STRIDES"), g = opt(type, c, "GROUPS", 1);
    r.params = cout * (k * kw * cin / g + 1);
    r.flops = 2 * hw / s * w / s * r.params;
  } else if (f == FeatureFamily::kDwconv) {
    const double hw = need(type, c, "HW"), w = opt(type, c, "WIDTH", hw);
    const double cout = opt(type, c, "COUT", need(type, c, "CIN"));
    const double k = need(type, c, "KERNEL_SIZE"), kw = opt(type, c, "KERNEL_W", k);
    const double s = need(type, c, "STRIDES");
    r.params = cout * (k * kw + 1);
    r.flops = 2 * hw / s * w / s * r.params;
  } else if (f == FeatureFamily::kFc) {
    const double cin = need(type, c, "CIN"), cout = need(type, c, "COUT");
    r.params = (2 * cin + 1) * cout;
    r.flops = r.params * opt(type, c, "ROWS", 1);
  }
  return r;
}

}  // namespace

FeatureFamily feature_family(std::string_view t) {
  t = kernels::key_type(t);  // an int8 kernel has its fp32 twin's features
  if (starts_with(t, "dwconv")) return FeatureFamily::kDwconv;
  if (starts_with(t, "conv")) return FeatureFamily::kConv;  // conv*, convtrans*
  if (t == "fc" || starts_with(t, "fc-")) return FeatureFamily::kFc;
  if (starts_with(t, "maxpool") || starts_with(t, "avgpool")) return FeatureFamily::kPool;
  if (t == "concat") return FeatureFamily::kConcat;
  for (std::string_view b : {"add", "sub", "mul", "div"}) {
    if (t == b || (starts_with(t, b) && t.size() > b.size() && t[b.size()] == '-')) {
      return FeatureFamily::kAdd;
    }
  }
  if (t == "matmul") return FeatureFamily::kMatmul;
  return FeatureFamily::kOther;
}

std::string_view family_name(FeatureFamily f) {
  switch (f) {
    case FeatureFamily::kConv:
      return "conv";
    case FeatureFamily::kDwconv:
      return "dwconv";
    case FeatureFamily::kFc:
      return "fc";
    case FeatureFamily::kPool:
      return "pool";
    case FeatureFamily::kConcat:
      return "concat";
    case FeatureFamily::kAdd:
      return "add";
    case FeatureFamily::kMatmul:
      return "matmul";
    case FeatureFamily::kOther:
      return "other";
  }
  return "other";
}

std::string_view feature_set_name(FeatureSet s) {
  switch (s) {
    case FeatureSet::kNnMeter:
      return "nn-meter";
    case FeatureSet::kFull:
      return "full";
    case FeatureSet::kFullModel:
      return "full+model";
    case FeatureSet::kFullClock:
      return "full+clock";
    case FeatureSet::kFullModelClock:
      return "full+model+clock";
    case FeatureSet::kAuto:
      return "auto";
  }
  return "full";
}

FeatureSet parse_feature_set(std::string_view name) {
  for (FeatureSet s : {FeatureSet::kNnMeter, FeatureSet::kFull, FeatureSet::kFullModel,
                       FeatureSet::kFullClock, FeatureSet::kFullModelClock, FeatureSet::kAuto}) {
    if (name == feature_set_name(s)) return s;
  }
  fail(
      "unknown feature set '{}' (expected auto, full, full+model, full+clock, full+model+clock or "
      "nn-meter)",
      name);
}

bool uses_model(FeatureSet s) {
  return s == FeatureSet::kFullModel || s == FeatureSet::kFullModelClock;
}

bool uses_clock(FeatureSet s) {
  return s == FeatureSet::kFullClock || s == FeatureSet::kFullModelClock;
}

namespace {
void require_resolved(FeatureSet set) {
  if (set == FeatureSet::kAuto) fail("feature set 'auto' names no features until training");
}
}  // namespace

KernelSizes kernel_sizes(std::string_view type, const KernelConfig& c) {
  type = kernels::key_type(type);
  KernelSizes r;
  const FeatureFamily f = feature_family(type);
  switch (f) {
    case FeatureFamily::kConv: {
      const double h = need(type, c, "HW"), w = opt(type, c, "WIDTH", h);
      const double cin = need(type, c, "CIN"), cout = need(type, c, "COUT");
      const double k = need(type, c, "KERNEL_SIZE"), kw = opt(type, c, "KERNEL_W", k);
      const double s = need(type, c, "STRIDES"), g = opt(type, c, "GROUPS", 1);
      const bool trans = starts_with(type, "convtrans");
      const double ho = trans ? h * s : std::ceil(h / s), wo = trans ? w * s : std::ceil(w / s);
      r.params = cout * (k * kw * cin / g + 1);
      r.input_elems = h * w * cin;
      r.output_elems = ho * wo * cout;
      r.flops = 2 * (trans ? h * w : ho * wo) * cout * k * kw * cin / g;
      break;
    }
    case FeatureFamily::kDwconv: {
      const double h = need(type, c, "HW"), w = opt(type, c, "WIDTH", h);
      const double cin = need(type, c, "CIN"), cout = opt(type, c, "COUT", cin);
      const double k = need(type, c, "KERNEL_SIZE"), kw = opt(type, c, "KERNEL_W", k);
      const double s = need(type, c, "STRIDES");
      const double ho = std::ceil(h / s), wo = std::ceil(w / s);
      r.params = cout * (k * kw + 1);
      r.input_elems = h * w * cin;
      r.output_elems = ho * wo * cout;
      r.flops = 2 * ho * wo * cout * k * kw;
      break;
    }
    case FeatureFamily::kFc: {
      const double cin = need(type, c, "CIN"), cout = need(type, c, "COUT");
      const double rows = opt(type, c, "ROWS", 1);
      r.params = cin * cout + cout;
      r.input_elems = rows * cin;
      r.output_elems = rows * cout;
      r.flops = 2 * rows * cin * cout + rows * cout;
      break;
    }
    case FeatureFamily::kPool: {
      const double h = need(type, c, "HW"), w = opt(type, c, "WIDTH", h);
      const double cin = need(type, c, "CIN"), k = need(type, c, "KERNEL_SIZE");
      const double s = opt(type, c, "POOL_STRIDES", opt(type, c, "STRIDES", 1));
      const double ho = std::ceil(h / s), wo = std::ceil(w / s);
      r.input_elems = h * w * cin;
      r.output_elems = ho * wo * cin;
      r.flops = ho * wo * cin * k * k;
      break;
    }
    case FeatureFamily::kConcat: {
      const double h = need(type, c, "HW"), w = opt(type, c, "WIDTH", h);
      const double total = concat_inputs(type, c).sum;
      r.input_elems = h * w * total;
      r.output_elems = r.input_elems;
      break;
    }
    case FeatureFamily::kAdd: {
      const double h = need(type, c, "HW"), w = opt(type, c, "WIDTH", h);
      const double cin = c.has("CIN1") ? need(type, c, "CIN1") : need(type, c, "CIN");
      const double cin2 = opt(type, c, "CIN2", cin);
      r.input_elems = h * w * (cin + cin2);
      r.output_elems = h * w * std::max(cin, cin2);
      r.flops = r.output_elems;
      break;
    }
    case FeatureFamily::kMatmul: {
      const double m = need(type, c, "M"), k = need(type, c, "K"), n = need(type, c, "N");
      const double b = opt(type, c, "BATCH", 1);
      r.input_elems = b * (m * k + k * n);
      r.output_elems = b * m * n;
      r.flops = 2 * b * m * k * n;
      break;
    }
    case FeatureFamily::kOther: {
      const double h = need(type, c, "HW"), w = opt(type, c, "WIDTH", h);
      const double cin = need(type, c, "CIN");
      const double elems = h * w * cin;
      r.input_elems = elems;
      r.output_elems = elems;
      r.flops = is_data_movement(type) ? 0 : elems;
      if (type == "global-avgpool" || type == "reducemean") {
        r.output_elems = cin;
      } else if (type == "se") {
        const double mid = opt(type, c, "CMID", std::max(1.0, std::floor(cin / 4)));
        r.params = 2 * cin * mid + mid + cin;
        r.flops = 2 * elems + 4 * cin * mid;
      } else if (type == "resize") {
        const double scale = opt(type, c, "SCALE", 1);
        r.output_elems = elems * scale * scale;
      }
      break;
    }
  }
  r.bytes = 4 * (r.input_elems + r.output_elems + r.params);
  return r;
}

std::vector<std::string> feature_names(std::string_view type, FeatureSet set) {
  type = kernels::key_type(type);
  require_resolved(set);
  std::vector<std::string> n;
  const FeatureFamily f = feature_family(type);
  switch (f) {
    case FeatureFamily::kConv:
    case FeatureFamily::kDwconv:
      n = {"HW", "CIN", "COUT", "KERNEL_SIZE", "STRIDES", "FLOPS_2M", "PARAMS_M"};
      break;
    case FeatureFamily::kFc:
      n = {"CIN", "COUT", "FLOPS_2M", "PARAMS_M"};
      break;
    case FeatureFamily::kPool:
      n = {"HW", "CIN", "COUT", "KERNEL_SIZE", "POOL_STRIDES"};
      break;
    case FeatureFamily::kConcat:
      // nn-Meter's four input slots for its baseline; the full set describes any input count.
      if (set == FeatureSet::kNnMeter)
        n = {"HW", "CIN1", "CIN2", "CIN3", "CIN4"};
      else
        n = {"HW", "NS", "CIN_SUM", "CIN_MAX", "CIN_MIN"};
      break;
    case FeatureFamily::kAdd:
      n = {"HW", "CIN1", "CIN2"};
      break;
    case FeatureFamily::kMatmul:
      n = {"M", "K", "N"};
      break;
    case FeatureFamily::kOther:
      n = {"HW", "CIN"};
      break;
  }
  if (set != FeatureSet::kNnMeter) {
    n.push_back("BYTES_M");
    n.push_back("OUT_M");
    if (f == FeatureFamily::kConv || f == FeatureFamily::kDwconv || f == FeatureFamily::kFc ||
        f == FeatureFamily::kPool || f == FeatureFamily::kMatmul) {
      n.push_back("INTENSITY");
    }
  }
  if (uses_model(set)) n.push_back("MODEL_W_MB");
  if (uses_clock(set)) {
    n.push_back("CPU_MHZ");
    n.push_back("CPU_CAPACITY");
  }
  return n;
}

void append_features(std::string_view type, const KernelConfig& c, FeatureSet set,
                     std::vector<float>& out, const KernelContext& context) {
  type = kernels::key_type(type);
  require_resolved(set);
  const FeatureFamily f = feature_family(type);
  const size_t start = out.size();
  auto put = [&](double v) { out.push_back(static_cast<float>(v)); };
  switch (f) {
    case FeatureFamily::kConv:
    case FeatureFamily::kDwconv: {
      const auto nm = nn_meter_counts(f, type, c);
      const double cin = need(type, c, "CIN");
      put(need(type, c, "HW"));
      put(cin);
      put(f == FeatureFamily::kConv ? need(type, c, "COUT") : opt(type, c, "COUT", cin));
      put(need(type, c, "KERNEL_SIZE"));
      put(need(type, c, "STRIDES"));
      put(nm.flops / 2e6);
      put(nm.params / 1e6);
      break;
    }
    case FeatureFamily::kFc: {
      const auto nm = nn_meter_counts(f, type, c);
      put(need(type, c, "CIN"));
      put(need(type, c, "COUT"));
      put(nm.flops / 2e6);
      put(nm.params / 1e6);
      break;
    }
    case FeatureFamily::kPool: {
      const double cin = need(type, c, "CIN");
      put(need(type, c, "HW"));
      put(cin);
      put(cin);
      put(need(type, c, "KERNEL_SIZE"));
      put(opt(type, c, "POOL_STRIDES", opt(type, c, "STRIDES", 1)));
      break;
    }
    case FeatureFamily::kConcat: {
      const ConcatInputs in = concat_inputs(type, c);
      put(need(type, c, "HW"));
      if (set == FeatureSet::kNnMeter) {
        // Inputs past the fourth are added to the fourth slot; absent slots are 0.
        double slot[4] = {0, 0, 0, 0};
        for (size_t i = 0; i < in.channels.size(); ++i)
          slot[std::min<size_t>(i, 3)] += in.channels[i];
        for (double v : slot) put(v);
      } else {
        put(static_cast<double>(in.channels.size()));
        put(in.sum);
        put(in.max);
        put(in.min);
      }
      break;
    }
    case FeatureFamily::kAdd: {
      const double cin = c.has("CIN1") ? need(type, c, "CIN1") : need(type, c, "CIN");
      put(need(type, c, "HW"));
      put(cin);
      put(opt(type, c, "CIN2", cin));
      break;
    }
    case FeatureFamily::kMatmul:
      put(need(type, c, "M"));
      put(need(type, c, "K"));
      put(need(type, c, "N"));
      break;
    case FeatureFamily::kOther:
      put(need(type, c, "HW"));
      put(need(type, c, "CIN"));
      break;
  }
  if (set != FeatureSet::kNnMeter) {
    const KernelSizes s = kernel_sizes(type, c);
    put(s.bytes / 1e6);
    put(s.output_elems / 1e6);
    if (f == FeatureFamily::kConv || f == FeatureFamily::kDwconv || f == FeatureFamily::kFc ||
        f == FeatureFamily::kPool || f == FeatureFamily::kMatmul) {
      put(s.bytes > 0 ? s.flops / s.bytes : 0.0);
    }
    if (uses_model(set)) {
      const double w = context.model_weight_mb;
      if (!(w >= 0) || !std::isfinite(w)) fail("kernel {}: model weights {} MB", type, w);
      put(w > 0 ? w : 4 * s.params / 1e6);
    }
  }
  for (size_t i = start; i < out.size(); ++i) {
    if (!std::isfinite(out[i])) fail("kernel {}: feature overflow for config {}", type, c.str());
  }
  if (uses_clock(set)) {
    auto where = [&](const std::optional<double>& v, const char* what) {
      if (v && (!(*v > 0) || !std::isfinite(*v))) fail("kernel {}: {} {}", type, what, *v);
      put(v ? *v : std::numeric_limits<double>::quiet_NaN());  // missing, not 0
    };
    where(context.cpu_mhz, "CPU clock (MHz)");
    where(context.cpu_capacity, "CPU capacity");
  }
}

double counted_weights(std::string_view type, const KernelConfig& c, double detected) {
  if (type.rfind("unknown:", 0) == 0) return detected;
  try {
    return kernel_sizes(type, c).params;
  } catch (const Error&) {
    return detected;
  }
}

KernelContext model_context(double weight_values) {
  return {.model_weight_mb = 4 * weight_values / 1e6};
}

std::vector<float> features(std::string_view type, const KernelConfig& c, FeatureSet set,
                            const KernelContext& context) {
  std::vector<float> out;
  append_features(type, c, set, out, context);
  return out;
}

}  // namespace nnjoule::predict
