// Design-space reports (`ssmsim report`): the records a sweep writes (results.jsonl, one JSON
// object per design point), merged across folders and shards, rendered as one self-contained HTML
// page (hand-written inline SVG plots, a sortable table, every point's configs and commands; no
// network) and a Markdown summary. The input format and how to read the page: docs/reports.md.
#pragma once

#include <cstddef>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ssmsim::reports {

// One design point: the figures the report plots and tabulates, and the whole record for the
// per-point details (breakdowns, resolved configs, commands). Optional figures are nullopt when the
// record lacks them (or holds null or a value of another type there).
struct DesignPoint {
  std::string id;                   // required: the merge key
  std::optional<long long> index;   // position in the sweep's expansion order
  std::string label;                // the record's label, else built from precision/hw/method
  std::string precision, hw, method;
  double accuracy = 0;              // required, a fraction
  double energy_nj_per_token = 0;   // required
  double latency_us_per_token = 0;  // required
  double memory_bits = 0;           // required: weight bits stored
  std::optional<bool> bit_exact;
  std::optional<double> footprint_reduction, area_mm2, cycles_per_token, tokens_per_s, seconds;
  nlohmann::json record;            // the line as read
  std::string source;               // "FILE:LINE" it came from
};

struct SweepResults {
  std::vector<DesignPoint> points;  // by index ascending, points without one last; ties in reading order
  std::vector<std::filesystem::path> files;  // the results.jsonl files read, in reading order
  // spec.yaml texts found next to them (D/spec.yaml, D/*/spec.yaml, and D/../spec.yaml when D is a
  // shard-<i>-of-<n> folder), an identical text only once
  std::vector<std::pair<std::filesystem::path, std::string>> specs;
  size_t duplicates = 0;            // records skipped because an earlier record had the same id
};

// Reads every folder's results.jsonl and its subfolders' (the shards a sharded sweep leaves:
// D/results.jsonl, then D/*/results.jsonl by subfolder name), folders in the order given, and merges
// them by id: the first record of an id is the point, later ones are counted in `duplicates`.
// Blank lines are skipped. Throws InputError naming FILE:LINE for a line that is not a JSON object,
// lacks "id", or lacks one of the numbers accuracy, energy_nj_per_token, latency_us_per_token,
// memory_bits; naming the folder when it does not exist or holds no results.jsonl anywhere; and
// when no folder holds any design point.
SweepResults load_results(const std::vector<std::filesystem::path>& folders);

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
