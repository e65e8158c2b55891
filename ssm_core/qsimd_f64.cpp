// The S4D state kernel in double precision (qsimd.hpp's s4d_f64_channels, QLayerConsts::f64): the
// same integers as the integer AVX-512 kernel of qsimd.cpp in about 14 vector operations per mode
// and step instead of 34, where every product and sum is exact in doubles and the scaled sum's one
// rounding decides the contract's integer (docs/fixed_point.md, the implementation note of 9.1).
// Compiled for AVX-512 with a function attribute only, like the other kernels.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>

#include "ssm_core/qsimd.hpp"
#include "ssm_core/qsimd_avx512.hpp"

namespace ssmsim::core::simd {

#ifdef SSMSIM_AVX512_KERNELS

namespace {

using namespace avx512;
using quant::Overflow;
using quant::Rounding;

// The rounding of an exact double x to an integer in mode R (docs/fixed_point.md section 2):
// x +- 0.5 is exact on the channels s4d_f64_channels marks, so each mode is one or two exact operations.
template <Rounding R>
[[gnu::always_inline]] SSMSIM_AVX512 inline __m512d round_f64(__m512d x) {
  constexpr int kNear = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC,
                kDown = _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC, kUp = _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC,
                kZero = _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC;
  const __m512d half = _mm512_set1_pd(0.5);
  // +-0.5 by x < 0 (not by the sign bit: a sum of zeros may be -0.0)
  const __mmask8 neg = _mm512_cmp_pd_mask(x, _mm512_setzero_pd(), _CMP_LT_OQ);
  const __m512d signed_half = _mm512_mask_blend_pd(neg, half, _mm512_set1_pd(-0.5));
  switch (R) {
    case Rounding::Floor: return _mm512_roundscale_pd(x, kDown);
    case Rounding::TowardZero: return _mm512_roundscale_pd(x, kZero);
    case Rounding::HalfUp: return _mm512_roundscale_pd(_mm512_add_pd(x, half), kDown);
    case Rounding::HalfDown: return _mm512_roundscale_pd(_mm512_sub_pd(x, half), kUp);
    case Rounding::HalfEven: return _mm512_roundscale_pd(x, kNear);
    case Rounding::HalfAway: return _mm512_roundscale_pd(_mm512_add_pd(x, signed_half), kZero);
    case Rounding::HalfTowardZero: {  // |x| - 0.5 rounded up, with x's sign
      const __m512d y = _mm512_sub_pd(x, signed_half);
      return _mm512_mask_roundscale_pd(_mm512_roundscale_pd(y, kUp), neg, y, kDown);
    }
  }
  return x;
}

// The lanes where max(|a|, |b|) > bound (vrangepd's larger magnitude, sign cleared).
[[gnu::always_inline]] SSMSIM_AVX512 inline __mmask8 beyond(__m512d a, __m512d b, __m512d bound) {
  return _mm512_cmp_pd_mask(_mm512_range_pd(a, b, 0b1011), bound, _CMP_GT_OQ);
}

// r clamped to [lo, hi] (the saturating modes); a lane is out of range exactly where the clamp
// moves it (fit's rule), counted into ev.
[[gnu::always_inline]] SSMSIM_AVX512 inline __m512d saturate_f64(__m512d r, __m512d lo, __m512d hi, __m512i& ev) {
  const __m512d q = _mm512_min_pd(_mm512_max_pd(r, lo), hi);
  ev = _mm512_mask_add_epi64(ev, _mm512_cmp_pd_mask(q, r, _CMP_NEQ_UQ), ev, _mm512_set1_epi64(1));
  return q;
}

// Mode m's update of the 8 lanes in exact integers (qsteps.hpp's state_update), for a guarded
// channel's lanes whose sums the doubles may not hold exactly: xr, xi the states (in, then out),
// uu the channel's inputs at this step.
[[gnu::noinline]] SSMSIM_AVX512 void exact_update_f64(const QLayerConsts& Ly, size_t hh, size_t m, __m512d& xr,
                                                      __m512d& xi, const int32_t* uu, __m512i& ev) {
  alignas(64) double r[kLanes], i[kLanes];
  alignas(64) int64_t e[kLanes] = {};
  _mm512_store_pd(r, xr);
  _mm512_store_pd(i, xi);
  for (size_t l = 0; l < kLanes; ++l) {
    const qstep::Cx x{static_cast<int64_t>(r[l]), static_cast<int64_t>(i[l])};
    uint64_t n = 0;
    const qstep::Cx q = qstep::state_update(Ly.xupd[hh], true, Ly.Ar[m], Ly.Ai[m], x, int64_t{Ly.Br[m]} * uu[l],
                                            int64_t{Ly.Bi[m]} * uu[l], &n, {}, x);
    r[l] = static_cast<double>(q.re), i[l] = static_cast<double>(q.im), e[l] = static_cast<int64_t>(n);
  }
  xr = _mm512_load_pd(r);
  xi = _mm512_load_pd(i);
  ev = _mm512_add_epi64(ev, _mm512_load_si512(e));
}

// Channel hh of s4d_f64. Guard (s4d_f64_channels' F64Guarded): the channel's shift S lets sums
// just beyond the state's range exceed 2^53: a lane whose double sum lies beyond 2^(53-S) - 1/2 in
// magnitude, where it may be inexact, takes the exact integer update instead (with a 16-bit state,
// only lanes at the range's edge or beyond).
template <Rounding R, bool Delta, bool Guard>
SSMSIM_AVX512 void s4d_f64_channel(const QLayerConsts& Ly, const Seq<int32_t>& u, size_t H, size_t L, int64_t* yacc,
                                   StateRecord record, size_t hh, __m512i& events) {
  constexpr size_t MB = 4;
  __m512i ev = _mm512_setzero_si512();  // in a register (a reference would live in memory)
  const size_t N2 = Ly.states;
  const quant::ScaledSum& ss = Ly.xupd[hh];
  auto coef = [&](size_t k) { return k < ss.K().size() ? std::ldexp(double(ss.K()[k]), -ss.shifts()[k]) : 0.0; };
  const __m512d c0 = _mm512_set1_pd(coef(0)), c2 = _mm512_set1_pd(coef(2));
  const double c1 = coef(1);
  const quant::detail::Range64& range = ss.range64();
  const __m512d lo = _mm512_set1_pd(double(range.lo)), hi = _mm512_set1_pd(double(range.hi));
  const __m512d inner = _mm512_set1_pd(double(std::min(-range.lo, range.hi)));  // |x| up to it: in the range
  const __m512d edge = _mm512_set1_pd(std::ldexp(1.0, 53 - ss.S()) - 0.5);
  for (size_t n0 = 0; n0 < N2; n0 += MB) {
    const size_t nb = std::min(MB, N2 - n0);
    __m512d ar[MB], ai[MB], br[MB], bi[MB], cr[MB], ci[MB], xr[MB], xi[MB];
    for (size_t j = 0; j < MB; ++j) {  // padded modes (j >= nb) have zero coefficients
      const size_t m = hh * N2 + n0 + j;
      const bool v = j < nb;
      ar[j] = _mm512_set1_pd(v ? Ly.Ar[m] : 0), ai[j] = _mm512_set1_pd(v ? Ly.Ai[m] : 0);
      // B's codes times K_1 2^-sh_1: exact (s4d_f64_channels)
      br[j] = _mm512_set1_pd(v ? Ly.Br[m] * c1 : 0), bi[j] = _mm512_set1_pd(v ? Ly.Bi[m] * c1 : 0);
      cr[j] = _mm512_set1_pd(v ? Ly.Cr[m] : 0), ci[j] = _mm512_set1_pd(v ? Ly.Ci[m] : 0);
      xr[j] = xi[j] = _mm512_setzero_pd();
    }
    for (size_t t = 0; t < L; ++t) {
      const __m512d uu = _mm512_cvtepi32_pd(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(u.at(t, hh))));
      int64_t* accp = yacc + (t * H + hh) * kLanes;
      // this group's C x in two accumulators (half the chain of fused multiply-adds), added to
      // yacc's integers at the end of the step
      __m512d acc = _mm512_setzero_pd(), acc1 = _mm512_setzero_pd();
      for (size_t j = 0; j < MB; ++j) {
        __m512d bur = _mm512_mul_pd(br[j], uu), bui = _mm512_mul_pd(bi[j], uu);
        if constexpr (Delta) {
          bur = _mm512_fmadd_pd(xr[j], c2, bur);
          bui = _mm512_fmadd_pd(xi[j], c2, bui);
        }
        const __m512d pr = _mm512_fmsub_pd(ar[j], xr[j], _mm512_mul_pd(ai[j], xi[j]));
        const __m512d pi = _mm512_fmadd_pd(ar[j], xi[j], _mm512_mul_pd(ai[j], xr[j]));
        const __m512d sr = _mm512_fmadd_pd(pr, c0, bur), si = _mm512_fmadd_pd(pi, c0, bui);
        if (Guard && beyond(sr, si, edge)) [[unlikely]] {
          exact_update_f64(Ly, hh, hh * N2 + n0 + j, xr[j], xi[j], u.at(t, hh), ev);
        } else {  // rounded, then clamped where a lane may saturate (seldom: |x| beyond min(-lo, hi))
          xr[j] = round_f64<R>(sr);
          xi[j] = round_f64<R>(si);
          if (beyond(xr[j], xi[j], inner)) [[unlikely]] {
            xr[j] = saturate_f64(xr[j], lo, hi, ev);
            xi[j] = saturate_f64(xi[j], lo, hi, ev);
          }
        }
        acc = _mm512_fmadd_pd(cr[j], xr[j], acc);
        acc1 = _mm512_fnmadd_pd(ci[j], xi[j], acc1);
      }
      _mm512_storeu_si512(accp,
                          _mm512_add_epi64(_mm512_loadu_si512(accp), _mm512_cvtpd_epi64(_mm512_add_pd(acc, acc1))));
      if (record)
        for (size_t j = 0; j < nb; ++j) {
          const size_t at = ((hh * N2 + n0 + j) * L + t) * 2 * kLanes;
          record8(record, at, _mm512_cvtpd_epi64(xr[j]));
          record8(record, at + kLanes, _mm512_cvtpd_epi64(xi[j]));
        }
    }
  }
  events = _mm512_add_epi64(events, ev);
}

// s4d_avx512 in double precision (Ly.f64, s4d_f64_channels): every value an exact integer or an
// exact multiple of 2^-S, so each product and fused multiply-add rounds nothing (the scaled sum
// rounds once, and exactly, in fmadd(A x, K_0 2^-sh_0, B u K_1 2^-sh_1)), and the states, B u
// and the output terms are summed in doubles (below 2^53 over a channel's states), then added to
// yacc's integers. Saturating modes only (wrap needs the integer beyond the
// range); about 14 vector operations per mode and step against the integer form's 34.
template <Rounding R, bool Delta>
SSMSIM_AVX512 void s4d_f64(const QLayerConsts& Ly, const Seq<int32_t>& u, size_t H, size_t L, int64_t* yacc,
                           uint64_t* events, StateRecord record, size_t h0, size_t h1) {
  static_assert(kLanes == 8, "one 512-bit vector holds the 8 lanes of a chunk");
  __m512i ev = _mm512_setzero_si512();
  for (size_t hh = h0; hh < h1; ++hh) {
    if (Ly.f64[hh] == F64Exact)
      s4d_f64_channel<R, Delta, false>(Ly, u, H, L, yacc, record, hh, ev);
    else
      s4d_f64_channel<R, Delta, true>(Ly, u, H, L, yacc, record, hh, ev);
  }
  alignas(64) uint64_t e[kLanes];
  _mm512_store_si512(e, ev);
  for (size_t l = 0; l < kLanes; ++l) events[l] += e[l];
}

struct S4dF64 {
  template <Rounding R, Overflow O, bool Delta>
  static S4dKernel get() {
    if constexpr (O == Overflow::Wrap)
      return nullptr;  // refused by s4d_f64_channels
    else
      return s4d_f64<R, Delta>;  // either saturating mode: the range holds it
  }
};

}  // namespace

S4dKernel s4d_f64_kernel(const QLayerConsts& Ly) { return pick<S4dF64>(Ly); }

#else

S4dKernel s4d_f64_kernel(const QLayerConsts&) { return nullptr; }

#endif

}  // namespace ssmsim::core::simd
