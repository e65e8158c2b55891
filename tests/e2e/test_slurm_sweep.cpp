// End-to-end against a real Slurm (issue 18): a single-node cluster of Debian's slurm-wlm and munge
// started for the test in its scratch folder (tests/support/slurm_local.sh), no mock of sbatch.
// `sweep --slurm` runs a small sweep as a job array of 3 tasks; one task is cancelled while it
// runs, `sweep --status` shows its point not done, a resubmission runs only that point, and the
// merged records equal a local run's: no point lost or run twice.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/testing.hpp"

using ssmsim::testing::run_cli;
using ssmsim::testing::scratch_dir;
using ssmsim::testing::source_dir;
namespace fs = std::filesystem;

namespace {

// A TCP port of localhost that is free now.
int free_port() {
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t n = sizeof a;
  ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &n);
  ::close(s);
  return ntohs(a.sin_port);
}

// A shell command's standard output (the Slurm client tools: squeue, scancel).
std::string shell(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[512];
  while (fgets(buf, sizeof buf, p)) out += buf;
  ::pclose(p);
  return out;
}

// The cluster, up for the life of the object.
class LocalSlurm {
 public:
  explicit LocalSlurm(const fs::path& dir) : dir_(dir) {
    const std::string script = (source_dir() / "tests/support/slurm_local.sh").string();
    const std::string cmd = script + " start " + dir.string() + " " + std::to_string(free_port()) + " " +
                            std::to_string(free_port()) + " 2>" + (dir.string() + ".err");
    conf_ = shell(cmd);
    while (!conf_.empty() && conf_.back() == '\n') conf_.pop_back();
    if (!conf_.empty()) ::setenv("SLURM_CONF", conf_.c_str(), 1);
  }
  ~LocalSlurm() { shell((source_dir() / "tests/support/slurm_local.sh").string() + " stop " + dir_.string()); }
  bool up() const { return !conf_.empty(); }
  std::string why() const { return ssmsim::testing::read_text(dir_.string() + ".err"); }
  // The states of the job's tasks ("RUNNING", "PENDING", ...), by task id.
  std::map<std::string, std::string> tasks(const std::string& job) const {
    std::map<std::string, std::string> m;
    std::istringstream in(shell("squeue -h -r -j " + job + " -o '%K %T' 2>/dev/null"));
    for (std::string id, state; in >> id >> state;) m[id] = state;
    return m;
  }
  // Waits until the job has no task in the queue.
  bool wait_done(const std::string& job, int seconds = 180) const {
    const auto t0 = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(seconds)) {
      if (tasks(job).empty()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

 private:
  fs::path dir_;
  std::string conf_;
};

// id -> the figures that must not depend on where the point ran
std::map<std::string, std::string> records(const fs::path& out) {
  std::map<std::string, std::string> m;
  for (const auto& e : fs::recursive_directory_iterator(out)) {
    if (e.path().filename() != "results.jsonl") continue;
    std::ifstream f(e.path());
    for (std::string line; std::getline(f, line);) {
      const auto r = nlohmann::json::parse(line);
      const std::string id = r["id"];
      EXPECT_EQ(m.count(id), 0u) << "point " << id << " recorded twice";
      m[id] = nlohmann::json{r["index"], r["label"], r["accuracy"], r["bit_exact"], r["energy_nj_per_token"],
                             r["memory_bits"]}
                  .dump();
    }
  }
  return m;
}

std::string job_of(const std::string& out) {
  const auto at = out.find("Slurm job array ");
  return at == std::string::npos ? "" : out.substr(at + 16, out.find(' ', at + 16) - at - 16);
}

}  // namespace

TEST(SlurmSweep, AnArrayWithATaskCancelledMidRunAndResubmittedEqualsALocalRun) {
  const auto dir = scratch_dir("slurm_sweep");
  LocalSlurm slurm(dir / "cluster");
  ASSERT_TRUE(slurm.up()) << "a single-node Slurm did not start (make deps installs slurm-wlm and munge):\n"
                          << slurm.why();
  const auto ckpt = dir / "sines.safetensors";
  auto r = run_cli({"train", "--model", (source_dir() / "configs/models/s4d_edge.yaml").string(), "--workload", "sines",
                    "--epochs", "1", "--out", ckpt.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // three points with a model each (QAT of three epochs, 2-3 s alone on 2 cores): a task is
  // cancelled inside its point
  const auto spec = dir / "spec.yaml";
  std::ofstream(spec) << "name: slurm\ncheckpoint: " << ckpt.string()
                      << "\nworkload: sines\neval: {limit: 100}\nsimulate: {limit: 4}\ncalib: 32\nqat: {epochs: 3}\n"
                         "precision: {files: [w8a8_state8, all8_static, all16]}\nhw: {files: [edge_minimal]}\n"
                         "method: [qat]\n";
  r = run_cli({"sweep", "--spec", spec.string(), "--out-dir", (dir / "local").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto local = records(dir / "local");
  ASSERT_EQ(local.size(), 3u);
  r = run_cli({"sweep", "--status", (dir / "local").string()});  // a local sweep's folder too
  EXPECT_NE(r.out.find("3 points: 3 done, 0 running, 0 failed, 0 waiting"), std::string::npos) << r.out;

  const auto out = dir / "out";
  r = run_cli({"sweep", "--spec", spec.string(), "--out-dir", out.string(), "--slurm", "--slurm-tasks", "3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string job = job_of(r.out);
  ASSERT_FALSE(job.empty()) << r.out;
  // cancel task 2 as soon as its point runs (its folder locked: the status says "running"; its
  // QAT then takes seconds), not merely its task: on a loaded machine a task can start, and even
  // finish a short point, before the first poll sees it
  const auto t0 = std::chrono::steady_clock::now();
  auto point2 = [&] {
    const std::string status = run_cli({"sweep", "--status", out.string()}).out;
    const auto at = status.find("\n   2  ");
    return at == std::string::npos ? std::string() : status.substr(at + 1, status.find('\n', at + 1) - at - 1);
  };
  std::string line = point2();
  while (line.find("running") == std::string::npos && line.find("done") == std::string::npos &&
         std::chrono::steady_clock::now() - t0 < std::chrono::seconds(120)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    line = point2();
  }
  ASSERT_NE(line.find("running"), std::string::npos) << "task 2's point was not seen running: " << line;
  ASSERT_EQ(slurm.tasks(job)["2"], "RUNNING") << "task 2 is not running";
  shell("scancel " + job + "_2");
  ASSERT_TRUE(slurm.wait_done(job));
  r = run_cli({"sweep", "--status", out.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("3 points: 2 done, 0 running"), std::string::npos)
      << "the cancel did not interrupt task 2's point:\n" << r.out;
  EXPECT_EQ(records(out).size(), 2u);

  // another task count would put the points in other shard folders: refused
  r = run_cli({"sweep", "--spec", spec.string(), "--out-dir", out.string(), "--slurm", "--slurm-tasks", "2"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("resubmit with --slurm-tasks 3"), std::string::npos) << r.err;
  // resubmitted whole: the finished points are skipped, the cancelled one runs
  r = run_cli({"sweep", "--spec", spec.string(), "--out-dir", out.string(), "--slurm", "--slurm-tasks", "3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string again = job_of(r.out);
  ASSERT_TRUE(slurm.wait_done(again));
  r = run_cli({"sweep", "--status", out.string()});
  EXPECT_NE(r.out.find("3 points: 3 done, 0 running, 0 failed, 0 waiting"), std::string::npos) << r.out;
  EXPECT_EQ(records(out), local);
  // every record names its host and its array task; the resubmitted point the second job's
  size_t second = 0;
  for (const auto& e : fs::recursive_directory_iterator(out)) {
    if (e.path().filename() != "results.jsonl") continue;
    std::ifstream f(e.path());
    for (std::string line; std::getline(f, line);) {
      const auto j = nlohmann::json::parse(line);
      EXPECT_TRUE(j.contains("host")) << line;
      ASSERT_TRUE(j.contains("slurm_job")) << line;
      second += j["slurm_job"].get<std::string>().rfind(again + "_", 0) == 0;
    }
  }
  EXPECT_EQ(second, 1u);
  // the report merges the shards
  r = run_cli({"report", "--in", out.string(), "--out", (dir / "report.html").string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("3 points"), std::string::npos) << r.out;
}

TEST(SlurmSweep, DryRunPrintsTheArrayScriptAndBadFlagsAreRefused) {
  const auto dir = scratch_dir("slurm_dry_run");
  const auto spec = (source_dir() / "configs/sweeps/demo.yaml").string();
  auto r = run_cli({"sweep", "--spec", spec, "--out-dir", (dir / "out").string(), "--slurm", "--slurm-tasks", "4",
                    "--partition", "gpu", "--time", "01:00:00", "--cpus-per-task", "8", "--sbatch-arg=--account=ml",
                    "--limit", "50", "--dry-run"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* s : {"#SBATCH --array=0-3", "#SBATCH --partition=gpu", "#SBATCH --time=01:00:00",
                        "#SBATCH --cpus-per-task=8", "#SBATCH --account=ml", "--shard \"$SLURM_ARRAY_TASK_ID/4\"",
                        "--resume --jobs 8 --threads 8", "'--limit' '50'"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
  EXPECT_FALSE(fs::exists(dir / "out")) << "a dry run writes nothing";
  for (const auto& bad : std::vector<std::vector<std::string>>{
           {"--slurm", "--shard", "0/2"}, {"--slurm", "--sbatch-arg", "account=ml"}, {"--partition", "gpu"},
           {"--dry-run"}, {"--slurm", "--slurm-tasks", "0"}}) {
    std::vector<std::string> args = {"sweep", "--spec", spec, "--out-dir", (dir / "out").string()};
    args.insert(args.end(), bad.begin(), bad.end());
    r = run_cli(args);
    EXPECT_EQ(r.exit_code, 2) << bad[0] << " " << r.err;
  }
  r = run_cli({"sweep", "--status", dir.string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("points.json"), std::string::npos) << r.err;
}
