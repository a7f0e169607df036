// The work queue of a device farm (schema 4): claims under a lease, completion in the
// transaction that stores the results.
#include <fmt/format.h>

#include "nnjoule/common/error.hpp"
#include "nnjoule/store/store.hpp"
#include "store_detail.hpp"

namespace nnjoule::store {
using nlohmann::json;

int64_t Store::add_work(const std::string& plan,
                        const std::vector<std::pair<std::string, json>>& items) {
  const sql::Db& db = *impl_->db;
  if (plan.empty()) fail("{}: a work plan needs a name", db.path());
  sql::Transaction tx(db);
  sql::Stmt st(db,
               "INSERT INTO work_items (plan, key, payload) VALUES (?, ?, ?) ON CONFLICT (plan, "
               "key) DO NOTHING");
  int64_t added = 0;
  for (const auto& [key, payload] : items) {
    if (key.empty()) fail("{}: plan '{}': a work item needs a key", db.path(), plan);
    st.reset();
    st.bind(1, plan).bind(2, key).bind(3, payload.dump()).run();
    added += db.changes();
  }
  tx.commit();
  return added;
}

std::optional<WorkItem> Store::claim_work(const std::string& plan, const std::string& worker,
                                          std::chrono::milliseconds lease) {
  const sql::Db& db = *impl_->db;
  if (worker.empty()) fail("{}: a worker needs a name to claim work", db.path());
  const char* now = db.now_ms_sql();
  // SQLite's write transaction already admits one claimer at a time.
  const char* skip = db.backend() == sql::Backend::kPostgres ? " FOR UPDATE SKIP LOCKED" : "";
  sql::Transaction tx(db);
  sql::Stmt st(db, fmt::format("UPDATE work_items SET status = 'claimed', worker = ?1, "
                               "lease_until_ms = {0} + ?2, attempts = attempts + 1 WHERE id = "
                               "(SELECT id FROM work_items WHERE plan = ?3 AND (status = "
                               "'pending' OR (status = 'claimed' AND lease_until_ms < {0})) "
                               "ORDER BY id LIMIT 1{1}) RETURNING id, key, payload, attempts",
                               now, skip));
  st.bind(1, worker).bind(2, static_cast<int64_t>(lease.count())).bind(3, plan);
  if (!st.step()) return std::nullopt;  // rolls back: nothing was changed
  WorkItem item;
  item.id = st.i64(0);
  item.plan = plan;
  item.key = st.text(1);
  item.payload = json::parse(st.text(2));
  item.worker = worker;
  item.attempts = st.i64(3);
  st.run();
  tx.commit();
  return item;
}

void Store::complete_work(const WorkItem& item, const std::vector<KernelRow>& rows) {
  const sql::Db& db = *impl_->db;
  sql::Transaction tx(db);
  sql::Stmt done(db,
                 "UPDATE work_items SET status = 'done', done_at = ?, lease_until_ms = NULL "
                 "WHERE id = ? AND status = 'claimed' AND worker = ? AND attempts = ?");
  done.bind(1, detail::now_utc()).bind(2, item.id).bind(3, item.worker).bind(4, item.attempts);
  done.run();
  if (db.changes() != 1) {
    fail(
        "{}: plan '{}' item '{}': {} lost its lease (the item was claimed again after the lease "
        "expired, or is done): its results were not stored",
        db.path(), item.plan, item.key, item.worker);
  }
  for (const auto& r : rows) detail::insert_kernel_row(db, r);
  tx.commit();
}

PlanStatus Store::work_status(const std::string& plan) const {
  const sql::Db& db = *impl_->db;
  sql::Stmt st(db, fmt::format("SELECT status, lease_until_ms < {} AS expired, COUNT(*) FROM "
                               "work_items WHERE plan = ? GROUP BY status, expired",
                               db.now_ms_sql()));
  st.bind(1, plan);
  PlanStatus s;
  while (st.step()) {
    const std::string status = st.text(0);
    const int64_t n = st.i64(2);
    if (status == "pending") s.pending += n;
    if (status == "done") s.done += n;
    if (status == "claimed") {
      s.claimed += n;
      // PostgreSQL says t/f, SQLite 1/0.
      if (st.text(1) == "t" || st.text(1) == "1") s.expired += n;
    }
  }
  return s;
}

}  // namespace nnjoule::store
