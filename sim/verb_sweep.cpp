// `ssmsim sweep` (sim/sweep.hpp): reads and validates the spec before any work, then runs it.
#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "quant/errors.hpp"
#include "sim/sections.hpp"
#include "sim/sweep.hpp"
#include "sim/sweep_cluster.hpp"
#include "sim/verbs.hpp"

namespace ssmsim::sim {

namespace {

int run_status(const Invocation& inv, const std::filesystem::path& dir) {
  const auto states = sweep_status(dir);
  std::map<std::string, size_t> count;
  for (const auto& s : states) {
    ++count[s.state];
    inv.out << fmt::format("{:>4}  {}  {:<8} {}{}\n", s.index, s.id, s.state, s.label,
                           s.where.empty() ? "" : "  (" + s.where + ")");
  }
  inv.out << fmt::format("sweep in {}: {} points: {} done, {} running, {} failed, {} waiting\n", dir.string(),
                         states.size(), count["done"], count["running"], count["failed"], count["waiting"]);
  return 0;
}

// The options every Slurm task passes on to its `sweep --shard`: those that change what a point computes.
std::vector<std::string> forwarded(const Invocation& inv) {
  const auto& o = inv.options;
  std::vector<std::string> f;
  if (o.count("limit")) f.insert(f.end(), {"--limit", o["limit"].as<std::string>()});
  if (o.count("set"))
    for (const auto& s : o["set"].as<std::vector<std::string>>()) f.insert(f.end(), {"--set", s});
  return f;
}

int run_slurm(const Invocation& inv, const SweepSpec& spec, const std::filesystem::path& spec_path,
              const std::filesystem::path& out_dir) {
  const auto& o = inv.options;
  if (o.count("shard") || o["resume"].as<bool>())
    throw InputError("sweep --slurm: --shard and --resume are what each array task passes itself; leave them out");
  SlurmOptions so;
  if (o.count("slurm-tasks")) so.tasks = o["slurm-tasks"].as<size_t>();
  so.cpus_per_task = o["cpus-per-task"].as<size_t>();
  if (o.count("partition")) so.partition = o["partition"].as<std::string>();
  if (o.count("time")) so.time = o["time"].as<std::string>();
  if (o.count("sbatch-arg")) so.sbatch_args = o["sbatch-arg"].as<std::vector<std::string>>();
  for (const auto* v : {&so.partition, &so.time})
    if (v->find_first_of("\n\r") != std::string::npos) throw InputError("sweep --slurm: a value holds a line break");
  for (const auto& a : so.sbatch_args)
    if (a.rfind("--", 0) != 0 || a.find_first_of("\n\r") != std::string::npos)
      throw InputError("sweep --slurm: --sbatch-arg '" + a + "': expected one sbatch flag, e.g. --account=ml");
  so.forward = forwarded(inv);
  const auto points = expand(spec);
  const size_t tasks = slurm_tasks(so, points.size());
  const auto bin = std::filesystem::read_symlink("/proc/self/exe");
  const std::string script = slurm_script(bin, spec_path, out_dir, spec.name, tasks, so);
  if (o["dry-run"].as<bool>()) {
    inv.out << script;
    return 0;
  }
  // a resubmission keeps the shard count: with another, finished points would sit in other shard
  // folders than the tasks read, and run again
  if (const size_t before = submitted_shards(out_dir); before && before != tasks)
    throw InputError(fmt::format("sweep --slurm: {} was submitted as {} tasks; resubmit with --slurm-tasks {} (another "
                                 "count would run finished points again)",
                                 out_dir.string(), before, before));
  std::filesystem::create_directories(out_dir);
  write_points(out_dir, points, tasks);
  const std::string job = submit_slurm(out_dir, script);
  inv.out << fmt::format("sweep '{}': {} points as Slurm job array {} ({} tasks) -> {}\n", spec.name, points.size(), job,
                         tasks, out_dir.string());
  inv.out << fmt::format("status: ssmsim sweep --status {}\nreport: ssmsim report --in {}\n", out_dir.string(),
                         out_dir.string());
  return 0;
}

}  // namespace

int run_sweep_verb(const Invocation& inv) {
  const auto& o = inv.options;
  if (o.count("status")) {
    if (o.count("spec") || o["slurm"].as<bool>())
      throw InputError("sweep --status D reads the sweep's folder only; give it alone");
    return run_status(inv, o["status"].as<std::string>());
  }
  for (const char* r : {"spec", "out-dir"})
    if (!o.count(r)) throw InputError(std::string("sweep: the option '--") + r + "' is required (or --status D)");
  SweepSpec spec = SweepSpec::load(o["spec"].as<std::string>());
  // eval.limit from the command line (--limit or --set eval.limit=N) wins over the spec's
  bool limit_given = o.count("limit") != 0;
  if (o.count("set"))
    for (const auto& s : o["set"].as<std::vector<std::string>>()) limit_given = limit_given || s.rfind("eval.limit=", 0) == 0;
  if (limit_given) spec.eval_limit = settings<EvalSettings>(inv.config).limit;
  if (o["slurm"].as<bool>()) return run_slurm(inv, spec, o["spec"].as<std::string>(), o["out-dir"].as<std::string>());
  for (const char* k : {"slurm-tasks", "partition", "time", "sbatch-arg"})
    if (o.count(k)) throw InputError(std::string("sweep: --") + k + " applies to --slurm only");
  if (o["dry-run"].as<bool>()) throw InputError("sweep: --dry-run applies to --slurm only");
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
