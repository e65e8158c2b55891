// Verilator testbench of hw_models/rtl/ssm_lane.v against exported vectors (docs/vectors.md).
//
//   tb_lane_<variant> VECTOR_DIR LAYER
//
// Reads VECTOR_DIR/manifest.json and layer LAYER's CMAC files (L<i>_cmac_a, _k, _x_in, _bu,
// _x_out), streams every (step, state) through the lane one input per clock, and compares every
// output bit with x_out. Each executable is one Verilated build of the lane (x width, rounding,
// overflow fixed at build time: TB_* below, set by CMakeLists.txt); it refuses vectors of another
// precision and names the variant they need.
//
// Exit codes: 0 every value matches; 1 a mismatch (the first one is printed: file, line, layer,
// step, state, part, expected, got, and the lane's inputs); 2 the vectors cannot be checked by this
// build (usage, a missing or malformed file, another variant needed, a value out of the lane's
// port ranges, or files that break the contract's x_in[t] = x_out[t-1]).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "Vssm_lane.h"
#include "hw_models/rtl/lane_ports.hpp"
#include "verilated.h"

#ifndef TB_VARIANT
#error "TB_VARIANT, TB_AW, TB_XW, TB_BUW, TB_KW, TB_SW, TB_ROUNDING, TB_OVERFLOW come from CMake"
#endif

namespace {

constexpr int kAW = TB_AW, kXW = TB_XW, kBUW = TB_BUW, kKW = TB_KW, kSW = TB_SW;
constexpr int kLatency = 2;  // ssm_lane.v: input at rising edge k, output after edge k+1

// The mode numbering of ssm_lane.v's ROUNDING and OVERFLOW parameters and the abbreviations of
// the variant names (tb_lane_x<width>_<rounding tag>_<overflow tag>): quant/modes.def.
const char* const kRoundings[] = {
#define SSMSIM_ROUNDING(name, id, tag) #name,
#include "quant/modes.def"
};
const char* const kOverflows[] = {
#define SSMSIM_OVERFLOW(name, id, tag) #name,
#include "quant/modes.def"
};
const char* const kRoundingTags[] = {
#define SSMSIM_ROUNDING(name, id, tag) #tag,
#include "quant/modes.def"
};
const char* const kOverflowTags[] = {
#define SSMSIM_OVERFLOW(name, id, tag) #tag,
#include "quant/modes.def"
};

[[noreturn]] void cannot_check(const std::string& why) {
  std::fprintf(stderr, "tb_lane_%s: %s\n", TB_VARIANT, why.c_str());
  std::exit(2);
}

int mode_index(const char* const* names, int n, const std::string& name) {
  for (int i = 0; i < n; ++i)
    if (name == names[i]) return i;
  return -1;
}

// One vector file: the values sign-extended from the declared width.
struct HexFile {
  std::string name;
  int width = 0;
  std::vector<int64_t> values;
};

HexFile read_hex(const std::string& dir, const std::string& name, int width, size_t count) {
  HexFile f{name, width, {}};
  if (width < 1 || width > 64) cannot_check(name + ": width " + std::to_string(width) + " is not 1..64");
  std::ifstream in(dir + "/" + name);
  if (!in) cannot_check("cannot open " + dir + "/" + name);
  const size_t digits = static_cast<size_t>((width + 3) / 4);
  const uint64_t mask = width == 64 ? ~uint64_t{0} : (uint64_t{1} << width) - 1;
  std::string line;
  size_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty()) continue;
    uint64_t v = 0;
    bool ok = line.size() <= digits;
    for (char c : line) {
      int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                             : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
      if (d < 0) ok = false;
      v = (v << 4) | static_cast<uint64_t>(d < 0 ? 0 : d);
    }
    if (!ok || (v & ~mask) != 0)
      cannot_check(name + ":" + std::to_string(lineno) + ": '" + line + "' is not a " +
                   std::to_string(width) + "-bit hexadecimal value");
    // sign extension from `width` bits
    const uint64_t sign = uint64_t{1} << (width - 1);
    f.values.push_back(static_cast<int64_t>((v ^ sign) - sign));
  }
  if (f.values.size() != count)
    cannot_check(name + " holds " + std::to_string(f.values.size()) + " values, the manifest says " +
                 std::to_string(count));
  return f;
}

using ssmsim::hw::rtl::drive;
using ssmsim::hw::rtl::sign_extend;

bool fits_signed(int64_t v, int bits) {
  if (bits >= 64) return true;
  const int64_t hi = (int64_t{1} << (bits - 1)) - 1;
  return v >= -hi - 1 && v <= hi;
}

std::string variant_name(int xw, int r, int o) {
  return "x" + std::to_string(xw) + "_" + kRoundingTags[r] + "_" + kOverflowTags[o];
}

std::string hex_of(int64_t v, int width) {
  const uint64_t mask = width >= 64 ? ~uint64_t{0} : (uint64_t{1} << width) - 1;
  std::ostringstream s;
  s << std::hex << (static_cast<uint64_t>(v) & mask);
  return s.str();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr,
                 "usage: %s VECTOR_DIR LAYER\n"
                 "  checks hw_models/rtl/ssm_lane.v (x width %d, rounding %s, overflow %s) against\n"
                 "  the CMAC files of layer LAYER of an `ssmsim vectors` folder (docs/vectors.md)\n",
                 argv[0], kXW, kRoundings[TB_ROUNDING], kOverflows[TB_OVERFLOW]);
    return 2;
  }
  const std::string dir = argv[1];
  char* end = nullptr;
  const long layer = std::strtol(argv[2], &end, 10);
  if (*argv[2] == '\0' || *end != '\0' || layer < 0) cannot_check(std::string("bad layer index '") + argv[2] + "'");

  // ------------------------------------------------------------------------- the manifest
  nlohmann::json manifest;
  {
    std::ifstream in(dir + "/manifest.json");
    if (!in) cannot_check("cannot open " + dir + "/manifest.json");
    try {
      in >> manifest;
    } catch (const std::exception& e) {
      cannot_check(dir + "/manifest.json: " + e.what());
    }
  }
  if (manifest.value("format", std::string()) != "ssmsim.vectors")
    cannot_check(dir + "/manifest.json is not an ssmsim.vectors manifest");
  const std::string prefix = "L" + std::to_string(layer) + "_cmac_";
  auto entry = [&](const std::string& what) -> const nlohmann::json& {
    const std::string file = prefix + what + ".hex";
    if (manifest.contains("files") && manifest["files"].is_array())
      for (const auto& f : manifest["files"])
        if (f.value("file", std::string()) == file) return f;
    cannot_check(dir + "/manifest.json lists no " + file + " (is layer " + std::to_string(layer) +
                 " in the model, and were the cmac files exported?)");
  };
  int64_t steps = 0, states = 0;
  int x_width = 0, a_width = 0, bu_width = 0, k_width = 0;
  std::string rounding, overflow;
  int64_t first_step = 0;
  try {
    const auto& xo = entry("x_out");
    if (xo.contains("shape")) {
      const auto& shape = xo["shape"];
      if (!shape.is_array() || shape.size() != 3 || shape[2].get<int64_t>() != 2)
        cannot_check(prefix + "x_out.hex: shape " + shape.dump() + " is not [steps, states, 2]");
      steps = shape[0].get<int64_t>();
      states = shape[1].get<int64_t>();
    } else {  // no shape: the states from A's count (one complex code per state), the steps from x_out's
      states = entry("a").at("count").get<int64_t>() / 2;
      const int64_t n = xo.at("count").get<int64_t>();
      if (states <= 0 || n % (2 * states) != 0)
        cannot_check(prefix + "x_out.hex: count " + std::to_string(n) + " is not steps x " +
                     std::to_string(states) + " states x 2");
      steps = n / (2 * states);
    }
    // this testbench streams the stored codes of A into the lane and checks x_in[t] = x_out[t-1]:
    // zero points and a narrowed state operand (docs/vectors.md) are not part of its contract
    if (entry("a").value("form", "direct") == "delta")
      cannot_check(prefix + "a.hex holds A in delta form (precision A form: delta): the update adds the stored state "
                   "as a third term, which the lane has no input for (check such vectors with ssmsim vectors --check)");
    if (entry("a").value("parts", "shared") == "separate")
      cannot_check(prefix + "a.hex holds A with separate parts (precision A parts: separate): each part's operand is "
                   "(q - zp) * 2^k, which this testbench does not form (check such vectors with ssmsim vectors --check)");
    if (entry("a").contains("zero_point") || !entry("a").value("signed", true))
      cannot_check(prefix + "a.hex holds A's unsigned codes with zero points; this testbench has no zero-point "
                   "subtraction (check such vectors with ssmsim vectors --check)");
    if (manifest.contains("model") && manifest["model"].contains("operand"))
      cannot_check("the model narrows its state operand (manifest model.operand); this testbench feeds the lane "
                   "its stored state (check such vectors with ssmsim vectors --check)");
    x_width = xo.at("width").get<int>();
    rounding = xo.at("rounding").get<std::string>();
    overflow = xo.at("overflow").get<std::string>();
    a_width = entry("a").at("width").get<int>();
    k_width = entry("k").at("width").get<int>();
    bu_width = entry("bu").at("width").get<int>();
    if (entry("x_in").at("width").get<int>() != x_width)
      cannot_check(prefix + "x_in.hex and " + prefix + "x_out.hex have different widths");
    if (manifest.contains("source") && manifest["source"].contains("steps"))
      first_step = manifest["source"]["steps"].at(0).get<int64_t>();
  } catch (const nlohmann::json::exception& e) {
    cannot_check(dir + "/manifest.json: " + e.what());
  }

  // ------------------------------------------------------------------------- the variant
  const int r = mode_index(kRoundings, 7, rounding);
  const int o = mode_index(kOverflows, 3, overflow);
  if (r < 0) cannot_check("the vectors' x rounding '" + rounding + "' is not a mode of the lane");
  if (o < 0) cannot_check("the vectors' x overflow '" + overflow + "' is not a mode of the lane");
  if (x_width != kXW || r != TB_ROUNDING || o != TB_OVERFLOW)
    cannot_check("this build is the lane variant " + std::string(TB_VARIANT) + " (x width " +
                 std::to_string(kXW) + ", " + kRoundings[TB_ROUNDING] + ", " + kOverflows[TB_OVERFLOW] +
                 "); layer " + std::to_string(layer) + "'s vectors have x width " + std::to_string(x_width) +
                 ", " + rounding + ", " + overflow + ": run tb_lane_" + variant_name(x_width, r, o) +
                 " (hw_models/rtl/CMakeLists.txt builds the variants; add it there if it is missing)");
  if (a_width > kAW) cannot_check("A codes of " + std::to_string(a_width) + " bits exceed the lane's AW = " + std::to_string(kAW));
  if (bu_width > kBUW) cannot_check("B_bar u of " + std::to_string(bu_width) + " bits exceeds the lane's BUW = " + std::to_string(kBUW));
  if (k_width > 64) cannot_check("scaled-sum constants of " + std::to_string(k_width) + " bits");

  // ------------------------------------------------------------------------- the files
  const size_t S = static_cast<size_t>(states), T = static_cast<size_t>(steps);
  const HexFile a = read_hex(dir, prefix + "a.hex", a_width, S * 2);
  const HexFile k = read_hex(dir, prefix + "k.hex", k_width, S * 4);
  const HexFile x_in = read_hex(dir, prefix + "x_in.hex", x_width, T * S * 2);
  const HexFile bu = read_hex(dir, prefix + "bu.hex", bu_width, T * S * 2);
  const HexFile x_out = read_hex(dir, prefix + "x_out.hex", x_width, T * S * 2);
  for (size_t n = 0; n < S; ++n) {
    const int64_t ka = k.values[4 * n], sa = k.values[4 * n + 1];
    const int64_t kb = k.values[4 * n + 2], sb = k.values[4 * n + 3];
    const int64_t smax = (int64_t{1} << kSW) - 1;
    if (!fits_signed(ka, kKW) || !fits_signed(kb, kKW))
      cannot_check(k.name + ": state " + std::to_string(n) + "'s multipliers " + std::to_string(ka) + ", " +
                   std::to_string(kb) + " exceed the lane's KW = " + std::to_string(kKW) + " bits");
    if (sa < 0 || sa > smax || sb < 0 || sb > smax)
      cannot_check(k.name + ": state " + std::to_string(n) + "'s shifts " + std::to_string(sa) + ", " +
                   std::to_string(sb) + " are outside the lane's 0.." + std::to_string(smax) + " (SW = " +
                   std::to_string(kSW) + ")");
  }

  // ------------------------------------------------------------------------- the simulation
  auto ctx = std::make_unique<VerilatedContext>();
  ctx->commandArgs(argc, argv);
  auto lane = std::make_unique<Vssm_lane>(ctx.get());
  auto tick = [&] {
    lane->clk = 0;
    lane->eval();
    ctx->timeInc(1);
    lane->clk = 1;
    lane->eval();
    ctx->timeInc(1);
  };
  lane->rst_n = 0;
  lane->in_valid = 0;
  tick();
  tick();
  if (lane->out_valid) {
    std::fprintf(stderr, "tb_lane_%s: out_valid is set during reset\n", TB_VARIANT);
    return 1;
  }
  lane->rst_n = 1;

  const size_t n_in = T * S;
  size_t n_out = 0;
  uint64_t events = 0;
  for (size_t cycle = 0; cycle < n_in + kLatency; ++cycle) {
    if (cycle < n_in) {
      const size_t n = cycle % S, i = 2 * cycle;
      lane->in_valid = 1;
      drive(lane->ar, a.values[2 * n], kAW);
      drive(lane->ai, a.values[2 * n + 1], kAW);
      drive(lane->xr, x_in.values[i], kXW);
      drive(lane->xi, x_in.values[i + 1], kXW);
      drive(lane->bu_re, bu.values[i], kBUW);
      drive(lane->bu_im, bu.values[i + 1], kBUW);
      drive(lane->ka, k.values[4 * n], kKW);
      drive(lane->sa, k.values[4 * n + 1], kSW);
      drive(lane->kb, k.values[4 * n + 2], kKW);
      drive(lane->sb, k.values[4 * n + 3], kSW);
    } else {
      lane->in_valid = 0;
    }
    tick();
    // after rising edge `cycle`, the output of input cycle - (kLatency - 1) is on the ports
    const bool expect_valid = cycle + 1 >= kLatency && cycle + 1 - kLatency < n_in;
    if (static_cast<bool>(lane->out_valid) != expect_valid) {
      std::fprintf(stderr, "tb_lane_%s: out_valid is %d after clock %zu, expected %d (latency %d, one input per clock)\n",
                   TB_VARIANT, static_cast<int>(lane->out_valid), cycle, static_cast<int>(expect_valid), kLatency);
      return 1;
    }
    if (!expect_valid) continue;
    const size_t j = n_out++;
    const int64_t got[2] = {sign_extend(lane->xr_out, kXW), sign_extend(lane->xi_out, kXW)};
    events += static_cast<uint64_t>(lane->ovf_re) + static_cast<uint64_t>(lane->ovf_im);
    for (int part = 0; part < 2; ++part) {
      const int64_t want = x_out.values[2 * j + part];
      if (got[part] == want) continue;
      const size_t t = j / S, n = j % S;
      std::fprintf(stderr,
                   "tb_lane_%s: MISMATCH in %s/%s, line %zu: layer %ld, step %zu (sequence step %lld), state %zu, "
                   "part %s: expected %lld (0x%s), got %lld (0x%s)\n"
                   "  inputs: ar %lld ai %lld xr %lld xi %lld bu_re %lld bu_im %lld ka %lld sa %lld kb %lld sb %lld\n",
                   TB_VARIANT, dir.c_str(), x_out.name.c_str(), 2 * j + part + 1, layer, t,
                   static_cast<long long>(first_step + static_cast<int64_t>(t)), n, part ? "im" : "re",
                   static_cast<long long>(want), hex_of(want, kXW).c_str(), static_cast<long long>(got[part]),
                   hex_of(got[part], kXW).c_str(), static_cast<long long>(a.values[2 * n]),
                   static_cast<long long>(a.values[2 * n + 1]), static_cast<long long>(x_in.values[2 * j]),
                   static_cast<long long>(x_in.values[2 * j + 1]), static_cast<long long>(bu.values[2 * j]),
                   static_cast<long long>(bu.values[2 * j + 1]), static_cast<long long>(k.values[4 * n]),
                   static_cast<long long>(k.values[4 * n + 1]), static_cast<long long>(k.values[4 * n + 2]),
                   static_cast<long long>(k.values[4 * n + 3]));
      return 1;
    }
  }
  lane->final();

  // The contract's recurrence: x_in at step t is x_out at step t - 1 (zero at sequence step 0).
  for (size_t t = 0; t < T; ++t)
    for (size_t i = 0; i < 2 * S; ++i) {
      const size_t at = t * 2 * S + i;
      const bool known = t > 0 || first_step == 0;
      const int64_t want = t > 0 ? x_out.values[at - 2 * S] : 0;
      if (known && x_in.values[at] != want)
        cannot_check("the vectors break the contract's x_in[t] = x_out[t-1]: " + x_in.name + " line " +
                     std::to_string(at + 1) + " (step " + std::to_string(t) + ", state " + std::to_string(i / 2) +
                     ") is " + std::to_string(x_in.values[at]) + ", expected " + std::to_string(want));
    }

  std::printf("tb_lane_%s: layer %ld: %zu state updates checked (%zu steps x %zu states, %zu values), all match; "
              "%llu overflow events\n",
              TB_VARIANT, layer, n_in, T, S, 2 * n_in, static_cast<unsigned long long>(events));
  return 0;
}
