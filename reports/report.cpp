#include "reports/report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "reports/pareto.hpp"
#include "reports/record.hpp"
#include "reports/report_format.hpp"
#include "reports/report_plots.hpp"

namespace ssmsim::reports {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// ---------------------------------------------------------------------------------------------
// Memory per component of the front

void memory_table(std::string& h, const SweepResults& r, const std::vector<size_t>& front) {
  std::vector<Entries> rows;
  for (const size_t i : front) rows.push_back(entries(r.points[i].record.memory_bits_by_component));
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
  const auto& cmds = p.record.commands;
  h += "<h4>Commands</h4>\n";
  if (cmds && !cmds->empty()) {
    h += "<pre>";
    for (const auto& c : *cmds) h += esc(c) + "\n";
    h += "</pre>\n";
  } else {
    h += "<p>not recorded</p>\n";
  }
  const std::pair<const char*, std::optional<json>> configs[] = {
      {record_key(&ResultRecord::point), p.record.point ? std::optional<json>(to_json(*p.record.point)) : std::nullopt},
      {record_key(&ResultRecord::precision_config), p.record.precision_config},
      {record_key(&ResultRecord::hw_config), p.record.hw_config}};
  for (const auto& [field, value] : configs) {
    h += fmt::format("<h4>{}</h4>\n", field);
    if (value) h += "<pre>" + esc(pretty(*value)) + "</pre>\n";
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


}  // namespace

// ---------------------------------------------------------------------------------------------

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
  write_texts_atomic({{out.html, html}, {out.markdown, md}});  // both or neither
  out.points = r.points.size();
  out.energy_front = pareto_fronts(r).energy.size();
  return out;
}

}  // namespace ssmsim::reports
