// A run's stored command line never keeps a password given in a PostgreSQL URL or connection
// string: not when the run begins, and not when a run stored before is merged or pushed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "nnjoule/store/store.hpp"
#include "store/raw_sql.hpp"
#include "store/rows.hpp"
#include "support/test_support.hpp"

using namespace nnjoule;
using namespace nnjoule::store;
using nnjoule::testing::make_run;
using nnjoule::testing::TempDir;
using nnjoule::testing::test_device;

namespace {

// The commands as stored, in run order.
std::vector<std::string> stored_commands(const std::string& db) {
  std::vector<std::string> out;
  for (const auto& r : Store(db, {.read_only = true}).runs()) out.push_back(r.command);
  return out;
}

// Commands with passwords (secret, s3 'cret, k3y, p4ss) beside what each is stored as.
const std::vector<std::pair<std::string, std::string>> kCommands = {
    {"nnjoule collect kernels --db postgresql://farm:secret@db.lab:5432/energy --threads 1",
     "nnjoule collect kernels --db postgresql://farm@db.lab:5432/energy --threads 1"},
    {"nnjoule import nnmeter x --db postgres://farm:secret@db.lab/energy?sslmode=require&"
     "password=p4ss&sslpassword=k3y&application_name=a",
     "nnjoule import nnmeter x --db postgres://farm@db.lab/energy?sslmode=require&"
     "password=***&sslpassword=***&application_name=a"},
    {"nnjoule collect models --db host=db.lab password = 's3 \\'cret' sslpassword=k3y "
     "dbname=energy --threads 4",
     "nnjoule collect models --db host=db.lab password = *** sslpassword=*** dbname=energy "
     "--threads 4"},
    {"nnjoule apps --suite s.json --db password=p4ss host=db.lab",
     "nnjoule apps --suite s.json --db password=*** host=db.lab"},
    // Nothing else changes: files, other keys, words that only contain the keyword.
    {"nnjoule collect kernels --db runs/password=x.db --threads 1 --seed 0",
     "nnjoule collect kernels --db runs/password=x.db --threads 1 --seed 0"},
    {"nnjoule collect kernels --db postgresql:// --threads 1",
     "nnjoule collect kernels --db postgresql:// --threads 1"},
    {"nnjoule apps --db host=/tmp passfile=/home/farm/.pgpass mypassword=1",
     "nnjoule apps --db host=/tmp passfile=/home/farm/.pgpass mypassword=1"},
};

}  // namespace

TEST(CommandPassword, BeginRunStoresTheCommandWithoutPasswords) {
  TempDir tmp;
  const std::string file = (tmp / "d.db").string();
  std::vector<std::string> expected;
  {
    Store s(file);
    const int64_t dev = s.ensure_device(test_device());
    for (const auto& [command, stored] : kCommands) {
      store::Run run = make_run(dev, "kernels", Origin::kMeasured, "rapl");
      run.command = command;
      s.end_run(s.begin_run(run), "complete");
      expected.push_back(stored);
    }
  }
  EXPECT_EQ(stored_commands(file), expected);
}

// A file written before the fix (its command set straight in SQLite) loses the passwords when
// merged or pushed; the run is still matched by its content, so a second merge adds nothing.
TEST(CommandPassword, MergedRunsLoseTheirPasswords) {
  TempDir tmp;
  const std::string old = (tmp / "old.db").string(), merged = (tmp / "merged.db").string();
  {
    Store s(old);
    const int64_t dev = s.ensure_device(test_device());
    s.end_run(s.begin_run(make_run(dev, "kernels", Origin::kMeasured, "rapl")), "complete");
  }
  std::string quoted;  // an SQL literal: ' doubled
  for (const char c : kCommands[2].first)
    quoted += c == '\'' ? std::string("''") : std::string(1, c);
  nnjoule::testing::raw_exec(old, "UPDATE runs SET command = '" + quoted + "'");
  ASSERT_EQ(stored_commands(old), std::vector<std::string>{kCommands[2].first});
  Store(merged).merge_from(Store(old, {.read_only = true}));
  EXPECT_EQ(stored_commands(merged), std::vector<std::string>{kCommands[2].second});
  Store(merged).merge_from(Store(old, {.read_only = true}));
  EXPECT_EQ(stored_commands(merged).size(), 1u);
}
