#include "sqlite.hpp"

#include <fmt/format.h>

#include <cctype>

#include "nnjoule/common/error.hpp"

namespace nnjoule::store::sql {

namespace {
// What an SQLite failure means for the user's data, appended to the message.
std::string hint(int rc) {
  switch (rc & 0xff) {
    case SQLITE_FULL:
      return "; the disk (or the database's size limit) is full: the measurement in flight was "
             "not stored, every row stored before it is intact";
    case SQLITE_READONLY:
      return "; the file is read-only: nothing was written";
    case SQLITE_CORRUPT:
      return "; the database file is corrupt: nnjoule did not modify it (restore a backup or "
             "rebuild it with collect/import)";
    case SQLITE_NOTADB:
      return "; this is not an SQLite database (or its header is damaged): nnjoule did not "
             "modify it";
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return "; another process holds the write lock (a collection still running?): nothing was "
             "written";
    case SQLITE_CANTOPEN:
      return "; check that the directory exists and is accessible";
    case SQLITE_IOERR:
      return "; an I/O error: nothing of this transaction was stored";
    default:
      return "";
  }
}
}  // namespace

namespace {
// "file:///abs/path?immutable=1" with every byte outside [A-Za-z0-9/._~-] percent-encoded, so
// that '?', '#' and '%' in a file name stay part of the name.
std::string immutable_uri(const std::filesystem::path& path) {
  const std::string abs = std::filesystem::absolute(path).lexically_normal().string();
  std::string uri = "file://";
  for (const unsigned char c : abs) {
    if (std::isalnum(c) || c == '/' || c == '.' || c == '_' || c == '~' || c == '-') {
      uri += static_cast<char>(c);
    } else {
      uri += fmt::format("%{:02X}", c);
    }
  }
  return uri + "?immutable=1";
}
}  // namespace

SqliteDb::SqliteDb(const std::filesystem::path& path, Open mode) : Db(path.string()) {
  int flags = SQLITE_OPEN_READONLY;
  std::string name = path_;
  if (mode == Open::kReadWrite) flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  if (mode == Open::kImmutable) {
    flags |= SQLITE_OPEN_URI;
    name = immutable_uri(path);
  }
  const int rc = sqlite3_open_v2(name.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    const std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    fail("{}: cannot open database: {}{}", path_, msg, hint(rc));
  }
  sqlite3_extended_result_codes(db_, 1);
}

SqliteDb::~SqliteDb() {
  sqlite3_close_v2(db_);
}

void SqliteDb::exec(std::string_view sql) const {
  char* err = nullptr;
  const std::string s(sql);
  const int rc = sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    const std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    fail("{}: {}{}", path_, msg, hint(rc));
  }
}

void SqliteDb::raise(int rc, std::string_view what) const {
  const std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
  fail("{}: {}: {}{}", path_, what, msg, hint(rc));
}

namespace {
class SqliteCursor : public Cursor {
 public:
  SqliteCursor(const SqliteDb& db, std::string_view sql) : db_(db) {
    const int rc =
        sqlite3_prepare_v2(db.get(), sql.data(), static_cast<int>(sql.size()), &st_, nullptr);
    if (rc != SQLITE_OK) db.raise(rc, "cannot prepare a statement");
  }
  ~SqliteCursor() override { sqlite3_finalize(st_); }
  SqliteCursor(const SqliteCursor&) = delete;
  SqliteCursor& operator=(const SqliteCursor&) = delete;

  void bind_i64(int i, int64_t v) override { db_.check(sqlite3_bind_int64(st_, i, v), "bind"); }
  void bind_f64(int i, double v) override { db_.check(sqlite3_bind_double(st_, i, v), "bind"); }
  void bind_text(int i, std::string_view v) override {
    db_.check(sqlite3_bind_text(st_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT),
              "bind");
  }
  void bind_null(int i) override { db_.check(sqlite3_bind_null(st_, i), "bind"); }
  bool step() override {
    const int rc = sqlite3_step(st_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    sqlite3_reset(st_);
    db_.raise(rc, "query failed");
  }
  void reset() override {
    sqlite3_reset(st_);
    sqlite3_clear_bindings(st_);
  }
  int columns() const override { return sqlite3_column_count(st_); }
  std::string column_name(int i) const override {
    const char* n = sqlite3_column_name(st_, i);
    return n ? n : "";
  }
  Type column_type(int i) const override {
    switch (sqlite3_column_type(st_, i)) {
      case SQLITE_NULL:
        return Type::kNull;
      case SQLITE_INTEGER:
        return Type::kInteger;
      case SQLITE_FLOAT:
        return Type::kFloat;
      default:
        return Type::kText;
    }
  }
  int64_t i64(int i) const override { return sqlite3_column_int64(st_, i); }
  double f64(int i) const override { return sqlite3_column_double(st_, i); }
  std::string text(int i) const override {
    const auto* p = sqlite3_column_text(st_, i);
    if (!p) return {};
    return std::string(reinterpret_cast<const char*>(p),
                       static_cast<size_t>(sqlite3_column_bytes(st_, i)));
  }

 private:
  const SqliteDb& db_;
  sqlite3_stmt* st_ = nullptr;
};
}  // namespace

std::unique_ptr<Cursor> SqliteDb::prepare(std::string_view sql) const {
  return std::make_unique<SqliteCursor>(*this, sql);
}

}  // namespace nnjoule::store::sql
