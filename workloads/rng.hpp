// Portable, seeded random numbers for data generation. std::mt19937_64 is specified bit for bit
// by the C++ standard, but std::uniform_real_distribution, std::normal_distribution and
// std::shuffle are not (libstdc++ and libc++ give different numbers), so every workload draws
// through this class: the same seed gives the same data set with any standard library.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <string_view>
#include <utility>
#include <vector>

namespace ssmsim::workloads {

class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}

  uint64_t next() { return engine_(); }

  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }

  // Uniform integer in [0, n), n > 0, without modulo bias (rejection sampling).
  uint64_t below(uint64_t n) {
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;  // a multiple of n
    uint64_t x = engine_();
    while (x >= limit) x = engine_();
    return x % n;
  }

  // Standard normal by the Box-Muller transform: two uniforms per draw (no cached second value,
  // so the stream position depends only on the number of draws).
  double normal() {
    const double u1 = 1.0 - uniform();  // (0, 1]: log() is finite
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  std::mt19937_64 engine_;
};

// A seed for one independent stream: splitmix64 of the base seed, a name (FNV-1a) and a stream
// index. Workloads draw each split from its own stream, so the validation and test sets do not
// change when the training set size does.
inline uint64_t derive_seed(uint64_t seed, std::string_view name, uint64_t stream) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
  uint64_t z = seed ^ h ^ (stream * 0x9e3779b97f4a7c15ull);
  for (int i = 0; i < 2; ++i) {  // two splitmix64 rounds
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
  }
  return z;
}

// A uniformly random permutation of 0..n-1 (Fisher-Yates, drawing through Rng::below).
inline std::vector<uint32_t> random_permutation(uint32_t n, Rng& rng) {
  std::vector<uint32_t> p(n);
  for (uint32_t i = 0; i < n; ++i) p[i] = i;
  for (uint32_t i = n; i > 1; --i) {
    const auto j = static_cast<uint32_t>(rng.below(i));
    std::swap(p[i - 1], p[j]);
  }
  return p;
}

}  // namespace ssmsim::workloads
