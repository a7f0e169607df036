// The cpu-time power model for machines without a sensor: idle power plus a fixed power per
// busy core, with busy time from /proc/stat. Every result it gives says "estimated".
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <sstream>

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/parse.hpp"
#include "nnjoule/meter/meters.hpp"

namespace nnjoule::meter {
namespace {

constexpr const char* kStat = "/proc/stat";
constexpr double kDefaultTdpW = 15;
constexpr double kIdleShareOfTdp = 0.2;  // package idle vs TDP, laptops and desktops

struct Known {
  std::string label;
  double tdp_w;
  double idle_w;  // 0: kIdleShareOfTdp x TDP
};

// The digits and then the suffix after `pos` ("1185G7" -> "1185", "G7").
std::pair<std::string, std::string> model_number(const std::string& s, size_t pos) {
  size_t i = pos;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
  size_t j = i;
  while (j < s.size() && std::isalnum(static_cast<unsigned char>(s[j]))) ++j;
  return {s.substr(pos, i - pos), s.substr(i, j - i)};
}

// A small table: boards by their measured idle and full-load power, x86 parts by TDP class.
// (Plain string matching: GCC 12's <regex> trips -Wmaybe-uninitialized under the sanitizers.)
std::optional<Known> known_cpu(const std::string& m) {
  auto has = [&](const char* s) { return m.find(s) != std::string::npos; };
  if (has("Raspberry Pi 5")) return Known{"Raspberry Pi 5 (board)", 7.5, 2.7};
  if (has("Raspberry Pi 4")) return Known{"Raspberry Pi 4 (board)", 6.4, 2.7};
  if (has("Raspberry Pi 3")) return Known{"Raspberry Pi 3 (board)", 3.7, 1.4};
  if (has("Jetson AGX Orin")) return Known{"Jetson AGX Orin (module, max mode)", 60, 0};
  if (has("Orin NX")) return Known{"Jetson Orin NX (module)", 25, 0};
  if (has("Orin Nano")) return Known{"Jetson Orin Nano (module)", 15, 0};
  if (has("Xavier NX")) return Known{"Jetson Xavier NX (module)", 15, 0};
  if (has("Jetson Nano")) return Known{"Jetson Nano (module)", 10, 0};
  if (auto at = m.find("Core(TM) Ultra "); at != std::string::npos && at + 17 < m.size()) {
    const auto [num, suffix] = model_number(m, at + 17);  // "Core(TM) Ultra 7 155H"
    if (num.size() == 3 && !suffix.empty()) {
      if (suffix[0] == 'U') return Known{"Intel Core Ultra U-series", 15, 0};
      if (suffix[0] == 'H') return Known{"Intel Core Ultra H-series", 28, 0};
    }
  }
  if (auto at = m.find("Core(TM) i"); at != std::string::npos && at + 12 < m.size() &&
                                      std::string("3579").find(m[at + 10]) != std::string::npos &&
                                      m[at + 11] == '-') {
    const auto [num, suffix] = model_number(m, at + 12);  // "Core(TM) i7-1185G7"
    if (num.size() == 4 || num.size() == 5) {
      if (!suffix.empty() && (suffix[0] == 'U' || (suffix[0] == 'G' && suffix.size() > 1)))
        return Known{"Intel Core U-series", 15, 0};
      if (!suffix.empty() && suffix[0] == 'H') return Known{"Intel Core H-series", 45, 0};
      if (!suffix.empty() && suffix[0] == 'K') return Known{"Intel Core K-series desktop", 125, 0};
      return Known{"Intel Core desktop", 65, 0};
    }
  }
  if (auto at = m.find("Ryzen"); at != std::string::npos) {
    for (size_t i = at; i < m.size(); ++i) {
      if (!std::isdigit(static_cast<unsigned char>(m[i])) ||
          (i > 0 && std::isdigit(static_cast<unsigned char>(m[i - 1]))))
        continue;
      const auto [num, suffix] = model_number(m, i);
      if (num.size() != 4) continue;
      if (!suffix.empty() && suffix[0] == 'U') return Known{"AMD Ryzen U-series", 15, 0};
      if (!suffix.empty() && suffix[0] == 'H') return Known{"AMD Ryzen H-series", 45, 0};
      break;
    }
    return Known{"AMD Ryzen desktop", 65, 0};
  }
  return std::nullopt;
}

class EstimateMeter : public Meter {
 public:
  EstimateMeter(std::shared_ptr<const SysFs> fs, EstimateModel model, CpuSeconds workload_cpu)
      : fs_(std::move(fs)), model_(std::move(model)), workload_cpu_(std::move(workload_cpu)) {
    if (!workload_cpu_) stat_ = fs_->open(kStat);
    const long tck = sysconf(_SC_CLK_TCK);
    tick_s_ = tck > 0 ? 1.0 / static_cast<double>(tck) : 0.01;
    domains_.push_back({"cpu", Signal::kEnergy, 0, true, model_.basis});
  }
  std::string kind() const override { return "estimate"; }
  Provenance provenance() const override { return {Origin::kEstimated, "cpu-time model"}; }
  std::optional<double> known_update_period_s() const override { return tick_s_; }
  // Busy time moves in ticks: one tick of one core is the smallest step of the model.
  std::optional<double> known_resolution(size_t) const override {
    return model_.busy_core_power_mw * tick_s_;
  }
  void read(double now_s, std::span<double> out) override {
    // E(t) = P_idle x t + P_core x busy core-seconds: a counter like any other.
    out[0] = model_.idle_power_mw * now_s + model_.busy_core_power_mw * busy_seconds();
  }

 private:
  double busy_seconds() {
    if (workload_cpu_) return workload_cpu_();
    return static_cast<double>(parse_cpu_ticks(stat_->read(), fs_->show(kStat)).busy) * tick_s_;
  }
  std::shared_ptr<const SysFs> fs_;
  EstimateModel model_;
  CpuSeconds workload_cpu_;
  std::unique_ptr<Attr> stat_;
  double tick_s_ = 0.01;
};

}  // namespace

CpuTicks parse_cpu_ticks(std::string_view text, const std::string& source) {
  if (text.rfind("cpu ", 0) != 0) fail("{}: first line is not the 'cpu' total", source);
  const std::string_view line = text.substr(4, text.find('\n') - 4);
  // user nice system idle iowait irq softirq steal ...; guest time is inside user. Every field
  // is one whole count: "12x" or "1.5" is a broken file, not 12 or 1.
  int64_t f[8] = {0};
  size_t n = 0;
  for (size_t pos = 0; pos < line.size();) {
    if (line[pos] == ' ' || line[pos] == '\t') {
      ++pos;
      continue;
    }
    size_t end = line.find_first_of(" \t", pos);
    if (end == std::string_view::npos) end = line.size();
    const std::string what = fmt::format("{}: 'cpu' line, field {}", source, n + 1);
    const int64_t v = integer_field(line.substr(pos, end - pos), what);
    if (v < 0) fail("{}: {} is negative", what, v);
    if (n < 8) f[n] = v;
    ++n;
    pos = end;
  }
  if (n < 7) fail("{}: 'cpu' line has fewer than 7 fields", source);
  return {f[0] + f[1] + f[2] + f[5] + f[6], f[0] + f[1] + f[2] + f[3] + f[4] + f[5] + f[6], f[7]};
}

std::optional<double> other_busy_cores(const SysFs& fs, int cores, double window_s,
                                       const std::function<void(double)>& wait) {
  try {
    const auto stat = fs.open(kStat);
    const CpuTicks a = parse_cpu_ticks(stat->read(), fs.show(kStat));
    wait(window_s);
    const CpuTicks b = parse_cpu_ticks(stat->read(), fs.show(kStat));
    if (b.total <= a.total || cores < 1) return std::nullopt;
    return static_cast<double>(b.busy - a.busy) / static_cast<double>(b.total - a.total) * cores;
  } catch (const Error&) {
    return std::nullopt;
  }
}

namespace {

std::string cpuinfo_field(const std::string& cpuinfo, const std::string& key) {
  std::istringstream in(cpuinfo);
  std::string line;
  while (std::getline(in, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    if (trim(line.substr(0, colon)) == key) return trim(line.substr(colon + 1));
  }
  return {};
}

}  // namespace

std::string cpu_model_name(const SysFs& fs) {
  const std::string info = fs.read("/proc/cpuinfo").value_or("");
  auto dt = fs.read("/proc/device-tree/model");
  if (!dt) dt = fs.read("/sys/firmware/devicetree/base/model");
  std::string board = dt ? trim(std::string(dt->c_str())) : std::string();  // NUL-terminated
  std::vector<std::string> candidates = {cpuinfo_field(info, "model name"),
                                         cpuinfo_field(info, "Model"), board,
                                         cpuinfo_field(info, "Hardware")};
  // "ARMv8 Processor rev 1 (v8l)" says less than the board's name.
  auto generic = [](const std::string& c) {
    return c.rfind("ARMv", 0) == 0 && c.find(" Processor") != std::string::npos;
  };
  for (const auto& c : candidates)
    if (!c.empty() && !generic(c)) return c;
  for (const auto& c : candidates)
    if (!c.empty()) return c;
  return "unknown";
}

int online_cpus(const SysFs& fs) {
  // A malformed list is not half-counted: /proc/cpuinfo answers instead.
  if (auto s = fs.read("/sys/devices/system/cpu/online")) {
    if (auto cpus = parse_cpu_list(*s); cpus && !cpus->empty())
      return static_cast<int>(cpus->size());
  }
  const std::string info = fs.read("/proc/cpuinfo").value_or("");
  std::istringstream in(info);
  std::string line;
  int n = 0;
  while (std::getline(in, line))
    if (line.rfind("processor", 0) == 0 && line.find(':') != std::string::npos) ++n;
  return n;
}

EstimateModel estimate_model(const std::string& cpu_model, int logical_cores,
                             const EstimateConfig& config) {
  const int cores = std::max(1, logical_cores);
  double tdp = kDefaultTdpW, idle = 0;
  std::string basis;
  if (config.tdp_w) {
    if (!(*config.tdp_w > 0)) fail("estimate.tdp_w must be positive, got {}", *config.tdp_w);
    tdp = *config.tdp_w;
    basis = fmt::format("TDP {} W (device file)", tdp);
  } else {
    if (auto k = known_cpu(cpu_model)) {
      tdp = k->tdp_w;
      idle = k->idle_w;
      basis = fmt::format("{} W max (table: {})", tdp, k->label);
    }
    if (basis.empty())
      basis = fmt::format("default {} W package: no TDP known for '{}'", kDefaultTdpW, cpu_model);
  }
  if (idle <= 0) idle = kIdleShareOfTdp * tdp;
  EstimateModel m;
  m.idle_power_mw = idle * 1e3;
  m.busy_core_power_mw = (tdp - idle) * 1e3 / cores;
  if (config.idle_power_mw) {
    if (*config.idle_power_mw < 0) fail("estimate.idle_power_mw must not be negative");
    m.idle_power_mw = *config.idle_power_mw;
  }
  if (config.busy_core_power_mw) {
    if (*config.busy_core_power_mw < 0) fail("estimate.busy_core_power_mw must not be negative");
    m.busy_core_power_mw = *config.busy_core_power_mw;
  }
  const bool overridden = config.idle_power_mw || config.busy_core_power_mw;
  m.basis =
      fmt::format("idle {:.0f} mW + {:.0f} mW per busy core ({}{}; {} cores)", m.idle_power_mw,
                  m.busy_core_power_mw, overridden ? "device file over " : "", basis, cores);
  return m;
}

std::vector<Finding> find_estimate(std::shared_ptr<const SysFs> fs, const EstimateConfig& config,
                                   CpuSeconds workload_cpu, std::string cpu_source) {
  Finding f;
  f.kind = f.name = "estimate";
  int err = 0;
  if (!workload_cpu && !fs->read(kStat, &err)) {
    f.reason = fmt::format("{}: {}", fs->show(kStat), std::strerror(err));
    return {f};
  }
  EstimateModel model = estimate_model(cpu_model_name(*fs), online_cpus(*fs), config);
  std::shared_ptr<EstimateMeter> meter;
  try {
    if (workload_cpu)
      model.basis +=
          "; busy time: " + (cpu_source.empty() ? "the workload's CPU time" : cpu_source);
    else
      model.basis += "; busy time: /proc/stat, whole machine";
    meter = std::make_shared<EstimateMeter>(fs, model, std::move(workload_cpu));
    std::vector<double> probe(1);
    meter->read(0, probe);  // a malformed /proc/stat fails here, not mid-measurement
  } catch (const Error& e) {
    f.status = Finding::Status::kRefused;
    f.reason = e.what();
    return {f};
  }
  f.status = Finding::Status::kFound;
  f.reason = model.basis;
  f.meter = meter;
  return {f};
}

ProcessCpu::ProcessCpu(std::shared_ptr<const SysFs> fs) : fs_(std::move(fs)) {}

void ProcessCpu::attach(int pid) {
  std::lock_guard lk(mu_);
  pid_ = pid;
}

void ProcessCpu::finish(double cpu_s) {
  std::lock_guard lk(mu_);
  last_ = std::max(last_, cpu_s);
  final_ = true;
  pid_ = 0;
}

double ProcessCpu::seconds() {
  std::lock_guard lk(mu_);
  if (final_ || pid_ <= 0) return last_;
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses; fields follow the last ')'.
  auto text = fs_->read("/proc/" + std::to_string(pid_) + "/stat");
  if (!text) return last_;  // exiting: the rusage at finish() follows
  const auto close = text->rfind(')');
  if (close == std::string::npos) return last_;
  std::istringstream in(text->substr(close + 1));
  std::string tok;
  std::vector<std::string> f;
  while (in >> tok && f.size() < 15) f.push_back(tok);
  if (f.size() < 15) return last_;
  // utime, stime, cutime, cstime: fields 14-17 of the line, 11-14 after the name.
  double ticks = 0;
  for (int i = 11; i <= 14; ++i) {
    const auto v = parse_int(f[i]);
    if (!v || *v < 0) return last_;  // a torn or odd read: keep the last good value
    ticks += static_cast<double>(*v);
  }
  const long tck = sysconf(_SC_CLK_TCK);
  last_ = std::max(last_, ticks / static_cast<double>(tck > 0 ? tck : 100));
  return last_;
}

double this_process_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

CpuSeconds ProcessCpu::source(std::shared_ptr<ProcessCpu> cpu) {
  return [cpu] { return cpu->seconds(); };
}

}  // namespace nnjoule::meter
