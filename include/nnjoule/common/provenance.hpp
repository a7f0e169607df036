#pragma once
// Every number that leaves nnjoule says where it came from.
#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace nnjoule {

enum class Origin {
  kMeasured,   // read from a real sensor; `by` names the meter
  kEstimated,  // computed by a model of the device; `by` names the model
  kPredicted,  // from a predictor bundle; `by` names the bundle
  kImported,   // taken from a published dataset; `by` names the dataset
  kCounted,    // exact by construction (FLOPs, parameters, bytes)
};

struct Provenance {
  Origin origin = Origin::kCounted;
  std::string by;  // meter, model, bundle or dataset name

  // "measured (rapl:package-0)", "estimated (cpu-time model)", ...
  std::string label() const;
};

std::string_view origin_name(Origin origin);
Origin parse_origin(std::string_view name);  // throws Error on an unknown name
// {"origin": "measured", "by": "rapl", "label": "measured (rapl)"}
nlohmann::json to_json(const Provenance& p);

}  // namespace nnjoule
