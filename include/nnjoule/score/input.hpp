#pragma once
// Score input from a dataset: the stored application measurements (mW, mJ, ms) as the study's
// units (W, J) for the score maths.
#include "nnjoule/score/scores.hpp"
#include "nnjoule/store/store.hpp"

namespace nnjoule::score {

// The database's application measurements as score input: one device per store device, the
// latest row per configuration, the suites' configurations (unsupported ones included) in suite
// order. Throws Error naming the file when it holds no application measurements.
ScoreInput load_score_input(const store::Store& db);

}  // namespace nnjoule::score
