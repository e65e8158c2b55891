// The integer building blocks into and out of asymmetric activation points (docs/fixed_point.md
// 9.1, "Into an asymmetric point" and "Lookup table"): quant::ScaledSum with a zero point (the
// 128-bit operator() and the 64-bit fast() against the exact reference of tests/support/
// qreference.hpp, events at the unsigned rails) and quant::Lut between points (indexed by the
// input's operand, holding the output's operands, a clipped entry counting one event per read).
#include <array>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "quant/intops.hpp"
#include "tests/support/qreference.hpp"
#include "tests/support/testing.hpp"

using namespace ssmsim;
namespace qref = ssmsim::testing::qref;
using quant::Format;
using quant::Overflow;
using quant::QuantParams;
using quant::Rounding;
using quant::ScaledSum;

namespace {

QuantParams point(bool is_signed, int bits, int64_t mult, int shift, int64_t zp, Rounding r, Overflow o) {
  QuantParams p;
  p.format = Format{is_signed, bits, quant::Scale{mult, shift}};
  p.format.validate();
  p.zero_point = zp;
  p.rounding = r;
  p.overflow = o;
  return p;
}

}  // namespace

// By hand: a ratio of exactly 1 (K = 2^30, S = 30) into u4 with zp = 3, so out = fit(v + 3) - 3
// in 0 .. 15: operands -3 .. 12 pass, beyond them the rails (saturate) or the low 4 bits (wrap).
TEST(ScaledSumZeroPoint, ARatioOfOneIntoU4WithZeroPoint3ClipsAtMinus3And12) {
  for (const Overflow o : {Overflow::Saturate, Overflow::SaturateSymmetric, Overflow::Wrap}) {
    SCOPED_TRACE(quant::to_string(o));
    const QuantParams p = point(false, 4, 1, 0, 3, Rounding::HalfEven, o);
    const ScaledSum s({1.0}, p);
    EXPECT_EQ(s.zero_point(), 3);
    EXPECT_EQ(s.K()[0], int64_t{1} << 30);
    ASSERT_TRUE(s.fits64({1000}));
    uint64_t ev = 0, ev64 = 0;
    for (int64_t v = -3; v <= 12; ++v) {
      EXPECT_EQ(s(v, &ev), v);
      EXPECT_EQ(s.fast(v, &ev64), v);
    }
    EXPECT_EQ(ev, 0u);
    EXPECT_EQ(ev64, 0u);
    const bool wrap = o == Overflow::Wrap;
    EXPECT_EQ(s(-4, &ev), wrap ? 12 : -3);  // q = -1: the low rail, or 15 wrapped
    EXPECT_EQ(s(13, &ev), wrap ? -3 : 12);  // q = 16: the high rail, or 0 wrapped
    EXPECT_EQ(s(-100, &ev), wrap ? ((-97 % 16 + 16) % 16) - 3 : -3);
    EXPECT_EQ(ev, 3u);
    EXPECT_EQ(s.fast(-4, &ev64), wrap ? 12 : -3);
    EXPECT_EQ(s.fast(13, &ev64), wrap ? -3 : 12);
    EXPECT_EQ(s.fast(-100, &ev64), wrap ? ((-97 % 16 + 16) % 16) - 3 : -3);
    EXPECT_EQ(ev64, 3u);
    // the same sum into the symmetric s4 (the Format constructor: zero point 0) clips at -8 / 7
    const ScaledSum sym({1.0}, Format::fixed(true, 4, 0), Rounding::HalfEven, o);
    EXPECT_EQ(sym.zero_point(), 0);
    EXPECT_EQ(sym(7, nullptr), 7);
  }
}

// Random sums of one to three terms (ratios of either sign and over a wide spread), into u<b>
// points (b 2..16) with every zero point position, every rounding and overflow mode and
// multipliers of 1 (shift-only), 2, 8, 12, 16 and 31 bits (each |K| exactly that wide): the 128-bit
// operator(), the 64-bit fast() where fits64 holds, and the exact reference give the same operand
// and the same events; the operand plus zp is a code; without an event it is the plain rounded sum.
TEST(ScaledSumZeroPoint, The64And128BitPathsAndTheExactReferenceAgreeAtEveryZeroPoint) {
  auto rng = ssmsim::testing::seeded_rng("scaled_sum_zero_point");
  std::uniform_int_distribution<int> nterms(1, 3), bits_d(2, 16), exp_d(-12, 6), mode(0, 6), ov(0, 2);
  std::uniform_real_distribution<double> mant(0.5, 1.0);
  uint64_t fast_checked = 0, low = 0, high = 0, passed = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    const int b = bits_d(rng);
    const int64_t qmax = (int64_t{1} << b) - 1;
    std::uniform_int_distribution<int64_t> zp_d(0, qmax);
    const int64_t zp = trial % 5 == 0 ? 0 : trial % 5 == 1 ? qmax : zp_d(rng);
    const Rounding r = quant::kAllRoundings[static_cast<size_t>(mode(rng))];
    const int oi = ov(rng);
    const Overflow o = oi == 0 ? Overflow::Saturate : oi == 1 ? Overflow::Wrap : Overflow::SaturateSymmetric;
    const QuantParams p = point(false, b, 3, 1, zp, r, o);
    const int n = nterms(rng);
    std::vector<double> ratios;
    std::vector<int64_t> v, bound;
    std::vector<qref::Term> terms;
    for (int k = 0; k < n; ++k) {
      const double ratio = (rng() % 2 ? -1.0 : 1.0) * std::ldexp(mant(rng), exp_d(rng));
      ratios.push_back(ratio);
      // terms about (2^b / ratio): around the range, often beyond either rail
      const int64_t span = static_cast<int64_t>(std::ldexp(1.0, b + 2) / std::fabs(ratio)) + 4;
      std::uniform_int_distribution<int64_t> vd(-span, span);
      v.push_back(vd(rng));
      bound.push_back(span);
      terms.push_back({v.back(), ratio});
    }
    const int mbits = std::array<int, 6>{1, 2, 8, 12, 16, 31}[static_cast<size_t>(trial) % 6];
    const ScaledSum s(ratios, p, mbits);
    for (int64_t k : s.K()) {
      ASSERT_GE(std::abs(k), int64_t{1} << (mbits - 1)) << "trial " << trial;
      ASSERT_LT(std::abs(k), int64_t{1} << mbits) << "trial " << trial;
    }
    uint64_t ev128 = 0, ev64 = 0, evref = 0;
    const int64_t got = n == 1 ? s(v[0], &ev128) : n == 2 ? s(v[0], v[1], &ev128) : s(v[0], v[1], v[2], &ev128);
    const int64_t want = qref::scaled_sum(terms, p, &evref, mbits);
    ASSERT_EQ(got, want) << "trial " << trial << " " << s.to_string() << " zp " << zp;
    ASSERT_EQ(ev128, evref) << "trial " << trial;
    if (s.fits64(bound)) {
      ++fast_checked;
      const int64_t f = n == 1 ? s.fast(v[0], &ev64) : n == 2 ? s.fast(v[0], v[1], &ev64) : s.fast(v[0], v[1], v[2], &ev64);
      ASSERT_EQ(f, want) << "trial " << trial << " (64-bit)";
      ASSERT_EQ(ev64, evref) << "trial " << trial << " (64-bit)";
    }
    ASSERT_GE(got + zp, 0);
    ASSERT_LE(got + zp, qmax);
    // which rail the exact rounded sum passed (the reference without its overflow step)
    QuantParams wide = p;
    wide.format = Format{true, 64, p.format.scale};
    wide.zero_point = 0;
    const int64_t rounded = qref::scaled_sum(terms, wide, nullptr, mbits);
    if (rounded + zp < 0 || rounded + zp > qmax) {
      ++(rounded + zp < 0 ? low : high);
      EXPECT_EQ(evref, 1u) << "trial " << trial;
    } else {
      ++passed;
      EXPECT_EQ(got, rounded) << "trial " << trial;
      EXPECT_EQ(evref, 0u) << "trial " << trial;
    }
  }
  EXPECT_GT(fast_checked, 1000u);
  EXPECT_GT(low, 100u);
  EXPECT_GT(high, 100u);
  EXPECT_GT(passed, 100u);
}

// Into a symmetric point, the QuantParams constructor is the Format one (zero point 0).
TEST(ScaledSumZeroPoint, IntoASymmetricPointItIsTheFormatConstructor) {
  const QuantParams p = point(true, 8, 5, 3, 0, Rounding::HalfUp, Overflow::Saturate);
  const ScaledSum a({0.3, -1.7}, p), b({0.3, -1.7}, p.format, p.rounding, p.overflow);
  EXPECT_EQ(a.zero_point(), 0);
  for (int64_t x = -300; x <= 300; x += 7) {
    uint64_t ea = 0, eb = 0;
    EXPECT_EQ(a(x, 2 * x + 1, &ea), b(x, 2 * x + 1, &eb));
    EXPECT_EQ(ea, eb);
  }
}

// quant::Lut between points: the table is indexed by the input's operand v = q - zp_in over
// [min_raw - zp_in, max_raw - zp_in] and holds quantize(f(in.to_real(v)), out) - zp_out; reading
// an entry whose tabulation clipped counts one event per read. Against the reference's table().
TEST(LutZeroPoint, IndexedByInputOperandsHoldingOutputOperandsCountingClippedEntries) {
  auto gelu = [](double x) { return qref::gelu_exact(x); };
  struct C {
    QuantParams in, out;
  };
  const C cases[] = {
      // asymmetric in and out: GELU's output from -0.17 into [-0.125, 0.8125]: both rails clip
      {point(false, 5, 1, 3, 19, Rounding::HalfEven, Overflow::Saturate),
       point(false, 4, 1, 4, 2, Rounding::HalfEven, Overflow::Saturate)},
      // symmetric in, asymmetric out
      {point(true, 6, 5, 4, 0, Rounding::HalfEven, Overflow::Saturate),
       point(false, 5, 1, 3, 3, Rounding::HalfUp, Overflow::Saturate)},
      // asymmetric in, symmetric out that wraps
      {point(false, 7, 7, 5, 100, Rounding::HalfEven, Overflow::Saturate),
       point(true, 4, 1, 2, 0, Rounding::Floor, Overflow::Wrap)},
  };
  for (const C& c : cases) {
    SCOPED_TRACE(c.in.to_string() + " -> " + c.out.to_string());
    const quant::Lut lut(c.in, c.out, gelu);
    const int64_t lo = c.in.format.min_raw() - c.in.zero_point, hi = c.in.format.max_raw() - c.in.zero_point;
    ASSERT_EQ(lut.table().size(), static_cast<size_t>(hi - lo + 1));
    uint64_t clipped = 0, low_side = 0;
    for (int64_t v = lo; v <= hi; ++v) {
      uint64_t ev = 0, ev_q = 0, ev_ref = 0;
      const int64_t got = lut(v, &ev);
      EXPECT_EQ(got, quant::quantize(gelu(c.in.format.to_real(v)), c.out, &ev_q) - c.out.zero_point) << "v " << v;
      EXPECT_EQ(got, qref::table(gelu, v, c.in, c.out, &ev_ref)) << "v " << v;
      EXPECT_EQ(ev, ev_q ? 1u : 0u) << "v " << v;
      EXPECT_EQ(ev, ev_ref) << "v " << v;
      EXPECT_EQ(lut(v, &ev), got);  // a second read counts again
      EXPECT_EQ(ev, ev_q ? 2u : 0u) << "v " << v;
      clipped += ev_q != 0;
      low_side += v < 0;
      EXPECT_GE(got + c.out.zero_point, c.out.format.min_raw());
      EXPECT_LE(got + c.out.zero_point, c.out.format.max_raw());
    }
    EXPECT_GT(clipped, 0u) << "no clipped entry";
    if (c.in.zero_point > 0) {
      EXPECT_GT(low_side, 0u) << "no negative operand indexes the table";
    }
  }
  // the Format constructor is the QuantParams one with zero points 0
  const QuantParams in = point(true, 6, 5, 4, 0, Rounding::HalfEven, Overflow::Saturate);
  const QuantParams out = point(true, 5, 1, 3, 0, Rounding::HalfUp, Overflow::Saturate);
  EXPECT_EQ(quant::Lut(in.format, out, gelu).table(), quant::Lut(in, out, gelu).table());
}

// The 128-bit path of ScaledSum (sums beyond 2^62: a 32-bit state's update, the LayerNorm's
// d rs gamma) against the exact reference: terms up to 2^62 with 31-bit multipliers at ratios
// from 2^-70 to 2^-20, every rounding and overflow mode, signed and unsigned points with zero points.
TEST(ScaledSumWide, SumsBeyond64BitsMatchTheExactReference) {
  auto rng = ssmsim::testing::seeded_rng("scaled_sum_wide");
  std::uniform_int_distribution<int> nterms(1, 3), bits_d(4, 32), exp_d(-70, -20), mode(0, 6), ov(0, 2), vb(20, 62);
  std::uniform_real_distribution<double> mant(0.5, 1.0);
  uint64_t wide = 0, events = 0;
  for (int trial = 0; trial < 4000; ++trial) {
    const int b = bits_d(rng);
    const bool sgn = trial % 2 == 0;
    const int64_t qmax = (int64_t{1} << (sgn ? b - 1 : b)) - 1;
    std::uniform_int_distribution<int64_t> zp_d(0, qmax);
    const Rounding r = quant::kAllRoundings[static_cast<size_t>(mode(rng))];
    const int oi = ov(rng);
    const Overflow o = oi == 0 ? Overflow::Saturate : oi == 1 ? Overflow::Wrap : Overflow::SaturateSymmetric;
    const QuantParams p = point(sgn, b, 3, 1, sgn ? 0 : zp_d(rng), r, o);
    const int n = nterms(rng);
    std::vector<double> ratios;
    for (int k = 0; k < n; ++k) ratios.push_back((rng() % 2 ? -1.0 : 1.0) * std::ldexp(mant(rng), exp_d(rng)));
    const ScaledSum s(ratios, p, 31);
    std::vector<qref::Term> terms;
    std::vector<quant::wide_t> v;
    for (size_t k = 0; k < ratios.size(); ++k) {
      // each aligned term below 2^123 (the contract: |sum| < 2^126)
      const int top = std::min(vb(rng), 123 - 31 - (s.S() - s.shifts()[k]));
      ASSERT_GT(top, 0);
      std::uniform_int_distribution<int64_t> vd(-(int64_t{1} << top), int64_t{1} << top);
      v.push_back(vd(rng));
      terms.push_back({qref::cpp_int(static_cast<int64_t>(v.back())), ratios[k]});
    }
    quant::wide_t sum = 0;
    for (int k = 0; k < n; ++k)
      sum += v[static_cast<size_t>(k)] * static_cast<quant::wide_t>(s.K()[static_cast<size_t>(k)]) *
             (quant::wide_t{1} << (s.S() - s.shifts()[static_cast<size_t>(k)]));
    if (sum >= (quant::wide_t{1} << 62) || sum < -(quant::wide_t{1} << 62)) ++wide;
    uint64_t ev = 0, evref = 0;
    const int64_t got = n == 1 ? s(v[0], &ev) : n == 2 ? s(v[0], v[1], &ev) : s(v[0], v[1], v[2], &ev);
    ASSERT_EQ(got, qref::scaled_sum(terms, p, &evref, 31)) << "trial " << trial << " " << s.to_string();
    ASSERT_EQ(ev, evref) << "trial " << trial;
    events += ev;
  }
  EXPECT_GT(wide, 2000u);
  EXPECT_GT(events, 200u);
  EXPECT_LT(events, 3800u);
}

// quant::isqrt (the LayerNorm's reciprocal square root) against the exact reference, near
// perfect squares and at random up to 2^126, and at the squares around 2^104 (a double-precision
// estimate below, a long double one above) and below.
TEST(Isqrt, FloorOfTheSquareRootUpTo2To126) {
  auto rng = ssmsim::testing::seeded_rng("isqrt");
  std::uniform_int_distribution<int> bits(1, 125);
  for (int trial = 0; trial < 20000; ++trial) {
    const int b = bits(rng);
    quant::uwide_t v = (static_cast<quant::uwide_t>(rng()) << 64 | rng()) & ((quant::uwide_t{1} << b) - 1);
    if (trial % 3 == 1) {  // a perfect square, or one less
      const quant::uwide_t r = (v >> (b / 2 + 1)) | 1;
      v = r * r - (trial % 2);
    }
    qref::cpp_int ref = 0;
    for (int i = 3; i >= 0; --i) ref = (ref << 32) | static_cast<uint32_t>(v >> (32 * i));
    ASSERT_EQ(qref::cpp_int(quant::isqrt(v)), qref::isqrt(ref)) << "trial " << trial;
  }
  // around 2^104, where the double-precision estimate ends, and below: squares and their neighbours
  for (const uint64_t k0 : {uint64_t{1} << 52, (uint64_t{1} << 47) + 12345, uint64_t{94906265}})
    for (uint64_t k = k0 - 100; k < k0 + 100; ++k)
      for (const quant::uwide_t d : {0, 1})
        for (const quant::uwide_t v : {quant::uwide_t{k} * k - d, quant::uwide_t{k} * k + d})
          ASSERT_EQ(quant::isqrt(v), (quant::uwide_t{k} * k <= v ? k : k - 1)) << "k " << k << " d " << int(d);
  EXPECT_EQ(quant::isqrt((quant::uwide_t{1} << 104) - 1), (uint64_t{1} << 52) - 1);
  EXPECT_EQ(quant::isqrt((quant::uwide_t{1} << 126) - 1), (uint64_t{1} << 63) - 1);
  EXPECT_EQ(quant::isqrt(~quant::uwide_t{0}), ~uint64_t{0});  // beyond 2^126 too
  EXPECT_EQ(quant::isqrt(quant::uwide_t{1} << 126), uint64_t{1} << 63);
}
