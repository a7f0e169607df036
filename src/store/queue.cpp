// The work queue of a device farm (schema 4, devices and failures schema 6): claims under a
// lease, completion in the transaction that stores the results.
#include <fmt/format.h>

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/table.hpp"
#include "nnjoule/store/store.hpp"
#include "store_detail.hpp"

namespace nnjoule::store {
using nlohmann::json;

int64_t Store::add_work(const std::string& plan,
                        const std::vector<std::pair<std::string, json>>& items,
                        const std::string& device) {
  const sql::Db& db = *impl_->db;
  if (plan.empty()) fail("{}: a work plan needs a name", db.path());
  sql::Transaction tx(db);
  sql::Stmt st(db,
               "INSERT INTO work_items (plan, device, key, payload) VALUES (?, ?, ?, ?) ON "
               "CONFLICT (plan, device, key) DO NOTHING");
  int64_t added = 0;
  for (const auto& [key, payload] : items) {
    if (key.empty()) fail("{}: plan '{}': a work item needs a key", db.path(), plan);
    st.reset();
    st.bind(1, plan).bind(2, device).bind(3, key).bind(4, payload.dump()).run();
    added += db.changes();
  }
  tx.commit();
  return added;
}

std::optional<WorkItem> Store::claim_work(const std::string& plan, const std::string& worker,
                                          std::chrono::milliseconds lease,
                                          const std::string& device) {
  const sql::Db& db = *impl_->db;
  if (worker.empty()) fail("{}: a worker needs a name to claim work", db.path());
  const char* now = db.now_ms_sql();
  // SQLite's write transaction already admits one claimer at a time.
  const char* skip = db.backend() == sql::Backend::kPostgres ? " FOR UPDATE SKIP LOCKED" : "";
  sql::Transaction tx(db);
  sql::Stmt st(db, fmt::format("UPDATE work_items SET status = 'claimed', worker = ?1, "
                               "lease_until_ms = {0} + ?2, attempts = attempts + 1 WHERE id = "
                               "(SELECT id FROM work_items WHERE plan = ?3 AND (device = ?4 OR "
                               "device = '') AND (status = 'pending' OR (status = 'claimed' AND "
                               "lease_until_ms < {0})) ORDER BY id LIMIT 1{1}) RETURNING id, "
                               "device, key, payload, attempts",
                               now, skip));
  st.bind(1, worker).bind(2, static_cast<int64_t>(lease.count())).bind(3, plan).bind(4, device);
  if (!st.step()) return std::nullopt;  // rolls back: nothing was changed
  WorkItem item;
  item.id = st.i64(0);
  item.plan = plan;
  item.device = st.text(1);
  item.key = st.text(2);
  item.payload = json::parse(st.text(3));
  item.worker = worker;
  item.attempts = st.i64(4);
  st.run();
  tx.commit();
  return item;
}

namespace {
// The fencing condition: the item is still claimed by this worker under this claim.
constexpr const char* kHeld = "id = ? AND status = 'claimed' AND worker = ? AND attempts = ?";

void check_held(const sql::Db& db, const WorkItem& item, const char* what) {
  if (db.changes() == 1) return;
  throw LeaseLost(fmt::format(
      "{}: plan '{}' item '{}': {} lost its lease (the item was claimed again after the lease "
      "expired, or is done): {}",
      db.path(), item.plan, item.key, item.worker, what));
}
}  // namespace

bool Store::renew_work(const WorkItem& item, std::chrono::milliseconds lease) {
  const sql::Db& db = *impl_->db;
  sql::Stmt st(db, fmt::format("UPDATE work_items SET lease_until_ms = {} + ? WHERE {}",
                               db.now_ms_sql(), kHeld));
  st.bind(1, static_cast<int64_t>(lease.count()))
      .bind(2, item.id)
      .bind(3, item.worker)
      .bind(4, item.attempts)
      .run();
  return db.changes() == 1;
}

void Store::complete_work(const WorkItem& item, const WorkResults& results) {
  const sql::Db& db = *impl_->db;
  sql::Transaction tx(db);
  sql::Stmt done(db, fmt::format("UPDATE work_items SET status = 'done', done_at = ?, "
                                 "lease_until_ms = NULL WHERE {}",
                                 kHeld));
  done.bind(1, detail::now_utc()).bind(2, item.id).bind(3, item.worker).bind(4, item.attempts);
  done.run();
  check_held(db, item, "its results were not stored");
  for (const auto& r : results.kernels) detail::insert_kernel_row(db, r);
  for (const auto& [model, row] : results.models) detail::insert_model_measurement(db, model, row);
  tx.commit();
}

void Store::fail_work(const WorkItem& item, const std::string& error) {
  const sql::Db& db = *impl_->db;
  sql::Stmt st(db, fmt::format("UPDATE work_items SET status = 'failed', done_at = ?, error = ?, "
                               "lease_until_ms = NULL WHERE {}",
                               kHeld));
  st.bind(1, detail::now_utc())
      .bind(2, error)
      .bind(3, item.id)
      .bind(4, item.worker)
      .bind(5, item.attempts)
      .run();
  check_held(db, item, "its failure was not stored");
}

namespace {
// A read-only open reads older files as they are: their queue lacks devices (or is absent).
void check_queue_schema(const Store& s) {
  if (s.schema_version() < 6) {
    fail(
        "{}: schema version {} has no work plans with devices (version 6); nnjoule db migrate "
        "upgrades it",
        s.path().string(), s.schema_version());
  }
}

void count(PlanStatus& s, const std::string& status, const std::string& expired, int64_t n) {
  if (status == "pending") s.pending += n;
  if (status == "done") s.done += n;
  if (status == "failed") s.failed += n;
  if (status == "claimed") {
    s.claimed += n;
    // PostgreSQL says t/f, SQLite 1/0.
    if (expired == "t" || expired == "1") s.expired += n;
  }
}
}  // namespace

PlanStatus Store::work_status(const std::string& plan,
                              const std::optional<std::string>& device) const {
  check_queue_schema(*this);
  const sql::Db& db = *impl_->db;
  sql::Stmt st(db, fmt::format("SELECT status, lease_until_ms < {} AS expired, COUNT(*) FROM "
                               "work_items WHERE plan = ?{} GROUP BY status, expired",
                               db.now_ms_sql(), device ? " AND (device = ? OR device = '')" : ""));
  st.bind(1, plan);
  if (device) st.bind(2, *device);
  PlanStatus s;
  while (st.step()) count(s, st.text(0), st.text(1), st.i64(2));
  return s;
}

WorkSummary Store::work_summary(const std::string& plan) const {
  check_queue_schema(*this);
  const sql::Db& db = *impl_->db;
  const std::string where = plan.empty() ? "" : " WHERE plan = ?";
  WorkSummary w;
  sql::Stmt st(db, fmt::format("SELECT plan, device, status, lease_until_ms < {} AS expired, "
                               "COUNT(*) FROM work_items{} GROUP BY plan, device, status, expired "
                               "ORDER BY plan, device",
                               db.now_ms_sql(), where));
  if (!plan.empty()) st.bind(1, plan);
  while (st.step()) {
    if (w.devices.empty() || w.devices.back().plan != st.text(0) ||
        w.devices.back().device != st.text(1)) {
      w.devices.push_back({st.text(0), st.text(1), {}});
    }
    count(w.devices.back().status, st.text(2), st.text(3), st.i64(4));
  }
  sql::Stmt leases(db, fmt::format("SELECT plan, device, key, worker, attempts, lease_until_ms - "
                                   "{} FROM work_items WHERE status = 'claimed'{} ORDER BY id",
                                   db.now_ms_sql(), plan.empty() ? "" : " AND plan = ?"));
  if (!plan.empty()) leases.bind(1, plan);
  while (leases.step()) {
    w.leases.push_back({leases.text(0), leases.text(1), leases.text(2), leases.text(3),
                        leases.i64(4), static_cast<double>(leases.i64(5)) / 1000});
  }
  sql::Stmt failed(db, fmt::format("SELECT plan, device, key, worker, error FROM work_items WHERE "
                                   "status = 'failed'{} ORDER BY id",
                                   plan.empty() ? "" : " AND plan = ?"));
  if (!plan.empty()) failed.bind(1, plan);
  while (failed.step()) {
    w.failures.push_back(
        {failed.text(0), failed.text(1), failed.text(2), failed.text(3), failed.text(4)});
  }
  return w;
}

namespace {
std::string device_label(const std::string& d) {
  return d.empty() ? "(any device)" : d;
}
}  // namespace

json WorkSummary::to_json() const {
  json j = {{"devices", json::array()}, {"leases", json::array()}, {"failures", json::array()}};
  for (const auto& d : devices) {
    j["devices"].push_back({{"plan", d.plan},
                            {"device", d.device},
                            {"pending", d.status.pending},
                            {"claimed", d.status.claimed},
                            {"expired", d.status.expired},
                            {"done", d.status.done},
                            {"failed", d.status.failed}});
  }
  for (const auto& l : leases) {
    j["leases"].push_back({{"plan", l.plan},
                           {"device", l.device},
                           {"key", l.key},
                           {"worker", l.worker},
                           {"attempts", l.attempts},
                           {"expires_in_s", l.expires_in_s}});
  }
  for (const auto& f : failures) {
    j["failures"].push_back({{"plan", f.plan},
                             {"device", f.device},
                             {"key", f.key},
                             {"worker", f.worker},
                             {"error", f.error}});
  }
  return j;
}

std::string WorkSummary::to_text() const {
  if (devices.empty()) return "no work plans\n";
  using A = TextTable::Align;
  TextTable t(
      {"plan", "device", "items", "pending", "claimed", "expired", "done", "failed"},
      {A::kLeft, A::kLeft, A::kRight, A::kRight, A::kRight, A::kRight, A::kRight, A::kRight});
  for (const auto& d : devices) {
    const PlanStatus& s = d.status;
    t.add_row({d.plan, device_label(d.device), std::to_string(s.total()), std::to_string(s.pending),
               std::to_string(s.claimed), std::to_string(s.expired), std::to_string(s.done),
               std::to_string(s.failed)});
  }
  std::string out = t.render();
  if (!leases.empty()) {
    out += "leases held:\n";
    for (const auto& l : leases) {
      out += fmt::format("  {} / {} / {}: {} (claim {}), {}\n", l.plan, device_label(l.device),
                         l.key, l.worker, l.attempts,
                         l.expires_in_s >= 0 ? fmt::format("expires in {:.0f} s", l.expires_in_s)
                                             : fmt::format("expired {:.0f} s ago: claimable again",
                                                           -l.expires_in_s));
    }
  }
  for (const auto& f : failures) {
    out += fmt::format("failed: {} / {} / {} ({}): {}\n", f.plan, device_label(f.device), f.key,
                       f.worker, f.error);
  }
  return out;
}

}  // namespace nnjoule::store
