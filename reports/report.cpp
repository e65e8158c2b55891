#include "reports/report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <system_error>
#include <unordered_set>

#include "quant/errors.hpp"
#include "reports/pareto.hpp"
#include "reports/record.hpp"

namespace ssmsim::reports {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// ---------------------------------------------------------------------------------------------
// Reading the records

const char* const kRequired = "accuracy, energy_nj_per_token, latency_us_per_token and memory_bits";

double required_number(const json& j, const char* key, const std::string& at) {
  const auto it = j.find(key);
  if (it == j.end())
    throw InputError(fmt::format("{}: the record has no \"{}\"; every design point needs {} as numbers "
                                 "(the fields `ssmsim sweep` writes, docs/reports.md)",
                                 at, key, kRequired));
  if (!it->is_number())
    throw InputError(fmt::format("{}: \"{}\" is {}, not a number; every design point needs {} as numbers",
                                 at, key, it->dump(-1, ' ', false, json::error_handler_t::replace), kRequired));
  const double v = it->get<double>();
  if (!std::isfinite(v)) throw InputError(fmt::format("{}: \"{}\" is not a finite number", at, key));
  return v;
}

std::optional<double> optional_number(const json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return std::nullopt;
  const double v = it->get<double>();
  if (!std::isfinite(v)) return std::nullopt;
  return v;
}

std::string optional_string(const json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw InputError(fmt::format("cannot read '{}'", p.string()));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

DesignPoint parse_point(const std::string& line, const fs::path& file, size_t line_no) {
  const std::string at = fmt::format("{}:{}", file.string(), line_no);
  json j;
  try {
    j = json::parse(line);
  } catch (const json::parse_error& e) {
    throw InputError(fmt::format("{}: not a JSON object ({}); each line of results.jsonl is one design "
                                 "point's record as `ssmsim sweep` writes it",
                                 at, e.what()));
  }
  if (!j.is_object())
    throw InputError(fmt::format("{}: a JSON {} where one design point's record (an object) belongs", at,
                                 j.type_name()));
  DesignPoint p;
  p.source = at;
  const auto id = j.find("id");
  if (id == j.end() || !id->is_string() || id->get<std::string>().empty())
    throw InputError(fmt::format("{}: the record has no \"id\" string; the report merges shards by it", at));
  p.id = id->get<std::string>();
  p.accuracy = required_number(j, "accuracy", at);
  p.energy_nj_per_token = required_number(j, "energy_nj_per_token", at);
  p.latency_us_per_token = required_number(j, "latency_us_per_token", at);
  p.memory_bits = required_number(j, "memory_bits", at);

  if (const auto it = j.find("index"); it != j.end() && it->is_number_integer()) p.index = it->get<long long>();
  if (const auto it = j.find("point"); it != j.end() && it->is_object()) {
    p.precision = optional_string(*it, "precision");
    p.hw = optional_string(*it, "hw");
    p.method = optional_string(*it, "method");
  }
  p.label = optional_string(j, "label");
  if (p.label.empty()) {
    for (const std::string* part : {&p.precision, &p.hw, &p.method})
      if (!part->empty()) p.label += (p.label.empty() ? "" : " / ") + *part;
    if (p.label.empty()) p.label = p.id;
  }
  if (const auto it = j.find("bit_exact"); it != j.end() && it->is_boolean()) p.bit_exact = it->get<bool>();
  p.footprint_reduction = optional_number(j, "footprint_reduction");
  p.area_mm2 = optional_number(j, "area_mm2");
  p.cycles_per_token = optional_number(j, "cycles_per_token");
  p.tokens_per_s = optional_number(j, "tokens_per_s");
  p.seconds = optional_number(j, "seconds");
  p.record = std::move(j);
  return p;
}

// The results.jsonl files of one --in folder: its own, then its subfolders' by name.
std::vector<fs::path> result_files(const fs::path& folder) {
  std::error_code ec;
  if (!fs::is_directory(folder, ec))
    throw InputError(fmt::format("--in '{}': no such folder (give the folder `ssmsim sweep --out-dir D` "
                                 "wrote)",
                                 folder.string()));
  std::vector<fs::path> files;
  if (fs::is_regular_file(folder / "results.jsonl", ec)) files.push_back(folder / "results.jsonl");
  std::vector<fs::path> subs;
  fs::directory_iterator it(folder, ec), end;
  if (ec) throw InputError(fmt::format("--in '{}': cannot list the folder: {}", folder.string(), ec.message()));
  for (; it != end; it.increment(ec)) {
    if (ec) throw InputError(fmt::format("--in '{}': cannot list the folder: {}", folder.string(), ec.message()));
    std::error_code dec;
    if (it->is_directory(dec)) subs.push_back(it->path());
  }
  std::sort(subs.begin(), subs.end());
  for (const auto& s : subs)
    if (fs::is_regular_file(s / "results.jsonl", ec)) files.push_back(s / "results.jsonl");
  if (files.empty())
    throw InputError(fmt::format("--in '{}': no results.jsonl in the folder or its subfolders; "
                                 "`ssmsim sweep --spec S.yaml --out-dir D` makes one",
                                 folder.string()));
  return files;
}

// ---------------------------------------------------------------------------------------------
// Text

// Escapes text and attribute values for HTML: & < > " and '.
std::string esc(const std::string& s) {
  std::string r;
  r.reserve(s.size());
  for (const char c : s) {
    switch (c) {
      case '&': r += "&amp;"; break;
      case '<': r += "&lt;"; break;
      case '>': r += "&gt;"; break;
      case '"': r += "&quot;"; break;
      case '\'': r += "&#39;"; break;
      default: r += c;
    }
  }
  return r;
}

// A Markdown table cell: no pipes, no line breaks.
std::string md_cell(const std::string& s) {
  std::string r;
  for (const char c : s) {
    if (c == '|') r += "\\|";
    else if (c == '\n' || c == '\r') r += ' ';
    else r += c;
  }
  return r;
}

// At most `max` bytes of `s` (cut at a character boundary of UTF-8), "…" when cut.
std::string shorten(const std::string& s, size_t max) {
  if (s.size() <= max) return s;
  size_t n = max - 1;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n) + "…";
}

// An HTML id / anchor from a point id: characters other than [A-Za-z0-9_-] become '_'.
std::string anchor(const std::string& id) {
  std::string r = "pt-";
  for (const char c : id) r += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') ? c : '_';
  return r;
}

// About four significant digits without an exponent: 12.78, 0.004100, 12346.
std::string sig4(double v) {
  if (v == 0 || !std::isfinite(v)) return fmt::format("{}", v);
  const int mag = static_cast<int>(std::floor(std::log10(std::fabs(v))));
  const int decimals = std::clamp(3 - mag, 0, 12);
  return fmt::format("{:.{}f}", v, decimals);
}

std::string pct(double fraction) { return fmt::format("{:.2f}", 100.0 * fraction); }
std::string bits(double v) { return fmt::format("{:.0f}", v); }
std::string coord(double v) { return fmt::format("{:.2f}", v); }
// A raw value for a data attribute: round-trips the double.
std::string raw(double v) { return fmt::format("{}", v); }

// An axis tick label: 20k, 1.5M, 0.25, 300.
std::string tick_label(double v) {
  const double a = std::fabs(v);
  if (a >= 1e9) return fmt::format("{:g}G", v / 1e9);
  if (a >= 1e6) return fmt::format("{:g}M", v / 1e6);
  if (a >= 1e4) return fmt::format("{:g}k", v / 1e3);
  return fmt::format("{:g}", v);
}

std::string dash_or(const std::optional<double>& v, std::string (*f)(double)) { return v ? f(*v) : "—"; }

// ---------------------------------------------------------------------------------------------
// Axes

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

// ---------------------------------------------------------------------------------------------
// Scatter plots

struct PlotSpec {
  const char* key;       // energy, memory, latency: data-plot and the element ids
  const char* title;
  const char* x_label;
  const char* x_unit;    // in the tooltip
  double DesignPoint::*x;
  const std::vector<size_t>* front;
};

constexpr double kW = 640, kH = 400, kX0 = 70, kX1 = 620, kY0 = 44, kY1 = 340;

std::string point_tooltip(const DesignPoint& p) {
  return fmt::format("{} ({})\naccuracy {}%\n{} nJ/token\n{} µs/token\n{} weight bits{}", p.label, p.id,
                     pct(p.accuracy), sig4(p.energy_nj_per_token), sig4(p.latency_us_per_token),
                     bits(p.memory_bits), p.bit_exact ? (*p.bit_exact ? "\nbit-exact" : "\nNOT bit-exact") : "");
}

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

// ---------------------------------------------------------------------------------------------
// Energy breakdown and memory per component of the front

const char* const kModules[] = {"cmac", "mve", "sfu", "weight_mem", "state_mem", "io_mem", "bus", "offchip"};

// The numeric entries of an object field of the record, in a fixed order: `first` names first (when
// present), then the rest in the record's order.
std::vector<std::pair<std::string, double>> numeric_entries(const json& record, const char* field) {
  std::vector<std::pair<std::string, double>> out;
  const auto it = record.find(field);
  if (it == record.end() || !it->is_object()) return out;
  for (auto e = it->begin(); e != it->end(); ++e)
    if (e->is_number() && std::isfinite(e->get<double>())) out.emplace_back(e.key(), e->get<double>());
  return out;
}

// Column order: the known names first in their order, then the others as they first appear.
std::vector<std::string> ordered_keys(const std::vector<std::vector<std::pair<std::string, double>>>& rows,
                                      const std::vector<std::string>& known) {
  std::vector<std::string> keys;
  std::set<std::string> seen;
  for (const auto& k : known)
    for (const auto& row : rows)
      if (std::any_of(row.begin(), row.end(), [&](const auto& e) { return e.first == k; }) && seen.insert(k).second)
        keys.push_back(k);
  for (const auto& row : rows)
    for (const auto& e : row)
      if (seen.insert(e.first).second) keys.push_back(e.first);
  return keys;
}

void energy_bars(std::string& h, const SweepResults& r, const std::vector<size_t>& front) {
  std::vector<std::vector<std::pair<std::string, double>>> rows;
  for (const size_t i : front) rows.push_back(numeric_entries(r.points[i].record, "energy_breakdown_nj"));
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

void memory_table(std::string& h, const SweepResults& r, const std::vector<size_t>& front) {
  std::vector<std::vector<std::pair<std::string, double>>> rows;
  for (const size_t i : front) rows.push_back(numeric_entries(r.points[i].record, "memory_bits_by_component"));
  const auto comps = ordered_keys(rows, {});
  h += "<table class=\"memory\">\n<thead><tr><th class=\"t\">id</th><th class=\"t\">label</th>";
  for (const auto& c : comps) h += "<th>" + esc(c) + "</th>";
  h += "<th>weight bits</th><th>footprint reduction</th></tr></thead>\n<tbody>\n";
  for (size_t k = 0; k < front.size(); ++k) {
    const auto& p = r.points[front[k]];
    h += fmt::format("<tr><td class=\"t\"><code>{}</code></td><td class=\"t\">{}</td>", esc(p.id), esc(p.label));
    for (const auto& c : comps) {
      const auto e = std::find_if(rows[k].begin(), rows[k].end(), [&](const auto& kv) { return kv.first == c; });
      h += "<td>" + (e == rows[k].end() ? std::string("—") : bits(e->second)) + "</td>";
    }
    h += fmt::format("<td>{}</td><td>{}</td></tr>\n", bits(p.memory_bits),
                     p.footprint_reduction ? fmt::format("{:.2f}x", *p.footprint_reduction) : "—");
  }
  h += "</tbody>\n</table>\n";
  if (comps.empty()) h += "<p>The records hold no per-component memory (memory_bits_by_component).</p>\n";
}

// ---------------------------------------------------------------------------------------------
// The table of all points and the per-point details

void points_table(std::string& h, const SweepResults& r, const std::vector<bool>& on_energy_front) {
  struct Col {
    const char* head;
    bool num;
  };
  const Col cols[] = {{"id", false},          {"label", false},     {"precision", false}, {"hw", false},
                      {"method", false},      {"accuracy %", true}, {"bit_exact", false}, {"nJ/token", true},
                      {"µs/token", true},     {"memory bits", true}, {"footprint reduction", true},
                      {"area mm²", true},     {"on Pareto front (accuracy/energy)", false}};
  h += "<table id=\"points-table\" class=\"points\">\n<thead><tr>";
  for (const auto& c : cols)
    h += fmt::format("<th{} data-type=\"{}\">{}</th>", c.num ? "" : " class=\"t\"", c.num ? "num" : "str",
                     esc(c.head));
  h += "</tr></thead>\n<tbody>\n";
  const auto num_cell = [](const std::optional<double>& v, const std::string& shown) {
    return v ? fmt::format("<td data-v=\"{}\">{}</td>", raw(*v), shown) : std::string("<td data-v=\"\">—</td>");
  };
  for (size_t i = 0; i < r.points.size(); ++i) {
    const auto& p = r.points[i];
    h += fmt::format("<tr data-id=\"{}\"{}>", esc(p.id), on_energy_front[i] ? " class=\"on-front\"" : "");
    h += fmt::format("<td class=\"t\"><a href=\"#{}\"><code>{}</code></a></td>", anchor(p.id), esc(p.id));
    for (const std::string* s : {&p.label, &p.precision, &p.hw, &p.method})
      h += "<td class=\"t\">" + (s->empty() ? std::string("—") : esc(*s)) + "</td>";
    h += num_cell(p.accuracy, pct(p.accuracy));
    h += fmt::format("<td class=\"t\">{}</td>", p.bit_exact ? (*p.bit_exact ? "yes" : "<strong>NO</strong>") : "—");
    h += num_cell(p.energy_nj_per_token, sig4(p.energy_nj_per_token));
    h += num_cell(p.latency_us_per_token, sig4(p.latency_us_per_token));
    h += num_cell(p.memory_bits, bits(p.memory_bits));
    h += num_cell(p.footprint_reduction,
                  p.footprint_reduction ? fmt::format("{:.2f}", *p.footprint_reduction) : std::string());
    h += num_cell(p.area_mm2, p.area_mm2 ? sig4(*p.area_mm2) : std::string());
    h += fmt::format("<td class=\"t\">{}</td></tr>\n", on_energy_front[i] ? "y" : "n");
  }
  h += "</tbody>\n</table>\n";
}

std::string pretty(const json& j) { return j.dump(2, ' ', false, json::error_handler_t::replace); }

void point_details(std::string& h, const DesignPoint& p) {
  h += fmt::format("<details id=\"{}\">\n<summary><code>{}</code> {}: {}% accuracy, {} nJ/token</summary>\n",
                   anchor(p.id), esc(p.id), esc(p.label), pct(p.accuracy), sig4(p.energy_nj_per_token));
  h += fmt::format("<p>From <code>{}</code>{}{}.</p>\n", esc(p.source),
                   p.index ? fmt::format("; index {} of the sweep's expansion", *p.index) : "",
                   p.seconds ? fmt::format("; ran {:.1f} s", *p.seconds) : "");
  const auto cmds = p.record.find("commands");
  h += "<h4>Commands</h4>\n";
  if (cmds != p.record.end() && cmds->is_array() && !cmds->empty()) {
    h += "<pre>";
    for (const auto& c : *cmds) h += esc(c.is_string() ? c.get<std::string>() : pretty(c)) + "\n";
    h += "</pre>\n";
  } else {
    h += "<p>not recorded</p>\n";
  }
  for (const char* field : {"point", "precision_config", "hw_config"}) {
    h += fmt::format("<h4>{}</h4>\n", field);
    const auto it = p.record.find(field);
    if (it != p.record.end() && !it->is_null()) h += "<pre>" + esc(pretty(*it)) + "</pre>\n";
    else h += "<p>not recorded</p>\n";
  }
  h += "</details>\n";
}

const char* const kStyle = R"css(
body { font-family: system-ui, sans-serif; color: #222; max-width: 1100px; margin: 1.5em auto; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
figure { margin: 1em 0; } figcaption { font-size: 0.9em; color: #555; }
svg text { font-size: 12px; font-family: system-ui, sans-serif; fill: #222; }
table { border-collapse: collapse; font-size: 0.88em; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: right; vertical-align: top; }
th.t, td.t { text-align: left; }
th { background: #f2f2f2; }
th.sortable { cursor: pointer; }
th[aria-sort=ascending]::after { content: " \25B2"; }
th[aria-sort=descending]::after { content: " \25BC"; }
tr.on-front td { background: #fff7d6; }
pre { background: #f6f6f6; padding: 0.5em; overflow-x: auto; font-size: 0.85em; }
details { margin: 0.3em 0; } summary { cursor: pointer; }
)css";

// Sorts the table of all points by a clicked header. Written without the characters < > & so the
// page stays well-formed even to a strict XML reader; the table reads fine without it.
const char* const kScript = R"js(
(function () {
  var table = document.getElementById('points-table');
  if (!table) return;
  var heads = table.tHead.rows[0].cells;
  var body = table.tBodies[0];
  function value(row, col, numeric) {
    var cell = row.cells[col];
    var v = cell.getAttribute('data-v');
    if (v === null) v = cell.textContent;
    return numeric ? parseFloat(v) : v;
  }
  function sortBy(col) {
    var th = heads[col];
    var numeric = th.getAttribute('data-type') === 'num';
    var dir = th.getAttribute('aria-sort') === 'ascending' ? -1 : 1;
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = value(a, col, numeric), y = value(b, col, numeric);
      if (numeric) {
        var nx = isNaN(x), ny = isNaN(y);
        if (nx || ny) return (nx ? 1 : 0) - (ny ? 1 : 0);
        return dir * (x - y);
      }
      return dir * x.localeCompare(y);
    });
    rows.forEach(function (row) { body.appendChild(row); });
    Array.prototype.forEach.call(heads, function (h) { h.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', dir === 1 ? 'ascending' : 'descending');
  }
  Array.prototype.forEach.call(heads, function (th, col) {
    th.classList.add('sortable');
    th.tabIndex = 0;
    th.title = 'click to sort';
    th.addEventListener('click', function () { sortBy(col); });
    th.addEventListener('keydown', function (e) {
      if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); sortBy(col); }
    });
  });
})();
)js";

// The summary figures both outputs open with.
struct Summary {
  size_t bit_exact = 0, not_bit_exact = 0, unknown = 0;
  std::vector<std::string> not_exact_ids;
  size_t best = 0;  // highest accuracy, then lowest energy, then first
};

Summary summarize(const SweepResults& r) {
  Summary s;
  for (size_t i = 0; i < r.points.size(); ++i) {
    const auto& p = r.points[i];
    if (!p.bit_exact) ++s.unknown;
    else if (*p.bit_exact) ++s.bit_exact;
    else {
      ++s.not_bit_exact;
      s.not_exact_ids.push_back(p.id);
    }
    const auto& b = r.points[s.best];
    if (p.accuracy > b.accuracy || (p.accuracy == b.accuracy && p.energy_nj_per_token < b.energy_nj_per_token))
      s.best = i;
  }
  return s;
}

std::string bit_exact_text(const Summary& s, size_t n) {
  if (s.bit_exact == n) return fmt::format("yes, all {} points", n);
  std::string t;
  if (s.not_bit_exact)
    t = fmt::format("no: {} of {} points are not bit-exact ({})", s.not_bit_exact, n,
                    fmt::join(s.not_exact_ids, ", "));
  if (s.unknown) t += fmt::format("{}{} of {} points do not record it", t.empty() ? "unknown: " : "; ", s.unknown, n);
  return t;
}

std::string folder_list(const SweepResults& r) {
  std::vector<std::string> names;
  for (const auto& f : r.files) names.push_back(f.string());
  return fmt::format("{}", fmt::join(names, ", "));
}

}  // namespace

// ---------------------------------------------------------------------------------------------

SweepResults load_results(const std::vector<fs::path>& folders) {
  if (folders.empty()) throw InputError("no --in folder given: name the folder `ssmsim sweep --out-dir D` wrote");
  SweepResults r;
  std::unordered_set<std::string> seen_ids, seen_specs;
  const auto add_spec = [&](const fs::path& spec) {
    std::error_code ec;
    if (!fs::is_regular_file(spec, ec)) return;
    std::string text = read_text(spec);
    if (seen_specs.insert(text).second) r.specs.emplace_back(spec, std::move(text));
  };
  for (const auto& folder : folders) {
    const auto files = result_files(folder);
    // A sharded sweep writes the spec once, next to its shard-<i>-of-<n> folders: in the folder
    // given, or above it when a shard folder itself is given.
    add_spec(folder / "spec.yaml");
    if (folder.filename().string().rfind("shard-", 0) == 0) add_spec(folder.parent_path() / "spec.yaml");
    for (const auto& file : files) {
      r.files.push_back(file);
      add_spec(file.parent_path() / "spec.yaml");
      std::ifstream in(file, std::ios::binary);
      if (!in) throw InputError(fmt::format("cannot read '{}'", file.string()));
      std::string line;
      for (size_t line_no = 1; std::getline(in, line); ++line_no) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.find_first_not_of(" \t") == std::string::npos) continue;
        DesignPoint p;
        try {
          p = parse_point(line, file, line_no);
        } catch (const InputError& e) {
          // A sweep killed mid-write leaves its last line cut (no newline); say how to repair it.
          if (!in.eof()) throw;
          throw InputError(std::string(e.what()) + "; it is the file's last line and has no newline: a sweep "
                           "interrupted while writing it leaves that, and `ssmsim sweep --resume` with the same "
                           "spec and --out-dir drops the cut line and runs its point again");
        }
        if (!seen_ids.insert(p.id).second) {
          ++r.duplicates;
          continue;
        }
        r.points.push_back(std::move(p));
      }
    }
  }
  if (r.points.empty())
    throw InputError(fmt::format("no design points in {}: the sweep has not finished a point yet", folder_list(r)));
  std::stable_sort(r.points.begin(), r.points.end(), [](const DesignPoint& a, const DesignPoint& b) {
    if (a.index.has_value() != b.index.has_value()) return a.index.has_value();
    return a.index && *a.index < *b.index;
  });
  return r;
}

Fronts pareto_fronts(const SweepResults& r) {
  std::vector<double> acc, energy, memory, latency;
  for (const auto& p : r.points) {
    acc.push_back(p.accuracy);
    energy.push_back(p.energy_nj_per_token);
    memory.push_back(p.memory_bits);
    latency.push_back(p.latency_us_per_token);
  }
  return Fronts{pareto_front(energy, acc), pareto_front(memory, acc), pareto_front(latency, acc)};
}

std::string render_html(const SweepResults& r) {
  const Fronts fronts = pareto_fronts(r);
  const Summary sum = summarize(r);
  const size_t n = r.points.size();
  std::vector<bool> on_energy_front(n, false);
  for (const size_t i : fronts.energy) on_energy_front[i] = true;
  const auto& best = r.points[sum.best];

  std::string h;
  h += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
       "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n"
       "<title>ssmsim design-space report</title>\n<style>";
  h += kStyle;
  h += "</style>\n</head>\n<body>\n<h1>Design-space report</h1>\n";
  h += fmt::format("<p>{} design points from <code>{}</code>{}.</p>\n<ul>\n", n, esc(folder_list(r)),
                   r.duplicates ? fmt::format(" ({} duplicate record{} of the same id merged)", r.duplicates,
                                              r.duplicates == 1 ? "" : "s")
                                : "");
  h += fmt::format("<li>Bit-exact against the C-model: {}.</li>\n", esc(bit_exact_text(sum, n)));
  h += fmt::format("<li>Best accuracy: {}% — {} (<a href=\"#{}\"><code>{}</code></a>), {} nJ/token.</li>\n",
                   pct(best.accuracy), esc(best.label), anchor(best.id), esc(best.id),
                   sig4(best.energy_nj_per_token));
  h += fmt::format("<li>Pareto fronts of accuracy against energy: {} point{}, memory: {}, latency: {}.</li>\n</ul>\n",
                   fronts.energy.size(), fronts.energy.size() == 1 ? "" : "s", fronts.memory.size(),
                   fronts.latency.size());
  h += "<nav><p>Contents: <a href=\"#plots\">accuracy against cost</a> · <a href=\"#energy\">energy by "
       "module</a> · <a href=\"#memory\">memory by component</a> · <a href=\"#points\">all points</a> · "
       "<a href=\"#details\">configs and commands</a>";
  if (!r.specs.empty()) h += " · <a href=\"#spec\">sweep spec</a>";
  h += "</p></nav>\n";

  h += "<section id=\"plots\">\n<h2>Accuracy against cost</h2>\n<p>Each circle is a design point (hover for its "
       "figures); its colour is the quantization method. A point is on the Pareto front when no other point "
       "costs less or the same and is at least as accurate, one of the two strictly; the dashed line joins the "
       "front, cheapest first. Everything below and to the right of it is beaten by a front point.</p>\n";
  const PlotSpec plots[] = {
      {"energy", "Accuracy against energy per token", "energy per token (nJ)", "nJ/token",
       &DesignPoint::energy_nj_per_token, &fronts.energy},
      {"memory", "Accuracy against memory footprint", "weight memory footprint (bits)", "bits",
       &DesignPoint::memory_bits, &fronts.memory},
      {"latency", "Accuracy against latency per token", "latency per token (µs)", "µs/token",
       &DesignPoint::latency_us_per_token, &fronts.latency},
  };
  for (const auto& s : plots) scatter(h, r, s);
  h += "</section>\n";

  h += "<section id=\"energy\">\n<h2>Energy per token by module: the accuracy/energy front</h2>\n<p>Dynamic "
       "energy plus each module's leakage, per token (energy_breakdown_nj), for the points on the "
       "accuracy/energy Pareto front, cheapest first.</p>\n";
  energy_bars(h, r, fronts.energy);
  h += "</section>\n";

  h += "<section id=\"memory\">\n<h2>Memory footprint by component: the accuracy/energy front</h2>\n<p>Bits "
       "stored per model component (memory_bits_by_component); footprint reduction is float32 bytes over "
       "stored bytes.</p>\n";
  memory_table(h, r, fronts.energy);
  h += "</section>\n";

  h += "<section id=\"points\">\n<h2>All design points</h2>\n<p>In the sweep's order; click a header to sort "
       "(again to reverse). Rows on the accuracy/energy front are shaded.</p>\n";
  points_table(h, r, on_energy_front);
  h += "</section>\n";

  h += "<section id=\"details\">\n<h2>Configs and commands per point</h2>\n<p>The resolved precision and "
       "hardware configs and the exact commands that reproduce each point.</p>\n";
  for (const auto& p : r.points) point_details(h, p);
  h += "</section>\n";

  if (!r.specs.empty()) {
    h += "<section id=\"spec\">\n<h2>Sweep spec</h2>\n";
    for (const auto& [path, text] : r.specs)
      h += fmt::format("<p><code>{}</code></p>\n<pre>{}</pre>\n", esc(path.string()), esc(text));
    h += "</section>\n";
  }
  h += "<script>";
  h += kScript;
  h += "</script>\n</body>\n</html>\n";
  return h;
}

std::string render_markdown(const SweepResults& r, const std::string& html_link) {
  const Fronts fronts = pareto_fronts(r);
  const Summary sum = summarize(r);
  const size_t n = r.points.size();
  const auto& best = r.points[sum.best];
  std::string m;
  m += "# Design-space report\n\n";
  m += fmt::format("{} design points from {}{}. Plots, every point's configs and commands: [{}]({}).\n\n", n,
                   folder_list(r),
                   r.duplicates ? fmt::format(" ({} duplicate record{} merged)", r.duplicates,
                                              r.duplicates == 1 ? "" : "s")
                                : "",
                   html_link, html_link);
  m += fmt::format("- bit-exact against the C-model: {}\n", bit_exact_text(sum, n));
  m += fmt::format("- best accuracy: {}% — {} (`{}`), {} nJ/token\n", pct(best.accuracy), best.label, best.id,
                   sig4(best.energy_nj_per_token));
  m += fmt::format("- Pareto fronts of accuracy against energy: {} point{}, memory: {}, latency: {}\n\n",
                   fronts.energy.size(), fronts.energy.size() == 1 ? "" : "s", fronts.memory.size(),
                   fronts.latency.size());
  m += "## Pareto front: accuracy against energy per token\n\n"
       "No other point costs less or the same energy and is at least as accurate (one of the two strictly). "
       "Cheapest first.\n\n";
  m += "| id | label | accuracy % | nJ/token | µs/token | weight bits | footprint reduction | area mm² | bit-exact |\n"
       "|---|---|---:|---:|---:|---:|---:|---:|---|\n";
  for (const size_t i : fronts.energy) {
    const auto& p = r.points[i];
    m += fmt::format("| `{}` | {} | {} | {} | {} | {} | {} | {} | {} |\n", md_cell(p.id), md_cell(p.label),
                     pct(p.accuracy), sig4(p.energy_nj_per_token), sig4(p.latency_us_per_token), bits(p.memory_bits),
                     p.footprint_reduction ? fmt::format("{:.2f}x", *p.footprint_reduction) : "—",
                     dash_or(p.area_mm2, sig4), p.bit_exact ? (*p.bit_exact ? "yes" : "**no**") : "—");
  }
  return m;
}

ReportFiles write_report(const SweepResults& r, const fs::path& prefix) {
  fs::path base = prefix;
  if (base.extension() == ".html" || base.extension() == ".md") base.replace_extension();
  ReportFiles out;
  out.html = fs::path(base.string() + ".html");
  out.markdown = fs::path(base.string() + ".md");
  std::string link;
  for (const char c : out.html.filename().string()) link += c == ' ' ? std::string("%20") : std::string(1, c);
  const std::string html = render_html(r);
  const std::string md = render_markdown(r, link);
  write_text_atomic(out.html, html);
  write_text_atomic(out.markdown, md);
  out.points = r.points.size();
  out.energy_front = pareto_fronts(r).energy.size();
  return out;
}

}  // namespace ssmsim::reports
