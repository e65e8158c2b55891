// Verilator's headers first: they pick their time source from whether SystemC was seen, and
// these Verilated models are plain C++ (clocked here, not by the SystemC kernel).
#include <verilated.h>

#include "rtl_lane_variants.hpp"  // generated: one include per variant, and SSMSIM_RTL_VARIANTS(X)
// then the SystemC side
#include "hw_models/rtl/rtl_lane.hpp"

#include <memory>

#include "hw_models/rtl/lane_ports.hpp"
#include "quant/errors.hpp"

namespace ssmsim::hw::rtl {

namespace {

constexpr int kAW = 32, kBUW = 64, kKW = 32, kSW = 7;  // the ports of every variant (CMakeLists.txt)

bool fits(quant::wide_t v, int bits) {
  const quant::wide_t lim = static_cast<quant::wide_t>(1) << (bits - 1);
  return v >= -lim && v < lim;
}

// One Verilated lane, held by the lane function.
template <typename V>
struct Lane {
  std::unique_ptr<VerilatedContext> ctx = std::make_unique<VerilatedContext>();
  std::unique_ptr<V> v = std::make_unique<V>(ctx.get());
  int xw;
  explicit Lane(int x) : xw(x) {
    v->rst_n = 0;
    v->in_valid = 0;
    tick();
    tick();
    v->rst_n = 1;
  }
  void tick() {
    v->clk = 0;
    v->eval();
    v->clk = 1;
    v->eval();
  }
  core::qstep::Cx update(int64_t ar, int64_t ai, core::qstep::Cx x, quant::wide_t bur, quant::wide_t bui,
                         const quant::ScaledSum& upd) {
    const int64_t ka = upd.K()[0], kb = upd.K()[1], sa = upd.shifts()[0], sb = upd.shifts()[1];
    if (!fits(bur, kBUW) || !fits(bui, kBUW) || !fits(ka, kKW) || !fits(kb, kKW) || sa < 0 || sb < 0 ||
        sa >= (1 << kSW) || sb >= (1 << kSW) || !fits(ar, kAW) || !fits(ai, kAW))
      throw RunError("simulate --cmac rtl: a state update's operands exceed the Verilog lane's ports (B u: 64 bits, "
                     "multipliers: 32 bits, shifts: 0..127); use the C++ lane (--cmac cpp)");
    v->in_valid = 1;
    drive(v->ar, ar, kAW);
    drive(v->ai, ai, kAW);
    drive(v->xr, x.re, xw);
    drive(v->xi, x.im, xw);
    drive(v->bu_re, static_cast<int64_t>(bur), kBUW);
    drive(v->bu_im, static_cast<int64_t>(bui), kBUW);
    drive(v->ka, ka, kKW);
    drive(v->kb, kb, kKW);
    drive(v->sa, sa, kSW);
    drive(v->sb, sb, kSW);
    tick();  // stage 1: the exact sums
    v->in_valid = 0;
    tick();  // stage 2: rounded and fitted
    if (!v->out_valid) throw RunError("simulate --cmac rtl: the Verilog lane did not raise out_valid after 2 clocks");
    return {sign_extend(v->xr_out, xw), sign_extend(v->xi_out, xw)};
  }
};

struct Variant {
  const char* name;
  int xw;
  int rounding, overflow;  // ssm_lane.v's numbering, quant::Rounding / Overflow's order
  CmacArray::LaneFn (*make)();
};

#define SSMSIM_RTL_ENTRY(NAME, XW, R, O, CLASS)                                                           \
  {NAME, XW, R, O, [] {                                                                                   \
     auto lane = std::make_shared<Lane<CLASS>>(XW);                                                       \
     return CmacArray::LaneFn([lane](int64_t ar, int64_t ai, core::qstep::Cx x, quant::wide_t bur,        \
                                     quant::wide_t bui, const quant::ScaledSum& upd) {                    \
       return lane->update(ar, ai, x, bur, bui, upd);                                                     \
     });                                                                                                  \
   }},

const std::vector<Variant>& variants() {
  static const std::vector<Variant> v = {SSMSIM_RTL_VARIANTS(SSMSIM_RTL_ENTRY)};
  return v;
}

}  // namespace

std::vector<std::string> lane_variants() {
  std::vector<std::string> names;
  for (const auto& v : variants()) names.push_back(v.name);
  return names;
}

CmacArray::LaneFn make_lane(int xw, quant::Rounding rounding, quant::Overflow overflow) {
  for (const auto& v : variants())
    if (v.xw == xw && v.rounding == static_cast<int>(rounding) && v.overflow == static_cast<int>(overflow)) return v.make();
  std::string built;
  for (const auto& n : lane_variants()) built += (built.empty() ? "" : ", ") + n;
  throw InputError("simulate --cmac rtl: no Verilog lane is built for a " + std::to_string(xw) + "-bit state with " +
                   quant::to_string(rounding) + " rounding and " + quant::to_string(overflow) +
                   " overflow (built: " + built + "); add it with ssmsim_rtl_lane() in hw_models/rtl/CMakeLists.txt");
}

}  // namespace ssmsim::hw::rtl
