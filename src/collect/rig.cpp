#include "nnjoule/collect/rig.hpp"

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
  runner_ = make_runner(session_->context(), ro);
}

Rig::~Rig() = default;

}  // namespace nnjoule::collect
