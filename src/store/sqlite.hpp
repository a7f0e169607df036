#pragma once
// The SQLite back end: a dataset file. Failures say what they mean for the user's data (nothing
// stored is lost on an error).
#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "sql.hpp"

namespace nnjoule::store::sql {

class SqliteDb : public Db {
 public:
  SqliteDb(const std::filesystem::path& path, Open mode);
  ~SqliteDb() override;

  sqlite3* get() const { return db_; }
  Backend backend() const override { return Backend::kSqlite; }
  void exec(std::string_view sql) const override;
  std::unique_ptr<Cursor> prepare(std::string_view sql) const override;
  void begin() const override { exec("BEGIN IMMEDIATE"); }
  void commit() const override { exec("COMMIT"); }
  void rollback() const noexcept override {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  int64_t changes() const override { return sqlite3_changes(db_); }
  bool unique_violation() const override {
    return sqlite3_extended_errcode(db_) == SQLITE_CONSTRAINT_UNIQUE ||
           sqlite3_extended_errcode(db_) == SQLITE_CONSTRAINT_PRIMARYKEY;
  }
  const char* now_ms_sql() const override {
    return "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)";
  }
  // Throws Error "<file>: <what>: <sqlite message><hint>" for a failed SQLite call.
  [[noreturn]] void raise(int rc, std::string_view what) const;
  void check(int rc, std::string_view what) const {
    if (rc != SQLITE_OK && rc != SQLITE_ROW && rc != SQLITE_DONE) raise(rc, what);
  }

 private:
  sqlite3* db_ = nullptr;
};

}  // namespace nnjoule::store::sql
