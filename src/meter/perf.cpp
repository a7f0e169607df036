// The perf "power" PMU: the same RAPL counters through perf_event_open, 64 bits wide (the kernel
// folds the 32-bit hardware wraps), readable without root when perf_event_paranoid <= 0.
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "nnjoule/common/error.hpp"
#include "nnjoule/meter/meters.hpp"

namespace nnjoule::meter {
namespace {

constexpr const char* kPmu = "/sys/bus/event_source/devices/power";
constexpr const char* kParanoid = "/proc/sys/kernel/perf_event_paranoid";

class SystemPerf : public PerfBackend {
 public:
  int open(uint32_t type, uint64_t config, int cpu) override {
    perf_event_attr attr{};
    attr.type = type;
    attr.size = sizeof(attr);
    attr.config = config;
    const long fd = syscall(SYS_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
    return fd < 0 ? -errno : static_cast<int>(fd);
  }
  bool read(int fd, uint64_t& value) override {
    return ::read(fd, &value, sizeof(value)) == static_cast<ssize_t>(sizeof(value));
  }
  void close(int fd) override { ::close(fd); }
};

struct Event {
  std::string name;  // "pkg" from energy-pkg
  uint64_t config = 0;
  double scale = 0;  // joules per count
};

class PerfMeter : public Meter {
 public:
  PerfMeter(std::shared_ptr<PerfBackend> perf, std::vector<int> fds, std::vector<double> scales,
            std::vector<Domain> domains)
      : perf_(std::move(perf)), fds_(std::move(fds)), scales_(std::move(scales)) {
    domains_ = std::move(domains);
  }
  ~PerfMeter() override {
    for (int fd : fds_) perf_->close(fd);
  }
  std::string kind() const override { return "perf"; }
  void read(double, std::span<double> out) override {
    for (size_t i = 0; i < fds_.size(); ++i) {
      uint64_t v = 0;
      if (!perf_->read(fds_[i], v)) fail("perf: reading power/energy-{}/ failed", domains_[i].name);
      out[i] = static_cast<double>(v) * scales_[i] * 1000.0;  // J -> mJ
    }
  }

 private:
  std::shared_ptr<PerfBackend> perf_;
  std::vector<int> fds_;
  std::vector<double> scales_;
};

// "0", "0,18", "0-3": the CPUs a PMU's events are opened on (one per package).
std::vector<int> parse_cpu_list(const std::string& text) {
  std::vector<int> cpus;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string::npos) comma = text.size();
    const std::string part = trim(text.substr(pos, comma - pos));
    const size_t dash = part.find('-');
    auto a = parse_int(part.substr(0, dash));
    auto b = dash == std::string::npos ? a : parse_int(part.substr(dash + 1));
    if (a && b)
      for (int64_t c = *a; c <= *b; ++c) cpus.push_back(static_cast<int>(c));
    pos = comma + 1;
  }
  return cpus;
}

}  // namespace

std::shared_ptr<PerfBackend> system_perf_backend() {
  return std::make_shared<SystemPerf>();
}

std::vector<Finding> find_perf(std::shared_ptr<const SysFs> fs, std::shared_ptr<PerfBackend> perf) {
  Finding f;
  f.kind = f.name = "perf";
  if (!fs->is_dir(kPmu)) {
    f.reason = fmt::format("{}: no power PMU (not x86, or the kernel lacks the RAPL perf driver)",
                           fs->show(kPmu));
    return {f};
  }
  auto refuse = [&](std::string why) {
    f.status = Finding::Status::kRefused;
    f.reason = std::move(why);
    return std::vector<Finding>{f};
  };
  const std::string type_rel = join(kPmu, "type");
  auto type = fs->try_read_int(type_rel);
  if (!type) return refuse(fmt::format("{}: unreadable or not an integer", fs->show(type_rel)));
  std::vector<int> cpus = parse_cpu_list(fs->read_trimmed(join(kPmu, "cpumask")).value_or("0"));
  if (cpus.empty()) cpus.push_back(0);

  const std::string events_dir = join(kPmu, "events");
  std::vector<Event> events;
  for (const auto& e : fs->list(events_dir)) {
    if (e.rfind("energy-", 0) != 0 || e.find('.') != std::string::npos) continue;
    const std::string rel = join(events_dir, e);
    const std::string spec = fs->read_trimmed(rel).value_or("");
    const auto at = spec.find("event=");
    if (at == std::string::npos)
      return refuse(fmt::format("{}: expected 'event=0x..', got '{}'", fs->show(rel), spec));
    Event ev;
    ev.name = e.substr(7);
    try {
      ev.config = std::stoull(spec.substr(at + 6), nullptr, 0);
    } catch (const std::exception&) {
      return refuse(fmt::format("{}: bad event code in '{}'", fs->show(rel), spec));
    }
    const auto scale = parse_double(fs->read_trimmed(rel + ".scale").value_or(""));
    if (!scale || *scale <= 0)
      return refuse(fmt::format("{}.scale: missing or not a positive number", fs->show(rel)));
    const std::string unit = fs->read_trimmed(rel + ".unit").value_or("");
    if (unit != "Joules")
      return refuse(fmt::format("{}.unit: expected 'Joules', got '{}'", fs->show(rel), unit));
    ev.scale = *scale;
    events.push_back(ev);
  }
  if (events.empty()) {
    f.reason = fmt::format("{}: no energy-* events", fs->show(events_dir));
    return {f};
  }
  bool has_psys = false;
  for (const auto& e : events)
    if (e.name == "psys") has_psys = true;

  std::vector<int> fds;
  std::vector<double> scales;
  std::vector<Domain> domains;
  auto close_all = [&] {
    for (int fd : fds) perf->close(fd);
  };
  for (int cpu : cpus) {
    for (const auto& e : events) {
      const int fd = perf->open(static_cast<uint32_t>(*type), e.config, cpu);
      if (fd < 0) {
        close_all();
        const int err = -fd;
        if (err == EACCES || err == EPERM) {
          const auto paranoid = fs->try_read_int(kParanoid);
          return refuse(
              fmt::format("perf_event_open(power/energy-{}/, cpu {}): permission denied; {} is {}: "
                          "system-wide events need it at 0 or below (sudo sysctl "
                          "kernel.perf_event_paranoid=0), or run as root or with CAP_PERFMON",
                          e.name, cpu, fs->show(kParanoid),
                          paranoid ? std::to_string(*paranoid) : std::string("unreadable")));
        }
        return refuse(fmt::format("perf_event_open(power/energy-{}/, cpu {}): {}", e.name, cpu,
                                  std::strerror(err)));
      }
      Domain d;
      d.signal = Signal::kEnergy;
      d.name = cpus.size() > 1 ? fmt::format("{}@cpu{}", e.name, cpu) : e.name;
      d.in_total = has_psys ? e.name == "psys" : (e.name == "pkg" || e.name == "ram");
      if (!d.in_total) d.note = has_psys && e.name != "psys" ? "inside psys" : "inside pkg";
      if (e.name == "psys") d.note = "platform: whole SoC and more";
      domains.push_back(std::move(d));
      fds.push_back(fd);
      scales.push_back(e.scale);
    }
  }
  bool any_total = false;
  for (const auto& d : domains) any_total = any_total || d.in_total;
  if (!any_total)
    for (auto& d : domains) d.in_total = true;
  f.status = Finding::Status::kFound;
  f.meter =
      std::make_shared<PerfMeter>(perf, std::move(fds), std::move(scales), std::move(domains));
  return {f};
}

}  // namespace nnjoule::meter
