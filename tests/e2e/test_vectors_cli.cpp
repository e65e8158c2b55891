// End-to-end: `ssmsim vectors` exports one sequence's unit-level vectors; they are identical across
// runs and thread counts, the manifest describes every file, and `--check` agrees with the
// C-model and finds an injected mismatch, naming the unit, the step and the element.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "tests/support/testing.hpp"

using ssmsim::testing::have_mnist;
using ssmsim::testing::read_text;
using ssmsim::testing::run_cli;
using ssmsim::testing::scratch_dir;
using ssmsim::testing::source_dir;
namespace fs = std::filesystem;

namespace {


size_t lines(const fs::path& p) {
  std::ifstream f(p);
  size_t n = 0;
  for (std::string l; std::getline(f, l);) ++n;
  return n;
}

// A quantized model of the sines task (trained one epoch), S4D or S5; `precision` a preset's name
// or a YAML file's path.
std::string model(const fs::path& dir, const std::string& preset, const std::string& precision) {
  const bool file = fs::path(precision).extension() == ".yaml";
  const auto f = dir / (preset + ".safetensors"),
             q = dir / (preset + "_" + fs::path(precision).stem().string() + ".safetensors");
  auto r = run_cli({"train", "--model", (source_dir() / "configs/models" / (preset + ".yaml")).string(), "--workload",
                    "sines", "--epochs", "1", "--out", f.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = run_cli({"quantize", "--ckpt", f.string(), "--precision",
               file ? precision : (source_dir() / "configs/precision" / (precision + ".yaml")).string(), "--calib", "16",
               "--out", q.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return q.string();
}

}  // namespace

TEST(VectorsCli, AreIdenticalAcrossRunsAndThreadCountsAndTheManifestDescribesEveryFile) {
  const auto dir = scratch_dir("vectors_golden");
  for (const std::string preset : {"s4d_edge", "s5_small"}) {
    const std::string q = model(dir, preset, "w8a8_state8");
    const std::string hw = (source_dir() / (preset == "s5_small" ? "configs/hw/wide.yaml" : "configs/hw/edge_minimal.yaml")).string();
    const auto a = dir / (preset + "_a"), b = dir / (preset + "_b");
    auto r = run_cli({"vectors", "--ckpt", q, "--hw", hw, "--workload", "sines", "--index", "5", "--out-dir", a.string(),
                      "--threads", "1"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = run_cli({"vectors", "--ckpt", q, "--hw", hw, "--workload", "sines", "--index", "5", "--out-dir", b.string(),
                 "--threads", "2"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto man = nlohmann::json::parse(read_text(a / "manifest.json"));
    std::set<std::string> listed;
    for (const auto& f : man["files"]) {
      const std::string name = f["file"];
      listed.insert(name);
      EXPECT_EQ(read_text(a / name), read_text(b / name)) << preset << " " << name;  // golden: the same bytes
      EXPECT_EQ(lines(a / name), f["count"].get<size_t>()) << name;
      for (const char* key : {"unit", "order", "width", "rounding", "overflow", "count"}) EXPECT_TRUE(f.contains(key)) << name << " " << key;
      // every line is a hex value of the declared width
      std::ifstream in(a / name);
      const size_t digits = (f["width"].get<size_t>() + 3) / 4;
      for (std::string l; std::getline(in, l);) ASSERT_EQ(l.size(), digits) << name;
    }
    for (const auto& e : fs::directory_iterator(a))
      if (e.path().filename() != "manifest.json") {
        EXPECT_TRUE(listed.count(e.path().filename().string())) << e.path();
      }
    EXPECT_TRUE(listed.count("L0_cmac_x_out.hex"));
    EXPECT_TRUE(listed.count("weight_mem.hex"));
    EXPECT_TRUE(listed.count("logits.hex"));
    r = run_cli({"vectors", "--check", a.string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("equal to the C-model"), std::string::npos) << r.out;
  }
}

TEST(VectorsCli, TheCheckFindsAnInjectedMismatchAndNamesUnitStepAndElement) {
  const auto dir = scratch_dir("vectors_check");
  const std::string q = model(dir, "s4d_edge", "hetero_6x");
  const auto v = dir / "v";
  auto r = run_cli({"vectors", "--ckpt", q, "--hw", (source_dir() / "configs/hw/edge_minimal.yaml").string(), "--workload",
                    "sines", "--index", "2", "--out-dir", v.string(), "--steps", "3:9", "--units", "cmac,sfu"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(fs::exists(v / "weight_mem.hex"));  // --units limits the export
  const auto man = nlohmann::json::parse(read_text(v / "manifest.json"));
  EXPECT_EQ(man["source"]["steps"][0], 3);
  // one value of the state after step 3 + 2, element 7, changed
  const auto file = v / "L0_cmac_x_out.hex";
  std::string text = read_text(file);
  const size_t per_step = 2 * man["model"]["states"][0].get<size_t>();
  size_t pos = 0;
  for (size_t i = 0; i < 2 * per_step + 7; ++i) pos = text.find('\n', pos) + 1;
  text[pos] = text[pos] == '0' ? '1' : '0';
  std::ofstream(file) << text;
  r = run_cli({"vectors", "--check", v.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("L0_cmac_x_out.hex (unit cmac, layer 0), step 5, element 7"), std::string::npos) << r.err;
  // bad input: a float checkpoint, an empty step range, an unknown unit
  r = run_cli({"vectors", "--ckpt", (dir / "s4d_edge.safetensors").string(), "--hw",
               (source_dir() / "configs/hw/edge_minimal.yaml").string(), "--workload", "sines", "--out-dir", (dir / "x").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("float checkpoint"), std::string::npos) << r.err;
  r = run_cli({"vectors", "--ckpt", q, "--hw", (source_dir() / "configs/hw/edge_minimal.yaml").string(), "--workload", "sines",
               "--out-dir", (dir / "x").string(), "--units", "alu"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown unit 'alu'"), std::string::npos) << r.err;
}

// Changes the hex digit at the start of line `line` of a file.
void flip_line(const fs::path& file, size_t line) {
  std::string text = read_text(file);
  size_t pos = 0;
  for (size_t i = 0; i < line; ++i) pos = text.find('\n', pos) + 1;
  text[pos] = text[pos] == '0' ? '1' : '0';
  std::ofstream(file) << text;
}

// Zero points and a block-floating-point state operand (docs/fixed_point.md 9.2-9.3), S4D and S5:
// the vectors hold A's stored (unsigned) codes with their zero points in the manifest, the operand
// each update multiplies (x_in) with its parts' exponents (e_in, re and im interleaved), the
// operand stage's operands (xo) and block exponents (xe, of each block's real parts and of its
// imaginary parts, interleaved) after every step, and some block's parts have different exponents;
// `--check` agrees, and finds one edited block exponent, one edited exponent of an update, one
// edited operand and an edited zero point of the weight map.
TEST(VectorsCli, ZeroPointsOperandsAndBlockExponentsRoundTripAndAnEditIsFound) {
  const auto dir = scratch_dir("vectors_zp_operand");
  const auto yaml = dir / "zp_block.yaml";
  std::ofstream(yaml) << "name: zp_block\ndefault: quantized\n"
                         "defaults: {bits: 8, scheme: asymmetric, granularity: per_channel, calibration: maxabs}\n"
                         "components:\n"
                         "  x: {bits: 16, scheme: symmetric, granularity: per_tensor, operand_bits: 8, operand_block: 4}\n"
                         "  ssm_in: {scheme: symmetric, granularity: per_tensor}\n"
                         "  ssm_out: {scheme: symmetric, granularity: per_tensor}\n"
                         "  act: {scheme: symmetric, granularity: per_tensor}\n"
                         "  bias: {bits: 32, scheme: symmetric, granularity: per_tensor}\n";
  for (const std::string preset : {"s4d_edge", "s5_small"}) {
    const std::string q = model(dir, preset, yaml.string());
    const std::string hw = (source_dir() / (preset == "s5_small" ? "configs/hw/wide.yaml" : "configs/hw/edge_minimal.yaml")).string();
    const auto v = dir / (preset + "_v");
    auto r = run_cli({"vectors", "--ckpt", q, "--hw", hw, "--workload", "sines", "--index", "1", "--out-dir", v.string(),
                      "--steps", "0:8"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto man = nlohmann::json::parse(read_text(v / "manifest.json"));
    EXPECT_EQ(man["model"]["operand"][0]["mode"], "block") << preset;
    EXPECT_EQ(man["model"]["operand"][0]["block"], 4) << preset;
    const size_t S = man["model"]["states"][0].get<size_t>();
    std::map<std::string, nlohmann::json> files;
    for (const auto& f : man["files"]) files[f["file"].get<std::string>()] = f;
    ASSERT_TRUE(files.count("L0_cmac_a.hex") && files.count("L0_cmac_xo.hex") && files.count("L0_cmac_xe.hex") &&
                files.count("L0_cmac_e_in.hex"));
    EXPECT_FALSE(files["L0_cmac_a.hex"]["signed"].get<bool>());
    EXPECT_EQ(files["L0_cmac_a.hex"]["width"], 8);
    EXPECT_TRUE(files["L0_cmac_a.hex"].contains("zero_point"));
    EXPECT_EQ(files["L0_cmac_xo.hex"]["width"], 8);
    EXPECT_EQ(files["L0_cmac_x_in.hex"]["width"], 8);   // the lane multiplies the operand
    EXPECT_EQ(files["L0_cmac_x_out.hex"]["width"], 16);  // and writes the stored state
    EXPECT_EQ(lines(v / "L0_cmac_e_in.hex"), 8 * 2 * S);
    EXPECT_EQ(lines(v / "L0_cmac_xo.hex"), 8 * 2 * S);
    r = run_cli({"vectors", "--check", v.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    // two exponents per block, (re, im); some differ
    const auto keep = read_text(v / "L0_cmac_xe.hex");
    const size_t blocks = lines(v / "L0_cmac_xe.hex") / 8 / 2;
    EXPECT_EQ(lines(v / "L0_cmac_xe.hex"), 8 * 2 * blocks);
    EXPECT_GE(blocks, S / 4) << preset;
    {
      std::istringstream in(keep);
      std::string er, ei;
      bool differ = false;
      while (in >> er >> ei) differ = differ || std::stoi(er, nullptr, 16) != std::stoi(ei, nullptr, 16);
      EXPECT_TRUE(differ) << preset;
    }
    // the imaginary parts' exponent of block 0, step 2, edited
    flip_line(v / "L0_cmac_xe.hex", 2 * 2 * blocks + 1);
    r = run_cli({"vectors", "--check", v.string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("L0_cmac_xe.hex (unit cmac, layer 0), step 2, element 1"), std::string::npos) << r.err;
    std::ofstream(v / "L0_cmac_xe.hex") << keep;
    // the real part's exponent of state 1's update at step 3 edited
    const auto keep_ein = read_text(v / "L0_cmac_e_in.hex");
    flip_line(v / "L0_cmac_e_in.hex", 3 * 2 * S + 2);
    r = run_cli({"vectors", "--check", v.string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("L0_cmac_e_in.hex (unit cmac, layer 0), step 3, element 2"), std::string::npos) << r.err;
    std::ofstream(v / "L0_cmac_e_in.hex") << keep_ein;
    // one operand of step 4 edited
    const auto keep_xo = read_text(v / "L0_cmac_xo.hex");
    flip_line(v / "L0_cmac_xo.hex", 4 * 2 * S + 3);
    r = run_cli({"vectors", "--check", v.string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("L0_cmac_xo.hex (unit cmac, layer 0), step 4, element 3"), std::string::npos) << r.err;
    std::ofstream(v / "L0_cmac_xo.hex") << keep_xo;
  }
  // a zero point of A in the weight map edited
  const auto v = dir / "s4d_edge_v";
  auto man = nlohmann::json::parse(read_text(v / "manifest.json"));
  for (auto& f : man["files"])
    if (f.contains("weight_map"))
      for (auto& e : f["weight_map"])
        if (e["tensor"] == "layers.0.A") e["zero_point"][0] = e["zero_point"][0].get<int>() + 1;
  std::ofstream(v / "manifest.json") << man.dump();
  const auto r = run_cli({"vectors", "--check", v.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("signedness of 'layers.0.A'"), std::string::npos) << r.err;
}

// Block floating point on the activations that enter multipliers (docs/fixed_point.md 9.3,
// "Activation operands": input, ssm_in, gelu_out, pool), S4D and S5, 3 features per exponent: the
// files of the input, u, act and the mean-pooled vector hold the values the consumers multiply
// (v' = m 2^e, one bit wider than the point) with the block floating point in the manifest, some
// value is not a code of the point's own (the narrowing shows); `--check` agrees, and finds one
// edited value of u, one of the pooled vector and an edited mantissa width in the manifest.
TEST(VectorsCli, ActivationOperandsRoundTripAndAnEditIsFound) {
  const auto dir = scratch_dir("vectors_act_operand");
  const auto yaml = dir / "act_block3.yaml";
  std::ofstream(yaml) << "name: act_block3\ndefault: quantized\n"
                         "defaults: {bits: 8, scheme: symmetric, granularity: per_tensor, calibration: maxabs}\n"
                         "components:\n"
                         "  input: {operand_bits: 4, operand_block: 3}\n"
                         "  ssm_in: {operand_bits: 4, operand_block: 3}\n"
                         "  gelu_out: {operand_bits: 5, operand_block: 3}\n"
                         "  pool: {operand_bits: 4, operand_block: 3}\n"
                         "  bias: {bits: 32}\n";
  for (const std::string preset : {"s4d_edge", "s5_small"}) {
    const std::string q = model(dir, preset, yaml.string());
    const std::string hw = (source_dir() / "configs/hw/wide.yaml").string();
    const auto v = dir / (preset + "_v");
    auto r = run_cli({"vectors", "--ckpt", q, "--hw", hw, "--workload", "sines", "--index", "1", "--out-dir", v.string(),
                      "--steps", "0:8"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto man = nlohmann::json::parse(read_text(v / "manifest.json"));
    const size_t H = man["model"]["H"].get<size_t>();
    std::map<std::string, nlohmann::json> files;
    for (const auto& f : man["files"]) files[f["file"].get<std::string>()] = f;
    for (const char* f : {"input.hex", "L0_sfu_u.hex", "L0_sfu_act.hex", "pool.hex"}) {
      ASSERT_TRUE(files.count(f)) << f;
      EXPECT_EQ(files[f]["width"], 9) << f;
      EXPECT_EQ(files[f]["operand"]["block"], 3) << f;
    }
    EXPECT_EQ(files["L0_sfu_u.hex"]["operand"]["bits"], 4);
    EXPECT_EQ(files["L0_sfu_act.hex"]["operand"]["bits"], 5);
    EXPECT_FALSE(files["L0_sfu_y.hex"].contains("operand"));  // y is not narrowed
    EXPECT_EQ(lines(v / "pool.hex"), H);
    // every u of a block shares one exponent: a block of 4-bit mantissas has at most 15 values
    // apart from 0; the narrowed values are coarser than 8-bit codes (some low bit pattern absent)
    {
      std::istringstream in(read_text(v / "L0_sfu_u.hex"));
      std::set<int> low_bits;
      for (std::string l; std::getline(in, l);) low_bits.insert(std::stoi(l, nullptr, 16) & 7);
      EXPECT_LT(low_bits.size(), 8u) << preset;
    }
    r = run_cli({"vectors", "--check", v.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto keep_u = read_text(v / "L0_sfu_u.hex");
    flip_line(v / "L0_sfu_u.hex", 2 * H + 1);
    r = run_cli({"vectors", "--check", v.string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("L0_sfu_u.hex (unit sfu, layer 0), step 2, element 1"), std::string::npos) << r.err;
    std::ofstream(v / "L0_sfu_u.hex") << keep_u;
    const auto keep_pool = read_text(v / "pool.hex");
    flip_line(v / "pool.hex", 3);
    r = run_cli({"vectors", "--check", v.string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("pool.hex (unit sfu), element 3"), std::string::npos) << r.err;
    std::ofstream(v / "pool.hex") << keep_pool;
    const auto keep_man = read_text(v / "manifest.json");
    auto edited = man;
    for (auto& f : edited["files"])
      if (f["file"] == "L0_sfu_act.hex") f["operand"]["bits"] = 4;
    std::ofstream(v / "manifest.json") << edited.dump();
    r = run_cli({"vectors", "--check", v.string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("L0_sfu_act.hex (unit sfu): the manifest's operand or width differs"), std::string::npos)
        << r.err;
    std::ofstream(v / "manifest.json") << keep_man;
    r = run_cli({"vectors", "--check", v.string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }
}

// Separate parts (A, B, C: each part its own zero point, the coarser part's products shifted by
// its part shift; docs/fixed_point.md 9.2) and A in delta form (the update adds the stored state;
// 9.3), with an 8-bit block-floating-point state operand, S4D and S5: the manifest's A entry and
// the weight map carry per channel the parts' zero points and shifts, [re, im], and A's
// "form": "delta"; the k file has the third term's constants (ratio 1: 2^30, shift 30); `--check`
// agrees, and finds an edited part shift in the weight map, the form flag dropped from A's entry
// and an edited third-term constant.
TEST(VectorsCli, SeparatePartsAndDeltaFormAreInTheManifestAndAnEditIsFound) {
  const auto dir = scratch_dir("vectors_parts_delta");
  const auto yaml = dir / "parts_delta.yaml";
  std::ofstream(yaml) << "name: parts_delta\ndefault: quantized\n"
                         "defaults: {bits: 8, scheme: asymmetric, granularity: per_channel, scale: dyadic, "
                         "calibration: maxabs}\n"
                         "components:\n"
                         "  A: {parts: separate, form: delta}\n"
                         "  B: {parts: separate}\n"
                         "  C: {parts: separate}\n"
                         "  x: {bits: 16, scheme: symmetric, granularity: per_tensor, operand_bits: 8, operand_block: 1}\n"
                         "  ssm_in: {scheme: symmetric, granularity: per_tensor}\n"
                         "  ssm_out: {scheme: symmetric, granularity: per_tensor}\n"
                         "  act: {scheme: symmetric, granularity: per_tensor}\n"
                         "  bias: {bits: 32, scheme: symmetric, granularity: per_tensor}\n";
  for (const std::string preset : {"s4d_edge", "s5_small"}) {
    const std::string q = model(dir, preset, yaml.string());
    const std::string hw =
        (source_dir() / (preset == "s5_small" ? "configs/hw/wide.yaml" : "configs/hw/edge_minimal.yaml")).string();
    const auto v = dir / (preset + "_v");
    auto r = run_cli({"vectors", "--ckpt", q, "--hw", hw, "--workload", "sines", "--index", "1", "--out-dir", v.string(),
                      "--steps", "0:8"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto man = nlohmann::json::parse(read_text(v / "manifest.json"));
    const size_t S = man["model"]["states"][0].get<size_t>();
    std::map<std::string, nlohmann::json> files;
    for (const auto& f : man["files"]) files[f["file"].get<std::string>()] = f;
    const nlohmann::json& a = files["L0_cmac_a.hex"];
    EXPECT_EQ(a["parts"], "separate") << preset;
    EXPECT_EQ(a["form"], "delta") << preset;
    EXPECT_FALSE(a["signed"].get<bool>());
    const size_t channels = preset == "s5_small" ? S : man["model"]["H"].get<size_t>();
    ASSERT_EQ(a["zero_point"].size(), channels) << preset;  // per channel: [re, im]
    ASSERT_EQ(a["part_shift"].size(), channels) << preset;
    bool shifted = false;
    for (const auto& k : a["part_shift"]) {
      ASSERT_EQ(k.size(), 2u);
      EXPECT_TRUE(k[0] == 0 || k[1] == 0);  // the finer part is not shifted
      shifted = shifted || k[0].get<int>() + k[1].get<int>() > 0;
    }
    EXPECT_TRUE(shifted) << preset;
    EXPECT_EQ(files["L0_cmac_k.hex"]["order"], "[state][ka, sa, kb, sb, kx, sx]");
    EXPECT_EQ(files["L0_cmac_k.hex"]["shape"], nlohmann::json({S, 6}));
    {
      std::istringstream k(read_text(v / "L0_cmac_k.hex"));
      std::string w[6];
      k >> w[0] >> w[1] >> w[2] >> w[3] >> w[4] >> w[5];
      EXPECT_EQ(w[4], "40000000");  // the stored state's ratio 1: K = 2^30, shift 30
      EXPECT_EQ(w[5], "0000001e");
    }
    for (const auto& e : files["state_mem_init.hex"]["weight_map"])
      if (e["tensor"] == "layers.0.B" || e["tensor"] == "layers.0.C") {
        EXPECT_EQ(e["parts"], "separate");
        EXPECT_EQ(e["part_shift"].size(), e["tensor"] == "layers.0.C" ? man["model"]["H"].get<size_t>() : channels);
        EXPECT_FALSE(e.contains("form"));
      }
    r = run_cli({"vectors", "--check", v.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    // a third-term constant of state 2 edited
    const auto keep_k = read_text(v / "L0_cmac_k.hex");
    flip_line(v / "L0_cmac_k.hex", 2 * 6 + 5);
    r = run_cli({"vectors", "--check", v.string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("L0_cmac_k.hex (unit cmac, layer 0), element 17"), std::string::npos) << r.err;
    std::ofstream(v / "L0_cmac_k.hex") << keep_k;
    // the form flag dropped from A's entry
    const std::string keep_man = read_text(v / "manifest.json");
    for (auto& f : man["files"])
      if (f["file"] == "L0_cmac_a.hex") f.erase("form");
    std::ofstream(v / "manifest.json") << man.dump();
    r = run_cli({"vectors", "--check", v.string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("L0_cmac_a.hex (unit cmac, layer 0): the manifest's zero points, part shifts, form"),
              std::string::npos)
        << r.err;
    // a part shift of C in the weight map edited
    man = nlohmann::json::parse(keep_man);
    for (auto& f : man["files"])
      if (f.contains("weight_map"))
        for (auto& e : f["weight_map"])
          if (e["tensor"] == "layers.0.C") e["part_shift"][0][0] = e["part_shift"][0][0].get<int>() + 1;
    std::ofstream(v / "manifest.json") << man.dump();
    r = run_cli({"vectors", "--check", v.string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("part shifts, form or signedness of 'layers.0.C'"), std::string::npos) << r.err;
  }
}

// Zero points on activation points (docs/fixed_point.md 9.2; docs/vectors.md, "Zero points"): every
// activation point 8-bit asymmetric, S4D and S5. Every activation file holds the point's stored
// codes q = v + zp (unsigned, 8 bits, its zero point in its manifest entry and in
// model.activation_zero_points), `--check` agrees; the lowest bit of one stored GELU output flipped
// is found, and so is an edited zero point in the manifest.
TEST(VectorsCli, AsymmetricActivationPointsHoldTheirStoredCodesAndAFlippedBitIsFound) {
  const auto dir = scratch_dir("vectors_act_zero_points");
  const auto yaml = dir / "act_asym.yaml";
  const std::string s = "{scheme: asymmetric}";
  std::ofstream(yaml) << "name: act_asym\ndefault: quantized\n"
                         "defaults: {bits: 8, scheme: symmetric, granularity: per_tensor, calibration: maxabs}\n"
                         "components:\n  act: " << s << "\n  gate: {scheme: symmetric}\n  ssm_in: " << s
                      << "\n  ssm_out: " << s << "\n  residual: " << s << "\n  x: {bits: 16}\n  bias: {bits: 32}\n";
  for (const std::string preset : {"s4d_edge", "s5_small"}) {
    const std::string q = model(dir, preset, yaml.string());
    const std::string hw = (source_dir() / (preset == "s5_small" ? "configs/hw/wide.yaml" : "configs/hw/edge_minimal.yaml")).string();
    const auto v = dir / (preset + "_v");
    auto r = run_cli({"vectors", "--ckpt", q, "--hw", hw, "--workload", "sines", "--index", "1", "--out-dir", v.string(),
                      "--steps", "0:8"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto man = nlohmann::json::parse(read_text(v / "manifest.json"));
    const auto& zps = man["model"]["activation_zero_points"];
    for (const char* p : {"input", "encoder.out", "layers.0.u", "layers.0.y", "layers.0.act", "layers.0.res", "pool"})
      EXPECT_TRUE(zps.contains(p)) << preset << " " << p;
    size_t asymmetric = 0;
    for (const auto& f : man["files"]) {
      if (!f.contains("point") || f["name"] == "x_in" || f["name"] == "x_out") continue;
      const std::string point = f["point"];
      EXPECT_FALSE(f["signed"].get<bool>()) << f["file"];
      EXPECT_EQ(f["width"], 8) << f["file"];
      EXPECT_EQ(f["zero_point"], zps[point]) << f["file"];
      ++asymmetric;
    }
    EXPECT_GE(asymmetric, 8u) << preset;  // input, encoder_out, u, y, act, res, out, pool (+ mixg, g)
    r = run_cli({"vectors", "--check", v.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    // the lowest bit of act's element 3 at step 2 flipped
    const auto act = v / "L0_sfu_act.hex";
    const std::string keep = read_text(act);
    std::string text = keep;
    const size_t H = man["model"]["H"].get<size_t>();
    size_t pos = 0;
    for (size_t i = 0; i < 2 * H + 3; ++i) pos = text.find('\n', pos) + 1;
    const size_t last = text.find('\n', pos) - 1;
    const int d = std::stoi(text.substr(last, 1), nullptr, 16) ^ 1;
    text[last] = "0123456789abcdef"[d];
    std::ofstream(act) << text;
    r = run_cli({"vectors", "--check", v.string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("L0_sfu_act.hex (unit sfu, layer 0), step 2, element 3"), std::string::npos) << r.err;
    std::ofstream(act) << keep;
    // the residual's zero point in the manifest edited
    for (auto& f : man["files"])
      if (f["file"] == "L0_sfu_res.hex") f["zero_point"] = f["zero_point"].get<int>() + 1;
    std::ofstream(v / "manifest.json") << man.dump(1);
    r = run_cli({"vectors", "--check", v.string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("L0_sfu_res.hex (unit sfu): the manifest's signedness or zero point differs"), std::string::npos)
        << r.err;
  }
}
