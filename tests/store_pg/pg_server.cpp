#include "pg_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace nnjoule::testing {
namespace fs = std::filesystem;

namespace {

constexpr const char* kSuperuser = "nnjoule";

struct Owner {
  bool drop = false;  // run the server's programs as `uid`/`gid`
  uid_t uid = 0;
  gid_t gid = 0;
  std::string name;
};

// argv run as the server's owner, output appended to `log`; its exit status.
int run(const Owner& owner, const std::vector<std::string>& args, const fs::path& log) {
  std::vector<std::string> argv;
  if (owner.drop) {
    argv = {"setpriv", fmt::format("--reuid={}", owner.uid), fmt::format("--regid={}", owner.gid),
            "--clear-groups", "--"};
  }
  argv.insert(argv.end(), args.begin(), args.end());
  const pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    if (chdir("/") != 0) _exit(126);  // the owner may not enter the test's working directory
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    std::vector<char*> cargs;
    for (auto& a : argv) cargs.push_back(a.data());
    cargs.push_back(nullptr);
    execvp(cargs[0], cargs.data());
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string tail_of(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > 2000 ? s.substr(s.size() - 2000) : s;
}

// The newest /usr/lib/postgresql/<version>/bin holding initdb and pg_ctl.
fs::path find_bin() {
  if (const char* env = std::getenv("NNJOULE_PG_BIN"); env && *env) return env;
  fs::path best;
  int best_version = -1;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    const fs::path bin = e.path() / "bin";
    if (!fs::exists(bin / "initdb") || !fs::exists(bin / "pg_ctl")) continue;
    const int v = std::atoi(e.path().filename().c_str());
    if (v > best_version) {
      best_version = v;
      best = bin;
    }
  }
  return best;
}

int free_port() {
  const int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (s < 0 || bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (s >= 0) close(s);
    throw std::runtime_error(std::string("no free port on 127.0.0.1: ") + std::strerror(errno));
  }
  close(s);
  return ntohs(a.sin_port);
}

std::unique_ptr<PgServer>& instance() {
  static std::unique_ptr<PgServer> server;
  return server;
}

// Stops the server when the test binary ends normally.
class StopAtEnd : public ::testing::Environment {
 public:
  void TearDown() override {
    if (instance()) instance()->stop();
  }
};
[[maybe_unused]] const auto* const kStopAtEnd = ::testing::AddGlobalTestEnvironment(new StopAtEnd);

}  // namespace

PgServer* PgServer::get(std::string* why) {
  static std::string skip_reason;
  static bool tried = false;
  if (tried) {
    if (!instance() && why) *why = skip_reason;
    return instance().get();
  }
  tried = true;
  const fs::path bin = find_bin();
  if (bin.empty() || !fs::exists(bin / "initdb") || !fs::exists(bin / "pg_ctl")) {
    skip_reason =
        "no PostgreSQL server binaries (initdb, pg_ctl) in " +
        (bin.empty() ? std::string("/usr/lib/postgresql/*/bin") : bin.string()) +
        " (NNJOULE_PG_BIN names another directory): scripts/install-deps.sh installs Debian's "
        "package postgresql";
    if (why) *why = skip_reason;
    return nullptr;
  }
  Owner owner;
  if (geteuid() == 0) {
    // initdb refuses root: the server runs as an unprivileged user.
    const char* env = std::getenv("NNJOULE_PG_USER");
    owner.name = env && *env ? env : "nobody";
    const passwd* pw = getpwnam(owner.name.c_str());
    if (!pw) {
      skip_reason = fmt::format(
          "running as root, and initdb refuses root: no user '{}' to run the server as (set "
          "NNJOULE_PG_USER)",
          owner.name);
      if (why) *why = skip_reason;
      return nullptr;
    }
    owner.drop = true;
    owner.uid = pw->pw_uid;
    owner.gid = pw->pw_gid;
  }

  auto s = std::unique_ptr<PgServer>(new PgServer);
  std::string tmpl = (fs::temp_directory_path() / "nnjoule-pg-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  s->dir_ = tmpl;
  s->bin_ = bin;
  if (owner.drop && chown(s->dir_.c_str(), owner.uid, owner.gid) != 0) {
    throw std::runtime_error(
        fmt::format("chown {} to {}: {}", s->dir_.string(), owner.name, std::strerror(errno)));
  }
  const fs::path data = s->dir_ / "data";
  const fs::path log = s->dir_ / "server.log";
  const fs::path setup_log = fs::temp_directory_path() / (s->dir_.filename().string() + ".log");

  // The watchdog: stops the server and removes the directory once this process is gone.
  int fds[2];
  if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
  const pid_t dog = fork();
  if (dog == 0) {
    close(fds[1]);
    char c;
    while (read(fds[0], &c, 1) != 0) {
    }
    if (fs::exists(data / "postmaster.pid")) {
      run(owner, {(bin / "pg_ctl").string(), "-D", data.string(), "-m", "immediate", "-w", "stop"},
          "/dev/null");
    }
    std::error_code ec;
    fs::remove_all(s->dir_, ec);
    fs::remove(setup_log, ec);
    _exit(0);
  }
  close(fds[0]);
  fcntl(fds[1], F_SETFD, FD_CLOEXEC);  // a CLI a test starts does not hold it
  s->watchdog_fd_ = fds[1];
  s->watchdog_pid_ = dog;

  if (run(owner,
          {(bin / "initdb").string(), "-D", data.string(), "-U", kSuperuser, "-A", "trust",
           "--no-sync", "-E", "UTF8", "--locale=C"},
          setup_log) != 0) {
    const std::string out = tail_of(setup_log);
    s->stop();
    throw std::runtime_error("initdb failed: " + out);
  }
  s->port_ = free_port();
  const std::string opts = fmt::format(
      "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
      "-c full_page_writes=off -c max_connections=60",
      s->port_, s->dir_.string());
  if (run(owner,
          {(bin / "pg_ctl").string(), "-D", data.string(), "-l", log.string(), "-w", "-t", "120",
           "-o", opts, "start"},
          setup_log) != 0) {
    const std::string out = tail_of(setup_log) + tail_of(log);
    s->stop();
    throw std::runtime_error("pg_ctl start failed: " + out);
  }
  instance() = std::move(s);
  return instance().get();
}

std::string PgServer::create_database(const std::string& name) {
  const std::string admin = conninfo("postgres");
  PGconn* c = PQconnectdb(admin.c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    const std::string msg = PQerrorMessage(c);
    PQfinish(c);
    throw std::runtime_error("cannot connect to the test server: " + msg);
  }
  PGresult* r = PQexec(c, fmt::format("CREATE DATABASE \"{}\"", name).c_str());
  const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  const std::string msg = PQresultErrorMessage(r);
  PQclear(r);
  PQfinish(c);
  if (!ok) throw std::runtime_error("CREATE DATABASE " + name + ": " + msg);
  return fmt::format("postgresql://{}@127.0.0.1:{}/{}", kSuperuser, port_, name);
}

std::string PgServer::conninfo(const std::string& name) const {
  return fmt::format("host={} port={} user={} dbname={}", dir_.string(), port_, kSuperuser, name);
}

void PgServer::stop() {
  if (watchdog_fd_ < 0) return;
  close(watchdog_fd_);  // the watchdog stops the server and removes the directory
  watchdog_fd_ = -1;
  int status = 0;
  while (waitpid(watchdog_pid_, &status, 0) < 0 && errno == EINTR) {
  }
  watchdog_pid_ = -1;
}

}  // namespace nnjoule::testing
