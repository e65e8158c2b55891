// The activation layout of training and float inference: a chunk of kLanes sequences processed
// together, lane-innermost: element (t, f, lane) at ((t * F + f) * kLanes + lane).
//
// Every per-element loop runs over the lanes, which the compiler vectorises, and no sum ever
// crosses lanes, so each sequence's arithmetic is independent of which chunk it is in. Chunk
// gradients are summed in chunk order: results are bit-identical for any thread count.
#pragma once

#include <cstddef>
#include <vector>

#include "ssm_core/pool.hpp"

namespace ssmsim::core {

constexpr size_t kLanes = 8;

// Hot kernels are compiled twice, for AVX2 and for the portable baseline, and the CPU picks at
// load time. FMA is deliberately not enabled: both versions then perform the same IEEE operations
// on every lane (no contraction, no reassociation), so results are bit-identical on every x86-64.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(SSMSIM_NO_MULTIVERSION)
#define SSMSIM_MULTIVERSION __attribute__((target_clones("avx2", "default")))
#else
#define SSMSIM_MULTIVERSION
#endif

template <typename T>
struct Seq {
  size_t L = 0;  // time steps
  size_t F = 0;  // features
  std::vector<T> v;

  void resize(size_t steps, size_t features) {
    L = steps;
    F = features;
    v.assign(L * F * kLanes, T(0));
  }
  // As resize, for a writer that then sets every element: the storage is kept, not zeroed (a
  // workspace reused chunk after chunk).
  void reshape(size_t steps, size_t features) {
    L = steps;
    F = features;
    v.resize(L * F * kLanes);
  }
  T* at(size_t t, size_t f) { return v.data() + (t * F + f) * kLanes; }
  const T* at(size_t t, size_t f) const { return v.data() + (t * F + f) * kLanes; }
};

// Splits [0, n) into min(parts, n) contiguous ranges and runs fn(part, begin, end) on each side by
// side (on the thread pool, ssm_core/pool.hpp; the calling thread takes a part too). For work whose
// ranges write disjoint outputs.
template <class F>
void parallel_ranges(size_t n, size_t parts, F&& fn) {
  if (parts > n) parts = n;
  if (parts <= 1) {
    fn(size_t{0}, size_t{0}, n);
    return;
  }
  run_team(parts, parts, [&](size_t p, size_t) { fn(p, n * p / parts, n * (p + 1) / parts); });
}

}  // namespace ssmsim::core
