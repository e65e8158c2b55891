// The report's SVG plots, written by hand (docs/reports.md says why): accuracy against a cost
// with its Pareto front, and the energy per token by module of the front's points as stacked
// bars. Each design point is one element with its id (data-id) and values (data-x, data-y), so
// tests and browsers can select them; the same results give the same bytes.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "reports/report_load.hpp"

namespace ssmsim::reports {

struct PlotSpec {
  const char* key;       // energy, memory, latency: data-plot and the element ids
  const char* title;
  const char* x_label;
  const char* x_unit;    // in the tooltip
  double DesignPoint::*x;
  const std::vector<size_t>* front;
};

// Appends the scatter plot of accuracy against the cost `s.x` (a <figure>) to `h`: every point
// once, the front's points ringed and joined by a dashed line, a legend of the methods.
void scatter(std::string& h, const SweepResults& r, const PlotSpec& s);

// Appends one stacked bar per point of `front` (indices into r.points), a segment per module of
// energy_breakdown_nj with energy on some front point, the hardware's module order first.
void energy_bars(std::string& h, const SweepResults& r, const std::vector<size_t>& front);

}  // namespace ssmsim::reports
