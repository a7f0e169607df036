// Traces recorded by an external power monitor (Monsoon, Otii, a lab supply's logger): read
// from CSV and integrated over each window once the window's span is mapped onto the trace.
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cmath>

#include "nnjoule/common/csv.hpp"
#include "nnjoule/common/error.hpp"
#include "nnjoule/common/io.hpp"
#include "nnjoule/common/parse.hpp"
#include "nnjoule/common/stats.hpp"
#include "nnjoule/meter/meters.hpp"

namespace nnjoule::meter {
namespace {

struct Column {
  std::string header, name, unit;  // "Main Voltage(V)" -> name "main voltage", unit "V"
};

Column parse_header_cell(const std::string& cell) {
  Column c;
  c.header = trim(cell);
  std::string name = c.header;
  const auto open = name.find_last_of("([");
  if (open != std::string::npos && (name.back() == ')' || name.back() == ']')) {
    c.unit = trim(name.substr(open + 1, name.size() - open - 2));
    name = name.substr(0, open);
  }
  c.name = trim(name);
  for (auto& ch : c.name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return c;
}

// Power monitors write commas, tabs or semicolons: the first line that is neither blank nor a
// comment decides.
char separator_of(std::string_view text) {
  for (size_t pos = 0; pos < text.size();) {
    const size_t nl = std::min(text.find('\n', pos), text.size());
    const std::string t = trim(text.substr(pos, nl - pos));
    pos = nl + 1;
    if (t.empty() || t[0] == '#') continue;
    return t.find(',') != std::string::npos ? ',' : t.find('\t') != std::string::npos ? '\t' : ';';
  }
  return ',';
}

// Factors to seconds, mW, mA, V.
std::optional<double> time_factor(const std::string& u) {
  if (u.empty() || u == "s") return 1.0;
  if (u == "ms") return 1e-3;
  if (u == "us" || u == "\u00b5s") return 1e-6;
  if (u == "ns") return 1e-9;
  return std::nullopt;
}
std::optional<double> power_factor(const std::string& u) {
  if (u == "W") return 1e3;
  if (u == "mW") return 1.0;
  if (u == "uW" || u == "\u00b5W") return 1e-3;
  return std::nullopt;
}
std::optional<double> current_factor(const std::string& u) {
  if (u == "A") return 1e3;
  if (u == "mA") return 1.0;
  if (u == "uA" || u == "\u00b5A") return 1e-3;
  return std::nullopt;
}
std::optional<double> voltage_factor(const std::string& u) {
  if (u == "V") return 1.0;
  if (u == "mV") return 1e-3;
  return std::nullopt;
}

// Picks the column among candidates, preferring the Monsoon "Main" channel.
int pick(const std::vector<Column>& cols, const std::vector<int>& cand) {
  for (int i : cand)
    if (cols[i].name.find("main") != std::string::npos) return i;
  return cand.empty() ? -1 : cand.front();
}

// Integral of a piecewise-linear signal over [a, b] (trapezoid, linear at the edges): mW x s.
double integrate_linear(const std::vector<TracePoint>& p, double a, double b) {
  auto value_at = [&](size_t i, double t) {  // on segment [i, i + 1]
    const double w = (t - p[i].t_s) / (p[i + 1].t_s - p[i].t_s);
    return p[i].power_mw + w * (p[i + 1].power_mw - p[i].power_mw);
  };
  auto seg = [&](double t) {  // the segment holding t
    auto it = std::upper_bound(p.begin(), p.end(), t,
                               [](double v, const TracePoint& q) { return v < q.t_s; });
    size_t i = static_cast<size_t>(it - p.begin());
    return std::min(i == 0 ? 0 : i - 1, p.size() - 2);
  };
  size_t i = seg(a);
  const size_t j = seg(b);
  double sum = 0;
  double t = a, v = value_at(i, a);
  while (i < j) {
    sum += 0.5 * (v + p[i + 1].power_mw) * (p[i + 1].t_s - t);
    t = p[i + 1].t_s;
    v = p[i + 1].power_mw;
    ++i;
  }
  const double vb = value_at(j, b);
  sum += 0.5 * (v + vb) * (b - t);
  return sum;
}

class TraceMeter : public Meter {
 public:
  TraceMeter(TraceConfig config, Trace trace)
      : config_(std::move(config)), trace_(std::move(trace)) {
    stamp_ = file_stamp();
    domains_.push_back({"trace", Signal::kOffline, 0, true, trace_.columns});
  }
  std::string kind() const override { return "trace"; }
  std::optional<double> known_update_period_s() const override {
    if (trace_.points.size() < 2) return std::nullopt;
    std::vector<double> gaps;
    for (size_t i = 1; i < trace_.points.size(); ++i)
      gaps.push_back(trace_.points[i].t_s - trace_.points[i - 1].t_s);
    return stats::median(gaps);
  }
  void attach_timeline(double realtime_at_zero_s) override {
    if (trace_.absolute_time)
      offset_ = -realtime_at_zero_s;
    else if (config_.start_epoch_s)
      offset_ = *config_.start_epoch_s - realtime_at_zero_s;
    else
      offset_ = config_.offset_s;
  }
  void read(double, std::span<double>) override {}
  double integrate_mj(size_t, double t0_s, double t1_s) override {
    // A monitor that is still logging may have appended rows since the trace was read.
    if (file_stamp() != stamp_) {
      trace_ = parse_trace_csv(read_file(config_.path), config_.path.string());
      stamp_ = file_stamp();
    }
    const auto& p = trace_.points;
    const double a = t0_s - offset_, b = t1_s - offset_;  // in trace time
    if (p.size() < 2 || a < p.front().t_s || b > p.back().t_s)
      fail(
          "{}: window [{:.3f}, {:.3f}] s (trace time) is not covered by the trace{}; check "
          "--trace-start / --trace-offset",
          config_.path.string(), a, b,
          p.size() < 2 ? std::string(" (fewer than 2 rows)")
                       : fmt::format(" [{:.3f}, {:.3f}] s", p.front().t_s, p.back().t_s));
    return integrate_linear(p, a, b);
  }

 private:
  std::pair<int64_t, int64_t> file_stamp() const {
    struct stat st {};
    if (::stat(config_.path.c_str(), &st) != 0) return {-1, -1};
    return {static_cast<int64_t>(st.st_size),
            static_cast<int64_t>(st.st_mtim.tv_nsec) +
                static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000};
  }
  TraceConfig config_;
  Trace trace_;
  std::pair<int64_t, int64_t> stamp_;
  double offset_ = 0;
};

}  // namespace

Trace parse_trace_csv(const std::string& text, const std::string& source) {
  csv::Reader reader(
      text, source,
      {.separator = separator_of(text), .trim = true, .skip_blank = true, .comment = '#'});
  csv::Row row;
  std::vector<Column> cols;
  if (reader.next(row)) {
    for (const auto& f : row.fields) cols.push_back(parse_header_cell(f.text));
  }
  if (cols.empty()) fail("{}: empty trace (expected a header row)", source);
  int time = -1;
  std::vector<int> power, current, voltage;
  for (int i = 0; i < static_cast<int>(cols.size()); ++i) {
    const auto& c = cols[i];
    if (time < 0 && (c.name.find("time") != std::string::npos || c.name == "t")) {
      time = i;
      continue;
    }
    if (power_factor(c.unit) || (c.name.find("power") != std::string::npos && c.unit.empty()))
      power.push_back(i);
    else if (current_factor(c.unit))
      current.push_back(i);
    else if (voltage_factor(c.unit))
      voltage.push_back(i);
  }
  std::string header;
  for (const auto& c : cols) header += (header.empty() ? "" : ",") + c.header;
  if (time < 0) fail("{}: no time column in header '{}'", source, header);
  if (!time_factor(cols[time].unit))
    fail("{}: column '{}': unknown time unit '{}' (s, ms, us or ns)", source, cols[time].header,
         cols[time].unit);
  const int pcol = pick(cols, power), icol = pick(cols, current), vcol = pick(cols, voltage);
  if (pcol >= 0 && cols[pcol].unit.empty())
    fail("{}: column '{}' has no unit; name it '{}(W)' or '{}(mW)'", source, cols[pcol].header,
         cols[pcol].header, cols[pcol].header);
  if (pcol < 0 && (icol < 0 || vcol < 0))
    fail("{}: no power column (W, mW) and no current (A, mA) + voltage (V, mV) pair in header '{}'",
         source, header);

  Trace tr;
  tr.columns = pcol >= 0 ? cols[time].header + ", " + cols[pcol].header
                         : cols[time].header + ", " + cols[icol].header + " x " + cols[vcol].header;
  const double tf = *time_factor(cols[time].unit);
  auto cell = [&](int col) {
    const std::string& value = row.fields[col].text;
    auto v = parse_number(value);  // the whole field, finite
    if (!v)
      fail("{}:{}: column '{}': '{}' is not a number", source, row.line, cols[col].header,
           quoted_field(value));
    return *v;
  };
  // A power monitor reads the power drawn: a negative sample is a sign convention or an offset
  // gone wrong, and integrated it would make a negative "measured" energy.
  auto drawn = [&](int col) {
    const double v = cell(col);
    if (v < 0)
      fail(
          "{}:{}: column '{}': {} is negative (a power trace holds the power drawn; check the "
          "monitor's sign convention or offset)",
          source, row.line, cols[col].header, row.fields[col].text);
    return v;
  };
  while (reader.next(row)) {
    if (row.fields.size() < cols.size())
      fail("{}:{}: expected {} columns, got {}", source, row.line, cols.size(), row.fields.size());
    TracePoint p;
    p.t_s = cell(time) * tf;
    if (pcol >= 0) {
      p.power_mw = drawn(pcol) * *power_factor(cols[pcol].unit);
      if (!std::isfinite(p.power_mw))
        fail("{}:{}: column '{}': {} {} is out of range", source, row.line, cols[pcol].header,
             row.fields[pcol].text, cols[pcol].unit);
    } else {
      const double ma = drawn(icol) * *current_factor(cols[icol].unit);
      const double v = drawn(vcol) * *voltage_factor(cols[vcol].unit);
      p.power_mw = ma * v;
      if (!std::isfinite(p.power_mw))
        fail("{}:{}: columns '{}' x '{}': {} x {} is out of range", source, row.line,
             cols[icol].header, cols[vcol].header, row.fields[icol].text, row.fields[vcol].text);
    }
    if (!std::isfinite(p.t_s))
      fail("{}:{}: column '{}': {} is out of range", source, row.line, cols[time].header,
           row.fields[time].text);
    if (!tr.points.empty() && p.t_s <= tr.points.back().t_s)
      fail("{}:{}: time {} is not after the previous row's {}", source, row.line,
           row.fields[time].text, tr.points.back().t_s / tf);
    tr.points.push_back(p);
  }
  // Timestamps past 2001 in seconds are Unix epoch time, not time since the trace started.
  tr.absolute_time = !tr.points.empty() && tr.points.front().t_s > 1e9;
  return tr;
}

std::vector<Finding> find_trace(const TraceConfig& config) {
  Finding f;
  f.kind = f.name = "trace";
  if (config.path.empty()) {
    f.status = Finding::Status::kNotUsed;
    f.reason = "no trace file given (--trace FILE)";
    return {f};
  }
  // Alignment that is not a number would integrate every window to NaN.
  if (!std::isfinite(config.offset_s))
    fail("{}: trace offset {} s is not a finite number (--trace-offset, trace.offset_s)",
         config.path.string(), config.offset_s);
  if (config.start_epoch_s && !std::isfinite(*config.start_epoch_s))
    fail("{}: trace start {} is not a finite number (--trace-start, trace.start_epoch_s)",
         config.path.string(), *config.start_epoch_s);
  // The user asked for this file: a bad one is an error, not a quiet omission.
  Trace tr = parse_trace_csv(read_file(config.path), config.path.string());
  f.status = Finding::Status::kFound;
  f.reason = fmt::format("{}: {} rows ({})", config.path.string(), tr.points.size(), tr.columns);
  f.meter = std::make_shared<TraceMeter>(config, std::move(tr));
  return {f};
}

}  // namespace nnjoule::meter
