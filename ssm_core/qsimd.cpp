// AVX-512 kernels of the integer C-model (qsimd.hpp), compiled for AVX-512 with a function
// attribute only: the rest of the portable build never uses it, and the CPU is asked at run time.
#include "ssm_core/qsimd.hpp"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <vector>
#include <cstdlib>
#include <stdexcept>

#include "quant/errors.hpp"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(SSMSIM_NO_MULTIVERSION)
#include <immintrin.h>
// GCC 12's AVX-512 intrinsics read an `_mm512_undefined` vector (GCC bug 105593): a false
// may-be-uninitialised warning at every inlined use
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#define SSMSIM_AVX512_KERNELS 1
#define SSMSIM_AVX512 __attribute__((target("avx512f,avx512dq,avx512vl,avx512cd")))
#endif

namespace ssmsim::core::simd {

namespace {

bool cpu_has_avx512() {
#ifdef SSMSIM_AVX512_KERNELS
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#else
  return false;
#endif
}

Path initial_path() {
  const char* v = std::getenv("SSMSIM_SIMD");
  const std::string s = v ? v : "";
  if (s.empty() || s == "auto") return cpu_has_avx512() ? Path::Avx512 : Path::Generic;
  if (s == "generic") return Path::Generic;
  if (s == "avx512") {
    if (!cpu_has_avx512())
      throw InputError("SSMSIM_SIMD=avx512: this CPU has no AVX-512 (F, DQ, VL); unset SSMSIM_SIMD");
    return Path::Avx512;
  }
  throw InputError("SSMSIM_SIMD='" + s + "' is not a kernel path: use auto (the default), generic or avx512");
}

std::atomic<Path>& current() {
  static std::atomic<Path> p{initial_path()};
  return p;
}

}  // namespace

Path path() { return current().load(std::memory_order_relaxed); }

bool force(Path p) {
  if (p == Path::Avx512 && !cpu_has_avx512()) return false;
  current().store(p, std::memory_order_relaxed);
  return true;
}

std::string name(Path p) { return p == Path::Avx512 ? "avx512" : "generic"; }

namespace {

// round_shift64 (docs/fixed_point.md section 2) for |p| < 2^62 and shift <= 61, written with
// unsigned logical shifts only: p + 2^62 is non-negative and has p's low shift + 1 bits, so
// floor((p + bias) / 2^s) = ((p + 2^62 + bias) >> s) - 2^(62 - s), and the odd bit is bit s of
// p + 2^62. AVX2 has logical but no arithmetic 64-bit shifts: this form vectorises.
[[gnu::always_inline]] inline int64_t shift_offset(int64_t p, const quant::detail::Shift64& k, quant::Rounding R) {
  constexpr uint64_t kOff = uint64_t{1} << 62;
  const uint64_t u = static_cast<uint64_t>(p) + kOff;
  const uint64_t odd = k.mask != 0 ? (u >> k.shift) & 1 : 0;
  const auto bias = quant::detail::rounding_bias<uint64_t>(
      R, p < 0, odd, static_cast<uint64_t>(k.mask), static_cast<uint64_t>(k.below_half), static_cast<uint64_t>(k.half));
  return static_cast<int64_t>((u + bias) >> k.shift) - static_cast<int64_t>(kOff >> k.shift);
}

// The 64-bit state update with the rounding and overflow modes as constants: branch-free lanes
// that the compiler vectorises (AVX2 where the CPU has it). Same bits as qengine.cpp's s4d_states_wide.
template <quant::Rounding R, quant::Overflow O, bool Delta>
SSMSIM_MULTIVERSION void s4d_generic(const QLayerConsts& Ly, const Seq<int32_t>& u, size_t H, size_t L, int64_t* yacc,
                                     uint64_t* events, int32_t* record) {
  // MB modes of a channel advance together: MB independent recurrences per step keep the
  // multipliers busy while each one waits for its previous state
  constexpr size_t MB = 4;
  const size_t N2 = Ly.states;
  for (size_t hh = 0; hh < H; ++hh) {
    const quant::ScaledSum& upd = Ly.xupd[hh];
    const int64_t KA = upd.aligned64()[0], KB = upd.aligned64()[1];
    const int64_t KX = Delta ? upd.aligned64()[2] : 0;  // delta form's stored state (a constant 0 folds away)
    const quant::detail::Shift64 k = upd.shift64();
    const quant::detail::Range64 rg = upd.range64();
    for (size_t n0 = 0; n0 < N2; n0 += MB) {
      const size_t nb = std::min(MB, N2 - n0);
      int64_t ar[MB] = {}, ai[MB] = {}, br[MB] = {}, bi[MB] = {}, cr[MB] = {}, ci[MB] = {};
      for (size_t j = 0; j < nb; ++j) {
        const size_t m = hh * N2 + n0 + j;
        ar[j] = Ly.Ar[m], ai[j] = Ly.Ai[m], br[j] = Ly.Br[m], bi[j] = Ly.Bi[m], cr[j] = Ly.Cr[m], ci[j] = Ly.Ci[m];
      }
      int64_t xr[MB][kLanes] = {}, xi[MB][kLanes] = {}, ev[kLanes] = {};
      for (size_t t = 0; t < L; ++t) {
        const int32_t* uu = u.at(t, hh);
        int64_t* acc = yacc + (t * H + hh) * kLanes;
        for (size_t j = 0; j < MB; ++j) {  // padded modes (j >= nb) have zero coefficients
          for (size_t l = 0; l < kLanes; ++l) {
            const int64_t sr = (ar[j] * xr[j][l] - ai[j] * xi[j][l]) * KA + br[j] * KB * uu[l] + xr[j][l] * KX;
            const int64_t si = (ar[j] * xi[j][l] + ai[j] * xr[j][l]) * KA + bi[j] * KB * uu[l] + xi[j][l] * KX;
            int64_t qr = shift_offset(sr, k, R);
            int64_t qi = shift_offset(si, k, R);
            ev[l] += (qr < rg.lo || qr > rg.hi) + (qi < rg.lo || qi > rg.hi);
            if constexpr (O == quant::Overflow::Wrap) {
              qr = rg.wrap(qr);
              qi = rg.wrap(qi);
            } else {
              qr = qr < rg.lo ? rg.lo : qr > rg.hi ? rg.hi : qr;
              qi = qi < rg.lo ? rg.lo : qi > rg.hi ? rg.hi : qi;
            }
            xr[j][l] = qr;
            xi[j][l] = qi;
            acc[l] += cr[j] * qr - ci[j] * qi;
          }
        }
        if (record)
          for (size_t j = 0; j < nb; ++j) {
            int32_t* rec = record + ((hh * N2 + n0 + j) * L + t) * 2 * kLanes;
            for (size_t l = 0; l < kLanes; ++l) {
              rec[l] = static_cast<int32_t>(xr[j][l]);
              rec[kLanes + l] = static_cast<int32_t>(xi[j][l]);
            }
          }
      }
      for (size_t l = 0; l < kLanes; ++l) events[l] += static_cast<uint64_t>(ev[l]);
    }
  }
}

}  // namespace

#ifdef SSMSIM_AVX512_KERNELS

namespace {

using quant::Overflow;
using quant::Rounding;

// A destination's range under its overflow mode, broadcast: the fit of q - zp (Range64 shifted
// by a zero point), and the wrap's constants.
struct VRange {
  __m512i lo, hi, zp, low_bits;
  __m128i drop;
  bool is_signed = true;
};

SSMSIM_AVX512 VRange range_of(const quant::detail::Range64& r, int64_t zp) {
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
  const __mmask8 out = _mm512_cmplt_epi64_mask(q, r.lo) | _mm512_cmpgt_epi64_mask(q, r.hi);
  ev = _mm512_mask_add_epi64(ev, out, ev, _mm512_set1_epi64(1));
  if constexpr (Wrap) {
    q = _mm512_add_epi64(q, r.zp);
    q = r.is_signed ? _mm512_sra_epi64(_mm512_sll_epi64(q, r.drop), r.drop) : _mm512_and_si512(q, r.low_bits);
    return _mm512_sub_epi64(q, r.zp);
  }
  return _mm512_min_epi64(_mm512_max_epi64(q, r.lo), r.hi);
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
// rounding shift's constants (shift_offset's unsigned form) and the state's range.
struct Consts {
  __m512i K[3], off, off_s, mask, below_half, half, odd_bit;
  __m128i up[3], s;
  VRange range;
};

SSMSIM_AVX512 Consts consts_of(const quant::ScaledSum& upd) {
  Consts c;
  for (size_t k = 0; k < 3; ++k) {
    const bool has = k < upd.K().size();
    c.K[k] = _mm512_set1_epi64(has ? upd.K()[k] : 0);
    c.up[k] = _mm_cvtsi32_si128(has ? upd.S() - upd.shifts()[k] : 0);
  }
  const quant::detail::Shift64& k = upd.shift64();
  constexpr uint64_t kOff = uint64_t{1} << 62;
  c.off = _mm512_set1_epi64(static_cast<int64_t>(kOff));
  c.off_s = _mm512_set1_epi64(static_cast<int64_t>(kOff >> k.shift));
  c.mask = _mm512_set1_epi64(k.mask);
  c.below_half = _mm512_set1_epi64(k.below_half);
  c.half = _mm512_set1_epi64(k.half);
  c.odd_bit = _mm512_set1_epi64(k.mask != 0 ? 1 : 0);
  c.s = _mm_cvtsi32_si128(k.shift);
  c.range = range_of(upd.range64(), upd.zero_point());  // into an activation point: its operand q - zp
  return c;
}

// (v K_k) << up_k with v and K_k in 32 bits: one signed 32 x 32 -> 64-bit multiply.
SSMSIM_AVX512 inline __m512i term(__m512i v, const Consts& c, size_t k) {
  return _mm512_sll_epi64(_mm512_mul_epi32(v, c.K[k]), c.up[k]);
}

// The one rounding and overflow step of an aligned sum into the operand q - zp (shift_offset
// above, then ScaledSum::fast_narrow's fit): counts the lanes outside the range into ev.
// The rounding mode r is a constant in the state kernels (narrow<R, O> below: it folds away) and
// read at run time in the dense layer's.
template <bool Wrap>
[[gnu::always_inline]] SSMSIM_AVX512 inline __m512i narrow(__m512i sum, const Consts& c, Rounding r, __m512i& ev) {
  const __m512i u = _mm512_add_epi64(sum, c.off);
  const __mmask8 neg = _mm512_cmplt_epi64_mask(sum, _mm512_setzero_si512());
  const __m512i odd = r == Rounding::HalfEven ? _mm512_and_si512(_mm512_srl_epi64(u, c.s), c.odd_bit) : u;
  const __m512i bias = rounding_bias(r, neg, odd, c.mask, c.below_half, c.half);
  const __m512i q = _mm512_sub_epi64(_mm512_srl_epi64(_mm512_add_epi64(u, bias), c.s), c.off_s);
  return fit<Wrap>(q, c.range, ev);
}
template <Rounding R, Overflow O>
SSMSIM_AVX512 inline __m512i narrow(__m512i sum, const Consts& c, __m512i& ev) {
  return narrow<O == Overflow::Wrap>(sum, c, R, ev);  // the range holds SaturateSymmetric's -max
}

// One complex state update (x' = narrow(A x + B u [+ x]) per part) of 8 lanes, in place; bur,
// bui: the exact B u.
template <Rounding R, Overflow O, bool Delta>
SSMSIM_AVX512 inline void update(__m512i ar, __m512i ai, __m512i bur, __m512i bui, const Consts& c, __m512i& xr,
                                 __m512i& xi, __m512i& ev) {
  const __m512i pr = _mm512_sub_epi64(_mm512_mul_epi32(ar, xr), _mm512_mul_epi32(ai, xi));
  const __m512i pi = _mm512_add_epi64(_mm512_mul_epi32(ar, xi), _mm512_mul_epi32(ai, xr));
  __m512i sr = _mm512_add_epi64(term(pr, c, 0), term(bur, c, 1));
  __m512i si = _mm512_add_epi64(term(pi, c, 0), term(bui, c, 1));
  if constexpr (Delta) {
    sr = _mm512_add_epi64(sr, term(xr, c, 2));
    si = _mm512_add_epi64(si, term(xi, c, 2));
  }
  xr = narrow<R, O>(sr, c, ev);
  xi = narrow<R, O>(si, c, ev);
}

// s4d_generic with one vector per mode and part: MB modes of a channel advance
// together (independent recurrences hide the multipliers' latency).
template <Rounding R, Overflow O, bool Delta>
SSMSIM_AVX512 void s4d_avx512(const QLayerConsts& Ly, const Seq<int32_t>& u, size_t H, size_t L, int64_t* yacc,
                              uint64_t* events, int32_t* record) {
  static_assert(kLanes == 8, "one 512-bit vector holds the 8 lanes of a chunk");
  constexpr size_t MB = 4;
  const size_t N2 = Ly.states;
  __m512i ev = _mm512_setzero_si512();
  for (size_t hh = 0; hh < H; ++hh) {
    const Consts c = consts_of(Ly.xupd[hh]);
    for (size_t n0 = 0; n0 < N2; n0 += MB) {
      const size_t nb = std::min(MB, N2 - n0);
      __m512i ar[MB], ai[MB], br[MB], bi[MB], cr[MB], ci[MB], xr[MB], xi[MB];
      for (size_t j = 0; j < MB; ++j) {  // padded modes (j >= nb) have zero coefficients
        const size_t m = hh * N2 + n0 + j;
        const bool v = j < nb;
        ar[j] = _mm512_set1_epi64(v ? Ly.Ar[m] : 0), ai[j] = _mm512_set1_epi64(v ? Ly.Ai[m] : 0);
        br[j] = _mm512_set1_epi64(v ? Ly.Br[m] : 0), bi[j] = _mm512_set1_epi64(v ? Ly.Bi[m] : 0);
        cr[j] = _mm512_set1_epi64(v ? Ly.Cr[m] : 0), ci[j] = _mm512_set1_epi64(v ? Ly.Ci[m] : 0);
        xr[j] = xi[j] = _mm512_setzero_si512();
      }
      for (size_t t = 0; t < L; ++t) {
        const __m512i uu = _mm512_cvtepi32_epi64(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(u.at(t, hh))));
        int64_t* accp = yacc + (t * H + hh) * kLanes;
        __m512i acc = _mm512_loadu_si512(accp);
        for (size_t j = 0; j < MB; ++j) {
          update<R, O, Delta>(ar[j], ai[j], _mm512_mul_epi32(br[j], uu), _mm512_mul_epi32(bi[j], uu), c, xr[j], xi[j],
                              ev);
          acc = _mm512_add_epi64(acc, _mm512_sub_epi64(_mm512_mul_epi32(cr[j], xr[j]), _mm512_mul_epi32(ci[j], xi[j])));
        }
        _mm512_storeu_si512(accp, acc);
        if (record)
          for (size_t j = 0; j < nb; ++j) {
            int32_t* rec = record + ((hh * N2 + n0 + j) * L + t) * 2 * kLanes;
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(rec), _mm512_cvtepi64_epi32(xr[j]));
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(rec + kLanes), _mm512_cvtepi64_epi32(xi[j]));
          }
      }
    }
  }
  alignas(64) uint64_t e[kLanes];
  _mm512_store_si512(e, ev);
  for (size_t l = 0; l < kLanes; ++l) events[l] += e[l];
}

// qengine.cpp's s5_states with a stored state operand: per step, B u of every state (MB states
// at a time share each input vector), the state update (the same narrowing as S4D's, with each
// state's own constants), then every output channel's sum over the states. The vectors of the
// states' constants live in 64-byte aligned raw storage: GCC 12 does not align a heap container
// of 512-bit vectors inside a target function.
template <Rounding R, Overflow O, bool Delta>
SSMSIM_AVX512 void s5_avx512(const QLayerConsts& Ly, const Seq<int32_t>& u, size_t H, size_t L, int64_t* yacc,
                             uint64_t* events, int32_t* record) {
  static_assert(kLanes == 8, "one 512-bit vector holds the 8 lanes of a chunk");
  constexpr size_t MB = 4;
  const size_t P2 = Ly.states;
  std::vector<unsigned char> raw((P2 + 1) * sizeof(Consts));
  Consts* cs = reinterpret_cast<Consts*>((reinterpret_cast<uintptr_t>(raw.data()) + 63) & ~uintptr_t{63});
  for (size_t pp = 0; pp < P2; ++pp) cs[pp] = consts_of(Ly.xupd[pp]);
  std::vector<int64_t> U(H * kLanes), X(2 * P2 * kLanes, 0);  // one step's inputs; the states (re, im)
  __m512i ev = _mm512_setzero_si512();
  for (size_t t = 0; t < L; ++t) {
    for (size_t hh = 0; hh < H; ++hh)
      _mm512_storeu_si512(&U[hh * kLanes],
                          _mm512_cvtepi32_epi64(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(u.at(t, hh)))));
    for (size_t p0 = 0; p0 < P2; p0 += MB) {
      const size_t nb = std::min(MB, P2 - p0);
      __m512i bur[MB], bui[MB];
      for (size_t j = 0; j < MB; ++j) bur[j] = bui[j] = _mm512_setzero_si512();
      for (size_t hh = 0; hh < H; ++hh) {
        const __m512i uu = _mm512_loadu_si512(&U[hh * kLanes]);
        for (size_t j = 0; j < nb; ++j) {
          const size_t b = (p0 + j) * H + hh;
          bur[j] = _mm512_add_epi64(bur[j], _mm512_mul_epi32(_mm512_set1_epi64(Ly.Br[b]), uu));
          bui[j] = _mm512_add_epi64(bui[j], _mm512_mul_epi32(_mm512_set1_epi64(Ly.Bi[b]), uu));
        }
      }
      for (size_t j = 0; j < nb; ++j) {
        const size_t pp = p0 + j;
        const Consts& c = cs[pp];
        int64_t* xp = &X[2 * pp * kLanes];
        __m512i qr = _mm512_loadu_si512(xp), qi = _mm512_loadu_si512(xp + kLanes);
        update<R, O, Delta>(_mm512_set1_epi64(Ly.Ar[pp]), _mm512_set1_epi64(Ly.Ai[pp]), bur[j], bui[j], c, qr, qi, ev);
        _mm512_storeu_si512(xp, qr);
        _mm512_storeu_si512(xp + kLanes, qi);
        if (record) {
          int32_t* rec = record + (t * 2 * P2 + 2 * pp) * kLanes;
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(rec), _mm512_cvtepi64_epi32(qr));
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(rec + kLanes), _mm512_cvtepi64_epi32(qi));
        }
      }
    }
    // the output accumulators: MB channels at a time share each state vector
    for (size_t h0 = 0; h0 < H; h0 += MB) {
      const size_t nb = std::min(MB, H - h0);
      __m512i acc[MB];
      for (size_t j = 0; j < nb; ++j) acc[j] = _mm512_loadu_si512(yacc + (t * H + h0 + j) * kLanes);
      for (size_t pp = 0; pp < P2; ++pp) {
        const __m512i xr = _mm512_loadu_si512(&X[2 * pp * kLanes]), xi = _mm512_loadu_si512(&X[(2 * pp + 1) * kLanes]);
        for (size_t j = 0; j < nb; ++j) {
          const size_t cidx = (h0 + j) * P2 + pp;
          acc[j] = _mm512_add_epi64(acc[j], _mm512_sub_epi64(_mm512_mul_epi32(_mm512_set1_epi64(Ly.Cr[cidx]), xr),
                                                             _mm512_mul_epi32(_mm512_set1_epi64(Ly.Ci[cidx]), xi)));
        }
      }
      for (size_t j = 0; j < nb; ++j) _mm512_storeu_si512(yacc + (t * H + h0 + j) * kLanes, acc[j]);
    }
  }
  alignas(64) uint64_t e[kLanes];
  _mm512_store_si512(e, ev);
  for (size_t l = 0; l < kLanes; ++l) events[l] += e[l];
}

// Block floating point (qsteps.hpp's narrow_block) on 8 lanes with a shift per lane: the rounding
// shift of v (|v| < 2^62) by e (0..62) in mode r (round_shift64's result; the mantissa's fit is
// fit() with the operand's range).
[[gnu::always_inline]] SSMSIM_AVX512 inline __m512i round_by(__m512i v, __m512i e, Rounding r) {
  const __m512i one = _mm512_set1_epi64(1), off = _mm512_set1_epi64(int64_t{1} << 62);
  const __m512i mask = _mm512_sub_epi64(_mm512_sllv_epi64(one, e), one);
  const __m512i below_half = _mm512_srli_epi64(mask, 1), half = _mm512_sub_epi64(mask, below_half);
  const __m512i u = _mm512_add_epi64(v, off);
  const __mmask8 neg = _mm512_cmplt_epi64_mask(v, _mm512_setzero_si512());
  // the lowest kept bit, 0 where nothing is dropped (e = 0); read by half_even only
  const __m512i odd =
      r == Rounding::HalfEven
          ? _mm512_maskz_and_epi64(_mm512_cmpneq_epi64_mask(mask, _mm512_setzero_si512()), _mm512_srlv_epi64(u, e), one)
          : u;
  const __m512i bias = rounding_bias(r, neg, odd, mask, below_half, half);
  return _mm512_sub_epi64(_mm512_srlv_epi64(_mm512_add_epi64(u, bias), e), _mm512_srlv_epi64(off, e));
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
// parts another), then the output terms. Vectors of a channel's modes live in int64 buffers.
template <Rounding R, Overflow O, bool Delta>
SSMSIM_AVX512 void s4d_block_avx512(const QLayerConsts& Ly, const Seq<int32_t>& u, size_t H, size_t L, int64_t* yacc,
                                    uint64_t* events, uint64_t* op_events, int32_t* record) {
  static_assert(kLanes == 8, "one 512-bit vector holds the 8 lanes of a chunk");
  const XOperandConsts& op = Ly.xop;
  const size_t N2 = Ly.states, V = kLanes;
  // per mode: the stored state (re, im), the mantissas and exponents (re, im)
  std::vector<int64_t> X(2 * N2 * V), M(2 * N2 * V), E(2 * N2 * V);
  const VRange mantissa = range_of(op.range, 0);
  __m512i ev = _mm512_setzero_si512(), evo = _mm512_setzero_si512();
  auto at = [&](std::vector<int64_t>& b, size_t n, size_t part) { return &b[(2 * n + part) * V]; };
  for (size_t hh = 0; hh < H; ++hh) {
    const Consts c = consts_of(Ly.xupd[hh]);
    std::fill(X.begin(), X.end(), 0);
    std::fill(M.begin(), M.end(), 0);
    std::fill(E.begin(), E.end(), 0);
    for (size_t t = 0; t < L; ++t) {
      const __m512i uu = _mm512_cvtepi32_epi64(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(u.at(t, hh))));
      for (size_t n = 0; n < N2; ++n) {
        const size_t k = hh * N2 + n;
        const __m512i ar = _mm512_set1_epi64(Ly.Ar[k]), ai = _mm512_set1_epi64(Ly.Ai[k]);
        const __m512i mr = _mm512_loadu_si512(at(M, n, 0)), mi = _mm512_loadu_si512(at(M, n, 1));
        const __m512i er = _mm512_loadu_si512(at(E, n, 0)), ei = _mm512_loadu_si512(at(E, n, 1));
        // A (m 2^e): each product shifted by its part's exponent
        const __m512i pr = _mm512_sub_epi64(_mm512_sllv_epi64(_mm512_mul_epi32(ar, mr), er),
                                            _mm512_sllv_epi64(_mm512_mul_epi32(ai, mi), ei));
        const __m512i pi = _mm512_add_epi64(_mm512_sllv_epi64(_mm512_mul_epi32(ar, mi), ei),
                                            _mm512_sllv_epi64(_mm512_mul_epi32(ai, mr), er));
        __m512i sr = _mm512_add_epi64(term(pr, c, 0), term(_mm512_mul_epi32(_mm512_set1_epi64(Ly.Br[k]), uu), c, 1));
        __m512i si = _mm512_add_epi64(term(pi, c, 0), term(_mm512_mul_epi32(_mm512_set1_epi64(Ly.Bi[k]), uu), c, 1));
        if constexpr (Delta) {
          sr = _mm512_add_epi64(sr, term(_mm512_loadu_si512(at(X, n, 0)), c, 2));
          si = _mm512_add_epi64(si, term(_mm512_loadu_si512(at(X, n, 1)), c, 2));
        }
        _mm512_storeu_si512(at(X, n, 0), narrow<R, O>(sr, c, ev));
        _mm512_storeu_si512(at(X, n, 1), narrow<R, O>(si, c, ev));
      }
      // the new operands, block by block (cut at the channel's end), each part on its own
      for (size_t b = 0; b < N2; b += op.block)
        for (size_t part = 0; part < 2; ++part) {
          const size_t end = std::min(N2, b + op.block);
          __m512i mag = _mm512_setzero_si512();
          for (size_t n = b; n < end; ++n)
            mag = _mm512_max_epu64(mag, _mm512_abs_epi64(_mm512_loadu_si512(at(X, n, part))));
          const __m512i e = block_exponent(mag, op);
          for (size_t n = b; n < end; ++n) {
            _mm512_storeu_si512(
                at(M, n, part),
                op.overflow == Overflow::Wrap
                    ? fit<true>(round_by(_mm512_loadu_si512(at(X, n, part)), e, op.rounding), mantissa, evo)
                    : fit<false>(round_by(_mm512_loadu_si512(at(X, n, part)), e, op.rounding), mantissa, evo));
            _mm512_storeu_si512(at(E, n, part), e);
          }
        }
      int64_t* accp = yacc + (t * H + hh) * V;
      __m512i acc = _mm512_loadu_si512(accp);
      for (size_t n = 0; n < N2; ++n) {
        const size_t k = hh * N2 + n;
        acc = _mm512_add_epi64(
            acc, _mm512_sub_epi64(
                     _mm512_sllv_epi64(_mm512_mul_epi32(_mm512_set1_epi64(Ly.Cr[k]), _mm512_loadu_si512(at(M, n, 0))),
                                       _mm512_loadu_si512(at(E, n, 0))),
                     _mm512_sllv_epi64(_mm512_mul_epi32(_mm512_set1_epi64(Ly.Ci[k]), _mm512_loadu_si512(at(M, n, 1))),
                                       _mm512_loadu_si512(at(E, n, 1)))));
      }
      _mm512_storeu_si512(accp, acc);
      if (record)
        for (size_t n = 0; n < N2; ++n) {
          int32_t* rec = record + ((hh * N2 + n) * L + t) * 2 * V;
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(rec), _mm512_cvtepi64_epi32(_mm512_loadu_si512(at(X, n, 0))));
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(rec + V),
                              _mm512_cvtepi64_epi32(_mm512_loadu_si512(at(X, n, 1))));
        }
    }
  }
  alignas(64) uint64_t e1[kLanes], e2[kLanes];
  _mm512_store_si512(e1, ev);
  _mm512_store_si512(e2, evo);
  for (size_t l = 0; l < kLanes; ++l) events[l] += e1[l], op_events[l] += e2[l];
}

// qengine.cpp's qlinear: every step's outputs o0 .. o0 + on - 1, one vector of 8 lanes each.
// Output by output (its constants stay in registers; 512-bit vectors are kept out of heap
// containers, whose allocator GCC 12 does not align for them inside a target function).
SSMSIM_AVX512 void dense_kernel(const int32_t* W, const int32_t* b, size_t o0, size_t on, const Seq<int32_t>& in,
                                const quant::ScaledSum* narrow_to, Seq<int32_t>& out, uint64_t* const* ev) {
  const size_t I = in.F, L = in.L;
  __m512i e = _mm512_setzero_si512();
  for (size_t o = 0; o < on; ++o) {
    const quant::ScaledSum& n = narrow_to[o];
    const Consts c = consts_of(n);
    const int32_t* w = W + (o0 + o) * I;
    const __m512i bias = _mm512_set1_epi64(b[o0 + o]);
    for (size_t t = 0; t < L; ++t) {
      const int32_t* x = in.at(t, 0);
      __m512i acc = bias;
      for (size_t i = 0; i < I; ++i)
        acc = _mm512_add_epi64(
            acc, _mm512_mul_epi32(_mm512_set1_epi64(w[i]), _mm512_cvtepi32_epi64(_mm256_loadu_si256(
                                                               reinterpret_cast<const __m256i*>(x + i * kLanes)))));
      const __m512i q = n.overflow() == Overflow::Wrap ? narrow<true>(term(acc, c, 0), c, n.rounding(), e)
                                                       : narrow<false>(term(acc, c, 0), c, n.rounding(), e);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out.at(t, o)), _mm512_cvtepi64_epi32(q));
    }
  }
  alignas(64) uint64_t counts[kLanes];
  _mm512_store_si512(counts, e);
  for (size_t l = 0; l < kLanes; ++l) *ev[l] += counts[l];
}

}  // namespace

#endif

namespace {

using Kernel = void (*)(const QLayerConsts&, const Seq<int32_t>&, size_t, size_t, int64_t*, uint64_t*, int32_t*);

// The kernel families: each instantiates a kernel for a rounding mode, an overflow mode and
// whether A is in delta form.
struct S4dGeneric {
  template <quant::Rounding R, quant::Overflow O, bool Delta>
  static Kernel get() {
    return s4d_generic<R, O, Delta>;
  }
};
#ifdef SSMSIM_AVX512_KERNELS
struct S4dAvx512 {
  template <quant::Rounding R, quant::Overflow O, bool Delta>
  static Kernel get() {
    return s4d_avx512<R, O, Delta>;
  }
};
struct S5Avx512 {
  template <quant::Rounding R, quant::Overflow O, bool Delta>
  static Kernel get() {
    return s5_avx512<R, O, Delta>;
  }
};
using BlockKernel = void (*)(const QLayerConsts&, const Seq<int32_t>&, size_t, size_t, int64_t*, uint64_t*, uint64_t*,
                             int32_t*);
struct S4dBlockAvx512 {
  template <quant::Rounding R, quant::Overflow O, bool Delta>
  static BlockKernel get() {
    return s4d_block_avx512<R, O, Delta>;
  }
};
#endif

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

}  // namespace

void s4d_states_fast(const QLayerConsts& Ly, const Seq<int32_t>& u, size_t H, size_t L, int64_t* yacc, uint64_t* events,
                     int32_t* record) {
#ifdef SSMSIM_AVX512_KERNELS
  if (Ly.narrow32 && path() == Path::Avx512) return pick<S4dAvx512>(Ly)(Ly, u, H, L, yacc, events, record);
#endif
  pick<S4dGeneric>(Ly)(Ly, u, H, L, yacc, events, record);
}

bool s4d_block_operand_avx512(const QLayerConsts& Ly, const Seq<int32_t>& u, size_t H, size_t L, int64_t* yacc,
                              uint64_t* events, uint64_t* operand_events, int32_t* record) {
#ifdef SSMSIM_AVX512_KERNELS
  if (!Ly.narrow32 || Ly.xop.mode != XOperand::Block || path() != Path::Avx512) return false;
  pick<S4dBlockAvx512>(Ly)(Ly, u, H, L, yacc, events, operand_events, record);
  return true;
#else
  (void)Ly, (void)u, (void)H, (void)L, (void)yacc, (void)events, (void)operand_events, (void)record;
  return false;
#endif
}

bool s5_states_avx512(const QLayerConsts& Ly, const Seq<int32_t>& u, size_t H, size_t L, int64_t* yacc,
                      uint64_t* events, int32_t* record) {
#ifdef SSMSIM_AVX512_KERNELS
  if (!Ly.narrow32 || Ly.xop.mode != XOperand::Stored || path() != Path::Avx512) return false;
  pick<S5Avx512>(Ly)(Ly, u, H, L, yacc, events, record);
  return true;
#else
  (void)Ly, (void)u, (void)H, (void)L, (void)yacc, (void)events, (void)record;
  return false;
#endif
}

bool dense_avx512(const int32_t* W, const int32_t* b, size_t o0, size_t on, const Seq<int32_t>& in,
                  const quant::ScaledSum* narrow_to, Seq<int32_t>& out, uint64_t* const* ev) {
#ifdef SSMSIM_AVX512_KERNELS
  if (path() != Path::Avx512) return false;
  // the chunk's largest input magnitude bounds every accumulator (exact bits whichever path runs)
  int64_t in_max = 0;
  for (int32_t v : in.v) in_max = std::max(in_max, v < 0 ? -int64_t{v} : int64_t{v});
  const size_t I = in.F;
  for (size_t o = 0; o < on; ++o) {
    const quant::ScaledSum& n = narrow_to[o];
    int64_t bound = b[o0 + o] < 0 ? -int64_t{b[o0 + o]} : b[o0 + o];
    for (size_t i = 0; i < I; ++i) bound += std::abs(int64_t{W[(o0 + o) * I + i]}) * in_max;
    const int64_t k = n.K().size() == 1 ? n.K()[0] : int64_t{1} << 40;
    if (bound >= (int64_t{1} << 31) || k < INT32_MIN || k > INT32_MAX || !n.fits64({bound})) return false;
  }
  out.resize(in.L, on);
  dense_kernel(W, b, o0, on, in, narrow_to, out, ev);
  return true;
#else
  (void)W, (void)b, (void)o0, (void)on, (void)in, (void)narrow_to, (void)out, (void)ev;
  return false;
#endif
}

}  // namespace ssmsim::core::simd
