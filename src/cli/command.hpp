#pragma once
// Subcommands register themselves here; each lives in its own cmd_*.cpp and stays thin.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <functional>
#include <iostream>
#include <string>
#include <vector>

namespace nnjoule::cli {

using Registrar = std::function<void(CLI::App&)>;

struct CommandRegistry {
  static void add(int order, Registrar r);
  static void install(CLI::App& app);
};

// Order sets where the command appears in --help.
#define NNJOULE_COMMAND(order, fn) \
  static const bool nnjoule_cmd_##fn = (::nnjoule::cli::CommandRegistry::add(order, fn), true)

inline void print_json(const nlohmann::json& j) {
  std::cout << j.dump(2) << "\n";
}

}  // namespace nnjoule::cli
