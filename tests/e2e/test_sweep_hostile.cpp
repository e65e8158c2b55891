// End-to-end: `ssmsim sweep` and `ssmsim report` against hostile but realistic input (issue 17):
// every spec value is checked before any work, by the rules of the commands the sweep runs (exit 2
// naming the spec key, nothing created); a file as --out-dir and a second sweep into a folder a
// sweep holds are refused; a hand-edited results.jsonl line is exit 2 naming FILE:LINE while a line
// cut by a kill is dropped; --resume keeps one record per point; a report is both files or neither.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/testing.hpp"

using ssmsim::testing::run_cli;
using ssmsim::testing::scratch_dir;
using ssmsim::testing::source_dir;
namespace fs = std::filesystem;

namespace {

std::string read(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

size_t lines_in(const fs::path& p) {
  std::ifstream f(p);
  size_t n = 0;
  for (std::string line; std::getline(f, line);) ++n;
  return n;
}

void write(const fs::path& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; }

// A float model trained one epoch on sines (seconds), made once per scratch folder.
fs::path checkpoint(const fs::path& dir) {
  const auto ckpt = dir / "sines.safetensors";
  if (!fs::exists(ckpt)) {
    const auto r = run_cli({"train", "--model", (source_dir() / "configs/models/s4d_edge.yaml").string(), "--workload",
                            "sines", "--epochs", "1", "--out", ckpt.string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }
  return ckpt;
}

// A spec of 1 x 2 = 2 quick points; `top` replaces the checkpoint and workload lines, `extra` is appended.
std::string spec_text(const fs::path& dir, const std::string& top = "", const std::string& extra = "") {
  const std::string head = top.empty() ? "checkpoint: " + checkpoint(dir).string() + "\nworkload: sines\n" : top;
  return "name: hostile\n" + head +
         "eval: {limit: 20}\nsimulate: {limit: 1}\ncalib: 8\nprecision: {files: [w8a8_state8]}\n"
         "hw: {grid: {base: edge_minimal, keys: {cmac_lanes: [1, 4]}}}\n" + extra;
}

fs::path spec_file(const fs::path& dir, const std::string& text) {
  const auto p = dir / "spec.yaml";
  write(p, text);
  return p;
}

// A finished 2-point sweep in dir/name.
fs::path finished_sweep(const fs::path& dir, const std::string& name) {
  const auto out = dir / name;
  const auto r = run_cli({"sweep", "--spec", spec_file(dir, spec_text(dir)).string(), "--out-dir", out.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(lines_in(out / "results.jsonl"), 2u);
  return out;
}

}  // namespace

// Each value below starts the sweep today's children would refuse; each must fail before any work
// (the out-dir is never created) with exit 2 naming the spec key.
TEST(SweepHostile, EverySpecValueAChildWouldRefuseFailsBeforeAnyWorkNamingItsKey) {
  const auto dir = scratch_dir("sweep_hostile_spec");
  const std::string ckpt = checkpoint(dir).string();
  fs::create_directories(dir / "a_folder");
  struct Case {
    std::string top, extra, key, what;
  };
  const std::vector<Case> cases = {
      {"checkpoint: " + ckpt + "\nworkload: -1\n", "", "spec.workload", "unknown workload"},
      {"checkpoint: " + ckpt + "\nworkload: \xEF\xBB\xBFsines\n", "", "spec.workload", "unknown workload"},
      {"checkpoint: [" + ckpt + "]\nworkload: sines\n", "", "spec.checkpoint", "expected a path"},
      {"checkpoint: " + (dir / "a_folder").string() + "\nworkload: sines\n", "", "spec.checkpoint", "not a regular file"},
      {"checkpoint: " + (source_dir() / "configs/hw/edge_minimal.yaml").string() + "\nworkload: sines\n", "",
       "spec.checkpoint", "edge_minimal.yaml"},
      {"", "method: qat\nqat: {set: {train.lr: s1000}}\n", "spec.qat.set.train.lr", "train.lr"},
      {"", "method: qat\nqat: {set: {train.lr: [1]}}\n", "spec.qat.set.train.lr", "plain value"},
      {"", "method: qat\nqat: {set: {train.no_such_key: 1}}\n", "spec.qat.set.train.no_such_key", "unknown"},
      {"", "method: qat\nqat: {set: {run.seed: 3}}\n", "spec.qat.set.run.seed", "train.* key"},
  };
  for (const Case& c : cases) {
    const auto out = dir / "out";
    fs::remove_all(out);
    const auto spec = spec_file(dir, spec_text(dir, c.top, c.extra));
    const auto r = run_cli({"sweep", "--spec", spec.string(), "--out-dir", out.string()});
    EXPECT_EQ(r.exit_code, 2) << c.top << c.extra << ": " << r.err;
    EXPECT_NE(r.err.find("'" + c.key + "'"), std::string::npos) << c.top << c.extra << ": " << r.err;
    EXPECT_NE(r.err.find(c.what), std::string::npos) << c.top << c.extra << ": " << r.err;
    EXPECT_FALSE(fs::exists(out)) << c.top << c.extra << ": the sweep started";
  }
  // a precision file that is a folder is refused by name, not read
  fs::create_directories(dir / "p_folder.yaml");
  std::string text = spec_text(dir);
  text.replace(text.find("[w8a8_state8]"), 13, "[" + (dir / "p_folder.yaml").string() + "]");
  const auto spec = spec_file(dir, text);
  const auto r = run_cli({"sweep", "--spec", spec.string(), "--out-dir", (dir / "out").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("'spec.precision.files'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("not a regular file"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "out"));
  // the same spec with good values runs (the cases above fail for their value, nothing else)
  const auto ok = run_cli({"sweep", "--spec", spec_file(dir, spec_text(dir, "", "method: qat\nqat: {set: {train.lr: 0.001}}\n")).string(),
                           "--out-dir", (dir / "good").string()});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(lines_in(dir / "good/results.jsonl"), 2u);
}

// A quantized model given as it is is read whole before any work: one cut short is exit 2 naming
// spec.precision.models.
TEST(SweepHostile, AGivenModelThatDoesNotReadFailsBeforeAnyWork) {
  const auto dir = scratch_dir("sweep_hostile_model");
  const auto q = dir / "cut.safetensors";
  fs::copy_file(source_dir() / "workloads/models/s4d_edge_smnist_hetero6x_qat.safetensors", q,
                fs::copy_options::overwrite_existing);
  fs::resize_file(q, fs::file_size(q) - 100);
  const auto spec = spec_file(dir, "checkpoint: " + checkpoint(dir).string() + "\nworkload: sines\nprecision: {models: [" +
                                       q.string() + "]}\nhw: {files: [edge_minimal]}\n");
  const auto r = run_cli({"sweep", "--spec", spec.string(), "--out-dir", (dir / "out").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("'spec.precision.models'"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "out"));
}

// Options out of range are exit 2 before any work: a negative --jobs (it arrives wrapped to a huge
// count), a --shard that is not two plain counts, a --spec that is a folder or a FIFO.
TEST(SweepHostile, BadSweepOptionsFailBeforeAnyWork) {
  const auto dir = scratch_dir("sweep_hostile_options");
  const auto spec = spec_file(dir, spec_text(dir)).string();
  const auto fifo = dir / "fifo.yaml";
  fs::remove(fifo);
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  struct Case {
    std::vector<std::string> args;
    std::string what;
  };
  for (const Case& c : std::vector<Case>{{{"--spec", spec, "--jobs", "-1"}, "--jobs"},
                                         {{"--spec", spec, "--jobs", "0"}, "--jobs"},
                                         {{"--spec", spec, "--shard", "0/-1"}, "0 <= i < n"},
                                         {{"--spec", spec, "--shard", "1x/4"}, "0 <= i < n"},
                                         {{"--spec", spec, "--shard", "0/4x"}, "0 <= i < n"},
                                         {{"--spec", dir.string()}, "it is a folder, not a file"},
                                         {{"--spec", fifo.string()}, "not a regular file"}}) {
    std::vector<std::string> args = {"sweep", "--out-dir", (dir / "out").string()};
    args.insert(args.end(), c.args.begin(), c.args.end());
    // a reader of the FIFO (the check loosened) gets an empty spec instead of blocking the test
    std::atomic<bool> over{false};
    std::thread writer([&] {
      while (!over) {
        const int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd >= 0) ::close(fd);
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    });
    const auto r = run_cli(args);
    over = true;
    writer.join();
    EXPECT_EQ(r.exit_code, 2) << c.args.back() << ": " << r.err;
    EXPECT_NE(r.err.find(c.what), std::string::npos) << c.args.back() << ": " << r.err;
    EXPECT_FALSE(fs::exists(dir / "out")) << c.args.back();
  }
}

// A file where the out-dir (or one of its parents) belongs is named, not an internal error.
TEST(SweepHostile, AFileGivenAsTheOutDirIsExit2NamingIt) {
  const auto dir = scratch_dir("sweep_hostile_outfile");
  const auto spec = spec_file(dir, spec_text(dir));
  write(dir / "afile", "x");
  for (const fs::path& out : {dir / "afile", dir / "afile" / "sub"}) {
    const auto r = run_cli({"sweep", "--spec", spec.string(), "--out-dir", out.string()});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find((dir / "afile").string() + " exists and is not a folder"), std::string::npos) << r.err;
  }
  EXPECT_EQ(read(dir / "afile"), "x");
}

// While a sweep holds a results folder (its flock on .sweep.lock, held here as a running sweep
// would), a second sweep into it is refused and writes nothing; once released, it runs.
TEST(SweepHostile, ASecondSweepIntoAFolderASweepHoldsIsRefused) {
  const auto dir = scratch_dir("sweep_hostile_lock");
  const auto spec = spec_file(dir, spec_text(dir));
  const auto out = dir / "out";
  fs::create_directories(out);
  const int fd = ::open((out / ".sweep.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);
  auto r = run_cli({"sweep", "--spec", spec.string(), "--out-dir", out.string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("another sweep is running into " + out.string()), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out / "results.jsonl"));
  EXPECT_FALSE(fs::exists(out / "results.csv"));
  ::close(fd);
  r = run_cli({"sweep", "--spec", spec.string(), "--out-dir", out.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(lines_in(out / "results.jsonl"), 2u);
}

// A hand-edited line anywhere but a cut last line is exit 2 naming FILE:LINE, and the files stay as
// they were; a cut last line (no newline: a kill while it was written) is dropped and its point runs.
TEST(SweepHostile, ResumeRefusesAMalformedLineByNumberAndDropsOnlyACutLastLine) {
  const auto dir = scratch_dir("sweep_hostile_resume");
  const auto done = finished_sweep(dir, "done");
  const auto spec = dir / "spec.yaml";
  const std::string whole = read(done / "results.jsonl");
  const std::string first = whole.substr(0, whole.find('\n') + 1), second = whole.substr(first.size());
  struct Case {
    std::string text, line, what;
  };
  for (const Case& c : std::vector<Case>{
           {"{\"id\": \"p1\", \"accuracy\" 0.5}\n" + second, ":1:", "not JSON"},
           {first + "[1, 2]\n" + second, ":2:", "not a record"},
           {first + "{\"accuracy\": 0.5}\n" + second, ":2:", "no \"id\""},
           {first + "{\"id\": 7}\n", ":2:", "no \"id\""},
           {first + "\xff\xfe garbage\n", ":2:", "not JSON"}}) {
    const auto out = dir / "edited";
    fs::remove_all(out);
    fs::copy(done, out, fs::copy_options::recursive);
    write(out / "results.jsonl", c.text);
    const std::string csv = read(out / "results.csv");
    const auto r = run_cli({"sweep", "--spec", spec.string(), "--out-dir", out.string(), "--resume"});
    EXPECT_EQ(r.exit_code, 2) << c.text << ": " << r.err;
    EXPECT_NE(r.err.find((out / "results.jsonl").string() + c.line), std::string::npos) << c.text << ": " << r.err;
    EXPECT_NE(r.err.find(c.what), std::string::npos) << c.text << ": " << r.err;
    EXPECT_EQ(read(out / "results.jsonl"), c.text);
    EXPECT_EQ(read(out / "results.csv"), csv);
  }
  const auto out = dir / "cut";
  fs::copy(done, out, fs::copy_options::recursive);
  write(out / "results.jsonl", first + second.substr(0, second.size() / 2));
  const auto r = run_cli({"sweep", "--spec", spec.string(), "--out-dir", out.string(), "--resume"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("1 run now, 1 from before"), std::string::npos) << r.out;
  EXPECT_EQ(lines_in(out / "results.jsonl"), 2u);
  EXPECT_EQ(lines_in(out / "results.csv"), 3u);
}

// A results.jsonl holding one point twice (3 lines for 2 points: two sweeps that raced before the
// lock, or a hand edit) resumes to one record per point in both files, running nothing.
TEST(SweepHostile, ResumeKeepsOneRecordPerPoint) {
  const auto dir = scratch_dir("sweep_hostile_dedup");
  const auto out = finished_sweep(dir, "out");
  const std::string whole = read(out / "results.jsonl");
  write(out / "results.jsonl", whole + whole.substr(0, whole.find('\n') + 1));
  ASSERT_EQ(lines_in(out / "results.jsonl"), 3u);
  const auto r = run_cli({"sweep", "--spec", (dir / "spec.yaml").string(), "--out-dir", out.string(), "--resume"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("0 run now, 2 from before"), std::string::npos) << r.out;
  EXPECT_EQ(lines_in(out / "results.jsonl"), 2u);
  EXPECT_EQ(lines_in(out / "results.csv"), 3u);
  EXPECT_EQ(read(out / "results.jsonl"), whole);
}

// A report whose Markdown cannot be written (a folder in its place) writes neither file and leaves
// no temporary behind.
TEST(SweepHostile, AReportIsBothFilesOrNeither) {
  const auto dir = scratch_dir("sweep_hostile_report");
  const auto out = finished_sweep(dir, "out");
  const auto rep = dir / "rep";
  fs::create_directories(rep / "r.md");
  auto r = run_cli({"report", "--in", out.string(), "--out", (rep / "r").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find((rep / "r.md").string()), std::string::npos) << r.err;
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(rep)) left.push_back(e.path().filename().string());
  EXPECT_EQ(left, std::vector<std::string>{"r.md"});
  fs::remove(rep / "r.md");
  r = run_cli({"report", "--in", out.string(), "--out", (rep / "r").string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::is_regular_file(rep / "r.html"));
  EXPECT_TRUE(fs::is_regular_file(rep / "r.md"));
}
