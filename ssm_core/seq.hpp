// The activation layout of training and float inference: a chunk of kLanes sequences processed
// together, lane-innermost: element (t, f, lane) at ((t * F + f) * kLanes + lane).
//
// Every per-element loop runs over the lanes, which the compiler vectorises, and no sum ever
// crosses lanes, so each sequence's arithmetic is independent of which chunk it is in. Chunk
// gradients are summed in chunk order: results are bit-identical for any thread count.
#pragma once

#include <cstddef>
#include <vector>

namespace ssmsim::core {

constexpr size_t kLanes = 8;

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
  T* at(size_t t, size_t f) { return v.data() + (t * F + f) * kLanes; }
  const T* at(size_t t, size_t f) const { return v.data() + (t * F + f) * kLanes; }
};

}  // namespace ssmsim::core
