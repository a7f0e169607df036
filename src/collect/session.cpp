#include "nnjoule/collect/session.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <thread>

namespace nnjoule::collect {

meter::DiscoverOptions discover_options(const MeterSetup& setup) {
  meter::DiscoverOptions o;
  o.fs = std::make_shared<const meter::SysFs>(setup.root);
  if (!setup.device_file.empty()) o.config = meter::load_device_file(setup.device_file);
  if (!setup.trace.empty()) o.config.trace.path = setup.trace;
  if (setup.trace_start_epoch_s) o.config.trace.start_epoch_s = setup.trace_start_epoch_s;
  if (setup.trace_offset_s != 0) o.config.trace.offset_s = setup.trace_offset_s;
  if (setup.allow_charging) o.config.battery.allow_charging = true;
  return o;
}

Session::Session(const MeterSetup& setup, std::optional<WorkloadCpu> cpu) {
  auto discover = discover_options(setup);
  if (cpu) {
    discover.workload_cpu = cpu->seconds;
    discover.workload_cpu_source = cpu->source;
  } else {
    discover.charge_this_process();
  }
  config_ = discover.config;
  auto selection = meter::select_meters(meter::discover_meters(discover), setup.meters);
  notes_ = std::move(selection.notes);
  sampler_ = std::make_unique<meter::Sampler>(selection.meters, clock_);
  ctx_ = Context{sampler_.get(), real_sleeper(), discover.fs};
  sampler_->start();
}

Session::~Session() {
  stop();
}

void Session::stop() {
  if (sampler_->running()) sampler_->stop();
}

Provenance Session::provenance() const {
  return sampler_->meters().at(0)->provenance();
}

std::optional<std::string> busy_host_note(const meter::SysFs& fs) {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const auto busy = meter::other_busy_cores(fs, cores, 0.5, real_sleeper());
  if (!busy || *busy <= 0.25) return std::nullopt;
  return fmt::format(
      "other processes kept {:.1f} of {} CPUs busy (0.5 s before starting): their interference "
      "goes into every latency and energy measured; measure on an otherwise idle machine",
      *busy, cores);
}

}  // namespace nnjoule::collect
