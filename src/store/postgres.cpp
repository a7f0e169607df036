// The PostgreSQL back end (libpq): a device farm's dataset on a server. Statements are sent
// with their parameters as text (PQexecParams) and the server infers their types from the
// columns they meet; a statement run again on the connection is prepared once (PQprepare,
// PQexecPrepared). Results come back as text and are parsed by type.
#include <fmt/format.h>
#include <libpq-fe.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <map>
#include <unordered_map>
#include <vector>

#include "nnjoule/common/error.hpp"
#include "sql.hpp"

namespace nnjoule::store::sql {
namespace {

// libpq's messages span lines ("...failed: Connection refused\n\tIs the server running...");
// errors here are one line.
std::string one_line(std::string_view msg) {
  std::string out;
  bool space = false;
  for (const char c : msg) {
    if (c == '\n' || c == '\r' || c == '\t') {
      space = true;
      continue;
    }
    if (space && !out.empty()) out += out.back() == '.' || out.back() == ':' ? " " : "; ";
    space = false;
    out += c;
  }
  return out;
}

struct ConninfoFree {
  void operator()(PQconninfoOption* o) const { PQconninfoFree(o); }
};
using Conninfo = std::unique_ptr<PQconninfoOption, ConninfoFree>;

Conninfo parse_conninfo(const std::string& target, std::string* error) {
  char* err = nullptr;
  Conninfo opts(PQconninfoParse(target.c_str(), &err));
  if (err) {
    if (error) *error = one_line(err);
    PQfreemem(err);
  }
  return opts;
}

bool is_url(std::string_view t) {
  return t.starts_with("postgresql://") || t.starts_with("postgres://");
}

// `password=VALUE` and `sslpassword=VALUE` in `s` with VALUE as ***: libpq's keywords in a
// connection string (spaces around '=', VALUE in single quotes) or, `in_url`, a URL's
// parameters (VALUE up to the next '&').
std::string mask_password_keys(std::string_view s, bool in_url) {
  constexpr std::string_view kKey = "password";
  const auto boundary = [&](size_t at) {
    if (at == 0) return true;
    const char c = s[at - 1];
    return in_url ? c == '?' || c == '&' : c == ' ' || c == '\t' || c == '\'' || c == '"';
  };
  const auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  std::string out;
  size_t i = 0;
  for (size_t k; (k = s.find(kKey, i)) != std::string_view::npos;) {
    size_t j = k + kKey.size();
    const bool starts = boundary(k) || (k >= 3 && s.substr(k - 3, 3) == "ssl" && boundary(k - 3));
    if (!in_url)
      while (j < s.size() && blank(s[j])) ++j;
    if (!starts || j >= s.size() || s[j] != '=') {
      out.append(s.substr(i, k + kKey.size() - i));
      i = k + kKey.size();
      continue;
    }
    ++j;
    if (!in_url)
      while (j < s.size() && blank(s[j])) ++j;
    out.append(s.substr(i, j - i));
    out += "***";
    if (!in_url && j < s.size() && s[j] == '\'') {  // 'quoted value', \' and \\ escaped
      for (++j; j < s.size() && s[j] != '\''; ++j)
        if (s[j] == '\\') ++j;
      j = std::min(j + 1, s.size());
    } else {
      while (j < s.size() && !(in_url ? s[j] == '&' || s[j] == '#' : blank(s[j]))) ++j;
    }
    i = j;
  }
  out.append(s.substr(i));
  return out;
}

// A postgresql:// URL without the password of its user and its password parameters.
std::string url_without_password(std::string_view url) {
  std::string s(url);
  const size_t start = s.find("://") + 3;
  const size_t at = s.find('@', start);
  const size_t slash = s.find('/', start);
  if (at != std::string::npos && (slash == std::string::npos || at < slash)) {
    const size_t colon = s.find(':', start);
    if (colon != std::string::npos && colon < at) s.erase(colon, at - colon);
  }
  return mask_password_keys(s, true);
}

// The target without its password, for messages and `db info`.
std::string redacted(const std::string& target) {
  if (is_url(target)) return url_without_password(target);
  const Conninfo opts = parse_conninfo(target, nullptr);
  if (!opts) return mask_password_keys(target, false);
  std::string s;
  for (const PQconninfoOption* o = opts.get(); o->keyword; ++o) {
    if (!o->val || !*o->val) continue;
    const std::string_view key = o->keyword;
    const bool secret = key == "password" || key == "sslpassword";
    s += fmt::format("{}{}={}", s.empty() ? "" : " ", key, secret ? "***" : o->val);
  }
  return s;
}

// "host H port P" / "the socket in DIR (port P)": where a failed connection went.
std::string server_of(PGconn* conn) {
  const char* host = PQhost(conn);
  const char* port = PQport(conn);
  const std::string h = host && *host ? host : "(default host)";
  const std::string p = port && *port ? port : "5432";
  if (h.starts_with('/')) return fmt::format("through the socket in {} (port {})", h, p);
  return fmt::format("at host {} port {}", h, p);
}

void ignore_notice(void*, const char*) {}

struct ResultFree {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultFree>;

class PgDb;

class PgCursor : public Cursor {
 public:
  PgCursor(const PgDb& db, std::string_view sql);
  void bind_i64(int i, int64_t v) override { slot(i) = std::to_string(v); }
  void bind_f64(int i, double v) override {
    if (std::isnan(v)) {
      slot(i) = "NaN";
    } else if (std::isinf(v)) {
      slot(i) = v > 0 ? "Infinity" : "-Infinity";
    } else {
      slot(i) = fmt::format("{}", v);  // shortest text that reads back as the same double
    }
  }
  void bind_text(int i, std::string_view v) override { slot(i) = std::string(v); }
  void bind_null(int i) override { slot(i).reset(); }
  bool step() override;
  void reset() override {
    result_.reset();
    row_ = -1;
    for (auto& v : values_) v.reset();
  }
  // Column names are known once the statement has run (SQLite knows them when prepared).
  int columns() const override { return PQnfields(executed()); }
  std::string column_name(int i) const override {
    const char* n = PQfname(executed(), i);
    return n ? n : "";
  }
  Type column_type(int i) const override {
    if (PQgetisnull(result_.get(), row_, i)) return Type::kNull;
    switch (PQftype(result_.get(), i)) {
      case 20:  // int8
      case 21:  // int2
      case 23:  // int4
      case 26:  // oid
        return Type::kInteger;
      case 700:   // float4
      case 701:   // float8
      case 1700:  // numeric
        return Type::kFloat;
      default:
        return Type::kText;
    }
  }
  int64_t i64(int i) const override {
    const char* v = PQgetvalue(result_.get(), row_, i);
    if (column_type(i) == Type::kFloat) return static_cast<int64_t>(std::strtod(v, nullptr));
    return std::strtoll(v, nullptr, 10);
  }
  double f64(int i) const override {
    return std::strtod(PQgetvalue(result_.get(), row_, i), nullptr);
  }
  std::string text(int i) const override {
    return std::string(PQgetvalue(result_.get(), row_, i),
                       static_cast<size_t>(PQgetlength(result_.get(), row_, i)));
  }

 private:
  std::optional<std::string>& slot(int i);
  PGresult* executed() const;

  const PgDb& db_;
  std::string sql_;
  std::map<int, int> param_of_;  // placeholder number as written -> $N sent
  std::vector<std::optional<std::string>> values_;
  mutable Result result_;
  int row_ = -1;
};

class PgDb : public Db {
 public:
  PgDb(const std::string& target, bool read_only, int lock_timeout_ms)
      : Db(redacted(target)), conn_(PQconnectdb(target.c_str())) {
    if (!conn_) fail("{}: cannot connect to PostgreSQL: out of memory", path());
    if (PQstatus(conn_) != CONNECTION_OK) {
      const std::string msg = one_line(PQerrorMessage(conn_));
      const std::string where = server_of(conn_);
      PQfinish(conn_);
      conn_ = nullptr;
      fail("{}: cannot connect to the PostgreSQL server {}: {}", path(), where, msg);
    }
    PQsetNoticeProcessor(conn_, ignore_notice, nullptr);
    // A write waiting on another worker's lock gives up (saying so) instead of hanging.
    exec(fmt::format("SET lock_timeout = {}", lock_timeout_ms));
    if (read_only) exec("SET default_transaction_read_only = on");
  }
  ~PgDb() override { PQfinish(conn_); }

  Backend backend() const override { return Backend::kPostgres; }
  void exec(std::string_view sql) const override {
    // A schema change may change what a prepared statement returns ("cached plan must not
    // change result type"): statements are prepared again after one (under new names).
    if (sql != "BEGIN" && sql != "COMMIT") statements_.clear();
    Result r(PQexec(conn_, std::string(sql).c_str()));
    check(r.get(), "statement failed");
  }
  std::unique_ptr<Cursor> prepare(std::string_view sql) const override {
    return std::make_unique<PgCursor>(*this, sql);
  }
  void begin() const override { exec("BEGIN"); }
  void commit() const override { exec("COMMIT"); }
  void rollback() const noexcept override {
    PGresult* r = PQexec(conn_, "ROLLBACK");
    PQclear(r);
  }
  int64_t changes() const override { return changes_; }
  bool unique_violation() const override { return sqlstate_ == "23505"; }
  const char* now_ms_sql() const override {
    return "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)";
  }

  Result run(const std::string& sql, const std::vector<std::optional<std::string>>& values) const {
    std::vector<const char*> ptrs;
    ptrs.reserve(values.size());
    for (const auto& v : values) ptrs.push_back(v ? v->c_str() : nullptr);
    const int n = static_cast<int>(ptrs.size());
    const char* name = prepared(sql, n);
    Result r(name ? PQexecPrepared(conn_, name, n, ptrs.data(), nullptr, nullptr, 0)
                  : PQexecParams(conn_, sql.c_str(), n, nullptr, ptrs.data(), nullptr, nullptr, 0));
    check(r.get(), "query failed");
    return r;
  }

 private:
  void check(PGresult* r, std::string_view what) const {
    const ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) {
      sqlstate_.clear();
      const char* n = PQcmdTuples(r);
      changes_ = n && *n ? std::strtoll(n, nullptr, 10) : 0;
      return;
    }
    const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
    sqlstate_ = state ? state : "";
    std::string msg = one_line(r ? PQresultErrorMessage(r) : PQerrorMessage(conn_));
    if (msg.empty()) msg = one_line(PQerrorMessage(conn_));
    if (PQstatus(conn_) == CONNECTION_BAD) {
      fail("{}: {}: the connection to the server {} was lost: {}", path(), what, server_of(conn_),
           msg);
    }
    std::string hint;
    if (sqlstate_ == "25006") hint = " (the dataset was opened read-only: nothing was written)";
    if (sqlstate_ == "55P03") hint = " (another worker holds the lock: nothing was written)";
    fail("{}: {}: {}{}", path(), what, msg, hint);
  }

  // A statement run a second time on this connection (a batch of inserts runs one statement
  // per row) is prepared: the server parses and plans it once, not per row. Its name, or nullptr
  // to send it with its text (the first time). A statement that cannot be prepared fails as its
  // run would have (parsing and planning are the same).
  const char* prepared(const std::string& sql, int params) const {
    constexpr size_t kMaxStatements = 1000;  // statements with values written into their text
    auto it = statements_.find(sql);
    if (it == statements_.end()) {
      if (statements_.size() < kMaxStatements) statements_.emplace(sql, std::string());
      return nullptr;
    }
    if (it->second.empty()) {
      const std::string name = fmt::format("nnjoule_{}", ++prepared_count_);
      Result r(PQprepare(conn_, name.c_str(), sql.c_str(), params, nullptr));
      check(r.get(), "query failed");
      it->second = name;
    }
    return it->second.c_str();
  }

  PGconn* conn_ = nullptr;
  mutable std::string sqlstate_;
  mutable int64_t changes_ = 0;
  mutable std::unordered_map<std::string, std::string> statements_;  // SQL -> prepared name
  mutable int64_t prepared_count_ = 0;
};

PgCursor::PgCursor(const PgDb& db, std::string_view sql) : db_(db) {
  // `?` and `?N` outside quotes become $N, numbered densely: PostgreSQL refuses $3 without $2.
  std::vector<std::pair<size_t, size_t>> spans;  // [start, end) of each placeholder
  std::vector<int> numbers;
  int next = 0;
  char quote = 0;
  for (size_t i = 0; i < sql.size(); ++i) {
    const char c = sql[i];
    if (quote) {
      if (c == quote) quote = 0;
      continue;
    }
    if (c == '\'' || c == '"') {
      quote = c;
      continue;
    }
    if (c != '?') continue;
    size_t j = i + 1;
    while (j < sql.size() && sql[j] >= '0' && sql[j] <= '9') ++j;
    int n = ++next;
    if (j > i + 1) std::from_chars(sql.data() + i + 1, sql.data() + j, n);
    spans.emplace_back(i, j);
    numbers.push_back(n);
    param_of_[n] = 0;
  }
  int dense = 0;
  for (auto& [n, p] : param_of_) p = ++dense;
  size_t at = 0;
  for (size_t k = 0; k < spans.size(); ++k) {
    sql_.append(sql.substr(at, spans[k].first - at));
    sql_ += fmt::format("${}", param_of_[numbers[k]]);
    at = spans[k].second;
  }
  sql_.append(sql.substr(at));
  values_.resize(param_of_.size());
}

std::optional<std::string>& PgCursor::slot(int i) {
  const auto it = param_of_.find(i);
  if (it == param_of_.end()) {
    fail("{}: bind: no placeholder ?{} in the statement \"{}\"", db_.path(), i, sql_);
  }
  if (result_) {  // bound again after running: the next step runs the statement again
    result_.reset();
    row_ = -1;
  }
  return values_[static_cast<size_t>(it->second - 1)];
}

PGresult* PgCursor::executed() const {
  if (!result_) result_ = db_.run(sql_, values_);
  return result_.get();
}

bool PgCursor::step() {
  executed();
  ++row_;
  return row_ < PQntuples(result_.get());
}

}  // namespace

std::string without_passwords(std::string_view text) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    size_t url = std::string_view::npos;
    for (const std::string_view scheme : {"postgresql://", "postgres://"})
      url = std::min(url, text.find(scheme, i));
    out += mask_password_keys(text.substr(i, std::min(url, text.size()) - i), false);
    if (url == std::string_view::npos) break;
    size_t end = text.find_first_of(" \t\n\r'\"", url);
    if (end == std::string_view::npos) end = text.size();
    out += url_without_password(text.substr(url, end - url));
    i = end;
  }
  return out;
}

bool is_postgres_target(std::string_view target) {
  if (is_url(target)) return true;
  // A connection string begins with one of libpq's keywords and '=' ("host=...",
  // "service=farm"); a file name such as "a=b.db" does not.
  size_t i = target.find_first_not_of(" \t");
  if (i == std::string_view::npos) return false;
  const size_t end = target.find_first_of(" \t=", i);
  if (end == std::string_view::npos) return false;
  const size_t eq = target.find_first_not_of(" \t", end);
  if (eq == std::string_view::npos || target[eq] != '=') return false;
  const std::string_view key = target.substr(i, end - i);
  const Conninfo defaults(PQconndefaults());
  for (const PQconninfoOption* o = defaults.get(); o && o->keyword; ++o) {
    if (key == o->keyword) return true;
  }
  return false;
}

std::unique_ptr<Db> connect_postgres(const std::string& target, bool read_only,
                                     int lock_timeout_ms) {
  if (!is_url(target)) {
    std::string error;
    if (!parse_conninfo(target, &error))
      fail("{}: not a PostgreSQL connection string: {}", target, error);
  }
  return std::make_unique<PgDb>(target, read_only, lock_timeout_ms);
}

}  // namespace nnjoule::store::sql
