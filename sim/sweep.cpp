// `ssmsim sweep`'s run (sim/sweep.hpp): points as child processes of this binary, results appended
// whole as they finish, resume and shards. The spec and its points: sim/sweep_spec.cpp.
#include "sim/sweep.hpp"
#include "sim/sweep_cluster.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <nlohmann/json.hpp>
#include <set>
#include <cstring>
#include <thread>

#include "quant/errors.hpp"
#include "reports/record.hpp"
#include "reports/result_record.hpp"
#include "ssm_core/ranks.hpp"

extern char** environ;

namespace ssmsim::sim {

namespace fs = std::filesystem;

namespace {

std::string quote(const std::string& a) {
  return a.find_first_of(" \t'\"\\$") == std::string::npos ? a : shell_quoted(a);
}

std::string command_line(const std::vector<std::string>& args) {
  std::string s = "ssmsim";
  for (size_t i = 1; i < args.size(); ++i) s += " " + quote(args[i]);
  return s;
}

nlohmann::json read_json(const fs::path& p) {
  std::ifstream f(p);
  return nlohmann::json::parse(f);
}

std::string host_name() {
  char name[256] = {};
  return ::gethostname(name, sizeof name - 1) == 0 ? std::string(name) : std::string("unknown");
}

// "JOB_TASK" of a Slurm array task ("JOB" for a plain job); none outside Slurm.
std::optional<std::string> slurm_task_id() {
  const char* array_job = std::getenv("SLURM_ARRAY_JOB_ID");
  const char* task = std::getenv("SLURM_ARRAY_TASK_ID");
  if (array_job && task) return std::string(array_job) + "_" + task;
  if (const char* job = std::getenv("SLURM_JOB_ID")) return std::string(job);
  return std::nullopt;
}

// Appends one whole line with one write(2) on an O_APPEND descriptor, then syncs it.
void append_line(const fs::path& p, const std::string& line) {
  const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) throw InputError("sweep: cannot write " + p.string() + ": " + std::strerror(errno));
  const std::string s = line + "\n";
  const ssize_t n = ::write(fd, s.data(), s.size());
  ::fsync(fd);
  ::close(fd);
  if (n != static_cast<ssize_t>(s.size())) throw RunError("sweep: short write to " + p.string());
}

// The command that makes a point's model (quantize for PTQ, qat for QAT) into `model`; empty for a
// model given as it is.
std::vector<std::string> model_command(const SweepSpec& spec, const SweepPoint& p, const fs::path& model,
                                       const std::string& bin, const std::string& threads) {
  if (!p.precision->model.empty()) return {};
  std::vector<std::string> cmd;
  if (p.method == "ptq") {
    cmd = {bin, "quantize", "--ckpt", spec.checkpoint.string(), "--precision", p.precision->file.string(),
           "--workload", spec.workload, "--calib", std::to_string(spec.calib), "--threads", threads};
  } else {
    cmd = {bin, "qat", "--ckpt", spec.checkpoint.string(), "--precision", p.precision->file.string(),
           "--workload", spec.workload, "--epochs", std::to_string(spec.qat_epochs), "--calib",
           std::to_string(spec.calib), "--threads", threads};
    for (const auto& [key, v] : spec.qat_set) cmd.insert(cmd.end(), {"--set", key + "=" + v});
    if (spec.qat_train_size) cmd.insert(cmd.end(), {"--set", "data.train_size=" + std::to_string(spec.qat_train_size)});
    if (spec.qat_val_size) cmd.insert(cmd.end(), {"--set", "data.val_size=" + std::to_string(spec.qat_val_size)});
    // its closing test accuracy on the point's subset (the eval step gives the record's)
    cmd.insert(cmd.end(), {"--set", "eval.limit=" + std::to_string(spec.eval_limit)});
  }
  for (const auto& [c, b] : p.precision->overrides)
    cmd.insert(cmd.end(), {"--set", fmt::format("precision.components.{}.bits={}", c, b)});
  cmd.insert(cmd.end(), {"--out", model.string()});
  return cmd;
}

// An exclusive flock on DIR/.sweep.lock for the life of the sweep: a second sweep into the same
// results folder is refused instead of running every point again (the kernel drops the lock when
// the process dies, so a killed sweep never leaves a stale lock behind).
class DirLock {
 public:
  explicit DirLock(const fs::path& dir) {
    const fs::path p = dir / ".sweep.lock";
    fd_ = ::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw InputError("sweep: cannot create the lock " + p.string() + ": " + std::strerror(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd_);
      throw InputError("sweep: another sweep is running into " + dir.string() +
                       " (it holds " + p.string() + "); wait for it, or give another --out-dir");
    }
  }
  ~DirLock() { ::close(fd_); }
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

 private:
  int fd_ = -1;
};

// Creates `p` and its parents; a path in the way that is not a folder is an InputError naming it.
void make_dir(const fs::path& p, const std::string& what) {
  std::error_code ec;
  for (fs::path q = p; !q.empty(); q = q.parent_path()) {
    if (fs::exists(q, ec) && !fs::is_directory(q, ec))
      throw InputError("sweep: " + what + " '" + p.string() + "': " + q.string() + " exists and is not a folder");
    if (q == q.parent_path()) break;
  }
  fs::create_directories(p, ec);
  if (ec) throw InputError("sweep: cannot create " + what + " '" + p.string() + "': " + ec.message());
}

// The records of a results.jsonl being resumed (each a JSON object with a non-empty "id" string),
// the first of each id kept. A last line without its newline that does not read is the line a kill cut
// while it was written: dropped, its point runs again. Any other bad line is an InputError naming
// FILE:LINE (a hand edit; the sweep does not guess what was meant).
std::vector<std::pair<reports::ResultRecord, std::string>> read_done(const fs::path& jsonl) {
  std::ifstream f(jsonl, std::ios::binary);
  if (!f) throw InputError("sweep: cannot read " + jsonl.string());
  const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<std::pair<reports::ResultRecord, std::string>> kept;  // the record and its line
  std::set<std::string> ids;
  size_t line_no = 0;
  for (size_t at = 0; at < text.size();) {
    const size_t nl = text.find('\n', at);
    const bool cut = nl == std::string::npos;
    const std::string line = text.substr(at, cut ? std::string::npos : nl - at);
    at = cut ? text.size() : nl + 1;
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::string bad;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      bad = std::string("not JSON (") + e.what() + ")";
    }
    std::optional<reports::ResultRecord> r;
    if (bad.empty() && !j.is_object()) bad = std::string("a JSON ") + j.type_name() + ", not a record (an object)";
    if (bad.empty()) {
      r = reports::record_from_json(j);
      if (!r->id || r->id->empty()) bad = "the record has no \"id\" string";
    }
    if (bad.empty()) {
      if (ids.insert(*r->id).second) kept.emplace_back(std::move(*r), j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    } else if (!cut) {
      throw InputError(fmt::format("sweep --resume: {}:{}: {}; each line is one point's record as `ssmsim sweep` "
                                   "writes it (fix or delete that line; its point then runs again)",
                                   jsonl.string(), line_no, bad));
    }
  }
  return kept;
}

std::string fmt_secs(double s) {
  const auto t = static_cast<long>(s + 0.5);
  return t >= 3600 ? fmt::format("{}h{:02}m", t / 3600, t / 60 % 60) : fmt::format("{}m{:02}s", t / 60, t % 60);
}

}  // namespace

std::string shell_quoted(const std::string& word) {
  std::string q = "'";
  for (char c : word) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

pid_t spawn_child(const std::vector<std::string>& args, const SpawnSetup& setup,
                  const std::function<std::exception_ptr(const std::string& why)>& error) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  setup(fa);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, args[0].c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) std::rethrow_exception(error(std::strerror(rc)));
  return pid;
}

int wait_child(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) throw RunError("sweep: waitpid failed: " + std::string(std::strerror(errno)));
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int run_child(const std::vector<std::string>& args, const fs::path& log, const std::string& who) {
  const pid_t pid = spawn_child(
      args,
      [&](posix_spawn_file_actions_t& fa) {
        posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
      },
      [&](const std::string& why) {
        return std::make_exception_ptr(RunError(who + ": cannot start " + args[0] + ": " + why));
      });
  return wait_child(pid);
}

SweepSummary run_sweep(const SweepSpec& spec, const SweepOptions& o) {
  const std::vector<SweepPoint> all = expand(spec);
  std::vector<const SweepPoint*> mine;
  for (const auto& p : all)
    if (p.index % o.shards == o.shard) mine.push_back(&p);
  const fs::path dir = o.shards > 1 ? o.out_dir / fmt::format("shard-{}-of-{}", o.shard, o.shards) : o.out_dir;
  const fs::path jsonl = dir / "results.jsonl", csv = dir / "results.csv", models = o.out_dir / "models",
                 logs = dir / "logs";
  make_dir(o.out_dir, "--out-dir");
  make_dir(dir, "results folder");
  const DirLock dir_lock(dir);
  write_points(o.out_dir, all, o.shards);  // what `sweep --status` reads
  // what is already done
  std::set<std::string> done;
  std::vector<reports::ResultRecord> kept;
  if (fs::exists(jsonl)) {
    if (!o.resume)
      throw InputError("sweep: " + jsonl.string() + " already holds results: add --resume to continue that sweep, or "
                       "give another --out-dir");
    std::string jtext;  // the records kept, one whole line each
    for (auto& [r, line] : read_done(jsonl)) {
      done.insert(*r.id);
      jtext += line + "\n";
      kept.push_back(std::move(r));
    }
    // rewrite both files from the whole lines (atomically), so a cut line leaves no trace
    std::string ctext = reports::csv_header() + "\n";
    for (const auto& r : kept) ctext += reports::csv_row(r) + "\n";
    reports::write_text_atomic(jsonl, jtext);
    reports::write_text_atomic(csv, ctext);
  } else {
    reports::write_text_atomic(csv, reports::csv_header() + "\n");
  }
  make_dir(models, "models folder");
  make_dir(logs, "logs folder");
  reports::write_text_atomic(o.out_dir / "spec.yaml", spec.text);

  SweepSummary sum;
  sum.total = mine.size();
  sum.results = dir;
  std::vector<const SweepPoint*> todo;
  for (const auto* p : mine) {
    if (done.count(p->id)) {
      ++sum.resumed;
    } else {
      todo.push_back(p);
      ++sum.run;
    }
  }

  const size_t jobs = std::max<size_t>(1, std::min(o.jobs, todo.size()));
  const size_t cores = o.threads ? o.threads : core::usable_cores();  // a Slurm task's CPUs, under Slurm
  const std::string threads = std::to_string(std::max<size_t>(1, cores / jobs));
  const std::string bin = o.binary.string();
  // where each record was made: the host, and the Slurm array task when run under Slurm
  const std::string host = host_name();
  const std::optional<std::string> slurm_job = slurm_task_id();
  std::mutex mu;                                         // results files, progress, model locks
  std::map<std::string, std::shared_ptr<std::mutex>> model_locks;
  std::atomic<size_t> next{0};
  size_t finished = sum.resumed;
  std::exception_ptr error;
  const auto t0 = std::chrono::steady_clock::now();
  // the best point so far: the most accurate, then the least energy per token
  std::optional<reports::ResultRecord> best;
  auto consider = [&](const reports::ResultRecord& r) {
    const double a = r.accuracy.value_or(0), e = r.energy_nj_per_token.value_or(0);
    if (!best || a > best->accuracy.value_or(0) ||
        (a == best->accuracy.value_or(0) && e < best->energy_nj_per_token.value_or(0)))
      best = r;
  };
  for (const auto& r : kept) consider(r);

  auto model_lock = [&](const std::string& key) {
    std::lock_guard<std::mutex> g(mu);
    auto& l = model_locks[key];
    if (!l) l = std::make_shared<std::mutex>();
    return l;
  };
  auto must = [&](const std::vector<std::string>& args, const fs::path& log, const SweepPoint& p, bool allow1) {
    const int rc = run_child(args, log, "sweep");
    if (rc != 0 && !(allow1 && rc == 1))
      throw RunError(fmt::format("sweep: point {} ({}) failed: `{}` exited {}; its output is in {}", p.id, p.label(),
                                 command_line(args), rc, log.string()));
  };

  auto worker = [&] {
    for (;;) {
      const size_t k = next++;
      if (k >= todo.size()) return;
      {
        std::lock_guard<std::mutex> g(mu);
        if (error) return;
      }
      const SweepPoint& p = *todo[k];
      try {
        const auto ps = std::chrono::steady_clock::now();
        const fs::path log = logs / (p.id + ".log");
        const fs::path model = p.precision->model.empty() ? models / (p.model_key + ".safetensors") : p.precision->model;
        const fs::path eval_json = models / fmt::format("{}.eval-{}.json", p.model_key, spec.eval_limit);
        const std::vector<std::string> quantize_cmd = model_command(spec, p, model, bin, threads);
        const std::vector<std::string> eval_cmd = {bin, "eval", "--ckpt", model.string(), "--workload", spec.workload, "--limit",
                    std::to_string(spec.eval_limit), "--threads", threads, "--json", eval_json.string()};
        {
          const auto lock = model_lock(p.model_key);
          std::lock_guard<std::mutex> g(*lock);
          if (!fs::exists(model)) must(quantize_cmd, log, p, false);  // files are written atomically
          if (!fs::exists(eval_json)) must(eval_cmd, log, p, false);
        }
        const fs::path sim_json = logs / (p.id + ".simulate.json");
        std::vector<std::string> sim_cmd = {bin, "simulate", "--ckpt", model.string(), "--hw", p.hw->file.string(),
                                            "--workload", spec.workload, "--limit", std::to_string(spec.simulate_limit),
                                            "--json", sim_json.string()};
        for (const auto& [key, v] : p.hw->overrides) sim_cmd.insert(sim_cmd.end(), {"--set", "hw." + key + "=" + v});
        must(sim_cmd, log, p, true);  // exit 1: not bit-exact, still a result (bit_exact false)
        const reports::ResultRecord ev = reports::record_from_json(read_json(eval_json)),
                                    sj = reports::record_from_json(read_json(sim_json));
        reports::ResultRecord r;
        r.id = p.id;
        r.index = p.index;
        r.label = p.label();
        reports::PointSettings settings;
        settings.precision = p.precision->label;
        settings.hw = p.hw->label;
        settings.method = p.method;
        settings.qat_epochs = p.method == "qat" ? spec.qat_epochs : 0;
        settings.precision_overrides = p.precision->overrides;
        settings.hw_overrides = p.hw->overrides;
        r.point = settings;
        r.accuracy = ev.accuracy;
        r.eval_sequences = ev.count;
        r.bit_exact = sj.bit_exact;
        r.energy_nj_per_token = sj.energy_nj_per_token;
        r.latency_us_per_token = sj.latency_us_per_token;
        r.cycles_per_token = sj.cycles_per_token;
        r.tokens_per_s = sj.tokens_per_s;
        r.area_mm2 = sj.area_mm2;
        r.energy_breakdown_nj = sj.energy_breakdown_nj;
        r.utilization = sj.utilization;
        r.memory_bits = sj.memory_bits;
        r.state_bits = sj.state_bits;
        if (sj.footprint) {
          r.footprint_reduction = sj.footprint->reduction;
          r.memory_bits_by_component = sj.footprint->bits_by_component;
        }
        r.hw_config = sj.hw;
        r.precision_config = p.precision->model.empty() ? p.precision->file.filename().string()
                                                        : p.precision->model.filename().string();
        r.model = model.filename().string();
        r.commands.emplace();
        using Command = const std::vector<std::string>*;
        for (Command c : std::initializer_list<Command>{&quantize_cmd, &eval_cmd, &sim_cmd})
          if (!c->empty()) r.commands->push_back(command_line(*c));
        r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - ps).count();
        r.host = host;
        r.slurm_job = slurm_job;
        std::lock_guard<std::mutex> g(mu);
        append_line(jsonl, reports::to_json(r).dump());
        append_line(csv, reports::csv_row(r));
        ++finished;
        consider(r);
        if (o.progress) {
          const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          const size_t ran = finished - sum.resumed;
          o.progress(fmt::format("sweep: {}/{} points{}, {} elapsed, ETA {}; best so far: {} {:.2f}% at {:.3g} nJ/token",
                                 finished, sum.total, sum.resumed ? fmt::format(" ({} resumed)", sum.resumed) : "",
                                 fmt_secs(el), fmt_secs(el / static_cast<double>(ran) * static_cast<double>(todo.size() - ran)),
                                 best->label.value_or(""), 100 * best->accuracy.value_or(0),
                                 best->energy_nj_per_token.value_or(0)));
        }
      } catch (...) {
        std::lock_guard<std::mutex> g(mu);
        if (!error) error = std::current_exception();
        return;
      }
    }
  };
  std::vector<std::thread> pool;
  for (size_t j = 0; j < jobs; ++j) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
  return sum;
}

}  // namespace ssmsim::sim
