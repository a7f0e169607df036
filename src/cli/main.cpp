#include <fmt/format.h>

#include <algorithm>
#include <iostream>

#include "command.hpp"
#include "nnjoule/common/error.hpp"
#include "nnjoule/version.hpp"

namespace nnjoule::cli {
namespace {
std::vector<std::pair<int, Registrar>>& registry() {
  static std::vector<std::pair<int, Registrar>> r;
  return r;
}
}  // namespace

void CommandRegistry::add(int order, Registrar r) {
  registry().emplace_back(order, std::move(r));
}

void CommandRegistry::install(CLI::App& app) {
  auto& r = registry();
  std::stable_sort(r.begin(), r.end(), [](auto& a, auto& b) { return a.first < b.first; });
  for (auto& [order, fn] : r) fn(app);
}

}  // namespace nnjoule::cli

int main(int argc, char** argv) {
  CLI::App app{"nnjoule: measure, predict and score the energy of neural-network inference"};
  app.set_version_flag("--version", std::string("nnjoule ") + nnjoule::kVersion);
  app.require_subcommand(1);
  nnjoule::cli::CommandRegistry::install(app);
  // CLI11 would only say "A subcommand is required" for a misspelt command.
  if (argc > 1 && argv[1][0] != '-') {
    std::string names;
    bool known = false;
    for (const CLI::App* c : app.get_subcommands({})) {
      known = known || c->check_name(argv[1]);
      names += (names.empty() ? "" : ", ") + c->get_name();
    }
    if (!known) {
      std::cerr << "nnjoule: error: unknown command '" << argv[1] << "' (commands: " << names
                << ")\n";
      return 1;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::RuntimeError& e) {  // a command's chosen exit status (130 after Ctrl-C)
    return app.exit(e);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // Usage errors are bad input like any other: one line, exit 1.
    std::cerr << "nnjoule: error: " << e.what() << " (see --help)\n";
    return 1;
  } catch (const nnjoule::Error& e) {
    std::cerr << "nnjoule: error: " << nnjoule::printable(e.what()) << "\n";
    return 1;
  } catch (const std::bad_alloc&) {
    std::cerr << "nnjoule: error: out of memory\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "nnjoule: internal error: " << nnjoule::printable(e.what()) << "\n";
    return 2;
  }
  return 0;
}
