// The AVX-512 kernels against the scalar steps they replace, bit for bit, where a model's codes
// seldom reach their edges.
//
// The dense-layer kernel (qsimd.hpp's dense_avx512) against the scalar dot product (qsteps.hpp's
// dot), at the edges of its 16-bit (vpmaddwd) and 8-bit
// (VNNI's vpdpbusd) forms: inputs at -32768 and 32767 take the 16-bit form, an input of +32768
// must not (it does not pack into int16); inputs at -128 and 127 take the 8-bit form, 128 must
// not; input counts that leave a partial quad, and output and step counts that do not fill the
// blocks of 8 outputs and 2 steps. With VNNI allowed and forbidden. The S4D state kernel's
// double-precision form against its integer forms.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "quant/intops.hpp"
#include "ssm_core/qsimd.hpp"
#include "ssm_core/qsteps.hpp"

namespace {

using ssmsim::core::kLanes;
using ssmsim::core::Seq;
namespace simd = ssmsim::core::simd;
namespace quant = ssmsim::quant;

struct Case {
  size_t I, O, L;
  int32_t edge;        // an input value put at a few places (0: none)
  int32_t xmax, wmax;  // the random inputs' and weights' largest magnitudes
};

void expect_same_bits(const Case& c, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> wd(-c.wmax, c.wmax), xd(-c.xmax, c.xmax), bd(-100000, 100000);
  std::vector<int32_t> W(c.O * c.I), b(c.O);
  for (auto& w : W) w = wd(rng);
  for (auto& v : b) v = bd(rng);
  Seq<int32_t> in;
  in.resize(c.L, c.I);
  for (auto& v : in.v) v = xd(rng);
  if (c.edge != 0)
    for (size_t k = 0; k < in.v.size(); k += 37) in.v[k] = c.edge;
  std::vector<quant::ScaledSum> narrow;
  for (size_t o = 0; o < c.O; ++o)
    narrow.emplace_back(std::vector<double>{0.0007 * static_cast<double>(o + 1)}, quant::Format::fixed(true, 16, 0),
                        quant::Rounding::HalfEven, quant::Overflow::Saturate);

  uint64_t ev_ref[kLanes] = {}, ev_simd[kLanes] = {};
  uint64_t* evp[kLanes];
  for (size_t l = 0; l < kLanes; ++l) evp[l] = &ev_simd[l];
  Seq<int32_t> out;
  ASSERT_TRUE(simd::dense_avx512(W.data(), b.data(), 0, c.O, in, narrow.data(), out, evp));
  ASSERT_EQ(out.L, c.L);
  ASSERT_EQ(out.F, c.O);
  for (size_t t = 0; t < c.L; ++t)
    for (size_t o = 0; o < c.O; ++o)
      for (size_t l = 0; l < kLanes; ++l) {
        const int32_t want =
            ssmsim::core::qstep::dot(&W[o * c.I], b[o], in.at(t, 0) + l, c.I, kLanes, narrow[o], &ev_ref[l]);
        ASSERT_EQ(out.at(t, o)[l], want) << "step " << t << " output " << o << " lane " << l;
      }
  for (size_t l = 0; l < kLanes; ++l) EXPECT_EQ(ev_simd[l], ev_ref[l]) << "lane " << l;
}

TEST(SimdDense, SameBitsAsTheScalarDotProductAtTheSixteenAndEightBitFormsEdges) {
  const simd::Path was = simd::path();
  const bool was_vnni = simd::vnni();
  if (!simd::force(simd::Path::Avx512)) GTEST_SKIP() << "this CPU has no AVX-512: the kernel does not run here";
  const Case cases[] = {
      {13, 11, 5, 0, 20000, 300},       // odd inputs, outputs beyond a block of 8, an odd step count
      {16, 16, 4, -32768, 20000, 300},  // the 16-bit form's lowest input
      {9, 3, 3, 32767, 20000, 300},     // its highest
      {13, 11, 5, 32768, 20000, 300},   // one past it: the 64-bit form
      {96, 96, 7, 0, 20000, 300},       // Q-S5's mixing layer's shape
      {13, 11, 5, -128, 127, 127},      // 8-bit: the lowest input, a partial last quad
      {16, 9, 4, 127, 127, 127},        // the highest
      {6, 17, 3, 128, 127, 127},        // one past it: the 16-bit form
      {96, 96, 7, 0, 128, 127},         // 8-bit codes of Q-S5's mixing layer (inputs down to -128)
  };
  for (const bool vnni : {false, true}) {
    if (!simd::allow_vnni(vnni)) continue;
    uint32_t seed = 1;
    for (const Case& c : cases) {
      SCOPED_TRACE(testing::Message() << "vnni " << vnni << " I " << c.I << " O " << c.O << " L " << c.L << " edge "
                                      << c.edge << " x " << c.xmax << " w " << c.wmax);
      expect_same_bits(c, seed++);
    }
  }
  simd::force(was);
  simd::allow_vnni(was_vnni);
}

// The SSM output kernel (qsimd.hpp's output_avx512) against qsteps.hpp's output, where its
// accumulators need the split form: the double-precision shortcut of the half rounding modes
// (qsimd_steps.cpp's half_round) decides the lanes away from a half-integer and hands exact ties,
// and sums beyond its range, to the split form. The accumulators put exact ties (odd multiples of
// 2^24 with c0 = 2^-25), their neighbours at +-1 (decided: 2^-25 from the tie), values that
// saturate, and ones near 2^61; every rounding mode with saturate, saturate_symmetric and wrap.
TEST(SimdOutput, SameBitsAsTheScalarOutputAtTiesAndSaturation) {
  const simd::Path was = simd::path();
  if (!simd::force(simd::Path::Avx512)) GTEST_SKIP() << "this CPU has no AVX-512: the kernel does not run here";
  const size_t L = 40, H = 3;
  std::mt19937_64 rng(7);
  std::vector<int64_t> yacc(L * H * kLanes);
  Seq<int32_t> u;
  u.resize(L, H);
  for (size_t i = 0; i < yacc.size(); ++i) {
    const int64_t k = static_cast<int64_t>(rng() % 512) - 256;
    switch (i % 6) {
      case 0: yacc[i] = (2 * k + 1) * (int64_t{1} << 24); break;                         // an exact tie (with u = 0)
      case 1: yacc[i] = (2 * k + 1) * (int64_t{1} << 24) + 1; break;                     // just above one
      case 2: yacc[i] = (2 * k + 1) * (int64_t{1} << 24) - 1; break;                     // just below
      case 3: yacc[i] = static_cast<int64_t>(rng() >> 24) - (int64_t{1} << 39); break;   // saturates
      case 4: yacc[i] = (int64_t{1} << 61) - static_cast<int64_t>(rng() % 1000); break;  // beyond the shortcut
      default: yacc[i] = static_cast<int64_t>(rng() >> 40) - (int64_t{1} << 23); break;
    }
    u.v[i] = i % 12 == 5 ? static_cast<int32_t>(rng() % 7) - 3 : 0;
  }
  const quant::Rounding modes[] = {
      quant::Rounding::HalfEven,       quant::Rounding::HalfUp, quant::Rounding::HalfDown,  quant::Rounding::HalfAway,
      quant::Rounding::HalfTowardZero, quant::Rounding::Floor,  quant::Rounding::TowardZero};
  for (const quant::Rounding r : modes)
    for (const quant::Overflow o :
         {quant::Overflow::Saturate, quant::Overflow::SaturateSymmetric, quant::Overflow::Wrap}) {
      SCOPED_TRACE(testing::Message() << "rounding " << static_cast<int>(r) << " overflow " << static_cast<int>(o));
      ssmsim::core::QLayerConsts Ly;
      Ly.D = {1, -2, 3};
      for (size_t h = 0; h < H; ++h)  // K0 2^-S0 = 2^-25 (a product beyond 64 bits: the split form), K1 2^-S1 = 3/2
        Ly.yout.emplace_back(std::vector<int64_t>{int64_t{1} << 30, 3}, std::vector<int>{55, 1},
                             quant::Format::fixed(true, 8 + 2 * static_cast<int>(h), 0), r, o);
      uint64_t ev_ref[kLanes] = {}, ev_simd[kLanes] = {};
      uint64_t* evp[kLanes];
      for (size_t l = 0; l < kLanes; ++l) evp[l] = &ev_simd[l];
      Seq<int32_t> y;
      ASSERT_TRUE(simd::output_avx512(Ly, yacc.data(), u, y, evp));
      for (size_t t = 0; t < L; ++t)
        for (size_t h = 0; h < H; ++h)
          for (size_t l = 0; l < kLanes; ++l) {
            const size_t i = (t * H + h) * kLanes + l;
            const int32_t want = ssmsim::core::qstep::output(Ly, h, yacc[i], Ly.D[h], u.v[i], &ev_ref[l]);
            ASSERT_EQ(y.at(t, h)[l], want) << "step " << t << " channel " << h << " lane " << l << " acc " << yacc[i];
          }
      for (size_t l = 0; l < kLanes; ++l) EXPECT_EQ(ev_simd[l], ev_ref[l]) << "lane " << l;
    }
  simd::force(was);
}

// The lookup-table kernel (qsimd.hpp's lut_avx512) against quant::Lut's own read: a table that
// clips (entries and clip flags in one packed read, Lut::packed), one whose entries are too wide
// to pack (two reads), and one from stored entries (no flags); every 16-bit input code, in an
// order that is not sorted, plus a tail shorter than a vector.
TEST(SimdLut, SameEntriesAndEventsAsTheTable) {
  const simd::Path was = simd::path();
  if (!simd::force(simd::Path::Avx512)) GTEST_SKIP() << "this CPU has no AVX-512: the kernel does not run here";
  const quant::Format in16 = quant::Format::fixed(true, 16, 8);
  const quant::QuantParams narrow{quant::Format::fixed(true, 8, 4), 0, quant::Rounding::HalfEven,
                                  quant::Overflow::Saturate};
  const quant::QuantParams wide{quant::Format::fixed(true, 32, 0), 0, quant::Rounding::HalfEven,
                                quant::Overflow::Saturate};
  const quant::Lut clipping(in16, narrow, [](double v) { return 3.0 * v; });
  const quant::Lut too_wide(in16, wide, [](double v) { return v * v * 1e6; });
  const quant::Lut stored(quant::Format::fixed(true, 8, 0), std::vector<int32_t>(256, 7));
  EXPECT_FALSE(clipping.packed().empty());
  EXPECT_TRUE(too_wide.packed().empty());
  EXPECT_TRUE(stored.packed().empty());
  for (const quant::Lut* t : {&clipping, &too_wide, &stored}) {
    const int64_t lo = t->lo(), count = static_cast<int64_t>(t->table().size());
    std::vector<int32_t> in;
    for (int64_t i = 0; i < count; ++i) in.push_back(static_cast<int32_t>(lo + (i * 7919) % count));
    in.resize(in.size() - 5);  // a tail of 11 codes after the last full vector
    std::vector<int32_t> out(in.size());
    uint64_t ev_ref[kLanes] = {}, ev_simd[kLanes] = {};
    uint64_t* evp[kLanes];
    for (size_t l = 0; l < kLanes; ++l) evp[l] = &ev_simd[l];
    ASSERT_TRUE(simd::lut_avx512(*t, in.data(), in.size(), out.data(), evp));
    for (size_t i = 0; i < in.size(); ++i) ASSERT_EQ(out[i], (*t)(in[i], &ev_ref[i % kLanes])) << "code " << in[i];
    uint64_t events = 0;
    for (size_t l = 0; l < kLanes; ++l) {
      EXPECT_EQ(ev_simd[l], ev_ref[l]) << "lane " << l;
      events += ev_ref[l];
    }
    if (t == &clipping) EXPECT_GT(events, 1000u) << "the clipping table clips";
  }
  simd::force(was);
}

// The S4D state kernel's double-precision form (qsimd_f64.cpp's s4d_f64, QLayerConsts::f64) against
// the integer AVX-512 kernel and the compiler-vectorised one: the same states (recorded at every
// step), output accumulators and saturation events under every rounding mode, both saturating
// modes, with and without delta form, for a channel whose sums stay exact in doubles within the
// state's range (shift 37 with a 16-bit state), a guarded one (shift 38: lanes at the range's edge
// take the exact integer update), one with a short shift (exact ties at every other step), and
// an 8-bit state at shift 44; modes and steps that drive the states into saturation; a layer whose
// middle channel (shift 39) takes the integer kernel between two double ones. Where the bounds do
// not hold for any channel (shift 39 with a 16-bit state, wrap), the form is refused.
struct F64Case {
  int width, S0, S1;   // the state's width; A's and B's shifts (S = max of them)
  int32_t amax, bmax;  // the codes' magnitudes
  int64_t K0, K1;      // the multipliers
};

ssmsim::core::QLayerConsts f64_layer(const F64Case& c, quant::Rounding r, quant::Overflow o, bool delta,
                                     std::mt19937& rng, size_t H, size_t N2) {
  ssmsim::core::QLayerConsts Ly;
  Ly.states = N2;
  Ly.delta = delta;
  std::uniform_int_distribution<int32_t> ad(-c.amax, c.amax), bd(-c.bmax, c.bmax), cd(-100, 100);
  for (size_t m = 0; m < H * N2; ++m) {
    Ly.Ar.push_back(ad(rng)), Ly.Ai.push_back(ad(rng)), Ly.Br.push_back(bd(rng)), Ly.Bi.push_back(bd(rng));
    Ly.Cr.push_back(cd(rng)), Ly.Ci.push_back(cd(rng));
  }
  for (size_t h = 0; h < H; ++h) {
    std::vector<int64_t> K{c.K0 + static_cast<int64_t>(h) * 977, c.K1 - static_cast<int64_t>(h) * 131};
    std::vector<int> shifts{c.S0, c.S1};
    if (delta) K.push_back(std::max<int64_t>(1, c.K0 / 3)), shifts.push_back(c.S0);  // the stored state's term
    Ly.xupd.emplace_back(K, shifts, quant::Format::fixed(true, c.width, 0), r, o);
    for (int64_t k : Ly.xupd.back().aligned64()) EXPECT_NE(k, 0) << "every aligned multiplier within 64 bits";
  }
  Ly.fast = Ly.narrow32 = true;  // the cases' bounds: every term within 64 bits, every multiply 32 x 32
  return Ly;
}

TEST(SimdS4dF64, SameStatesAccumulatorsAndEventsAsTheIntegerKernels) {
  const simd::Path was = simd::path();
  const bool was_f64 = simd::f64();
  if (!simd::force(simd::Path::Avx512)) GTEST_SKIP() << "this CPU has no AVX-512: the kernel does not run here";
  const size_t H = 3, N2 = 6, L = 90;  // 6 modes: a full block of 4 and a padded one
  const int32_t umag = 128;
  const F64Case cases[] = {
      {16, 37, 31, 90, 7, (int64_t{1} << 30) + 12345, (int64_t{1} << 30) + 777},  // unguarded at S = 37
      {16, 38, 31, 180, 7, (int64_t{1} << 30) + 4321, (int64_t{1} << 30) + 999},  // guarded at S = 38
      {16, 3, 1, 5, 400, 1, 1},                                                   // ties: x' = A x / 8 + B u / 2
      {8, 44, 38, 90, 7, (int64_t{1} << 30) + 55, (int64_t{1} << 30) + 3},        // an 8-bit state
  };
  std::mt19937 rng(11);
  Seq<int32_t> u;
  u.resize(L, H);
  std::uniform_int_distribution<int32_t> ud(-umag, umag);
  for (auto& v : u.v) v = ud(rng);
  uint64_t saturated = 0;
  for (const F64Case& c : cases)
    for (const quant::Rounding r : quant::kAllRoundings)
      for (const quant::Overflow o : {quant::Overflow::Saturate, quant::Overflow::SaturateSymmetric})
        for (const bool delta : {false, true}) {
          SCOPED_TRACE(testing::Message() << "width " << c.width << " S " << c.S0 << " rounding " << static_cast<int>(r)
                                          << " overflow " << static_cast<int>(o) << " delta " << delta);
          ssmsim::core::QLayerConsts Ly = f64_layer(c, r, o, delta, rng, H, N2);
          const int64_t xmag = int64_t{1} << (c.width - 1);
          if (&c == &cases[0])  // channel 1 at shift 39: the integer kernel's, beside two double ones
            Ly.xupd[1] =
                f64_layer({16, 39, 31, 90, 7, int64_t{1} << 30, int64_t{1} << 30}, r, o, delta, rng, H, N2).xupd[1];
          Ly.f64 = simd::s4d_f64_channels(Ly, xmag, umag);
          const uint8_t kind = c.width == 16 && c.S0 == 38 ? simd::F64Guarded : simd::F64Exact;
          ASSERT_EQ(Ly.f64, (std::vector<uint8_t>{kind, &c == &cases[0] ? uint8_t{simd::F64None} : kind, kind}));
          std::vector<std::vector<int64_t>> acc;
          std::vector<std::vector<int32_t>> rec;
          std::vector<std::vector<uint64_t>> ev;
          for (const int variant : {0, 1, 2}) {  // double precision, integer AVX-512, compiler-vectorised
            ASSERT_TRUE(simd::force(variant == 2 ? simd::Path::Generic : simd::Path::Avx512));
            ASSERT_TRUE(simd::allow_f64(variant == 0));
            acc.emplace_back(L * H * kLanes, 0);
            rec.emplace_back(H * N2 * L * 2 * kLanes, 0);
            ev.emplace_back(kLanes, 0);
            ssmsim::core::StateRecord record;
            record.w32 = rec.back().data();
            ASSERT_TRUE(simd::s4d_states_fast(Ly, u, H, L, acc.back().data(), ev.back().data(), record));
          }
          for (const int variant : {1, 2}) {
            EXPECT_EQ(rec[0], rec[variant]) << "states, variant " << variant;
            EXPECT_EQ(acc[0], acc[variant]) << "accumulators, variant " << variant;
            EXPECT_EQ(ev[0], ev[variant]) << "events, variant " << variant;
          }
          for (uint64_t e : ev[0]) saturated += e;
        }
  EXPECT_GT(saturated, 1000u) << "the stimulus saturates the states";
  // refused: a 16-bit state at shift 39 (sums within the range beyond 2^53), wrap
  std::mt19937 rng2(3);
  EXPECT_TRUE(
      simd::s4d_f64_channels(f64_layer({16, 39, 31, 90, 7, int64_t{1} << 30, int64_t{1} << 30},
                                       quant::Rounding::HalfEven, quant::Overflow::Saturate, false, rng2, H, N2),
                             int64_t{1} << 15, umag)
          .empty());
  EXPECT_TRUE(
      simd::s4d_f64_channels(f64_layer(cases[0], quant::Rounding::HalfEven, quant::Overflow::Wrap, false, rng2, H, N2),
                             int64_t{1} << 15, umag)
          .empty());
  simd::force(was);
  simd::allow_f64(was_f64);
}

// A guarded channel's sums just beyond 2^53 (shift 38, a 16-bit state): x = -65537 / 2 -+ 2^-38
// (A = -1, the state +-1, B u 64 / 2^7 with u = 65537) needs 54 bits, and a double would round it to the
// tie -32768.5, which half_even rounds into the range while the exact sum saturates (and
// half_away the other way round); the guard hands such lanes to the exact update.
TEST(SimdS4dF64, GuardedLanesBeyondTwoToTheFiftyThreeTakeTheExactUpdate) {
  const simd::Path was = simd::path();
  const bool was_f64 = simd::f64();
  if (!simd::force(simd::Path::Avx512)) GTEST_SKIP() << "this CPU has no AVX-512: the kernel does not run here";
  const size_t L = 2;
  Seq<int32_t> u;
  u.resize(L, 1);
  const int32_t first[kLanes] = {-2, 2, -2, 2, -2, 2, -2, 2};  // the state after step 0: 1 or -1
  const int32_t second[kLanes] = {65537, 65537, -65537, -65537, 65535, 65535, -65535, -65535};
  for (size_t l = 0; l < kLanes; ++l) u.at(0, 0)[l] = first[l], u.at(1, 0)[l] = second[l];
  for (const quant::Rounding r : quant::kAllRoundings) {
    SCOPED_TRACE(testing::Message() << "rounding " << static_cast<int>(r));
    ssmsim::core::QLayerConsts Ly;
    Ly.states = 1;
    Ly.Ar = {-1}, Ly.Ai = {0}, Ly.Br = {-1}, Ly.Bi = {0}, Ly.Cr = {1}, Ly.Ci = {0};
    Ly.xupd.emplace_back(std::vector<int64_t>{1, 64}, std::vector<int>{38, 7}, quant::Format::fixed(true, 16, 0), r,
                         quant::Overflow::Saturate);
    Ly.fast = Ly.narrow32 = true;
    ASSERT_NE(Ly.xupd[0].aligned64()[1], 0) << "every aligned multiplier within 64 bits (Ly.fast)";
    Ly.f64 = simd::s4d_f64_channels(Ly, int64_t{1} << 15, 65537);
    ASSERT_EQ(Ly.f64, std::vector<uint8_t>{simd::F64Guarded});
    std::vector<int32_t> rec[2];
    std::vector<uint64_t> ev[2];
    for (const int variant : {0, 1}) {  // double precision, integer
      ASSERT_TRUE(simd::allow_f64(variant == 0));
      std::vector<int64_t> acc(L * kLanes, 0);
      rec[variant].assign(2 * L * kLanes, 0);
      ev[variant].assign(kLanes, 0);
      ssmsim::core::StateRecord record;
      record.w32 = rec[variant].data();
      ASSERT_TRUE(simd::s4d_states_fast(Ly, u, 1, L, acc.data(), ev[variant].data(), record));
    }
    EXPECT_EQ(rec[0], rec[1]);
    EXPECT_EQ(ev[0], ev[1]);
  }
  simd::force(was);
  simd::allow_f64(was_f64);
}

}  // namespace
