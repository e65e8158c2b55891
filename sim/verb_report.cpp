// `ssmsim report`: the HTML page and Markdown summary of one or more sweep folders (reports/report.hpp
// does the work; this file maps options onto it and prints one line).
#include <fmt/format.h>

#include <filesystem>
#include <string>
#include <vector>

#include "reports/report.hpp"
#include "sim/verbs.hpp"

namespace ssmsim::sim {

int run_report(const Invocation& inv) {
  namespace fs = std::filesystem;
  std::vector<fs::path> folders;
  for (const auto& d : inv.options["in"].as<std::vector<std::string>>()) folders.emplace_back(d);
  const reports::SweepResults results = reports::load_results(folders);
  // The default prefix sits in the first folder: D/report.html and D/report.md.
  const fs::path prefix =
      inv.options.count("out") ? fs::path(inv.options["out"].as<std::string>()) : folders.front() / "report";
  const reports::ReportFiles files = reports::write_report(results, prefix);
  inv.out << fmt::format("report: {} points ({} on the accuracy/energy Pareto front) -> {}, {}\n", files.points,
                         files.energy_front, files.html.string(), files.markdown.string());
  if (results.duplicates)
    inv.out << fmt::format("  {} duplicate record{} (same id) merged: the first of each id is kept\n",
                           results.duplicates, results.duplicates == 1 ? "" : "s");
  return 0;
}

}  // namespace ssmsim::sim
