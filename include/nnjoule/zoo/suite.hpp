#pragma once
// Application suites: which models run as which application (pre-processing, inference,
// post-processing) with which delegates. The built-in "deepen2023" suite holds the study's
// twelve reference DNNs; a JSON suite file defines a user's own (docs/scoring.md).
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace nnjoule::zoo {

// One application configuration: a suite entry ("DNN1") run with one delegate ("CPU4").
struct ConfigKey {
  std::string model;
  std::string delegate;
  std::string label() const { return model + "/" + delegate; }
  bool operator==(const ConfigKey&) const = default;
};

// The application an entry belongs to; it fixes the default pre- and post-processing.
enum class Application {
  kClassification,     // image -> softmax top-5
  kDetection,          // image -> SSD box decoding + non-maximum suppression
  kSegmentation,       // image -> argmax mask
  kSuperResolution,    // image -> upscaled image
  kQuestionAnswering,  // text -> token ids -> answer span
  kSpeech,             // audio -> spectrogram frames -> keyword top-5
};
std::string_view application_name(Application a);
std::optional<Application> parse_application(std::string_view name);

struct PreProcessing {
  // Image applications: the model input is [1, 3, H, W] read from the model; pixels are scaled
  // to [0, 1] and normalised per channel as (x - mean) / std.
  std::vector<float> mean = {0.485f, 0.456f, 0.406f};
  std::vector<float> std = {0.229f, 0.224f, 0.225f};
  std::filesystem::path input;  // image (PPM/PNG), text or raw audio file; empty: generated
  int64_t source_width = 640, source_height = 480;  // size of the generated image
};

struct PostProcessing {
  int64_t top_k = 5;
  float score_threshold = 0.3f;  // detection: boxes below it are dropped before NMS
  float iou_threshold = 0.5f;    // detection: NMS overlap limit
  int64_t max_detections = 100;
};

struct SuiteEntry {
  std::string id;     // "DNN1": the configuration's model name in scores
  std::string title;  // "MobileNetV2-SSD 300x300 FP32"
  Application application = Application::kClassification;
  std::string precision = "fp32";  // "fp32" or "int8"
  // Exactly one source: a built-in suite model (suite_model_names()) or an ONNX file.
  std::string builtin;
  std::filesystem::path onnx;
  PreProcessing pre;
  PostProcessing post;
  // Non-empty: this entry cannot run here, and says why (listed, never skipped silently).
  std::string unsupported;
};

struct Delegate {
  std::string name;         // "CPU1", "CPU4", "GPU", "NNAPI"
  int threads = 0;          // CPU delegates: pthreadpool size
  std::string unsupported;  // non-empty: not available on this runtime, and why
};

struct Suite {
  std::string name;
  std::filesystem::path source;  // the suite file; empty for a built-in suite
  std::vector<SuiteEntry> entries;
  std::vector<Delegate> delegates;

  // Every (entry, delegate) pair, in entry-major order.
  std::vector<ConfigKey> configs() const;
  // Why a configuration cannot run here; empty when it can.
  std::string unsupported_reason(const ConfigKey& c) const;
  const SuiteEntry& entry(const std::string& id) const;  // throws Error naming the id
  const Delegate& delegate(const std::string& name) const;
};

// Built-in suites by name ("deepen2023").
std::vector<std::string> builtin_suite_names();
Suite builtin_suite(const std::string& name);
// A JSON suite file; errors name the file and the field ("suite.json: models[2].onnx: ...").
// Relative paths in it are taken relative to the file.
Suite parse_suite_file(const std::filesystem::path& path);
Suite parse_suite_json(const std::string& text, const std::filesystem::path& path);
// A built-in name or a file path.
Suite load_suite(const std::string& name_or_path);

// Replaces the CPU delegates by CPU<n> for each n (--threads 1,4); delegates that are not CPU
// ones stay listed. Throws Error for a count below 1.
Suite with_threads(Suite suite, const std::vector<int>& threads);

}  // namespace nnjoule::zoo
