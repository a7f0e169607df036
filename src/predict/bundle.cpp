// The predictor bundle on disk: predictor.json (Predictor::manifest), the model files and
// manifest.json with the SHA-256 of every file; writing (Predictor::save) and reading with every
// check (Predictor::load, LazyRegressor). Training, prediction and rendering are in
// bundle_train.cpp, bundle_predict.cpp and bundle_render.cpp.
#include "nnjoule/predict/bundle.hpp"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "bundle_detail.hpp"
#include "json_read.hpp"
#include "nnjoule/common/error.hpp"
#include "nnjoule/common/io.hpp"
#include "nnjoule/common/rng.hpp"
#include "nnjoule/version.hpp"

namespace nnjoule::predict {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

using detail::Field;
using detail::model_file;
using detail::opt_json;
using detail::valid_type_name;

constexpr const char* kManifest = "predictor.json";
constexpr const char* kFormatName = "nnjoule-predictor";
// The list of every other file of a bundle with its SHA-256.
constexpr const char* kFiles = "manifest.json";
constexpr const char* kFilesFormat = "nnjoule-predictor-manifest";

std::vector<int> parse_version(const std::string& v, const std::string& source) {
  std::vector<int> parts;
  size_t pos = 0;
  while (pos <= v.size()) {
    const size_t dot = v.find('.', pos);
    const std::string p = v.substr(pos, dot == std::string::npos ? dot : dot - pos);
    if (p.empty() || p.find_first_not_of("0123456789") != std::string::npos) {
      fail("{}: nnjoule_version '{}' is not a version like 1.2.3", source, v);
    }
    parts.push_back(std::stoi(p));
    if (dot == std::string::npos) break;
    pos = dot + 1;
  }
  return parts;
}

json rates_json(const FallbackRates& r) {
  return {{"rows", r.rows},
          {"energy_mj_per_mflop", opt_json(r.energy_mj_per_mflop)},
          {"latency_ms_per_mflop", opt_json(r.latency_ms_per_mflop)},
          {"energy_mj_per_mb", opt_json(r.energy_mj_per_mb)},
          {"latency_ms_per_mb", opt_json(r.latency_ms_per_mb)},
          {"power_mw", opt_json(r.power_mw)}};
}

FallbackRates rates_from(const Field& f) {
  FallbackRates r;
  r.rows = f.at("rows").count();
  r.energy_mj_per_mflop = f.optional_positive("energy_mj_per_mflop");
  r.latency_ms_per_mflop = f.optional_positive("latency_ms_per_mflop");
  r.energy_mj_per_mb = f.optional_positive("energy_mj_per_mb");
  r.latency_ms_per_mb = f.optional_positive("latency_ms_per_mb");
  r.power_mw = f.optional_positive("power_mw");
  const bool any = r.energy_mj_per_mflop || r.latency_ms_per_mflop || r.energy_mj_per_mb ||
                   r.latency_ms_per_mb || r.power_mw;
  if (any && r.rows == 0) f.at("rows").bad("rates from 0 rows");
  return r;
}

Accuracy accuracy_from(const Field& f) {
  Accuracy a;
  a.n = f.at("n").count();
  a.rmse = f.at("rmse").non_negative();
  a.rmspe = f.at("rmspe_pct").non_negative();
  a.mape = f.at("mape_pct").non_negative();
  a.within5 = f.at("within_5pct").share();
  a.within10 = f.at("within_10pct").share();
  a.within15 = f.at("within_15pct").share();
  return a;
}

// A name manifest.json may list: a plain file inside the bundle directory.
// '@' for int8 kernels' models ("conv-relu@int8.energy_mj.json"); never a path separator.
bool valid_file_name(const std::string& n) {
  if (n.empty() || n.size() > 255 || n.front() == '.') return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_' || c == '@';
  });
}

bool is_hex_sha256(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

struct FileEntry {
  std::string sha256;
  size_t bytes = 0;
};

// Checks a file's content against its manifest entry; throws Error naming the file.
void verify_file(const fs::path& path, const std::string& text, const FileEntry& e) {
  if (text.size() != e.bytes || sha256_hex(text) != e.sha256) {
    fail(
        "{}: content does not match its SHA-256 in {} ({} bytes, {} lists {}: file changed, "
        "truncated or corrupt)",
        path.string(), kFiles, text.size(), kFiles, e.bytes);
  }
}

// The feature count an XGBoost JSON model declares ("num_feature":"10" in its
// learner_model_param), read without parsing the whole model.
std::optional<size_t> declared_features(const std::string& text) {
  const std::string key = "\"num_feature\":\"";
  const size_t at = text.find(key);
  if (at == std::string::npos) return std::nullopt;
  size_t n = 0, i = at + key.size();
  if (i >= text.size() || !std::isdigit(static_cast<unsigned char>(text[i]))) return std::nullopt;
  for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
    n = n * 10 + static_cast<size_t>(text[i] - '0');
  }
  return n;
}

}  // namespace

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_Digest(data.data(), data.size(), md, &n, EVP_sha256(), nullptr) != 1) {
    fail("SHA-256: OpenSSL's EVP_Digest failed");
  }
  std::string hex;
  hex.reserve(2 * n);
  for (unsigned int i = 0; i < n; ++i) hex += fmt::format("{:02x}", md[i]);
  return hex;
}

LazyRegressor::LazyRegressor(Regressor r) : regressor_(std::move(r)) {}

LazyRegressor::LazyRegressor(fs::path path, std::string sha, size_t n_features)
    : path_(std::move(path)), sha_(std::move(sha)), n_features_(n_features) {}

bool LazyRegressor::loaded() const {
  std::lock_guard lock(mutex_);
  return regressor_.has_value();
}

const Regressor& LazyRegressor::get() const {
  std::lock_guard lock(mutex_);
  if (regressor_) return *regressor_;
  const std::string text = read_file(path_);
  if (sha256_hex(text) != sha_) {
    fail("{}: changed since its bundle was loaded (SHA-256 differs from {})", path_.string(),
         kFiles);
  }
  Regressor r = Regressor::from_json(text, path_.string());
  if (r.num_features() != n_features_) {
    fail("{}: model has {} features, {} lists {}", path_.string(), r.num_features(), kManifest,
         n_features_);
  }
  regressor_ = std::move(r);
  return *regressor_;
}

json Predictor::manifest() const {
  json types = json::object();
  for (const auto& r : regressors_) {
    json& t = types[r.type];
    if (t.is_null()) {
      json ranges = json::object();
      for (size_t i = 0; i < r.feature_names.size() && i < r.feature_min.size(); ++i) {
        ranges[r.feature_names[i]] = {r.feature_min[i], r.feature_max[i]};
      }
      t = {{"family", family_name(feature_family(r.type))},
           {"dtype", kernels::key_dtype(r.type)},
           {"features", r.feature_names},
           {"feature_ranges", ranges},
           {"models", json::object()}};
    }
    t["models"][std::string(target_name(r.target))] = {
        {"file", r.file},
        {"rows", r.rows},
        {"searched", r.searched},
        {"params", r.params.to_json()},
        {"cv", r.cv ? r.cv->to_json() : json(nullptr)},
        {"work_base", r.base ? r.base->to_json() : json(nullptr)}};
  }
  json rates = json::object();
  for (const auto& [k, r] : rates_) rates[k] = rates_json(r);
  const auto& tr = info_.training;
  json by_type = json::object();
  for (const auto& [k, n] : tr.rows_by_type) by_type[k] = n;
  return {{"format", kFormatName},
          {"format_version", info_.format_version},
          {"nnjoule_version", info_.nnjoule_version},
          {"name", info_.name},
          {"created", info_.created},
          {"device",
           {{"name", info_.device.name},
            {"runtime", info_.device.runtime},
            {"threads", info_.device.threads},
            {"meter", info_.device.meter}}},
          {"fusion_rules",
           {{"source", rules_.source()},
            {"patterns", rules_.patterns},
            {"rules", json::parse(rules_.to_json())}}},
          {"feature_set", feature_set_name(info_.feature_set)},
          {"mode", mode_name(info_.mode)},
          {"target_transform", info_.log_target ? "log" : "none"},
          {"kernel_types", types},
          {"fallback_rates", rates},
          {"training",
           {{"rows", tr.rows},
            {"hash", tr.hash},
            {"source", tr.source},
            {"rows_by_type", by_type},
            {"energy_origin", tr.energy_origin},
            {"latency_origin", tr.latency_origin}}}};
}

void Predictor::save(const fs::path& target) const {
  fs::path dir = target.lexically_normal();
  if (dir.filename().empty()) dir = dir.parent_path();
  if (dir.empty()) fail("predictor bundle path is empty");
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    if (!fs::is_directory(dir, ec)) {
      fail("{}: exists and is not a directory; refusing to overwrite it", dir.string());
    }
    if (!fs::is_empty(dir, ec) && !fs::exists(dir / kManifest, ec)) {
      fail("{}: exists and is not a predictor bundle (no {}); refusing to overwrite it",
           dir.string(), kManifest);
    }
  }
  const fs::path parent = dir.has_parent_path() ? dir.parent_path() : fs::path(".");
  ensure_directory(parent);
  const std::string tag = fmt::format(
      "{:016x}",
      Rng(static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()))
          .next());
  const fs::path tmp = parent / (dir.filename().string() + ".tmp-" + tag);
  ensure_directory(tmp);
  try {
    // Every file with its SHA-256 and size, and the nnjoule that wrote them: manifest.json.
    json files = json::object();
    auto write = [&](const std::string& name, const std::string& text) {
      write_file_atomic(tmp / name, text);
      files[name] = {{"sha256", sha256_hex(text)}, {"bytes", text.size()}};
    };
    for (const auto& r : regressors_) write(r.file, r.regressor().to_json());
    write(kManifest, manifest().dump(2) + "\n");
    const json list = {{"format", kFilesFormat},
                       {"format_version", kBundleFormatVersion},
                       {"nnjoule_version", kVersion},
                       {"algorithm", "sha256"},
                       {"files", files}};
    write_file_atomic(tmp / kFiles, list.dump(2) + "\n");
    if (fs::exists(dir)) {
      const fs::path old = parent / (dir.filename().string() + ".old-" + tag);
      fs::rename(dir, old);
      fs::rename(tmp, dir);
      fs::remove_all(old, ec);
    } else {
      fs::rename(tmp, dir);
    }
  } catch (const fs::filesystem_error& e) {
    fs::remove_all(tmp, ec);
    fail("{}: cannot write the predictor bundle: {}", dir.string(), e.code().message());
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
}

namespace {

// manifest.json: the SHA-256 and size of every file of the bundle. Throws Error naming the file
// and the field.
std::map<std::string, FileEntry> read_file_list(const fs::path& path) {
  const std::string src = path.string();
  const json j = detail::parse_json(read_file(path), src);
  const Field root(j, src);
  if (!j.is_object() || !j.contains("format") || !j["format"].is_string() ||
      j["format"].get<std::string>() != kFilesFormat) {
    fail("{}: not a predictor bundle manifest (format is not \"{}\")", src, kFilesFormat);
  }
  const std::string version = root.at("nnjoule_version").text();
  if (parse_version(version, src) > parse_version(kVersion, "this build")) {
    fail("{}: written by nnjoule {}, newer than this nnjoule {}; upgrade nnjoule", src, version,
         kVersion);
  }
  const Field algorithm = root.at("algorithm");
  if (algorithm.text() != "sha256") algorithm.bad("expected \"sha256\"");
  std::map<std::string, FileEntry> files;
  for (const auto& [name, f] : root.at("files").members()) {
    if (!valid_file_name(name)) {
      f.bad(fmt::format("'{}' is not the name of a file inside the bundle", name));
    }
    FileEntry e;
    const Field sha = f.at("sha256");
    e.sha256 = sha.text();
    if (!is_hex_sha256(e.sha256)) sha.bad("expected 64 lowercase hex digits");
    e.bytes = f.at("bytes").count();
    files[name] = e;
  }
  if (!files.count(kManifest)) {
    fail("{}: {} is not listed (every file of a bundle is)", src, kManifest);
  }
  return files;
}

}  // namespace

Predictor Predictor::load(const fs::path& dir, Load mode) {
  const std::string d = dir.string();
  std::error_code ec;  // the checks below report what they find, not a filesystem error
  if (!fs::is_directory(dir, ec)) fail("{}: no such predictor bundle (not a directory)", d);
  const fs::path mpath = dir / kManifest;
  const std::string src = mpath.string();
  if (!fs::exists(mpath, ec)) fail("{}: not a predictor bundle (no {})", d, kManifest);
  const std::string text = read_file(mpath);
  // The file list first: a predictor.json that changed since it was written is named as such.
  const fs::path lpath = dir / kFiles;
  std::optional<std::map<std::string, FileEntry>> files;
  if (fs::exists(lpath, ec)) {
    files = read_file_list(lpath);
    verify_file(mpath, text, files->at(kManifest));
  }
  const json m = detail::parse_json(text, src);
  if (!m.is_object() || !m.contains("format") || !m["format"].is_string() ||
      m["format"].get<std::string>() != kFormatName) {
    fail("{}: not a predictor bundle manifest (format is not \"{}\")", src, kFormatName);
  }
  const Field root(m, src);
  Predictor p;
  BundleInfo& info = p.info_;
  info.format_version = static_cast<int>(root.at("format_version").integer(1, 1000000));
  info.nnjoule_version = root.at("nnjoule_version").text();
  if (info.format_version > kBundleFormatVersion) {
    fail(
        "{}: bundle format {} written by nnjoule {} is newer than this nnjoule {} reads "
        "(format {}); upgrade nnjoule",
        src, info.format_version, info.nnjoule_version, kVersion, kBundleFormatVersion);
  }
  if (parse_version(info.nnjoule_version, src) > parse_version(kVersion, "this build")) {
    fail("{}: written by nnjoule {}, newer than this nnjoule {}; upgrade nnjoule", src,
         info.nnjoule_version, kVersion);
  }
  if (info.format_version < kBundleFormatVersion) {
    fail(
        "{}: bundle format {} (nnjoule {}) has no SHA-256 manifest of its files and no training "
        "ranges, and its concat features differ; retrain it with this nnjoule (nnjoule train or "
        "nnjoule build-predictor)",
        src, info.format_version, info.nnjoule_version);
  }
  if (!files) {
    fail(
        "{}: missing: a bundle of format {} lists every file with its SHA-256 there (the bundle "
        "is incomplete or was edited)",
        lpath.string(), info.format_version);
  }
  // A JSON file nobody listed: added after the bundle was written.
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (it->path().extension() == ".json" && name != kFiles && !files->count(name)) {
      fail("{}: not listed in {} (a file added to the bundle after it was written)",
           it->path().string(), kFiles);
    }
  }
  if (ec) fail("{}: cannot list the bundle's files ({})", d, ec.message());
  info.name = root.at("name").text();
  info.created = root.at("created").text();
  const Field dev = root.at("device");
  info.device =
      DeviceInfo{dev.at("name").text(), dev.at("runtime").text(),
                 static_cast<int>(dev.at("threads").integer(1, 65536)), dev.at("meter").text()};
  const Field fs_field = root.at("feature_set");
  info.feature_set =
      with_context(fs_field.where(), [&] { return parse_feature_set(fs_field.text()); });
  const Field mode_field = root.at("mode");
  info.mode = with_context(mode_field.where(), [&] { return parse_mode(mode_field.text()); });
  const Field tt = root.at("target_transform");
  const std::string transform = tt.text();
  if (transform != "log" && transform != "none") {
    tt.bad(fmt::format("'{}' (expected log or none)", transform));
  }
  info.log_target = transform == "log";
  const Field fr = root.at("fusion_rules");
  const Field rules = fr.at("rules");
  p.rules_ = with_context(rules.where(), [&] {
    return kernels::FusionRules::from_json(rules.value().dump(), fr.at("source").text());
  });
  p.rules_.patterns = fr.at("patterns").boolean();
  const Field tr = root.at("training");
  info.training.rows = tr.at("rows").count();
  info.training.hash = tr.at("hash").text();
  info.training.source = tr.at("source").text();
  info.training.energy_origin = tr.at("energy_origin").text();
  info.training.latency_origin = tr.at("latency_origin").text();
  for (const auto& [k, n] : tr.at("rows_by_type").members()) {
    if (!valid_type_name(k)) n.bad(fmt::format("invalid kernel type name '{}'", k));
    info.training.rows_by_type[k] = n.count();
  }
  for (const auto& [k, r] : root.at("fallback_rates").members()) {
    static const std::set<std::string> families = {"conv", "dwconv", "fc",    "pool", "concat",
                                                   "add",  "matmul", "other", "all"};
    // Rates of int8 rows are keyed "<family>@int8".
    if (!families.count(std::string(kernels::key_type(k))) || !valid_type_name(k))
      r.bad(fmt::format("'{}' is not a feature family or \"all\" (with @int8 for int8 rows)", k));
    p.rates_[k] = rates_from(r);
  }
  for (const auto& [type, t] : root.at("kernel_types").members()) {
    if (!valid_type_name(type)) t.bad(fmt::format("invalid kernel type name '{}'", type));
    const Field family = t.at("family");
    if (family.text() != family_name(feature_family(type))) {
      family.bad(fmt::format("'{}' (this nnjoule puts {} in family {})", family.text(), type,
                             family_name(feature_family(type))));
    }
    // Bundles before dtypes have no "dtype": their types are fp32, as their keys say.
    if (t.has("dtype") && t.at("dtype").text() != kernels::key_dtype(type)) {
      t.at("dtype").bad(fmt::format("'{}' (the key {} is {})", t.at("dtype").text(), type,
                                    kernels::key_dtype(type)));
    }
    const auto feats = t.at("features").strings();
    const auto expected = feature_names(type, info.feature_set);
    if (feats != expected) {
      fail(
          "{}: {} lists {} features, this nnjoule computes {} for the '{}' feature set "
          "(incompatible bundle)",
          src, type, feats.size(), expected.size(), feature_set_name(info.feature_set));
    }
    // The training range of every feature: [min, max], finite, min <= max, all listed.
    const Field ranges = t.at("feature_ranges");
    std::vector<float> lo(feats.size()), hi(feats.size());
    std::vector<bool> seen(feats.size(), false);
    for (const auto& [name, r] : ranges.members()) {
      const auto at = std::find(feats.begin(), feats.end(), name);
      if (at == feats.end()) r.bad(fmt::format("'{}' is not a feature of {}", name, type));
      const auto pair = r.elements();
      if (pair.size() != 2) r.bad("expected [min, max]");
      const double a = pair[0].number(), b = pair[1].number();
      if (a > b) r.bad(fmt::format("min {} above max {}", a, b));
      if (std::fabs(a) > std::numeric_limits<float>::max() ||
          std::fabs(b) > std::numeric_limits<float>::max()) {
        r.bad("out of range for a float");
      }
      const auto i = static_cast<size_t>(at - feats.begin());
      lo[i] = static_cast<float>(a);
      hi[i] = static_cast<float>(b);
      seen[i] = true;
    }
    for (size_t i = 0; i < feats.size(); ++i) {
      if (!seen[i]) ranges.bad(fmt::format("no range for feature {}", feats[i]));
    }
    for (const auto& [tname, mj] : t.at("models").members()) {
      RegressorEntry e;
      e.type = type;
      const std::string& target_name = tname;  // clang 14 cannot capture a structured binding
      e.target = with_context(mj.where(), [&] { return parse_target(target_name); });
      e.feature_names = feats;
      e.feature_min = lo;
      e.feature_max = hi;
      const Field file = mj.at("file");
      e.file = file.text();
      if (e.file != model_file(type, e.target)) {
        file.bad(fmt::format("'{}' (expected {})", e.file, model_file(type, e.target)));
      }
      e.rows = mj.at("rows").count();
      if (e.rows == 0) mj.at("rows").bad("a regressor trained on 0 rows");
      e.searched = mj.at("searched").boolean();
      const Field params = mj.at("params");
      e.params = RegressorParams::from_json(params.value(), params.where());
      if (mj.has("cv")) e.cv = accuracy_from(mj.at("cv"));
      if (mj.has("work_base")) {
        const Field wb = mj.at("work_base");
        e.base = WorkBase::from_json(wb.value(), wb.where());
      }
      if (p.find(type, e.target)) mj.bad("listed twice");
      const fs::path mf = dir / e.file;
      const auto listed = files->find(e.file);
      if (listed == files->end()) {
        fail("{}: not listed in {} (every model file of a bundle is)", mf.string(), kFiles);
      }
      if (!fs::exists(mf, ec)) fail("{}: missing (listed in {})", mf.string(), kFiles);
      const std::string model = read_file(mf);
      verify_file(mf, model, listed->second);
      e.sha = listed->second.sha256;
      const std::optional<size_t> declared = declared_features(model);
      if (!declared) fail("{}: not an XGBoost JSON model (no num_feature)", mf.string());
      if (*declared != feats.size()) {
        fail("{}: model has {} features, {} lists {} for {}", mf.string(), *declared, kManifest,
             feats.size(), type);
      }
      e.model = std::make_shared<LazyRegressor>(mf, e.sha, feats.size());
      if (mode == Load::kEager) e.model->get();
      p.regressors_.push_back(std::move(e));
    }
  }
  // Listed files nothing above read must still be there, unchanged.
  for (const auto& [name, entry] : *files) {
    if (name == kManifest) continue;
    const std::string& listed = name;  // clang 14 cannot capture a structured binding
    if (std::any_of(p.regressors_.begin(), p.regressors_.end(),
                    [&](const RegressorEntry& r) { return r.file == listed; })) {
      continue;
    }
    const fs::path f = dir / name;
    if (!fs::exists(f, ec)) fail("{}: missing (listed in {})", f.string(), kFiles);
    verify_file(f, read_file(f), entry);
  }
  return p;
}

}  // namespace nnjoule::predict
