#include "nnjoule/score/scores.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "csv.hpp"
#include "nnjoule/common/error.hpp"
#include "nnjoule/common/parse.hpp"
#include "nnjoule/common/table.hpp"

namespace nnjoule::score {
namespace {

std::string join(const std::vector<std::string>& xs, const std::string& sep) {
  std::string s;
  for (const auto& x : xs) s += (s.empty() ? "" : sep) + x;
  return s;
}

std::string config_list(const std::vector<ConfigKey>& cs) {
  std::vector<std::string> labels;
  for (const auto& c : cs) labels.push_back(c.label());
  return join(labels, ", ");
}

// Competition ranking ("1224"): lower value is better.
std::vector<std::optional<int>> rank(const std::vector<std::optional<double>>& values) {
  std::vector<std::optional<int>> out(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    if (!values[i]) continue;
    int better = 0;
    for (const auto& v : values)
      if (v && *v < *values[i]) ++better;
    out[i] = better + 1;
  }
  return out;
}

double geomean(const std::vector<double>& xs) {
  if (xs.empty()) return 0;
  double s = 0;
  for (double x : xs) s += std::log(x);
  return std::exp(s / static_cast<double>(xs.size()));
}

// PCS is 100 x (1 - mean APC / TDP): below 0 when the device draws more on average than its
// TDP, which a TDP by definition rules out, so the TDP (or the power) is wrong. Such a PCS is
// not given; the note says why. APC above the TDP on some configurations is noted as well.
void pcs_notes(DeviceScore& s, const std::vector<std::vector<std::optional<AppResult>>>& grid,
               const std::vector<ConfigKey>& configs, size_t d, size_t n_common) {
  const double tdp = *s.info.tdp_w;
  const std::string from = s.info.tdp_source.empty() ? "" : " (from " + s.info.tdp_source + ")";
  if (s.pcs && *s.pcs < 0) {
    s.notes.push_back(fmt::format(
        "mean APC {:g} W is above the TDP {:g} W{}: PCS would be {:.2f}, below 0; a TDP is "
        "the most a device draws, so the TDP or the power is wrong: no PCS given",
        s.mean_apc_w, tdp, from, *s.pcs));
    s.pcs.reset();
    s.pcs_common.reset();
    return;
  }
  if (s.pcs_common && *s.pcs_common < 0) {
    s.notes.push_back(fmt::format(
        "PCS over the {} common configurations would be {:.2f}, below 0 (their mean APC is above "
        "the TDP {:g} W{}): not given",
        n_common, *s.pcs_common, tdp, from));
    s.pcs_common.reset();
  }
  std::vector<std::string> above;
  for (size_t c = 0; c < configs.size(); ++c) {
    const auto& r = grid[c][d];
    if (r && r->apc_w > tdp)
      above.push_back(fmt::format("{} ({:g} W)", configs[c].label(), r->apc_w));
  }
  if (!above.empty()) {
    std::string list;
    for (const auto& a : above) list += (list.empty() ? "" : ", ") + a;
    s.notes.push_back(fmt::format(
        "APC above the TDP {:g} W{} on {} of {} configurations: {}; their power efficiency "
        "1 - APC/TDP is negative in PCS; check the TDP",
        tdp, from, above.size(), s.configs_run, list));
  }
}

}  // namespace

std::string ScoreReport::unsupported_reason(const std::string& device, const ConfigKey& c) const {
  auto it = unsupported.find({device, c.label()});
  return it == unsupported.end() ? "" : it->second;
}

std::vector<std::string> unsupported_lines(const ScoreReport& rep) {
  // One line per device and reason: "vm: not supported on this runtime (...): DNN1/GPU, ...".
  std::map<std::pair<std::string, std::string>, std::string> grouped;
  for (const auto& [key, reason] : rep.unsupported) {
    auto& list = grouped[{key.first, reason}];
    list += (list.empty() ? "" : ", ") + key.second;
  }
  std::vector<std::string> out;
  for (const auto& [key, configs] : grouped)
    out.push_back(key.first + ": " + key.second + ": " + configs);
  return out;
}

double latency_ms(const AppResult& r) {
  return r.latency_ms ? *r.latency_ms : 1000.0 * r.eci_j / r.apc_w;
}

ScoreReport compute_scores(const ScoreInput& input) {
  ScoreReport rep;
  // Devices: the given ones first, then any that only appear in the results.
  std::vector<DeviceInfo> devices = input.devices;
  auto device_index = [&](const std::string& name) -> std::optional<size_t> {
    for (size_t i = 0; i < devices.size(); ++i)
      if (devices[i].name == name) return i;
    return std::nullopt;
  };
  for (const auto& d : devices) {
    const std::string where = fmt::format("device '{}'", d.name);
    if (d.tdp_w) check_tdp_w(*d.tdp_w, where);
    if (d.price) check_plausible(*d.price, kPriceRange, where, "price ");
    if (d.published_pcs)
      check_plausible(*d.published_pcs, kPublishedPcsRange, where, "published PCS ");
    if (d.published_iecs)
      check_plausible(*d.published_iecs, kPublishedIecsRange, where, "published IECS ");
  }
  for (const auto& r : input.results) {
    if (!device_index(r.device)) devices.push_back(DeviceInfo{.name = r.device});
  }

  rep.configs = input.configs;
  rep.unsupported = input.unsupported;
  auto config_index = [&](const ConfigKey& k) -> std::optional<size_t> {
    for (size_t i = 0; i < rep.configs.size(); ++i)
      if (rep.configs[i] == k) return i;
    return std::nullopt;
  };
  const bool fixed_suite = !input.configs.empty();
  for (const auto& r : input.results) {
    if (!config_index(r.config)) {
      if (fixed_suite) {
        fail("result of '{}' on '{}' is not a configuration of the suite", r.config.label(),
             r.device);
      }
      rep.configs.push_back(r.config);
    }
  }

  const size_t nd = devices.size(), nc = rep.configs.size();
  std::vector<std::vector<std::optional<AppResult>>> grid(
      nc, std::vector<std::optional<AppResult>>(nd));
  for (const auto& r : input.results) {
    // In range, every score below is finite: 1/ECI, 1000/latency and their means and sums.
    const std::string where = fmt::format("result of '{}' on '{}'", r.config.label(), r.device);
    check_plausible(r.apc_w, kApcRange, where, "APC ");
    check_plausible(r.eci_j, kEciRange, where, "ECI ");
    if (r.latency_ms) {
      check_plausible(*r.latency_ms, kLatencyRange, where, "latency ");
    } else if (const double l = latency_ms(r);
               !(l >= kLatencyRange.min && l <= kLatencyRange.max)) {
      fail(
          "{}: latency derived from ECI / APC (1000 * {} J / {} W) is {} ms, outside the "
          "plausible range {} to {} ms; give latency_ms or check apc_w and eci_j",
          where, r.eci_j, r.apc_w, l, kLatencyRange.min, kLatencyRange.max);
    }
    auto& cell = grid[*config_index(r.config)][*device_index(r.device)];
    if (cell) fail("two results of '{}' on '{}'", r.config.label(), r.device);
    cell = r;
  }

  std::vector<bool> is_common(nc, true);
  for (size_t c = 0; c < nc; ++c) {
    for (size_t d = 0; d < nd; ++d)
      if (!grid[c][d]) is_common[c] = false;
    if (is_common[c]) rep.common.push_back(rep.configs[c]);
  }

  // Best throughput per configuration, the performance score's reference.
  std::vector<double> best_ips(nc, 0);
  for (size_t c = 0; c < nc; ++c)
    for (size_t d = 0; d < nd; ++d)
      if (grid[c][d]) best_ips[c] = std::max(best_ips[c], 1000.0 / latency_ms(*grid[c][d]));

  for (size_t d = 0; d < nd; ++d) {
    DeviceScore s;
    s.info = devices[d];
    s.configs_total = static_cast<int>(nc);
    double apc_sum = 0, pe_sum = 0, pe_common = 0;
    std::vector<double> ips, rel, rel_common;
    std::set<std::string> prov;
    int n_common = 0;
    for (size_t c = 0; c < nc; ++c) {
      const auto& r = grid[c][d];
      if (!r) {
        s.missing.push_back(rep.configs[c]);
        continue;
      }
      ++s.configs_run;
      prov.insert(r->provenance.label());
      apc_sum += r->apc_w;
      const double iec = 1.0 / r->eci_j;
      s.iecs += iec;
      const double x = 1000.0 / latency_ms(*r);
      ips.push_back(x);
      rel.push_back(x / best_ips[c]);
      if (s.info.tdp_w) pe_sum += 1.0 - r->apc_w / *s.info.tdp_w;
      if (is_common[c]) {
        ++n_common;
        s.iecs_common += iec;
        rel_common.push_back(x / best_ips[c]);
        if (s.info.tdp_w) pe_common += 1.0 - r->apc_w / *s.info.tdp_w;
      }
    }
    s.provenance.assign(prov.begin(), prov.end());
    if (s.configs_run > 0) {
      s.mean_apc_w = apc_sum / s.configs_run;
      s.ips_geomean = geomean(ips);
      s.perf_score = 100.0 * geomean(rel);
      s.perf_score_common = 100.0 * geomean(rel_common);
      if (s.info.tdp_w) {
        s.pcs = 100.0 * pe_sum / s.configs_run;
        if (n_common > 0) s.pcs_common = 100.0 * pe_common / n_common;
      }
    }
    if (!s.info.tdp_w) s.notes.push_back("no TDP given: PCS cannot be computed");
    if (s.info.tdp_w) pcs_notes(s, grid, rep.configs, d, rep.common.size());
    if (s.configs_run == 0) s.notes.push_back("no results: no score");
    if (s.pcs && s.info.published_pcs) s.pcs_delta = *s.pcs - *s.info.published_pcs;
    if (s.info.published_iecs && *s.info.published_iecs > 0 && s.configs_run > 0) {
      s.iecs_ratio = s.iecs / *s.info.published_iecs;
    }
    if (s.info.published_pcs && *s.info.published_pcs < 100 && s.configs_run > 0) {
      s.implied_tdp_w = s.mean_apc_w / (1.0 - *s.info.published_pcs / 100.0);
    }
    if (!s.missing.empty() && s.configs_run > 0) {
      std::string pcs_part =
          s.pcs ? fmt::format(
                      "PCS averages the {} configurations run ({:.2f}; over the {} every "
                      "device ran: {})",
                      s.configs_run, *s.pcs, rep.common.size(),
                      s.pcs_common ? fmt::format("{:.2f}", *s.pcs_common) : "n/a")
                : "PCS: n/a";
      std::vector<ConfigKey> unsupported, absent;
      for (const auto& c : s.missing)
        (input.unsupported.count({s.info.name, c.label()}) ? unsupported : absent).push_back(c);
      std::string what;
      if (!absent.empty())
        what = fmt::format("{} without a result ({})", absent.size(), config_list(absent));
      if (!unsupported.empty()) {
        what += fmt::format("{}{} not supported on this runtime", what.empty() ? "" : " and ",
                            unsupported.size());
      }
      s.notes.push_back(fmt::format(
          "missing {} of {} configurations: {}. Effect: {}; IECS sums {} terms, the missing ones "
          "add nothing, so it is a lower bound ({:.1f}; over the common configurations: {:.1f}); "
          "the performance score is a geometric mean over the configurations run ({:.1f}; "
          "common: {:.1f})",
          s.missing.size(), nc, what, pcs_part, s.configs_run, s.iecs, s.iecs_common, s.perf_score,
          s.perf_score_common));
    }
    rep.devices.push_back(std::move(s));
  }

  for (size_t c = 0; c < nc; ++c) {
    ConfigRanks cr;
    cr.config = rep.configs[c];
    cr.results = grid[c];
    std::vector<std::optional<double>> apc(nd), eci(nd), lat(nd);
    for (size_t d = 0; d < nd; ++d) {
      if (!grid[c][d]) continue;
      apc[d] = grid[c][d]->apc_w;
      eci[d] = grid[c][d]->eci_j;
      lat[d] = latency_ms(*grid[c][d]);
    }
    cr.apc_rank = rank(apc);
    cr.eci_rank = rank(eci);
    cr.latency_rank = rank(lat);
    rep.ranks.push_back(std::move(cr));
  }
  return rep;
}

std::vector<AppResult> read_measurements_csv(const std::filesystem::path& path) {
  const auto t = detail::CsvTable::read(path);
  const size_t c_dev = t.require({"device"});
  const size_t c_model = t.require({"dnn", "model"});
  const size_t c_del = t.require({"delegate"});
  const size_t c_apc = t.require({"apc_w"});
  const size_t c_eci = t.require({"eci_j"});
  const auto c_lat = t.column({"latency_ms"});
  const Provenance prov{Origin::kImported, path.filename().string()};
  std::vector<AppResult> out;
  std::map<std::string, int> seen;  // device|model|delegate -> line
  for (const auto& row : t.rows()) {
    AppResult r;
    r.device = t.text(row, c_dev);
    r.config = {t.text(row, c_model), t.text(row, c_del)};
    r.apc_w = t.number(row, c_apc, kApcRange);
    r.eci_j = t.number(row, c_eci, kEciRange);
    if (c_lat) r.latency_ms = t.optional_number(row, *c_lat, kLatencyRange);
    r.provenance = prov;
    const std::string key = r.device + "|" + r.config.label();
    if (auto it = seen.find(key); it != seen.end()) {
      fail("{}:{}: second row for {} on '{}' (first on line {})", t.source(), row.line,
           r.config.label(), r.device, it->second);
    }
    seen[key] = row.line;
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<DeviceInfo> read_devices_csv(const std::filesystem::path& path) {
  const auto t = detail::CsvTable::read(path);
  const size_t c_dev = t.require({"device"});
  const auto c_soc = t.column({"soc"});
  const auto c_tdp = t.column({"tdp_w", "tdp_w_as_printed"});
  const auto c_price = t.column({"price"});
  const auto c_pcs = t.column({"pcs_published"});
  const auto c_iecs = t.column({"iecs_published"});
  std::vector<DeviceInfo> out;
  for (const auto& row : t.rows()) {
    DeviceInfo d;
    d.name = t.text(row, c_dev);
    for (const auto& o : out)
      if (o.name == d.name) fail("{}:{}: device '{}' listed twice", t.source(), row.line, d.name);
    if (c_soc) d.soc = row.fields[*c_soc].text;
    if (c_tdp) {
      d.tdp_w = t.optional_number(row, *c_tdp, kTdpRange);
      if (d.tdp_w) d.tdp_source = path.filename().string() + " column " + t.header()[*c_tdp];
    }
    if (c_price) d.price = t.optional_number(row, *c_price, kPriceRange);
    if (c_pcs) d.published_pcs = t.optional_number(row, *c_pcs, kPublishedPcsRange);
    if (c_iecs) d.published_iecs = t.optional_number(row, *c_iecs, kPublishedIecsRange);
    out.push_back(std::move(d));
  }
  return out;
}

void apply_tdp_override(std::vector<DeviceInfo>& devices, const std::string& spec) {
  const auto eq = spec.rfind('=');
  if (eq == std::string::npos || eq == 0) fail("--tdp '{}': expected DEVICE=WATTS", spec);
  const std::string name = spec.substr(0, eq), value = spec.substr(eq + 1);
  const auto parsed = parse_number(value);  // the whole value: "15", not "15W" or "0x10"
  if (!parsed) fail("--tdp '{}': '{}' is not a number of watts", spec, quoted_field(value));
  const double w = *parsed;
  check_plausible(w, kTdpRange, fmt::format("--tdp '{}'", spec), "TDP ", quoted_field(value));
  for (auto& d : devices) {
    if (d.name == name) {
      d.tdp_w = w;
      d.tdp_source = "--tdp";
      return;
    }
  }
  devices.push_back({.name = name, .tdp_w = w, .tdp_source = "--tdp"});
}

void add_results(ScoreInput& input, std::vector<AppResult> results) {
  for (auto& r : results) {
    if (!input.configs.empty() &&
        std::find(input.configs.begin(), input.configs.end(), r.config) == input.configs.end()) {
      input.configs.push_back(r.config);
    }
    input.results.push_back(std::move(r));
  }
}

void merge_devices(std::vector<DeviceInfo>& devices, const std::vector<DeviceInfo>& more) {
  for (const auto& m : more) {
    auto it =
        std::find_if(devices.begin(), devices.end(), [&](auto& d) { return d.name == m.name; });
    if (it == devices.end()) {
      devices.push_back(m);
      continue;
    }
    if (m.tdp_w) it->tdp_w = m.tdp_w, it->tdp_source = m.tdp_source;
    if (m.price) it->price = m.price;
    if (!m.soc.empty()) it->soc = m.soc;
    if (m.published_pcs) it->published_pcs = m.published_pcs;
    if (m.published_iecs) it->published_iecs = m.published_iecs;
  }
}

namespace {

std::string opt(const std::optional<double>& v, int decimals) {
  return v ? fmt::format("{:.{}f}", *v, decimals) : "n/a";
}

}  // namespace

std::string render_text(const ScoreReport& rep) {
  std::string out;
  std::set<std::string> prov;
  for (const auto& d : rep.devices) prov.insert(d.provenance.begin(), d.provenance.end());
  out += fmt::format(
      "Device scores over {} configurations ({} run by every device). Inputs: {}; the scores "
      "are computed from them (docs/scoring.md).\n",
      rep.configs.size(), rep.common.size(), join({prov.begin(), prov.end()}, ", "));
  out +=
      "PCS = 100 x mean(1 - APC/TDP); IECS = sum(1/ECI) [inferences per joule]; perf = 100 x "
      "geomean(ips / best ips of the configuration).\n\n";

  bool any_published = false;
  for (const auto& d : rep.devices)
    if (d.info.published_pcs || d.info.published_iecs) any_published = true;
  std::vector<std::string> header = {"device", "TDP W", "configs", "mean APC W", "PCS"};
  if (any_published) header.insert(header.end(), {"PCS pub.", "ΔPCS", "TDP implied W"});
  header.insert(header.end(), {"IECS"});
  if (any_published) header.insert(header.end(), {"IECS pub.", "IECS/pub."});
  header.insert(header.end(), {"ips geomean", "perf score"});
  std::vector<TextTable::Align> align(header.size(), TextTable::Align::kRight);
  align[0] = TextTable::Align::kLeft;
  TextTable table(header, align);
  for (const auto& d : rep.devices) {
    std::vector<std::string> row = {d.info.name, opt(d.info.tdp_w, 1),
                                    fmt::format("{}/{}", d.configs_run, d.configs_total),
                                    fmt::format("{:.3f}", d.mean_apc_w), opt(d.pcs, 2)};
    if (any_published) {
      row.push_back(opt(d.info.published_pcs, 0));
      row.push_back(d.pcs_delta ? fmt::format("{:+.2f}", *d.pcs_delta) : "n/a");
      row.push_back(opt(d.implied_tdp_w, 2));
    }
    row.push_back(fmt::format("{:.1f}", d.iecs));
    if (any_published) {
      row.push_back(opt(d.info.published_iecs, 0));
      row.push_back(opt(d.iecs_ratio, 3));
    }
    row.push_back(format_number(d.ips_geomean));
    row.push_back(fmt::format("{:.1f}", d.perf_score));
    table.add_row(std::move(row));
  }
  out += table.render();

  std::string notes;
  for (const auto& d : rep.devices) {
    if (d.info.tdp_w && !d.info.tdp_source.empty()) {
      notes +=
          fmt::format("- {}: TDP {} W from {}\n", d.info.name, *d.info.tdp_w, d.info.tdp_source);
    }
    for (const auto& n : d.notes) notes += fmt::format("- {}: {}\n", d.info.name, n);
  }
  for (const auto& line : unsupported_lines(rep)) notes += "- " + line + "\n";
  if (!notes.empty()) out += "\nNotes:\n" + notes;

  // Per-configuration ranks, one table for APC and one for ECI.
  for (int which = 0; which < 2; ++which) {
    std::vector<std::string> h = {which == 0 ? "APC W (rank)" : "ECI J (rank)"};
    for (const auto& d : rep.devices) h.push_back(d.info.name);
    std::vector<TextTable::Align> al(h.size(), TextTable::Align::kRight);
    al[0] = TextTable::Align::kLeft;
    TextTable t(h, al);
    for (const auto& cr : rep.ranks) {
      std::vector<std::string> row = {cr.config.label()};
      for (size_t d = 0; d < cr.results.size(); ++d) {
        if (!cr.results[d]) {
          const auto& dev = rep.devices[d].info.name;
          row.push_back(rep.unsupported_reason(dev, cr.config).empty() ? "missing"
                                                                       : "not supported");
          continue;
        }
        const double v = which == 0 ? cr.results[d]->apc_w : cr.results[d]->eci_j;
        const int r = *(which == 0 ? cr.apc_rank[d] : cr.eci_rank[d]);
        row.push_back(fmt::format("{} ({})", format_number(v), r));
      }
      t.add_row(std::move(row));
    }
    out += "\n" + t.render();
  }
  return out;
}

nlohmann::json to_json(const ScoreReport& rep) {
  using nlohmann::json;
  auto o = [](const std::optional<double>& v) { return v ? json(*v) : json(nullptr); };
  auto keys = [](const std::vector<ConfigKey>& cs) {
    json a = json::array();
    for (const auto& c : cs) a.push_back({{"model", c.model}, {"delegate", c.delegate}});
    return a;
  };
  json j;
  j["configs"] = keys(rep.configs);
  j["common_configs"] = keys(rep.common);
  j["unsupported"] = nlohmann::json::array();
  for (const auto& [key, reason] : rep.unsupported) {
    j["unsupported"].push_back({{"device", key.first}, {"config", key.second}, {"reason", reason}});
  }
  j["devices"] = json::array();
  for (const auto& d : rep.devices) {
    j["devices"].push_back({
        {"device", d.info.name},
        {"soc", d.info.soc},
        {"tdp_w", o(d.info.tdp_w)},
        {"tdp_source", d.info.tdp_source},
        {"price", o(d.info.price)},
        {"configs_run", d.configs_run},
        {"configs_total", d.configs_total},
        {"missing", keys(d.missing)},
        {"mean_apc_w", d.mean_apc_w},
        {"pcs", o(d.pcs)},
        {"pcs_common", o(d.pcs_common)},
        {"iecs", d.iecs},
        {"iecs_common", d.iecs_common},
        {"ips_geomean", d.ips_geomean},
        {"perf_score", d.perf_score},
        {"perf_score_common", d.perf_score_common},
        {"pcs_published", o(d.info.published_pcs)},
        {"iecs_published", o(d.info.published_iecs)},
        {"pcs_delta", o(d.pcs_delta)},
        {"iecs_ratio", o(d.iecs_ratio)},
        {"implied_tdp_w", o(d.implied_tdp_w)},
        {"provenance", d.provenance},
        {"notes", d.notes},
    });
  }
  j["ranks"] = json::array();
  for (const auto& cr : rep.ranks) {
    json cells = json::array();
    for (size_t d = 0; d < cr.results.size(); ++d) {
      if (!cr.results[d]) {
        cells.push_back(nullptr);
        continue;
      }
      const auto& r = *cr.results[d];
      cells.push_back({{"apc_w", r.apc_w},
                       {"eci_j", r.eci_j},
                       {"latency_ms", latency_ms(r)},
                       {"latency_derived", !r.latency_ms.has_value()},
                       {"apc_rank", *cr.apc_rank[d]},
                       {"eci_rank", *cr.eci_rank[d]},
                       {"latency_rank", *cr.latency_rank[d]},
                       {"provenance", r.provenance.label()}});
    }
    j["ranks"].push_back(
        {{"model", cr.config.model}, {"delegate", cr.config.delegate}, {"devices", cells}});
  }
  return j;
}

}  // namespace nnjoule::score
