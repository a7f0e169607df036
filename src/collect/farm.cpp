#include "nnjoule/collect/farm.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "collection_detail.hpp"
#include "nnjoule/common/error.hpp"

namespace nnjoule::collect {

using namespace detail;
using nlohmann::json;

namespace {
// A config as [[key, value], ...]: a payload is a json object, which sorts its keys, and a
// kernel's resume key depends on the config's key order.
json config_pairs(const kernels::KernelConfig& c) {
  json a = json::array();
  for (const auto& [k, v] : c.items()) a.push_back({k, v});
  return a;
}

kernels::KernelConfig config_of_pairs(const json& a, const std::string& key) {
  if (!a.is_array()) fail("work item '{}': config must be a list of [key, value] pairs", key);
  kernels::KernelConfig c;
  for (const auto& p : a) {
    if (!p.is_array() || p.size() != 2 || !p[0].is_string() || !p[1].is_number_integer())
      fail("work item '{}': config entry {} is not a [key, integer] pair", key, p.dump());
    c.set(p[0].get<std::string>(), p[1].get<int64_t>());
  }
  return c;
}
}  // namespace

WorkItems kernel_work_items(const KernelCollectOptions& options) {
  WorkItems items;
  for (const KernelPlanItem& p : plan_kernels(options, json::object())) {
    std::string key = p.type + " " + p.config.str();
    if (p.dtype != kernels::kFp32) key += " @" + p.dtype;
    items.emplace_back(key, json{{"kind", "kernel"},
                                 {"type", p.type},
                                 {"config", config_pairs(p.config)},
                                 {"dtype", p.dtype},
                                 {"seed", options.seed}});
  }
  return items;
}

WorkItems model_work_items(const ModelCollectOptions& options) {
  if (options.variants < 0) fail("--variants must not be negative");
  if (options.repeats < 1 || options.repeats > 1000)
    fail("--repeat must be between 1 and 1000 (got {})", options.repeats);
  WorkItems items;
  const auto families = options.families.empty() ? zoo::family_names() : options.families;
  for (int64_t r = 0; r < options.repeats; ++r) {
    for (const auto& f : families) {
      zoo::family(f);  // names the known families when `f` is not one
      for (int64_t v = -1; v < options.variants; ++v) {
        ModelItem item;
        item.spec.family = f;
        item.spec.variant = v;
        item.spec.seed = options.seed;
        item.spec.sample_resolution = options.sample_resolution && v >= 0;
        item.repeat = r;
        items.emplace_back(item.label(), json{{"kind", "model"},
                                              {"family", f},
                                              {"variant", v},
                                              {"seed", options.seed},
                                              {"sample_resolution", item.spec.sample_resolution},
                                              {"repeat", r}});
      }
    }
  }
  return items;
}

namespace {

using Ms = std::chrono::milliseconds;

// Renews the lease of the item in hand every third of the lease, on its own connection, so a
// measurement longer than the lease keeps its item; a worker that dies stops renewing.
class LeaseKeeper {
 public:
  LeaseKeeper(const std::filesystem::path& path, Ms lease)
      : store_(path, store::Store::Options{.busy_timeout_ms = 2000, .check_integrity = false}),
        lease_(lease) {
    thread_ = std::thread([this] { loop(); });
  }
  ~LeaseKeeper() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  void hold(const WorkItem& item) {
    std::lock_guard lock(mutex_);
    item_ = item;
  }
  void release() {
    std::lock_guard lock(mutex_);
    item_.reset();
  }

 private:
  void loop() {
    std::unique_lock lock(mutex_);
    while (!wake_.wait_for(lock, std::max(lease_ / 3, Ms(1)), [&] { return stop_; })) {
      if (!item_) continue;
      try {
        // A lost lease is found out by complete_work, which stores nothing then.
        store_.renew_work(*item_, lease_);
      } catch (const std::exception&) {
        // Retried at the next renewal; the lease outlives a short outage of the server.
      }
    }
  }

  store::Store store_;
  Ms lease_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::optional<WorkItem> item_;
  bool stop_ = false;
  std::thread thread_;
};

// What a payload asks for; throws Error naming the field that is missing or wrong.
KernelPlanItem kernel_item(const WorkItem& w, const json& settings) {
  const json& p = w.payload;
  KernelPlanItem item;
  item.type = kernels::canonical_kernel_type(p.at("type").get<std::string>());
  item.config = config_of_pairs(p.at("config"), w.key);
  item.dtype = p.value("dtype", std::string(kernels::kFp32));
  json key_settings = settings;
  if (item.dtype != kernels::kFp32) key_settings["dtype"] = item.dtype;
  item.key = kernel_key(item.type, item.config, key_settings);
  return item;
}

ModelItem model_item(const json& p) {
  ModelItem item;
  item.spec.family = p.at("family").get<std::string>();
  item.spec.variant = p.at("variant").get<int64_t>();
  item.spec.seed = p.value("seed", uint64_t{0});
  item.spec.sample_resolution = p.value("sample_resolution", item.spec.variant >= 0);
  item.repeat = p.value("repeat", int64_t{0});
  zoo::family(item.spec.family);
  return item;
}

class Worker {
 public:
  Worker(Store& store, Runner& runner, const WorkOptions& o, int64_t total,
         const ProgressFn& progress)
      : store_(store), runner_(runner), o_(o), total_(total), progress_(progress) {}

  // One claimed item: measured and completed, completed as already stored, or failed.
  void process(const WorkItem& w) {
    const std::string kind = w.payload.value("kind", std::string());
    if (kind != "kernel" && kind != "model") {
      give_up(session("kernels"), w, w.key,
              fmt::format("work item payload has kind '{}' (expected kernel or model)", kind));
      return;
    }
    Session& s = session(kind == "kernel" ? "kernels" : "models");
    std::optional<KernelPlanItem> kitem;
    std::optional<ModelItem> mitem;
    const auto bad = attempt([&] {
      if (kind == "kernel")
        kitem = kernel_item(w, settings_);
      else
        mitem = model_item(w.payload);
    });
    if (bad) {
      give_up(s, w, w.key, "work item payload: " + *bad);
      return;
    }
    const auto t0 = Clock::now();
    if (kitem) {
      const std::string label = kitem->type + " " + kitem->config.str();
      if (kernel_keys_.count(kitem->key)) {
        finish_stored(s, w, label);
        return;
      }
      KernelMeasurement km = measure_kernel_item(runner_, *kitem, w.payload.value("seed", 0ULL));
      if (km.error) {
        give_up(s, w, label, *km.error);
        return;
      }
      km.row.run_id = s.run_id();
      km.row.device_id = s.device_id();
      complete(s, w, label, km.result, km.build_s, t0, {.kernels = {km.row}, .models = {}},
               [&] { return store_.kernel_keys(s.device_id()).count(kitem->key) > 0; });
      return;
    }
    ModelMeasurement mm = measure_model_item(runner_, *mitem, settings_, model_keys_, o_.breakdown);
    if (mm.stored) {
      finish_stored(s, w, mitem->label());
      return;
    }
    if (mm.error) {
      give_up(s, w, mitem->label(), *mm.error);
      return;
    }
    mm.row.run_id = s.run_id();
    mm.row.device_id = s.device_id();
    complete(s, w, mitem->label(), mm.result, mm.build_s, t0,
             {.kernels = {}, .models = {{mm.model, mm.row}}},
             [&] { return store_.model_keys(s.device_id()).count(mm.row.key) > 0; });
  }

  void end(bool interrupted) {
    for (auto& [kind, s] : sessions_) s->end(interrupted);
  }
  void abort() {
    for (auto& [kind, s] : sessions_) s->abort();
  }

  // One report: the plan's kinds together (most plans hold one).
  CollectReport report(bool interrupted, double wall_s) const {
    CollectReport r;
    r.planned = total_;
    r.interrupted = interrupted;
    r.wall_s = wall_s;
    for (const auto& [kind, s] : sessions_) {
      const CollectReport& k = s->report();
      r.kind += (r.kind.empty() ? "" : "+") + kind;
      r.measured += k.measured;
      r.skipped += k.skipped;
      r.failed += k.failed;
      r.failures.insert(r.failures.end(), k.failures.begin(), k.failures.end());
      if (r.run_id == 0) r.run_id = k.run_id;
      r.resumed_runs.insert(r.resumed_runs.end(), k.resumed_runs.begin(), k.resumed_runs.end());
      r.item_wall_s += k.item_wall_s;
      r.measured_s += k.measured_s;
      for (const auto& [phase, t] : k.phases_s) r.phases_s[phase] += t;
      r.provenance = k.provenance;
    }
    if (r.kind.empty()) r.kind = "farm";
    r.kind += " (plan '" + o_.plan + "')";
    return r;
  }

 private:
  Session& session(const std::string& kind) {
    auto& s = sessions_[kind];
    if (!s) {
      s = std::make_unique<Session>(store_, runner_, kind, o_.command, total_, progress_);
      if (settings_.is_null()) settings_ = runner_.key_settings();
      if (kind == "kernels") kernel_keys_ = store_.kernel_keys(s->device_id());
      if (kind == "models") model_keys_ = store_.model_keys(s->device_id());
    }
    return *s;
  }

  void finish_stored(Session& s, const WorkItem& w, const std::string& label) {
    try {
      store_.complete_work(w, WorkResults{});
      s.skipped(label);
    } catch (const LeaseLost& e) {
      s.failed(label, e.what());
    }
  }

  void give_up(Session& s, const WorkItem& w, const std::string& label, const std::string& why) {
    try {
      store_.fail_work(w, why);
      s.failed(label, why);
    } catch (const LeaseLost& e) {
      s.failed(label, e.what());
    }
  }

  // `stored_meanwhile`: whether the row's resume key is stored for this device now.
  template <typename StoredMeanwhile>
  void complete(Session& s, const WorkItem& w, const std::string& label, RunResult& result,
                double build_s, Clock::time_point t0, const WorkResults& results,
                StoredMeanwhile&& stored_meanwhile) {
    try {
      s.store_measured(label, result, build_s, t0, [&] { store_.complete_work(w, results); });
    } catch (const LeaseLost& e) {
      // Another worker took the item after this one's lease expired: its result counts.
      s.failed(label, e.what());
    } catch (const Error&) {
      // Another worker on this device stored the same measurement first (the same kernel in
      // another item, or `collect` beside the farm): the item is done by that row. Anything
      // else is the store failing, which ends the collection.
      if (!stored_meanwhile()) throw;
      finish_stored(s, w, label);
    }
  }

  Store& store_;
  Runner& runner_;
  const WorkOptions& o_;
  int64_t total_;
  const ProgressFn& progress_;
  json settings_;
  std::unordered_set<std::string> kernel_keys_, model_keys_;
  std::map<std::string, std::unique_ptr<Session>> sessions_;
};

// Sleeps up to `d`, returning early on a stop request.
void nap(Ms d, const std::atomic<bool>& stop) {
  const auto until = Clock::now() + d;
  while (!stop.load() && Clock::now() < until)
    std::this_thread::sleep_for(std::min<Clock::duration>(Ms(100), until - Clock::now()));
}

}  // namespace

CollectReport collect_work(Store& store, Runner& runner, const WorkOptions& options,
                           const std::atomic<bool>& stop, const ProgressFn& progress) {
  if (options.plan.empty()) fail("farm collect: --plan needs a name");
  if (options.worker.empty()) fail("farm collect: the worker needs a name");
  if (options.lease < std::chrono::seconds(1)) fail("farm collect: --lease must be at least 1 s");
  const PlanStatus start = store.work_status(options.plan, options.device);
  if (start.total() == 0) {
    fail(
        "{}: plan '{}' has no items for device '{}' or for any device (nnjoule farm plan adds "
        "them; nnjoule farm status lists the plans and their devices)",
        store.path().string(), options.plan, options.device);
  }
  const auto t0 = Clock::now();
  Worker worker(store, runner, options, start.pending + start.claimed, progress);
  LeaseKeeper keeper(store.target(), options.lease);
  bool interrupted = false;
  try {
    while (true) {
      if (stop.load()) {
        interrupted = true;
        break;
      }
      const auto item =
          store.claim_work(options.plan, options.worker, options.lease, options.device);
      if (!item) {
        if (!options.wait) break;
        const PlanStatus now = store.work_status(options.plan, options.device);
        if (now.pending + now.claimed == 0) break;
        nap(options.poll, stop);
        continue;
      }
      keeper.hold(*item);
      worker.process(*item);
      keeper.release();
    }
  } catch (...) {
    worker.abort();
    throw;
  }
  worker.end(interrupted);
  return worker.report(interrupted, since(t0));
}

}  // namespace nnjoule::collect
