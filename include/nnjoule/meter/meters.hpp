#pragma once
// The meters nnjoule knows. Each find_* looks under a SysFs root and returns what it found,
// or why nothing usable is there; the classes themselves live in src/meter.
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "nnjoule/meter/meter.hpp"
#include "nnjoule/meter/sysfs.hpp"

namespace nnjoule::meter {

// ---- settings a device file (JSON) can give; see load_device_file ----
struct EstimateConfig {
  std::optional<double> idle_power_mw;       // whole machine at rest
  std::optional<double> busy_core_power_mw;  // added per fully busy core
  std::optional<double> tdp_w;               // basis for both when they are not given
};
enum class CurrentSign { kAuto, kPositiveDischarge, kNegativeDischarge };
struct BatteryConfig {
  CurrentSign sign = CurrentSign::kAuto;
  bool allow_charging = false;  // measure although a charger is connected (numbers are wrong)
  std::string supply;           // power_supply name; empty: the first battery
};
struct InaConfig {
  std::string total_rail;  // label of the board's input rail; empty: the built-in list
};
struct TraceConfig {
  std::filesystem::path path;
  std::optional<double> start_epoch_s;  // wall-clock time of the trace's t = 0
  double offset_s = 0;                  // else: sampler time of the trace's t = 0
};
struct MeterConfig {
  EstimateConfig estimate;
  BatteryConfig battery;
  InaConfig ina;
  TraceConfig trace;
};
// Reads a device file: {"estimate": {...}, "battery": {...}, "ina": {...}, "trace": {...}}.
// Unknown keys and wrong types are errors naming the file and the field.
MeterConfig load_device_file(const std::filesystem::path& path, MeterConfig base = {});

// ---- RAPL through powercap (Intel and AMD) ----
std::vector<Finding> find_rapl(std::shared_ptr<const SysFs> fs);
// The message for energy_uj readable only by root (CVE-2020-8694), with the fixes.
std::string rapl_permission_message(const std::string& shown_path);

// ---- perf power PMU ----
class PerfBackend {
 public:
  virtual ~PerfBackend() = default;
  // Returns an fd or -errno (perf_event_open(type, config) on `cpu`, system-wide).
  virtual int open(uint32_t type, uint64_t config, int cpu) = 0;
  virtual bool read(int fd, uint64_t& value) = 0;
  virtual void close(int fd) = 0;
};
std::shared_ptr<PerfBackend> system_perf_backend();
std::vector<Finding> find_perf(std::shared_ptr<const SysFs> fs, std::shared_ptr<PerfBackend> perf);

// ---- NVIDIA NVML, loaded at run time ----
// The few NVML entry points nnjoule calls, declared here so the build needs no NVIDIA headers.
// nvmlReturn_t is an int-sized enum, nvmlDevice_t an opaque pointer.
struct NvmlApi {
  using Device = void*;
  int (*init)() = nullptr;                                     // nvmlInit_v2
  int (*shutdown)() = nullptr;                                 // nvmlShutdown
  int (*device_count)(unsigned int*) = nullptr;                // nvmlDeviceGetCount_v2
  int (*handle_by_index)(unsigned int, Device*) = nullptr;     // nvmlDeviceGetHandleByIndex_v2
  int (*name)(Device, char*, unsigned int) = nullptr;          // nvmlDeviceGetName
  int (*total_energy)(Device, unsigned long long*) = nullptr;  // ...GetTotalEnergyConsumption, mJ
  int (*power_usage)(Device, unsigned int*) = nullptr;         // nvmlDeviceGetPowerUsage, mW
  const char* (*error_string)(int) = nullptr;                  // nvmlErrorString (optional)
  std::shared_ptr<void> library;                               // keeps the dlopen handle
};
// dlopen("libnvidia-ml.so.1"); nullptr with *why set when it is not there.
using NvmlLoader = std::function<std::shared_ptr<NvmlApi>(std::string* why)>;
std::shared_ptr<NvmlApi> load_nvml(std::string* why);
std::vector<Finding> find_nvml(const NvmlLoader& loader);

// ---- hwmon power sensors and INA3221/INA238 board rails ----
// Board input rails ("VDD_IN", "POM_5V_IN", ...): when one is present only it is the total.
const std::vector<std::string>& known_total_rails();
std::vector<Finding> find_ina(std::shared_ptr<const SysFs> fs, const InaConfig& config);
std::vector<Finding> find_hwmon(std::shared_ptr<const SysFs> fs);

// ---- battery gauge (Android, laptops): /sys/class/power_supply ----
std::vector<Finding> find_battery(std::shared_ptr<const SysFs> fs, const BatteryConfig& config);

// ---- external power-monitor trace (CSV) ----
struct TracePoint {
  double t_s;  // trace time
  double power_mw;
};
struct Trace {
  std::vector<TracePoint> points;
  bool absolute_time = false;  // timestamps are Unix epoch seconds
  std::string columns;         // what was read: "Time(ms) x Main(mA) x Main Voltage(V)"
};
// Parses time+power or time+current+voltage CSV (Monsoon `Time(ms),Main(mA),Main Voltage(V)`).
Trace parse_trace_csv(const std::string& text, const std::string& source);
std::vector<Finding> find_trace(const TraceConfig& config);

// ---- /proc/stat ----
struct CpuTicks {
  int64_t busy = 0;   // user nice system irq softirq (guest time is inside user)
  int64_t total = 0;  // busy + idle + iowait
  int64_t steal = 0;  // time the hypervisor ran someone else (0 where the kernel has no field)
};
// The 'cpu' total line at the start of /proc/stat; throws Error naming `source` otherwise.
CpuTicks parse_cpu_ticks(std::string_view proc_stat, const std::string& source);
// Cores busy with other work, from two reads of /proc/stat `window_s` apart while this process
// waits (`wait` sleeps); `cores` online. nullopt when /proc/stat cannot be read.
std::optional<double> other_busy_cores(const SysFs& fs, int cores, double window_s,
                                       const std::function<void(double)>& wait);

// ---- estimate for machines without a sensor: idle + busy cores from /proc/stat ----
struct EstimateModel {
  double idle_power_mw = 0;
  double busy_core_power_mw = 0;
  std::string basis;  // "TDP 15 W (table: Core i7-1185G7)", "device file", "default ..."
};
EstimateModel estimate_model(const std::string& cpu_model, int logical_cores,
                             const EstimateConfig& config);
// CPU seconds the workload has used so far (never decreasing).
using CpuSeconds = std::function<double()>;
// With workload_cpu the busy time is the workload's own (other processes' load is not charged
// to it); without, the whole machine's from /proc/stat.
std::vector<Finding> find_estimate(std::shared_ptr<const SysFs> fs, const EstimateConfig& config,
                                   CpuSeconds workload_cpu = {}, std::string cpu_source = {});

// CPU seconds this process has used (CLOCK_PROCESS_CPUTIME_ID): the workload when nnjoule runs
// the model itself (measure MODEL.onnx, collect, bench).
double this_process_cpu_s();
inline constexpr const char* kThisProcessCpuSource =
    "this process's CPU time (CLOCK_PROCESS_CPUTIME_ID)";

// CPU time of a spawned command and the children it waited for: /proc/<pid>/stat while it
// runs, its wait4 rusage once it has exited. Thread-safe; before attach() it reads 0.
class ProcessCpu {
 public:
  explicit ProcessCpu(std::shared_ptr<const SysFs> fs);
  void attach(int pid);
  void finish(double cpu_s);  // the exit rusage: final
  double seconds();
  // A callback for find_estimate that shares ownership of `cpu`.
  static CpuSeconds source(std::shared_ptr<ProcessCpu> cpu);

 private:
  std::shared_ptr<const SysFs> fs_;
  std::mutex mu_;
  int pid_ = 0;
  double last_ = 0;
  bool final_ = false;
};

// CPU model name as /proc/cpuinfo (or the device tree) gives it; "unknown" when neither does.
std::string cpu_model_name(const SysFs& fs);
// Logical CPUs online (/sys/devices/system/cpu/online, else /proc/cpuinfo); 0 when unknown.
int online_cpus(const SysFs& fs);

}  // namespace nnjoule::meter
