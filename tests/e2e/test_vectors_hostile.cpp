// End-to-end: `ssmsim vectors` against hostile but realistic input (issue 17). A manifest's step
// range, index, layer, paths and field types are bounded and type-checked before anything is read
// (exit 2 naming the key, never a crash or an internal error); edits of a file's description are
// mismatches; listed files stay inside the folder and are regular; RTL write-backs are read as
// $readmemh reads them; a failed export leaves nothing behind; a negative --index is refused.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/support/testing.hpp"

using ssmsim::testing::read_text;
using ssmsim::testing::run_cli;
using ssmsim::testing::scratch_dir;
using ssmsim::testing::source_dir;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const std::string kHw = (source_dir() / "configs/hw/edge_minimal.yaml").string();

// A quantized S4D model of the sines task (one epoch) in `dir`, and its vectors of sequence 2,
// steps 3:9 (cmac, sfu and mem), in dir/v.
std::string model_and_vectors(const fs::path& dir) {
  const auto f = dir / "f.safetensors", q = dir / "q.safetensors";
  auto r = run_cli({"train", "--model", (source_dir() / "configs/models/s4d_edge.yaml").string(), "--workload", "sines",
                    "--epochs", "1", "--out", f.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = run_cli({"quantize", "--ckpt", f.string(), "--precision", (source_dir() / "configs/precision/w8a8_state8.yaml").string(),
               "--calib", "16", "--out", q.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = run_cli({"vectors", "--ckpt", q.string(), "--hw", kHw, "--workload", "sines", "--index", "2", "--out-dir",
               (dir / "v").string(), "--steps", "3:9", "--units", "cmac,sfu,mem"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return q.string();
}

// A copy of dir/v as dir/w with its manifest edited by `edit`; returns dir/w.
fs::path edited(const fs::path& dir, const std::function<void(json&)>& edit) {
  const auto w = dir / "w";
  fs::remove_all(w);
  fs::copy(dir / "v", w);
  json m = json::parse(read_text(w / "manifest.json"));
  edit(m);
  std::ofstream(w / "manifest.json") << m.dump(1);
  return w;
}

std::string fmt_hex(size_t v) {
  char b[32];
  std::snprintf(b, sizeof b, "%zx", v);
  return b;
}

// The index of the first manifest entry named `name` (e.g. "x_out").
size_t entry(const json& m, const std::string& name) {
  for (size_t i = 0; i < m["files"].size(); ++i)
    if (m["files"][i]["name"] == name) return i;
  ADD_FAILURE() << "no " << name;
  return 0;
}

}  // namespace

TEST(VectorsHostile, StepRangesIndicesAndLayersPastTheModelExitTwoNamingTheKey) {
  const auto dir = scratch_dir("vectors_hostile_bounds");
  model_and_vectors(dir);
  struct Case {
    std::function<void(json&)> edit;
    std::string key;
  };
  const Case cases[] = {
      {[](json& m) { m["source"]["steps"] = {0, 100000}; }, "'source.steps'"},  // was a heap-buffer-overflow
      {[](json& m) { m["source"]["steps"] = {780, 800}; }, "'source.steps'"},    // was an out-of-bounds read
      {[](json& m) { m["source"]["steps"] = {5, 5}; }, "'source.steps'"},
      {[](json& m) { m["source"]["steps"] = {0, 161}; }, "'source.steps'"},  // one past the 160 steps
      {[](json& m) { m["source"]["steps"] = {3}; }, "'source.steps'"},
      {[](json& m) { m["source"]["index"] = 500; }, "'source.index'"},  // the 500 test sequences: 0..499
      {[](json& m) { m["files"][entry(m, "x_out")]["layer"] = 1; }, "layer'"},  // s4d_edge has one layer
      {[](json& m) { m["files"][entry(m, "x_out")].erase("layer"); }, "layer'"},
      {[](json& m) { m["files"][entry(m, "x_out")]["name"] = "zz"; }, ".name'"},
      {[](json& m) { m["files"][entry(m, "x_out")]["width"] = 65; }, ".width'"},
      {[](json& m) { m["files"][entry(m, "x_out")]["width"] = 0; }, ".width'"},
      {[](json& m) {  // the same file listed again (each entry costs a recomputation)
         m["files"].push_back(m["files"][entry(m, "x_out")]);
       }, ".file'"},
  };
  for (const Case& c : cases) {
    const auto w = edited(dir, c.edit);
    const auto r = run_cli({"vectors", "--check", w.string()});
    EXPECT_EQ(r.exit_code, 2) << c.key << "\n" << r.err;
    EXPECT_NE(r.err.find(c.key), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("manifest.json"), std::string::npos) << r.err;
  }
  // the range itself is fine at its bounds: steps 3:9 of the export, re-read as exported
  EXPECT_EQ(run_cli({"vectors", "--check", (dir / "v").string()}).exit_code, 0);
}

TEST(VectorsHostile, ManifestFieldsOfTheWrongJsonTypeExitTwoNamingTheKey) {
  const auto dir = scratch_dir("vectors_hostile_types");
  model_and_vectors(dir);
  const json m0 = json::parse(read_text(dir / "v" / "manifest.json"));
  // every key of source, model and of each kind of file entry, replaced by a value of another type
  std::vector<std::pair<std::string, std::function<void(json&)>>> cases;
  auto other = [](const json& v) -> json { return v.is_string() ? json(7) : v.is_array() ? json("x") : json::array({"x"}); };
  for (const std::string k : {"index", "steps", "checkpoint", "hw", "workload"})
    cases.push_back({"source." + k, [k, other](json& m) { m["source"][k] = other(m["source"][k]); }});
  for (const std::string k : {"H", "L", "classes", "layers", "layer"})
    cases.push_back({"model." + k, [k, other](json& m) { m["model"][k] = other(m["model"][k]); }});
  cases.push_back({"'files'", [](json& m) { m["files"] = json::object(); }});
  cases.push_back({"'source'", [](json& m) { m["source"] = 3; }});
  cases.push_back({"source.steps[0]", [](json& m) { m["source"]["steps"][0] = -3; }});
  for (const std::string name : {"x_out", "a", "k", "u", "weight_mem"}) {
    for (const auto& [k, v] : m0["files"][entry(m0, name)].items()) {
      if (k == "weight_map" || k == "layout") continue;
      cases.push_back({"." + k + "'", [name, k = k, other](json& m) {
                         json& f = m["files"][entry(m, name)];
                         f[k] = other(f[k]);
                       }});
    }
  }
  cases.push_back({".tensor'", [](json& m) { m["files"][entry(m, "weight_mem")]["weight_map"][0]["tensor"] = 1; }});
  cases.push_back({".tensor'", [](json& m) { m["files"][entry(m, "weight_mem")]["weight_map"][0]["tensor"] = "nope"; }});
  ASSERT_GT(cases.size(), 50u);
  for (const auto& [key, edit] : cases) {
    const auto w = edited(dir, edit);
    const auto r = run_cli({"vectors", "--check", w.string()});
    // the source's paths are checked before the model loads; everything else exits 2 naming the key
    EXPECT_EQ(r.exit_code, 2) << key << "\n" << r.err;
    EXPECT_NE(r.err.find(key), std::string::npos) << key << "\n" << r.err;
    EXPECT_EQ(r.err.find("internal error"), std::string::npos) << key << "\n" << r.err;
  }
}

TEST(VectorsHostile, EditsOfAFilesShapeOrderSignednessOrScaleAreMismatches) {
  const auto dir = scratch_dir("vectors_hostile_describe");
  model_and_vectors(dir);
  struct Case {
    std::function<void(json&)> edit;
    std::string said;
  };
  const Case cases[] = {
      {[](json& m) { m["files"][entry(m, "x_out")]["shape"] = {6, 1024}; }, "shape"},
      {[](json& m) { m["files"][entry(m, "u")]["shape"][0] = 7; }, "shape"},
      {[](json& m) { m["files"][entry(m, "x_out")]["count"] = 3; }, "count"},
      {[](json& m) { m["files"][entry(m, "x_out")]["order"] = "[state][t][re,im]"; }, "order"},
      {[](json& m) { m["files"][entry(m, "u")]["order"] = "[h][t]"; }, "order"},
      {[](json& m) { m["files"][entry(m, "bu")]["signed"] = false; }, "signed"},
      {[](json& m) { m["files"][entry(m, "x_out")]["signed"] = false; }, "signed"},
      {[](json& m) { m["files"][entry(m, "x_out")]["scale"] = 0.5; }, "scale"},
      {[](json& m) { m["files"][entry(m, "u")]["format"] = "Q9.9"; }, "format"},
      {[](json& m) { m["files"][entry(m, "u")]["rounding"] = "no_such_rounding"; }, "rounding"},
      {[](json& m) { m["files"][entry(m, "u")]["unit"] = "mve"; }, "unit"},
      {[](json& m) { m["model"]["H"] = m["model"]["H"].get<int>() + 1; }, "model.H"},
      {[](json& m) { m["model"]["L"] = 100; }, "model.L"},
      {[](json& m) { m["files"][entry(m, "weight_mem")]["width"] = 8; }, "width"},
      {[](json& m) { m["files"][entry(m, "weight_mem")]["count"] = 1; }, "count"},
  };
  for (const Case& c : cases) {
    const auto w = edited(dir, c.edit);
    const auto r = run_cli({"vectors", "--check", w.string()});
    EXPECT_EQ(r.exit_code, 1) << c.said << "\n" << r.err;
    EXPECT_NE(r.err.find("mismatch"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(c.said), std::string::npos) << c.said << "\n" << r.err;
  }
}

TEST(VectorsHostile, ListedFilesStayInsideTheFolderAndSpecialFilesAreRefused) {
  const auto dir = scratch_dir("vectors_hostile_paths");
  model_and_vectors(dir);
  std::ofstream(dir / "outside.hex") << "0\n";
  for (const std::string path : {"/etc/passwd", "../outside.hex", "../v/L0_cmac_x_out.hex", "./L0_cmac_x_out.hex", ""}) {
    const auto w = edited(dir, [&](json& m) { m["files"][entry(m, "x_out")]["file"] = path; });
    const auto r = run_cli({"vectors", "--check", w.string()});
    EXPECT_EQ(r.exit_code, 2) << path << "\n" << r.err;
    EXPECT_NE(r.err.find(".file'"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("root:"), std::string::npos) << r.err;  // /etc/passwd's first line is never echoed
  }
  // the listed name, but a symbolic link out of the folder, a FIFO or a device: refused, never read
  const auto w = edited(dir, [](json&) {});
  const auto x = w / "L0_cmac_x_out.hex";
  const std::function<void()> makers[] = {
      [&] { fs::create_symlink(dir / "v" / "L0_cmac_x_out.hex", x); },
      [&] { ASSERT_EQ(::mkfifo(x.c_str(), 0600), 0); },
      [&] { fs::create_symlink("/dev/zero", x); },
      [&] { fs::create_directory(x); },
  };
  for (const auto& make : makers) {
    fs::remove_all(x);
    make();
    const auto r = run_cli({"vectors", "--check", w.string()});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("L0_cmac_x_out.hex"), std::string::npos) << r.err;
  }
  // the manifest itself a FIFO: refused, not waited on
  fs::remove(w / "manifest.json");
  ASSERT_EQ(::mkfifo((w / "manifest.json").c_str(), 0600), 0);
  const auto r = run_cli({"vectors", "--check", w.string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("not a regular file"), std::string::npos) << r.err;
}

TEST(VectorsHostile, TheCheckResolvesTheCheckpointAgainstTheVectorsFolder) {
  const auto dir = scratch_dir("vectors_hostile_relative");
  model_and_vectors(dir);
  // exported with relative paths from dir, checked from another folder
  fs::create_directories(dir / "elsewhere");
  auto r = run_cli({"vectors", "--ckpt", "q.safetensors", "--hw", kHw, "--workload", "sines", "--out-dir", "rel",
                    "--steps", "0:4", "--units", "sfu"},
                   dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(read_text(dir / "rel" / "manifest.json"))["source"]["checkpoint"], "../q.safetensors");
  r = run_cli({"vectors", "--check", "../rel"}, dir / "elsewhere");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // a hand-written relative checkpoint is the folder's neighbour, not the current folder's
  const auto w = edited(dir, [](json& m) { m["source"]["checkpoint"] = "q.safetensors"; });
  fs::copy_file(dir / "q.safetensors", dir / "elsewhere" / "q.safetensors");
  r = run_cli({"vectors", "--check", w.string()}, dir / "elsewhere");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("'source.checkpoint'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find((w / "q.safetensors").string()), std::string::npos) << r.err;
}

TEST(VectorsHostile, RtlWriteBacksAreReadAsReadmemhReadsThem) {
  const auto dir = scratch_dir("vectors_hostile_rtl");
  model_and_vectors(dir);
  // as a simulator's $writememh may write them: upper case, CRLF, comments, @addr lines, `_`
  auto rewrite = [&](const std::string& file, const std::function<std::string(const std::vector<std::string>&)>& f) {
    const auto w = edited(dir, [](json&) {});
    std::vector<std::string> words;
    std::ifstream in(w / file);
    for (std::string l; std::getline(in, l);) words.push_back(l);
    std::ofstream(w / file, std::ios::binary) << f(words);
    return w;
  };
  auto upper = [](std::string s) {
    for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
  };
  const std::function<std::string(const std::vector<std::string>&)> good[] = {
      [&](const auto& v) { std::string s; for (const auto& w : v) s += upper(w) + "\n"; return s; },
      [&](const auto& v) { std::string s; for (const auto& w : v) s += w + "\r\n"; return s; },
      [&](const auto& v) {
        std::string s = "// written by the RTL testbench\r\n/* a block\n comment */\n@0\n";
        for (size_t i = 0; i < v.size(); ++i) s += v[i] + (i % 4 == 3 ? "  // four\n" : " ");
        return s;
      },
      [&](const auto& v) {  // backwards, each word at its address
        std::string s;
        for (size_t i = v.size(); i-- > 0;) s += "@" + upper(fmt_hex(i)) + "\n" + v[i] + "\n";
        return s;
      },
      [&](const auto& v) { std::string s; for (const auto& w : v) s += w.substr(0, 1) + "_" + w.substr(1) + "\n"; return s; },
  };
  for (const std::string file : {"L0_cmac_x_out.hex", "L0_sfu_u.hex", "weight_mem.hex"})
    for (size_t k = 0; k < std::size(good); ++k) {
      const auto w = rewrite(file, good[k]);
      const auto r = run_cli({"vectors", "--check", w.string()});
      EXPECT_EQ(r.exit_code, 0) << file << " form " << k << "\n" << r.err;
    }
  // and what $readmemh would not take, or that misses or moves a word, is a mismatch
  const std::pair<std::string, std::function<std::string(const std::vector<std::string>&)>> bad[] = {
      {"no value", [](const auto& v) { std::string s = "@1\n"; for (size_t i = 1; i < v.size(); ++i) s += v[i] + "\n"; return s; }},
      {"past the", [](const auto& v) { std::string s; for (const auto& w : v) s += w + "\n"; return s + "@" + fmt_hex(v.size()) + " 0\n"; }},
      {"expected", [](const auto& v) {  // a later write to an address wins, as in $readmemh
         std::string s, last = v[0];
         for (const auto& w : v) s += w + "\n";
         last.back() = last.back() == '0' ? '1' : '0';
         return s + "@0 " + last + "\n";
       }},
      {"hex value", [](const auto& v) { std::string s; for (const auto& w : v) s += w + "\n"; s[0] = 'x'; return s; }},
      {"hex value", [](const auto& v) { std::string s; for (const auto& w : v) s += w + "\n"; return "@zz\n" + s; }},
  };
  for (const auto& [said, make] : bad) {
    const auto w = rewrite("L0_cmac_x_out.hex", make);
    const auto r = run_cli({"vectors", "--check", w.string()});
    EXPECT_EQ(r.exit_code, 1) << said << "\n" << r.err;
    EXPECT_NE(r.err.find(said), std::string::npos) << said << "\n" << r.err;
  }
}

// The ssmsim binary run with its files limited to `max_bytes` (a write past it fails as on a full
// disk: SIGXFSZ ignored, the write returns EFBIG); returns the exit status.
int run_with_file_limit(const std::vector<std::string>& args, rlim_t max_bytes) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::signal(SIGXFSZ, SIG_IGN);
    const rlimit lim{max_bytes, max_bytes};
    ::setrlimit(RLIMIT_FSIZE, &lim);
    if (!std::freopen("/dev/null", "w", stdout) || !std::freopen("/dev/null", "w", stderr)) ::_exit(126);
    std::vector<std::string> store{SSMSIM_TEST_BIN};
    store.insert(store.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : store) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST(VectorsHostile, AFailedExportLeavesNothingBehindAndKeepsThePreviousVectors) {
  const auto dir = scratch_dir("vectors_hostile_partial");
  const std::string q = model_and_vectors(dir);
  uintmax_t largest = 0, smallest = UINTMAX_MAX;
  for (const auto& e : fs::directory_iterator(dir / "v")) {
    largest = std::max(largest, e.file_size());
    if (e.path().extension() == ".hex") smallest = std::min(smallest, e.file_size());
  }
  ASSERT_LT(smallest, largest / 2);  // some files are written whole before one fails
  const std::vector<std::string> args = {"vectors", "--ckpt", q, "--hw", kHw, "--workload", "sines", "--index", "2",
                                         "--steps", "3:9", "--units", "cmac,sfu,mem", "--out-dir"};
  auto with_out = [&](const fs::path& out) {
    auto a = args;
    a.push_back(out.string());
    return a;
  };
  auto leftovers = [&] {
    size_t n = 0;
    for (const auto& e : fs::directory_iterator(dir))
      n += e.path().filename().string().find(".tmp-") != std::string::npos ||
           e.path().filename().string().find(".old-") != std::string::npos;
    return n;
  };
  // a new folder: a full disk midway leaves no folder at all, and no temporary one
  EXPECT_EQ(run_with_file_limit(with_out(dir / "new"), largest / 2), 2);
  EXPECT_FALSE(fs::exists(dir / "new"));
  EXPECT_EQ(leftovers(), 0u);
  // an existing vectors folder: left as it was
  const std::string before = read_text(dir / "v" / "manifest.json");
  std::ofstream(dir / "v" / "L0_cmac_x_out.hex", std::ios::app) << "";
  EXPECT_EQ(run_with_file_limit(with_out(dir / "v"), largest / 2), 2);
  EXPECT_EQ(read_text(dir / "v" / "manifest.json"), before);
  EXPECT_EQ(run_cli({"vectors", "--check", (dir / "v").string()}).exit_code, 0);
  EXPECT_EQ(leftovers(), 0u);
  // without the limit the same export replaces it whole
  EXPECT_EQ(run_with_file_limit(with_out(dir / "v"), RLIM_INFINITY), 0);
  EXPECT_EQ(leftovers(), 0u);
  // a folder holding other files is not a vectors folder to replace; a file is not a folder
  fs::create_directories(dir / "mine");
  std::ofstream(dir / "mine" / "notes.txt") << "keep\n";
  auto r = run_cli(with_out(dir / "mine"));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("holds other files"), std::string::npos) << r.err;
  EXPECT_EQ(read_text(dir / "mine" / "notes.txt"), "keep\n");
  r = run_cli(with_out(dir / "mine" / "notes.txt"));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(leftovers(), 0u);
}

TEST(VectorsHostile, NegativeIndicesAndStepsAreRefused) {
  const auto dir = scratch_dir("vectors_hostile_negative");
  const auto q = dir / "q.safetensors";  // never read: the options are refused first
  std::ofstream(q) << "x";
  for (const std::vector<std::string> extra :
       {std::vector<std::string>{"--index", "-1"}, {"--steps", "-1:5"}, {"--steps", "0:-5"}, {"--steps", " 1:5"},
        {"--steps", "1:5x"}, {"--steps", "99999999999999999999:5"}}) {
    std::vector<std::string> a = {"vectors", "--ckpt", q.string(), "--hw", kHw, "--workload", "sines", "--out-dir",
                                  (dir / "v").string()};
    a.insert(a.end(), extra.begin(), extra.end());
    const auto r = run_cli(a);
    EXPECT_EQ(r.exit_code, 2) << extra[1] << "\n" << r.err;
    EXPECT_NE(r.err.find(extra[0]), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("18446744073709551615"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(dir / "v"));
  }
}
