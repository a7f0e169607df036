#include <fmt/format.h>

#include <algorithm>

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/table.hpp"
#include "nnjoule/store/store.hpp"
#include "store_detail.hpp"

namespace nnjoule::store {
using nlohmann::json;

const std::vector<std::string>& Store::table_names() {
  static const std::vector<std::string> names = {"devices",
                                                 "runs",
                                                 "kernel_measurements",
                                                 "models",
                                                 "model_kernels",
                                                 "model_measurements",
                                                 "model_kernel_latency",
                                                 "application_measurements"};
  return names;
}

Info Store::info() const {
  const sql::Db& db = *impl_->db;
  Info info;
  info.path = db.path();  // a server's URL without its password
  info.schema_version = schema_version();
  info.opened = open_mode();
  {
    sql::Stmt st(db, "SELECT value FROM meta WHERE key = 'created_by'");
    if (st.step()) info.created_by = st.text(0);
  }
  for (const auto& t : table_names()) {
    sql::Stmt st(db, fmt::format("SELECT COUNT(*) FROM {}", t));
    st.step();
    info.table_rows[t] = st.i64(0);
  }
  for (auto& d : devices()) {
    Info::DeviceCount dc;
    dc.device = d;
    sql::Stmt k(db,
                "SELECT kernel_type, COUNT(*), COUNT(config), COUNT(flags) FROM "
                "kernel_measurements WHERE device_id = ? GROUP BY kernel_type ORDER BY "
                "kernel_type");
    k.bind(1, d.id);
    while (k.step()) {
      dc.kernels_by_type[k.text(0)] = k.i64(1);
      dc.kernels += k.i64(1);
      dc.kernels_with_config += k.i64(2);
      dc.kernels_flagged += k.i64(3);
    }
    for (const char* table :
         {"kernel_measurements", "model_measurements", "application_measurements"}) {
      sql::Stmt o(db, fmt::format("SELECT origin, source, COUNT(*) FROM {} WHERE device_id = ? "
                                  "GROUP BY origin, source",
                                  table));
      o.bind(1, d.id);
      while (o.step()) {
        dc.rows_by_origin[Provenance{parse_origin(o.text(0)), o.text(1)}.label()] += o.i64(2);
      }
    }
    sql::Stmt m(db, "SELECT COUNT(*) FROM model_measurements WHERE device_id = ?");
    m.bind(1, d.id);
    m.step();
    dc.models = m.i64(0);
    sql::Stmt a(db, "SELECT COUNT(*) FROM application_measurements WHERE device_id = ?");
    a.bind(1, d.id);
    a.step();
    dc.applications = a.i64(0);
    info.devices.push_back(std::move(dc));
  }
  info.runs = runs();
  if (info.schema_version >= 6) {  // older files opened read-only have no device labels
    info.work = work_summary();
    info.work.leases.clear();
    info.work.failures.clear();
  }
  return info;
}

json Info::to_json() const {
  json j;
  j["path"] = path;
  j["schema_version"] = schema_version;
  j["opened"] = opened;
  j["created_by"] = created_by;
  j["tables"] = table_rows;
  j["devices"] = json::array();
  for (const auto& dc : devices) {
    const Device& d = dc.device;
    json jd = {{"id", d.id},
               {"name", d.name},
               {"soc", d.soc},
               {"cpu", d.cpu},
               {"arch", d.arch},
               {"cores", d.cores},
               {"os", d.os},
               {"runtime", d.runtime},
               {"details", d.details},
               {"kernels", dc.kernels},
               {"kernels_with_config", dc.kernels_with_config},
               {"kernels_flagged", dc.kernels_flagged},
               {"models", dc.models},
               {"applications", dc.applications},
               {"kernels_by_type", dc.kernels_by_type},
               {"rows_by_origin", dc.rows_by_origin}};
    j["devices"].push_back(std::move(jd));
  }
  j["runs"] = json::array();
  for (const auto& r : runs) {
    j["runs"].push_back({{"id", r.id},
                         {"device_id", r.device_id},
                         {"kind", r.kind},
                         {"origin", origin_name(r.provenance.origin)},
                         {"source", r.provenance.by},
                         {"status", r.status},
                         {"status_note", r.status_note},
                         {"started_at", r.started_at},
                         {"finished_at", r.finished_at},
                         {"heartbeat_at", r.heartbeat_at},
                         {"host", r.host},
                         {"boot_id", r.boot_id},
                         {"pid", r.pid},
                         {"nnjoule_version", r.nnjoule_version},
                         {"settings", r.settings}});
  }
  j["work_plans"] = work.to_json()["devices"];
  return j;
}

std::string Info::to_text() const {
  std::string s = fmt::format("{}: nnjoule dataset, schema version {}{}{}\n", path, schema_version,
                              created_by.empty() ? "" : ", created by " + created_by,
                              opened == "read-only, immutable"
                                  ? " (read as it is: the file or its directory is read-only)"
                                  : "");
  TextTable tables({"table", "rows"}, {TextTable::Align::kLeft, TextTable::Align::kRight});
  for (const auto& t : Store::table_names()) tables.add_row({t, std::to_string(table_rows.at(t))});
  s += "\n" + tables.render();
  for (const auto& dc : devices) {
    const Device& d = dc.device;
    std::string desc = d.name;
    for (const auto* part : {&d.soc, &d.cpu, &d.arch, &d.os, &d.runtime})
      if (!part->empty()) desc += ", " + *part;
    if (d.cores > 0) desc += fmt::format(", {} cores", d.cores);
    s += fmt::format("\ndevice {}: {}\n", d.id, desc);
    s += fmt::format("  kernel measurements: {} ({} with a config, {} flagged)\n", dc.kernels,
                     dc.kernels_with_config, dc.kernels_flagged);
    s += fmt::format("  model measurements: {}\n  application measurements: {}\n", dc.models,
                     dc.applications);
    for (const auto& [label, n] : dc.rows_by_origin) s += fmt::format("  {} rows: {}\n", label, n);
    if (!dc.kernels_by_type.empty()) {
      TextTable t({"kernel type", "rows"}, {TextTable::Align::kLeft, TextTable::Align::kRight});
      for (const auto& [type, n] : dc.kernels_by_type) t.add_row({type, std::to_string(n)});
      std::string rendered = t.render();
      // Indent the table under its device.
      std::string indented = "  ";
      for (char ch : rendered) {
        indented += ch;
        if (ch == '\n') indented += "  ";
      }
      if (indented.size() >= 2 && indented.substr(indented.size() - 2) == "  ")
        indented.resize(indented.size() - 2);
      s += indented;
    }
  }
  if (!runs.empty()) {
    s += "\n";
    TextTable t({"run", "device", "kind", "source", "status", "started", "last heartbeat"},
                {TextTable::Align::kRight});
    std::string notes;
    for (const auto& r : runs) {
      t.add_row({std::to_string(r.id), std::to_string(r.device_id), r.kind, r.provenance.label(),
                 r.status, r.started_at, r.finished_at.empty() ? r.heartbeat_at : ""});
      if (!r.status_note.empty())
        notes += fmt::format("run {}: {}: {}\n", r.id, r.status, r.status_note);
    }
    s += t.render() + notes;
  }
  if (!work.devices.empty())
    s += "\nwork plans (nnjoule farm status for leases and failures):\n" + work.to_text();
  return s;
}

TableDump Store::dump(const std::string& table) const {
  const auto& names = table_names();
  if (std::find(names.begin(), names.end(), table) == names.end()) {
    std::string known;
    for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
    fail("{}: no table '{}' (tables: {})", path().string(), table, known);
  }
  TableDump d;
  d.name = table;
  // Key order: the same on both back ends (PostgreSQL has no rowid).
  const char* order = table == "model_kernels"          ? "model_id, idx"
                      : table == "model_kernel_latency" ? "measurement_id, idx"
                                                        : "id";
  sql::Stmt st(*impl_->db, fmt::format("SELECT * FROM {} ORDER BY {}", table, order));
  for (int i = 0; i < st.columns(); ++i) d.columns.push_back(st.column_name(i));
  while (st.step()) {
    std::vector<json> row;
    row.reserve(d.columns.size());
    for (int i = 0; i < st.columns(); ++i) {
      switch (st.column_type(i)) {
        case sql::Type::kNull:
          row.emplace_back(nullptr);
          break;
        case sql::Type::kInteger:
          row.emplace_back(st.i64(i));
          break;
        case sql::Type::kFloat:
          row.emplace_back(st.f64(i));
          break;
        default:
          row.emplace_back(st.text(i));
          break;
      }
    }
    d.rows.push_back(std::move(row));
  }
  return d;
}

}  // namespace nnjoule::store
