// The records `ssmsim report` reads: each folder's results.jsonl (and its shard subfolders'),
// one design point per line (a ResultRecord, reports/result_record.hpp), merged by id, with the
// sweep specs found beside them. The input format: docs/reports.md.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "reports/result_record.hpp"

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
  ResultRecord record;              // the line as read (leniently, record_from_json)
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

// The results.jsonl files read, comma-separated (the page and the summary name their sources).
std::string folder_list(const SweepResults& results);

}  // namespace ssmsim::reports
