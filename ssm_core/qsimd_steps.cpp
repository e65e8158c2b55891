// The C-model's element-wise steps on 8 lanes with AVX-512 (qsimd.hpp's output_avx512,
// pair_avx512 and norm_avx512): the SSM output y = SS(acc, D u), the hard GELU, the gated product,
// the residual sum and the normalisations (BatchNorm's scaled sum per feature, the integer
// LayerNorm), each one scaled sum per element, the same bits as ScaledSum::operator().
//
// The bounds come from the chunk's own values (exact whichever path runs). Where they keep the
// whole sum below 2^62 (ScaledSum::fits64), it is summed in 64 bits. Otherwise (an output
// accumulator of a 32-bit state times a 31-bit multiplier, the LayerNorm's d rs gamma) each term
// is cut into 64-bit products, e.g. v K 2^up into (v >> 32) K 2^(up + 32) and (v mod 2^32) K 2^up,
// and the sum is narrowed from its split at c (qsimd_avx512.hpp's split and joined: floors and
// remainders summed apart, then w = 4 H' + 2 h + s rounds by S - c + 2 bits to exactly the sum's
// rounding). The output's and the LayerNorm's split sums first try a double-precision shortcut
// (half_round) that decides most lanes exactly under the half rounding modes.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "ssm_core/qsimd.hpp"
#include "ssm_core/qsimd_avx512.hpp"
#include "ssm_core/qsteps.hpp"

namespace ssmsim::core::simd {

#ifdef SSMSIM_AVX512_KERNELS

namespace {

using namespace avx512;
using quant::Overflow;
using quant::Rounding;

// The split point's largest value: six remainders below 2^c stay below 2^63.
constexpr int kSplitMax = 59;

// The steps of a tile: the kernels that keep a feature's constants in registers over its steps go
// feature by feature within a tile of steps, so that a step's row is read in order (a feature
// across every step strides by a row, a page or more, where the prefetchers do not follow).
constexpr size_t kTile = 16;

// One 64-bit product term P 2^a of a split sum: split at c (a <= c), or (a > c) P 2^(a - c) added
// to hi whole (where its bound allows).
struct SubTerm {
  bool right = true;
  __m512i a, d, mask;
  __m128i left;
};

SSMSIM_AVX512 SubTerm sub_term(int a, int c) {
  SubTerm t;
  t.right = a <= c;
  t.a = _mm512_set1_epi64(t.right ? a : 0);
  t.d = _mm512_set1_epi64(t.right ? c - a : 0);
  t.mask = _mm512_set1_epi64(t.right ? (int64_t{1} << (c - a)) - 1 : 0);
  t.left = _mm_cvtsi32_si128(t.right ? 0 : a - c);
  return t;
}

[[gnu::always_inline]] SSMSIM_AVX512 inline void add_sub(__m512i P, const SubTerm& t, __m512i& hi, __m512i& lo) {
  if (t.right) {
    split(P, t.a, t.d, t.mask, hi, lo);
  } else {
    hi = _mm512_add_epi64(hi, _mm512_sll_epi64(P, t.left));
  }
}

// One scaled sum of up to 2 terms on 8 lanes, set up for its terms' bounds.
struct LaneSum {
  bool ok = false, split = false;
  size_t n = 0;
  __m512i K[2];
  __m128i up[2];
  // split form, per term and half (0: v >> 32, 1: v mod 2^32)
  SubTerm t[2][2];
  __m512i c, maskc, maskc1;
  Consts fin;  // the last rounding shift (S, or S - c + 2 split) and the range
  Rounding r = Rounding::HalfEven;
  Overflow o = Overflow::Saturate;
};

SSMSIM_AVX512 LaneSum lane_sum(const quant::ScaledSum& ss, const std::vector<int64_t>& b) {
  LaneSum s;
  s.n = b.size();
  if (ss.K().size() != s.n || s.n > 2) return s;
  s.r = ss.rounding();
  s.o = ss.overflow();
  const VRange range = range_of(ss.range64(), ss.zero_point());
  for (size_t k = 0; k < s.n; ++k) {
    s.K[k] = _mm512_set1_epi64(ss.K()[k]);
    s.up[k] = _mm_cvtsi32_si128(ss.S() - ss.shifts()[k]);
  }
  if (ss.fits64(b)) {
    s.ok = true;
    s.fin = shift_consts(ss.shift64(), range);
    return s;
  }
  const int S = ss.S(), c = std::min(S, kSplitMax);
  if (c < 1 || ss.to().width > 62) return s;
  double h = 8;  // the split sum's floor H' (4 H' below 2^62)
  for (size_t k = 0; k < s.n; ++k) {
    const int64_t K = ss.K()[k];
    const int up = S - ss.shifts()[k];
    if (K < 0 || K > INT32_MAX || up < 0 || b[k] >= (int64_t{1} << 62)) return s;
    for (int half = 0; half < 2; ++half) {
      const int a = up + (half == 0 ? 32 : 0);
      // |v >> 32| <= b / 2^32 + 1; v mod 2^32 < 2^32
      const double pmax = static_cast<double>(K) * (half == 0 ? std::ldexp(static_cast<double>(b[k]), -32) + 1 : 0x1p32);
      if (a > c && pmax * std::ldexp(1.0, a - c) >= 0x1p60) return s;
      s.t[k][half] = sub_term(a, c);
    }
    h += static_cast<double>(b[k]) * static_cast<double>(K) * std::ldexp(1.0, up - c);
  }
  if (h >= 0x1p59) return s;
  s.c = _mm512_set1_epi64(c);
  s.maskc = _mm512_set1_epi64((int64_t{1} << c) - 1);
  s.maskc1 = _mm512_set1_epi64((int64_t{1} << (c - 1)) - 1);
  s.fin = shift_consts(quant::detail::Shift64(S - c + 2), range);
  s.ok = s.split = true;
  return s;
}

// The scaled sum of the terms v[0..n) of 8 lanes, narrowed with the sum's modes.
[[gnu::always_inline]] SSMSIM_AVX512 inline __m512i apply(const LaneSum& s, const __m512i* v, __m512i& ev) {
  if (!s.split) {
    __m512i sum = _mm512_setzero_si512();
    for (size_t k = 0; k < s.n; ++k) sum = _mm512_add_epi64(sum, _mm512_sll_epi64(_mm512_mullo_epi64(v[k], s.K[k]), s.up[k]));
    return narrow(sum, s.fin, s.r, s.o, ev);
  }
  __m512i hi = _mm512_setzero_si512(), lo = hi;
  const __m512i low32 = _mm512_set1_epi64(0xffffffff);
  for (size_t k = 0; k < s.n; ++k) {
    const __m512i P[2] = {_mm512_mul_epi32(_mm512_srai_epi64(v[k], 32), s.K[k]),
                          _mm512_mul_epu32(_mm512_and_si512(v[k], low32), s.K[k])};
    for (int half = 0; half < 2; ++half) add_sub(P[half], s.t[k][half], hi, lo);
  }
  return narrow(joined(hi, lo, s.c, s.maskc, s.maskc1), s.fin, s.r, s.o, ev);
}

SSMSIM_AVX512 inline __m512i load8(const int32_t* p) {
  return _mm512_cvtepi32_epi64(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
SSMSIM_AVX512 inline void store8(int32_t* p, __m512i v) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm512_cvtepi64_epi32(v));
}

int64_t max_abs(const int32_t* v, size_t n) {
  int64_t m = 0;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::abs(int64_t{v[i]}));
  return m;
}

// A two-term scaled sum in double precision, for the half rounding modes with saturation: the
// value V = v0 c0 + v1 c1 (c_k = K_k 2^-S_k, exact doubles) is approximated by s = fl(fl(v0) c0)
// + fl(fl(v1) c1) in a few roundings, each at most 2^-53 relative, so |s - V| < (|t0| + |t1|)
// 2^-51 (t_k the rounded products). Where s is further than E = (|t0| + |t1|) 2^-50 from a
// half-integer, V rounds to the integer nearest s under every half mode; the lanes where it is
// not (a tie, or |t0| + |t1| of 2^47 or more) take the exact split form instead.
struct HalfSum {
  bool ok = false;
  __m512d c0, c1;
};

// g: a factor of the first term's constant (c0 = g K0 2^-S0, exact where |g K0| < 2^53).
SSMSIM_AVX512 HalfSum half_sum(const quant::ScaledSum& ss, int64_t g = 1) {
  HalfSum h;
  const Rounding r = ss.rounding();
  const double gk = static_cast<double>(g) * static_cast<double>(ss.K()[0]);
  h.ok = ss.K().size() == 2 && ss.overflow() != Overflow::Wrap && r != Rounding::Floor && r != Rounding::TowardZero &&
         std::abs(gk) < 0x1p53;
  if (h.ok) {
    h.c0 = _mm512_set1_pd(std::ldexp(gk, -ss.shifts()[0]));
    h.c1 = _mm512_set1_pd(std::ldexp(static_cast<double>(ss.K()[1]), -ss.shifts()[1]));
  }
  return h;
}

// The rounded sum of v0, v1 (int64 lanes) by h; *undecided gets the lanes whose rounding it
// cannot decide (their result is to be computed exactly).
[[gnu::always_inline]] SSMSIM_AVX512 inline __m512i half_round(const HalfSum& h, __m512i v0, __m512i v1,
                                                               __mmask8* undecided) {
  const __m512d t0 = _mm512_mul_pd(_mm512_cvtepi64_pd(v0), h.c0), t1 = _mm512_mul_pd(_mm512_cvtepi64_pd(v1), h.c1);
  const __m512d sum = _mm512_add_pd(t0, t1);
  const __m512d E = _mm512_mul_pd(_mm512_add_pd(_mm512_abs_pd(t0), _mm512_abs_pd(t1)), _mm512_set1_pd(0x1p-50));
  const __m512d r = _mm512_roundscale_pd(sum, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512d gap = _mm512_abs_pd(_mm512_sub_pd(_mm512_abs_pd(_mm512_sub_pd(sum, r)), _mm512_set1_pd(0.5)));
  *undecided = _mm512_cmp_pd_mask(gap, E, _CMP_LE_OQ) | _mm512_cmp_pd_mask(E, _mm512_set1_pd(0.125), _CMP_GE_OQ);
  return _mm512_cvtpd_epi64(r);
}

SSMSIM_AVX512 bool output_kernel(const QLayerConsts& Ly, const int64_t* yacc, const Seq<int32_t>& u, Seq<int32_t>& y,
                                 uint64_t* const* ev) {
  const size_t L = u.L, H = u.F;
  int64_t amax = 0;
  for (size_t i = 0; i < L * H * kLanes; ++i) amax = std::max(amax, yacc[i] < 0 ? -yacc[i] : yacc[i]);
  const int64_t umax = max_abs(u.v.data(), u.v.size());
  if (amax >= (int64_t{1} << 62)) return false;
  std::vector<unsigned char> raw;
  LaneSum* sums = aligned_array<LaneSum>(raw, H);
  for (size_t h = 0; h < H; ++h) {
    sums[h] = lane_sum(Ly.yout[h], {amax, std::abs(int64_t{Ly.D[h]}) * umax});
    if (!sums[h].ok) return false;
  }
  std::vector<unsigned char> raw_half;
  HalfSum* halves = aligned_array<HalfSum>(raw_half, H);
  for (size_t h = 0; h < H; ++h) halves[h] = sums[h].split ? half_sum(Ly.yout[h]) : HalfSum{};
  y.reshape(L, H);
  __m512i e = _mm512_setzero_si512();
  for (size_t t0 = 0; t0 < L; t0 += kTile)
    for (size_t h = 0; h < H; ++h) {
      const __m512i D = _mm512_set1_epi64(Ly.D[h]);
      const HalfSum& hs = halves[h];
      const VRange& range = sums[h].fin.range;
      for (size_t t = t0; t < std::min(L, t0 + kTile); ++t) {
        const __m512i v[2] = {_mm512_loadu_si512(yacc + (t * H + h) * kLanes), _mm512_mul_epi32(D, load8(u.at(t, h)))};
        __mmask8 undecided = 0xff;
        __m512i q = hs.ok ? half_round(hs, v[0], v[1], &undecided) : __m512i{};
        if (undecided)
          q = apply(sums[h], v, e);  // the split form (a split sum is the one half_sum can take)
        else
          q = fit<false>(q, range, e);
        store8(y.at(t, h), q);
      }
    }
  add_events(e, ev);
  return true;
}

// quant::Lut's read of 16 codes at a time (a gather of the entries code - lo, and of their clip
// flags where the table has them: one gather of Lut::packed where it exists, else two); the codes
// are in the table's input format, so every index is inside it. Elements i and i + 8 of a vector
// are the same lane.
SSMSIM_AVX512 void lut_kernel(const quant::Lut& t, const int32_t* in, size_t n, int32_t* out, uint64_t* const* ev) {
  static_assert(kLanes == 8, "a vector of 16 codes holds each lane twice");
  const int32_t* table = t.table().data();
  const int32_t* clipped = t.clipped().empty() ? nullptr : t.clipped().data();
  const auto lo = static_cast<int32_t>(t.lo());
  const __m512i vlo = _mm512_set1_epi32(lo);
  __m512i e = _mm512_setzero_si512();  // 32-bit counts: a call reads far fewer than 2^31 codes
  size_t i = 0;
  if (const int32_t* packed = t.packed().empty() ? nullptr : t.packed().data()) {  // entry and flag in one read
    for (; i + 16 <= n; i += 16) {
      const __m512i g = _mm512_i32gather_epi32(_mm512_sub_epi32(_mm512_loadu_si512(in + i), vlo), packed, 4);
      _mm512_storeu_si512(out + i, _mm512_srai_epi32(g, 1));
      e = _mm512_add_epi32(e, _mm512_and_si512(g, _mm512_set1_epi32(1)));
    }
  }
  for (; i + 16 <= n; i += 16) {
    const __m512i idx = _mm512_sub_epi32(_mm512_loadu_si512(in + i), vlo);
    _mm512_storeu_si512(out + i, _mm512_i32gather_epi32(idx, table, 4));
    if (clipped) e = _mm512_add_epi32(e, _mm512_i32gather_epi32(idx, clipped, 4));
  }
  alignas(64) int32_t counts[16];
  _mm512_store_si512(counts, e);
  for (size_t l = 0; l < kLanes; ++l) *ev[l] += static_cast<uint64_t>(counts[l]) + static_cast<uint64_t>(counts[l + 8]);
  for (; i < n; ++i) out[i] = static_cast<int32_t>(t(in[i], ev[i % kLanes]));
}

SSMSIM_AVX512 bool pair_kernel(const quant::ScaledSum& ss, Pair kind, const int32_t* a, const int32_t* b, int64_t two,
                               size_t n, int32_t* out, uint64_t* const* ev) {
  const int64_t am = max_abs(a, n);
  const int64_t bm = kind == Pair::HardGelu ? 2 * two : kind == Pair::Scale ? 1 : max_abs(b, n);
  const LaneSum s = kind == Pair::Sum ? lane_sum(ss, {am, bm}) : lane_sum(ss, {am * bm});
  if (!s.ok) return false;
  const __m512i t = _mm512_set1_epi64(two), t2 = _mm512_set1_epi64(2 * two), zero = _mm512_setzero_si512();
  __m512i e = _mm512_setzero_si512();
  for (size_t i = 0; i < n; i += kLanes) {
    const __m512i va = load8(a + i);
    __m512i v[2];
    if (kind == Pair::Sum) {
      v[0] = va, v[1] = load8(b + i);
    } else if (kind == Pair::Scale) {
      v[0] = va;
    } else {
      // the hard GELU's factor clip(v + 2, 0, 4) in codes
      const __m512i vb = kind == Pair::HardGelu
                             ? _mm512_min_epi64(_mm512_max_epi64(_mm512_add_epi64(va, t), zero), t2)
                             : load8(b + i);
      v[0] = _mm512_mul_epi32(va, vb);
    }
    store8(out + i, apply(s, v, e));
  }
  add_events(e, ev);
  return true;
}

// BatchNorm folded into a scaled sum per feature (qsteps.hpp's norm): out_f = SS(r_f gamma_f,
// beta_f) on 8 lanes.
SSMSIM_AVX512 bool batch_norm_kernel(const QLayerConsts& Ly, const Seq<int32_t>& in, Seq<int32_t>& out,
                                     uint64_t* const* ev) {
  const size_t L = in.L, H = in.F;
  if (Ly.norm.size() != H || Ly.gamma.size() != H || Ly.beta.size() != H) return false;
  const int64_t imax = max_abs(in.v.data(), in.v.size());
  std::vector<unsigned char> raw;
  LaneSum* sums = aligned_array<LaneSum>(raw, H);
  for (size_t f = 0; f < H; ++f) {
    sums[f] = lane_sum(Ly.norm[f], {imax * std::abs(int64_t{Ly.gamma[f]}), std::abs(int64_t{Ly.beta[f]})});
    if (!sums[f].ok) return false;
  }
  out.reshape(L, H);
  __m512i e = _mm512_setzero_si512();
  for (size_t f = 0; f < H; ++f) {
    const __m512i g = _mm512_set1_epi64(Ly.gamma[f]), beta = _mm512_set1_epi64(Ly.beta[f]);
    for (size_t t = 0; t < L; ++t) {
      const __m512i v[2] = {_mm512_mul_epi32(load8(in.at(t, f)), g), beta};
      store8(out.at(t, f), apply(sums[f], v, e));
    }
  }
  add_events(e, ev);
  return true;
}

// The integer LayerNorm (qsteps.hpp's norm) on 8 lanes. Per step: the sum, d_f = H r_f - sum and
// v = sum d_f^2 in 64-bit lanes where the chunk's values bound |d| below 2^31 (else in scalar
// 128 bits); rs per lane in scalar 128-bit arithmetic; then per feature
// out_f = SS(d_f rs gamma_f, beta_f). |d rs| <= 2^56 sqrt(H) (|d_f| <= sqrt(v)), so p = d rs is
// exact in 64 bits; p |gamma K| is cut into four 64-bit products (p's 32-bit halves times
// |gamma K|'s 23-bit halves) summed in the split form.
SSMSIM_AVX512 bool layer_norm_kernel(const QLayerConsts& Ly, const Seq<int32_t>& in, Seq<int32_t>& out,
                                     uint64_t* const* ev) {
  const size_t L = in.L, H = in.F;
  if (H == 0 || H > 1024 || Ly.norm.size() != H) return false;
  // |d| <= 2 H max|r|: d^2 and its sum in 64-bit lanes when small, else in scalar 128 bits
  const double dmax = 2.0 * static_cast<double>(H) * static_cast<double>(max_abs(in.v.data(), in.v.size()));
  const bool small = dmax < 0x1p31 && static_cast<double>(H) * dmax * dmax < 0x1p63;
  // per feature: the constants, checked before anything is written
  struct Feature {
    bool neg;
    int64_t g1, g0, beta_hi, beta_lo;
    int S, c, up0;
  };
  std::vector<Feature> fs(H);
  for (size_t f = 0; f < H; ++f) {
    const quant::ScaledSum& ss = Ly.norm[f];
    if (ss.K().size() != 2 || ss.to().width > 62) return false;
    const int S = ss.S(), c = std::min(S, kSplitMax), up0 = S - ss.shifts()[0], up1 = S - ss.shifts()[1];
    const int64_t K0 = ss.K()[0], K1 = ss.K()[1];
    if (c < 1 || K0 < 0 || K0 > INT32_MAX || up0 < 0 || up1 < 0) return false;
    const quant::wide_t G = static_cast<quant::wide_t>(Ly.gamma[f]) * K0;
    const quant::wide_t Ga = G < 0 ? -G : G;
    if (Ga >= (quant::wide_t{1} << 46)) return false;
    const quant::wide_t T1 = static_cast<quant::wide_t>(Ly.beta[f]) * K1 * (quant::wide_t{1} << std::min(up1, 90));
    const quant::wide_t t1hi = T1 >> c;
    if (up1 > 90 || t1hi >= (quant::wide_t{1} << 58) || t1hi < -(quant::wide_t{1} << 58)) return false;
    // the sum's floor at c stays far inside 64 bits; a left-shifted sub-term too
    const double g = static_cast<double>(Ga);
    if (0x1p62 * g * std::ldexp(1.0, up0 - c) >= 0x1p57) return false;
    for (const int a : {up0 + 55, up0 + 32, up0 + 23, up0})
      if (a > c && std::ldexp(0x1p55, a - c) >= 0x1p60) return false;
    fs[f] = Feature{G < 0,
                    static_cast<int64_t>(Ga >> 23),
                    static_cast<int64_t>(Ga & 0x7fffff),
                    static_cast<int64_t>(t1hi),
                    static_cast<int64_t>(T1 & ((quant::wide_t{1} << c) - 1)),
                    S,
                    c,
                    up0};
  }
  // per step and lane: the sum and rs
  std::vector<int64_t> sums(L * kLanes), rss(L * kLanes);
  const __m512i Hv = _mm512_set1_epi64(static_cast<int64_t>(H));
  const quant::uwide_t num = (quant::uwide_t{1} << (2 * kLnFrac)) * H;
  for (size_t t = 0; t < L; ++t) {
    __m512i sum = _mm512_setzero_si512(), v = sum;
    for (size_t f = 0; f < H; ++f) sum = _mm512_add_epi64(sum, load8(in.at(t, f)));
    _mm512_storeu_si512(&sums[t * kLanes], sum);
    quant::uwide_t vs[kLanes] = {};
    if (small) {
      for (size_t f = 0; f < H; ++f) {
        const __m512i d = _mm512_sub_epi64(_mm512_mullo_epi64(load8(in.at(t, f)), Hv), sum);
        v = _mm512_add_epi64(v, _mm512_mul_epi32(d, d));
      }
      alignas(64) uint64_t v64[kLanes];
      _mm512_store_si512(v64, v);
      for (size_t l = 0; l < kLanes; ++l) vs[l] = v64[l];
    } else {
      for (size_t f = 0; f < H; ++f)
        for (size_t l = 0; l < kLanes; ++l) {
          const int64_t d = static_cast<int64_t>(H) * in.at(t, f)[l] - sums[t * kLanes + l];
          vs[l] += static_cast<quant::uwide_t>(static_cast<quant::wide_t>(d) * d);
        }
    }
    for (size_t l = 0; l < kLanes; ++l)
      rss[t * kLanes + l] = static_cast<int64_t>(quant::isqrt(num / (vs[l] + Ly.ln_eps)));
  }
  // per feature, its constants as vectors
  struct FeatureV {
    SubTerm s11, s10, s01, s00;
    __m512i g1, g0, bhi, blo, c, maskc, maskc1;
    Consts fin;
    HalfSum half;  // the shortcut of output_kernel: d rs times gamma K0 2^-S0, beta times K1 2^-S1
    __m512i beta;
  };
  std::vector<unsigned char> raw;
  FeatureV* fv = aligned_array<FeatureV>(raw, H);
  for (size_t f = 0; f < H; ++f) {
    const Feature& F = fs[f];
    const quant::ScaledSum& ss = Ly.norm[f];
    fv[f] = FeatureV{sub_term(F.up0 + 55, F.c),
                     sub_term(F.up0 + 32, F.c),
                     sub_term(F.up0 + 23, F.c),
                     sub_term(F.up0, F.c),
                     _mm512_set1_epi64(F.g1),
                     _mm512_set1_epi64(F.g0),
                     _mm512_set1_epi64(F.beta_hi),
                     _mm512_set1_epi64(F.beta_lo),
                     _mm512_set1_epi64(F.c),
                     _mm512_set1_epi64((int64_t{1} << F.c) - 1),
                     _mm512_set1_epi64((int64_t{1} << (F.c - 1)) - 1),
                     shift_consts(quant::detail::Shift64(F.S - F.c + 2), range_of(ss.range64(), ss.zero_point())),
                     half_sum(ss, Ly.gamma[f]),
                     _mm512_set1_epi64(Ly.beta[f])};
  }
  out.reshape(L, H);
  const __m512i low32 = _mm512_set1_epi64(0xffffffff);
  __m512i e = _mm512_setzero_si512();
  for (size_t t0 = 0; t0 < L; t0 += kTile)
    for (size_t f = 0; f < H; ++f) {
      const FeatureV& F = fv[f];
      const bool neg = fs[f].neg;
      const quant::ScaledSum& ss = Ly.norm[f];
      for (size_t t = t0; t < std::min(L, t0 + kTile); ++t) {
        const __m512i d =
            _mm512_sub_epi64(_mm512_mullo_epi64(load8(in.at(t, f)), Hv), _mm512_loadu_si512(&sums[t * kLanes]));
        __m512i p = _mm512_mullo_epi64(d, _mm512_loadu_si512(&rss[t * kLanes]));
        if (F.half.ok) {
          __mmask8 undecided;
          const __m512i q = half_round(F.half, p, F.beta, &undecided);
          if (!undecided) {
            store8(out.at(t, f), fit<false>(q, F.fin.range, e));
            continue;
          }
        }
        if (neg) p = _mm512_sub_epi64(_mm512_setzero_si512(), p);
        const __m512i ph = _mm512_srai_epi64(p, 32), pl = _mm512_and_si512(p, low32);
        __m512i hi = F.bhi, lo = F.blo;
        add_sub(_mm512_mul_epi32(ph, F.g1), F.s11, hi, lo);
        add_sub(_mm512_mul_epi32(ph, F.g0), F.s10, hi, lo);
        add_sub(_mm512_mul_epu32(pl, F.g1), F.s01, hi, lo);
        add_sub(_mm512_mul_epu32(pl, F.g0), F.s00, hi, lo);
        const __m512i w = joined(hi, lo, F.c, F.maskc, F.maskc1);
        store8(out.at(t, f), narrow(w, F.fin, ss.rounding(), ss.overflow(), e));
      }
    }
  add_events(e, ev);
  return true;
}

}  // namespace

#endif

bool norm_avx512(const QLayerConsts& Ly, const Seq<int32_t>& in, Seq<int32_t>& out, uint64_t* const* ev) {
#ifdef SSMSIM_AVX512_KERNELS
  return path() == Path::Avx512 &&
         (Ly.batch_norm ? batch_norm_kernel(Ly, in, out, ev) : layer_norm_kernel(Ly, in, out, ev));
#else
  (void)Ly, (void)in, (void)out, (void)ev;
  return false;
#endif
}

bool output_avx512(const QLayerConsts& Ly, const int64_t* yacc, const Seq<int32_t>& u, Seq<int32_t>& y,
                   uint64_t* const* ev) {
#ifdef SSMSIM_AVX512_KERNELS
  return path() == Path::Avx512 && output_kernel(Ly, yacc, u, y, ev);
#else
  (void)Ly, (void)yacc, (void)u, (void)y, (void)ev;
  return false;
#endif
}

bool lut_avx512(const quant::Lut& t, const int32_t* in, size_t n, int32_t* out, uint64_t* const* ev) {
#ifdef SSMSIM_AVX512_KERNELS
  if (path() != Path::Avx512) return false;
  lut_kernel(t, in, n, out, ev);
  return true;
#else
  (void)t, (void)in, (void)n, (void)out, (void)ev;
  return false;
#endif
}

bool pair_avx512(const quant::ScaledSum& ss, Pair kind, const int32_t* a, const int32_t* b, int64_t two, size_t n,
                 int32_t* out, uint64_t* const* ev) {
#ifdef SSMSIM_AVX512_KERNELS
  return path() == Path::Avx512 && n % kLanes == 0 && pair_kernel(ss, kind, a, b, two, n, out, ev);
#else
  (void)ss, (void)kind, (void)a, (void)b, (void)two, (void)n, (void)out, (void)ev;
  return false;
#endif
}

}  // namespace ssmsim::core::simd
