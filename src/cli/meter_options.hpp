#pragma once
// Options shared by `nnjoule meters` and `nnjoule measure`: where sensors are looked for and
// the device file and trace that configure them.
#include <CLI/CLI.hpp>

#include <memory>
#include <optional>
#include <string>

#include "command.hpp"
#include "nnjoule/collect/session.hpp"

namespace nnjoule::cli {

// Binds the options straight to a collect::MeterSetup (the one description of a meter setup).
struct MeterOptions {
  collect::MeterSetup setup_;
  const std::string& root() const { return setup_.root; }
  const std::string& device() const { return setup_.device_file; }

  void add_to(CLI::App* app) {
    // Hidden: points every sysfs/procfs read at a fake tree (tests, debugging).
    app->add_option("--root", setup_.root, "Directory to read /sys and /proc under")->group("");
    app->add_option("--device", setup_.device_file,
                    "Device file (JSON): estimate powers, battery sign, INA total rail, trace")
        ->check(CLI::ExistingFile);
    app->add_option("--trace", setup_.trace,
                    "Power-monitor trace (CSV: time + power, or time + current "
                    "+ voltage; Monsoon exports as they are)");
    app->add_option("--trace-start", setup_.trace_start_epoch_s,
                    "Wall-clock time (Unix seconds) of the trace's t = 0")
        ->check(NumberIn(0, 1e11, "s"));
    app->add_option("--trace-offset", setup_.trace_offset_s,
                    "Seconds from the start of the measurement to the trace's t = 0")
        ->check(NumberIn(-1e6, 1e6, "s"));
    app->add_flag("--allow-charging", setup_.allow_charging,
                  "Use the battery gauge even on a charger (its numbers then include the charger)");
  }

  collect::MeterSetup setup(const std::vector<std::string>& meters = {}) const {
    collect::MeterSetup s = setup_;
    s.meters = meters;
    return s;
  }
};

}  // namespace nnjoule::cli
