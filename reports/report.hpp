// Design-space reports (`ssmsim report`): the design points of one or more sweeps
// (reports/report_load.hpp) rendered as one self-contained HTML page (the plots of
// reports/report_plots.hpp, a sortable table, every point's configs and commands; no network) and
// a Markdown summary. The input format and how to read the page: docs/reports.md.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "reports/report_load.hpp"

namespace ssmsim::reports {

// The indices (into results.points) of the Pareto front of accuracy against each cost, in the
// order pareto_front() gives (cost ascending).
struct Fronts {
  std::vector<size_t> energy, memory, latency;
};
Fronts pareto_fronts(const SweepResults& results);

// The HTML page and the Markdown summary; `html_link` is the page's address from the summary
// (its file name when both sit in one folder). Deterministic: the same records give the same bytes.
std::string render_html(const SweepResults& results);
std::string render_markdown(const SweepResults& results, const std::string& html_link);

struct ReportFiles {
  std::filesystem::path html, markdown;
  size_t points = 0;
  size_t energy_front = 0;  // points on the accuracy/energy front
};

// Writes PREFIX.html and PREFIX.md, each atomically (write_text_atomic). A prefix that already
// ends in .html or .md loses that extension first, so `--out r.html` writes r.html and r.md.
ReportFiles write_report(const SweepResults& results, const std::filesystem::path& prefix);

}  // namespace ssmsim::reports
