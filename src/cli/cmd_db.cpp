// nnjoule db: inspect, export and migrate an energy dataset.
#include <fmt/format.h>

#include "command.hpp"
#include "nnjoule/common/error.hpp"
#include "nnjoule/common/io.hpp"
#include "nnjoule/store/export.hpp"
#include "nnjoule/store/store.hpp"

namespace nnjoule::cli {
namespace {
namespace fs = std::filesystem;

struct InfoOptions {
  std::string file;
  bool json = false;
};

struct ExportOptions {
  std::string file;
  bool csv = false, json = false;
  std::vector<std::string> tables;
  std::string out;
};

void run_info(const InfoOptions& o) {
  store::Store s(o.file, store::Store::Options{.read_only = true});
  const auto info = s.info();
  if (o.json) {
    print_json(info.to_json());
  } else {
    std::cout << info.to_text();
  }
}

void run_export(const ExportOptions& o) {
  if (o.csv == o.json) fail("db export: give exactly one of --csv and --json");
  store::Store s(o.file, store::Store::Options{.read_only = true});
  const std::vector<std::string> tables = o.tables.empty() ? store::Store::table_names() : o.tables;
  std::vector<store::TableDump> dumps;
  for (const auto& t : tables) dumps.push_back(s.dump(t));
  if (o.json) {
    const std::string text = store::to_json(s, dumps).dump(2) + "\n";
    if (o.out.empty()) {
      std::cout << text;
    } else {
      write_file_atomic(o.out, text);
      std::cerr << fmt::format("wrote {} tables to {}\n", dumps.size(), o.out);
    }
    return;
  }
  if (dumps.size() == 1 && (o.out.empty() || fs::path(o.out).extension() == ".csv")) {
    const std::string text = store::to_csv(dumps[0]);
    if (o.out.empty()) {
      std::cout << text;
    } else {
      write_file_atomic(o.out, text);
      std::cerr << fmt::format("wrote {} rows of {} to {}\n", dumps[0].rows.size(), dumps[0].name,
                               o.out);
    }
    return;
  }
  if (o.out.empty()) {
    fail(
        "db export --csv: {} tables need --out DIR (one <table>.csv each), or pick one with "
        "--table",
        dumps.size());
  }
  ensure_directory(o.out);
  for (const auto& d : dumps) {
    const fs::path p = fs::path(o.out) / (d.name + ".csv");
    write_file_atomic(p, store::to_csv(d));
    std::cerr << fmt::format("wrote {} rows of {} to {}\n", d.rows.size(), d.name, p.string());
  }
}

void register_db(CLI::App& app) {
  auto* db = app.add_subcommand(
      "db", "Inspect, export, migrate, merge and push energy datasets (SQLite or PostgreSQL)");
  db->require_subcommand(1);

  auto io = std::make_shared<InfoOptions>();
  auto* info = db->add_subcommand("info", "Row counts per table, device, kernel type and origin");
  info->add_option("file", io->file, "Dataset file or PostgreSQL URL")->required();
  info->add_flag("--json", io->json, "Print JSON");
  info->callback([io] { run_info(*io); });

  auto eo = std::make_shared<ExportOptions>();
  auto* ex = db->add_subcommand("export", "Export tables as CSV or JSON");
  ex->add_option("file", eo->file, "Dataset file or PostgreSQL URL")->required();
  ex->add_flag("--csv", eo->csv, "CSV (RFC 4180; NULL is an empty field)");
  ex->add_flag("--json", eo->json, "JSON: {\"tables\": {\"<table>\": [rows]}}");
  ex->add_option("--table", eo->tables, "Table(s) to export (default: all)");
  ex->add_option("--out", eo->out,
                 "Output file (one table, or JSON) or directory (several CSV tables); default "
                 "stdout");
  ex->callback([eo] { run_export(*eo); });

  auto mf = std::make_shared<std::string>();
  auto* mig = db->add_subcommand("migrate", "Upgrade a dataset to this nnjoule's schema version");
  mig->add_option("file", *mf, "Dataset file or PostgreSQL URL")->required();
  mig->callback([mf] {
    const fs::path p = *mf;
    if (!store::is_postgres(*mf) && !fs::exists(p)) fail("{}: no such dataset file", p.string());
    store::Store s(p);
    std::cout << fmt::format("{}: schema version {}\n", s.info().path, s.schema_version());
  });

  // Matching is by content keys (store.hpp, MergeReport): both commands can be run again.
  auto po = std::make_shared<std::pair<std::string, std::string>>();
  auto* push = db->add_subcommand(
      "push", "Copy a device's dataset file into a farm's PostgreSQL dataset (or any dataset)");
  push->add_option("file", po->first, "Dataset to copy from")->required();
  push->add_option("--to", po->second, "Dataset to copy into: postgresql://... or a file")
      ->required();
  push->callback([po] {
    if (!store::is_postgres(po->first) && !fs::exists(po->first))
      fail("{}: no such dataset file", po->first);
    const store::Store from(po->first, {.read_only = true});
    store::Store to(po->second);
    std::cout << to.merge_from(from).to_text();
  });

  auto mo = std::make_shared<std::pair<std::vector<std::string>, std::string>>();
  auto* merge = db->add_subcommand("merge", "Merge datasets into one (created when absent)");
  merge->add_option("files", mo->first, "Datasets to merge, in order")->required();
  merge->add_option("-o,--out", mo->second, "Dataset to merge into: a file or postgresql://...")
      ->required();
  merge->callback([mo] {
    for (const auto& f : mo->first) {
      if (!store::is_postgres(f) && !fs::exists(f)) fail("{}: no such dataset file", f);
    }
    store::Store to(mo->second);
    for (const auto& f : mo->first) {
      const store::Store from(f, {.read_only = true});
      std::cout << to.merge_from(from).to_text();
    }
  });
}

}  // namespace

NNJOULE_COMMAND(60, register_db);

}  // namespace nnjoule::cli
