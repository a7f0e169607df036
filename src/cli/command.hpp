#pragma once
// Subcommands register themselves here; each lives in its own cmd_*.cpp and stays thin.
#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "nnjoule/common/parse.hpp"
#include "nnjoule/common/text.hpp"
#include "nnjoule/exec/engine.hpp"

namespace nnjoule::cli {

using Registrar = std::function<void(CLI::App&)>;

struct CommandRegistry {
  static void add(int order, Registrar r);
  static void install(CLI::App& app);
};

// Order sets where the command appears in --help.
#define NNJOULE_COMMAND(order, fn) \
  static const bool nnjoule_cmd_##fn = (::nnjoule::cli::CommandRegistry::add(order, fn), true)

// --threads: at most exec::max_threads(), checked before anything is opened or measured.
struct ThreadCount : CLI::Validator {
  ThreadCount() {
    name_ = "THREADS";
    func_ = [](const std::string& s) -> std::string {
      int n = 0;
      try {
        size_t used = 0;
        n = std::stoi(s, &used);
        if (used != s.size()) return "'" + s + "' is not a thread count";
      } catch (const std::exception&) {
        return "'" + s + "' is not a thread count";
      }
      try {
        exec::check_threads(n);
      } catch (const std::exception& e) {
        return e.what();
      }
      return {};
    };
  }
};

// A number option: one whole finite number (nnjoule::parse_number), within [lo, hi] of `unit`;
// CLI11's own checks accept "inf" and print DBL_MAX in their messages.
struct NumberIn : CLI::Validator {
  NumberIn(double lo, double hi, std::string unit, bool lo_open = false) {
    name_ = "NUMBER";
    func_ = [=](const std::string& s) -> std::string {
      const auto v = parse_number(s);
      if (!v) return "'" + quoted_field(s) + "' is not a number";
      if (*v > hi || *v < lo || (lo_open && *v == lo)) {
        return fmt::format("{} {} is outside {} to {} {}{}", s, unit, lo, hi, unit,
                           lo_open ? fmt::format(" (and must be above {})", lo) : "");
      }
      return {};
    };
  }
};

// Names are bytes: any that are not UTF-8 come out with U+FFFD instead of failing the dump.
inline void print_json(const nlohmann::json& j) {
  std::cout << json_text(j, 2) << "\n";
}

}  // namespace nnjoule::cli
