#include "nnjoule/zoo/suite.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/io.hpp"
#include "nnjoule/common/json.hpp"
#include "nnjoule/common/parse.hpp"
#include "nnjoule/zoo/suite_models.hpp"

namespace nnjoule::zoo {
namespace {
using nlohmann::json;

constexpr Application kApps[] = {Application::kClassification,    Application::kDetection,
                                 Application::kSegmentation,      Application::kSuperResolution,
                                 Application::kQuestionAnswering, Application::kSpeech};

const char* kNotOnRuntime =
    "not supported on this runtime (nnjoule runs the CPU through XNNPACK; no GPU or NNAPI "
    "delegate)";

SuiteEntry entry(std::string id, std::string builtin, std::string precision) {
  SuiteEntry e;
  e.id = std::move(id);
  const auto& info = zoo::suite_model(builtin);
  e.title = info.title + (precision == "int8" ? " INT8" : " FP32");
  e.application = *parse_application(info.application);
  e.builtin = std::move(builtin);
  e.precision = precision;
  if (e.application == Application::kSuperResolution) {
    e.pre.mean = {0, 0, 0};
    e.pre.std = {1, 1, 1};
  }
  return e;
}

// Reads JSON fields with the path of each one for error messages.
class Reader {
 public:
  Reader(std::string file) : file_(std::move(file)) {}
  [[noreturn]] void error(const std::string& path, const std::string& msg) const {
    fail("{}: {}: {}", file_, path, msg);
  }
  const json& member(const json& obj, const std::string& path, const char* key) const {
    if (!obj.contains(key)) error(path.empty() ? key : path + "." + key, "missing");
    return obj.at(key);
  }
  std::string string(const json& v, const std::string& path) const {
    if (!v.is_string()) error(path, "expected a string, got " + std::string(v.type_name()));
    if (v.get<std::string>().empty()) error(path, "must not be empty");
    return v.get<std::string>();
  }
  double number(const json& v, const std::string& path) const {
    if (!v.is_number()) error(path, "expected a number, got " + std::string(v.type_name()));
    return v.get<double>();
  }
  int64_t integer(const json& v, const std::string& path, int64_t lo) const {
    if (!v.is_number_integer())
      error(path, "expected an integer, got " + std::string(v.type_name()));
    const auto x = v.get<int64_t>();
    if (x < lo) error(path, fmt::format("must be at least {}", lo));
    return x;
  }
  void only(const json& obj, const std::string& path,
            std::initializer_list<const char*> keys) const {
    if (!obj.is_object()) error(path, "expected an object, got " + std::string(obj.type_name()));
    for (const auto& [k, v] : obj.items()) {
      bool ok = false;
      for (const char* key : keys) ok = ok || k == key;
      if (!ok) {
        std::string known;
        for (const char* key : keys) known += (known.empty() ? "" : ", ") + std::string(key);
        error(path.empty() ? k : path + "." + k, "unknown field (known: " + known + ")");
      }
    }
  }

 private:
  std::string file_;
};

Delegate parse_delegate_name(const std::string& name) {
  if (name.rfind("CPU", 0) == 0 && name.size() > 3) {
    const std::string n = name.substr(3);
    // Digits only (parse_integer alone would take " 4" or "+4"), at most 999 threads.
    const auto threads = n.find_first_not_of("0123456789") == std::string::npos && n.size() < 4
                             ? parse_integer(n)
                             : std::nullopt;
    if (threads && *threads > 0) return {name, static_cast<int>(*threads), ""};
  }
  if (name == "GPU" || name == "NNAPI") return {name, 0, kNotOnRuntime};
  fail("unknown delegate '{}' (expected CPU<threads>, GPU or NNAPI)", name);
}

}  // namespace

std::string_view application_name(Application a) {
  switch (a) {
    case Application::kClassification:
      return "classification";
    case Application::kDetection:
      return "detection";
    case Application::kSegmentation:
      return "segmentation";
    case Application::kSuperResolution:
      return "super-resolution";
    case Application::kQuestionAnswering:
      return "question-answering";
    case Application::kSpeech:
      return "speech";
  }
  return "unknown";
}

std::optional<Application> parse_application(std::string_view name) {
  for (Application a : kApps)
    if (application_name(a) == name) return a;
  return std::nullopt;
}

std::vector<ConfigKey> Suite::configs() const {
  std::vector<ConfigKey> out;
  for (const auto& e : entries)
    for (const auto& d : delegates) out.push_back({e.id, d.name});
  return out;
}

const SuiteEntry& Suite::entry(const std::string& id) const {
  for (const auto& e : entries)
    if (e.id == id) return e;
  fail("suite '{}' has no model '{}'", name, id);
}

const Delegate& Suite::delegate(const std::string& n) const {
  for (const auto& d : delegates)
    if (d.name == n) return d;
  fail("suite '{}' has no delegate '{}'", name, n);
}

std::string Suite::unsupported_reason(const ConfigKey& c) const {
  const auto& e = entry(c.model);
  if (!e.unsupported.empty()) return e.unsupported;
  return delegate(c.delegate).unsupported;
}

std::vector<std::string> builtin_suite_names() {
  return {"deepen2023"};
}

Suite builtin_suite(const std::string& name) {
  if (name != "deepen2023") fail("unknown built-in suite '{}' (known: deepen2023)", name);
  Suite s;
  s.name = name;
  // The study's numbering: DNN1-4 SSD (FP32/INT8 x 300/640), 5-6 EfficientNet, 7-8 MobileNetV1.
  s.entries = {entry("DNN1", "ssd-mobilenetv2-300", "fp32"),
               entry("DNN2", "ssd-mobilenetv2-300", "int8"),
               entry("DNN3", "ssd-mobilenetv2-640", "fp32"),
               entry("DNN4", "ssd-mobilenetv2-640", "int8"),
               entry("DNN5", "efficientnet-lite0", "fp32"),
               entry("DNN6", "efficientnet-lite0", "int8"),
               entry("DNN7", "mobilenetv1", "fp32"),
               entry("DNN8", "mobilenetv1", "int8"),
               entry("DNN9", "esrgan-50", "fp32"),
               entry("DNN10", "deeplabv3-mobilenetv2-257", "fp32"),
               entry("DNN11", "mobilebert-384", "fp32"),
               entry("DNN12", "conv-actions", "fp32")};
  s.delegates = {parse_delegate_name("CPU1"), parse_delegate_name("CPU4"),
                 parse_delegate_name("GPU"), parse_delegate_name("NNAPI")};
  return s;
}

Suite parse_suite_json(const std::string& text, const std::filesystem::path& path) {
  const std::string file = path.string();
  const json j = parse_json(text, file);
  Reader r(file);
  r.only(j, "", {"name", "models", "delegates"});
  Suite s;
  s.source = path;
  s.name = r.string(r.member(j, "", "name"), "name");

  const json& dels = r.member(j, "", "delegates");
  if (!dels.is_array() || dels.empty()) r.error("delegates", "expected a non-empty array");
  for (size_t i = 0; i < dels.size(); ++i) {
    const std::string p = fmt::format("delegates[{}]", i);
    Delegate d;
    if (dels[i].is_string()) {
      d = with_context(file + ": " + p,
                       [&] { return parse_delegate_name(dels[i].get<std::string>()); });
    } else {
      r.only(dels[i], p, {"name", "threads"});
      d.name = r.string(r.member(dels[i], p, "name"), p + ".name");
      d.threads = static_cast<int>(r.integer(r.member(dels[i], p, "threads"), p + ".threads", 1));
    }
    for (const auto& o : s.delegates)
      if (o.name == d.name) r.error(p, "delegate '" + d.name + "' listed twice");
    s.delegates.push_back(d);
  }

  const json& models = r.member(j, "", "models");
  if (!models.is_array() || models.empty()) r.error("models", "expected a non-empty array");
  const auto base = path.parent_path();
  for (size_t i = 0; i < models.size(); ++i) {
    const std::string p = fmt::format("models[{}]", i);
    const json& m = models[i];
    r.only(m, p, {"id", "title", "application", "builtin", "onnx", "precision", "pre", "post"});
    SuiteEntry e;
    e.id = r.string(r.member(m, p, "id"), p + ".id");
    for (const auto& o : s.entries)
      if (o.id == e.id) r.error(p + ".id", "model '" + e.id + "' listed twice");
    const bool has_builtin = m.contains("builtin"), has_onnx = m.contains("onnx");
    if (has_builtin == has_onnx) r.error(p, "give exactly one of 'builtin' and 'onnx'");
    if (has_builtin) {
      e.builtin = r.string(m["builtin"], p + ".builtin");
      const auto& info =
          with_context(file + ": " + p + ".builtin",
                       [&]() -> const zoo::SuiteModelInfo& { return zoo::suite_model(e.builtin); });
      e.title = info.title;
      e.application = *parse_application(info.application);
    } else {
      e.onnx = r.string(m["onnx"], p + ".onnx");
      if (e.onnx.is_relative()) e.onnx = base / e.onnx;
      std::error_code ec;
      if (!std::filesystem::is_regular_file(e.onnx, ec)) {
        r.error(p + ".onnx", "file '" + e.onnx.string() + "' not found");
      }
      e.title = e.onnx.stem().string();
    }
    if (m.contains("application")) {
      const auto name = r.string(m["application"], p + ".application");
      auto app = parse_application(name);
      if (!app) {
        std::string known;
        for (Application a : kApps)
          known += (known.empty() ? "" : ", ") + std::string(application_name(a));
        r.error(p + ".application", "unknown application '" + name + "' (known: " + known + ")");
      }
      if (has_builtin && *app != e.application) {
        r.error(p + ".application", fmt::format("'{}' does not match the built-in model's '{}'",
                                                name, application_name(e.application)));
      }
      e.application = *app;
    } else if (has_onnx) {
      r.error(p + ".application", "missing (required with 'onnx')");
    }
    if (m.contains("title")) e.title = r.string(m["title"], p + ".title");
    if (m.contains("precision")) {
      e.precision = r.string(m["precision"], p + ".precision");
      if (e.precision != "fp32" && e.precision != "int8") {
        r.error(p + ".precision", "expected 'fp32' or 'int8', got '" + e.precision + "'");
      }
    }
    if (e.application == Application::kSuperResolution) {
      e.pre.mean = {0, 0, 0};
      e.pre.std = {1, 1, 1};
    }
    if (m.contains("pre")) {
      const std::string pp = p + ".pre";
      const json& pre = m["pre"];
      r.only(pre, pp, {"mean", "std", "input", "width", "height"});
      for (const char* key : {"mean", "std"}) {
        if (!pre.contains(key)) continue;
        const std::string kp = pp + "." + key;
        const json& a = pre[key];
        if (!a.is_array() || a.size() != 3) r.error(kp, "expected an array of 3 numbers");
        std::vector<float> v;
        for (size_t c = 0; c < 3; ++c)
          v.push_back(static_cast<float>(r.number(a[c], fmt::format("{}[{}]", kp, c))));
        if (std::string(key) == "std") {
          for (size_t c = 0; c < 3; ++c)
            if (!(v[c] > 0)) r.error(fmt::format("{}[{}]", kp, c), "must be positive");
          e.pre.std = v;
        } else {
          e.pre.mean = v;
        }
      }
      if (pre.contains("input")) {
        e.pre.input = r.string(pre["input"], pp + ".input");
        if (e.pre.input.is_relative()) e.pre.input = base / e.pre.input;
        std::error_code ec;
        if (!std::filesystem::is_regular_file(e.pre.input, ec)) {
          r.error(pp + ".input", "file '" + e.pre.input.string() + "' not found");
        }
      }
      if (pre.contains("width")) e.pre.source_width = r.integer(pre["width"], pp + ".width", 1);
      if (pre.contains("height")) e.pre.source_height = r.integer(pre["height"], pp + ".height", 1);
    }
    if (m.contains("post")) {
      const std::string pp = p + ".post";
      const json& post = m["post"];
      r.only(post, pp, {"top_k", "score_threshold", "iou_threshold", "max_detections"});
      if (post.contains("top_k")) e.post.top_k = r.integer(post["top_k"], pp + ".top_k", 1);
      for (auto [key, dst] : {std::pair{"score_threshold", &e.post.score_threshold},
                              std::pair{"iou_threshold", &e.post.iou_threshold}}) {
        if (!post.contains(key)) continue;
        const double v = r.number(post[key], pp + "." + key);
        if (v < 0 || v > 1) r.error(pp + "." + key, "must lie in [0, 1]");
        *dst = static_cast<float>(v);
      }
      if (post.contains("max_detections")) {
        e.post.max_detections = r.integer(post["max_detections"], pp + ".max_detections", 1);
      }
    }
    if (has_onnx && e.application == Application::kQuestionAnswering) {
      r.error(p + ".application",
              "question answering needs the built-in MobileBERT (the pipeline looks up its word "
              "embeddings)");
    }
    if (has_onnx && e.application == Application::kDetection) {
      r.error(p + ".application",
              "detection needs the SSD anchor layout, known for built-in models only");
    }
    s.entries.push_back(std::move(e));
  }
  return s;
}

Suite parse_suite_file(const std::filesystem::path& path) {
  return parse_suite_json(read_file(path), path);
}

Suite load_suite(const std::string& name_or_path) {
  for (const auto& n : builtin_suite_names())
    if (n == name_or_path) return builtin_suite(n);
  std::error_code ec;
  if (!std::filesystem::exists(name_or_path, ec)) {
    fail("suite '{}': neither a built-in suite (deepen2023) nor a file", name_or_path);
  }
  return parse_suite_file(name_or_path);
}

Suite with_threads(Suite suite, const std::vector<int>& threads) {
  std::vector<Delegate> out;
  for (int t : threads) {
    if (t < 1) fail("--threads: {} is not a thread count (expected 1 or more)", t);
    for (const auto& d : out)
      if (d.threads == t) fail("--threads: {} given twice", t);
    out.push_back({fmt::format("CPU{}", t), t, ""});
  }
  for (const auto& d : suite.delegates)
    if (d.threads == 0) out.push_back(d);
  suite.delegates = std::move(out);
  return suite;
}

}  // namespace nnjoule::zoo
