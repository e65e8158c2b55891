// Internal to the kernels of qsimd.hpp: the AVX-512 building blocks they share (the lane-wise
// forms of quant/requantize.hpp's rounding and fit, block floating point's exponents) and the
// table that picks a kernel instance per rounding mode, overflow mode and delta form. Compiled
// for AVX-512 with a function attribute only (SSMSIM_AVX512): the portable build never runs it
// unless the CPU has it.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "ssm_core/qsimd.hpp"
#include "ssm_core/qsteps.hpp"
#include "ssm_core/seq.hpp"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(SSMSIM_NO_MULTIVERSION)
#include <immintrin.h>
// GCC 12's AVX-512 intrinsics read an `_mm512_undefined` vector (GCC bug 105593): a false
// may-be-uninitialised warning at every inlined use
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#define SSMSIM_AVX512_KERNELS 1
#define SSMSIM_AVX512 __attribute__((target("avx512f,avx512dq,avx512vl,avx512cd,avx512bw")))
#define SSMSIM_AVX512_VNNI __attribute__((target("avx512f,avx512dq,avx512vl,avx512cd,avx512bw,avx512vnni")))
#endif

namespace ssmsim::core::simd {

// An S4D state kernel (qsimd.hpp's s4d_states_fast): channels [h0, h1) only (the last two arguments).
using S4dKernel = void (*)(const QLayerConsts&, const Seq<int32_t>&, size_t, size_t, int64_t*, uint64_t*, StateRecord,
                           size_t, size_t);
// The double-precision S4D state kernel for Ly's modes (qsimd_f64.cpp, for the channels Ly.f64 marks); null
// for wrap, or where the AVX-512 kernels are not compiled.
S4dKernel s4d_f64_kernel(const QLayerConsts& Ly);

// A block-operand state kernel (qsimd.hpp's s4d_block_operand_avx512, s5_block_operand_avx512).
using BlockKernel = void (*)(const QLayerConsts&, const Seq<int32_t>&, size_t, size_t, int64_t*, uint64_t*, uint64_t*,
                             int32_t*);

// The family F's kernel for a rounding mode, an overflow mode and whether A is in delta form.
template <class F, quant::Rounding R>
auto pick(quant::Overflow o, bool delta) {
  using O = quant::Overflow;
  // the delta form's term only where the model has it: the common path keeps its speed
  if (o == O::Wrap) return delta ? F::template get<R, O::Wrap, true>() : F::template get<R, O::Wrap, false>();
  if (o == O::Saturate)
    return delta ? F::template get<R, O::Saturate, true>() : F::template get<R, O::Saturate, false>();
  return delta ? F::template get<R, O::SaturateSymmetric, true>() : F::template get<R, O::SaturateSymmetric, false>();
}

// The family's kernel for a layer's state-update modes.
template <class F>
auto pick(const QLayerConsts& Ly) {
  using R = quant::Rounding;
  const quant::Overflow o = Ly.xupd[0].overflow();
  const bool d = Ly.delta;
  switch (Ly.xupd[0].rounding()) {
    case R::Floor: return pick<F, R::Floor>(o, d);
    case R::TowardZero: return pick<F, R::TowardZero>(o, d);
    case R::HalfUp: return pick<F, R::HalfUp>(o, d);
    case R::HalfDown: return pick<F, R::HalfDown>(o, d);
    case R::HalfEven: return pick<F, R::HalfEven>(o, d);
    case R::HalfAway: return pick<F, R::HalfAway>(o, d);
    case R::HalfTowardZero: return pick<F, R::HalfTowardZero>(o, d);
  }
  throw std::logic_error("unknown rounding mode");
}

// The split point's largest value (split and joined below): four remainders below 2^c stay
// below 2^62.
constexpr int kSplitStateMax = 60;

// Whether a state update's scaled sum ss can be narrowed in split form (split and joined below)
// by a kernel that shares the first sum s0's constants: the same modes, zero point and format,
// the same number of terms (3 with delta form), a shift S in 1..kSplitStateMax, every multiplier in
// 0..2^31-1, and every term k, |v_k| <= v[k] aligned at up_k + extra[k] (0..S), exact in 64 bits
// (|K_k| v_k < 2^63), the whole sum below 2^57 * 2^S. v and extra hold three entries.
inline bool split_form_fits(const quant::ScaledSum& ss, const quant::ScaledSum& s0, bool delta, const double* v,
                            const int* extra) {
  if (ss.K().size() != (delta ? 3u : 2u) || ss.rounding() != s0.rounding() || ss.overflow() != s0.overflow() ||
      ss.zero_point() != s0.zero_point() || !(ss.to() == s0.to()))
    return false;
  const int S = ss.S();
  if (S < 1 || S > kSplitStateMax) return false;
  double bound = 0;  // the sum's over 2^S: 4 H' stays far inside 64 bits
  for (size_t k = 0; k < ss.K().size(); ++k) {
    const int64_t K = ss.K()[k];
    const int up = S - ss.shifts()[k], a = up + extra[k];
    if (K < 0 || K > INT32_MAX || up < 0 || a > S || static_cast<double>(K) * v[k] >= 0x1p63) return false;
    bound += static_cast<double>(K) * v[k] * std::ldexp(1.0, a - S);
  }
  return bound < 0x1p57;
}

#ifdef SSMSIM_AVX512_KERNELS
namespace avx512 {

using quant::Overflow;
using quant::Rounding;

// A destination's range under its overflow mode, broadcast: the fit of q - zp (Range64 shifted
// by a zero point), and the wrap's constants.
struct VRange {
  __m512i lo, hi, zp, low_bits;
  __m128i drop;
  bool is_signed = true;
};

SSMSIM_AVX512 inline VRange range_of(const quant::detail::Range64& r, int64_t zp) {
  VRange v;
  v.zp = _mm512_set1_epi64(zp);
  v.lo = _mm512_set1_epi64(r.lo - zp);
  v.hi = _mm512_set1_epi64(r.hi - zp);
  v.drop = _mm_cvtsi32_si128(64 - r.width);
  v.low_bits = _mm512_set1_epi64(static_cast<int64_t>(~uint64_t{0} >> (64 - r.width)));
  v.is_signed = r.is_signed;
  return v;
}

// The overflow step (quant::detail::fit64 on q + zp, minus zp): counts the lanes outside the
// range into ev, then wraps or clamps.
template <bool Wrap>
[[gnu::always_inline]] SSMSIM_AVX512 inline __m512i fit(__m512i q, const VRange& r, __m512i& ev) {
  if constexpr (Wrap) {
    const __mmask8 out = _mm512_cmplt_epi64_mask(q, r.lo) | _mm512_cmpgt_epi64_mask(q, r.hi);
    ev = _mm512_mask_add_epi64(ev, out, ev, _mm512_set1_epi64(1));
    q = _mm512_add_epi64(q, r.zp);
    q = r.is_signed ? _mm512_sra_epi64(_mm512_sll_epi64(q, r.drop), r.drop) : _mm512_and_si512(q, r.low_bits);
    return _mm512_sub_epi64(q, r.zp);
  }
  // a lane is out of range exactly where the clamp moves it
  const __m512i c = _mm512_min_epi64(_mm512_max_epi64(q, r.lo), r.hi);
  ev = _mm512_mask_add_epi64(ev, _mm512_cmpneq_epi64_mask(q, c), ev, _mm512_set1_epi64(1));
  return c;
}

// fit<Wrap> with the overflow mode read at run time.
[[gnu::always_inline]] SSMSIM_AVX512 inline __m512i fit(__m512i q, const VRange& r, Overflow o, __m512i& ev) {
  return o == Overflow::Wrap ? fit<true>(q, r, ev) : fit<false>(q, r, ev);
}

// Four inputs' 8 lanes (row: input-major, 4 x 8 int32 codes) plus `offset` as a byte quad per lane,
// input-major to lane-major: d[l] = bytes (row[l] + offset, row[8 + l] + offset, ...), each code
// plus offset within a byte (VNNI's 8-bit forms: offset 0 for its signed operand, 128 for its
// unsigned one). Returns the two vectors' sum (per lane, inputs 0 + 2 and 1 + 3).
[[gnu::always_inline]] SSMSIM_AVX512 inline __m512i quad_bytes(const int32_t* row, __m512i offset, int32_t* d) {
  const __m512i v01 = _mm512_loadu_si512(row), v23 = _mm512_loadu_si512(row + 16);
  const __m128i x01 = _mm512_cvtepi32_epi8(_mm512_add_epi32(v01, offset));
  const __m128i x23 = _mm512_cvtepi32_epi8(_mm512_add_epi32(v23, offset));
  const __m128i a = _mm_unpacklo_epi8(x01, x23), b = _mm_unpackhi_epi8(x01, x23);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(d), _mm_unpacklo_epi8(a, b));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(d + 4), _mm_unpackhi_epi8(a, b));
  return _mm512_add_epi32(v01, v23);
}

// Adds 8 lanes' event counts to the lanes' counters ev[l].
SSMSIM_AVX512 inline void add_events(__m512i e, uint64_t* const* ev) {
  alignas(64) uint64_t counts[kLanes];
  _mm512_store_si512(counts, e);
  for (size_t l = 0; l < kLanes; ++l) *ev[l] += counts[l];
}

// An array of n T (holding 512-bit vectors) 64-byte aligned inside raw, which it sizes: GCC 12
// does not align a heap container of 512-bit vectors inside a target function.
template <typename T>
T* aligned_array(std::vector<unsigned char>& raw, size_t n) {
  raw.resize((n + 1) * sizeof(T) + 64);
  return reinterpret_cast<T*>((reinterpret_cast<uintptr_t>(raw.data()) + 63) & ~uintptr_t{63});
}

// quant::detail::rounding_bias on 8 lanes: neg is p < 0, odd the lowest kept bit; mask, half and
// below_half per lane. Inlined, so a constant mode folds away.
[[gnu::always_inline]] SSMSIM_AVX512 inline __m512i rounding_bias(Rounding r, __mmask8 neg, __m512i odd, __m512i mask,
                                                                  __m512i below_half, __m512i half) {
  switch (r) {
    case Rounding::Floor: return _mm512_setzero_si512();
    case Rounding::TowardZero: return _mm512_maskz_mov_epi64(neg, mask);
    case Rounding::HalfUp: return half;
    case Rounding::HalfDown: return below_half;
    case Rounding::HalfEven: return _mm512_add_epi64(below_half, odd);
    case Rounding::HalfAway: return _mm512_mask_blend_epi64(neg, half, below_half);
    case Rounding::HalfTowardZero: return _mm512_mask_blend_epi64(neg, below_half, half);
  }
  return _mm512_setzero_si512();
}

// A channel's state-update constants, broadcast: the scaled sum's multipliers K_k with their
// alignment shifts (term k is (v K_k) << up_k, the aligned K64 of s4d_generic), the
// rounding shift's constants and the state's range.
struct Consts {
  __m512i K[3], Ka[3], mask, below_half, half, odd_bit;  // Ka: K 2^up where it fits 64 bits
  __m128i up[3], s;
  VRange range;
};

// The rounding shift's constants and a destination range, for a narrowing whose sum comes
// aligned (K and up unused).
SSMSIM_AVX512 inline Consts shift_consts(const quant::detail::Shift64& k, const VRange& range) {
  Consts c;
  c.mask = _mm512_set1_epi64(k.mask);
  c.below_half = _mm512_set1_epi64(k.below_half);
  c.half = _mm512_set1_epi64(k.half);
  c.odd_bit = _mm512_set1_epi64(k.mask != 0 ? 1 : 0);
  c.s = _mm_cvtsi32_si128(k.shift);
  c.range = range;
  return c;
}

SSMSIM_AVX512 inline Consts consts_of(const quant::ScaledSum& upd) {
  // into an activation point: its operand q - zp
  Consts c = shift_consts(upd.shift64(), range_of(upd.range64(), upd.zero_point()));
  for (size_t k = 0; k < 3; ++k) {
    const bool has = k < upd.K().size();
    c.K[k] = _mm512_set1_epi64(has ? upd.K()[k] : 0);
    c.Ka[k] = _mm512_set1_epi64(has ? upd.aligned64()[k] : 0);
    c.up[k] = _mm_cvtsi32_si128(has ? upd.S() - upd.shifts()[k] : 0);
  }
  return c;
}

// (v K_k) << up_k with v and K_k in 32 bits: one signed 32 x 32 -> 64-bit multiply.
SSMSIM_AVX512 inline __m512i term(__m512i v, const Consts& c, size_t k) {
  return _mm512_sll_epi64(_mm512_mul_epi32(v, c.K[k]), c.up[k]);
}

// The one rounding and overflow step of an aligned sum (|sum| < 2^62) into the operand q - zp
// (quant::detail::round_shift64: floor((sum + bias) / 2^s), one arithmetic shift, since the bias
// is below 2^62; then ScaledSum::fast_narrow's fit): counts the lanes outside the range into ev.
// The rounding mode r is a constant in the state kernels (narrow<R, O> below: it folds away) and
// read at run time in the dense layer's.
template <bool Wrap>
[[gnu::always_inline]] SSMSIM_AVX512 inline __m512i narrow(__m512i sum, const Consts& c, Rounding r, __m512i& ev) {
  const __mmask8 neg = _mm512_cmplt_epi64_mask(sum, _mm512_setzero_si512());
  // the lowest kept bit (bit s of sum; odd_bit is 0 where s = 0), read by half_even only
  const __m512i odd = r == Rounding::HalfEven ? _mm512_and_si512(_mm512_srl_epi64(sum, c.s), c.odd_bit) : sum;
  const __m512i bias = rounding_bias(r, neg, odd, c.mask, c.below_half, c.half);
  return fit<Wrap>(_mm512_sra_epi64(_mm512_add_epi64(sum, bias), c.s), c.range, ev);
}
// narrow<Wrap> with the overflow mode read at run time.
[[gnu::always_inline]] SSMSIM_AVX512 inline __m512i narrow(__m512i sum, const Consts& c, Rounding r, Overflow o,
                                                          __m512i& ev) {
  return o == Overflow::Wrap ? narrow<true>(sum, c, r, ev) : narrow<false>(sum, c, r, ev);
}

template <Rounding R, Overflow O>
SSMSIM_AVX512 inline __m512i narrow(__m512i sum, const Consts& c, __m512i& ev) {
  return narrow<O == Overflow::Wrap>(sum, c, R, ev);  // the range holds SaturateSymmetric's -max
}

// Block floating point (qsteps.hpp's narrow_block) on 8 lanes with a shift per lane: the rounding
// shift of v (|v| < 2^62) by e (0..62) in mode r (round_shift64's result; the mantissa's fit is
// fit() with the operand's range).
[[gnu::always_inline]] SSMSIM_AVX512 inline __m512i round_by(__m512i v, __m512i e, Rounding r) {
  const __m512i one = _mm512_set1_epi64(1);
  const __m512i mask = _mm512_sub_epi64(_mm512_sllv_epi64(one, e), one);
  const __m512i below_half = _mm512_srli_epi64(mask, 1), half = _mm512_sub_epi64(mask, below_half);
  const __mmask8 neg = _mm512_cmplt_epi64_mask(v, _mm512_setzero_si512());
  // the lowest kept bit, 0 where nothing is dropped (e = 0); read by half_even only
  const __m512i odd =
      r == Rounding::HalfEven
          ? _mm512_maskz_and_epi64(_mm512_cmpneq_epi64_mask(mask, _mm512_setzero_si512()), _mm512_srlv_epi64(v, e), one)
          : v;
  const __m512i bias = rounding_bias(r, neg, odd, mask, below_half, half);
  return _mm512_srav_epi64(_mm512_add_epi64(v, bias), e);
}

// One block's exponent per lane (qsteps.hpp's block_exponent) from its largest magnitude.
SSMSIM_AVX512 inline __m512i block_exponent(__m512i maxmag, const XOperandConsts& op) {
  const __m512i len = _mm512_sub_epi64(_mm512_set1_epi64(64), _mm512_lzcnt_epi64(maxmag));
  const __m512i e0 = _mm512_max_epi64(_mm512_sub_epi64(len, _mm512_set1_epi64(op.bits - 1)), _mm512_setzero_si512());
  const __m512i top = round_by(maxmag, e0, op.rounding);
  const __mmask8 carry = _mm512_cmpgt_epi64_mask(top, _mm512_set1_epi64((int64_t{1} << (op.bits - 1)) - 1));
  return _mm512_mask_add_epi64(e0, carry, e0, _mm512_set1_epi64(1));
}

// qengine.cpp's s4d_states_operand for a block-floating-point state operand: per channel and
// step, every mode's update from the previous operands (mantissa << exponent, per lane and part),
// the new operands (each block of op.block modes' real parts shares an exponent, their imaginary

// The split form of a sum beyond 64 bits (qsimd_s5.cpp's header comment): a term P 2^a split at
// c (d = c - a in 0..63, mask = 2^d - 1) adds floor(P 2^a / 2^c) to hi and (P mod 2^d) 2^a
// (below 2^c) to lo.
[[gnu::always_inline]] SSMSIM_AVX512 inline void split(__m512i P, __m512i a, __m512i d, __m512i mask, __m512i& hi,
                                                       __m512i& lo) {
  hi = _mm512_add_epi64(hi, _mm512_srav_epi64(P, d));
  lo = _mm512_add_epi64(lo, _mm512_sllv_epi64(_mm512_and_si512(P, mask), a));
}

// A state update's split-form constants, broadcast (one per S4D channel): the multipliers K_k,
// each term's alignment a_k = up_k, d_k = c - a_k and 2^d_k - 1, the split point c = S with its
// masks 2^c - 1 and 2^(c-1) - 1, and the 2-bit rounding of w into the state.
struct SplitConsts {
  __m512i K[3], a[3], d[3], m[3], c, maskc, maskc1;
  Consts r2;
};

SSMSIM_AVX512 inline SplitConsts split_consts(const quant::ScaledSum& ss) {
  SplitConsts s;
  const int S = ss.S();
  for (size_t k = 0; k < 3; ++k) {
    const bool has = k < ss.K().size();
    const int up = has ? S - ss.shifts()[k] : 0;
    s.K[k] = _mm512_set1_epi64(has ? ss.K()[k] : 0);
    s.a[k] = _mm512_set1_epi64(up);
    s.d[k] = _mm512_set1_epi64(S - up);
    s.m[k] = _mm512_set1_epi64((int64_t{1} << (S - up)) - 1);
  }
  s.c = _mm512_set1_epi64(S);
  s.maskc = _mm512_set1_epi64((int64_t{1} << S) - 1);
  s.maskc1 = _mm512_set1_epi64((int64_t{1} << (S - 1)) - 1);
  s.r2 = shift_consts(quant::detail::Shift64(2), range_of(ss.range64(), ss.zero_point()));
  return s;
}

// The split sum's w = 4 H' + 2 h + s (qsimd_s5.cpp's header comment); c: the split point, maskc =
// 2^c - 1, maskc1 = 2^(c-1) - 1.
[[gnu::always_inline]] SSMSIM_AVX512 inline __m512i joined(__m512i hi, __m512i lo, __m512i c, __m512i maskc,
                                                           __m512i maskc1) {
  const __m512i one = _mm512_set1_epi64(1);
  const __m512i Hq = _mm512_add_epi64(hi, _mm512_srlv_epi64(lo, c));
  const __m512i r = _mm512_and_si512(lo, maskc);
  const __m512i h = _mm512_srlv_epi64(r, _mm512_sub_epi64(c, one));
  const __m512i w = _mm512_add_epi64(_mm512_slli_epi64(Hq, 2), _mm512_slli_epi64(h, 1));
  return _mm512_mask_add_epi64(w, _mm512_test_epi64_mask(r, maskc1), w, one);
}

// The 8 lanes of v into a state record at element `at`.
SSMSIM_AVX512 inline void record8(const StateRecord& r, size_t at, __m512i v) {
  if (r.w16)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(r.w16 + at), _mm512_cvtepi64_epi16(v));
  else
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(r.w32 + at), _mm512_cvtepi64_epi32(v));
}

}  // namespace avx512
#endif

}  // namespace ssmsim::core::simd
