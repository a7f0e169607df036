#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/io.hpp"
#include "nnjoule/common/text.hpp"
#include "nnjoule/report/report.hpp"
#include "nnjoule/version.hpp"
#include "web_assets.hpp"

namespace nnjoule::report {
namespace {
using nlohmann::json;

std::string esc(const std::string& raw) {
  const std::string s = printable(raw);  // names from files are bytes; the page is UTF-8
  std::string o;
  o.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        o += "&amp;";
        break;
      case '<':
        o += "&lt;";
        break;
      case '>':
        o += "&gt;";
        break;
      case '"':
        o += "&quot;";
        break;
      case '\'':
        o += "&#39;";
        break;
      default:
        o += c;
    }
  }
  return o;
}

// A library placed inside <script>: only "</script" would end the element early (a general
// "</" rewrite would break regular expressions such as /</g).
std::string script_safe(std::string_view js) {
  std::string o(js);
  for (size_t p = 0; (p = o.find("</script", p)) != std::string::npos; p += 3)
    o.replace(p, 2, "<\\/");
  // The source-map comment would make a browser with DevTools open look for a file.
  if (auto p = o.rfind("//# sourceMappingURL="); p != std::string::npos) o.erase(p);
  return o;
}

// JSON placed inside <script>: "<\/" means "</" in a JSON string, and nothing can end the element.
std::string json_safe(const std::string& text) {
  std::string o = text;
  for (size_t p = 0; (p = o.find("</", p)) != std::string::npos; p += 3) o.replace(p, 2, "<\\/");
  return o;
}

std::string num(double v, int decimals) {
  return fmt::format("{:.{}f}", v, decimals);
}
std::string opt(const std::optional<double>& v, int decimals) {
  return v ? num(*v, decimals) : "<span class=na>n/a</span>";
}

// Rank 1 green, the last red, through yellow (the study's table colours).
std::string rank_colour(int rank, int n) {
  const double t = n <= 1 ? 0 : static_cast<double>(rank - 1) / (n - 1);
  const double hue = 120 * (1 - t);
  return fmt::format("hsl({:.0f}, 65%, 78%)", hue);
}

std::string join_labels(const std::vector<std::string>& xs) {
  std::string s;
  for (const auto& x : xs) s += (s.empty() ? "" : ", ") + x;
  return s.empty() ? "no results" : s;
}

std::string badge(const std::string& label) {
  std::string kind = label.substr(0, label.find(' '));
  return fmt::format("<span class=\"badge {}\">{}</span>", esc(kind), esc(label));
}

std::set<std::string> all_labels(const score::ScoreReport& s) {
  std::set<std::string> out;
  for (const auto& d : s.devices) out.insert(d.provenance.begin(), d.provenance.end());
  return out;
}

std::string device_table(const score::ScoreReport& s) {
  bool published = false, price = false;
  for (const auto& d : s.devices) {
    published = published || d.info.published_pcs || d.info.published_iecs;
    price = price || d.info.price;
  }
  std::string h = "<table class=scores><thead><tr><th>device</th><th>SoC</th><th>TDP W</th>";
  if (price) h += "<th>price</th>";
  h += "<th>configs run</th><th>mean APC W</th><th>PCS</th>";
  if (published) h += "<th>PCS published</th>";
  h += "<th>IECS 1/J</th>";
  if (published) h += "<th>IECS published</th><th>IECS / published</th>";
  h += "<th>inferences/s (geomean)</th><th>performance "
       "score</th><th>inputs</th></tr></thead><tbody>";
  for (const auto& d : s.devices) {
    h += "<tr><td class=dev>" + esc(d.info.name) + "</td><td>" + esc(d.info.soc) + "</td>";
    h += "<td title=\"" + esc(d.info.tdp_source) + "\">" + opt(d.info.tdp_w, 1) + "</td>";
    if (price) h += "<td>" + opt(d.info.price, 0) + "</td>";
    h += fmt::format("<td>{}/{}</td><td>{}</td><td class=score>{}</td>", d.configs_run,
                     d.configs_total, num(d.mean_apc_w, 3), opt(d.pcs, 1));
    auto published_cell = [&](const std::optional<double>& v) {
      return "<td>" + opt(v, 0) + (v ? " " + badge("imported") : "") + "</td>";
    };
    if (published) h += published_cell(d.info.published_pcs);
    h += "<td class=score>" + num(d.iecs, 1) + "</td>";
    if (published) {
      h += published_cell(d.info.published_iecs) + "<td>" + opt(d.iecs_ratio, 3) + "</td>";
    }
    h += "<td>" + num(d.ips_geomean, 2) + "</td><td class=score>" + num(d.perf_score, 1) + "</td>";
    std::string badges;
    for (const auto& l : d.provenance) badges += badge(l) + " ";
    h += "<td>" + (badges.empty() ? "no results" : badges) + "</td></tr>";
  }
  h += "</tbody></table>";
  return h;
}

std::string rank_table(const score::ScoreReport& s, bool eci) {
  const int n = static_cast<int>(s.devices.size());
  std::string h = "<table class=ranks><thead><tr><th>configuration</th>";
  for (const auto& d : s.devices) h += "<th>" + esc(d.info.name) + "</th>";
  h += "</tr></thead><tbody>";
  for (const auto& cr : s.ranks) {
    const auto label = cr.config.label();
    h += "<tr><td class=cfg>" + esc(label) + "</td>";
    for (size_t d = 0; d < cr.results.size(); ++d) {
      if (!cr.results[d]) {
        const auto why = s.unsupported_reason(s.devices[d].info.name, cr.config);
        if (!why.empty()) {
          h += "<td class=unsupported title=\"" + esc(why) + "\">not supported</td>";
        } else {
          h += "<td class=missing>missing</td>";
        }
        continue;
      }
      const auto& r = *cr.results[d];
      const int rank = *(eci ? cr.eci_rank[d] : cr.apc_rank[d]);
      const int ranked = static_cast<int>(std::count_if(
          cr.results.begin(), cr.results.end(), [](const auto& x) { return x.has_value(); }));
      h += fmt::format(
          "<td style=\"background:{}\" title=\"{} — rank {} of {}; latency {} ms{}\">{} "
          "<span class=rank>#{}</span></td>",
          rank_colour(rank, std::max(ranked, 1)), esc(r.provenance.label()), rank, ranked,
          num(score::latency_ms(r), 1), r.latency_ms ? "" : " (derived from ECI/APC)",
          num(eci ? r.eci_j : r.apc_w, eci ? 4 : 3), rank);
    }
    h += "</tr>";
  }
  (void)n;
  h += "</tbody></table>";
  return h;
}

json bubble_spec(const score::ScoreReport& s, std::vector<std::string>& notes) {
  bool all_price = !s.devices.empty();
  for (const auto& d : s.devices) all_price = all_price && d.info.price.has_value();
  json values = json::array();
  for (const auto& d : s.devices) {
    if (!d.pcs) {
      notes.push_back(d.info.name + ": no PCS (no TDP), not in the chart");
      continue;
    }
    const std::optional<double> size = all_price ? d.info.price : d.info.tdp_w;
    values.push_back({{"device", d.info.name},
                      {"pcs", *d.pcs},
                      {"perf", d.perf_score},
                      {"ips", d.ips_geomean},
                      {"size", size ? *size : 1.0},
                      {"iecs", d.iecs},
                      {"inputs", join_labels(d.provenance)}});
  }
  const std::string size_title = all_price ? "price" : "TDP (W)";
  json enc = {
      {"x",
       {{"field", "perf"},
        {"type", "quantitative"},
        {"title", "performance score (100 = fastest per configuration)"},
        {"scale", {{"zero", false}, {"padding", 30}}}}},
      {"y",
       {{"field", "pcs"},
        {"type", "quantitative"},
        {"title", "PCS (higher = less power for its TDP)"},
        {"scale", {{"zero", false}, {"padding", 30}}}}},
  };
  json circle_enc = enc;
  circle_enc["size"] = {{"field", "size"},
                        {"type", "quantitative"},
                        {"title", size_title},
                        {"scale", {{"range", {150, 2500}}}}};
  circle_enc["color"] = {{"field", "device"}, {"type", "nominal"}, {"legend", nullptr}};
  circle_enc["tooltip"] =
      json::array({{{"field", "device"}},
                   {{"field", "pcs"}, {"format", ".1f"}, {"title", "PCS"}},
                   {{"field", "perf"}, {"format", ".1f"}, {"title", "performance score"}},
                   {{"field", "ips"}, {"format", ".2f"}, {"title", "inferences/s"}},
                   {{"field", "iecs"}, {"format", ".1f"}, {"title", "IECS"}},
                   {{"field", "size"}, {"title", size_title}},
                   {{"field", "inputs"}}});
  json text_enc = enc;
  text_enc["text"] = {{"field", "device"}};
  return {
      {"$schema", "https://vega.github.io/schema/vega-lite/v6.json"},
      {"width", "container"},
      {"autosize", {{"type", "fit-x"}, {"contains", "padding"}}},
      {"height", 360},
      {"data", {{"values", values}}},
      {"layer",
       json::array(
           {{{"mark",
              {{"type", "circle"}, {"opacity", 0.55}, {"stroke", "#333"}, {"strokeWidth", 0.6}}},
             {"encoding", circle_enc}},
            {{"mark", {{"type", "text"}, {"dy", -16}, {"fontSize", 11}}},
             {"encoding", text_enc}}})}};
}

// One quantity of the predicted-vs-measured points (energy or latency) on log axes, with the
// ±10% band around the diagonal.
struct Quantity {
  std::string key;   // "energy", "latency": chart id and the values' field prefix
  std::string what;  // "energy per inference"
  std::string unit;  // "mJ", "ms"
  std::optional<double> PredictedPoint::*measured;
  std::optional<double> PredictedPoint::*predicted;
  std::string PredictedPoint::*label;
};

const Quantity kEnergy{"energy",
                       "energy per inference",
                       "mJ",
                       &PredictedPoint::measured_mj,
                       &PredictedPoint::predicted_mj,
                       &PredictedPoint::measured_label};
const Quantity kLatency{"latency",
                        "latency per inference",
                        "ms",
                        &PredictedPoint::measured_ms,
                        &PredictedPoint::predicted_ms,
                        &PredictedPoint::latency_label};

std::vector<const PredictedPoint*> points_of(const std::vector<PredictedPoint>& pts,
                                             const Quantity& q) {
  std::vector<const PredictedPoint*> out;
  for (const auto& p : pts)
    if (p.*q.measured && p.*q.predicted) out.push_back(&p);
  return out;
}

double error_pct(const PredictedPoint& p, const Quantity& q) {
  return 100 * (*(p.*q.predicted) - *(p.*q.measured)) / *(p.*q.measured);
}

// Log-axis ticks at 1, 2 and 5 per decade inside [lo, hi] (every integer multiple when that
// gives fewer than three): Vega's own log ticks crowd a short axis with unlabelled lines.
json log_ticks(double lo, double hi) {
  json out = json::array();
  for (const auto& steps :
       {std::vector<int>{1, 2, 5}, std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8, 9}}) {
    out = json::array();
    for (double decade = std::pow(10, std::floor(std::log10(lo))); decade <= hi; decade *= 10) {
      for (int m : steps) {
        const double v = m * decade;
        if (v >= lo && v <= hi) out.push_back(v);
      }
    }
    if (out.size() >= 3) break;
  }
  return out;
}

json predicted_spec(const std::vector<const PredictedPoint*>& pts, const Quantity& q) {
  double lo = INFINITY, hi = 0;
  json values = json::array();
  for (const auto* p : pts) {
    const double m = *(p->*q.measured), pr = *(p->*q.predicted);
    lo = std::min({lo, m, pr});
    hi = std::max({hi, m, pr});
    const double err = error_pct(*p, q);
    values.push_back({{"model", p->model},
                      {"measured", m},
                      {"predicted", pr},
                      {"error", err},
                      {"within", std::fabs(err) <= 10 ? "within ±10%" : "outside ±10%"},
                      {"measured_label", p->*q.label},
                      {"predicted_label", p->predicted_label},
                      {"note", p->note.empty() ? "-" : p->note}});
  }
  lo *= 0.85;
  hi *= 1.15;
  json band = json::array();
  for (int i = 0; i <= 20; ++i) {
    const double x = lo * std::pow(hi / lo, i / 20.0);
    band.push_back({{"x", x}, {"lo", 0.9 * x}, {"hi", 1.1 * x}, {"y", x}});
  }
  const json xs = {{"type", "log"}, {"domain", {lo, hi}}, {"nice", false}};
  const json axis = {{"grid", true}, {"values", log_ticks(lo, hi)}, {"format", "~g"}};
  const std::string unit = " (" + q.unit + ")";
  return {
      {"$schema", "https://vega.github.io/schema/vega-lite/v6.json"},
      {"width", "container"},
      {"autosize", {{"type", "fit-x"}, {"contains", "padding"}}},
      {"height", 250},
      {"layer",
       json::array(
           {{{"data", {{"values", band}}},
             {"mark", {{"type", "area"}, {"opacity", 0.18}, {"color", "#2c7fb8"}, {"clip", true}}},
             {"encoding",
              {{"x",
                {{"field", "x"},
                 {"type", "quantitative"},
                 {"scale", xs},
                 {"axis", axis},
                 {"title", "measured " + q.what + unit}}},
               {"y",
                {{"field", "lo"},
                 {"type", "quantitative"},
                 {"scale", xs},
                 {"axis", axis},
                 {"title", "predicted" + unit}}},
               {"y2", {{"field", "hi"}}}}}},
            {{"data", {{"values", band}}},
             {"mark",
              {{"type", "line"}, {"color", "#2c7fb8"}, {"strokeDash", {4, 3}}, {"clip", true}}},
             {"encoding",
              {{"x", {{"field", "x"}, {"type", "quantitative"}, {"scale", xs}}},
               {"y", {{"field", "y"}, {"type", "quantitative"}, {"scale", xs}}}}}},
            {{"data", {{"values", values}}},
             {"mark", {{"type", "point"}, {"filled", true}, {"size", 55}, {"opacity", 0.85}}},
             {"encoding",
              {{"x", {{"field", "measured"}, {"type", "quantitative"}, {"scale", xs}}},
               {"y", {{"field", "predicted"}, {"type", "quantitative"}, {"scale", xs}}},
               {"color",
                {{"field", "within"},
                 {"type", "nominal"},
                 {"title", nullptr},
                 {"legend", {{"orient", "bottom"}, {"direction", "horizontal"}}},
                 {"scale",
                  {{"domain", {"within ±10%", "outside ±10%"}},
                   {"range", {"#1a9850", "#d73027"}}}}}},
               {"tooltip",
                json::array(
                    {{{"field", "model"}},
                     {{"field", "measured"}, {"format", ".3f"}, {"title", "measured " + q.unit}},
                     {{"field", "predicted"}, {"format", ".3f"}, {"title", "predicted " + q.unit}},
                     {{"field", "error"}, {"format", "+.1f"}, {"title", "error %"}},
                     {{"field", "measured_label"}, {"title", "measured by"}},
                     {{"field", "predicted_label"}, {"title", "predicted by"}},
                     {{"field", "note"}}})}}}}})}};
}

json breakdown_spec(const KernelBreakdown& b) {
  std::vector<KernelEnergy> ks = b.kernels;
  std::stable_sort(ks.begin(), ks.end(),
                   [](auto& x, auto& y) { return x.energy_mj > y.energy_mj; });
  json values = json::array();
  const size_t shown = std::min<size_t>(ks.size(), 20);
  double rest = 0, rest_ms = 0;
  for (size_t i = shown; i < ks.size(); ++i) rest += ks[i].energy_mj, rest_ms += ks[i].latency_ms;
  for (size_t i = 0; i < shown; ++i) {
    values.push_back({{"kernel", fmt::format("{:02d} {}", i + 1, ks[i].name)},
                      {"op", ks[i].op},
                      {"energy", ks[i].energy_mj},
                      {"latency", ks[i].latency_ms}});
  }
  if (ks.size() > shown) {
    values.push_back(
        {{"kernel", fmt::format("{:02d} the other {} kernels", shown + 1, ks.size() - shown)},
         {"op", "other"},
         {"energy", rest},
         {"latency", rest_ms}});
  }
  return {
      {"$schema", "https://vega.github.io/schema/vega-lite/v6.json"},
      {"width", "container"},
      {"autosize", {{"type", "fit-x"}, {"contains", "padding"}}},
      {"data", {{"values", values}}},
      {"mark", {{"type", "bar"}}},
      {"encoding",
       {{"y",
         {{"field", "kernel"},
          {"type", "nominal"},
          {"sort", nullptr},
          {"title", nullptr},
          {"axis", {{"labelLimit", 260}}}}},
        {"x",
         {{"field", "energy"}, {"type", "quantitative"}, {"title", "energy per inference (mJ)"}}},
        {"color", {{"field", "op"}, {"type", "nominal"}, {"title", "op"}}},
        {"tooltip", json::array({{{"field", "kernel"}},
                                 {{"field", "op"}},
                                 {{"field", "energy"}, {"format", ".4f"}, {"title", "mJ"}},
                                 {{"field", "latency"}, {"format", ".3f"}, {"title", "ms"}}})}}}};
}

json trace_spec(const PowerTrace& t) {
  json values = json::array();
  for (const auto& s : t.samples)
    values.push_back({{"t", s.t_s}, {"power", s.power_mw / 1000.0}, {"phase", s.phase}});
  return {{"$schema", "https://vega.github.io/schema/vega-lite/v6.json"},
          {"width", "container"},
          {"autosize", {{"type", "fit-x"}, {"contains", "padding"}}},
          {"height", 240},
          {"data", {{"values", values}}},
          {"layer",
           json::array(
               {{{"mark", {{"type", "line"}, {"color", "#777"}, {"strokeWidth", 1}}},
                 {"encoding",
                  {{"x", {{"field", "t"}, {"type", "quantitative"}, {"title", "time (s)"}}},
                   {"y", {{"field", "power"}, {"type", "quantitative"}, {"title", "power (W)"}}}}}},
                {{"mark", {{"type", "point"}, {"filled", true}, {"size", 18}}},
                 {"encoding",
                  {{"x", {{"field", "t"}, {"type", "quantitative"}}},
                   {"y", {{"field", "power"}, {"type", "quantitative"}}},
                   {"color", {{"field", "phase"}, {"type", "nominal"}, {"title", "phase"}}},
                   {"tooltip", json::array({{{"field", "t"}, {"format", ".3f"}, {"title", "s"}},
                                            {{"field", "power"}, {"format", ".3f"}, {"title", "W"}},
                                            {{"field", "phase"}}})}}}}})}};
}

const char* kStyle = R"css(
:root { --ink: #1f2933; --muted: #616e7c; --line: #d9e2ec; --card: #ffffff; --bg: #f5f7fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: var(--ink); background: var(--bg); }
header { background: #243b53; color: #fff; padding: 18px 28px; }
header h1 { margin: 0 0 4px; font-size: 22px; font-weight: 600; }
header .sub { color: #bcccdc; font-size: 13px; }
main { padding: 18px 28px 40px; max-width: 1500px; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 8px;
          padding: 14px 18px 18px; margin: 0 0 18px; overflow-x: auto; }
h2 { font-size: 17px; margin: 0 0 6px; }
h3 { font-size: 14px; margin: 4px 0 2px; }
.pair { display: grid; grid-template-columns: repeat(auto-fit, minmax(280px, 1fr)); gap: 14px; }
.pair > div { min-width: 0; }
p.what { color: var(--muted); margin: 0 0 12px; font-size: 13px; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(620px, 1fr)); gap: 18px; }
.grid section { margin: 0; }
table { border-collapse: collapse; font-size: 12px; }
th, td { border: 1px solid var(--line); padding: 3px 7px; text-align: right; white-space: nowrap; }
th { background: #f0f4f8; font-weight: 600; text-align: center; white-space: normal; }
details summary { cursor: pointer; color: var(--muted); font-size: 12.5px; margin-top: 8px; }
td.dev, td.cfg { text-align: left; font-weight: 600; }
td.score { font-weight: 700; }
td.missing { background: #eceff1; color: #7b8794; text-align: center; font-style: italic; }
td.unsupported { background: repeating-linear-gradient(45deg, #eceff1, #eceff1 4px, #e1e5e9 4px, #e1e5e9 8px);
                 color: #7b8794; text-align: center; font-style: italic; }
span.rank { color: #3e4c59; font-size: 11px; }
span.na { color: #9aa5b1; font-style: italic; }
.badge { display: inline-block; padding: 0 6px; border-radius: 9px; font-size: 11px;
         border: 1px solid; white-space: nowrap; }
.badge.measured { color: #0b6e4f; border-color: #0b6e4f; background: #e3f9e5; }
.badge.estimated { color: #8d2b0b; border-color: #c65d21; background: #fffbea; }
.badge.predicted { color: #1f4d99; border-color: #2c7fb8; background: #e6f0ff; }
.badge.imported { color: #5b2c83; border-color: #7b4fa3; background: #f2ebfa; }
ul.notes { margin: 6px 0 0; padding-left: 18px; color: var(--muted); font-size: 12.5px; }
.legend span { display: inline-block; width: 26px; height: 12px; margin: 0 2px -2px 8px; border: 1px solid #ccc; }
.empty { color: var(--muted); font-style: italic; }
#nnjoule-status { font-size: 12px; color: #d73027; }
div.chart { width: 100%; }
)css";

}  // namespace

std::string render_html(const ReportInput& in) {
  if (!detail::web_assets_built()) {
    fail(
        "this nnjoule was built without the HTML report (NNJOULE_HTML_REPORT=OFF, or npm was "
        "missing): install npm (scripts/install-deps.sh) and configure with "
        "-DNNJOULE_HTML_REPORT=ON");
  }
  const auto& s = in.scores;
  std::vector<std::string> chart_notes;
  json charts = json::array();
  std::string body;

  const auto labels = all_labels(s);
  std::string label_badges;
  for (const auto& l : labels) label_badges += badge(l) + " ";

  // Without application results (a database of collected models and a predictor) the page is
  // the predictions alone.
  const bool no_results = s.devices.empty();
  body += "<section><h2>Device scores</h2>";
  if (no_results) {
    body += "<p class=empty>No application results in " + esc(in.source) +
            ": the scores, ranks, kernel breakdown and power trace need nnjoule apps --suite "
            "NAME --db FILE (or --measurements CSV for the scores).</p>";
  } else {
    body +=
        "<p class=what>PCS = 100 × mean(1 − APC/TDP) over the configurations a device ran; "
        "IECS = Σ 1/ECI (inferences per joule); performance score = 100 × geometric mean of "
        "inferences/s relative to the fastest device per configuration. Scores are computed by "
        "nnjoule from the inputs: " +
        label_badges + "(docs/scoring.md).</p>" + device_table(s);
  }
  std::string notes;
  std::map<std::string, std::string> tdp_sources;  // source -> devices
  for (const auto& d : s.devices) {
    if (d.info.tdp_w && !d.info.tdp_source.empty()) {
      auto& list = tdp_sources[d.info.tdp_source];
      list += (list.empty() ? "" : ", ") + d.info.name;
    }
  }
  for (const auto& [src, devs] : tdp_sources)
    notes += "<li>TDP from " + esc(src) + ": " + esc(devs) + "</li>";
  for (const auto& d : s.devices) {
    for (const auto& n : d.notes) notes += "<li>" + esc(d.info.name) + ": " + esc(n) + "</li>";
  }
  for (const auto& line : score::unsupported_lines(s)) notes += "<li>" + esc(line) + "</li>";
  if (!notes.empty()) {
    body +=
        "<details><summary>Notes: TDP sources, missing and unsupported configurations and "
        "their effect on each score</summary><ul class=notes>" +
        notes + "</ul></details>";
  }
  body += "</section>";

  const std::string legend =
      "<p class=what>Rank per configuration, 1 = lowest (best) "
      "<span class=legend><span style=\"background:" +
      rank_colour(1, 3) +
      "\"></span>best"
      "<span style=\"background:" +
      rank_colour(2, 3) +
      "\"></span>middle"
      "<span style=\"background:" +
      rank_colour(3, 3) + "\"></span>worst</span>. Values: " + label_badges +
      "hover a cell for its latency and origin.</p>";
  const std::string rank_tables =
      "<section><h2>Average power consumption (APC, W) per configuration</h2>" + legend +
      rank_table(s, false) + "</section>" +
      "<section><h2>Energy per inference (ECI, J) per configuration</h2>" + legend +
      rank_table(s, true) + "</section>";

  std::string bubble;
  if (!no_results) {
    charts.push_back({{"id", "chart-bubble"}, {"spec", bubble_spec(s, chart_notes)}});
    bubble = "<section><h2>PCS against performance</h2><p class=what>Bubble size: " +
             std::string(std::all_of(s.devices.begin(), s.devices.end(),
                                     [](auto& d) { return d.info.price.has_value(); })
                             ? "price"
                             : "TDP") +
             ". Computed from " + label_badges + "</p><div id=chart-bubble class=chart></div>";
    if (!chart_notes.empty()) {
      bubble += "<ul class=notes>";
      for (const auto& n : chart_notes) bubble += "<li>" + esc(n) + "</li>";
      bubble += "</ul>";
    }
    bubble += "</section>";
  }

  std::string pred = "<section><h2>Predicted against measured</h2>";
  const auto energy_pts = points_of(in.predicted, kEnergy);
  const auto latency_pts = points_of(in.predicted, kLatency);
  if (!energy_pts.empty() || !latency_pts.empty()) {
    pred += "<p class=what>" +
            esc(in.predicted_subject.empty() ? fmt::format("{} models", in.predicted.size())
                                             : in.predicted_subject) +
            ". The band is ±10% around the diagonal.</p><div class=pair>";
    for (const auto& [q, pts] : {std::pair{&kEnergy, &energy_pts}, {&kLatency, &latency_pts}}) {
      if (pts->empty()) continue;
      std::set<std::string> origins;
      int within = 0;
      for (const auto* p : *pts) {
        origins.insert(p->*q->label);
        origins.insert(p->predicted_label);
        within += std::fabs(error_pct(*p, *q)) <= 10;
      }
      std::string b;
      for (const auto& l : origins) b += " " + badge(l);
      const std::string id = "chart-predicted-" + q->key;
      pred += fmt::format(
          "<div><h3>{}</h3><p class=what>{} of {} models within ±10%.{}</p><div id={} "
          "class=chart></div></div>",
          esc(q->what), within, pts->size(), b, id);
      charts.push_back({{"id", id}, {"spec", predicted_spec(*pts, *q)}});
    }
    pred += "</div>";
  } else {
    pred +=
        "<p class=empty>" +
        esc(in.predicted_note.empty()
                ? "No predictions: give --db FILE and --predictor BUNDLE (models measured in the "
                  "database, predicted by the bundle)."
                : in.predicted_note) +
        "</p>";
  }
  if (!in.predicted_notes.empty()) {
    pred += "<details><summary>Notes on these predictions (" +
            std::to_string(in.predicted_notes.size()) + ")</summary><ul class=notes>";
    for (const auto& n : in.predicted_notes) pred += "<li>" + esc(n) + "</li>";
    pred += "</ul></details>";
  }
  pred += "</section>";
  if (no_results) {
    body += pred;
  } else {
    body += "<div class=grid>" + bubble + pred + "</div><div class=grid>";
    body += "<section><h2>Per-kernel energy breakdown</h2>";
    if (in.breakdown && !in.breakdown->kernels.empty()) {
      double total = 0;
      for (const auto& k : in.breakdown->kernels) total += k.energy_mj;
      body += "<p class=what>" + esc(in.breakdown->subject) + ": " +
              fmt::format("{} kernels, {:.3f} mJ per inference in total",
                          in.breakdown->kernels.size(), total) +
              (in.breakdown->method.empty() ? "" : "; " + esc(in.breakdown->method)) + ". " +
              badge(in.breakdown->label) + "</p><div id=chart-kernels class=chart></div>";
      charts.push_back({{"id", "chart-kernels"}, {"spec", breakdown_spec(*in.breakdown)}});
    } else {
      body +=
          "<p class=empty>No per-kernel timings in this database (nnjoule apps stores them with "
          "each suite run).</p>";
    }
    body += "</section>";

    body += "<section><h2>Power trace</h2>";
    if (in.trace && !in.trace->samples.empty()) {
      body += "<p class=what>" + esc(in.trace->subject) + ". " + badge(in.trace->label) +
              "</p><div id=chart-trace class=chart></div>";
      charts.push_back({{"id", "chart-trace"}, {"spec", trace_spec(*in.trace)}});
    } else {
      body +=
          "<p class=empty>No power trace in this database (nnjoule apps records one per suite "
          "run).</p>";
    }
    body += "</section></div>";
    // The long per-configuration tables come last, after the charts.
    body += rank_tables;
  }

  std::string head_notes;
  for (const auto& n : in.notes) head_notes += "<li>" + esc(n) + "</li>";

  std::string html;
  html.reserve(1300000);
  html += "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8><title>" + esc(in.title) +
          "</title><meta name=viewport content=\"width=device-width, initial-scale=1\"><style>" +
          kStyle + "</style>\n";
  // The status element is the page's health check: headless tests read data-status.
  html +=
      "<script>\nfunction nnjouleStatus(s){var e=document.getElementById('nnjoule-status');"
      "if(!e){window.__nnjouleEarly=window.__nnjouleEarly||s;return;}"
      "if((e.dataset.status||'').indexOf('error')===0)return;e.dataset.status=s;"
      "e.textContent=s==='ok'?'':s;}\n"
      "window.onerror=function(m,src,line){nnjouleStatus('error: '+m+' (line '+line+')');};\n"
      "window.addEventListener('unhandledrejection',function(ev){nnjouleStatus('error: "
      "'+ev.reason);});\n"
      "</script>\n";
  html += "<script>" + script_safe(detail::vega_js()) + "</script>\n";
  html += "<script>" + script_safe(detail::vega_lite_js()) + "</script>\n";
  html += "<script>" + script_safe(detail::vega_embed_js()) + "</script>\n";
  html += "</head><body><header><h1>" + esc(in.title) + "</h1><div class=sub>" +
          fmt::format("nnjoule {} · {} device{} · {} configuration{} · source: {}", kVersion,
                      s.devices.size(), s.devices.size() == 1 ? "" : "s", s.configs.size(),
                      s.configs.size() == 1 ? "" : "s", esc(in.source)) +
          "</div></header><main><div id=nnjoule-status data-status=loading>loading charts…</div>";
  if (!head_notes.empty())
    html +=
        "<section><h2>About these numbers</h2><ul class=notes>" + head_notes + "</ul></section>";
  html += body;
  std::string charts_json = json_text(charts);
  html +=
      "</main><script>\n(function(){var charts=" + json_safe(charts_json) +
      ";\n"
      "if(window.__nnjouleEarly){nnjouleStatus(window.__nnjouleEarly);}\n"
      "if(typeof vegaEmbed!=='function'){nnjouleStatus('error: vega-embed did not load');return;}\n"
      "Promise.all(charts.map(function(c){return "
      "vegaEmbed('#'+c.id,c.spec,{actions:false,renderer:'svg'});}))"
      ".then(function(){nnjouleStatus('ok');},function(e){nnjouleStatus('error: '+e);});\n"
      "})();\n</script></body></html>\n";
  return html;
}

void write_html(const ReportInput& input, const std::filesystem::path& path) {
  write_file_atomic(path, render_html(input));
}

}  // namespace nnjoule::report
