// Opening a dataset: read-only files and directories (read without writing anything beside the
// file, and without losing rows still in the WAL), and every kind of file that is not a dataset
// (said what it is, refused before SQLite opens it, never a hang).
#include <fcntl.h>
#include <gmock/gmock.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <set>

#include "nnjoule/common/error.hpp"
#include "nnjoule/store/store.hpp"
#include "store/raw_sql.hpp"
#include "support/test_support.hpp"

using namespace nnjoule;
using namespace nnjoule::store;
using nnjoule::testing::error_of;
using nnjoule::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::Not;
namespace fs = std::filesystem;

namespace {

using nnjoule::testing::raw_exec;

constexpr fs::perms kReadOnlyDir = fs::perms::owner_read | fs::perms::owner_exec |
                                   fs::perms::group_read | fs::perms::group_exec |
                                   fs::perms::others_read | fs::perms::others_exec;
constexpr fs::perms kReadOnlyFile =
    fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read;
constexpr fs::perms kOpenDir = kReadOnlyDir | fs::perms::owner_write;

Device device(const std::string& name) {
  Device d;
  d.name = name;
  d.cpu = "Cortex-A76";
  return d;
}

// A dataset with one device and one kernel row, in its own directory `dir`.
fs::path make_dataset(const fs::path& dir) {
  fs::create_directories(dir);
  const fs::path file = dir / "d.db";
  Store s(file);
  const int64_t dev = s.ensure_device(device("board"));
  Run run;
  run.device_id = dev;
  run.kind = "kernels";
  run.provenance = {Origin::kEstimated, "estimate:cpu-time"};
  const int64_t run_id = s.begin_run(run);
  KernelRow r;
  r.run_id = run_id;
  r.device_id = dev;
  r.kernel_type = "fc";
  r.config = kernels::KernelConfig{{"CIN", 64}, {"COUT", 10}};
  r.key = kernel_key(r.kernel_type, *r.config, {{"threads", 1}});
  r.m.latency_ms = 1;
  r.m.energy_mj = 2;
  r.m.provenance = {Origin::kEstimated, "estimate:cpu-time"};
  s.add_kernel(r);
  s.end_run(run_id, "complete");
  return file;
}

std::set<std::string> listing(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
  return names;
}

// Runs `sql` through SQLite directly, leaving what it commits in the WAL (no checkpoint on
// close): the state a killed collection leaves behind.
void commit_without_checkpoint(const fs::path& file, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr), SQLITE_OK);
  char* err = nullptr;
  const int rc =
      sqlite3_exec(db, ("PRAGMA wal_autocheckpoint = 0;" + sql).c_str(), nullptr, nullptr, &err);
  const std::string msg = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << msg;
}

// Restores the permissions chmod took away, so that TempDir can clean up.
struct Chmod {
  fs::path path;
  fs::perms restore;
  Chmod(fs::path p, fs::perms to) : path(std::move(p)), restore(fs::status(path).permissions()) {
    fs::permissions(path, to);
  }
  ~Chmod() {
    std::error_code ec;
    fs::permissions(path, restore, ec);
  }
};

struct ChildResult {
  int code = -1;     // exit status, or 128 + signal
  std::string text;  // what the function returned, or "error: <message>"
};

// Runs `f` in a child process that cannot override file permissions: as the user nobody when
// the tests run as root (root writes into read-only directories), as this user otherwise.
// skipped is set when the child cannot drop root's privileges.
ChildResult unprivileged(const std::function<std::string()>& f, bool& skipped) {
  int fds[2];
  if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    alarm(120);  // a hang fails the test instead of the suite
    if (geteuid() == 0 && (setgroups(0, nullptr) != 0 || setgid(65534) != 0 || setuid(65534) != 0))
      _exit(77);
    std::string out;
    int code = 0;
    try {
      out = f();
    } catch (const Error& e) {
      out = std::string("error: ") + e.what();
      code = 1;
    } catch (const std::exception& e) {
      out = std::string("exception: ") + e.what();
      code = 2;
    }
    size_t done = 0;
    while (done < out.size()) {
      const ssize_t n = write(fds[1], out.data() + done, out.size() - done);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    _exit(code);
  }
  close(fds[1]);
  ChildResult r;
  char buf[4096];
  ssize_t n = 0;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) r.text.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  skipped = r.code == 77;
  return r;
}

std::string count_rows(const fs::path& file) {
  Store s(file, Store::Options{.read_only = true});
  return fmt::format("{} devices, {} kernels", s.devices().size(), s.kernels().size());
}

// The test directory must be reachable by the unprivileged child.
void open_to_others(const TempDir& tmp) {
  fs::permissions(tmp.path(), kReadOnlyDir | fs::perms::owner_write);
}

}  // namespace

// A finished dataset in a directory nobody may write: read as it is, nothing created beside it
// (SQLite's WAL would need FILE-shm there). As root, chmod does not stop the old WAL reader, but
// it leaves FILE-wal and FILE-shm behind: the listing catches that.
TEST(StoreOpen, ReadOnlyDirectoryIsReadWithoutWritingBesideTheFile) {
  TempDir tmp;
  const fs::path dir = tmp / "ro";
  const fs::path file = make_dataset(dir);
  const auto before = listing(dir);
  ASSERT_EQ(before, std::set<std::string>({"d.db"}));
  Chmod ro(dir, kReadOnlyDir);
  {
    Store s(file, Store::Options{.read_only = true});
    EXPECT_EQ(s.devices().size(), 1u);
    EXPECT_EQ(s.kernels().size(), 1u);
    EXPECT_EQ(s.info().table_rows.at("kernel_measurements"), 1);
    EXPECT_EQ(s.open_mode(), "read-only, immutable");
    EXPECT_THAT(s.info().to_text(), HasSubstr("read as it is: the file or its directory is "
                                              "read-only"));
  }
  EXPECT_EQ(listing(dir), before);
  // Writing is refused, naming the directory, even for root.
  const std::string err = error_of([&] { Store s(file); });
  EXPECT_THAT(err, HasSubstr(file.string()));
  EXPECT_THAT(err, HasSubstr("read-only"));
  EXPECT_THAT(err, HasSubstr(dir.string()));
  EXPECT_EQ(listing(dir), before);
}

TEST(StoreOpen, ReadOnlyFileIsReadWithoutWritingBesideIt) {
  TempDir tmp;
  const fs::path file = make_dataset(tmp / "d");
  const auto before = listing(tmp / "d");
  Chmod ro(file, kReadOnlyFile);
  {
    Store s(file, Store::Options{.read_only = true});
    EXPECT_EQ(s.kernels().size(), 1u);
    EXPECT_EQ(s.open_mode(), "read-only, immutable");
  }
  EXPECT_EQ(listing(tmp / "d"), before);
}

// Where permissions really apply (as nobody when the suite runs as root): a read-only directory,
// a directory of another user, a read-only file.
TEST(StoreOpen, UnprivilegedReaderReadsReadOnlyDatasets) {
  TempDir tmp;
  open_to_others(tmp);
  const fs::path file = make_dataset(tmp / "ro");
  // 0755 and 0644, owned by this user: another user's dataset to nobody.
  const fs::path theirs = make_dataset(tmp / "theirs");
  const fs::path rofile = make_dataset(tmp / "rofile");
  Chmod ro(tmp / "ro", kReadOnlyDir);
  Chmod ro_file(rofile, kReadOnlyFile);
  bool skipped = false;
  const auto a = unprivileged([&] { return count_rows(file); }, skipped);
  if (skipped) GTEST_SKIP() << "running as root and cannot switch to the user nobody";
  EXPECT_EQ(a.code, 0) << a.text;
  EXPECT_EQ(a.text, "1 devices, 1 kernels");
  const auto b = unprivileged([&] { return count_rows(theirs); }, skipped);
  EXPECT_EQ(b.code, 0) << b.text;
  EXPECT_EQ(b.text, "1 devices, 1 kernels");
  const auto c = unprivileged([&] { return count_rows(rofile); }, skipped);
  EXPECT_EQ(c.code, 0) << c.text;
  EXPECT_EQ(c.text, "1 devices, 1 kernels");
  EXPECT_EQ(listing(tmp / "ro"), std::set<std::string>({"d.db"}));
  // Writing as that user is one clear line.
  const auto w = unprivileged(
      [&] {
        Store s(file);
        return std::string("opened");
      },
      skipped);
  EXPECT_EQ(w.code, 1) << w.text;
  EXPECT_THAT(w.text, HasSubstr("read-only"));
  EXPECT_THAT(w.text, HasSubstr(file.string()));
}

// `nnjoule db info` and `db export` on a read-only directory, as a user who cannot write it.
TEST(StoreOpen, UnprivilegedCliReadsReadOnlyDataset) {
  TempDir tmp;
  open_to_others(tmp);
  const fs::path file = make_dataset(tmp / "ro");
  Chmod ro(tmp / "ro", kReadOnlyDir);
  // The CLI writes into a file the unprivileged user may write.
  const fs::path outdir = tmp / "out";
  fs::create_directories(outdir);
  fs::permissions(outdir, fs::perms::all);
  auto cli = [&](const std::vector<std::string>& args, const std::string& name) {
    bool skipped = false;
    auto r = unprivileged(
        [&] {
          const fs::path out = outdir / name;
          const pid_t pid = fork();
          if (pid == 0) {
            const int fd = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            nnjoule::testing::exec_cli(args);
          }
          int status = 0;
          waitpid(pid, &status, 0);
          return fmt::format("{}", WIFEXITED(status) ? WEXITSTATUS(status) : 128);
        },
        skipped);
    if (skipped) r.code = 77;
    return std::make_pair(r, nnjoule::testing::read_text(outdir / name));
  };
  const auto [info, info_out] = cli({"db", "info", file.string()}, "info");
  if (info.code == 77) GTEST_SKIP() << "running as root and cannot switch to the user nobody";
  EXPECT_EQ(info.text, "0") << info_out;
  EXPECT_THAT(info_out, HasSubstr("nnjoule dataset, schema version"));
  EXPECT_THAT(info_out, HasSubstr("read as it is"));
  const auto [ex, ex_out] = cli({"db", "export", file.string(), "--json"}, "export");
  EXPECT_EQ(ex.text, "0") << ex_out;
  EXPECT_THAT(ex_out, HasSubstr("\"kernel_measurements\""));
  EXPECT_EQ(listing(tmp / "ro"), std::set<std::string>({"d.db"}));
}

// A dataset behind a directory this user may not enter is not "no such file".
TEST(StoreOpen, UnreachableDatasetSaysWhy) {
  TempDir tmp;
  open_to_others(tmp);
  const fs::path file = make_dataset(tmp / "closed");
  Chmod closed(tmp / "closed", fs::perms::none);
  bool skipped = false;
  const auto r = unprivileged(
      [&] {
        Store s(file, Store::Options{.read_only = true});
        return std::string("opened");
      },
      skipped);
  if (skipped) GTEST_SKIP() << "running as root and cannot switch to the user nobody";
  EXPECT_EQ(r.code, 1) << r.text;
  EXPECT_THAT(r.text, HasSubstr(file.string() + ": cannot access the dataset file: Permission "
                                                "denied"));
}

// Rows a killed collection committed sit in FILE-wal: a reader of the read-only directory must
// see them (an immutable open would not).
TEST(StoreOpen, ReadOnlyDirectoryKeepsRowsStillInTheWal) {
  TempDir tmp;
  open_to_others(tmp);
  const fs::path dir = tmp / "ro";
  const fs::path file = make_dataset(dir);
  commit_without_checkpoint(file,
                            "INSERT INTO devices (fingerprint, name, details) VALUES ('fp2', "
                            "'second', '{}');");
  ASSERT_TRUE(fs::exists(dir / "d.db-wal"));
  ASSERT_GT(fs::file_size(dir / "d.db-wal"), 0u);
  ASSERT_TRUE(fs::exists(dir / "d.db-shm"));
  Chmod ro(dir, kReadOnlyDir);
  {
    Store s(file, Store::Options{.read_only = true});
    EXPECT_EQ(s.devices().size(), 2u);
    EXPECT_EQ(s.open_mode(), "read-only");  // the WAL reader: an immutable open misses them
  }
  bool skipped = false;
  const auto r = unprivileged(
      [&] {
        Store s(file, Store::Options{.read_only = true});
        return std::to_string(s.devices().size());
      },
      skipped);
  if (skipped) GTEST_SKIP() << "running as root and cannot switch to the user nobody";
  EXPECT_EQ(r.code, 0) << r.text;
  EXPECT_EQ(r.text, "2");
}

// FILE-wal with rows but no FILE-shm in a read-only directory: SQLite cannot read the WAL
// without creating FILE-shm. Refused with what to do, never read without those rows.
TEST(StoreOpen, WalWithoutItsIndexInReadOnlyDirectoryIsRefusedClearly) {
  TempDir tmp;
  const fs::path dir = tmp / "ro";
  const fs::path file = make_dataset(dir);
  commit_without_checkpoint(file,
                            "INSERT INTO devices (fingerprint, name, details) VALUES ('fp2', "
                            "'second', '{}');");
  fs::remove(dir / "d.db-shm");
  const auto before = listing(dir);
  Chmod ro(dir, kReadOnlyDir);
  const std::string err = error_of([&] { Store s(file, Store::Options{.read_only = true}); });
  EXPECT_THAT(err, HasSubstr((dir / "d.db-wal").string()));
  EXPECT_THAT(err, HasSubstr("not yet merged"));
  EXPECT_THAT(err, HasSubstr("nothing was modified"));
  EXPECT_EQ(err.find('\n'), std::string::npos);
  EXPECT_EQ(listing(dir), before);
}

// ---- what is not a dataset -------------------------------------------------------------------

// Read-only only: an nnjoule that let SQLite open /dev/zero for writing made /dev/zero-journal
// (the FIFO test covers writing: the check is the same for every kind of special file).
TEST(StoreOpen, CharacterDeviceIsRefusedBeforeOpening) {
  const std::string err =
      error_of([&] { Store s("/dev/zero", Store::Options{.read_only = true}); });
  EXPECT_THAT(err, HasSubstr("/dev/zero: a character device, not a dataset file"));
  EXPECT_THAT(err, Not(HasSubstr("empty")));
}

// A writable dataset is read with the WAL reader: it sees what a running collection commits.
TEST(StoreOpen, WritableDatasetIsReadWithTheWalReader) {
  TempDir tmp;
  const fs::path file = make_dataset(tmp / "d");
  Store writer(file);
  Store reader(file, Store::Options{.read_only = true});
  EXPECT_EQ(reader.open_mode(), "read-only");
  EXPECT_EQ(writer.open_mode(), "read-write");
  writer.ensure_device(device("second"));
  EXPECT_EQ(reader.devices().size(), 2u);
}

// Through the CLI: one error line that says what the file is.
TEST(StoreOpen, CliSaysWhatAFileIs) {
  using nnjoule::testing::one_error_line;
  using nnjoule::testing::run_cli;
  TempDir tmp;
  const auto dev = run_cli({"db", "info", "/dev/zero"});
  EXPECT_TRUE(one_error_line(dev, "/dev/zero: a character device, not a dataset file")) << dev.err;
  nnjoule::testing::write_text(tmp / "rows.csv", "a,b\n1,2\n");
  const auto csv = run_cli({"db", "export", (tmp / "rows.csv").string(), "--json"});
  EXPECT_TRUE(one_error_line(csv, "rows.csv: not an SQLite database but a text file")) << csv.err;
  nnjoule::testing::write_text(tmp / "zero.db", "");
  const auto zero = run_cli({"db", "info", (tmp / "zero.db").string()});
  EXPECT_TRUE(one_error_line(zero, "zero.db: an empty file (0 bytes)")) << zero.err;
  raw_exec(tmp / "other.db", "PRAGMA user_version = 5;");
  const auto other = run_cli({"db", "info", (tmp / "other.db").string()});
  EXPECT_TRUE(one_error_line(other, "other.db: an SQLite database of another application"))
      << other.err;
}

TEST(StoreOpen, FifoIsRefusedWithoutHanging) {
  TempDir tmp;
  open_to_others(tmp);
  const fs::path fifo = tmp / "pipe.db";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0644), 0);
  bool skipped = false;
  for (const bool ro : {true, false}) {
    // In a child with an alarm: opening a FIFO blocks until someone writes into it.
    const auto r = unprivileged(
        [&] {
          Store s(fifo, Store::Options{.read_only = ro});
          return std::string("opened");
        },
        skipped);
    EXPECT_EQ(r.code, 1) << r.text;
    EXPECT_THAT(r.text, HasSubstr(fifo.string() + ": a FIFO (named pipe), not a dataset file"));
  }
}

TEST(StoreOpen, ZeroLengthFile) {
  TempDir tmp;
  const fs::path file = tmp / "zero.db";
  nnjoule::testing::write_text(file, "");
  EXPECT_THAT(error_of([&] { Store s(file, Store::Options{.read_only = true}); }),
              HasSubstr(file.string() + ": an empty file (0 bytes), not an nnjoule dataset"));
  // Opened for writing, an empty file becomes a new dataset.
  Store s(file);
  EXPECT_EQ(s.schema_version(), kSchemaVersion);
}

TEST(StoreOpen, SqliteDatabaseWithoutTables) {
  TempDir tmp;
  const fs::path file = tmp / "empty-sqlite.db";
  raw_exec(file, "CREATE TABLE x (a); DROP TABLE x;");
  ASSERT_GT(fs::file_size(file), 0u);
  const std::string err = error_of([&] { Store s(file, Store::Options{.read_only = true}); });
  EXPECT_THAT(err, HasSubstr(file.string() + ": an SQLite database without tables"));
  EXPECT_THAT(err, Not(HasSubstr("empty file")));
}

TEST(StoreOpen, SqliteDatabaseOfAnotherApplicationWithUserVersion) {
  TempDir tmp;
  const fs::path file = tmp / "other.db";
  raw_exec(file, "PRAGMA user_version = 5;");
  for (const bool ro : {true, false}) {
    const std::string err = error_of([&] { Store s(file, Store::Options{.read_only = ro}); });
    EXPECT_THAT(err, HasSubstr(file.string() + ": an SQLite database of another application"));
    EXPECT_THAT(err, HasSubstr("user_version 5"));
    EXPECT_THAT(err, Not(HasSubstr("newer nnjoule")));
  }
}

TEST(StoreOpen, NnjouleIdWithoutSchemaVersion) {
  TempDir tmp;
  const fs::path file = tmp / "broken.db";
  raw_exec(file, "CREATE TABLE meta (key TEXT, value TEXT); PRAGMA application_id = 1313753676;");
  for (const bool ro : {true, false}) {
    const std::string err = error_of([&] { Store s(file, Store::Options{.read_only = ro}); });
    EXPECT_THAT(err, HasSubstr(file.string() + ": marked as an nnjoule dataset"));
    EXPECT_THAT(err, HasSubstr("no schema version"));
    EXPECT_THAT(err, HasSubstr("nnjoule did not modify it"));
  }
}

TEST(StoreOpen, TextAndBinaryFilesAreNotSqlite) {
  TempDir tmp;
  const fs::path csv = tmp / "rows.csv";
  nnjoule::testing::write_text(csv, "kernel_type,latency_ms\nfc,1.5\n");
  for (const bool ro : {true, false}) {
    const std::string err = error_of([&] { Store s(csv, Store::Options{.read_only = ro}); });
    EXPECT_THAT(err, HasSubstr(csv.string() + ": not an SQLite database but a text file"));
    EXPECT_THAT(err, HasSubstr("kernel_type,latency_ms"));
    EXPECT_EQ(err.find('\n'), std::string::npos);
  }
  EXPECT_EQ(nnjoule::testing::read_text(csv), "kernel_type,latency_ms\nfc,1.5\n");
  const fs::path bin = tmp / "blob.db";
  nnjoule::testing::write_text(bin, std::string("\x7f"
                                                "ELF\x02\x01\x01\0\0\0",
                                                10));
  const std::string err = error_of([&] { Store s(bin, Store::Options{.read_only = true}); });
  EXPECT_THAT(err, HasSubstr(bin.string() + ": not an SQLite database (a binary file of 10 bytes"));
  EXPECT_FALSE(fs::exists(tmp / "blob.db-wal"));
  EXPECT_FALSE(fs::exists(tmp / "rows.csv-wal"));
}
