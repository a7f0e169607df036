#include "nnjoule/collect/rig.hpp"

#include <fmt/format.h>

#include "nnjoule/meter/meters.hpp"

namespace nnjoule::collect {

Rig::Rig(const RigOptions& o) {
  // Work on the other CPUs slows every measurement (shared caches, memory, often one physical
  // core): say so before spending hours on a dataset.
  const auto busy = busy_host_note(meter::SysFs(o.meters.root));
  session_ = std::make_unique<Session>(o.meters);
  notes_ = session_->notes();
  if (busy) notes_.push_back(*busy);
  RunnerOptions ro;
  ro.threads = o.threads;
  ro.cpus = o.cpus;
  ro.protocol = protocol_profile(o.profile);
  ro.idle_s = o.idle_s;
  ro.idle_every_s = o.idle_every_s;
  ro.input_seed = o.seed + 1;
  ro.host_reference = o.host_reference;
  Context ctx = session_->context();
  if (!o.pin_freq.empty()) {
    pin_ = std::make_unique<ClockPin>(ctx.fs, o.pin_freq, o.cpus);
    ctx.pinned = pin_->pinned();
    notes_.insert(notes_.end(), pin_->notes().begin(), pin_->notes().end());
  }
  runner_ = make_runner(ctx, ro);
}

std::string Rig::restore_clocks() {
  if (!pin_) return {};
  const auto& problems = pin_->restore();
  std::string clusters;
  for (const auto& p : pin_->pinned()) clusters += (clusters.empty() ? "" : ", ") + p.cluster;
  if (problems.empty())
    return fmt::format(
        "--pin-freq: clock limits of {} restored (the stored rows say "
        "\"restored\": false: they were written while the clock was pinned)",
        clusters);
  std::string out = "--pin-freq: restoring failed:";
  for (const auto& p : problems) out += " " + p + ";";
  return out;
}

Rig::~Rig() = default;

}  // namespace nnjoule::collect
