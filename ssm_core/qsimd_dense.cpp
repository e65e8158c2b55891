// The AVX-512 dense layers of the integer C-model (qsimd.hpp's dense_avx512): 64-bit products, a
// split form for multipliers whose products exceed 64 bits, vpmaddwd on 16-bit operands and
// (AVX512-VNNI) vpdpbusd on 8-bit ones; every form the same bits as qengine.cpp's qlinear.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "ssm_core/qsimd.hpp"
#include "ssm_core/qsimd_avx512.hpp"

namespace ssmsim::core::simd {

#ifdef SSMSIM_AVX512_KERNELS

namespace {

using namespace avx512;

// A dense output's accumulator a times its one multiplier K in split form (qsimd_avx512.hpp's
// split and joined), for a K a beyond 64 bits: a K = ((a >> 16) K) 2^16 + (a mod 2^16) K, both
// products exact in 64 bits where dense_split_fits holds, split at c = S.
SSMSIM_AVX512 SplitConsts dense_split_consts(const quant::ScaledSum& n) {
  SplitConsts s = split_consts(n);
  const int S = n.S();
  s.K[1] = s.K[0];
  s.a[0] = _mm512_set1_epi64(16), s.d[0] = _mm512_set1_epi64(S - 16);
  s.m[0] = _mm512_set1_epi64((int64_t{1} << (S - 16)) - 1);
  s.a[1] = _mm512_setzero_si512(), s.d[1] = _mm512_set1_epi64(S), s.m[1] = s.maskc;
  return s;
}

// qengine.cpp's qlinear: every step's outputs o0 .. o0 + on - 1, one vector of 8 lanes each,
// each accumulator narrowed in 64 bits or (Split) from the split form above. Output by output
// (its constants stay in registers; 512-bit vectors are kept out of heap containers, whose
// allocator GCC 12 does not align for them inside a target function).
template <bool Split>
SSMSIM_AVX512 void dense_kernel(const int32_t* W, const int32_t* b, size_t o0, size_t on, const Seq<int32_t>& in,
                                const quant::ScaledSum* narrow_to, Seq<int32_t>& out, uint64_t* const* ev) {
  const size_t I = in.F, L = in.L;
  __m512i e = _mm512_setzero_si512();
  for (size_t o = 0; o < on; ++o) {
    const quant::ScaledSum& n = narrow_to[o];
    const Consts c = Split ? Consts{} : consts_of(n);
    const SplitConsts sc = Split ? dense_split_consts(n) : SplitConsts{};
    const int32_t* w = W + (o0 + o) * I;
    const __m512i bias = _mm512_set1_epi64(b[o0 + o]);
    for (size_t t = 0; t < L; ++t) {
      const int32_t* x = in.at(t, 0);
      __m512i acc = bias;
      for (size_t i = 0; i < I; ++i)
        acc = _mm512_add_epi64(
            acc, _mm512_mul_epi32(_mm512_set1_epi64(w[i]), _mm512_cvtepi32_epi64(_mm256_loadu_si256(
                                                               reinterpret_cast<const __m256i*>(x + i * kLanes)))));
      __m512i q;
      if constexpr (Split) {
        __m512i hi = _mm512_setzero_si512(), lo = hi;
        split(_mm512_mullo_epi64(_mm512_srai_epi64(acc, 16), sc.K[0]), sc.a[0], sc.d[0], sc.m[0], hi, lo);
        split(_mm512_mul_epi32(_mm512_and_si512(acc, _mm512_set1_epi64(0xFFFF)), sc.K[1]), sc.a[1], sc.d[1], sc.m[1],
              hi, lo);
        q = narrow(joined(hi, lo, sc.c, sc.maskc, sc.maskc1), sc.r2, n.rounding(), n.overflow(), e);
      } else {
        q = narrow(term(acc, c, 0), c, n.rounding(), n.overflow(), e);
      }
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out.at(t, o)), _mm512_cvtepi64_epi32(q));
    }
  }
  add_events(e, ev);
}

// The packed forms of dense_kernel: G inputs per 32-bit lane (2 as 16-bit codes for vpmaddwd, 4
// as bytes for vpdpbusd), two steps (16 lanes) per vector, 8 outputs sharing each input vector.
// X[step pair][input group][step parity][lane], W[output][input group]; bias per output (the
// 8-bit form's offset taken off).
struct Packed {
  size_t IG = 0, TP = 0, on = 0;
  std::vector<int32_t> X, W;
  std::vector<int64_t> bias;
};
constexpr size_t kOutBlock = 8;

// acc[j] = the vpmaddwd sums of the step pair x with output j's weight pairs w + j IG, j < NB: the
// NB accumulators stay in registers (NB a constant, so that none is kept in memory between inputs).
template <size_t NB>
[[gnu::always_inline]] SSMSIM_AVX512 inline void madd_outputs(const int32_t* x, const int32_t* w, size_t IG,
                                                              __m512i* acc) {
  __m512i a[NB];
  for (size_t j = 0; j < NB; ++j) a[j] = _mm512_setzero_si512();
  for (size_t ig = 0; ig < IG; ++ig) {
    const __m512i xv = _mm512_loadu_si512(x + ig * 2 * kLanes);
#pragma GCC unroll 8
    for (size_t j = 0; j < NB; ++j)
      a[j] = _mm512_add_epi32(a[j], _mm512_madd_epi16(xv, _mm512_set1_epi32(w[j * IG + ig])));
  }
  for (size_t j = 0; j < NB; ++j) acc[j] = a[j];
}

// The same with vpdpbusd: x's byte quads (inputs + 128) times w's signed byte quads.
template <size_t NB>
[[gnu::always_inline]] SSMSIM_AVX512_VNNI inline void dot4_outputs(const int32_t* x, const int32_t* w, size_t IG,
                                                                   __m512i* acc) {
  __m512i a[NB];
  for (size_t j = 0; j < NB; ++j) a[j] = _mm512_setzero_si512();
  for (size_t ig = 0; ig < IG; ++ig) {
    const __m512i xv = _mm512_loadu_si512(x + ig * 2 * kLanes);
#pragma GCC unroll 8
    for (size_t j = 0; j < NB; ++j) a[j] = _mm512_dpbusd_epi32(a[j], xv, _mm512_set1_epi32(w[j * IG + ig]));
  }
  for (size_t j = 0; j < NB; ++j) acc[j] = a[j];
}

// Every output's 32-bit sums of step pair tp into acc[0 .. on), in blocks of kOutBlock outputs.
SSMSIM_AVX512 void sums16(const Packed& pk, size_t tp, __m512i* acc) {
  const int32_t* x = &pk.X[tp * pk.IG * 2 * kLanes];
  for (size_t ob = 0; ob < pk.on; ob += kOutBlock) {
    if (ob + kOutBlock <= pk.on) {
      madd_outputs<kOutBlock>(x, &pk.W[ob * pk.IG], pk.IG, acc + ob);
    } else {
      for (size_t o = ob; o < pk.on; ++o) madd_outputs<1>(x, &pk.W[o * pk.IG], pk.IG, acc + o);
    }
  }
}
SSMSIM_AVX512_VNNI void sums8(const Packed& pk, size_t tp, __m512i* acc) {
  const int32_t* x = &pk.X[tp * pk.IG * 2 * kLanes];
  for (size_t ob = 0; ob < pk.on; ob += kOutBlock) {
    if (ob + kOutBlock <= pk.on) {
      dot4_outputs<kOutBlock>(x, &pk.W[ob * pk.IG], pk.IG, acc + ob);
    } else {
      for (size_t o = ob; o < pk.on; ++o) dot4_outputs<1>(x, &pk.W[o * pk.IG], pk.IG, acc + o);
    }
  }
}

// The 16-bit form's packing: pairs of inputs and weights as two 16-bit codes.
Packed pack16(const int32_t* W, const int32_t* b, size_t o0, size_t on, const Seq<int32_t>& in) {
  const size_t I = in.F, L = in.L;
  Packed pk;
  pk.IG = (I + 1) / 2, pk.TP = (L + 1) / 2, pk.on = on;
  auto pack = [](int32_t lo, int32_t hi) {
    return static_cast<int32_t>(static_cast<uint16_t>(lo) | static_cast<uint32_t>(static_cast<uint16_t>(hi)) << 16);
  };
  pk.X.assign(pk.TP * pk.IG * 2 * kLanes, 0);
  pk.W.assign(on * pk.IG, 0);
  for (size_t t = 0; t < L; ++t)
    for (size_t ip = 0; ip < pk.IG; ++ip) {
      const int32_t* x0 = in.at(t, 2 * ip);
      int32_t* d = &pk.X[((t / 2 * pk.IG + ip) * 2 + t % 2) * kLanes];
      for (size_t l = 0; l < kLanes; ++l) d[l] = pack(x0[l], 2 * ip + 1 < I ? x0[kLanes + l] : 0);
    }
  for (size_t o = 0; o < on; ++o)
    for (size_t ip = 0; ip < pk.IG; ++ip)
      pk.W[o * pk.IG + ip] = pack(W[(o0 + o) * I + 2 * ip], 2 * ip + 1 < I ? W[(o0 + o) * I + 2 * ip + 1] : 0);
  pk.bias.assign(b + o0, b + o0 + on);
  return pk;
}

// The 8-bit form's packing: quads of inputs offset by 128 to unsigned bytes (quad_bytes), quads of
// signed weights, and the offset's 128 sum(w) taken off the bias (every 32-bit sum exact: |sum| <=
// 255 * 128 * I).
SSMSIM_AVX512 Packed pack8(const int32_t* W, const int32_t* b, size_t o0, size_t on, const Seq<int32_t>& in) {
  const size_t I = in.F, L = in.L;
  Packed pk;
  pk.IG = (I + 3) / 4, pk.TP = (L + 1) / 2, pk.on = on;
  pk.X.assign(pk.TP * pk.IG * 2 * kLanes, 0);
  pk.W.assign(on * pk.IG, 0);
  pk.bias.resize(on);
  const __m512i offset = _mm512_set1_epi32(128);
  std::vector<int32_t> tail(4 * kLanes, 0);  // a last, partial quad of inputs (zeros beyond I)
  for (size_t t = 0; t < L; ++t)
    for (size_t iq = 0; iq < pk.IG; ++iq) {
      const int32_t* row = in.at(t, 4 * iq);
      if (4 * iq + 4 > I) {
        std::copy(row, row + (I - 4 * iq) * kLanes, tail.begin());
        row = tail.data();
      }
      quad_bytes(row, offset, &pk.X[((t / 2 * pk.IG + iq) * 2 + t % 2) * kLanes]);
    }
  for (size_t o = 0; o < on; ++o) {
    int64_t wsum = 0;
    for (size_t i = 0; i < I; ++i) {
      const int32_t w = W[(o0 + o) * I + i];
      wsum += w;
      pk.W[o * pk.IG + i / 4] |= static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint8_t>(w)) << (8 * (i % 4)));
    }
    pk.bias[o] = b[o0 + o] - 128 * wsum;
  }
  return pk;
}

// dense_kernel on a packed form: each step pair's sums (sums16 or sums8), plus the bias, narrowed
// into out.
SSMSIM_AVX512 void packed_kernel(const Packed& pk, void (*sums)(const Packed&, size_t, __m512i*), size_t L,
                                 const quant::ScaledSum* narrow_to, Seq<int32_t>& out, uint64_t* const* ev) {
  const size_t on = pk.on;
  std::vector<unsigned char> raw, raw_acc;
  Consts* cs = aligned_array<Consts>(raw, on);
  for (size_t o = 0; o < on; ++o) cs[o] = consts_of(narrow_to[o]);
  __m512i* acc = aligned_array<__m512i>(raw_acc, on);
  out.reshape(L, on);
  __m512i e = _mm512_setzero_si512();
  for (size_t tp = 0; tp < pk.TP; ++tp) {
    sums(pk, tp, acc);
    for (size_t o = 0; o < on; ++o) {
      const quant::ScaledSum& n = narrow_to[o];
      const __m512i bo = _mm512_set1_epi64(pk.bias[o]);
      for (size_t half = 0; half < 2 && 2 * tp + half < L; ++half) {
        const __m512i a = _mm512_add_epi64(
            bo, _mm512_cvtepi32_epi64(half ? _mm512_extracti64x4_epi64(acc[o], 1) : _mm512_castsi512_si256(acc[o])));
        const __m512i q = narrow(term(a, cs[o], 0), cs[o], n.rounding(), n.overflow(), e);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out.at(2 * tp + half, o)), _mm512_cvtepi64_epi32(q));
      }
    }
  }
  add_events(e, ev);
}

}  // namespace

#endif

namespace {

// Whether dense_split_consts' form is exact for an output with accumulator |a| <= bound: one
// multiplier K in 0..2^31-1, a shift S in 16..60, (a >> 16) K below 2^63 and the sum's floor at
// S far inside 64 bits.
bool dense_split_fits(const quant::ScaledSum& n, int64_t bound) {
  if (n.K().size() != 1 || n.K()[0] < 0 || n.K()[0] > INT32_MAX || n.S() < 16 || n.S() > kSplitStateMax) return false;
  const double t = static_cast<double>(bound) * static_cast<double>(n.K()[0]);
  return bound < (int64_t{1} << 47) && t < 0x1p78 && t < std::ldexp(1.0, n.S() + 57);
}

}  // namespace

bool dense_avx512(const int32_t* W, const int32_t* b, size_t o0, size_t on, const Seq<int32_t>& in,
                  const quant::ScaledSum* narrow_to, Seq<int32_t>& out, uint64_t* const* ev) {
#ifdef SSMSIM_AVX512_KERNELS
  if (path() != Path::Avx512) return false;
  // the chunk's largest input magnitude bounds every accumulator (exact bits whichever path runs)
  int32_t lo = 0, hi = 0;
  for (int32_t v : in.v) lo = std::min(lo, v), hi = std::max(hi, v);
  const int64_t in_max = std::max(-int64_t{lo}, int64_t{hi});
  bool w16 = lo >= INT16_MIN && hi <= INT16_MAX;                          // signed 16-bit operands: the vpmaddwd form
  bool w8 = vnni() && lo >= INT8_MIN && hi <= INT8_MAX && in.F <= 65536;  // 8-bit ones: vpdpbusd
  const size_t I = in.F;
  bool split = false;  // some output's a K beyond 64 bits: every output in split form
  for (size_t o = 0; o < on; ++o) {
    const quant::ScaledSum& n = narrow_to[o];
    int64_t bound = b[o0 + o] < 0 ? -int64_t{b[o0 + o]} : b[o0 + o], wsum = 0;
    for (size_t i = 0; i < I; ++i) {
      const int64_t w = std::abs(int64_t{W[(o0 + o) * I + i]});
      w16 = w16 && w <= 32767;
      w8 = w8 && w <= 127;
      bound += w * in_max;
      wsum += w * in_max;
    }
    const int64_t k = n.K().size() == 1 ? n.K()[0] : int64_t{1} << 40;
    if (k < INT32_MIN || k > INT32_MAX) return false;
    if (bound >= (int64_t{1} << 31) || !n.fits64({bound})) {
      if (!dense_split_fits(n, bound)) return false;
      split = true;
    }
    w16 = w16 && wsum < (int64_t{1} << 31);
  }
  if (split) {
    out.reshape(in.L, on);
    dense_kernel<true>(W, b, o0, on, in, narrow_to, out, ev);
  } else if (w16 && w8) {
    packed_kernel(pack8(W, b, o0, on, in), sums8, in.L, narrow_to, out, ev);
  } else if (w16) {
    packed_kernel(pack16(W, b, o0, on, in), sums16, in.L, narrow_to, out, ev);
  } else {
    out.reshape(in.L, on);
    dense_kernel<false>(W, b, o0, on, in, narrow_to, out, ev);
  }
  return true;
#else
  (void)W, (void)b, (void)o0, (void)on, (void)in, (void)narrow_to, (void)out, (void)ev;
  return false;
#endif
}

}  // namespace ssmsim::core::simd
