#include "workloads/metrics.hpp"

#include <cmath>

namespace ssmsim::workloads {

double mse(const float* pred, const float* target, size_t n) {
  if (n == 0) return 0.0;
  double sum = 0.0;
  for (size_t i = 0; i < n; ++i) {
    const double e = static_cast<double>(pred[i]) - static_cast<double>(target[i]);
    sum += e * e;
  }
  return sum / static_cast<double>(n);
}

double smape(const float* pred, const float* target, size_t n) {
  if (n == 0) return 0.0;
  double sum = 0.0;
  for (size_t i = 0; i < n; ++i) {
    const double p = pred[i], t = target[i];
    const double denom = 0.5 * (std::fabs(p) + std::fabs(t));
    if (denom > 0.0) sum += std::fabs(p - t) / denom;
  }
  return 100.0 * sum / static_cast<double>(n);
}

}  // namespace ssmsim::workloads
