#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "nnjoule/collect/protocol.hpp"
#include "nnjoule/common/error.hpp"

extern char** environ;

namespace nnjoule::collect {

CommandResult run_command(const std::vector<std::string>& argv, const CommandHooks& hooks) {
  if (argv.empty()) fail("no command to run");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (hooks.stdout_to_stderr)
    posix_spawn_file_actions_adddup2(&actions, STDERR_FILENO, STDOUT_FILENO);
  pid_t pid = 0;
  // glibc's posix_spawnp reports a failed exec (no such command) as its return value.
  const int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) fail("cannot run '{}': {}", argv[0], std::strerror(rc));
  if (hooks.on_start) hooks.on_start(pid);
  int status = 0;
  rusage ru{};
  while (wait4(pid, &status, 0, &ru) < 0) {
    if (errno != EINTR) fail("waiting for '{}' failed: {}", argv[0], std::strerror(errno));
  }
  CommandResult r;
  r.cpu_s = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
            static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
  if (hooks.on_exit) hooks.on_exit(r.cpu_s);
  if (WIFEXITED(status))
    r.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status))
    r.exit_code = 128 + WTERMSIG(status);
  else
    r.exit_code = -1;
  return r;
}

}  // namespace nnjoule::collect
