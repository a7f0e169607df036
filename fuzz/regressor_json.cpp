// One regressor file of a predictor bundle (XGBoost JSON, evaluated by nnjoule's own tree
// walker): what loads must predict a finite-or-rejected number without reading out of bounds
// or looping.
#include <vector>

#include "fuzz.hpp"
#include "nnjoule/predict/regressor.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return nnjoule::fuzz::guarded([&] {
    const auto r =
        nnjoule::predict::Regressor::from_json(nnjoule::fuzz::bytes(data, size), "fuzz.json");
    if (r.num_features() > 4096) return;  // a valid but wide model: the row would be the cost
    for (float x : {0.0f, 1.0f, -1e30f, 1e30f}) {
      const std::vector<float> row(r.num_features(), x);
      (void)r.predict_one(row);
    }
  });
}
