#include "nnjoule/predict/store_adapter.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/stats.hpp"
#include "nnjoule/kernels/detect.hpp"
#include "nnjoule/zoo/zoo.hpp"

namespace nnjoule::predict {

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

Targets targets_of(const store::Measured& m) {
  Targets t;
  if (m.energy_mj && *m.energy_mj > 0) t.energy_mj = m.energy_mj;
  if (m.latency_ms && *m.latency_ms > 0) t.latency_ms = m.latency_ms;
  if (m.power_mw && *m.power_mw > 0) t.power_mw = m.power_mw;
  return t;
}

// Latency of a collected row is timed by the clock whatever produced its energy; imported rows
// carry the dataset's label for both.
Provenance latency_origin(const Provenance& p) {
  if (p.origin == Origin::kImported) return p;
  return {Origin::kMeasured, "clock"};
}

// A row whose values are wrong (implausible power, energy != power x latency) or were taken
// while other work kept stealing the CPU (disturbed) is left out; one whose confidence interval
// stopped short of the target (ci_not_met) is a usable, noisier measurement and is kept.
bool unusable(const store::Measured& m) {
  return std::any_of(m.flags.begin(), m.flags.end(),
                     [](const std::string& f) { return f != "ci_not_met"; });
}

// The reference kernel's time recorded with a measurement (collect's host reference).
std::optional<double> reference_ms(const store::Measured& m) {
  const auto& d = m.device_state;
  if (!d.is_object() || !d.contains("host_reference")) return std::nullopt;
  const auto& r = d["host_reference"];
  if (!r.is_object() || !r.contains("ms") || !r["ms"].is_number()) return std::nullopt;
  const double v = r["ms"].get<double>();
  if (!(v > 0) || !std::isfinite(v)) return std::nullopt;
  return v;
}

// Host speed of each model row against the median of the rows read (StoreReadOptions::host_speed):
// a row measured while the host ran 10% slow has a reference 10% slow, factor 1/1.1.
class HostSpeed {
 public:
  HostSpeed(const store::Store& db, const store::Device& device,
            const std::vector<store::ModelRow>& rows, int64_t threads,
            StoreReadOptions::HostSpeed mode) {
    using Mode = StoreReadOptions::HostSpeed;
    if (mode == Mode::kOff) return;
    std::vector<double> refs;
    size_t without = 0;
    for (const auto& r : rows) {
      if (r.threads != threads) continue;
      if (auto v = reference_ms(r.m))
        refs.push_back(*v);
      else
        ++without;
    }
    if (mode == Mode::kAuto && (refs.empty() || without > 0)) return;
    on_ = true;
    rows_ = refs.size();
    if (refs.empty()) {
      fail(
          "{}: --host-speed: no model measurement of device '{}' at {} thread(s) has a host "
          "reference (collected before nnjoule recorded one, or with --no-host-reference)",
          db.path().string(), device.name, threads);
    }
    median_ = stats::median(refs);
    const auto [lo, hi] = std::minmax_element(refs.begin(), refs.end());
    low_ = median_ / *hi;
    high_ = median_ / *lo;
  }
  // The labels of a scaled row's latency and energy.
  Provenance latency(const Provenance& p) const { return scaled(latency_origin(p)); }
  Provenance scaled(Provenance p) const {
    if (on_ && p.origin != Origin::kImported) p.by += ", at the median host speed";
    return p;
  }
  std::string note() const {
    if (!on_) return {};
    return fmt::format(
        "model measurements at the median host speed (the reference kernel timed with each of "
        "{}: factors {:.2f}-{:.2f})",
        rows_, low_, high_);
  }
  // The factor that puts the row at the median host speed; nullopt: leave the row out.
  std::optional<double> factor(const store::ModelRow& r) const {
    if (!on_) return 1.0;
    const auto v = reference_ms(r.m);
    if (!v) return std::nullopt;
    return median_ / *v;
  }

 private:
  bool on_ = false;
  double median_ = 0, low_ = 1, high_ = 1;
  size_t rows_ = 0;
};

// Where a row's threads ran, from its device state: the mean clock and cpu_capacity over the
// CPUs of its affinity (every online CPU when it is empty), each CPU counted with its cluster.
// A cluster's clock is the middle of the range it moved in over the kept windows, else its
// pinned clock, else its clock when the measurement began. Left unknown unless every CPU's
// is known (records before cluster discovery, machines without cpufreq or cpu_capacity).
void place(const nlohmann::json& d, KernelContext& c) {
  using nlohmann::json;
  if (!d.is_object() || !d.contains("clusters") || !d["clusters"].is_array()) return;
  auto number = [](const json& o, const char* k) -> std::optional<double> {
    if (!o.is_object() || !o.contains(k) || !o[k].is_number()) return std::nullopt;
    const double v = o[k].get<double>();
    return v > 0 && std::isfinite(v) ? std::optional<double>(v) : std::nullopt;
  };
  std::map<std::string, double> clock;
  for (const char* key : {"window_clocks", "pinned_clocks"}) {
    const json list = d.value(key, json::array());
    if (!list.is_array()) continue;
    for (const auto& w : list) {
      if (!w.is_object() || !w.contains("cluster") || !w["cluster"].is_string()) continue;
      const std::string name = w["cluster"].get<std::string>();
      if (clock.count(name)) continue;  // the window clocks first
      const auto lo = number(w, "min_mhz"), hi = number(w, "max_mhz"), pin = number(w, "mhz");
      if (lo && hi)
        clock[name] = (*lo + *hi) / 2;
      else if (pin)
        clock[name] = *pin;
    }
  }
  std::vector<int> affinity;
  if (d.contains("affinity") && d["affinity"].is_array())
    for (const auto& a : d["affinity"])
      if (a.is_number_integer()) affinity.push_back(a.get<int>());
  double mhz = 0, capacity = 0;
  size_t n = 0, with_mhz = 0, with_capacity = 0;
  for (const auto& k : d["clusters"]) {
    if (!k.is_object() || !k.contains("cpus") || !k["cpus"].is_array()) continue;
    size_t count = 0;
    for (const auto& cpu : k["cpus"])
      if (cpu.is_number_integer() &&
          (affinity.empty() || std::ranges::count(affinity, cpu.get<int>()) > 0))
        ++count;
    if (count == 0) continue;
    n += count;
    const std::string name = k.value("name", std::string());
    const auto cur = clock.count(name) ? std::optional<double>(clock[name]) : number(k, "cur_mhz");
    if (cur) mhz += *cur * static_cast<double>(count), with_mhz += count;
    if (const auto cap = number(k, "capacity"))
      capacity += *cap * static_cast<double>(count), with_capacity += count;
  }
  if (n > 0 && with_mhz == n) c.cpu_mhz = mhz / static_cast<double>(n);
  if (n > 0 && with_capacity == n) c.cpu_capacity = capacity / static_cast<double>(n);
}

// The pinned clocks of a row ("" when none): measurements of one model at two pinned clocks
// are two samples, not repeats.
std::string pinned_key(const nlohmann::json& d) {
  std::string key;
  if (!d.is_object() || !d.contains("pinned_clocks") || !d["pinned_clocks"].is_array()) return key;
  for (const auto& p : d["pinned_clocks"])
    if (p.is_object() && p.contains("mhz") && p["mhz"].is_number())
      key += fmt::format(" {}@{}", p.value("cluster", std::string()), p["mhz"].get<double>());
  return key;
}

// No fusion at all, and no patterns: every op is its own kernel.
kernels::FusionRules no_fusion() {
  kernels::FusionRules r =
      kernels::FusionRules::from_json(R"({"BF_conv_bn": {"obey": false}})", "no fusion");
  r.patterns = false;
  return r;
}

}  // namespace

store::Device select_device(const store::Store& db, const std::optional<std::string>& name) {
  const auto devices = db.devices();
  std::string list;
  for (const auto& d : devices) list += (list.empty() ? "" : ", ") + d.name;
  if (devices.empty()) fail("{}: the dataset has no devices", db.path().string());
  if (name) {
    for (const auto& d : devices)
      if (d.name == *name) return d;
    std::vector<store::Device> hits;
    for (const auto& d : devices)
      if (lower(d.name).find(lower(*name)) != std::string::npos) hits.push_back(d);
    if (hits.size() == 1) return hits[0];
    fail("{}: {} device matches '{}' (devices: {})", db.path().string(),
         hits.empty() ? "no" : "more than one", *name, list);
  }
  // Kernel rows of a device: measured on their own, or timed inside its measured models.
  std::vector<store::Device> with_kernels;
  for (const auto& d : devices) {
    store::KernelQuery q;
    q.device_id = d.id;
    q.require_config = true;
    store::RowQuery mq;
    mq.device_id = d.id;
    const auto breakdown = [](const store::ModelRow& r) { return !r.kernel_latency_ms.empty(); };
    if (!db.kernels(q).empty() || std::ranges::any_of(db.model_measurements(mq), breakdown)) {
      with_kernels.push_back(d);
    }
  }
  if (with_kernels.size() == 1) return with_kernels[0];
  fail("{}: {} devices have kernel rows; choose one with --device (devices: {})",
       db.path().string(), with_kernels.size(), list);
}

StoreReadOptions::HostSpeed parse_host_speed(std::string_view name) {
  using Mode = StoreReadOptions::HostSpeed;
  if (name == "auto") return Mode::kAuto;
  if (name == "on") return Mode::kOn;
  if (name == "off") return Mode::kOff;
  fail("unknown --host-speed '{}' (expected auto, on or off)", name);
}

std::string host_speed_note(const store::Store& db, const store::Device& device,
                            const StoreReadOptions& o, int64_t threads) {
  store::RowQuery q;
  q.device_id = device.id;
  return HostSpeed(db, device, db.model_measurements(q), threads, o.host_speed).note();
}

KernelDataset read_kernel_dataset(const store::Store& db, const store::Device& device,
                                  const StoreReadOptions& o) {
  store::KernelQuery q;
  q.device_id = device.id;
  q.require_config = true;
  auto rows = db.kernels(q);
  KernelDataset ds;
  if (!o.include_flagged)
    std::erase_if(rows, [&](const auto& r) {
      if (!unusable(r.m)) return false;
      for (const auto& f : r.m.flags)
        if (f != "ci_not_met") ++ds.flagged_left_out[f];
      return true;
    });
  ds.source = db.path().string();
  // The dataset describes one thread count: the requested one, else the most common.
  std::map<int64_t, size_t> by_threads;
  std::map<std::string, size_t> by_meter;
  for (const auto& r : rows) by_threads[r.threads]++;
  std::vector<store::ModelRow> model_rows;  // read once: thread counts, then kernel rows
  if (o.model_kernels) {
    store::RowQuery mq;
    mq.device_id = device.id;
    model_rows = db.model_measurements(mq);
    for (const auto& r : model_rows)
      if (!r.kernel_latency_ms.empty()) by_threads[r.threads]++;
  }
  int64_t threads = 0;
  if (o.threads) {
    threads = *o.threads;
  } else {
    size_t best = 0;
    for (const auto& [t, n] : by_threads)
      if (n > best) best = n, threads = t;
  }
  for (const auto& r : rows) {
    if (r.threads != threads && !(r.threads == 0 && !o.threads)) continue;
    const Targets t = targets_of(r.m);
    if (!t.energy_mj && !t.latency_ms && !t.power_mw) continue;
    KernelSample s;
    s.id = r.source_id.empty() ? r.key : r.source_id;
    s.type = kernels::kernel_key(kernels::canonical_kernel_type(r.kernel_type), r.dtype);
    s.config = *r.config;
    s.targets = t;
    s.energy_origin = r.m.provenance;
    s.latency_origin = latency_origin(r.m.provenance);
    place(r.m.device_state, s.context);
    by_meter[r.m.provenance.label()]++;
    ds.samples.push_back(std::move(s));
  }
  if (o.model_kernels) {
    std::map<int64_t, store::Model> models;
    for (auto& m : db.models()) models.emplace(m.id, std::move(m));
    const HostSpeed speed(db, device, model_rows, threads, o.host_speed);
    for (const auto& row : model_rows) {
      if (row.threads != threads || row.kernel_latency_ms.empty()) continue;
      if (!o.include_flagged && unusable(row.m)) continue;
      const auto scale = speed.factor(row);
      if (!scale) continue;
      auto it = models.find(row.model_id);
      if (it == models.end()) continue;
      const store::Model& m = it->second;
      // A whole-model meter sees no kernel's energy: the model's is split by latency share
      // (each kernel at the model's average power), and labelled so.
      double timed_ms = 0;
      bool all_timed = true;
      for (size_t i = 0; i < m.kernels.size(); ++i) {
        const auto l = i < row.kernel_latency_ms.size() ? row.kernel_latency_ms[i] : std::nullopt;
        if (l && *l > 0)
          timed_ms += *l;
        else if (m.kernels[i].flops > 0)
          all_timed = false;  // a computing kernel without a timing: its share is unknown
      }
      double weights = 0;
      for (const auto& k : m.kernels)
        weights += counted_weights(k.type, k.config, static_cast<double>(k.params));
      KernelContext context = model_context(weights);
      place(row.m.device_state, context);
      const bool split_energy =
          all_timed && timed_ms > 0 && row.m.energy_mj && *row.m.energy_mj > 0;
      const Provenance split_origin{Origin::kEstimated,
                                    row.m.provenance.by + " energy split by kernel latency"};
      for (size_t i = 0; i < m.kernels.size() && i < row.kernel_latency_ms.size(); ++i) {
        const auto& l = row.kernel_latency_ms[i];
        const auto& k = m.kernels[i];
        if (!l || !(*l > 0) || k.type.rfind("unknown:", 0) == 0) continue;
        KernelSample s;
        s.id = fmt::format("{}#{}", m.name, i);
        s.type = kernels::kernel_key(k.type, k.dtype);
        s.config = k.config;
        s.targets.latency_ms = *l * *scale;
        if (split_energy) {
          s.targets.energy_mj = *row.m.energy_mj * *scale * *l / timed_ms;
          s.targets.power_mw = *s.targets.energy_mj / *l * 1000;
        }
        s.energy_origin = speed.scaled(split_energy ? split_origin : row.m.provenance);
        s.latency_origin = speed.latency(row.m.provenance);
        s.model = m.name;
        s.family = m.family;
        s.kernel_index = static_cast<long>(i);
        s.context = context;
        ds.samples.push_back(std::move(s));
      }
    }
  }
  if (ds.samples.empty()) {
    fail("{}: device '{}' has no kernel rows with a config and a measurement{}", db.path().string(),
         device.name, threads ? fmt::format(" at {} thread(s)", threads) : std::string());
  }
  std::string meter;
  size_t best = 0;
  for (const auto& [m, n] : by_meter)
    if (n > best) best = n, meter = m;
  ds.device = DeviceInfo{device.name, device.runtime, static_cast<int>(threads),
                         meter.empty() ? "none" : meter};
  return ds;
}

std::vector<ModelSample> read_model_samples(const store::Store& db, const store::Device& device,
                                            const KernelDataset& kds, const StoreReadOptions& o) {
  std::map<int64_t, store::Model> models;
  for (auto& m : db.models()) models.emplace(m.id, std::move(m));
  store::RowQuery q;
  q.device_id = device.id;
  const int64_t threads = o.threads ? *o.threads : kds.device.threads;
  const kernels::FusionRules per_op = no_fusion();
  std::vector<ModelSample> out;
  std::map<std::string, size_t> seen;  // a model measured twice: the later row wins
  const auto rows = db.model_measurements(q);
  const HostSpeed speed(db, device, rows, threads, o.host_speed);
  for (const auto& row : rows) {
    if (row.threads != threads) continue;
    if (!o.include_flagged && unusable(row.m)) continue;
    const auto scale = speed.factor(row);
    if (!scale) continue;
    auto it = models.find(row.model_id);
    if (it == models.end()) continue;
    const store::Model& m = it->second;
    ModelSample s;
    s.name = m.name;
    s.family = m.family.empty() ? m.name : m.family;
    s.measured = targets_of(row.m);
    if (!s.measured.energy_mj && !s.measured.latency_ms) continue;
    if (s.measured.energy_mj) s.measured.energy_mj = *s.measured.energy_mj * *scale;
    if (s.measured.latency_ms) s.measured.latency_ms = *s.measured.latency_ms * *scale;
    s.energy_origin = speed.scaled(row.m.provenance);
    s.latency_origin = speed.latency(row.m.provenance);
    place(row.m.device_state, s.where);
    for (const auto& k : m.kernels) {
      kernels::Kernel kk;
      kk.type = k.type;
      kk.dtype = k.dtype;
      kk.name = k.name;
      kk.config = k.config;
      kk.flops = k.flops;
      kk.params = k.params;
      kk.bytes = k.bytes;
      s.kernels.push_back(std::move(kk));
    }
    for (const auto& u : m.unknown_ops) {
      kernels::Kernel kk;
      const auto sp = u.find(' ');
      kk.type = "unknown:" + u.substr(0, sp);
      kk.name = sp == std::string::npos ? u : u.substr(sp + 1);
      s.kernels.push_back(std::move(kk));
    }
    // Per-op kernels for the no-fusion baseline: zoo models can be rebuilt from their spec.
    try {
      const auto names = zoo::family_names();
      if (std::find(names.begin(), names.end(), m.family) != names.end()) {
        zoo::ModelSpec spec;
        spec.family = m.family;
        spec.resolution = m.resolution;
        spec.variant = m.variant;
        spec.seed = m.seed;
        spec.materialize_weights = false;
        s.unfused = kernels::detect_kernels(zoo::build_model(spec), per_op);
      }
    } catch (const Error&) {
      s.unfused.clear();
    }
    auto [pos, fresh] = seen.emplace(s.name + pinned_key(row.m.device_state), out.size());
    if (fresh) {
      s.repeats.push_back(s.measured);
      out.push_back(std::move(s));
    } else {
      // Repeats (collect models --repeat): the model's target is their median, which a
      // single disturbed window cannot move far.
      auto& kept = out[pos->second];
      kept.repeats.push_back(s.measured);
      for (const Target t : kAllTargets) {
        std::vector<double> v;
        for (const auto& r : kept.repeats)
          if (auto x = r.get(t)) v.push_back(*x);
        if (!v.empty()) kept.measured.set(t, stats::median(v));
      }
    }
  }
  return out;
}

}  // namespace nnjoule::predict
