// The back-end suite on a PostgreSQL server (pg_server.hpp), and what only a server has:
// connection errors, a database of another program, workers creating the schema at once.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nnjoule/common/error.hpp"
#include "nnjoule/store/store.hpp"
#include "store/backend_suite.hpp"
#include "store/raw_sql.hpp"
#include "store/rows.hpp"
#include "store_pg/pg_server.hpp"

using namespace nnjoule;
using namespace nnjoule::store;
using nnjoule::testing::error_of;
using nnjoule::testing::PgServer;
using nnjoule::testing::StoreBackend;
using nnjoule::testing::test_device;
using ::testing::HasSubstr;

namespace {

std::string postgres_database(const std::filesystem::path&, const std::string& test,
                              std::string* skip) {
  PgServer* server = PgServer::get(skip);
  return server ? server->create_database(test) : std::string();
}

// The binary's server, or a skip with the reason.
#define REQUIRE_SERVER(server)            \
  std::string why;                        \
  PgServer* server = PgServer::get(&why); \
  if (!server) GTEST_SKIP() << why;

void run_sql(const std::string& conninfo, const std::string& statement) {
  PGconn* c = PQconnectdb(conninfo.c_str());
  ASSERT_EQ(PQstatus(c), CONNECTION_OK) << PQerrorMessage(c);
  PGresult* r = PQexec(c, statement.c_str());
  EXPECT_EQ(PQresultStatus(r), PGRES_COMMAND_OK) << PQresultErrorMessage(r);
  PQclear(r);
  PQfinish(c);
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(PostgreSQL, StoreBackend,
                         ::testing::Values(nnjoule::testing::Backend{"PostgreSQL",
                                                                     postgres_database}),
                         nnjoule::testing::backend_name);

TEST(Postgres, TargetsAreToldFromFiles) {
  EXPECT_TRUE(store::is_postgres("postgresql://farm@db.lab:5432/energy"));
  EXPECT_TRUE(store::is_postgres("postgres://"));
  EXPECT_TRUE(store::is_postgres("host=/tmp dbname=energy"));
  EXPECT_TRUE(store::is_postgres("service=farm"));
  EXPECT_FALSE(store::is_postgres("mydevice.db"));
  EXPECT_FALSE(store::is_postgres("runs/a=b.db"));  // '=' in a file name: not a keyword
  EXPECT_FALSE(store::is_postgres("postgresql.db"));
}

TEST(Postgres, UnreachableServerNamesHostPortAndLibpqReason) {
  // A port nothing listens on: the server is down.
  const std::string err =
      error_of([] { Store s("postgresql://farm:secret@127.0.0.1:1/energy?connect_timeout=5"); });
  EXPECT_THAT(err, HasSubstr("postgresql://farm@127.0.0.1:1/energy"));
  EXPECT_THAT(err, HasSubstr("cannot connect to the PostgreSQL server at host 127.0.0.1 port 1"));
  EXPECT_THAT(err, HasSubstr("Connection refused"));
  EXPECT_THAT(err, ::testing::Not(HasSubstr("secret")));
  EXPECT_EQ(err.find('\n'), std::string::npos) << err;
  EXPECT_THAT(error_of([] { Store s("host=/tmp nosuchkey=1"); }),
              HasSubstr("not a PostgreSQL connection string"));
}

TEST(Postgres, WrongDatabaseAndForeignTablesAreRefused) {
  REQUIRE_SERVER(server);
  EXPECT_THAT(error_of([&] { Store s(server->conninfo("no_such_db")); }),
              HasSubstr("database \"no_such_db\" does not exist"));
  const std::string url = server->create_database("foreign_tables");
  run_sql(server->conninfo("foreign_tables"),
          "CREATE TABLE invoices (id int); CREATE TABLE meta2 ()");
  EXPECT_THAT(error_of([&] { Store s(url); }),
              HasSubstr("holds other tables (invoices, meta2), not an nnjoule dataset"));
  const std::string empty = server->create_database("empty_read_only");
  EXPECT_THAT(error_of([&] { Store s(empty, {.read_only = true}); }),
              HasSubstr("an empty database, not an nnjoule dataset yet"));
}

TEST(Postgres, NewerSchemaIsRefusedNamingBothVersions) {
  REQUIRE_SERVER(server);
  const std::string url = server->create_database("newer_schema");
  { Store s(url); }
  run_sql(server->conninfo("newer_schema"),
          "UPDATE meta SET value = '9' WHERE key = 'schema_version'");
  EXPECT_THAT(error_of([&] { Store s(url); }),
              HasSubstr(fmt::format("schema version 9 was written by a newer nnjoule")));
}

// Workers starting together on an empty database: one makes the schema, none fails.
TEST(Postgres, EightProcessesCreateTheSchemaOnce) {
  REQUIRE_SERVER(server);
  const std::string url = server->create_database("concurrent_create");
  std::vector<pid_t> pids;
  for (int i = 0; i < 8; ++i) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      try {
        Store s(url);
        s.ensure_device(test_device());
        _exit(s.schema_version() == kSchemaVersion ? 0 : 1);
      } catch (const std::exception& e) {
        fprintf(stderr, "%s\n", e.what());
        _exit(2);
      }
    }
    pids.push_back(pid);
  }
  for (const pid_t pid : pids) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  EXPECT_EQ(Store(url).devices().size(), 1u);  // the same device found, not added 8 times
}

TEST(Postgres, DbInfoReadsTheServer) {
  REQUIRE_SERVER(server);
  const std::string url = server->create_database("cli_info");
  {
    Store s(url);
    const int64_t dev = s.ensure_device(test_device());
    s.add_kernel(nnjoule::testing::kernel_row(
        s.begin_run(nnjoule::testing::make_run(dev, "kernels", Origin::kMeasured, "rapl")), dev,
        8));
  }
  const auto r = nnjoule::testing::run_cli({"db", "info", url});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr(url + ": nnjoule dataset, schema version"));
  EXPECT_THAT(r.out, HasSubstr("kernel measurements: 1"));
  const auto bad = nnjoule::testing::run_cli({"db", "info", "postgresql://127.0.0.1:1/x"});
  EXPECT_TRUE(nnjoule::testing::one_error_line(bad, "at host 127.0.0.1 port 1")) << bad.err;
}

// A device's file pushed to the server reads back the same through every command: the export
// of every table is identical (db push keeps timestamps, and fills an empty database in the
// file's order), and train learns the same regressors from either.
TEST(Postgres, PushedFileReadsTheSameThroughExportAndTrain) {
  REQUIRE_SERVER(server);
  nnjoule::testing::TempDir tmp;
  const std::string file = (tmp / "device.db").string();
  {
    Store s(file);
    const int64_t dev = s.ensure_device(test_device());
    const int64_t run =
        s.begin_run(nnjoule::testing::make_run(dev, "kernels", Origin::kMeasured, "rapl"));
    std::vector<KernelRow> rows;
    for (int cin = 1; cin <= 60; ++cin) {
      auto r = nnjoule::testing::kernel_row(run, dev, cin);
      r.m.latency_ms = 0.05 * cin + 0.001 * (cin % 7);
      r.m.energy_mj = 3.0 * *r.m.latency_ms;
      rows.push_back(r);
    }
    s.add_kernels(rows);
    s.end_run(run, "complete");
  }
  const std::string url = server->create_database("pushed_reads_same");
  const auto push = nnjoule::testing::run_cli({"db", "push", file, "--to", url});
  ASSERT_EQ(push.exit_code, 0) << push.err;
  const auto tables_of = [](const std::string& db) {
    const auto r = nnjoule::testing::run_cli({"db", "export", db, "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out)["tables"];
  };
  const auto from_file = tables_of(file);
  EXPECT_EQ(from_file["kernel_measurements"].size(), 60u);
  EXPECT_EQ(from_file, tables_of(url));
  // The same data (its hash) and the same regressors; only the names differ.
  const auto train = [&](const std::string& db, const std::string& dir) {
    const std::string out = (tmp / dir / "bundle").string();
    const auto r =
        nnjoule::testing::run_cli({"train", "--db", db, "-o", out, "--targets", "latency_ms"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::string text = r.out + r.err;
    for (const std::string& name : {db, out}) {
      for (size_t at; (at = text.find(name)) != std::string::npos;)
        text.replace(at, name.size(), "X");
    }
    return text;
  };
  const std::string a = train(file, "file");
  EXPECT_THAT(a, HasSubstr("trained conv-bn-relu latency_ms: 60 rows"));
  EXPECT_THAT(a, HasSubstr("training data: 60 rows from X (hash "));
  EXPECT_EQ(a, train(url, "server"));
}

// What collect models and apps store on one machine (estimated energy), pushed to the server,
// reads the same through evaluate, score and report: the same output, and the same HTML page.
TEST(Postgres, PushedFileReadsTheSameThroughEvaluateScoreAndReport) {
  REQUIRE_SERVER(server);
  nnjoule::testing::TempDir tmp;
  const std::string file = (tmp / "farm.db").string();
  const auto ok = [](const nnjoule::testing::CliResult& r) {
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.exit_code == 0;
  };
  // Two models measured twice each (model rows with per-kernel latency, kernel rows), and one
  // application configuration (APC, ECI, stages, a power trace).
  ASSERT_TRUE(ok(nnjoule::testing::run_cli(
      {"collect", "models", "--db", file, "--families", "squeezenet", "--variants", "1", "--repeat",
       "2", "--profile", "quick", "--idle", "0", "--meter", "estimate"})));
  ASSERT_TRUE(ok(nnjoule::testing::run_cli(
      {"zoo", "export", "squeezenet", "--resolution", "32", "-o", (tmp / "zoo").string()})));
  nnjoule::testing::write_text(tmp / "suite.json", R"({"name": "t", "delegates": ["CPU1"],
      "models": [{"id": "m", "onnx": "zoo/squeezenet.onnx", "application": "classification"}]})");
  ASSERT_TRUE(ok(nnjoule::testing::run_cli({"apps", "--suite", (tmp / "suite.json").string(),
                                            "--db", file, "--threads", "1", "--idle", "0",
                                            "--time-cap", "5", "--meter", "estimate"})));
  // On a busy machine (a compiler beside the test) the rows are flagged as disturbed, and train
  // and evaluate leave flagged rows out: they are kept here, the test is about reading them.
  nnjoule::testing::raw_exec(file,
                             "UPDATE model_measurements SET flags = NULL; "
                             "UPDATE application_measurements SET flags = NULL");
  const std::string bundle = (tmp / "bundle").string();
  ASSERT_TRUE(ok(nnjoule::testing::run_cli(
      {"train", "--db", file, "-o", bundle, "--cv-folds", "0", "--jobs", "1"})));
  const std::string url = server->create_database("farm.db");
  ASSERT_TRUE(ok(nnjoule::testing::run_cli({"db", "push", file, "--to", url})));

  // A command's exit status, stdout and stderr with the dataset's name as X.
  const auto output = [](const std::string& db, std::vector<std::string> args) {
    for (auto& a : args)
      if (a == "DB") a = db;
    const auto r = nnjoule::testing::run_cli(args);
    std::string text = fmt::format("exit {}\n{}\n{}", r.exit_code, r.out, r.err);
    for (size_t at; (at = text.find(db)) != std::string::npos;) text.replace(at, db.size(), "X");
    return text;
  };
  const std::vector<std::vector<std::string>> commands = {
      {"evaluate", "--db", "DB", "--predictor", bundle},
      {"evaluate", "--db", "DB", "--predictor", bundle, "--kernel-cv", "--folds", "2", "--models",
       "kfold", "--repeatability", "--jobs", "1", "--json"},
      {"evaluate", "--db", "DB", "--models", "random", "--test-share", "0.5", "--jobs", "1"},
      {"score", "--db", "DB"},
      {"score", "--db", "DB", "--json"},
  };
  for (const auto& args : commands) {
    const std::string a = output(file, args);
    EXPECT_THAT(a, ::testing::StartsWith("exit 0\n")) << a;
    EXPECT_EQ(a, output(url, args)) << args[0] << " " << args[1];
  }
  // The report page names the dataset by its file name: the database is named the same.
  const auto report = [&](const std::string& db, const std::string& page) {
    const std::string out = (tmp / page).string();
    std::string text = output(db, {"report", "--db", "DB", "--predictor", bundle, "-o", out});
    for (size_t at; (at = text.find(out)) != std::string::npos;) text.replace(at, out.size(), "O");
    return text;
  };
  const std::string from_file = report(file, "file.html");
  EXPECT_EQ(from_file, report(url, "server.html"));
  if (std::filesystem::exists(tmp / "file.html")) {  // a build with the HTML report
    const std::string page = nnjoule::testing::read_text(tmp / "file.html");
    EXPECT_THAT(page, HasSubstr("farm.db"));
    EXPECT_THAT(page, HasSubstr("The bundle was trained on this database"));
    EXPECT_THAT(page, HasSubstr("chart-trace"));  // the application's power trace
    // The page is large: where it differs, not all of it.
    const std::string other = nnjoule::testing::read_text(tmp / "server.html");
    const size_t at =
        std::mismatch(page.begin(), page.end(), other.begin(), other.end()).first - page.begin();
    EXPECT_EQ(at, page.size()) << "the pages differ at byte " << at << ": ..."
                               << page.substr(at > 80 ? at - 80 : 0, 200) << "... / ..."
                               << other.substr(at > 80 ? at - 80 : 0, 200) << "...";
    EXPECT_EQ(page.size(), other.size());
  }
}

// A password in the server's URL reaches neither the messages nor a run's stored command line.
TEST(Postgres, UrlPasswordIsNotStoredWithTheRun) {
  REQUIRE_SERVER(server);
  const std::string plain = server->create_database("url_password");
  std::string url = plain;
  url.insert(url.find('@'), ":s3cret");  // the test server trusts its clients: any password
  {
    Store s(url);
    // Messages and outputs name the store without its password; another connection (a run's
    // heartbeat, a farm worker's lease renewals) opens what it was given.
    EXPECT_EQ(s.path().string().find("s3cret"), std::string::npos) << s.path();
    EXPECT_EQ(s.target().string(), url);
    auto run = nnjoule::testing::make_run(s.ensure_device(test_device()), "kernels",
                                          Origin::kMeasured, "rapl");
    run.command = "nnjoule collect kernels --db " + url + " --threads 1";
    const int64_t id = s.begin_run(run);
    const Heartbeat beat(s.target(), id, std::chrono::milliseconds(10));
    s.end_run(id, "complete");
  }
  const auto dump = nnjoule::testing::run_cli({"db", "export", url, "--json", "--table", "runs"});
  EXPECT_EQ(dump.exit_code, 0) << dump.err;
  EXPECT_EQ(dump.out.find("s3cret"), std::string::npos) << dump.out;
  const auto runs = Store(url, {.read_only = true}).runs();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].command, "nnjoule collect kernels --db " + plain + " --threads 1");
  const auto info = nnjoule::testing::run_cli({"db", "info", url});
  EXPECT_EQ(info.exit_code, 0) << info.err;
  EXPECT_EQ(info.out.find("s3cret"), std::string::npos) << info.out;
}
