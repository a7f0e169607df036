#pragma once
// The energy dataset: one SQLite file (or one PostgreSQL database, for a device farm) holding
// devices, runs and measurements of kernels, models and applications, each row with its origin
// (measured / estimated / imported) and the meter or dataset it came from. WAL mode: readers
// never block the collector, and every measurement is its own transaction, so an interrupted
// collection loses at most the measurement in flight. Schema and migrations: docs/datasets.md.
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/provenance.hpp"
#include "nnjoule/graph/graph.hpp"
#include "nnjoule/kernels/kernel.hpp"

namespace nnjoule::store {

// The schema version this nnjoule writes; older files are migrated when opened for writing.
inline constexpr int kSchemaVersion = 6;
// Read-only opens read schema versions from this one on (version 3 only added the runs'
// liveness columns, so a read-only dataset of version 2 stays readable); older files need
// `nnjoule db migrate`.
inline constexpr int kOldestReadableSchemaVersion = 2;

// A running run's heartbeat: written every kHeartbeatEvery while its collection runs. Where the
// process that writes it cannot be checked (another host), a run whose last heartbeat is older
// than kHeartbeatStaleAfter counts as interrupted.
inline constexpr std::chrono::seconds kHeartbeatEvery{30};
inline constexpr std::chrono::minutes kHeartbeatStaleAfter{10};

// The hardware and software a measurement ran on.
struct Device {
  int64_t id = 0;
  std::string name;     // "Huawei P40 Pro", or the host name of a machine nnjoule ran on
  std::string soc;      // "Kirin 990 5G"
  std::string cpu;      // "Cortex-A76", or the CPU model string
  std::string arch;     // "aarch64", "x86_64"
  int64_t cores = 0;    // 0 = not known
  std::string os;       // "Android 10", "Debian GNU/Linux 12 (Linux 6.1.0)"
  std::string runtime;  // "TFLite (CPU)", "XNNPACK"
  nlohmann::json details = nlohmann::json::object();  // anything else worth keeping

  // Content hash of every field but id: the same description finds the same row.
  std::string fingerprint() const;
};

// One collection or import: the settings every row of it shares.
struct Run {
  int64_t id = 0;
  int64_t device_id = 0;
  std::string kind;       // "kernels", "models", "applications", "import"
  Provenance provenance;  // measured (meter) / estimated (model) / imported (dataset)
  nlohmann::json settings = nlohmann::json::object();  // protocol settings, threads, seed, ...
  std::string command;                                 // the command line that started it
  // Filled by the store:
  std::string nnjoule_version;
  std::string started_at;   // ISO 8601, UTC
  std::string finished_at;  // empty while running, and when killed (the end is not known)
  // "running", "complete", "interrupted", "failed". A run stored as "running" whose process is
  // gone (see interrupted_reason) reads as "interrupted", with the reason in status_note.
  std::string status;
  std::string status_note;
  // Liveness (schema 3; empty / 0 in older files): the last heartbeat (ISO 8601, UTC), and the
  // host name, boot id, process id and process start time (clock ticks after boot) of the
  // process that began the run.
  std::string heartbeat_at;
  std::string host;
  std::string boot_id;
  int64_t pid = 0;
  int64_t pid_start = 0;
};

// The host a reader runs on, to tell whether a run left "running" still has its process.
struct ProcessHost {
  std::string host;     // host name
  std::string boot_id;  // /proc/sys/kernel/random/boot_id; empty when unreadable
  // Start time (clock ticks after boot) of process `pid`, nullopt when no such process runs;
  // empty when processes cannot be looked up (no /proc).
  std::function<std::optional<int64_t>(int64_t pid)> process_start;
  static ProcessHost current();
};

// Why a run stored as "running" is taken as interrupted; empty while it may still be running
// (and for any other status). Same host and boot: its process is gone, or its pid belongs to a
// later process. Same host, other boot id: the host rebooted. Otherwise (another host, or a run
// without liveness columns) its last sign of life, the heartbeat or else `last_row_at` (its
// latest measurement) or its start, is older than kHeartbeatStaleAfter.
std::string interrupted_reason(const Run& run, const ProcessHost& here,
                               std::chrono::system_clock::time_point now,
                               const std::string& last_row_at = "");

// What a measurement row holds besides its subject. Unknown quantities stay empty (NULL in the
// file), never 0.
struct Measured {
  std::optional<double> latency_ms;         // per inference
  std::optional<double> latency_ci_ms;      // 95% CI half-width
  std::optional<double> energy_mj;          // total energy per inference
  std::optional<double> dynamic_energy_mj;  // energy above the idle baseline
  std::optional<double> energy_ci_mj;       // 95% CI half-width of energy_mj
  std::optional<double> power_mw;           // average power while running
  std::optional<double> idle_power_mw;      // idle baseline
  int64_t n = 0;                            // repetitions behind the numbers (0 = not known)
  Provenance provenance;                    // origin and meter / dataset label
  std::vector<std::string> flags;           // quality flags: "implausible_power", ...
  nlohmann::json device_state;              // clocks, governor, temperature (null = not recorded)
};

struct KernelRow {
  int64_t id = 0;
  int64_t run_id = 0;
  int64_t device_id = 0;
  std::string key;             // resume key: unique per device
  std::string source_id;       // the dataset's own ID ("V6UC43"); empty for collected rows
  std::string kernel_type;     // catalogue name: "conv-bn-relu"
  std::string dtype = "fp32";  // "int8" for a kernel run on int8 tensors (kernels::Kernel::dtype)
  std::optional<kernels::KernelConfig> config;  // empty when the source gave none
  nlohmann::ordered_json source_config;         // the config exactly as an imported file wrote it
  std::optional<double> flops;
  std::optional<int64_t> params;
  std::optional<int64_t> bytes;
  std::vector<graph::Shape> input_shapes;   // NCHW
  std::vector<graph::Shape> output_shapes;  // NCHW
  int64_t threads = 0;                      // 0 = not known
  Measured m;
  std::string created_at;
};

struct ModelKernel {
  std::string type;
  std::string name;
  kernels::KernelConfig config;
  double flops = 0;
  int64_t params = 0;
  int64_t bytes = 0;
  std::string dtype = "fp32";  // kernels::Kernel::dtype
};

// A model, measured or not: described once, measured on any number of devices.
struct Model {
  int64_t id = 0;
  std::string hash;       // content hash: of the ONNX file, or of the imported IR graph
  std::string hash_kind;  // "onnx" or "nnmeter-ir"
  std::string name;       // "resnet18-v7-3", the nn-Meter record id, ...
  std::string family;     // zoo family or the dataset's family ("resnet18", "mobilenetv2")
  int64_t variant = -1;   // -1 = the base model
  int64_t resolution = 0;
  uint64_t seed = 0;
  std::string source_id;  // the dataset's ID for imported models
  double flops = 0;
  int64_t params = 0;
  int64_t bytes = 0;
  std::vector<ModelKernel> kernels;      // in execution order
  std::vector<std::string> unknown_ops;  // "OpType node" of ops no kernel type covers
};

struct ModelRow {
  int64_t id = 0;
  int64_t run_id = 0;
  int64_t device_id = 0;
  int64_t model_id = 0;
  std::string key;  // resume key: unique per device
  int64_t threads = 0;
  Measured m;
  // Latency of each kernel of the model (index = Model::kernels index); empty when not broken
  // down, an empty entry for a kernel without a timing.
  std::vector<std::optional<double>> kernel_latency_ms;
  std::string created_at;
};

// An application scenario (issue 7's suites): average power consumption (APC, in power_mw)
// and energy per inference (ECI, in energy_mj) of one model under one configuration.
struct AppRow {
  int64_t id = 0;
  int64_t run_id = 0;
  int64_t device_id = 0;
  std::string key;            // resume key: unique per device
  std::string app;            // application / benchmark-suite entry: "image-classification"
  std::string model;          // model name or ONNX hash
  std::string configuration;  // free-form configuration label: "fp32 224x224 batch 1"
  std::string delegate;       // "cpu", "xnnpack", "gpu", "nnapi", ...
  int64_t threads = 0;
  Measured m;
  nlohmann::json details = nlohmann::json::object();
  std::string created_at;
};

struct KernelQuery {
  std::optional<int64_t> device_id;
  std::string kernel_type;  // empty = all
  std::optional<Origin> origin;
  bool require_config = false;  // only rows usable as training features
  bool exclude_flagged = false;
};

struct RowQuery {
  std::optional<int64_t> device_id;
  std::optional<Origin> origin;
  bool exclude_flagged = false;
};

// One item of a collection plan in the work queue (schema 4; devices and failures: schema 6).
struct WorkItem {
  int64_t id = 0;
  std::string plan;
  std::string device;  // the device label it is for; empty: any device
  std::string key;     // unique within the plan and device
  nlohmann::json payload = nlohmann::json::object();
  std::string worker;    // who holds the lease
  int64_t attempts = 0;  // claims so far, this one included: fences a worker whose lease was lost
};

struct PlanStatus {
  int64_t pending = 0;
  int64_t claimed = 0;  // under a lease (expired ones included)
  int64_t expired = 0;  // claimed, lease expired: claimable again
  int64_t done = 0;
  int64_t failed = 0;  // could not be measured (Store::fail_work); never claimed again
  int64_t total() const { return pending + claimed + done + failed; }
};

// A plan's state for `nnjoule farm status`: counts per device label, the leases held now and
// the items that failed.
struct WorkSummary {
  struct Device {
    std::string plan, device;  // device "" = items for any device
    PlanStatus status;
  };
  struct Lease {
    std::string plan, device, key, worker;
    int64_t attempts = 0;
    double expires_in_s = 0;  // negative: expired, claimable again
  };
  struct Failure {
    std::string plan, device, key, worker, error;
  };
  std::vector<Device> devices;
  std::vector<Lease> leases;
  std::vector<Failure> failures;
  nlohmann::json to_json() const;
  std::string to_text() const;
};

// Row counts for `nnjoule db info`.
struct Info {
  std::string path;
  int schema_version = 0;
  std::string opened;      // Store::open_mode()
  std::string created_by;  // nnjoule version that created the file
  std::map<std::string, int64_t> table_rows;
  struct DeviceCount {
    Device device;
    int64_t kernels = 0, kernels_with_config = 0, kernels_flagged = 0;
    int64_t models = 0, applications = 0;
    std::map<std::string, int64_t> kernels_by_type;
    std::map<std::string, int64_t> rows_by_origin;  // "imported (DeepEn2023)" -> n
  };
  std::vector<DeviceCount> devices;
  std::vector<Run> runs;
  WorkSummary work;  // the farm plans' items per device (no leases or failures listed)
  nlohmann::json to_json() const;
  std::string to_text() const;
};

// What a worker stores with the completion of its item (Store::complete_work).
struct WorkResults {
  std::vector<KernelRow> kernels;
  std::vector<std::pair<Model, ModelRow>> models;
};

// Thrown by Store::complete_work and Store::fail_work when the worker no longer holds the item.
class LeaseLost : public Error {
 public:
  using Error::Error;
};

// What Store::merge_from did. Rows are matched by content keys, never by row ids: devices by
// fingerprint, runs by device, kind, source, start, host, pid and settings, models by content hash,
// measurements by device and resume key. A row already there with the same numbers is counted
// as `same`; one with other numbers is a conflict: the destination's row is kept and the
// difference listed.
struct MergeReport {
  std::string from, to;
  int64_t devices_added = 0, runs_added = 0, models_added = 0;
  int64_t kernels_added = 0, kernels_same = 0;
  int64_t model_rows_added = 0, model_rows_same = 0;
  int64_t app_rows_added = 0, app_rows_same = 0;
  std::vector<std::string> conflicts;  // one line each
  std::string to_text() const;
};

// A whole table as strings/numbers, for export.
struct TableDump {
  std::string name;
  std::vector<std::string> columns;
  std::vector<std::vector<nlohmann::json>> rows;  // null, integer, real or string cells
};

class Store {
 public:
  struct Options {
    bool read_only = false;
    int busy_timeout_ms = 10000;
    // Caps the file at this many pages (0 = no cap): a size budget, and how tests simulate a
    // full disk.
    int64_t max_pages = 0;
    bool check_integrity = true;  // PRAGMA quick_check on open (refuses a corrupt file)
  };

  // `path` may name a PostgreSQL server instead of a file: a postgresql:// URL or a libpq
  // connection string ("host=... dbname=...", "service=farm"); the schema is the same, made or
  // migrated on first use (in the connection's current schema, which must hold no other
  // tables). An unreachable server is one error naming its host and port and libpq's reason.
  // busy_timeout_ms is then the lock timeout; max_pages and check_integrity are SQLite's only.
  //
  // Opens (read-write: creates) the dataset. Refuses, with a one-line error naming the file and
  // saying what it is: a directory, a device, FIFO or socket (before opening it), an empty file
  // (read-only), a file that is not SQLite (text or binary), an SQLite file that is not an
  // nnjoule dataset (another application_id or user_version, other tables, no tables), a
  // corrupt file, a schema from a newer nnjoule (naming both versions), a dataset that is
  // read-only here (the file or its directory) opened for writing. A file with an older schema
  // is migrated (read-write) or refused with the command that migrates it.
  //
  // Read-only opens of a dataset that is read-only here (no write permission bit on the file or
  // its directory, or this process may not write them) read the file as an immutable one:
  // nothing is created beside it. When FILE-wal holds data (a killed collection), they use
  // SQLite's WAL reader instead so that no committed row is missed; if that needs FILE-shm and
  // the directory cannot get one, the open is refused saying so. Other read-only opens use the
  // WAL reader and see what a running collection commits.
  explicit Store(const std::filesystem::path& path);
  Store(const std::filesystem::path& path, Options options);
  ~Store();
  Store(Store&&) noexcept;
  Store& operator=(Store&&) noexcept;

  // The dataset file, or a server's URL / connection string without its password: what
  // messages and outputs may show.
  const std::filesystem::path& path() const;
  // What the store was opened with (a password included): to open another connection.
  const std::filesystem::path& target() const;
  int schema_version() const;
  bool read_only() const;
  // "read-write", "read-only" (the WAL reader) or "read-only, immutable".
  std::string open_mode() const;

  // Devices: found by fingerprint, inserted when new.
  int64_t ensure_device(const Device& d);
  std::vector<Device> devices() const;
  Device device(int64_t id) const;  // throws Error naming the id when absent

  // Records the calling process (host, boot id, pid, start time) as the run's process, with a
  // first heartbeat.
  int64_t begin_run(const Run& run);
  void end_run(int64_t run_id, const std::string& status);
  void heartbeat(int64_t run_id);
  // Statuses as read (see Run::status): a "running" run whose process is gone is "interrupted".
  std::vector<Run> runs() const;
  // Marks this device's runs of `kind` that are stored as running but interrupted (their
  // process is gone) as "interrupted", and returns them (status_note says why).
  std::vector<Run> close_interrupted_runs(int64_t device_id, const std::string& kind);
  // Measurement rows (kernels, models, applications) stored by a run.
  int64_t run_rows(int64_t run_id) const;

  // Kernel measurements. add_kernel is one transaction; add_kernels one transaction for all
  // (an import is stored whole or not at all). A key already stored for the device is an error.
  std::unordered_set<std::string> kernel_keys(int64_t device_id) const;
  int64_t add_kernel(const KernelRow& row);
  void add_kernels(const std::vector<KernelRow>& rows);
  std::vector<KernelRow> kernels(const KernelQuery& q = {}) const;

  // Models and their measurements. add_model_measurement stores the model (when new) and the
  // measurement in one transaction and returns the measurement id.
  std::optional<int64_t> find_model(const std::string& hash) const;
  int64_t ensure_model(const Model& model);
  Model model(int64_t id) const;
  std::vector<Model> models() const;
  std::unordered_set<std::string> model_keys(int64_t device_id) const;
  int64_t add_model_measurement(const Model& model, ModelRow row);
  // Models with their measurements in one transaction (imports).
  void add_model_measurements(const std::vector<std::pair<Model, std::vector<ModelRow>>>& rows);
  std::vector<ModelRow> model_measurements(const RowQuery& q = {}) const;

  // Application measurements (APC / ECI per configuration, delegate and threads).
  std::unordered_set<std::string> application_keys(int64_t device_id) const;
  int64_t add_application(const AppRow& row);
  std::vector<AppRow> applications(const RowQuery& q = {}) const;

  Info info() const;
  static const std::vector<std::string>& table_names();
  TableDump dump(const std::string& table) const;  // throws Error naming unknown tables

  // Copies every device, run, model and measurement of `source` that this dataset lacks, in
  // one transaction (a failure adds nothing); running it again adds nothing. Either side may be
  // SQLite or PostgreSQL.
  MergeReport merge_from(const Store& source);

  // Work queue of a device farm: a collection plan stored as rows that workers on many hosts
  // claim under a lease. add_work adds the items for `device` (a device label; empty: any
  // device) whose key the plan does not hold for it yet (adding a plan twice adds nothing) and
  // returns how many it added.
  int64_t add_work(const std::string& plan,
                   const std::vector<std::pair<std::string, nlohmann::json>>& items,
                   const std::string& device = "");
  // Claims the plan's first item for `device` or for any device that is pending or whose lease
  // has expired, for `lease` (on the server's clock); nullopt when there is none now. On
  // PostgreSQL the claim skips rows other workers are claiming (FOR UPDATE SKIP LOCKED), so
  // workers never wait on each other.
  std::optional<WorkItem> claim_work(const std::string& plan, const std::string& worker,
                                     std::chrono::milliseconds lease,
                                     const std::string& device = "");
  // Extends a held lease to `lease` from now; false when it was lost.
  bool renew_work(const WorkItem& item, std::chrono::milliseconds lease);
  // Stores the item's rows and marks it done in one transaction. Throws LeaseLost, storing
  // nothing, when the lease was lost: the item was claimed again after the lease expired, or
  // is done already.
  void complete_work(const WorkItem& item, const WorkResults& results);
  void complete_work(const WorkItem& item, const std::vector<KernelRow>& rows) {
    complete_work(item, WorkResults{.kernels = rows, .models = {}});
  }
  // Ends an item that cannot be measured (its model does not build or run) as failed, with the
  // error; LeaseLost as complete_work.
  void fail_work(const WorkItem& item, const std::string& error);
  PlanStatus work_status(const std::string& plan,
                         const std::optional<std::string>& device = {}) const;
  // Every plan (or one) by device label, leases and failures.
  WorkSummary work_summary(const std::string& plan = "") const;

 private:
  void open_postgres();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Keeps a running run's heartbeat fresh: a thread with its own connection to the dataset writes
// it every `every` until destroyed. A failed write (disk full, lock held too long) is retried at
// the next beat; the collection itself reports store failures.
class Heartbeat {
 public:
  Heartbeat(const std::filesystem::path& path, int64_t run_id,
            std::chrono::milliseconds every = kHeartbeatEvery);
  ~Heartbeat();
  Heartbeat(const Heartbeat&) = delete;
  Heartbeat& operator=(const Heartbeat&) = delete;
  int64_t beats() const;  // heartbeats written so far

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Whether a --db value names a PostgreSQL server (a postgresql:// or postgres:// URL, or a libpq
// connection string beginning with one of its keywords: "host=...", "service=farm") rather
// than a dataset file.
bool is_postgres(const std::string& db);

// Resume keys: content hashes of what makes a measurement the same measurement.
std::string kernel_key(const std::string& type, const kernels::KernelConfig& config,
                       const nlohmann::json& settings);
std::string model_key(const std::string& model_hash, const nlohmann::json& settings);

// Config <-> JSON object in the catalogue's key order ({"HW":56,"CIN":64,...}).
nlohmann::ordered_json config_to_json(const kernels::KernelConfig& c);
// Throws Error naming `context` and the key when a value is not an integer.
kernels::KernelConfig config_from_json(const nlohmann::ordered_json& j, const std::string& context);

}  // namespace nnjoule::store
