// End-to-end: `ssmsim sweep` on a small real model: every point once, with a stable id; a sweep
// killed in the middle and resumed ends with exactly the results of an uninterrupted one; shards
// add up to the whole; a bad spec fails before any work.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/testing.hpp"

extern char** environ;

using ssmsim::testing::run_cli;
using ssmsim::testing::scratch_dir;
using ssmsim::testing::source_dir;
namespace fs = std::filesystem;

namespace {

std::vector<nlohmann::json> results(const fs::path& jsonl) {
  std::vector<nlohmann::json> out;
  std::ifstream f(jsonl);
  for (std::string line; std::getline(f, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

size_t lines_in(const fs::path& p) {
  std::ifstream f(p);
  size_t n = 0;
  for (std::string line; std::getline(f, line);) ++n;
  return n;
}

// id -> the figures that must not depend on how the sweep was run
std::map<std::string, std::string> by_id(const std::vector<nlohmann::json>& rs) {
  std::map<std::string, std::string> m;
  for (const auto& r : rs)
    m[r["id"]] = nlohmann::json{r["index"], r["label"], r["accuracy"], r["bit_exact"], r["energy_nj_per_token"],
                                r["cycles_per_token"], r["memory_bits"]}
                     .dump();
  return m;
}

// A float model trained one epoch on the synthetic sines task, and a spec of 2 x 3 = 6 points.
fs::path make_spec(const fs::path& dir, const std::string& extra = "") {
  const auto ckpt = dir / "sines.safetensors";
  if (!fs::exists(ckpt)) {
    const auto r = run_cli({"train", "--model", (source_dir() / "configs/models/s4d_edge.yaml").string(), "--workload",
                            "sines", "--epochs", "1", "--out", ckpt.string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }
  const auto spec = dir / "spec.yaml";
  std::ofstream(spec) << "name: test\ncheckpoint: " << ckpt.string()
                      << "\nworkload: sines\neval: {limit: 100}\nsimulate: {limit: 8}\ncalib: 32\n"
                         "precision:\n  files: [w8a8_state8]\n  sensitivity: {base: all16, components: [A], bits: [6]}\n"
                         "hw:\n  grid: {base: edge_minimal, keys: {cmac_lanes: [1, 4, 8]}}\n"
                      << extra;
  return spec;
}

}  // namespace

TEST(SweepCli, RunsEveryPointOnceWithAStableIdAndWritesJsonAndCsv) {
  const auto dir = scratch_dir("sweep_once");
  const auto spec = make_spec(dir);
  auto r = run_cli({"sweep", "--spec", spec.string(), "--out-dir", (dir / "out").string(), "--jobs", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("6/6 points"), std::string::npos) << r.err;  // progress
  EXPECT_NE(r.err.find("best so far"), std::string::npos) << r.err;
  const auto rs = results(dir / "out/results.jsonl");
  ASSERT_EQ(rs.size(), 6u);
  EXPECT_EQ(by_id(rs).size(), 6u);  // unique ids
  EXPECT_EQ(lines_in(dir / "out/results.csv"), 7u);
  std::set<size_t> indices;
  for (const auto& x : rs) {
    indices.insert(x["index"].get<size_t>());
    EXPECT_TRUE(x["bit_exact"].get<bool>()) << x["label"];
    EXPECT_EQ(x["eval_sequences"].get<size_t>(), 100u);
    EXPECT_EQ(x["commands"].size(), 3u);
  }
  EXPECT_EQ(indices.size(), 6u);
  // two models (w8a8_state8, all16 A=6) for six points: the hardware points share them
  size_t models = 0;
  for (const auto& e : fs::directory_iterator(dir / "out/models")) models += e.path().extension() == ".safetensors";
  EXPECT_EQ(models, 2u);
  // the same spec again elsewhere: the same ids and figures (a stable id, deterministic points)
  r = run_cli({"sweep", "--spec", spec.string(), "--out-dir", (dir / "again").string(), "--limit", "100"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(by_id(results(dir / "again/results.jsonl")), by_id(rs));
  // an existing folder is not overwritten without --resume
  r = run_cli({"sweep", "--spec", spec.string(), "--out-dir", (dir / "out").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--resume"), std::string::npos) << r.err;
  // --limit (eval.limit) overrides the spec's
  r = run_cli({"sweep", "--spec", spec.string(), "--out-dir", (dir / "limit").string(), "--set", "eval.limit=40"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const auto& x : results(dir / "limit/results.jsonl")) EXPECT_EQ(x["eval_sequences"].get<size_t>(), 40u);
}

// A point's id covers the bytes of the checkpoint it quantizes: after the checkpoint is replaced,
// --resume runs every point again instead of answering from the old model's records.
TEST(SweepCli, AReplacedCheckpointIsSweptAgainNotAnsweredFromOldResults) {
  const auto dir = scratch_dir("sweep_replaced");
  const auto spec = make_spec(dir);
  auto r = run_cli({"sweep", "--spec", spec.string(), "--out-dir", (dir / "out").string(), "--jobs", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_cli({"train", "--model", (source_dir() / "configs/models/s4d_edge.yaml").string(), "--workload", "sines",
               "--epochs", "1", "--seed", "2", "--out", (dir / "sines.safetensors").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_cli({"sweep", "--spec", spec.string(), "--out-dir", (dir / "out").string(), "--jobs", "2", "--resume"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("(6 run now, 0 from before)"), std::string::npos) << r.out;
  EXPECT_EQ(by_id(results(dir / "out/results.jsonl")).size(), 12u);
}

// A sweep killed (SIGKILL) after its first result and resumed: the same results as an
// uninterrupted run, no point twice, none missing.
TEST(SweepCli, AKilledSweepResumesToTheUninterruptedResultsWithoutDuplicates) {
  const auto dir = scratch_dir("sweep_resume");
  const auto spec = make_spec(dir);
  auto r = run_cli({"sweep", "--spec", spec.string(), "--out-dir", (dir / "whole").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto whole = by_id(results(dir / "whole/results.jsonl"));

  const fs::path out = dir / "killed";
  const std::vector<std::string> args = {SSMSIM_TEST_BIN, "sweep", "--spec", spec.string(), "--out-dir", out.string()};
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  const auto t0 = std::chrono::steady_clock::now();
  while (lines_in(out / "results.jsonl") < 1 && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(60))
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  const size_t at_kill = lines_in(out / "results.jsonl");
  EXPECT_GE(at_kill, 1u);
  EXPECT_LT(at_kill, 6u) << "the sweep finished before the kill: the test did not interrupt it";

  r = run_cli({"sweep", "--spec", spec.string(), "--out-dir", out.string(), "--resume"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto resumed = results(out / "results.jsonl");
  EXPECT_EQ(resumed.size(), 6u);  // no duplicate
  EXPECT_EQ(by_id(resumed), whole);
  EXPECT_EQ(lines_in(out / "results.csv"), 7u);
  // resuming a finished sweep runs nothing
  r = run_cli({"sweep", "--spec", spec.string(), "--out-dir", out.string(), "--resume"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("0 run now, 6 from before"), std::string::npos) << r.out;
  EXPECT_EQ(results(out / "results.jsonl").size(), 6u);
}

// The union of the shards is the unsharded sweep; each shard is a deterministic part.
TEST(SweepCli, TheShardsTogetherAreTheWholeSweep) {
  const auto dir = scratch_dir("sweep_shards");
  const auto spec = make_spec(dir);
  auto r = run_cli({"sweep", "--spec", spec.string(), "--out-dir", (dir / "whole").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<nlohmann::json> merged;
  for (int i = 0; i < 4; ++i) {  // 4 shards of 6 points: sizes 2, 2, 1, 1
    r = run_cli({"sweep", "--spec", spec.string(), "--out-dir", (dir / "sharded").string(), "--shard",
                 std::to_string(i) + "/4"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto part = results(dir / "sharded" / ("shard-" + std::to_string(i) + "-of-4") / "results.jsonl");
    EXPECT_EQ(part.size(), i < 2 ? 2u : 1u);
    for (const auto& x : part) EXPECT_EQ(x["index"].get<size_t>() % 4, static_cast<size_t>(i));
    merged.insert(merged.end(), part.begin(), part.end());
  }
  EXPECT_EQ(merged.size(), 6u);
  EXPECT_EQ(by_id(merged), by_id(results(dir / "whole/results.jsonl")));
  r = run_cli({"sweep", "--spec", spec.string(), "--out-dir", (dir / "x").string(), "--shard", "4/4"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("0 <= i < n"), std::string::npos) << r.err;
}

// A bad spec fails before any work starts, naming the problem.
TEST(SweepCli, ABadSpecFailsBeforeAnyWorkNamingTheProblem) {
  const auto dir = scratch_dir("sweep_bad");
  struct Case {
    std::string extra, expect;
  };
  for (const Case& c : std::vector<Case>{{"method: [ptq, fast]\n", "allowed: ptq, qat"},
                                         {"axes: {x: 1}\n", "unknown key"}}) {
    const auto spec = make_spec(dir, c.extra);
    const auto out = dir / "out";
    fs::remove_all(out);
    const auto r = run_cli({"sweep", "--spec", spec.string(), "--out-dir", out.string()});
    EXPECT_EQ(r.exit_code, 2) << c.extra;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << c.extra << ": " << r.err;
    EXPECT_FALSE(fs::exists(out)) << c.extra;  // nothing started
  }
  auto write = [&](const std::string& text) {
    const auto p = dir / "bad.yaml";
    std::ofstream(p) << text;
    return p.string();
  };
  const std::string head = "checkpoint: " + (dir / "sines.safetensors").string() + "\nworkload: sines\n";
  struct Bad {
    std::string text, expect;
  };
  for (const Bad& b : std::vector<Bad>{
           {head + "precision: {files: [w8a8_state8]}\nhw: {grid: {base: edge_minimal, keys: {cmac_lanes: []}}}\n", "non-empty list"},
           {head + "precision: {files: [no_such_preset]}\nhw: {files: [edge_minimal]}\n", "no such file"},
           {head + "precision: {sensitivity: {base: all16, components: [Q], bits: [4]}}\nhw: {files: [edge_minimal]}\n", "Q"},
           {head + "precision: {files: [w8a8_state8]}\nhw: {grid: {base: edge_minimal, keys: {lanes: [4]}}}\n", "unknown hw key"},
           {"checkpoint: nowhere.safetensors\nworkload: sines\nprecision: {files: [w8a8_state8]}\nhw: {files: [edge_minimal]}\n",
            "spec.checkpoint"}}) {
    const auto r = run_cli({"sweep", "--spec", write(b.text), "--out-dir", (dir / "out2").string()});
    EXPECT_EQ(r.exit_code, 2) << b.text;
    EXPECT_NE(r.err.find(b.expect), std::string::npos) << b.text << ": " << r.err;
    EXPECT_FALSE(fs::exists(dir / "out2"));
  }
}
