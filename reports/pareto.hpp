// Pareto fronts of a design-space sweep: which design points no other point beats on both a cost
// (energy, memory, latency; lower is better) and accuracy (higher is better).
#pragma once

#include <cstddef>
#include <vector>

namespace ssmsim::reports {

// The indices of the points not dominated by any other point.
//
// Point j dominates point i when cost[j] <= cost[i] and accuracy[j] >= accuracy[i] and at least
// one of the two is strict. Consequences, stated so callers need not guess:
//   * two points with equal cost and equal accuracy (duplicates) do not dominate each other: both
//     are on the front or neither is;
//   * of several points with equal cost, only those with the highest accuracy can be on the front;
//   * of several points with equal accuracy, only those with the lowest cost can be on the front.
//
// Order of the result: by cost ascending, then by index ascending (only duplicates share a cost on
// the front). Along the result accuracy is then non-decreasing, strictly increasing between
// distinct costs, so the result is the polyline a plot draws.
//
// O(n log n): one sort by (cost ascending, accuracy descending, index ascending) and one sweep.
// Infinite values are ordinary values. Throws InputError when a value is NaN (no order exists) and
// std::invalid_argument when the two vectors differ in length (a caller's bug).
std::vector<size_t> pareto_front(const std::vector<double>& cost, const std::vector<double>& accuracy);

}  // namespace ssmsim::reports
