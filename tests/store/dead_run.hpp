#pragma once
// A run left "running" by a process that is gone, as SIGKILL leaves one: for the store's
// liveness tests and the collection's resume test.
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>

#include "nnjoule/store/store.hpp"

namespace nnjoule::testing {

inline store::Device board() {
  store::Device d;
  d.name = "board";
  d.cpu = "Cortex-A76";
  return d;
}

inline store::Run kernels_run(int64_t device) {
  store::Run r;
  r.device_id = device;
  r.kind = "kernels";
  r.provenance = {Origin::kEstimated, "estimate:cpu-time"};
  return r;
}

// Begins a run in a child process that then exits without ending it.
inline int64_t run_of_a_dead_process(const std::filesystem::path& file, int64_t device,
                                     pid_t& child) {
  int fds[2];
  if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
  child = fork();
  if (child == 0) {
    close(fds[0]);
    int64_t id = -1;
    try {
      store::Store s(file);
      id = s.begin_run(kernels_run(device));
    } catch (...) {
    }
    [[maybe_unused]] auto n = write(fds[1], &id, sizeof id);
    _exit(0);
  }
  close(fds[1]);
  int64_t id = -1;
  [[maybe_unused]] auto n = read(fds[0], &id, sizeof id);
  close(fds[0]);
  waitpid(child, nullptr, 0);
  return id;
}

}  // namespace nnjoule::testing
