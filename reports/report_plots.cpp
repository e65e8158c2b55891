#include "reports/report_plots.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <map>
#include <optional>
#include <set>

#include "reports/report_format.hpp"

namespace ssmsim::reports {

namespace {

struct Axis {
  double lo = 0, hi = 1;
  bool log = false;
  std::vector<double> ticks;
  // Maps v into [p0, p1] (p1 may be below p0: the y axis grows upwards).
  double map(double v, double p0, double p1) const {
    const double t = log ? (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo)) : (v - lo) / (hi - lo);
    return p0 + t * (p1 - p0);
  }
};

double nice_step(double raw_step) {
  const double e = std::pow(10.0, std::floor(std::log10(raw_step)));
  const double f = raw_step / e;
  return (f < 1.5 ? 1.0 : f < 3.0 ? 2.0 : f < 7.0 ? 5.0 : 10.0) * e;
}

// A linear axis over [mn, mx] padded by 5%, ends on whole steps of about five ticks; never below
// `floor_at` when the data are not (no negative energies or accuracies on an axis).
Axis linear_axis(double mn, double mx, std::optional<double> floor_at = std::nullopt,
                 std::optional<double> ceil_at = std::nullopt) {
  Axis a;
  double pad = (mx - mn) * 0.05;
  if (pad == 0) pad = mn == 0 ? 1.0 : std::fabs(mn) * 0.05;
  double lo = mn - pad, hi = mx + pad;
  const double step = nice_step((hi - lo) / 5.0);
  lo = std::floor(lo / step) * step;
  hi = std::ceil(hi / step) * step;
  if (floor_at && mn >= *floor_at && lo < *floor_at) lo = *floor_at;
  if (ceil_at && mx <= *ceil_at && hi > *ceil_at) hi = *ceil_at;
  a.lo = lo;
  a.hi = hi;
  for (double t = std::ceil(lo / step) * step; t <= hi + step * 1e-9; t += step)
    a.ticks.push_back(std::round(t / step) * step);
  return a;
}

// A log axis over [mn / 1.2, mx * 1.2], ticks at 1, 2, 5 x 10^k (only 10^k beyond three decades).
Axis log_axis(double mn, double mx) {
  Axis a;
  a.log = true;
  a.lo = mn / 1.2;
  a.hi = mx * 1.2;
  const bool dense = std::log10(a.hi / a.lo) <= 3.0;
  for (int k = static_cast<int>(std::floor(std::log10(a.lo))); k <= static_cast<int>(std::ceil(std::log10(a.hi))); ++k)
    for (const double m : {1.0, 2.0, 5.0}) {
      if (!dense && m != 1.0) continue;
      const double t = m * std::pow(10.0, k);
      if (t >= a.lo && t <= a.hi) a.ticks.push_back(t);
    }
  return a;
}

// The x axis of a cost: log when the values are positive and span more than 20x.
Axis cost_axis(const std::vector<double>& v) {
  const auto [mn, mx] = std::minmax_element(v.begin(), v.end());
  if (*mn > 0 && *mx / *mn > 20.0) return log_axis(*mn, *mx);
  return linear_axis(*mn, *mx, 0.0);
}

const char* method_color(const std::string& method) {
  if (method == "ptq") return "#1f77b4";
  if (method == "qat") return "#ff7f0e";
  return "#7f7f7f";
}

const char* const kPalette[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948",
                                "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac", "#17becf", "#8c564b"};

constexpr double kW = 640, kH = 400, kX0 = 70, kX1 = 620, kY0 = 44, kY1 = 340;

std::string point_tooltip(const DesignPoint& p) {
  return fmt::format("{} ({})\naccuracy {}%\n{} nJ/token\n{} µs/token\n{} weight bits{}", p.label, p.id,
                     pct(p.accuracy), sig4(p.energy_nj_per_token), sig4(p.latency_us_per_token),
                     bits(p.memory_bits), p.bit_exact ? (*p.bit_exact ? "\nbit-exact" : "\nNOT bit-exact") : "");
}

}  // namespace

void scatter(std::string& h, const SweepResults& r, const PlotSpec& s) {
  const auto& pts = r.points;
  std::vector<double> xs, ys;
  for (const auto& p : pts) {
    xs.push_back(p.*(s.x));
    ys.push_back(100.0 * p.accuracy);
  }
  const Axis ax = cost_axis(xs);
  const auto [ymn, ymx] = std::minmax_element(ys.begin(), ys.end());
  const Axis ay = linear_axis(*ymn, *ymx, 0.0, 100.0);
  std::vector<bool> on_front(pts.size(), false);
  for (const size_t i : *s.front) on_front[i] = true;
  std::set<std::string> methods;
  for (const auto& p : pts) methods.insert(p.method);

  h += fmt::format("<figure id=\"plot-{0}\">\n<svg class=\"plot\" data-plot=\"{0}\" viewBox=\"0 0 {1} {2}\" "
                   "width=\"{1}\" height=\"{2}\" role=\"img\" aria-label=\"{3}\">\n",
                   s.key, kW, kH, esc(s.title));
  h += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#fcfcfc\" stroke=\"#999\"/>\n", kX0,
                   kY0, kX1 - kX0, kY1 - kY0);
  // grid, ticks and tick labels
  for (const double t : ax.ticks) {
    const double x = ax.map(t, kX0, kX1);
    h += fmt::format("<line class=\"grid\" x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"#e6e6e6\"/>"
                     "<line x1=\"{0}\" y1=\"{2}\" x2=\"{0}\" y2=\"{3}\" stroke=\"#444\"/>"
                     "<text x=\"{0}\" y=\"{4}\" text-anchor=\"middle\">{5}</text>\n",
                     coord(x), kY0, kY1, kY1 + 5, kY1 + 18, esc(tick_label(t)));
  }
  for (const double t : ay.ticks) {
    const double y = ay.map(t, kY1, kY0);
    h += fmt::format("<line class=\"grid\" x1=\"{1}\" y1=\"{0}\" x2=\"{2}\" y2=\"{0}\" stroke=\"#e6e6e6\"/>"
                     "<line x1=\"{3}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" stroke=\"#444\"/>"
                     "<text x=\"{4}\" y=\"{5}\" text-anchor=\"end\">{6}</text>\n",
                     coord(y), kX0, kX1, kX0 - 5, kX0 - 8, coord(y + 4), esc(tick_label(t)));
  }
  h += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}{}</text>\n", (kX0 + kX1) / 2, kY1 + 40,
                   esc(s.x_label), ax.log ? " (log scale)" : "");
  h += fmt::format("<text x=\"16\" y=\"{0}\" text-anchor=\"middle\" transform=\"rotate(-90 16 {0})\">"
                   "accuracy (%)</text>\n",
                   (kY0 + kY1) / 2);

  // the front as a line, cost ascending
  std::string line;
  for (const size_t i : *s.front)
    line += fmt::format("{}{},{}", line.empty() ? "" : " ", coord(ax.map(xs[i], kX0, kX1)),
                        coord(ay.map(ys[i], kY1, kY0)));
  h += fmt::format("<polyline class=\"front-line\" points=\"{}\" fill=\"none\" stroke=\"#000\" "
                   "stroke-width=\"1.5\" stroke-dasharray=\"5 3\"/>\n",
                   line);
  // the points: the others first, the front on top
  for (const bool front_pass : {false, true})
    for (size_t i = 0; i < pts.size(); ++i) {
      if (on_front[i] != front_pass) continue;
      const auto& p = pts[i];
      h += fmt::format("<circle class=\"pt{}\" data-id=\"{}\" data-x=\"{}\" data-y=\"{}\" cx=\"{}\" cy=\"{}\" "
                       "r=\"{}\" fill=\"{}\" stroke=\"{}\" stroke-width=\"{}\"><title>{}</title></circle>\n",
                       front_pass ? " front" : "", esc(p.id), raw(xs[i]), raw(p.accuracy),
                       coord(ax.map(xs[i], kX0, kX1)), coord(ay.map(ys[i], kY1, kY0)), front_pass ? 6 : 4.5,
                       method_color(p.method), front_pass ? "#000" : "#fff", front_pass ? 2 : 1,
                       esc(point_tooltip(p) + (front_pass ? fmt::format("\non the accuracy/{} Pareto front", s.key)
                                                          : std::string())));
    }
  // legend, in the top margin
  double lx = kX0;
  h += "<g class=\"legend\">\n";
  for (const auto& m : methods) {
    h += fmt::format("<circle cx=\"{}\" cy=\"18\" r=\"4.5\" fill=\"{}\" stroke=\"#fff\"/>"
                     "<text x=\"{}\" y=\"22\">{}</text>\n",
                     lx + 5, method_color(m), lx + 13, esc(m.empty() ? "method not recorded" : m));
    lx += 30 + 7.0 * static_cast<double>(m.empty() ? 19 : m.size());
  }
  h += fmt::format("<circle cx=\"{0}\" cy=\"18\" r=\"6\" fill=\"#ccc\" stroke=\"#000\" stroke-width=\"2\"/>"
                   "<line x1=\"{1}\" y1=\"18\" x2=\"{2}\" y2=\"18\" stroke=\"#000\" stroke-width=\"1.5\" "
                   "stroke-dasharray=\"5 3\"/><text x=\"{3}\" y=\"22\">Pareto front</text>\n",
                   lx + 6, lx + 14, lx + 34, lx + 40);
  h += "</g>\n</svg>\n";
  h += fmt::format("<figcaption>{}: {} of {} points on the Pareto front.</figcaption>\n</figure>\n", esc(s.title),
                   s.front->size(), pts.size());
}

namespace {

const char* const kModules[] = {"cmac", "mve", "sfu", "weight_mem", "state_mem", "io_mem", "bus", "offchip"};

}  // namespace

void energy_bars(std::string& h, const SweepResults& r, const std::vector<size_t>& front) {
  std::vector<Entries> rows;
  for (const size_t i : front) rows.push_back(entries(r.points[i].record.energy_breakdown_nj));
  // modules with energy somewhere on the front, the hardware's order first (an all-zero one, e.g.
  // offchip when the weights fit, would only crowd the legend)
  std::vector<std::string> modules;
  for (const auto& m : ordered_keys(rows, std::vector<std::string>(std::begin(kModules), std::end(kModules))))
    for (const auto& row : rows)
      if (std::any_of(row.begin(), row.end(), [&](const auto& e) { return e.first == m && e.second > 0; })) {
        modules.push_back(m);
        break;
      }
  std::map<std::string, const char*> color;
  for (size_t k = 0; k < modules.size(); ++k) color[modules[k]] = kPalette[k % std::size(kPalette)];

  double mx = 0;
  for (const auto& row : rows) {
    double sum = 0;
    for (const auto& e : row) sum += std::max(0.0, e.second);
    mx = std::max(mx, sum);
  }
  // each row: the point's label and id on one line, its bar under it
  constexpr double x0 = 12, x1 = 560, top = 40, row_h = 40;
  const double height = top + row_h * static_cast<double>(front.size()) + 40;
  const Axis ax = linear_axis(0, mx > 0 ? mx : 1, 0.0);
  h += fmt::format("<svg class=\"bars\" data-plot=\"energy-breakdown\" viewBox=\"0 0 {0} {1}\" width=\"{0}\" "
                   "height=\"{1}\" role=\"img\" aria-label=\"energy per token by module\">\n",
                   kW, coord(height));
  // legend
  double lx = 10;
  for (const auto& m : modules) {
    h += fmt::format("<rect x=\"{}\" y=\"10\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{}\" y=\"21\">{}"
                     "</text>\n",
                     coord(lx), color[m], coord(lx + 16), esc(m));
    lx += 26 + 7.0 * static_cast<double>(m.size());
  }
  const double bottom = top + row_h * static_cast<double>(front.size());
  for (const double t : ax.ticks) {
    const double x = ax.map(t, x0, x1);
    h += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"#e6e6e6\"/>"
                     "<text x=\"{0}\" y=\"{3}\" text-anchor=\"middle\">{4}</text>\n",
                     coord(x), top - 4, coord(bottom + 4), coord(bottom + 18), esc(tick_label(t)));
  }
  h += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">energy per token (nJ)</text>\n", (x0 + x1) / 2,
                   coord(bottom + 34));
  for (size_t k = 0; k < front.size(); ++k) {
    const auto& p = r.points[front[k]];
    const double y = top + row_h * static_cast<double>(k);
    h += fmt::format("<text x=\"{}\" y=\"{}\">{}<title>{}</title></text>\n", x0, coord(y + 13),
                     esc(shorten(p.label, 80) + " (" + p.id + ")"), esc(p.label + " (" + p.id + ")"));
    if (rows[k].empty()) {
      h += fmt::format("<text x=\"{}\" y=\"{}\" fill=\"#777\">no breakdown in the record ({} nJ/token)</text>\n",
                       x0, coord(y + 31), sig4(p.energy_nj_per_token));
      continue;
    }
    double sum = 0;
    for (const auto& e : rows[k]) sum += std::max(0.0, e.second);
    double acc = 0;
    for (const auto& m : modules) {
      const auto e = std::find_if(rows[k].begin(), rows[k].end(), [&](const auto& kv) { return kv.first == m; });
      if (e == rows[k].end() || e->second <= 0) continue;
      const double xa = ax.map(acc, x0, x1), xb = ax.map(acc + e->second, x0, x1);
      h += fmt::format("<rect class=\"seg\" data-module=\"{}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"18\" "
                       "fill=\"{}\"><title>{}: {} nJ/token ({:.1f}%)</title></rect>\n",
                       esc(m), coord(xa), coord(y + 18), coord(xb - xa), color[m], esc(p.label + " " + m),
                       sig4(e->second), sum > 0 ? 100.0 * e->second / sum : 0.0);
      acc += e->second;
    }
    h += fmt::format("<text x=\"{}\" y=\"{}\">{}</text>\n", coord(ax.map(acc, x0, x1) + 5), coord(y + 31),
                     esc(sig4(p.energy_nj_per_token) + " nJ"));
  }
  h += "</svg>\n";
}

}  // namespace ssmsim::reports
