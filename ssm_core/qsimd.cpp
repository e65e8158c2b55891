// AVX-512 kernels of the integer C-model (qsimd.hpp), compiled for AVX-512 with a function
// attribute only: the rest of the portable build never uses it, and the CPU is asked at run time.
#include "ssm_core/qsimd.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <vector>

#include "quant/errors.hpp"
#include "ssm_core/qsimd_avx512.hpp"

namespace ssmsim::core::simd {

namespace {

bool cpu_has_avx512() {
#ifdef SSMSIM_AVX512_KERNELS
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512bw");
#else
  return false;
#endif
}

bool cpu_has_vnni() {
#ifdef SSMSIM_AVX512_KERNELS
  return cpu_has_avx512() && __builtin_cpu_supports("avx512vnni");
#else
  return false;
#endif
}

std::string simd_env() {
  const char* v = std::getenv("SSMSIM_SIMD");
  return v ? v : "";
}

// SSMSIM_SIMD: auto (or unset), generic, or avx512 with any of the suffixes _novnni and _nof64
// (forms the AVX-512 path then does not use).
struct SimdEnv {
  Path path = Path::Generic;
  bool vnni = true, f64 = true;
};

SimdEnv parse_simd_env() {
  const std::string s = simd_env();
  SimdEnv e;
  e.path = cpu_has_avx512() ? Path::Avx512 : Path::Generic;
  if (s.empty() || s == "auto") return e;
  e.path = Path::Generic;
  if (s == "generic") return e;
  bool ok = s.rfind("avx512", 0) == 0;
  for (size_t at = 6; ok && at < s.size();) {
    const std::string rest = s.substr(at);
    if (rest.rfind("_novnni", 0) == 0 && e.vnni)
      e.vnni = false, at += 7;
    else if (rest.rfind("_nof64", 0) == 0 && e.f64)
      e.f64 = false, at += 6;
    else
      ok = false;
  }
  if (!ok)
    throw InputError("SSMSIM_SIMD='" + s +
                     "' is not a kernel path: use auto (the default), generic, or avx512 with any of the suffixes "
                     "_novnni and _nof64 (e.g. avx512_novnni)");
  if (!cpu_has_avx512())
    throw InputError("SSMSIM_SIMD=" + s + ": this CPU has no AVX-512 (F, DQ, VL, CD, BW); unset SSMSIM_SIMD");
  e.path = Path::Avx512;
  return e;
}

const SimdEnv& simd_settings() {
  static const SimdEnv e = parse_simd_env();
  return e;
}

std::atomic<Path>& current() {
  static std::atomic<Path> p{simd_settings().path};
  return p;
}

std::atomic<bool>& vnni_on() {
  static std::atomic<bool> on{cpu_has_vnni() && simd_settings().vnni};
  return on;
}

std::atomic<bool>& f64_on() {
  static std::atomic<bool> on{cpu_has_avx512() && simd_settings().f64};
  return on;
}

}  // namespace

Path path() { return current().load(std::memory_order_relaxed); }

bool force(Path p) {
  if (p == Path::Avx512 && !cpu_has_avx512()) return false;
  current().store(p, std::memory_order_relaxed);
  return true;
}

std::string name(Path p) { return p == Path::Avx512 ? "avx512" : "generic"; }

bool vnni() { return vnni_on().load(std::memory_order_relaxed); }

bool allow_vnni(bool on) {
  if (on && !cpu_has_vnni()) return false;
  vnni_on().store(on, std::memory_order_relaxed);
  return true;
}

bool f64() { return f64_on().load(std::memory_order_relaxed); }

bool allow_f64(bool on) {
  if (on && !cpu_has_avx512()) return false;
  f64_on().store(on, std::memory_order_relaxed);
  return true;
}

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
                                     uint64_t* events, StateRecord record, size_t h0, size_t h1) {
  // MB modes of a channel advance together: MB independent recurrences per step keep the
  // multipliers busy while each one waits for its previous state
  constexpr size_t MB = 4;
  const size_t N2 = Ly.states;
  for (size_t hh = h0; hh < h1; ++hh) {
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
            const size_t at = ((hh * N2 + n0 + j) * L + t) * 2 * kLanes;
            for (size_t l = 0; l < kLanes; ++l) {
              record.put(at + l, xr[j][l]);
              record.put(at + kLanes + l, xi[j][l]);
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

using namespace avx512;
using quant::Overflow;
using quant::Rounding;

// One complex state update (x' = narrow(A x + B u [+ x]) per part) of 8 lanes, in place; tbr,
// tbi: B u's aligned terms (B u K_1 2^up_1). Fused (QLayerConsts::fused32): ar and ai are A's
// codes times the aligned multiplier K_0 2^up_0 and delta form's K_2 2^up_2 fits 32 bits, so
// every term is one 32 x 32 -> 64-bit multiply (vpmuldq) instead of a 64 x 64 one (vpmullq):
// the same integers, since (ar xr - ai xi) K = (ar K) xr - (ai K) xi.
template <Rounding R, Overflow O, bool Delta, bool Fused>
SSMSIM_AVX512 inline void update(__m512i ar, __m512i ai, __m512i tbr, __m512i tbi, const Consts& c, __m512i& xr,
                                 __m512i& xi, __m512i& ev) {
  const __m512i pr = _mm512_sub_epi64(_mm512_mul_epi32(ar, xr), _mm512_mul_epi32(ai, xi));
  const __m512i pi = _mm512_add_epi64(_mm512_mul_epi32(ar, xi), _mm512_mul_epi32(ai, xr));
  // (the kernels run where Ly.fast holds: every aligned term fits 64 bits, one vpmullq each
  // unless fused)
  __m512i sr = _mm512_add_epi64(Fused ? pr : _mm512_mullo_epi64(pr, c.Ka[0]), tbr);
  __m512i si = _mm512_add_epi64(Fused ? pi : _mm512_mullo_epi64(pi, c.Ka[0]), tbi);
  if constexpr (Delta) {
    sr = _mm512_add_epi64(sr, Fused ? _mm512_mul_epi32(xr, c.Ka[2]) : _mm512_mullo_epi64(xr, c.Ka[2]));
    si = _mm512_add_epi64(si, Fused ? _mm512_mul_epi32(xi, c.Ka[2]) : _mm512_mullo_epi64(xi, c.Ka[2]));
  }
  xr = narrow<R, O>(sr, c, ev);
  xi = narrow<R, O>(si, c, ev);
}

// The forms of the S4D kernel's state update: A's and B's aligned terms by vpmullq (Narrow:
// Ly.narrow32), A's and B's codes premultiplied by their multipliers (Fused: Ly.fused32), or sums
// beyond 64 bits narrowed from their split form (Split: Ly.split64, qsimd.hpp).
enum class Form { Narrow, Fused, Split };

// One part's new state in split form (qsimd_avx512.hpp's split and joined): p is A x's sum
// (ar xr - ai xi or ar xi + ai xr), bu B u's product, x the stored state (delta form's term);
// each term K_k v_k is exact in 64 bits where Ly.split64 holds.
template <Rounding R, Overflow O, bool Delta>
[[gnu::always_inline]] SSMSIM_AVX512 inline __m512i split_update(__m512i p, __m512i bu, __m512i x, const SplitConsts& s,
                                                                 __m512i& ev) {
  __m512i hi = _mm512_setzero_si512(), lo = hi;
  split(_mm512_mullo_epi64(p, s.K[0]), s.a[0], s.d[0], s.m[0], hi, lo);
  split(_mm512_mullo_epi64(bu, s.K[1]), s.a[1], s.d[1], s.m[1], hi, lo);
  if constexpr (Delta) split(_mm512_mul_epi32(x, s.K[2]), s.a[2], s.d[2], s.m[2], hi, lo);
  return narrow<R, O>(joined(hi, lo, s.c, s.maskc, s.maskc1), s.r2, ev);
}

// s4d_generic with one vector per mode and part: MB modes of a channel advance
// together (independent recurrences hide the multipliers' latency).
template <Rounding R, Overflow O, bool Delta, Form F>
SSMSIM_AVX512 void s4d_avx512(const QLayerConsts& Ly, const Seq<int32_t>& u, size_t H, size_t L, int64_t* yacc,
                              uint64_t* events, StateRecord record, size_t h0, size_t h1) {
  static_assert(kLanes == 8, "one 512-bit vector holds the 8 lanes of a chunk");
  constexpr size_t MB = 4;
  const size_t N2 = Ly.states;
  __m512i ev = _mm512_setzero_si512();
  for (size_t hh = h0; hh < h1; ++hh) {
    const Consts c = F == Form::Split ? Consts{} : consts_of(Ly.xupd[hh]);
    const SplitConsts sc = F == Form::Split ? split_consts(Ly.xupd[hh]) : SplitConsts{};
    for (size_t n0 = 0; n0 < N2; n0 += MB) {
      const size_t nb = std::min(MB, N2 - n0);
      __m512i ar[MB], ai[MB], br[MB], bi[MB], cr[MB], ci[MB], xr[MB], xi[MB];
      for (size_t j = 0; j < MB; ++j) {  // padded modes (j >= nb) have zero coefficients
        const size_t m = hh * N2 + n0 + j;
        const bool v = j < nb;
        const int64_t ka = F == Form::Fused ? Ly.xupd[hh].aligned64()[0] : 1;  // fused: A's codes times theirs too
        ar[j] = _mm512_set1_epi64(v ? Ly.Ar[m] * ka : 0), ai[j] = _mm512_set1_epi64(v ? Ly.Ai[m] * ka : 0);
        // B's codes times the aligned multiplier K_1 2^up_1 (below 2^62, as Ly.fast bounds B u's
        // term); in split form B's codes alone
        const int64_t kb = F == Form::Split ? 1 : Ly.xupd[hh].aligned64()[1];
        br[j] = _mm512_set1_epi64(v ? Ly.Br[m] * kb : 0), bi[j] = _mm512_set1_epi64(v ? Ly.Bi[m] * kb : 0);
        cr[j] = _mm512_set1_epi64(v ? Ly.Cr[m] : 0), ci[j] = _mm512_set1_epi64(v ? Ly.Ci[m] : 0);
        xr[j] = xi[j] = _mm512_setzero_si512();
      }
      for (size_t t = 0; t < L; ++t) {
        const __m512i uu = _mm512_cvtepi32_epi64(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(u.at(t, hh))));
        int64_t* accp = yacc + (t * H + hh) * kLanes;
        __m512i acc = _mm512_loadu_si512(accp);
        for (size_t j = 0; j < MB; ++j) {
          const __m512i tbr = F == Form::Narrow ? _mm512_mullo_epi64(br[j], uu) : _mm512_mul_epi32(br[j], uu);
          const __m512i tbi = F == Form::Narrow ? _mm512_mullo_epi64(bi[j], uu) : _mm512_mul_epi32(bi[j], uu);
          if constexpr (F == Form::Split) {
            const __m512i pr = _mm512_sub_epi64(_mm512_mul_epi32(ar[j], xr[j]), _mm512_mul_epi32(ai[j], xi[j]));
            const __m512i pi = _mm512_add_epi64(_mm512_mul_epi32(ar[j], xi[j]), _mm512_mul_epi32(ai[j], xr[j]));
            const __m512i nr = split_update<R, O, Delta>(pr, tbr, xr[j], sc, ev);
            xi[j] = split_update<R, O, Delta>(pi, tbi, xi[j], sc, ev);
            xr[j] = nr;
          } else {
            update<R, O, Delta, F == Form::Fused>(ar[j], ai[j], tbr, tbi, c, xr[j], xi[j], ev);
          }
          acc = _mm512_add_epi64(acc, _mm512_sub_epi64(_mm512_mul_epi32(cr[j], xr[j]), _mm512_mul_epi32(ci[j], xi[j])));
        }
        _mm512_storeu_si512(accp, acc);
        if (record)
          for (size_t j = 0; j < nb; ++j) {
            const size_t at = ((hh * N2 + n0 + j) * L + t) * 2 * kLanes;
            record8(record, at, xr[j]);
            record8(record, at + kLanes, xi[j]);
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
  std::vector<unsigned char> raw;
  Consts* cs = aligned_array<Consts>(raw, P2);
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
        update<R, O, Delta, false>(_mm512_set1_epi64(Ly.Ar[pp]), _mm512_set1_epi64(Ly.Ai[pp]), term(bur[j], c, 1),
                                   term(bui[j], c, 1), c, qr, qi, ev);
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

// parts another), then the output terms. Vectors of a channel's modes live in int64 buffers.
template <Rounding R, Overflow O, bool Delta>
SSMSIM_AVX512 void s4d_block_avx512(const QLayerConsts& Ly, const Seq<int32_t>& u, size_t H, size_t L, int64_t* yacc,
                                    uint64_t* events, uint64_t* op_events, StateRecord record) {
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
            _mm512_storeu_si512(at(M, n, part), fit(round_by(_mm512_loadu_si512(at(X, n, part)), e, op.rounding),
                                                    mantissa, op.overflow, evo));
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
          const size_t a = ((hh * N2 + n) * L + t) * 2 * V;
          record8(record, a, _mm512_loadu_si512(at(X, n, 0)));
          record8(record, a + V, _mm512_loadu_si512(at(X, n, 1)));
        }
    }
  }
  alignas(64) uint64_t e1[kLanes], e2[kLanes];
  _mm512_store_si512(e1, ev);
  _mm512_store_si512(e2, evo);
  for (size_t l = 0; l < kLanes; ++l) events[l] += e1[l], op_events[l] += e2[l];
}

}  // namespace

#endif

namespace {

using Kernel = void (*)(const QLayerConsts&, const Seq<int32_t>&, size_t, size_t, int64_t*, uint64_t*, int32_t*);
using S4dBlockKernel = void (*)(const QLayerConsts&, const Seq<int32_t>&, size_t, size_t, int64_t*, uint64_t*,
                                uint64_t*, StateRecord);

// The kernel families: each instantiates a kernel for a rounding mode, an overflow mode and
// whether A is in delta form.
struct S4dGeneric {
  template <quant::Rounding R, quant::Overflow O, bool Delta>
  static S4dKernel get() {
    return s4d_generic<R, O, Delta>;
  }
};
#ifdef SSMSIM_AVX512_KERNELS
template <Form F>
struct S4dAvx512 {
  template <quant::Rounding R, quant::Overflow O, bool Delta>
  static S4dKernel get() {
    return s4d_avx512<R, O, Delta, F>;
  }
};
struct S5Avx512 {
  template <quant::Rounding R, quant::Overflow O, bool Delta>
  static Kernel get() {
    return s5_avx512<R, O, Delta>;
  }
};
struct S4dBlockAvx512 {
  template <quant::Rounding R, quant::Overflow O, bool Delta>
  static S4dBlockKernel get() {
    return s4d_block_avx512<R, O, Delta>;
  }
};
#endif

}  // namespace

namespace {

// The largest |code| of a and b in [n0, n1).
int64_t max_abs(const std::vector<int32_t>& a, const std::vector<int32_t>& b, size_t n0, size_t n1) {
  int64_t m = 0;
  for (const auto* v : {&a, &b})
    for (size_t n = n0; n < n1; ++n) m = std::max(m, std::abs(int64_t{(*v)[n]}));
  return m;
}

}  // namespace

bool s4d_split_fits(const QLayerConsts& Ly, int64_t xmag, int64_t umag) {
  const size_t N2 = Ly.states;
  if (Ly.xop.mode != XOperand::Stored || Ly.xupd.empty() || N2 == 0 || Ly.Ar.size() != Ly.xupd.size() * N2)
    return false;  // one scaled sum per channel
  const quant::ScaledSum& s0 = Ly.xupd[0];
  // the state: an int32 operand of the next step's products and of C x, no zero point
  const quant::detail::Range64& r = s0.range64();
  if (s0.to().width > 32 || r.lo < INT32_MIN || r.hi > INT32_MAX || s0.zero_point() != 0) return false;
  const int extra[3] = {0, 0, 0};
  for (size_t h = 0; h < Ly.xupd.size(); ++h) {
    // the channel's A x sums (two products) and B u from its codes, delta form's stored state
    const double v[3] = {
        2.0 * static_cast<double>(max_abs(Ly.Ar, Ly.Ai, h * N2, (h + 1) * N2)) * static_cast<double>(xmag),
        static_cast<double>(max_abs(Ly.Br, Ly.Bi, h * N2, (h + 1) * N2)) * static_cast<double>(umag),
        static_cast<double>(xmag)};
    if (!split_form_fits(Ly.xupd[h], s0, Ly.delta, v, extra)) return false;
  }
  return true;
}

std::vector<uint8_t> s4d_f64_channels(const QLayerConsts& Ly, int64_t xmag, int64_t umag) {
  const size_t N2 = Ly.states;
  if (!Ly.narrow32 || Ly.xop.mode != XOperand::Stored || Ly.xupd.empty() || N2 == 0 ||
      Ly.Ar.size() != Ly.xupd.size() * N2 || Ly.Cr.size() != Ly.Ar.size())
    return {};  // one scaled sum per channel
  using LD = long double;
  const LD k53 = 0x1p53L, x = static_cast<LD>(xmag), uu = static_cast<LD>(std::max<int64_t>(umag, 1));
  std::vector<uint8_t> ok(Ly.xupd.size(), F64None);
  for (size_t h = 0; h < Ly.xupd.size(); ++h) {
    const quant::ScaledSum& ss = Ly.xupd[h];
    if (ss.overflow() == quant::Overflow::Wrap || ss.zero_point() != 0 || ss.K().size() != (Ly.delta ? 3u : 2u))
      continue;
    // the range within 2^(53-S): a guarded channel's lanes beyond 2^(53-S) - 1/2 are at its edge;
    // with room for 2.5 more, every sum within one of the range (and it +- 1/2) is exact
    const quant::detail::Range64& r = ss.range64();
    const LD R = static_cast<LD>(std::max(std::abs(r.lo), std::abs(r.hi)));
    if (std::ldexp(R, ss.S()) > k53) continue;
    const uint8_t kind = std::ldexp(R + 2.5L, std::max(ss.S(), 1)) <= k53 ? F64Exact : F64Guarded;
    const LD a = static_cast<LD>(max_abs(Ly.Ar, Ly.Ai, h * N2, (h + 1) * N2));
    const LD b = static_cast<LD>(max_abs(Ly.Br, Ly.Bi, h * N2, (h + 1) * N2));
    const LD c = static_cast<LD>(max_abs(Ly.Cr, Ly.Ci, h * N2, (h + 1) * N2));
    const LD K1 = static_cast<LD>(std::abs(ss.K()[1]));
    // A x's products and their sum; B's codes times K_1, and that times u (multiples of 2^-sh_1);
    // the channel's output accumulator over its states
    if (2 * a * x >= k53 || b * K1 * uu >= k53 || 2 * static_cast<LD>(N2) * c * R >= k53) continue;
    if (Ly.delta) {  // x K_2 2^-sh_2 + u B K_1 2^-sh_1 in units of the finer step
      const int s1 = ss.shifts()[1], s2 = ss.shifts()[2], g = std::max(s1, s2);
      if (std::ldexp(x * static_cast<LD>(std::abs(ss.K()[2])), g - s2) + std::ldexp(uu * b * K1, g - s1) >= k53)
        continue;
    }
    ok[h] = kind;
  }
  if (std::all_of(ok.begin(), ok.end(), [](uint8_t k) { return k == F64None; })) return {};
  return ok;
}

bool s4d_states_fast(const QLayerConsts& Ly, const Seq<int32_t>& u, size_t H, size_t L, int64_t* yacc, uint64_t* events,
                     StateRecord record, size_t threads) {
  S4dKernel kernel = nullptr, f64_kernel = nullptr;  // the latter for the channels Ly.f64 marks
#ifdef SSMSIM_AVX512_KERNELS
  if (path() == Path::Avx512) {
    if (!Ly.f64.empty() && f64()) f64_kernel = s4d_f64_kernel(Ly);
    if (Ly.narrow32)
      kernel = Ly.fused32 ? pick<S4dAvx512<Form::Fused>>(Ly) : pick<S4dAvx512<Form::Narrow>>(Ly);
    else if (Ly.split64)
      kernel = pick<S4dAvx512<Form::Split>>(Ly);
  }
#endif
  if (!kernel && Ly.fast) kernel = pick<S4dGeneric>(Ly);
  if (!kernel) return false;
  // channel ranges side by side, each with its own event counts (added in range order)
  std::vector<uint64_t> part_events(std::max<size_t>(1, threads) * kLanes, 0);  // a slot per possible range
  parallel_ranges(H, threads, [&](size_t part, size_t h0, size_t h1) {
    for (size_t h = h0; h < h1;) {  // runs of channels that take the same kernel
      auto takes_f64 = [&](size_t c) { return f64_kernel && Ly.f64[c] != F64None; };
      const bool f = takes_f64(h);
      size_t end = h + 1;
      while (end < h1 && takes_f64(end) == f) ++end;
      (f ? f64_kernel : kernel)(Ly, u, H, L, yacc, &part_events[part * kLanes], record, h, end);
      h = end;
    }
  });
  for (size_t k = 0; k < part_events.size(); ++k) events[k % kLanes] += part_events[k];
  return true;
}

bool s4d_block_operand_avx512(const QLayerConsts& Ly, const Seq<int32_t>& u, size_t H, size_t L, int64_t* yacc,
                              uint64_t* events, uint64_t* operand_events, StateRecord record) {
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

}  // namespace ssmsim::core::simd
