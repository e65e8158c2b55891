// `ssmsim sweep` (sim/sweep.hpp): reads and validates the spec before any work, then runs it.
#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "quant/errors.hpp"
#include "sim/sections.hpp"
#include "sim/sweep.hpp"
#include "sim/verbs.hpp"

namespace ssmsim::sim {

int run_sweep_verb(const Invocation& inv) {
  const auto& o = inv.options;
  SweepSpec spec = SweepSpec::load(o["spec"].as<std::string>());
  // eval.limit from the command line (--limit or --set eval.limit=N) wins over the spec's
  bool limit_given = o.count("limit") != 0;
  if (o.count("set"))
    for (const auto& s : o["set"].as<std::vector<std::string>>()) limit_given = limit_given || s.rfind("eval.limit=", 0) == 0;
  if (limit_given) spec.eval_limit = settings<EvalSettings>(inv.config).limit;
  SweepOptions so;
  so.out_dir = o["out-dir"].as<std::string>();
  so.jobs = o["jobs"].as<size_t>();  // in [1, 1024], checked by the CLI (sim/cli.cpp)
  so.resume = o["resume"].as<bool>();
  if (o.count("shard")) {
    const std::string s = o["shard"].as<std::string>();
    const auto slash = s.find('/');
    // digits only (std::stoul alone would read "-1" as a huge count and "1x" as 1)
    auto count = [](const std::string& t, size_t& into) {
      if (t.empty() || t.size() > 9 || t.find_first_not_of("0123456789") != std::string::npos) return false;
      into = std::stoul(t);
      return true;
    };
    if (slash == std::string::npos || !count(s.substr(0, slash), so.shard) || !count(s.substr(slash + 1), so.shards) ||
        so.shards == 0 || so.shard >= so.shards)
      throw InputError("sweep: --shard '" + s + "': expected i/n with 0 <= i < n, e.g. 0/4");
  }
  so.threads = settings<RunSettings>(inv.config).threads;
  so.binary = std::filesystem::read_symlink("/proc/self/exe");
  const bool tty = ::isatty(2);
  so.progress = [&](const std::string& line) { inv.err << (tty ? "\r" : "") << line << (tty ? "   " : "\n") << std::flush; };
  const auto points = expand(spec);
  inv.err << fmt::format("sweep '{}': {} points ({} precision x {} hardware x {} method){}\n", spec.name, points.size(),
                         spec.precisions.size(), spec.hws.size(), spec.methods.size(),
                         so.shards > 1 ? fmt::format(", shard {} of {}", so.shard, so.shards) : "");
  const SweepSummary s = run_sweep(spec, so);
  if (tty) inv.err << "\n";
  inv.out << fmt::format("sweep '{}': {} points done ({} run now, {} from before) -> {}\n", spec.name, s.total, s.run,
                         s.resumed, (s.results / "results.jsonl").string());
  inv.out << fmt::format("report: ssmsim report --in {}\n", so.out_dir.string());
  return 0;
}

}  // namespace ssmsim::sim
