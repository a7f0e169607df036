#pragma once
// A thin RAII layer over the SQLite C API: every failure becomes an nnjoule::Error naming the
// database file and saying what it means for the data (nothing stored is lost on an error).
#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace nnjoule::store::sql {

// How a database file is opened.
enum class Open {
  kReadWrite,  // creates the file when absent
  kReadOnly,   // WAL readers' protocol: sees what a running writer commits (needs FILE-shm)
  kImmutable,  // the file as it is: no locks, no FILE-wal / FILE-shm read or created
};

class Db {
 public:
  Db(const std::filesystem::path& path, Open mode);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  sqlite3* get() const { return db_; }
  const std::string& path() const { return path_; }
  void exec(std::string_view sql) const;
  // Throws Error "<file>: <what>: <sqlite message><hint>" for a failed SQLite call.
  [[noreturn]] void raise(int rc, std::string_view what) const;
  void check(int rc, std::string_view what) const {
    if (rc != SQLITE_OK && rc != SQLITE_ROW && rc != SQLITE_DONE) raise(rc, what);
  }
  int64_t last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }

 private:
  sqlite3* db_ = nullptr;
  std::string path_;
};

class Stmt {
 public:
  Stmt(const Db& db, std::string_view sql);
  ~Stmt();
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  // Binds by 1-based position.
  Stmt& bind(int i, int64_t v);
  Stmt& bind(int i, int v) { return bind(i, static_cast<int64_t>(v)); }
  Stmt& bind(int i, double v);
  Stmt& bind(int i, std::string_view v);
  Stmt& bind(int i, const std::string& v) { return bind(i, std::string_view(v)); }
  Stmt& bind(int i, const char* v) { return bind(i, std::string_view(v)); }
  Stmt& bind_null(int i);
  template <typename T>
  Stmt& bind(int i, const std::optional<T>& v) {
    return v ? bind(i, *v) : bind_null(i);
  }
  // Text, NULL when empty.
  Stmt& bind_text_or_null(int i, std::string_view v) {
    return v.empty() ? bind_null(i) : bind(i, v);
  }

  bool step();  // true while a row is available
  void run() {
    while (step()) {
    }
  }
  void reset();

  int columns() const { return sqlite3_column_count(st_); }
  std::string column_name(int i) const;
  bool is_null(int i) const { return sqlite3_column_type(st_, i) == SQLITE_NULL; }
  int column_type(int i) const { return sqlite3_column_type(st_, i); }
  int64_t i64(int i) const { return sqlite3_column_int64(st_, i); }
  double f64(int i) const { return sqlite3_column_double(st_, i); }
  std::string text(int i) const;
  std::optional<double> opt_f64(int i) const {
    return is_null(i) ? std::nullopt : std::optional<double>(f64(i));
  }
  std::optional<int64_t> opt_i64(int i) const {
    return is_null(i) ? std::nullopt : std::optional<int64_t>(i64(i));
  }

 private:
  const Db& db_;
  sqlite3_stmt* st_ = nullptr;
  std::string sql_;
};

// BEGIN IMMEDIATE ... COMMIT; rolls back when destroyed before commit(), so a failure leaves
// the database exactly as it was.
class Transaction {
 public:
  explicit Transaction(const Db& db);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();

 private:
  const Db& db_;
  bool done_ = false;
};

}  // namespace nnjoule::store::sql
