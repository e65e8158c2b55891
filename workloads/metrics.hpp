// Scores for the regression (forecasting) workloads. Accumulated in double, in index order, so
// the result is the same on every run.
#pragma once

#include <cstddef>

namespace ssmsim::workloads {

// Mean squared error: (1/n) sum (pred_i - target_i)^2. n = 0 gives 0.
double mse(const float* pred, const float* target, size_t n);

// Symmetric mean absolute percentage error, in percent:
//   sMAPE = (100/n) sum |pred_i - target_i| / ((|pred_i| + |target_i|) / 2),
// ranging over [0, 200]. A term whose denominator is 0 (pred_i = target_i = 0) counts as 0.
// n = 0 gives 0.
double smape(const float* pred, const float* target, size_t n);

}  // namespace ssmsim::workloads
