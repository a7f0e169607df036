#pragma once
// A real PostgreSQL server for one test binary: initdb + pg_ctl in a temporary directory, on a
// free port of 127.0.0.1 and a unix socket in that directory, started on first use and stopped
// when the binary ends. A watchdog process stops it and removes the directory however the
// binary ends (a crash or SIGKILL included): it waits for the binary's end of a pipe to close.
//
// initdb refuses to run as root: as root the server runs as the unprivileged user `nobody`
// (NNJOULE_PG_USER names another), through setpriv. The binaries are looked for in
// NNJOULE_PG_BIN, then /usr/lib/postgresql/<newest>/bin (Debian's package `postgresql`).
#include <filesystem>
#include <string>

namespace nnjoule::testing {

class PgServer {
 public:
  // The binary's server, started on the first call. nullptr when it cannot run here, with the
  // reason in `why` (tests GTEST_SKIP with it); a server that fails to start is a test failure
  // (thrown, with the end of its log).
  static PgServer* get(std::string* why);

  // Creates an empty database and returns its URL (postgresql://USER@127.0.0.1:PORT/NAME).
  std::string create_database(const std::string& name);
  // The same database as a libpq connection string through the unix socket.
  std::string conninfo(const std::string& name) const;
  int port() const { return port_; }
  const std::filesystem::path& dir() const { return dir_; }

  void stop();  // stops the server and waits for the watchdog; the end of the binary calls it

 private:
  PgServer() = default;
  std::filesystem::path dir_;
  std::filesystem::path bin_;
  int port_ = 0;
  int watchdog_fd_ = -1;
  int watchdog_pid_ = -1;
};

}  // namespace nnjoule::testing
