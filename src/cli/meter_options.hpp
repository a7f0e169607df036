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

struct MeterOptions {
  std::string root = "/";
  std::string device;
  std::string trace;
  std::optional<double> trace_start;
  double trace_offset = 0;
  bool allow_charging = false;

  void add_to(CLI::App* app) {
    // Hidden: points every sysfs/procfs read at a fake tree (tests, debugging).
    app->add_option("--root", root, "Directory to read /sys and /proc under")->group("");
    app->add_option("--device", device,
                    "Device file (JSON): estimate powers, battery sign, INA total rail, trace")
        ->check(CLI::ExistingFile);
    app->add_option("--trace", trace,
                    "Power-monitor trace (CSV: time + power, or time + current "
                    "+ voltage; Monsoon exports as they are)");
    app->add_option("--trace-start", trace_start,
                    "Wall-clock time (Unix seconds) of the trace's t = 0")
        ->check(NumberIn(0, 1e11, "s"));
    app->add_option("--trace-offset", trace_offset,
                    "Seconds from the start of the measurement to the trace's t = 0")
        ->check(NumberIn(-1e6, 1e6, "s"));
    app->add_flag("--allow-charging", allow_charging,
                  "Use the battery gauge even on a charger (its numbers then include the charger)");
  }

  collect::MeterSetup setup(const std::vector<std::string>& meters = {}) const {
    collect::MeterSetup s;
    s.root = root;
    s.device_file = device;
    s.trace = trace;
    s.trace_start_epoch_s = trace_start;
    s.trace_offset_s = trace_offset;
    s.allow_charging = allow_charging;
    s.meters = meters;
    return s;
  }
};

}  // namespace nnjoule::cli
