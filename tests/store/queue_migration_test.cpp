// Schema 6 (issue 18): work items are addressed to a device and may end as failed. A version 5
// queue migrates with its items' state; read-only, the old queue is refused by name.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "nnjoule/store/store.hpp"
#include "store/raw_sql.hpp"
#include "support/test_support.hpp"

using namespace nnjoule;
using namespace nnjoule::store;
using nnjoule::testing::error_of;
using nnjoule::testing::raw_exec;
using nnjoule::testing::TempDir;
using ::testing::HasSubstr;

TEST(QueueSchema, Version5QueueMigratesWithItsItemsState) {
  TempDir tmp;
  const auto file = tmp / "v5.db";
  { Store s(file); }
  // What nnjoule 5 wrote: one item per plan and key, no device, no failures.
  raw_exec(file, R"sql(
DROP TABLE work_items;
CREATE TABLE work_items (
  id             INTEGER PRIMARY KEY,
  plan           TEXT NOT NULL,
  key            TEXT NOT NULL,
  payload        TEXT NOT NULL DEFAULT '{}',
  status         TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'claimed', 'done')),
  worker         TEXT,
  lease_until_ms INTEGER,
  attempts       INTEGER NOT NULL DEFAULT 0,
  done_at        TEXT,
  UNIQUE (plan, key)
);
CREATE INDEX work_items_claim ON work_items (plan, status, id);
INSERT INTO work_items (plan, key, payload, status, worker, attempts, done_at)
  VALUES ('p', 'a', '{"cin": 1}', 'done', 'w1', 1, '2026-12-01T00:00:00Z');
INSERT INTO work_items (plan, key, payload) VALUES ('p', 'b', '{"cin": 2}');
PRAGMA user_version = 5;
)sql");
  {
    const Store reader(file, Store::Options{.read_only = true});
    EXPECT_EQ(reader.schema_version(), 5);
    EXPECT_THAT(error_of([&] { reader.work_status("p"); }),
                HasSubstr("schema version 5 has no work plans with devices (version 6); nnjoule "
                          "db migrate upgrades it"));
  }
  Store s(file);
  EXPECT_EQ(s.schema_version(), kSchemaVersion);
  const PlanStatus st = s.work_status("p");
  EXPECT_EQ(st.done, 1);
  EXPECT_EQ(st.pending, 1);
  const auto b = s.claim_work("p", "w2", std::chrono::minutes(5), "pixel4");
  ASSERT_TRUE(b);  // old items are for any device
  EXPECT_EQ(b->key, "b");
  EXPECT_EQ(b->device, "");
  EXPECT_EQ(b->payload["cin"], 2);
  EXPECT_EQ(s.add_work("p", {{"a", nlohmann::json::object()}}, "pixel4"), 1);
  s.fail_work(*b, "does not build");
  EXPECT_EQ(s.work_status("p").failed, 1);
}
