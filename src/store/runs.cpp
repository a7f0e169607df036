// Runs: begin / end, the heartbeat, and telling a run whose process is gone (killed, host
// rebooted) from one still running.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "nnjoule/common/error.hpp"
#include "nnjoule/store/store.hpp"
#include "nnjoule/version.hpp"
#include "store_detail.hpp"

namespace nnjoule::store {
using detail::now_utc;
using nlohmann::json;

namespace {

std::string first_line(const std::string& file) {
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r' || line.back() == ' '))
    line.pop_back();
  return line;
}

// Field 22 of /proc/<pid>/stat: when the process started, in clock ticks after boot. nullopt
// when the file cannot be read.
std::optional<int64_t> stat_start_time(const std::string& stat_file, bool* zombie = nullptr) {
  std::ifstream in(stat_file);
  if (!in) return std::nullopt;
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The command name (field 2) is in parentheses and may hold spaces or ')'.
  const size_t close = text.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(text.substr(close + 1));
  std::string field;
  for (int i = 3; i <= 22; ++i) {
    if (!(rest >> field)) return std::nullopt;
    // A zombie (killed, not yet reaped by its parent) or dead process is gone.
    if (i == 3 && (field == "Z" || field == "X" || field == "x")) {
      if (zombie) *zombie = true;
      return std::nullopt;
    }
  }
  try {
    return std::stoll(field);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// "2026-01-02T03:04:05Z" (what now_utc writes) as a time point; nullopt for anything else.
std::optional<std::chrono::system_clock::time_point> parse_utc(const std::string& s) {
  std::tm tm{};
  char z = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &z) != 7 ||
      z != 'Z') {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  const time_t t = timegm(&tm);
  if (t == static_cast<time_t>(-1)) return std::nullopt;
  return std::chrono::system_clock::from_time_t(t);
}

// The latest created_at of a run's measurement rows; empty when it stored none.
std::string last_row_at(const sql::Db& db, int64_t run_id) {
  std::string last;
  for (const char* table :
       {"kernel_measurements", "model_measurements", "application_measurements"}) {
    sql::Stmt st(db, fmt::format("SELECT MAX(created_at) FROM {} WHERE run_id = ?", table));
    st.bind(1, run_id);
    if (st.step() && !st.is_null(0)) last = std::max(last, st.text(0));
  }
  return last;
}

}  // namespace

ProcessHost ProcessHost::current() {
  ProcessHost h;
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) == 0) h.host = name;
  h.boot_id = first_line("/proc/sys/kernel/random/boot_id");
  if (stat_start_time("/proc/self/stat")) {
    h.process_start = [](int64_t pid) -> std::optional<int64_t> {
      if (pid <= 0) return std::nullopt;
      bool zombie = false;
      if (auto start = stat_start_time(fmt::format("/proc/{}/stat", pid), &zombie)) return start;
      if (zombie) return std::nullopt;
      // /proc may hide other users' processes (hidepid): ask the kernel whether it exists.
      if (kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM) return 0;
      return std::nullopt;
    };
  }
  return h;
}

std::string interrupted_reason(const Run& run, const ProcessHost& here,
                               std::chrono::system_clock::time_point now,
                               const std::string& last_row) {
  if (run.status != "running") return {};
  const bool same_host =
      !run.host.empty() && run.host == here.host && !run.boot_id.empty() && !here.boot_id.empty();
  if (same_host && run.boot_id != here.boot_id) {
    return fmt::format("its host {} has rebooted since (its boot id changed)", run.host);
  }
  if (same_host && run.pid > 0 && here.process_start) {
    const auto start = here.process_start(run.pid);
    if (!start) return fmt::format("its process (pid {} on {}) is gone", run.pid, run.host);
    if (*start != 0 && run.pid_start != 0 && *start != run.pid_start) {
      return fmt::format("its process (pid {} on {}) is gone (the pid is another process's now)",
                         run.pid, run.host);
    }
    return {};
  }
  // The process cannot be checked from here: the last sign of life decides.
  std::string last = run.started_at;
  last = std::max(last, run.heartbeat_at);
  last = std::max(last, last_row);
  const auto at = parse_utc(last);
  if (!at || now - *at <= kHeartbeatStaleAfter) return {};
  return fmt::format("no heartbeat since {} (over {} minutes; {} cannot be checked from here)",
                     last, kHeartbeatStaleAfter.count(),
                     run.host.empty() ? std::string("its process") : "its host " + run.host);
}

int64_t Store::begin_run(const Run& run) {
  detail::check_storable(run.provenance, path().string() + ": run");
  if (run.kind.empty()) fail("{}: a run needs a kind", path().string());
  const ProcessHost here = ProcessHost::current();
  const auto start = stat_start_time("/proc/self/stat");
  const sql::Db& db = *impl_->db;
  const std::string now = now_utc();
  sql::Transaction tx(db);
  sql::Stmt st(db,
               "INSERT INTO runs (device_id, kind, origin, source, nnjoule_version, started_at, "
               "status, settings, command, heartbeat_at, host, boot_id, pid, pid_start) VALUES "
               "(?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?) RETURNING id");
  st.bind(1, run.device_id).bind(2, run.kind).bind(3, origin_name(run.provenance.origin));
  st.bind(4, run.provenance.by).bind(5, std::string(kVersion)).bind(6, now);
  // A password given in a server's URL or connection string never lands in the dataset.
  st.bind(7, run.settings.dump()).bind_text_or_null(8, sql::without_passwords(run.command));
  st.bind(9, now).bind_text_or_null(10, here.host).bind_text_or_null(11, here.boot_id);
  st.bind(12, static_cast<int64_t>(getpid())).bind(13, start);
  if (!st.step()) fail("{}: storing the run returned no id", path().string());
  const int64_t id = st.i64(0);
  st.run();
  tx.commit();
  return id;
}

void Store::end_run(int64_t run_id, const std::string& status) {
  const sql::Db& db = *impl_->db;
  sql::Transaction tx(db);
  sql::Stmt st(db, "UPDATE runs SET status = ?, finished_at = ? WHERE id = ?");
  st.bind(1, status).bind(2, now_utc()).bind(3, run_id).run();
  if (db.changes() != 1) fail("{}: no run with id {}", path().string(), run_id);
  tx.commit();
}

void Store::heartbeat(int64_t run_id) {
  const sql::Db& db = *impl_->db;
  sql::Transaction tx(db);
  sql::Stmt st(db, "UPDATE runs SET heartbeat_at = ? WHERE id = ?");
  st.bind(1, now_utc()).bind(2, run_id).run();
  if (db.changes() != 1) fail("{}: no run with id {}", path().string(), run_id);
  tx.commit();
}

std::vector<Run> Store::runs() const {
  const sql::Db& db = *impl_->db;
  // Schema 2 has no liveness columns (read-only opens read it).
  const char* liveness = impl_->version >= 3 ? "heartbeat_at, host, boot_id, pid, pid_start"
                                             : "NULL, NULL, NULL, NULL, NULL";
  sql::Stmt st(db, fmt::format("SELECT id, device_id, kind, origin, source, nnjoule_version, "
                               "started_at, finished_at, status, settings, command, {} FROM runs "
                               "ORDER BY id",
                               liveness));
  std::vector<Run> out;
  std::optional<ProcessHost> here;
  const auto now = std::chrono::system_clock::now();
  while (st.step()) {
    Run r;
    r.id = st.i64(0);
    r.device_id = st.i64(1);
    r.kind = st.text(2);
    r.provenance = {parse_origin(st.text(3)), st.text(4)};
    r.nnjoule_version = st.text(5);
    r.started_at = st.text(6);
    r.finished_at = st.text(7);
    r.status = st.text(8);
    r.settings = json::parse(st.text(9));
    r.command = st.text(10);
    r.heartbeat_at = st.text(11);
    r.host = st.text(12);
    r.boot_id = st.text(13);
    r.pid = st.is_null(14) ? 0 : st.i64(14);
    r.pid_start = st.is_null(15) ? 0 : st.i64(15);
    if (r.status == "running") {
      if (!here) here = ProcessHost::current();
      // A run from before heartbeats: its latest measurement is its last sign of life.
      const std::string last = r.heartbeat_at.empty() ? last_row_at(db, r.id) : "";
      r.status_note = interrupted_reason(r, *here, now, last);
      if (!r.status_note.empty()) r.status = "interrupted";
    }
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<Run> Store::close_interrupted_runs(int64_t device_id, const std::string& kind) {
  const sql::Db& db = *impl_->db;
  std::vector<Run> closed;
  for (auto& r : runs()) {
    if (r.device_id != device_id || r.kind != kind || r.status_note.empty()) continue;
    sql::Transaction tx(db);
    sql::Stmt st(db, "UPDATE runs SET status = 'interrupted' WHERE id = ? AND status = 'running'");
    st.bind(1, r.id).run();
    const bool changed = db.changes() == 1;
    tx.commit();
    if (changed) closed.push_back(std::move(r));
  }
  return closed;
}

int64_t Store::run_rows(int64_t run_id) const {
  int64_t n = 0;
  for (const char* table :
       {"kernel_measurements", "model_measurements", "application_measurements"}) {
    sql::Stmt st(*impl_->db, fmt::format("SELECT COUNT(*) FROM {} WHERE run_id = ?", table));
    st.bind(1, run_id);
    if (st.step()) n += st.i64(0);
  }
  return n;
}

// ---- Heartbeat ------------------------------------------------------------------------------

struct Heartbeat::Impl {
  Store store;
  int64_t run_id = 0;
  std::chrono::milliseconds every;
  std::mutex mutex;
  std::condition_variable wake;
  bool stop = false;
  std::atomic<int64_t> beats{0};
  std::thread thread;

  Impl(const std::filesystem::path& path, int64_t run, std::chrono::milliseconds interval)
      : store(path, Store::Options{.busy_timeout_ms = 2000, .check_integrity = false}),
        run_id(run),
        every(interval) {}

  void loop() {
    std::unique_lock lock(mutex);
    while (!wake.wait_for(lock, every, [&] { return stop; })) {
      lock.unlock();
      try {
        store.heartbeat(run_id);
        ++beats;
      } catch (const std::exception&) {
        // Retried at the next beat; the collection reports store failures itself.
      }
      lock.lock();
    }
  }
};

Heartbeat::Heartbeat(const std::filesystem::path& path, int64_t run_id,
                     std::chrono::milliseconds every)
    : impl_(std::make_unique<Impl>(path, run_id, every)) {
  impl_->store.heartbeat(run_id);  // fails here, not silently in the thread, for a bad run id
  ++impl_->beats;
  impl_->thread = std::thread([impl = impl_.get()] { impl->loop(); });
}

Heartbeat::~Heartbeat() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stop = true;
  }
  impl_->wake.notify_all();
  impl_->thread.join();
}

int64_t Heartbeat::beats() const {
  return impl_->beats.load();
}

}  // namespace nnjoule::store
