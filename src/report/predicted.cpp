// The predicted-vs-measured points: every model a database measured on a bundle's device,
// predicted from the kernels stored with it.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <system_error>

#include "nnjoule/common/error.hpp"
#include "nnjoule/predict/bundle.hpp"
#include "nnjoule/predict/store_adapter.hpp"
#include "nnjoule/report/report.hpp"

namespace nnjoule::report {
namespace {

std::string count(size_t n, const char* noun) {
  return fmt::format("{} {}{}", n, noun, n == 1 ? "" : "s");
}

std::string at_threads(int64_t threads) {
  return threads > 0 ? " at " + count(static_cast<size_t>(threads), "thread") : std::string();
}

bool same_file(const std::filesystem::path& a, const std::filesystem::path& b) {
  std::error_code ea, eb;
  const auto ca = std::filesystem::weakly_canonical(a, ea);
  const auto cb = std::filesystem::weakly_canonical(b, eb);
  return !ea && !eb && ca == cb;
}

// Whether the bundle was trained on this database's kernel rows: the dataset its training
// names, or the same rows elsewhere (a file pushed to a server, a merged copy), read as `nnjoule
// train` reads them by default (KernelDataset::hash() is over every row, in any order).
bool trained_on(const predict::Predictor& p, const store::Store& db,
                const std::vector<store::Device>& devices, const std::filesystem::path& db_path) {
  const auto& training = p.info().training;
  if (!training.source.empty() &&
      (same_file(training.source, db_path) || same_file(training.source, db.path())))
    return true;
  if (training.hash.empty()) return false;
  for (const auto& d : devices) {
    try {
      if (predict::read_kernel_dataset(db, d).hash() == training.hash) return true;
    } catch (const Error&) {  // no kernel rows to read: not these
    }
  }
  return false;
}

// Why a device has no usable model rows at the bundle's thread count.
std::string why_no_models(const store::Store& database, const std::vector<store::Device>& devices,
                          const predict::Predictor& p, const std::filesystem::path& db_path) {
  const auto& want = p.info().device;
  std::map<int64_t, size_t> by_threads;
  size_t at_want = 0;
  for (const auto& d : devices) {
    store::RowQuery q;
    q.device_id = d.id;
    for (const auto& row : database.model_measurements(q)) {
      by_threads[row.threads]++;
      if (row.threads == want.threads) at_want++;
    }
  }
  const std::string db = db_path.filename().string();
  if (by_threads.empty()) {
    return fmt::format(
        "No predictions: {} holds no measured models of '{}' (nnjoule collect models --db {} "
        "measures some), so there is nothing to compare bundle '{}' with.",
        db, want.name, db, p.name());
  }
  if (at_want > 0) {
    return fmt::format(
        "No predictions: the {} of '{}'{} in {} {} flagged or {} neither energy nor latency.",
        at_want == 1 ? "model row" : count(at_want, "model row"), want.name,
        at_threads(want.threads), db, at_want == 1 ? "is" : "are", at_want == 1 ? "has" : "have");
  }
  std::string other;
  for (const auto& [t, n] : by_threads)
    other += (other.empty() ? "" : ", ") + count(n, "model") + at_threads(t);
  return fmt::format(
      "No predictions: bundle '{}' predicts '{}'{}, but {} has its models measured at other "
      "thread counts only ({}).",
      p.name(), want.name, at_threads(want.threads), db, other);
}

}  // namespace

void add_predictions(ReportInput& r, const std::filesystem::path& db_path,
                     const std::filesystem::path& bundle_dir) {
  // Lazy: a report needs the regressors of the kernel types its models contain.
  const auto p = predict::Predictor::load(bundle_dir, predict::Predictor::Load::kLazy);
  const store::Store db(db_path, {.read_only = true});
  const auto& want = p.info().device;

  // The bundle's device by name; of several rows with that name, those of the same runtime.
  std::vector<store::Device> named;
  std::string list;
  for (const auto& d : db.devices()) {
    list += (list.empty() ? "" : ", ") + ("'" + d.name + "'");
    if (d.name == want.name) named.push_back(d);
  }
  if (named.empty()) {
    fail(
        "predictor bundle '{}' ({}) is for device '{}', but {} holds device(s) {}: train a bundle "
        "on this database's device (nnjoule train --db {})",
        p.name(), bundle_dir.string(), want.name, db_path.string(), list.empty() ? "none" : list,
        db_path.string());
  }
  if (std::any_of(named.begin(), named.end(), [&](auto& d) { return d.runtime == want.runtime; }))
    std::erase_if(named, [&](auto& d) { return d.runtime != want.runtime; });

  predict::StoreReadOptions ro;
  ro.threads = want.threads;
  std::vector<predict::ModelSample> samples;
  for (const auto& d : named) {
    auto s = predict::read_model_samples(db, d, predict::KernelDataset{}, ro);
    samples.insert(samples.end(), std::make_move_iterator(s.begin()),
                   std::make_move_iterator(s.end()));
  }

  r.predicted.clear();
  r.predicted_notes.clear();
  if (samples.empty()) {
    r.predicted_subject.clear();
    r.predicted_note = why_no_models(db, named, p, db_path);
    return;
  }

  const std::string predicted_label = p.provenance().label();
  std::set<std::string> fallback_types;
  for (const auto& s : samples) {
    const auto mp = p.predict(s.kernels, s.name, nullptr, s.where);
    PredictedPoint pt;
    pt.model = s.name;
    pt.measured_label = s.energy_origin.label();
    pt.latency_label = s.latency_origin.label();
    pt.predicted_label = predicted_label;
    // A quantity is a point only when measured and predicted (positive: the axes are log).
    auto positive = [](const std::optional<double>& v) { return v && *v > 0; };
    if (positive(s.measured.energy_mj) && positive(mp.total.energy_mj)) {
      pt.measured_mj = s.measured.energy_mj;
      pt.predicted_mj = mp.total.energy_mj;
    }
    if (positive(s.measured.latency_ms) && positive(mp.total.latency_ms)) {
      pt.measured_ms = s.measured.latency_ms;
      pt.predicted_ms = mp.total.latency_ms;
    }
    if (!pt.measured_mj && !pt.measured_ms) {
      std::string why;
      for (const auto& w : mp.warnings) why += (why.empty() ? "" : "; ") + w;
      r.predicted_notes.push_back(
          fmt::format("{}: left out, no measured quantity the bundle predicts{}", s.name,
                      why.empty() ? std::string() : " (" + why + ")"));
      continue;
    }
    std::string fb;
    for (const auto& [type, how] : mp.fallback_types) {
      fb += (fb.empty() ? "" : ", ") + type;
      fallback_types.insert(type);
    }
    if (mp.lower_bound) {
      std::set<std::string> ops;
      for (const auto& [op, node] : mp.unknown_ops) ops.insert(op);
      std::string o;
      for (const auto& op : ops) o += (o.empty() ? "" : ", ") + op;
      pt.note = "lower bound: unknown ops left out (" + o + ")";
      r.predicted_notes.push_back(s.name + ": the prediction is a " + pt.note);
    }
    if (!fb.empty()) pt.note += (pt.note.empty() ? "" : "; ") + ("fallback for " + fb);
    r.predicted.push_back(std::move(pt));
  }
  if (!fallback_types.empty()) {
    std::string types;
    for (const auto& t : fallback_types) types += (types.empty() ? "" : ", ") + t;
    r.predicted_notes.push_back(
        "kernel types without a regressor of their own in the bundle, predicted by a fallback "
        "(nnjoule predict shows which): " +
        types);
  }
  if (r.predicted.empty()) {
    r.predicted_subject.clear();
    r.predicted_note = fmt::format(
        "No predictions: bundle '{}' predicts no measured quantity of the {} measured on '{}'{} "
        "(the notes say why).",
        p.name(), count(samples.size(), "model"), want.name, at_threads(want.threads));
    return;
  }
  const auto& training = p.info().training;
  r.predicted_subject = fmt::format(
      "{} measured on {}{} ({}), predicted by bundle '{}' from the kernels stored with each "
      "model; the bundle was trained on {} with energy {}",
      count(r.predicted.size(), "model"), want.name, at_threads(want.threads),
      db_path.filename().string(), p.name(), count(training.rows, "row"),
      training.energy_origin.empty() ? "of unrecorded origin" : training.energy_origin);
  // In plain sight, not in the notes: in-sample points look far better than unseen models.
  if (trained_on(p, db, named, db_path)) {
    r.predicted_subject +=
        ". The bundle was trained on this database: kernels timed inside these models may be "
        "among its training rows, so this is not its accuracy on unseen models (nnjoule "
        "evaluate --models family measures that)";
  }
  r.predicted_note.clear();
}

}  // namespace nnjoule::report
