#include "nnjoule/common/provenance.hpp"

#include "nnjoule/common/error.hpp"

namespace nnjoule {

std::string_view origin_name(Origin origin) {
  switch (origin) {
    case Origin::kMeasured:
      return "measured";
    case Origin::kEstimated:
      return "estimated";
    case Origin::kPredicted:
      return "predicted";
    case Origin::kImported:
      return "imported";
    case Origin::kCounted:
      return "counted";
  }
  return "unknown";
}

Origin parse_origin(std::string_view name) {
  for (Origin o : {Origin::kMeasured, Origin::kEstimated, Origin::kPredicted, Origin::kImported,
                   Origin::kCounted}) {
    if (origin_name(o) == name) return o;
  }
  fail("unknown origin '{}' (expected measured, estimated, predicted, imported or counted)", name);
}

std::string Provenance::label() const {
  std::string s(origin_name(origin));
  if (!by.empty()) s += " (" + by + ")";
  return s;
}

nlohmann::json to_json(const Provenance& p) {
  return {{"origin", std::string(origin_name(p.origin))}, {"by", p.by}, {"label", p.label()}};
}

}  // namespace nnjoule
