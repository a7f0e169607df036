#include <nlohmann/json.hpp>

#include <cmath>

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/io.hpp"
#include "nnjoule/common/json.hpp"
#include "nnjoule/meter/meters.hpp"

namespace nnjoule::meter {
namespace {
using json = nlohmann::json;

void only_keys(const json& obj, const std::string& where, std::initializer_list<const char*> keys,
               const std::string& file) {
  if (!obj.is_object()) fail("{}: '{}' must be an object", file, where);
  for (const auto& [k, v] : obj.items()) {
    bool ok = false;
    for (const char* key : keys) ok = ok || k == key;
    if (!ok) {
      std::string known;
      for (const char* key : keys) known += (known.empty() ? "" : ", ") + std::string(key);
      fail("{}: unknown field '{}{}' (known: {})", file, where.empty() ? "" : where + ".", k,
           known);
    }
  }
}

double number(const json& v, const std::string& field, const std::string& file) {
  if (!v.is_number()) fail("{}: '{}' must be a number", file, field);
  const double d = v.get<double>();
  if (!std::isfinite(d)) fail("{}: '{}' must be a finite number", file, field);
  return d;
}

std::string text(const json& v, const std::string& field, const std::string& file) {
  if (!v.is_string()) fail("{}: '{}' must be a string", file, field);
  return v.get<std::string>();
}

}  // namespace

MeterConfig load_device_file(const std::filesystem::path& path, MeterConfig c) {
  const std::string file = path.string();
  const json j = parse_json(read_file(path), file);
  only_keys(j, "", {"estimate", "battery", "ina", "trace"}, file);
  if (j.contains("estimate")) {
    const auto& e = j["estimate"];
    only_keys(e, "estimate", {"idle_power_mw", "busy_core_power_mw", "tdp_w"}, file);
    if (e.contains("idle_power_mw"))
      c.estimate.idle_power_mw = number(e["idle_power_mw"], "estimate.idle_power_mw", file);
    if (e.contains("busy_core_power_mw"))
      c.estimate.busy_core_power_mw =
          number(e["busy_core_power_mw"], "estimate.busy_core_power_mw", file);
    if (e.contains("tdp_w")) c.estimate.tdp_w = number(e["tdp_w"], "estimate.tdp_w", file);
    for (auto* v : {&c.estimate.idle_power_mw, &c.estimate.busy_core_power_mw})
      if (*v && **v < 0) fail("{}: estimate powers must not be negative", file);
    if (c.estimate.tdp_w && !(*c.estimate.tdp_w > 0))
      fail("{}: 'estimate.tdp_w' must be positive", file);
  }
  if (j.contains("battery")) {
    const auto& b = j["battery"];
    only_keys(b, "battery", {"sign", "allow_charging", "supply"}, file);
    if (b.contains("sign")) {
      const std::string s = text(b["sign"], "battery.sign", file);
      if (s == "auto")
        c.battery.sign = CurrentSign::kAuto;
      else if (s == "positive-discharge")
        c.battery.sign = CurrentSign::kPositiveDischarge;
      else if (s == "negative-discharge")
        c.battery.sign = CurrentSign::kNegativeDischarge;
      else
        fail("{}: 'battery.sign' is '{}' (expected auto, positive-discharge or negative-discharge)",
             file, s);
    }
    if (b.contains("allow_charging")) {
      if (!b["allow_charging"].is_boolean())
        fail("{}: 'battery.allow_charging' must be true or false", file);
      c.battery.allow_charging = b["allow_charging"].get<bool>();
    }
    if (b.contains("supply")) c.battery.supply = text(b["supply"], "battery.supply", file);
  }
  if (j.contains("ina")) {
    only_keys(j["ina"], "ina", {"total_rail"}, file);
    if (j["ina"].contains("total_rail"))
      c.ina.total_rail = text(j["ina"]["total_rail"], "ina.total_rail", file);
  }
  if (j.contains("trace")) {
    const auto& t = j["trace"];
    only_keys(t, "trace", {"path", "start_epoch_s", "offset_s"}, file);
    if (t.contains("path")) {
      std::filesystem::path p = text(t["path"], "trace.path", file);
      c.trace.path = p.is_relative() ? path.parent_path() / p : p;
    }
    if (t.contains("start_epoch_s"))
      c.trace.start_epoch_s = number(t["start_epoch_s"], "trace.start_epoch_s", file);
    if (t.contains("offset_s")) c.trace.offset_s = number(t["offset_s"], "trace.offset_s", file);
  }
  return c;
}

}  // namespace nnjoule::meter
