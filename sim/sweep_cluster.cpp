#include "sim/sweep_cluster.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <spawn.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "quant/errors.hpp"
#include "reports/record.hpp"

namespace ssmsim::sim {

namespace fs = std::filesystem;

namespace {

// Whether a live sweep holds DIR/.sweep.lock (the lock sweep.cpp takes for the life of a run).
bool folder_locked(const fs::path& dir) {
  const int fd = ::open((dir / ".sweep.lock").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool held = ::flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  ::close(fd);  // releases the lock if this call took it
  return held;
}

// The ids recorded in DIR/results.jsonl (whole lines that parse; a cut last line is not a record).
std::vector<std::string> recorded_ids(const fs::path& dir) {
  std::vector<std::string> ids;
  std::ifstream f(dir / "results.jsonl");
  for (std::string line; std::getline(f, line);) {
    if (f.eof()) break;  // no newline: cut by a kill while it was written
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.contains("id") && j["id"].is_string()) ids.push_back(j["id"].get<std::string>());
  }
  return ids;
}

// Runs argv, returns (exit status, stdout + stderr).
std::pair<int, std::string> capture(const std::vector<std::string>& args) {
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) throw RunError(std::string("sweep: pipe failed: ") + std::strerror(errno));
  pid_t pid = 0;
  try {
    pid = spawn_child(
        args,
        [&](posix_spawn_file_actions_t& fa) {
          posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
          posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
        },
        [&](const std::string& why) {
          return std::make_exception_ptr(InputError("sweep --slurm: cannot run " + args[0] + ": " + why +
                                                    " (is Slurm installed here? `sbatch` must be on the PATH)"));
        });
  } catch (...) {
    ::close(pipefd[0]);
    ::close(pipefd[1]);
    throw;
  }
  ::close(pipefd[1]);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(pipefd[0], buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(pipefd[0]);
  return {wait_child(pid), out};
}

}  // namespace

void write_points(const fs::path& out_dir, const std::vector<SweepPoint>& points, size_t shards) {
  nlohmann::json j = {{"shards", shards}, {"points", nlohmann::json::array()}};
  for (const auto& p : points) j["points"].push_back({{"index", p.index}, {"id", p.id}, {"label", p.label()}});
  reports::write_text_atomic(out_dir / "points.json", j.dump(1) + "\n");
}

size_t submitted_shards(const fs::path& out_dir) {
  if (!fs::exists(out_dir / "slurm" / "jobs.txt")) return 0;
  std::ifstream f(out_dir / "points.json");
  const auto j = nlohmann::json::parse(f, nullptr, false);
  return j.is_object() && j.contains("shards") && j["shards"].is_number_unsigned() ? j["shards"].get<size_t>() : 0;
}

std::vector<PointState> sweep_status(const fs::path& out_dir) {
  const fs::path pj = out_dir / "points.json";
  if (!fs::is_regular_file(pj))
    throw InputError("sweep --status: " + out_dir.string() + " holds no points.json; is it a sweep's --out-dir? "
                     "(every `ssmsim sweep` run and `sweep --slurm` write it)");
  nlohmann::json j;
  try {
    std::ifstream f(pj);
    j = nlohmann::json::parse(f);
    if (!j.at("shards").is_number_unsigned() || !j.at("points").is_array()) throw std::runtime_error("wrong types");
  } catch (const std::exception& e) {
    throw InputError("sweep --status: " + pj.string() + " is not a points file (" + e.what() +
                     "); run the sweep again with --resume to rewrite it");
  }
  const size_t shards = std::max<size_t>(1, j["shards"].get<size_t>());
  std::map<std::string, fs::path> done;  // id -> the folder recording it
  std::vector<fs::path> folders = {out_dir};
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(out_dir, ec))
    if (e.is_directory(ec) && e.path().filename().string().rfind("shard-", 0) == 0) folders.push_back(e.path());
  for (const auto& d : folders)
    for (const auto& id : recorded_ids(d)) done.emplace(id, d);
  std::vector<PointState> out;
  try {
    for (const auto& p : j["points"]) {
      PointState s;
      s.index = p.at("index").get<size_t>();
      s.id = p.at("id").get<std::string>();
      s.label = p.at("label").get<std::string>();
      const fs::path dir =
          shards > 1 ? out_dir / fmt::format("shard-{}-of-{}", s.index % shards, shards) : out_dir;
      if (const auto it = done.find(s.id); it != done.end()) {
        s.state = "done";
        s.where = it->second.string();
      } else if (folder_locked(dir)) {
        s.state = "running";
        s.where = dir.string();
      } else if (fs::exists(dir / "logs" / (s.id + ".log"))) {
        s.state = "failed";
        s.where = (dir / "logs" / (s.id + ".log")).string();
      } else {
        s.state = "waiting";
      }
      out.push_back(std::move(s));
    }
  } catch (const nlohmann::json::exception& e) {
    throw InputError("sweep --status: " + pj.string() + ": a malformed point (" + e.what() + ")");
  }
  return out;
}

size_t slurm_tasks(const SlurmOptions& o, size_t points) {
  return std::max<size_t>(1, o.tasks ? std::min(o.tasks, points) : std::min<size_t>(points, 64));
}

std::string slurm_script(const fs::path& binary, const fs::path& spec, const fs::path& out_dir, const std::string& name,
                         size_t tasks, const SlurmOptions& o) {
  std::ostringstream s;
  s << "#!/bin/bash\n"
    << "# ssmsim sweep '" << name << "' as a Slurm job array (written by `ssmsim sweep --slurm`; docs/cluster.md).\n"
    << "# Task i runs the points whose index % " << tasks << " == i into " << out_dir.string() << "/shard-i-of-"
    << tasks << "/;\n# resubmitting skips the finished points. `ssmsim sweep --status " << out_dir.string()
    << "` says where it stands.\n"
    << "#SBATCH --job-name=" << shell_quoted("ssmsim-" + name) << "\n"
    << "#SBATCH --array=0-" << tasks - 1 << "\n"
    << "#SBATCH --cpus-per-task=" << o.cpus_per_task << "\n"
    << "#SBATCH --output=" << (out_dir / "slurm" / "%A_%a.out").string() << "\n";
  if (!o.partition.empty()) s << "#SBATCH --partition=" << o.partition << "\n";
  if (!o.time.empty()) s << "#SBATCH --time=" << o.time << "\n";
  for (const auto& a : o.sbatch_args) s << "#SBATCH " << a << "\n";
  s << "set -eu\n"
    << "exec " << shell_quoted(binary.string()) << " sweep --spec " << shell_quoted(fs::absolute(spec).string())
    << " --out-dir " << shell_quoted(fs::absolute(out_dir).string()) << " --shard \"$SLURM_ARRAY_TASK_ID/" << tasks
    << "\" --resume --jobs "
    << o.cpus_per_task << " --threads " << o.cpus_per_task;
  for (const auto& f : o.forward) s << " " << shell_quoted(f);
  s << "\n";
  return s.str();
}

std::string submit_slurm(const fs::path& out_dir, const std::string& script) {
  const fs::path dir = out_dir / "slurm";
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw InputError("sweep --slurm: cannot make " + dir.string() + ": " + ec.message());
  size_t n = 0;
  while (fs::exists(dir / fmt::format("sweep-{}.sbatch", n))) ++n;
  const fs::path file = dir / fmt::format("sweep-{}.sbatch", n);
  reports::write_text_atomic(file, script);
  const auto [rc, out] = capture({"sbatch", "--parsable", file.string()});
  std::string id = out.substr(0, out.find_first_of(";\n"));
  if (rc != 0 || id.empty() || id.find_first_not_of("0123456789") != std::string::npos)
    throw InputError("sweep --slurm: sbatch refused " + file.string() + " (exit " + std::to_string(rc) + "): " + out);
  std::ofstream(dir / "jobs.txt", std::ios::app) << id << " " << file.filename().string() << "\n";
  return id;
}

}  // namespace ssmsim::sim
