// Merging datasets (db merge, db push): rows are matched by content keys, so a merge can be
// repeated and datasets of many devices combine whatever their row ids.
#include <fmt/format.h>

#include <map>
#include <tuple>

#include "nnjoule/common/error.hpp"
#include "nnjoule/store/store.hpp"
#include "store_detail.hpp"

namespace nnjoule::store {
namespace {

std::string opt_text(const std::optional<double>& v) {
  return v ? fmt::format("{}", *v) : "NULL";
}

// The first measured quantity on which two rows with one key differ; empty when they agree.
std::string difference(const Measured& here, const Measured& there) {
  const std::pair<const char*, std::pair<std::optional<double>, std::optional<double>>> fields[] = {
      {"latency_ms", {here.latency_ms, there.latency_ms}},
      {"latency_ci_ms", {here.latency_ci_ms, there.latency_ci_ms}},
      {"energy_mj", {here.energy_mj, there.energy_mj}},
      {"dynamic_energy_mj", {here.dynamic_energy_mj, there.dynamic_energy_mj}},
      {"energy_ci_mj", {here.energy_ci_mj, there.energy_ci_mj}},
      {"power_mw", {here.power_mw, there.power_mw}},
      {"idle_power_mw", {here.idle_power_mw, there.idle_power_mw}}};
  for (const auto& [name, v] : fields) {
    if (v.first != v.second) {
      return fmt::format("{} {} here, {} there", name, opt_text(v.first), opt_text(v.second));
    }
  }
  if (here.n != there.n) return fmt::format("n {} here, {} there", here.n, there.n);
  if (here.provenance.label() != there.provenance.label()) {
    return fmt::format("origin {} here, {} there", here.provenance.label(),
                       there.provenance.label());
  }
  if (here.flags != there.flags) {
    return fmt::format("flags '{}' here, '{}' there", detail::flags_text(here.flags),
                       detail::flags_text(there.flags));
  }
  return {};
}

using RunKey =
    std::tuple<int64_t, std::string, std::string, std::string, std::string, int64_t, std::string>;
RunKey run_key(const Run& r, int64_t device) {
  return {device, r.kind, r.provenance.label(), r.started_at, r.host, r.pid, r.settings.dump()};
}

int64_t copy_run(const sql::Db& db, const Run& r, int64_t device) {
  sql::Stmt st(db,
               "INSERT INTO runs (device_id, kind, origin, source, nnjoule_version, started_at, "
               "finished_at, status, settings, command, heartbeat_at, host, boot_id, pid, "
               "pid_start) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id");
  st.bind(1, device).bind(2, r.kind).bind(3, origin_name(r.provenance.origin));
  st.bind(4, r.provenance.by).bind(5, r.nnjoule_version).bind(6, r.started_at);
  st.bind_text_or_null(7, r.finished_at).bind(8, r.status).bind(9, r.settings.dump());
  // Runs stored before their command lines lost their passwords lose them on the way.
  st.bind_text_or_null(10, sql::without_passwords(r.command)).bind_text_or_null(11, r.heartbeat_at);
  st.bind_text_or_null(12, r.host).bind_text_or_null(13, r.boot_id);
  if (r.pid > 0) {
    st.bind(14, r.pid).bind(15, r.pid_start);
  } else {
    st.bind_null(14).bind_null(15);
  }
  if (!st.step()) fail("{}: copying run {} returned no id", db.path(), r.id);
  const int64_t id = st.i64(0);
  st.run();
  return id;
}

}  // namespace

MergeReport Store::merge_from(const Store& source) {
  const sql::Db& db = *impl_->db;
  MergeReport rep;
  rep.from = source.impl_->db->path();
  rep.to = db.path();
  // Read everything first: the source may be this process's other connection to one server.
  const auto src_devices = source.devices();
  const auto src_runs = source.runs();
  const auto src_kernels = source.kernels();
  const auto src_models = source.models();
  const auto src_model_rows = source.model_measurements();
  const auto src_apps = source.applications();
  const auto here_devices = devices();
  const auto here_runs = runs();

  sql::Transaction tx(db);
  std::map<int64_t, int64_t> device_of;  // source id -> id here
  std::map<int64_t, std::string> device_name;
  for (const auto& d : src_devices) {
    bool known = false;
    for (const auto& h : here_devices) known = known || h.fingerprint() == d.fingerprint();
    device_of[d.id] = detail::find_or_add_device(db, d);
    device_name[d.id] = d.name;
    if (!known) ++rep.devices_added;
  }
  std::map<RunKey, int64_t> run_here;
  for (const auto& r : here_runs) run_here[run_key(r, r.device_id)] = r.id;
  std::map<int64_t, int64_t> run_of;
  for (const auto& r : src_runs) {
    const int64_t device = device_of.at(r.device_id);
    const RunKey key = run_key(r, device);
    auto it = run_here.find(key);
    if (it == run_here.end()) {
      it = run_here.emplace(key, copy_run(db, r, device)).first;
      ++rep.runs_added;
    }
    run_of[r.id] = it->second;
  }
  const auto conflict = [&](const char* table, int64_t src_device, const std::string& key,
                            const std::string& diff) {
    rep.conflicts.push_back(fmt::format("{} of device '{}', key {}: {}; kept {}'s row", table,
                                        device_name[src_device], key, diff, rep.to));
  };

  // Kernel rows, by device and key.
  std::map<std::pair<int64_t, std::string>, Measured> kernels_here;
  for (const auto& k : kernels()) kernels_here[{k.device_id, k.key}] = k.m;
  for (auto k : src_kernels) {
    const int64_t device = device_of.at(k.device_id);
    const auto it = kernels_here.find({device, k.key});
    if (it != kernels_here.end()) {
      const std::string diff = difference(it->second, k.m);
      if (diff.empty()) {
        ++rep.kernels_same;
      } else {
        conflict("kernel_measurements", k.device_id, k.key, diff);
      }
      continue;
    }
    k.device_id = device;
    k.run_id = run_of.at(k.run_id);
    detail::insert_kernel_row(db, k);
    kernels_here[{device, k.key}] = k.m;
    ++rep.kernels_added;
  }

  // Models by content hash, then their measurements by device and key.
  std::map<int64_t, int64_t> model_of;
  for (const auto& m : src_models) {
    if (!find_model(m.hash)) ++rep.models_added;
    model_of[m.id] = detail::insert_model(db, m);
  }
  std::map<std::pair<int64_t, std::string>, Measured> models_here;
  for (const auto& r : model_measurements()) models_here[{r.device_id, r.key}] = r.m;
  for (auto r : src_model_rows) {
    const int64_t device = device_of.at(r.device_id);
    const auto it = models_here.find({device, r.key});
    if (it != models_here.end()) {
      const std::string diff = difference(it->second, r.m);
      if (diff.empty()) {
        ++rep.model_rows_same;
      } else {
        conflict("model_measurements", r.device_id, r.key, diff);
      }
      continue;
    }
    r.device_id = device;
    r.run_id = run_of.at(r.run_id);
    r.model_id = model_of.at(r.model_id);
    detail::insert_model_row(db, r);
    models_here[{device, r.key}] = r.m;
    ++rep.model_rows_added;
  }

  std::map<std::pair<int64_t, std::string>, Measured> apps_here;
  for (const auto& a : applications()) apps_here[{a.device_id, a.key}] = a.m;
  for (auto a : src_apps) {
    const int64_t device = device_of.at(a.device_id);
    const auto it = apps_here.find({device, a.key});
    if (it != apps_here.end()) {
      const std::string diff = difference(it->second, a.m);
      if (diff.empty()) {
        ++rep.app_rows_same;
      } else {
        conflict("application_measurements", a.device_id, a.key, diff);
      }
      continue;
    }
    a.device_id = device;
    a.run_id = run_of.at(a.run_id);
    detail::insert_application(db, a);
    apps_here[{device, a.key}] = a.m;
    ++rep.app_rows_added;
  }
  tx.commit();
  return rep;
}

std::string MergeReport::to_text() const {
  std::string s = fmt::format(
      "{} -> {}: added {} devices, {} runs, {} models, {} kernel rows, {} model rows, {} "
      "application rows; already there: {} kernel rows, {} model rows, {} application rows; {} "
      "conflicts\n",
      from, to, devices_added, runs_added, models_added, kernels_added, model_rows_added,
      app_rows_added, kernels_same, model_rows_same, app_rows_same, conflicts.size());
  for (const auto& c : conflicts) s += "  conflict: " + c + "\n";
  return s;
}

}  // namespace nnjoule::store
