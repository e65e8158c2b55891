#include "reports/pareto.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>

#include "quant/errors.hpp"

namespace ssmsim::reports {

std::vector<size_t> pareto_front(const std::vector<double>& cost, const std::vector<double>& accuracy) {
  if (cost.size() != accuracy.size())
    throw std::invalid_argument("pareto_front: " + std::to_string(cost.size()) + " costs but " +
                                std::to_string(accuracy.size()) + " accuracies");
  const size_t n = cost.size();
  for (size_t i = 0; i < n; ++i)
    if (std::isnan(cost[i]) || std::isnan(accuracy[i]))
      throw InputError("pareto front: design point " + std::to_string(i) +
                       " has a NaN cost or accuracy; every point needs numbers to be compared");

  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (cost[a] != cost[b]) return cost[a] < cost[b];
    if (accuracy[a] != accuracy[b]) return accuracy[a] > accuracy[b];
    return a < b;
  });

  // Walk groups of equal cost in ascending cost. Within a group the first point has the group's
  // best accuracy; the others with that accuracy are its duplicates, the rest are dominated by it.
  // The group's best is on the front iff it beats every strictly cheaper point's accuracy (a
  // cheaper point with accuracy >= it would dominate it). `best` is the best accuracy of all
  // strictly cheaper groups; `have_best` avoids a -infinity sentinel that an accuracy of -inf
  // would tie.
  std::vector<size_t> front;
  bool have_best = false;
  double best = 0.0;
  for (size_t g = 0; g < n;) {
    size_t end = g + 1;
    while (end < n && cost[order[end]] == cost[order[g]]) ++end;
    const double top = accuracy[order[g]];
    if (!have_best || top > best) {
      for (size_t k = g; k < end && accuracy[order[k]] == top; ++k) front.push_back(order[k]);
      best = top;
      have_best = true;
    }
    g = end;
  }
  return front;
}

}  // namespace ssmsim::reports
