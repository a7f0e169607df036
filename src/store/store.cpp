#include "nnjoule/store/store.hpp"

#include <fmt/format.h>

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/io.hpp"
#include "nnjoule/version.hpp"
#include "schema.hpp"
#include "sqlite.hpp"
#include "store_detail.hpp"

namespace nnjoule::store {
namespace fs = std::filesystem;
using nlohmann::json;
using nlohmann::ordered_json;

namespace detail {

std::string now_utc() {
  const auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string shapes_text(const std::vector<graph::Shape>& shapes) {
  if (shapes.empty()) return {};
  return json(shapes).dump();
}

std::vector<graph::Shape> shapes_from_text(const std::string& text) {
  if (text.empty()) return {};
  return json::parse(text).get<std::vector<graph::Shape>>();
}

std::string flags_text(const std::vector<std::string>& flags) {
  std::string s;
  for (const auto& f : flags) {
    if (f.find(',') != std::string::npos) fail("quality flag '{}' contains a comma", f);
    if (!s.empty()) s += ',';
    s += f;
  }
  return s;
}

std::vector<std::string> flags_from_text(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

void check_storable(const Provenance& p, const std::string& what) {
  if (p.origin != Origin::kMeasured && p.origin != Origin::kEstimated &&
      p.origin != Origin::kImported) {
    fail(
        "{}: a {} number is not a measurement; only measured, estimated or imported rows are "
        "stored",
        what, origin_name(p.origin));
  }
  if (p.by.empty()) fail("{}: the {} row names no meter or source", what, origin_name(p.origin));
}

}  // namespace detail

using namespace detail;

namespace {

// Column list shared by every measurement table, in bind order.
constexpr const char* kMeasuredColumns =
    "latency_ms, latency_ci_ms, energy_mj, dynamic_energy_mj, energy_ci_mj, power_mw, "
    "idle_power_mw, n, origin, source, device_state, flags";
constexpr int kMeasuredCount = 12;

void bind_measured(sql::Stmt& st, int at, const Measured& m) {
  st.bind(at + 0, m.latency_ms);
  st.bind(at + 1, m.latency_ci_ms);
  st.bind(at + 2, m.energy_mj);
  st.bind(at + 3, m.dynamic_energy_mj);
  st.bind(at + 4, m.energy_ci_mj);
  st.bind(at + 5, m.power_mw);
  st.bind(at + 6, m.idle_power_mw);
  if (m.n > 0) {
    st.bind(at + 7, m.n);
  } else {
    st.bind_null(at + 7);
  }
  st.bind(at + 8, origin_name(m.provenance.origin));
  st.bind(at + 9, m.provenance.by);
  if (m.device_state.is_null()) {
    st.bind_null(at + 10);
  } else {
    st.bind(at + 10, m.device_state.dump());
  }
  st.bind_text_or_null(at + 11, flags_text(m.flags));
}

Measured read_measured(const sql::Stmt& st, int at) {
  Measured m;
  m.latency_ms = st.opt_f64(at + 0);
  m.latency_ci_ms = st.opt_f64(at + 1);
  m.energy_mj = st.opt_f64(at + 2);
  m.dynamic_energy_mj = st.opt_f64(at + 3);
  m.energy_ci_mj = st.opt_f64(at + 4);
  m.power_mw = st.opt_f64(at + 5);
  m.idle_power_mw = st.opt_f64(at + 6);
  m.n = st.is_null(at + 7) ? 0 : st.i64(at + 7);
  m.provenance.origin = parse_origin(st.text(at + 8));
  m.provenance.by = st.text(at + 9);
  if (!st.is_null(at + 10)) m.device_state = json::parse(st.text(at + 10));
  m.flags = flags_from_text(st.text(at + 11));
  return m;
}

// Runs an INSERT ... RETURNING id to its end and returns the id.
int64_t returned_id(sql::Stmt& st) {
  if (!st.step()) fail("an INSERT returned no id");
  const int64_t id = st.i64(0);
  st.run();
  return id;
}

std::string placeholders(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += i ? ", ?" : "?";
  return s;
}

std::string config_text(const kernels::KernelConfig& c) {
  return config_to_json(c).dump();
}

std::optional<kernels::KernelConfig> config_from_text(const std::string& text,
                                                      const std::string& context) {
  if (text.empty()) return std::nullopt;
  return config_from_json(ordered_json::parse(text), context);
}

// Rethrows a UNIQUE violation as a message about the duplicate measurement.
template <typename F>
auto unique_or(const sql::Db& db, const std::string& what, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Error& e) {
    if (db.unique_violation()) {
      fail("{}: {} is already stored (nothing was written)", db.path(), what);
    }
    throw;
  }
}

}  // namespace

namespace {

// What a path that is not a regular file is, for the error that refuses it before SQLite opens
// it (a FIFO would block the open, a device reads as an endless or empty file).
std::string special_file_kind(fs::file_type type) {
  switch (type) {
    case fs::file_type::character:
      return "a character device";
    case fs::file_type::block:
      return "a block device";
    case fs::file_type::fifo:
      return "a FIFO (named pipe)";
    case fs::file_type::socket:
      return "a socket";
    default:
      return "not a regular file";
  }
}

// Whether nnjoule may write `p` (a file or directory that exists). No write permission bit
// counts as read-only even for root, who could write it anyway: whoever took the bits away
// meant it to stay as it is. access() adds what the bits do not say: a read-only mount, another
// user's file.
bool writable_here(const fs::path& p) {
  std::error_code ec;
  const fs::perms perms = fs::status(p, ec).permissions();
  if (ec) return false;
  if ((perms & (fs::perms::owner_write | fs::perms::group_write | fs::perms::others_write)) ==
      fs::perms::none) {
    return false;
  }
  return access(p.c_str(), W_OK) == 0;
}

fs::path directory_of(const fs::path& file) {
  const fs::path parent = file.parent_path();
  return parent.empty() ? fs::path(".") : parent;
}

// Size of a regular file, 0 when there is none.
uintmax_t regular_size(const fs::path& p) {
  std::error_code ec;
  if (!fs::is_regular_file(p, ec)) return 0;
  const uintmax_t n = fs::file_size(p, ec);
  return ec ? 0 : n;
}

// Refuses a file that does not start with SQLite's header, saying what it is instead.
void require_sqlite_header(const fs::path& path, uintmax_t size) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot read the file: {}", path.string(), std::strerror(errno));
  std::string head(512, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<size_t>(in.gcount()));
  static const std::string kMagic("SQLite format 3\0", 16);
  if (head.compare(0, kMagic.size(), kMagic) == 0) return;
  // Text: no control characters, and mostly ASCII (UTF-8 text has some bytes above 0x7f).
  bool text = !head.empty();
  size_t high = 0;
  for (const unsigned char c : head) {
    if (c == 0x7f || (c < 0x20 && c != '\n' && c != '\r' && c != '\t')) {
      text = false;
      break;
    }
    high += c > 0x7f;
  }
  if (high * 10 > head.size() * 3) text = false;
  if (text) {
    std::string first = head.substr(0, head.find_first_of("\r\n"));
    if (first.size() > 40) first = first.substr(0, 40) + "...";
    fail(
        "{}: not an SQLite database but a text file (it begins \"{}\"), not an nnjoule dataset; "
        "nnjoule did not modify it",
        path.string(), first);
  }
  fail(
      "{}: not an SQLite database (a binary file of {} bytes without the SQLite header), not an "
      "nnjoule dataset; nnjoule did not modify it",
      path.string(), size);
}

}  // namespace

Store::Store(const fs::path& path) : Store(path, Options{}) {}

Store::Store(const fs::path& path, Options options) : impl_(std::make_unique<Impl>()) {
  impl_->path = path;
  impl_->target = path;
  impl_->options = options;
  const std::string file = path.string();
  if (sql::is_postgres_target(file)) {
    open_postgres();
    return;
  }
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);  // follows symlinks
  if (ec && ec != std::errc::no_such_file_or_directory && ec != std::errc::not_a_directory)
    fail("{}: cannot access the dataset file: {}", file, ec.message());
  const bool exists = fs::exists(st);
  if (exists && fs::is_directory(st)) fail("{}: is a directory, expected a dataset file", file);
  if (exists && !fs::is_regular_file(st)) {
    fail("{}: {}, not a dataset file (datasets are regular files); nnjoule did not open it", file,
         special_file_kind(st.type()));
  }
  if (options.read_only && !exists) fail("{}: no such dataset file", file);
  // SQLite keeps FILE-wal and FILE-shm beside the file a symbolic link points to.
  fs::path real = path;
  if (exists) {
    const fs::path canonical = fs::canonical(path, ec);
    if (!ec) real = canonical;
  }
  const fs::path dir = directory_of(real);
  if (!exists && !fs::is_directory(dir, ec)) {
    fail("{}: directory {} does not exist", file, dir.string());
  }
  const uintmax_t size = exists ? regular_size(path) : 0;
  const fs::path wal = real.string() + "-wal";
  const fs::path shm = real.string() + "-shm";
  const uintmax_t wal_size = regular_size(wal);
  if (size > 0) require_sqlite_header(path, size);
  if (exists && size == 0 && wal_size == 0 && options.read_only) {
    fail(
        "{}: an empty file (0 bytes), not an nnjoule dataset (nnjoule collect and nnjoule import "
        "make one)",
        file);
  }

  // Which way to open: see the constructor's comment in store.hpp.
  sql::Open mode = sql::Open::kReadWrite;
  const bool dir_writable = writable_here(dir);
  if (options.read_only) {
    const bool frozen = !writable_here(path) || !dir_writable;
    if (frozen && wal_size == 0) {
      mode = sql::Open::kImmutable;
    } else {
      if (!dir_writable && !fs::exists(shm, ec)) {
        fail(
            "{}: {} holds {} bytes not yet merged into the dataset (a collection that was "
            "killed?), and SQLite cannot read them without creating {} in the read-only "
            "directory {}: make the directory writable, or copy both files into a writable one, "
            "and read that; nothing was modified",
            file, wal.string(), wal_size, shm.filename().string(), dir.string());
      }
      mode = sql::Open::kReadOnly;
    }
  } else if (exists && !writable_here(path)) {
    fail(
        "{}: the file is read-only: cannot store measurements here (db info and db export can "
        "read it)",
        file);
  } else if (!dir_writable) {
    if (exists) {
      fail(
          "{}: the directory {} is read-only, and SQLite writes {} and {} beside the dataset: "
          "cannot store measurements here (db info and db export can read it)",
          file, dir.string(), wal.filename().string(), shm.filename().string());
    }
    fail("{}: cannot create the dataset: the directory {} is read-only", file, dir.string());
  }
  impl_->mode = mode;
  auto sqlite = std::make_unique<sql::SqliteDb>(path, mode);
  const sql::SqliteDb& db = *sqlite;
  impl_->db = std::move(sqlite);
  sqlite3_busy_timeout(db.get(), options.busy_timeout_ms);

  if (!options.read_only && sqlite3_db_readonly(db.get(), "main") == 1) {
    fail(
        "{}: the file is read-only: cannot store measurements here (db info and db export can "
        "read it)",
        file);
  }

  // First read: a damaged file fails here, before anything is written.
  int32_t app_id = 0;
  int64_t tables = 0;
  std::string table_list;
  try {
    sql::Stmt a(db, "PRAGMA application_id");
    if (a.step()) app_id = static_cast<int32_t>(a.i64(0));
    sql::Stmt v(db, "PRAGMA user_version");
    if (v.step()) impl_->version = static_cast<int>(v.i64(0));
    sql::Stmt t(db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name");
    while (t.step()) {
      ++tables;
      if (tables <= 4) table_list += (table_list.empty() ? "" : ", ") + t.text(0);
    }
  } catch (const Error& e) {
    fail("{}: cannot read the dataset: {}", file, std::string(e.what()).substr(file.size() + 2));
  }
  if (app_id != 0 && app_id != kApplicationId) {
    fail(
        "{}: an SQLite database of another application (application_id {:#x}), not an nnjoule "
        "dataset; nnjoule did not modify it",
        file, static_cast<uint32_t>(app_id));
  }
  if (app_id == 0 && tables > 0) {
    fail(
        "{}: an SQLite database but not an nnjoule dataset (tables: {}{}); nnjoule did not "
        "modify it",
        file, table_list, tables > 4 ? ", ..." : "");
  }
  if (app_id == 0 && impl_->version != 0) {
    fail(
        "{}: an SQLite database of another application (user_version {}, no tables), not an "
        "nnjoule dataset; nnjoule did not modify it",
        file, impl_->version);
  }
  if (app_id == kApplicationId && impl_->version == 0 && tables > 0) {
    fail(
        "{}: marked as an nnjoule dataset (application_id) but with no schema version "
        "(user_version 0; tables: {}{}): written by another program or damaged; nnjoule did not "
        "modify it",
        file, table_list, tables > 4 ? ", ..." : "");
  }
  if (impl_->version > kSchemaVersion) {
    std::string writer;
    try {
      sql::Stmt w(db, "SELECT value FROM meta WHERE key = 'schema_written_by'");
      if (w.step()) writer = " (" + w.text(0) + ")";
    } catch (const Error&) {
    }
    fail(
        "{}: dataset schema version {} was written by a newer nnjoule{}; this nnjoule {} reads "
        "schema versions up to {}: upgrade nnjoule to use this file",
        file, impl_->version, writer, kVersion, kSchemaVersion);
  }
  if (options.check_integrity && size > 0) {
    sql::Stmt q(db, "PRAGMA quick_check(1)");
    std::string result;
    try {
      if (q.step()) result = q.text(0);
    } catch (const Error& e) {
      result = std::string(e.what()).substr(file.size() + 2);
    }
    if (result != "ok") {
      fail(
          "{}: the dataset is corrupt ({}); nnjoule did not modify it (restore a backup or "
          "rebuild it with collect/import)",
          file, result);
    }
  }
  if (options.read_only) {
    if (impl_->version == 0) {
      fail(
          "{}: an SQLite database without tables, not an nnjoule dataset (nnjoule collect and "
          "nnjoule import make one)",
          file);
    }
    if (impl_->version < kOldestReadableSchemaVersion) {
      fail(
          "{}: dataset schema version {} is older than this nnjoule reads ({} to {}); run "
          "`nnjoule db migrate {}` to upgrade it",
          file, impl_->version, kOldestReadableSchemaVersion, kSchemaVersion, file);
    }
  } else {
    // WAL: readers never block the writer; FULL: a committed measurement survives a crash.
    sql::Stmt wal_mode(db, "PRAGMA journal_mode = WAL");
    wal_mode.run();
    db.exec("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;");
    if (options.max_pages > 0)
      db.exec(fmt::format("PRAGMA max_page_count = {}", options.max_pages));
    if (impl_->version < kSchemaVersion) {
      migrate(db, impl_->version);
      impl_->version = kSchemaVersion;
    }
  }
  db.exec("PRAGMA foreign_keys = ON");
}

void Store::open_postgres() {
  Impl& s = *impl_;
  s.db = sql::connect_postgres(s.target.string(), s.options.read_only, s.options.busy_timeout_ms);
  s.path = s.db->path();  // what messages and outputs name: the URL without its password
  s.mode = s.options.read_only ? sql::Open::kReadOnly : sql::Open::kReadWrite;
  const sql::Db& db = *s.db;
  s.version = postgres_schema_version(db);
  if (s.version > kSchemaVersion) {
    std::string writer;
    sql::Stmt w(db, "SELECT value FROM meta WHERE key = 'schema_written_by'");
    if (w.step()) writer = " (" + w.text(0) + ")";
    fail(
        "{}: dataset schema version {} was written by a newer nnjoule{}; this nnjoule {} reads "
        "schema versions up to {}: upgrade nnjoule to use this database",
        db.path(), s.version, writer, kVersion, kSchemaVersion);
  }
  if (s.options.read_only) {
    if (s.version == 0) {
      fail(
          "{}: an empty database, not an nnjoule dataset yet (nnjoule collect, import or db push "
          "make one)",
          db.path());
    }
    if (s.version < kOldestReadableSchemaVersion) {
      fail(
          "{}: dataset schema version {} is older than this nnjoule reads ({} to {}); run "
          "`nnjoule db migrate` on it to upgrade it",
          db.path(), s.version, kOldestReadableSchemaVersion, kSchemaVersion);
    }
  } else if (s.version < kSchemaVersion) {
    migrate(db, s.version);
    s.version = kSchemaVersion;
  }
}

Store::~Store() = default;
Store::Store(Store&&) noexcept = default;
Store& Store::operator=(Store&&) noexcept = default;

const fs::path& Store::path() const {
  return impl_->path;
}

const fs::path& Store::target() const {
  return impl_->target;
}
int Store::schema_version() const {
  return impl_->version;
}
bool Store::read_only() const {
  return impl_->options.read_only;
}
std::string Store::open_mode() const {
  switch (impl_->mode) {
    case sql::Open::kReadWrite:
      return "read-write";
    case sql::Open::kReadOnly:
      return "read-only";
    case sql::Open::kImmutable:
      return "read-only, immutable";
  }
  return "read-only";
}

bool is_postgres(const std::string& db) {
  return sql::is_postgres_target(db);
}

std::string Device::fingerprint() const {
  ordered_json j = {{"name", name},   {"soc", soc}, {"cpu", cpu},         {"arch", arch},
                    {"cores", cores}, {"os", os},   {"runtime", runtime}, {"details", details}};
  return content_hash(j.dump());
}

int64_t detail::find_or_add_device(const sql::Db& db, const Device& d) {
  if (d.name.empty()) fail("{}: a device needs a name", db.path());
  const std::string fp = d.fingerprint();
  sql::Stmt find(db, "SELECT id FROM devices WHERE fingerprint = ?");
  find.bind(1, fp);
  if (find.step()) return find.i64(0);
  sql::Stmt ins(db,
                "INSERT INTO devices (fingerprint, name, soc, cpu, arch, cores, os, runtime, "
                "details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (fingerprint) DO NOTHING "
                "RETURNING id");
  ins.bind(1, fp).bind(2, d.name);
  ins.bind_text_or_null(3, d.soc).bind_text_or_null(4, d.cpu).bind_text_or_null(5, d.arch);
  if (d.cores > 0) {
    ins.bind(6, d.cores);
  } else {
    ins.bind_null(6);
  }
  ins.bind_text_or_null(7, d.os).bind_text_or_null(8, d.runtime).bind(9, d.details.dump());
  if (ins.step()) {
    const int64_t id = ins.i64(0);
    ins.run();
    return id;
  }
  // Another worker of a farm stored the same device since the lookup (PostgreSQL; SQLite's
  // write transaction admits one writer).
  find.reset();
  find.bind(1, fp);
  if (find.step()) return find.i64(0);
  fail("{}: device '{}' was neither stored nor found", db.path(), d.name);
}

int64_t Store::ensure_device(const Device& d) {
  const sql::Db& db = *impl_->db;
  sql::Transaction tx(db);
  const int64_t id = find_or_add_device(db, d);
  tx.commit();
  return id;
}

namespace {
Device read_device(const sql::Stmt& st) {
  Device d;
  d.id = st.i64(0);
  d.name = st.text(1);
  d.soc = st.text(2);
  d.cpu = st.text(3);
  d.arch = st.text(4);
  d.cores = st.is_null(5) ? 0 : st.i64(5);
  d.os = st.text(6);
  d.runtime = st.text(7);
  d.details = json::parse(st.text(8));
  return d;
}
constexpr const char* kDeviceSelect =
    "SELECT id, name, soc, cpu, arch, cores, os, runtime, details FROM devices";
}  // namespace

std::vector<Device> Store::devices() const {
  sql::Stmt st(*impl_->db, std::string(kDeviceSelect) + " ORDER BY id");
  std::vector<Device> out;
  while (st.step()) out.push_back(read_device(st));
  return out;
}

Device Store::device(int64_t id) const {
  sql::Stmt st(*impl_->db, std::string(kDeviceSelect) + " WHERE id = ?");
  st.bind(1, id);
  if (!st.step()) fail("{}: no device with id {}", path().string(), id);
  return read_device(st);
}

namespace {
std::unordered_set<std::string> keys_of(const sql::Db& db, const char* table, int64_t device_id) {
  sql::Stmt st(db, fmt::format("SELECT key FROM {} WHERE device_id = ?", table));
  st.bind(1, device_id);
  std::unordered_set<std::string> keys;
  while (st.step()) keys.insert(st.text(0));
  return keys;
}

int64_t insert_kernel(const sql::Db& db, sql::Stmt& st, const KernelRow& r) {
  check_storable(r.m.provenance, fmt::format("{}: kernel '{}'", db.path(), r.key));
  if (r.key.empty()) fail("{}: a kernel measurement needs a key", db.path());
  if (r.kernel_type.empty())
    fail("{}: kernel measurement '{}' has no kernel type", db.path(), r.key);
  st.reset();
  st.bind(1, r.run_id).bind(2, r.device_id).bind(3, r.key).bind_text_or_null(4, r.source_id);
  st.bind(5, r.kernel_type);
  if (r.config) {
    st.bind(6, config_text(*r.config));
  } else {
    st.bind_null(6);
  }
  if (r.source_config.is_null()) {
    st.bind_null(7);
  } else {
    st.bind(7, r.source_config.dump());
  }
  st.bind(8, r.flops).bind(9, r.params).bind(10, r.bytes);
  st.bind_text_or_null(11, shapes_text(r.input_shapes));
  st.bind_text_or_null(12, shapes_text(r.output_shapes));
  if (r.threads > 0) {
    st.bind(13, r.threads);
  } else {
    st.bind_null(13);
  }
  bind_measured(st, 14, r.m);
  st.bind(14 + kMeasuredCount, r.created_at.empty() ? now_utc() : r.created_at);
  st.bind(15 + kMeasuredCount, r.dtype.empty() ? std::string("fp32") : r.dtype);
  return unique_or(db, fmt::format("kernel measurement '{}' of device {}", r.key, r.device_id),
                   [&] { return returned_id(st); });
}

constexpr const char* kKernelColumns =
    "run_id, device_id, key, source_id, kernel_type, config, source_config, flops, params, "
    "bytes, input_shapes, output_shapes, threads";
}  // namespace

std::unordered_set<std::string> Store::kernel_keys(int64_t device_id) const {
  return keys_of(*impl_->db, "kernel_measurements", device_id);
}

namespace {
std::string kernel_insert_sql() {
  return fmt::format(
      "INSERT INTO kernel_measurements ({}, {}, created_at, dtype) VALUES ({}) RETURNING id",
      kKernelColumns, kMeasuredColumns, placeholders(13 + kMeasuredCount + 2));
}
}  // namespace

int64_t detail::insert_kernel_row(const sql::Db& db, const KernelRow& row) {
  sql::Stmt st(db, kernel_insert_sql());
  return insert_kernel(db, st, row);
}

int64_t Store::add_kernel(const KernelRow& row) {
  const sql::Db& db = *impl_->db;
  sql::Transaction tx(db);
  sql::Stmt st(db, kernel_insert_sql());
  const int64_t id = insert_kernel(db, st, row);
  tx.commit();
  return id;
}

void Store::add_kernels(const std::vector<KernelRow>& rows) {
  const sql::Db& db = *impl_->db;
  sql::Transaction tx(db);
  sql::Stmt st(db, kernel_insert_sql());
  for (const auto& r : rows) insert_kernel(db, st, r);
  tx.commit();
}

std::vector<KernelRow> Store::kernels(const KernelQuery& q) const {
  std::string where = " WHERE 1 = 1";
  if (q.device_id) where += " AND device_id = ?1";
  if (!q.kernel_type.empty()) where += " AND kernel_type = ?2";
  if (q.origin) where += " AND origin = ?3";
  if (q.require_config) where += " AND config IS NOT NULL";
  if (q.exclude_flagged) where += " AND flags IS NULL";
  // Datasets before schema 5 (read-only opens are not migrated) ran every kernel in float32.
  const char* dtype = impl_->version >= 5 ? "dtype" : "'fp32'";
  sql::Stmt st(*impl_->db,
               fmt::format("SELECT id, {}, {}, created_at, {} FROM kernel_measurements{} "
                           "ORDER BY id",
                           kKernelColumns, kMeasuredColumns, dtype, where));
  if (q.device_id) st.bind(1, *q.device_id);
  if (!q.kernel_type.empty()) st.bind(2, q.kernel_type);
  if (q.origin) st.bind(3, origin_name(*q.origin));
  std::vector<KernelRow> out;
  while (st.step()) {
    KernelRow r;
    r.id = st.i64(0);
    r.run_id = st.i64(1);
    r.device_id = st.i64(2);
    r.key = st.text(3);
    r.source_id = st.text(4);
    r.kernel_type = st.text(5);
    r.config =
        config_from_text(st.text(6), fmt::format("{}: kernel row {}", path().string(), r.id));
    if (!st.is_null(7)) r.source_config = ordered_json::parse(st.text(7));
    r.flops = st.opt_f64(8);
    r.params = st.opt_i64(9);
    r.bytes = st.opt_i64(10);
    r.input_shapes = shapes_from_text(st.text(11));
    r.output_shapes = shapes_from_text(st.text(12));
    r.threads = st.is_null(13) ? 0 : st.i64(13);
    r.m = read_measured(st, 14);
    r.created_at = st.text(14 + kMeasuredCount);
    r.dtype = st.text(15 + kMeasuredCount);
    out.push_back(std::move(r));
  }
  return out;
}

// ---- models -------------------------------------------------------------------------------

std::optional<int64_t> Store::find_model(const std::string& hash) const {
  sql::Stmt st(*impl_->db, "SELECT id FROM models WHERE hash = ?");
  st.bind(1, hash);
  if (st.step()) return st.i64(0);
  return std::nullopt;
}

int64_t detail::insert_model(const sql::Db& db, const Model& m) {
  if (m.hash.empty()) fail("{}: model '{}' has no content hash", db.path(), m.name);
  sql::Stmt find(db, "SELECT id FROM models WHERE hash = ?");
  find.bind(1, m.hash);
  if (find.step()) return find.i64(0);
  sql::Stmt st(db,
               "INSERT INTO models (hash, hash_kind, name, family, variant, resolution, seed, "
               "source_id, flops, params, bytes, unknown_ops) VALUES (?, ?, ?, ?, ?, ?, ?, ?, "
               "?, ?, ?, ?) ON CONFLICT (hash) DO NOTHING RETURNING id");
  st.bind(1, m.hash).bind(2, m.hash_kind).bind(3, m.name).bind_text_or_null(4, m.family);
  st.bind(5, m.variant).bind(6, m.resolution).bind(7, static_cast<int64_t>(m.seed));
  st.bind_text_or_null(8, m.source_id).bind(9, m.flops).bind(10, m.params).bind(11, m.bytes);
  if (m.unknown_ops.empty()) {
    st.bind_null(12);
  } else {
    st.bind(12, json(m.unknown_ops).dump());
  }
  if (!st.step()) {
    // Another worker stored the same model since the lookup (PostgreSQL), with its kernels.
    find.reset();
    find.bind(1, m.hash);
    if (find.step()) return find.i64(0);
    fail("{}: model '{}' was neither stored nor found", db.path(), m.name);
  }
  const int64_t id = st.i64(0);
  st.run();
  sql::Stmt k(db,
              "INSERT INTO model_kernels (model_id, idx, kernel_type, name, config, flops, params, "
              "bytes, dtype) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
  for (size_t i = 0; i < m.kernels.size(); ++i) {
    const auto& mk = m.kernels[i];
    k.reset();
    k.bind(1, id).bind(2, static_cast<int64_t>(i)).bind(3, mk.type).bind_text_or_null(4, mk.name);
    k.bind(5, config_text(mk.config)).bind(6, mk.flops).bind(7, mk.params).bind(8, mk.bytes);
    k.bind(9, mk.dtype.empty() ? std::string("fp32") : mk.dtype);
    k.run();
  }
  return id;
}

int64_t detail::insert_model_row(const sql::Db& db, const ModelRow& r) {
  check_storable(r.m.provenance, fmt::format("{}: model measurement '{}'", db.path(), r.key));
  if (r.key.empty()) fail("{}: a model measurement needs a key", db.path());
  sql::Stmt st(db, fmt::format("INSERT INTO model_measurements (run_id, device_id, model_id, key, "
                               "threads, {}, created_at) VALUES ({}) RETURNING id",
                               kMeasuredColumns, placeholders(5 + kMeasuredCount + 1)));
  st.bind(1, r.run_id).bind(2, r.device_id).bind(3, r.model_id).bind(4, r.key);
  if (r.threads > 0) {
    st.bind(5, r.threads);
  } else {
    st.bind_null(5);
  }
  bind_measured(st, 6, r.m);
  st.bind(6 + kMeasuredCount, r.created_at.empty() ? now_utc() : r.created_at);
  const int64_t id =
      unique_or(db, fmt::format("model measurement '{}' of device {}", r.key, r.device_id),
                [&] { return returned_id(st); });
  if (!r.kernel_latency_ms.empty()) {
    sql::Stmt k(db,
                "INSERT INTO model_kernel_latency (measurement_id, idx, latency_ms) VALUES (?, ?, "
                "?)");
    for (size_t i = 0; i < r.kernel_latency_ms.size(); ++i) {
      k.reset();
      k.bind(1, id).bind(2, static_cast<int64_t>(i)).bind(3, r.kernel_latency_ms[i]).run();
    }
  }
  return id;
}

namespace {
void check_breakdown(const sql::Db& db, const Model& m, const ModelRow& r) {
  if (!r.kernel_latency_ms.empty() && r.kernel_latency_ms.size() != m.kernels.size()) {
    fail("{}: model '{}': {} kernel latencies for {} kernels", db.path(), m.name,
         r.kernel_latency_ms.size(), m.kernels.size());
  }
}
}  // namespace

int64_t Store::ensure_model(const Model& model) {
  const sql::Db& db = *impl_->db;
  sql::Transaction tx(db);
  const int64_t id = insert_model(db, model);
  tx.commit();
  return id;
}

int64_t detail::insert_model_measurement(const sql::Db& db, const Model& model, ModelRow row) {
  check_breakdown(db, model, row);
  row.model_id = insert_model(db, model);
  return insert_model_row(db, row);
}

int64_t Store::add_model_measurement(const Model& model, ModelRow row) {
  const sql::Db& db = *impl_->db;
  check_breakdown(db, model, row);  // before the transaction: a bad row opens none
  sql::Transaction tx(db);
  const int64_t id = insert_model_measurement(db, model, std::move(row));
  tx.commit();
  return id;
}

void Store::add_model_measurements(
    const std::vector<std::pair<Model, std::vector<ModelRow>>>& rows) {
  const sql::Db& db = *impl_->db;
  sql::Transaction tx(db);
  for (const auto& [model, measurements] : rows) {
    const int64_t model_id = insert_model(db, model);
    for (auto r : measurements) {
      check_breakdown(db, model, r);
      r.model_id = model_id;
      insert_model_row(db, r);
    }
  }
  tx.commit();
}

Model Store::model(int64_t id) const {
  const sql::Db& db = *impl_->db;
  sql::Stmt st(db,
               "SELECT id, hash, hash_kind, name, family, variant, resolution, seed, source_id, "
               "flops, params, bytes, unknown_ops FROM models WHERE id = ?");
  st.bind(1, id);
  if (!st.step()) fail("{}: no model with id {}", path().string(), id);
  Model m;
  m.id = st.i64(0);
  m.hash = st.text(1);
  m.hash_kind = st.text(2);
  m.name = st.text(3);
  m.family = st.text(4);
  m.variant = st.is_null(5) ? -1 : st.i64(5);
  m.resolution = st.is_null(6) ? 0 : st.i64(6);
  m.seed = static_cast<uint64_t>(st.i64(7));
  m.source_id = st.text(8);
  m.flops = st.f64(9);
  m.params = st.i64(10);
  m.bytes = st.i64(11);
  if (!st.is_null(12)) m.unknown_ops = json::parse(st.text(12)).get<std::vector<std::string>>();
  sql::Stmt k(db, fmt::format("SELECT kernel_type, name, config, flops, params, bytes, {} FROM "
                              "model_kernels WHERE model_id = ? ORDER BY idx",
                              impl_->version >= 5 ? "dtype" : "'fp32'"));
  k.bind(1, id);
  while (k.step()) {
    ModelKernel mk;
    mk.type = k.text(0);
    mk.name = k.text(1);
    mk.config = config_from_text(k.text(2), fmt::format("{}: model {}", path().string(), id))
                    .value_or(kernels::KernelConfig{});
    mk.flops = k.f64(3);
    mk.params = k.i64(4);
    mk.bytes = k.i64(5);
    mk.dtype = k.text(6);
    m.kernels.push_back(std::move(mk));
  }
  return m;
}

std::vector<Model> Store::models() const {
  std::vector<int64_t> ids;
  sql::Stmt st(*impl_->db, "SELECT id FROM models ORDER BY id");
  while (st.step()) ids.push_back(st.i64(0));
  std::vector<Model> out;
  out.reserve(ids.size());
  for (int64_t id : ids) out.push_back(model(id));
  return out;
}

std::unordered_set<std::string> Store::model_keys(int64_t device_id) const {
  return keys_of(*impl_->db, "model_measurements", device_id);
}

namespace {
std::string row_where(const RowQuery& q) {
  std::string where = " WHERE 1 = 1";
  if (q.device_id) where += " AND device_id = ?1";
  if (q.origin) where += " AND origin = ?2";
  if (q.exclude_flagged) where += " AND flags IS NULL";
  return where;
}
void bind_row_query(sql::Stmt& st, const RowQuery& q) {
  if (q.device_id) st.bind(1, *q.device_id);
  if (q.origin) st.bind(2, origin_name(*q.origin));
}
}  // namespace

std::vector<ModelRow> Store::model_measurements(const RowQuery& q) const {
  const sql::Db& db = *impl_->db;
  sql::Stmt st(db, fmt::format("SELECT id, run_id, device_id, model_id, key, threads, {}, "
                               "created_at FROM model_measurements{} ORDER BY id",
                               kMeasuredColumns, row_where(q)));
  bind_row_query(st, q);
  std::vector<ModelRow> out;
  while (st.step()) {
    ModelRow r;
    r.id = st.i64(0);
    r.run_id = st.i64(1);
    r.device_id = st.i64(2);
    r.model_id = st.i64(3);
    r.key = st.text(4);
    r.threads = st.is_null(5) ? 0 : st.i64(5);
    r.m = read_measured(st, 6);
    r.created_at = st.text(6 + kMeasuredCount);
    out.push_back(std::move(r));
  }
  sql::Stmt k(db,
              "SELECT idx, latency_ms FROM model_kernel_latency WHERE measurement_id = ? ORDER BY "
              "idx");
  for (auto& r : out) {
    k.reset();
    k.bind(1, r.id);
    while (k.step()) {
      const auto idx = static_cast<size_t>(k.i64(0));
      if (r.kernel_latency_ms.size() <= idx) r.kernel_latency_ms.resize(idx + 1);
      r.kernel_latency_ms[idx] = k.opt_f64(1);
    }
  }
  return out;
}

// ---- applications -------------------------------------------------------------------------

std::unordered_set<std::string> Store::application_keys(int64_t device_id) const {
  return keys_of(*impl_->db, "application_measurements", device_id);
}

int64_t detail::insert_application(const sql::Db& db, const AppRow& r) {
  check_storable(r.m.provenance, fmt::format("{}: application measurement '{}'", db.path(), r.key));
  if (r.key.empty()) fail("{}: an application measurement needs a key", db.path());
  if (r.app.empty() || r.model.empty() || r.delegate.empty()) {
    fail("{}: application measurement '{}' needs an app, a model and a delegate", db.path(), r.key);
  }
  sql::Stmt st(db, fmt::format("INSERT INTO application_measurements (run_id, device_id, key, "
                               "app, model, configuration, delegate, threads, {}, details, "
                               "created_at) VALUES ({}) RETURNING id",
                               kMeasuredColumns, placeholders(8 + kMeasuredCount + 2)));
  st.bind(1, r.run_id).bind(2, r.device_id).bind(3, r.key).bind(4, r.app).bind(5, r.model);
  st.bind(6, r.configuration).bind(7, r.delegate);
  if (r.threads > 0) {
    st.bind(8, r.threads);
  } else {
    st.bind_null(8);
  }
  bind_measured(st, 9, r.m);
  st.bind(9 + kMeasuredCount, r.details.dump())
      .bind(10 + kMeasuredCount, r.created_at.empty() ? now_utc() : r.created_at);
  const int64_t id =
      unique_or(db, fmt::format("application measurement '{}' of device {}", r.key, r.device_id),
                [&] { return returned_id(st); });
  return id;
}

int64_t Store::add_application(const AppRow& r) {
  const sql::Db& db = *impl_->db;
  sql::Transaction tx(db);
  const int64_t id = insert_application(db, r);
  tx.commit();
  return id;
}

std::vector<AppRow> Store::applications(const RowQuery& q) const {
  sql::Stmt st(*impl_->db,
               fmt::format("SELECT id, run_id, device_id, key, app, model, configuration, "
                           "delegate, threads, {}, details, created_at FROM "
                           "application_measurements{} ORDER BY id",
                           kMeasuredColumns, row_where(q)));
  bind_row_query(st, q);
  std::vector<AppRow> out;
  while (st.step()) {
    AppRow r;
    r.id = st.i64(0);
    r.run_id = st.i64(1);
    r.device_id = st.i64(2);
    r.key = st.text(3);
    r.app = st.text(4);
    r.model = st.text(5);
    r.configuration = st.text(6);
    r.delegate = st.text(7);
    r.threads = st.is_null(8) ? 0 : st.i64(8);
    r.m = read_measured(st, 9);
    r.details = json::parse(st.text(9 + kMeasuredCount));
    r.created_at = st.text(10 + kMeasuredCount);
    out.push_back(std::move(r));
  }
  return out;
}

// ---- keys and configs ---------------------------------------------------------------------

ordered_json config_to_json(const kernels::KernelConfig& c) {
  ordered_json j = ordered_json::object();
  for (const auto& [k, v] : c.items()) j[k] = v;
  return j;
}

kernels::KernelConfig config_from_json(const ordered_json& j, const std::string& context) {
  if (!j.is_object()) fail("{}: config must be a JSON object, got {}", context, j.type_name());
  kernels::KernelConfig c;
  for (const auto& [k, v] : j.items()) {
    if (v.is_number_integer()) {
      c.set(k, v.get<int64_t>());
    } else if (v.is_number_float() &&
               v.get<double>() == static_cast<double>(static_cast<int64_t>(v.get<double>()))) {
      c.set(k, static_cast<int64_t>(v.get<double>()));
    } else {
      fail("{}: config key '{}' must be an integer, got {}", context, k, v.dump());
    }
  }
  return c;
}

std::string kernel_key(const std::string& type, const kernels::KernelConfig& config,
                       const json& settings) {
  ordered_json j = {{"type", type}, {"config", config_to_json(config)}, {"settings", settings}};
  return "k-" + content_hash(j.dump());
}

std::string model_key(const std::string& model_hash, const json& settings) {
  ordered_json j = {{"model", model_hash}, {"settings", settings}};
  return "m-" + content_hash(j.dump());
}

}  // namespace nnjoule::store
