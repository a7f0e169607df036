#pragma once
// The store's back-end seam: one connection (Db) and its statements (Stmt) over SQLite
// (sqlite.hpp, a file) or PostgreSQL (postgres.hpp, a device farm's server). The store writes
// one SQL for both: `?` or `?N` placeholders, `RETURNING`, `ON CONFLICT`; the PostgreSQL back
// end renumbers placeholders. Every failure becomes an nnjoule::Error naming the dataset.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace nnjoule::store::sql {

enum class Backend { kSqlite, kPostgres };

// How a dataset is opened.
enum class Open {
  kReadWrite,  // creates the file when absent
  kReadOnly,   // WAL readers' protocol: sees what a running writer commits (needs FILE-shm)
  kImmutable,  // the file as it is: no locks, no FILE-wal / FILE-shm read or created
};

// The type of a result cell.
enum class Type { kNull, kInteger, kFloat, kText };

// One statement of a back end; binds by 1-based placeholder number.
class Cursor {
 public:
  virtual ~Cursor() = default;
  virtual void bind_i64(int i, int64_t v) = 0;
  virtual void bind_f64(int i, double v) = 0;
  virtual void bind_text(int i, std::string_view v) = 0;
  virtual void bind_null(int i) = 0;
  virtual bool step() = 0;   // true while a row is available
  virtual void reset() = 0;  // ready to run again, bindings cleared
  virtual int columns() const = 0;
  virtual std::string column_name(int i) const = 0;
  virtual Type column_type(int i) const = 0;
  virtual int64_t i64(int i) const = 0;
  virtual double f64(int i) const = 0;
  virtual std::string text(int i) const = 0;
};

class Db {
 public:
  explicit Db(std::string name) : path_(std::move(name)) {}
  virtual ~Db() = default;
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  virtual Backend backend() const = 0;
  // The dataset's name in messages: the file, or the server's URL without its password.
  const std::string& path() const { return path_; }
  // One or more statements without parameters or results.
  virtual void exec(std::string_view sql) const = 0;
  virtual std::unique_ptr<Cursor> prepare(std::string_view sql) const = 0;
  virtual void begin() const = 0;  // a write transaction
  virtual void commit() const = 0;
  virtual void rollback() const noexcept = 0;
  // Rows changed by the last INSERT / UPDATE / DELETE.
  virtual int64_t changes() const = 0;
  // Whether the last failed statement broke a UNIQUE constraint.
  virtual bool unique_violation() const = 0;
  // SQL for "now" in milliseconds since the epoch, on the server's clock where there is one
  // (leases of farm workers on several hosts).
  virtual const char* now_ms_sql() const = 0;

 protected:
  std::string path_;
};

class Stmt {
 public:
  Stmt(const Db& db, std::string_view sql) : c_(db.prepare(sql)) {}
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& bind(int i, int64_t v) {
    c_->bind_i64(i, v);
    return *this;
  }
  Stmt& bind(int i, int v) { return bind(i, static_cast<int64_t>(v)); }
  Stmt& bind(int i, double v) {
    c_->bind_f64(i, v);
    return *this;
  }
  Stmt& bind(int i, std::string_view v) {
    c_->bind_text(i, v);
    return *this;
  }
  Stmt& bind(int i, const std::string& v) { return bind(i, std::string_view(v)); }
  Stmt& bind(int i, const char* v) { return bind(i, std::string_view(v)); }
  Stmt& bind_null(int i) {
    c_->bind_null(i);
    return *this;
  }
  template <typename T>
  Stmt& bind(int i, const std::optional<T>& v) {
    return v ? bind(i, *v) : bind_null(i);
  }
  // Text, NULL when empty.
  Stmt& bind_text_or_null(int i, std::string_view v) {
    return v.empty() ? bind_null(i) : bind(i, v);
  }

  bool step() { return c_->step(); }
  void run() {
    while (step()) {
    }
  }
  void reset() { c_->reset(); }

  int columns() const { return c_->columns(); }
  std::string column_name(int i) const { return c_->column_name(i); }
  Type column_type(int i) const { return c_->column_type(i); }
  bool is_null(int i) const { return column_type(i) == Type::kNull; }
  int64_t i64(int i) const { return c_->i64(i); }
  double f64(int i) const { return c_->f64(i); }
  std::string text(int i) const { return c_->text(i); }
  std::optional<double> opt_f64(int i) const {
    return is_null(i) ? std::nullopt : std::optional<double>(f64(i));
  }
  std::optional<int64_t> opt_i64(int i) const {
    return is_null(i) ? std::nullopt : std::optional<int64_t>(i64(i));
  }

 private:
  std::unique_ptr<Cursor> c_;
};

// A write transaction; rolls back when destroyed before commit(), so a failure leaves the
// dataset exactly as it was.
class Transaction {
 public:
  explicit Transaction(const Db& db) : db_(db) { db_.begin(); }
  ~Transaction() {
    if (!done_) db_.rollback();
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit() {
    db_.commit();
    done_ = true;
  }

 private:
  const Db& db_;
  bool done_ = false;
};

// Whether a --db value names a PostgreSQL server rather than a file: a postgresql:// or
// postgres:// URL, or a libpq "key=value" connection string (host=..., service=...).
bool is_postgres_target(std::string_view target);

// `text` (a run's command line) with the passwords of the PostgreSQL targets in it as ***: a
// URL's user password (left out, as the dataset's name in messages has it) and its password
// parameters, and `password=` / `sslpassword=` connection-string keywords (postgres.cpp).
std::string without_passwords(std::string_view text);

// Opens a PostgreSQL connection (postgres.cpp).
std::unique_ptr<Db> connect_postgres(const std::string& target, bool read_only,
                                     int lock_timeout_ms);

}  // namespace nnjoule::store::sql
