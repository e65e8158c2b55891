#include "reports/report_load.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <system_error>
#include <unordered_set>

#include "quant/errors.hpp"

namespace ssmsim::reports {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The numbers every design point needs (the report's axes).
using Figure = std::optional<double> ResultRecord::*;
const Figure kRequired[] = {&ResultRecord::accuracy, &ResultRecord::energy_nj_per_token,
                            &ResultRecord::latency_us_per_token};

// "accuracy, energy_nj_per_token, latency_us_per_token and memory_bits"
std::string required_list() {
  std::string s;
  for (const Figure f : kRequired) s += (s.empty() ? "" : ", ") + std::string(record_key(f));
  return s + " and " + record_key(&ResultRecord::memory_bits);
}

double required_number(const json& j, const char* key, const std::string& at) {
  const auto it = j.find(key);
  if (it == j.end())
    throw InputError(fmt::format("{}: the record has no \"{}\"; every design point needs {} as numbers "
                                 "(the fields `ssmsim sweep` writes, docs/reports.md)",
                                 at, key, required_list()));
  if (!it->is_number())
    throw InputError(fmt::format("{}: \"{}\" is {}, not a number; every design point needs {} as numbers",
                                 at, key, it->dump(-1, ' ', false, json::error_handler_t::replace), required_list()));
  const double v = it->get<double>();
  if (!std::isfinite(v)) throw InputError(fmt::format("{}: \"{}\" is not a finite number", at, key));
  return v;
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
  } catch (const json::exception& e) {  // a syntax error, or a number no double holds (out_of_range)
    throw InputError(fmt::format("{}: not a JSON object ({}); each line of results.jsonl is one design "
                                 "point's record as `ssmsim sweep` writes it",
                                 at, e.what()));
  }
  if (!j.is_object())
    throw InputError(fmt::format("{}: a JSON {} where one design point's record (an object) belongs", at,
                                 j.type_name()));
  DesignPoint p;
  p.source = at;
  p.record = record_from_json(j);
  const ResultRecord& rec = p.record;
  if (!rec.id || rec.id->empty())
    throw InputError(fmt::format("{}: the record has no \"{}\" string; the report merges shards by it", at,
                                 record_key(&ResultRecord::id)));
  p.id = *rec.id;
  p.accuracy = required_number(j, record_key(&ResultRecord::accuracy), at);
  p.energy_nj_per_token = required_number(j, record_key(&ResultRecord::energy_nj_per_token), at);
  p.latency_us_per_token = required_number(j, record_key(&ResultRecord::latency_us_per_token), at);
  p.memory_bits = required_number(j, record_key(&ResultRecord::memory_bits), at);

  if (rec.index) p.index = static_cast<long long>(*rec.index);
  if (rec.point) {
    p.precision = rec.point->precision.value_or("");
    p.hw = rec.point->hw.value_or("");
    p.method = rec.point->method.value_or("");
  }
  p.label = rec.label.value_or("");
  if (p.label.empty()) {
    for (const std::string* part : {&p.precision, &p.hw, &p.method})
      if (!part->empty()) p.label += (p.label.empty() ? "" : " / ") + *part;
    if (p.label.empty()) p.label = p.id;
  }
  p.bit_exact = rec.bit_exact;
  p.footprint_reduction = rec.footprint_reduction;
  p.area_mm2 = rec.area_mm2;
  p.cycles_per_token = rec.cycles_per_token;
  p.tokens_per_s = rec.tokens_per_s;
  p.seconds = rec.seconds;
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


}  // namespace

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

std::string folder_list(const SweepResults& r) {
  std::vector<std::string> names;
  for (const auto& f : r.files) names.push_back(f.string());
  return fmt::format("{}", fmt::join(names, ", "));
}

}  // namespace ssmsim::reports
