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
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const nnjoule::Error& e) {
    std::cerr << "nnjoule: error: " << e.what() << "\n";
    return 1;
  } catch (const std::bad_alloc&) {
    std::cerr << "nnjoule: error: out of memory\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "nnjoule: internal error: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
