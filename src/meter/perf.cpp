// The perf "power" PMU: the same RAPL counters through perf_event_open, 64 bits wide (the kernel
// folds the 32-bit hardware wraps), readable without root when perf_event_paranoid <= 0.
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/parse.hpp"
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

// "event=0x02" (or "event=2"): the one config term the power PMU's events have.
std::optional<uint64_t> parse_event_code(std::string_view spec) {
  constexpr std::string_view kEvent = "event=";
  const std::string t = trim(spec);
  if (t.rfind(kEvent, 0) != 0) return std::nullopt;
  std::string_view code = std::string_view(t).substr(kEvent.size());
  const bool hex = code.size() > 2 && code[0] == '0' && (code[1] == 'x' || code[1] == 'X');
  if (hex) code.remove_prefix(2);
  if (code.empty() || code[0] == '+' || code[0] == '-') return std::nullopt;
  const auto v = parse_integer(code, hex ? 16 : 10);
  if (!v) return std::nullopt;
  return static_cast<uint64_t>(*v);
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
  if (!type || *type < 0 || *type > UINT32_MAX) {
    const std::string why = fs->int_problem(type_rel);
    return refuse(why.empty() ? fmt::format("{}: {} is not a PMU type", fs->show(type_rel), *type)
                              : why);
  }
  const std::string cpumask_rel = join(kPmu, "cpumask");
  std::vector<int> cpus = {0};
  if (auto text = fs->read(cpumask_rel)) {
    auto list = parse_cpu_list(*text);
    if (!list)
      return refuse(fmt::format("{}: expected a CPU list (\"0\", \"0,18\", \"0-3\"), got '{}'",
                                fs->show(cpumask_rel), quoted_field(*text)));
    cpus = std::move(*list);
  }

  const std::string events_dir = join(kPmu, "events");
  std::vector<Event> events;
  for (const auto& e : fs->list(events_dir)) {
    if (e.rfind("energy-", 0) != 0 || e.find('.') != std::string::npos) continue;
    const std::string rel = join(events_dir, e);
    const std::string spec = fs->read_trimmed(rel).value_or("");
    if (spec.rfind("event=", 0) != 0)
      return refuse(
          fmt::format("{}: expected 'event=0x..', got '{}'", fs->show(rel), quoted_field(spec)));
    Event ev;
    ev.name = e.substr(7);
    const auto code = parse_event_code(spec);
    if (!code)
      return refuse(fmt::format("{}: bad event code in '{}'", fs->show(rel), quoted_field(spec)));
    ev.config = *code;
    const auto scale_text = fs->read(rel + ".scale");
    const auto scale = parse_double(scale_text.value_or(""));
    if (!scale || *scale <= 0)
      return refuse(fmt::format(
          "{}.scale: {}", fs->show(rel),
          scale_text ? "expected a positive number, got '" + quoted_field(*scale_text) + "'"
                     : std::string("missing")));
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
