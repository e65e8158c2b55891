// Random numbers whose values are fixed by this code, not by the standard library's distribution
// implementations (which differ between libraries): the same seed gives the same model anywhere.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>

namespace ssmsim::core {

// Uniform in [0, 1) from the top 53 bits of one draw.
inline double uniform01(std::mt19937_64& rng) {
  return static_cast<double>(rng() >> 11) * (1.0 / 9007199254740992.0);
}

// Standard normal (Box-Muller; one value per call, the second discarded for simplicity).
inline double normal(std::mt19937_64& rng) {
  double u1 = uniform01(rng);
  while (u1 <= 0.0) u1 = uniform01(rng);
  const double u2 = uniform01(rng);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

}  // namespace ssmsim::core
