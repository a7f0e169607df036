#pragma once
// Fusion rules decide which neighbouring ops run as one kernel. The file format is nn-Meter's
// fusion_rules.json ("BF_<a>_<b>": {"obey": true|false}); the built-in default describes
// XNNPACK / TFLite on CPU.
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace nnjoule::kernels {

class FusionRules {
 public:
  // Batch-norm folds into conv/dwconv/convtrans; relu/relu6/clamps fuse into conv, dwconv,
  // convtrans, fc, add and a standalone bn; SE, hswish, swish and channel shuffle are patterns.
  static FusionRules xnnpack_default();
  // Throws Error naming the file and the offending key on malformed input.
  static FusionRules from_file(const std::filesystem::path& path);
  static FusionRules from_json(std::string_view text, const std::string& source);

  // Whether op class `next` fuses onto a kernel whose op classes so far are `ops`.
  bool fuses(const std::vector<std::string>& ops, const std::string& next) const;
  // The rule key nn-Meter would use for an op class ("maxpool" -> "pooling", "fc" -> "dense").
  static std::string rule_name(const std::string& op_class);

  const std::string& source() const { return source_; }
  const std::map<std::string, bool>& rules() const { return rules_; }
  std::string to_json() const;

  bool patterns = true;  // recognise SE / hswish / swish / channel-shuffle patterns

 private:
  std::string source_;
  std::map<std::string, bool> rules_;  // "BF_conv_bn" -> obey
};

}  // namespace nnjoule::kernels
