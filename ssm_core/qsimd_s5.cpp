// The S5 state update with a block-floating-point state operand (qsimd.hpp's
// s5_block_operand_avx512): qengine.cpp's s5_states, same bits, vectorised across the states of
// one sequence instead of across the 8 sequences of a chunk. The two matrix-vector products (B u,
// C o) run for the chunk's 8 sequences together, so each weight vector is read once a step, not
// once a sequence (B and C of Q-S5's size are about 100 KB a layer, beyond the first-level cache).
//
// Per step (1 and 4 for the 8 lanes together, 2 and 3 lane by lane):
//   1. B u: a matrix-vector product on 16-bit operands (vpmaddwd: pairs of inputs, 32-bit sums).
//   2. The state update, 8 states per vector. Its exact sum sum_k P_k 2^a_k (P_k a 64-bit
//      product, a_k its alignment plus, for A o, the part's exponent) can need more than 64 bits
//      (a 32-bit state: A o 2^e times a 31-bit multiplier). It is narrowed in "split" form: at
//      c = S, each term's floor(T / 2^c) and its remainder T mod 2^c (below 2^c) are summed
//      apart, which needs 64 bits only; then w = 4 H' + 2 h + s, where H' is the sum's floor
//      at c, h the remainder's top bit and s whether any lower bit is set, rounds by 2 bits to
//      exactly round(sum / 2^S) under every rounding mode (the floor, the half and the sign are
//      those of the sum; qsimd_avx512.hpp's split and joined, docs/fixed_point.md 9.1).
//   3. The new mantissas and exponents (qsteps.hpp's narrow_block per block and part).
//   4. C o: per block, the 16-bit products' 32-bit sums of each part, shifted by the block's
//      exponents into the 64-bit output accumulator.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include "ssm_core/qsimd.hpp"
#include "ssm_core/qsimd_avx512.hpp"

namespace ssmsim::core::simd {

namespace {

size_t up_to(size_t n, size_t m) { return (n + m - 1) / m * m; }

// Whether every code of v lies in [lo, hi].
bool codes_within(const std::vector<int32_t>& v, int32_t lo, int32_t hi) {
  return std::all_of(v.begin(), v.end(), [&](int32_t c) { return c >= lo && c <= hi; });
}

}  // namespace

bool s5_block_fits(const QLayerConsts& Ly, size_t H, int64_t umag, double bu_bound) {
  const XOperandConsts& op = Ly.xop;
  const size_t P2 = Ly.states;
  if (op.mode != XOperand::Block || op.bits > 16 || Ly.xupd.size() != P2 || P2 == 0 || H == 0) return false;
  if (umag > 32768 || bu_bound >= 0x1p31) return false;  // u in int16, B u's sums in int32
  for (const auto* v : {&Ly.Ar, &Ly.Ai, &Ly.Br, &Ly.Bi, &Ly.Cr, &Ly.Ci})
    if (!codes_within(*v, -32767, 32767)) return false;
  int64_t cmax = 0;
  for (const auto* v : {&Ly.Cr, &Ly.Ci})
    for (int32_t c : *v) cmax = std::max<int64_t>(cmax, std::abs(int64_t{c}));
  // C o's sums of one part over a block, in int32
  if (static_cast<double>(std::min(op.block, P2)) * static_cast<double>(cmax) * std::ldexp(1.0, op.bits - 1) >= 0x1p31)
    return false;
  const quant::ScaledSum& s0 = Ly.xupd[0];
  const int xw = s0.to().width;
  if (xw > 32) return false;
  const int emax = std::max(0, xw - op.bits + 2);  // a part's largest exponent
  // |A o| per product below 2^30 (two of them), aligned further by the part's exponent; |B u|
  // below bu_bound; the stored state below 2^31
  const double v[3] = {0x1p31, bu_bound, 0x1p31};
  const int extra[3] = {emax, 0, 0};
  return std::all_of(Ly.xupd.begin(), Ly.xupd.end(),
                     [&](const quant::ScaledSum& ss) { return split_form_fits(ss, s0, Ly.delta, v, extra); });
}

#ifdef SSMSIM_AVX512_KERNELS

namespace {

using namespace avx512;
using quant::Overflow;
using quant::Rounding;

// 8 states' constants from p0 on.
[[gnu::always_inline]] SSMSIM_AVX512 inline __m512i at(const std::vector<int64_t>& v, size_t p0) {
  return _mm512_loadu_si512(&v[p0]);
}

// r 2^er - i 2^ei of 8 outputs' 32-bit part sums, in 64 bits.
[[gnu::always_inline]] SSMSIM_AVX512 inline __m512i shifted(__m256i r, __m256i i, __m512i er, __m512i ei) {
  return _mm512_sub_epi64(_mm512_sllv_epi64(_mm512_cvtepi32_epi64(r), er),
                          _mm512_sllv_epi64(_mm512_cvtepi32_epi64(i), ei));
}

// Per-state constants, zero beyond P2 (a padded state stays 0 and never counts an event).
struct StateConsts {
  std::vector<int64_t> ar, ai, K0, K1, K2, u0, u1, d1, m1, u2, d2, m2, c, maskc, maskc1;
  explicit StateConsts(const QLayerConsts& Ly, size_t P8)
      : ar(P8),
        ai(P8),
        K0(P8),
        K1(P8),
        K2(P8),
        u0(P8),
        u1(P8),
        d1(P8),
        m1(P8),
        u2(P8),
        d2(P8),
        m2(P8),
        c(P8, 1),
        maskc(P8, 1),
        maskc1(P8) {
    for (size_t p = 0; p < Ly.states; ++p) {
      const quant::ScaledSum& ss = Ly.xupd[p];
      const int S = ss.S();
      auto up = [&](size_t k) { return k < ss.K().size() ? S - ss.shifts()[k] : 0; };
      ar[p] = Ly.Ar[p], ai[p] = Ly.Ai[p];
      K0[p] = ss.K()[0], K1[p] = ss.K()[1], K2[p] = ss.K().size() > 2 ? ss.K()[2] : 0;
      u0[p] = up(0), u1[p] = up(1), u2[p] = up(2);
      d1[p] = S - u1[p], m1[p] = (int64_t{1} << d1[p]) - 1;
      d2[p] = S - u2[p], m2[p] = (int64_t{1} << d2[p]) - 1;
      c[p] = S, maskc[p] = (int64_t{1} << S) - 1, maskc1[p] = (int64_t{1} << (S - 1)) - 1;
    }
  }
};

// B u and C o on 16-bit operands with vpmaddwd (pairs of products summed into each 32-bit lane),
// for the chunk's 8 sequences together: each weight vector is read once a step for the 8 lanes.
struct S5Words {
  size_t H, P2, HP, RB, HB, blk, nblk, bstride, QP;
  bool padded;  // blocks of odd length: C o reads the mantissas repacked, each block from an even position
  // Bw[(hp * RB + rb) * 32 + 2 r + k]: row rb 16 + r, input 2 hp + k; Cw[((part * QP + q) * HB + hb) * 32
  // + 2 o + k]: output hb 16 + o, state pair q of C o's layout
  std::vector<int16_t> Bw, Cw;
  std::vector<int32_t> U;   // per call: the lanes' input pairs, U[l HP + hp]
  std::vector<int16_t> MP;  // per call (padded): the lanes' mantissas in C o's layout, ms a part
  S5Words(const QLayerConsts& Ly, size_t h, size_t ms)
      : H(h),
        P2(Ly.states),
        HP(up_to(h, 2) / 2),
        RB(up_to(2 * P2, 16) / 16),
        HB(up_to(h, 16) / 16),
        blk(std::min(Ly.xop.block, P2)),
        nblk((P2 + blk - 1) / blk),
        bstride(up_to(blk, 2)),
        QP(nblk * bstride / 2),
        padded(bstride != blk && nblk > 1),
        Bw(HP * RB * 32, 0),
        Cw(2 * QP * HB * 32, 0),
        U(kLanes * HP),
        MP(padded ? kLanes * 2 * ms : 0, 0) {
    for (size_t r = 0; r < 2 * P2; ++r)
      for (size_t i = 0; i < H; ++i)
        Bw[((i / 2) * RB + r / 16) * 32 + 2 * (r % 16) + i % 2] =
            static_cast<int16_t>(r < P2 ? Ly.Br[r * H + i] : Ly.Bi[(r - P2) * H + i]);
    for (size_t part = 0; part < 2; ++part)
      for (size_t o = 0; o < H; ++o)
        for (size_t p = 0; p < P2; ++p) {
          const size_t q = p / blk * bstride + p % blk;
          Cw[((part * QP + q / 2) * HB + o / 16) * 32 + 2 * (o % 16) + q % 2] =
              static_cast<int16_t>((part == 0 ? Ly.Cr : Ly.Ci)[o * P2 + p]);
        }
  }
};

// 1. B u of the 8 lanes at step t into BU[l BUS + r], two row blocks at a time.
SSMSIM_AVX512 void bu_words(S5Words& pk, const Seq<int32_t>& u, size_t t, int32_t* BU, size_t BUS) {
  const size_t H = pk.H, HP = pk.HP, RB = pk.RB;
  for (size_t l = 0; l < kLanes; ++l)
    for (size_t hp = 0; hp < HP; ++hp) {
      const int32_t lo = u.at(t, 2 * hp)[l], hi = 2 * hp + 1 < H ? u.at(t, 2 * hp + 1)[l] : 0;
      pk.U[l * HP + hp] =
          static_cast<int32_t>(static_cast<uint16_t>(lo) | static_cast<uint32_t>(static_cast<uint16_t>(hi)) << 16);
    }
  for (size_t rb0 = 0; rb0 < RB; rb0 += 2) {
    const bool two = rb0 + 1 < RB;
    __m512i acc[2][kLanes];
    for (size_t l = 0; l < kLanes; ++l) acc[0][l] = acc[1][l] = _mm512_setzero_si512();
    for (size_t hp = 0; hp < HP; ++hp) {
      const int16_t* w = &pk.Bw[(hp * RB + rb0) * 32];
      const __m512i w0 = _mm512_loadu_si512(w), w1 = two ? _mm512_loadu_si512(w + 32) : _mm512_setzero_si512();
      for (size_t l = 0; l < kLanes; ++l) {
        const __m512i b = _mm512_set1_epi32(pk.U[l * HP + hp]);
        acc[0][l] = _mm512_add_epi32(acc[0][l], _mm512_madd_epi16(w0, b));
        acc[1][l] = _mm512_add_epi32(acc[1][l], _mm512_madd_epi16(w1, b));
      }
    }
    for (size_t l = 0; l < kLanes; ++l) {
      _mm512_storeu_si512(&BU[l * BUS + rb0 * 16], acc[0][l]);
      if (two) _mm512_storeu_si512(&BU[l * BUS + (rb0 + 1) * 16], acc[1][l]);
    }
  }
}

// 4. C o of the 8 lanes from their mantissas M[l 2 MS + part MS + p] and exponents E[l 2 P8 +
// part P8 + p] into Y[l HB 16 + h], one output block at a time: per block of states, each part's
// 32-bit sums, shifted by the lane's block exponents into 64 bits.
SSMSIM_AVX512 void co_words(S5Words& pk, const int16_t* M, size_t MS, const int64_t* E, size_t P8, int64_t* Y) {
  const size_t HB = pk.HB, QP = pk.QP, nblk = pk.nblk, blk = pk.blk, bstride = pk.bstride;
  if (pk.padded)  // the mantissas in C o's layout
    for (size_t l = 0; l < kLanes; ++l)
      for (size_t part = 0; part < 2; ++part)
        for (size_t p = 0; p < pk.P2; ++p)
          pk.MP[l * 2 * MS + part * MS + p / blk * bstride + p % blk] = M[l * 2 * MS + part * MS + p];
  const int16_t* mlane = pk.padded ? pk.MP.data() : M;
  for (size_t hb = 0; hb < HB; ++hb) {
    __m512i lo[kLanes], hi[kLanes];
    for (size_t l = 0; l < kLanes; ++l) lo[l] = hi[l] = _mm512_setzero_si512();
    for (size_t b = 0; b < nblk; ++b) {
      __m512i sr[kLanes], si[kLanes];
      for (size_t l = 0; l < kLanes; ++l) sr[l] = si[l] = _mm512_setzero_si512();
      const size_t q1 = std::min(QP, (b + 1) * bstride / 2);
      for (size_t q = b * bstride / 2; q < q1; ++q) {
        const __m512i wr = _mm512_loadu_si512(&pk.Cw[(q * HB + hb) * 32]);
        const __m512i wi = _mm512_loadu_si512(&pk.Cw[((QP + q) * HB + hb) * 32]);
        for (size_t l = 0; l < kLanes; ++l) {
          const int32_t* m32 = reinterpret_cast<const int32_t*>(mlane + l * 2 * MS);
          sr[l] = _mm512_add_epi32(sr[l], _mm512_madd_epi16(wr, _mm512_set1_epi32(m32[q])));
          si[l] = _mm512_add_epi32(si[l], _mm512_madd_epi16(wi, _mm512_set1_epi32(m32[MS / 2 + q])));
        }
      }
      for (size_t l = 0; l < kLanes; ++l) {
        const int64_t* e = &E[l * 2 * P8];
        const __m512i er = _mm512_set1_epi64(e[b * blk]), ei = _mm512_set1_epi64(e[P8 + b * blk]);
        lo[l] = _mm512_add_epi64(lo[l], shifted(_mm512_castsi512_si256(sr[l]), _mm512_castsi512_si256(si[l]), er, ei));
        hi[l] = _mm512_add_epi64(
            hi[l], shifted(_mm512_extracti64x4_epi64(sr[l], 1), _mm512_extracti64x4_epi64(si[l], 1), er, ei));
      }
    }
    for (size_t l = 0; l < kLanes; ++l) {
      _mm512_storeu_si512(&Y[l * HB * 16 + hb * 16], lo[l]);
      _mm512_storeu_si512(&Y[l * HB * 16 + hb * 16 + 8], hi[l]);
    }
  }
}

// B u and C o on 8-bit operands with AVX512-VNNI's vpdpbusd (4 products of an unsigned and a
// signed byte summed into each 32-bit lane, half the multiply instructions of vpmaddwd's pairs):
// the weights are stored offset by 128 as unsigned bytes, the operands (u; the mantissas) are
// broadcast as signed bytes, and the offset's 128 sum(operand) is taken off again. Every sum is
// exact in 32 bits (|sum| <= 255 * 128 * n for n <= 2^16 products). Where every B and C code, u and
// the mantissas fit 8 bits (s5_bytes_fit).
struct S5Bytes {
  size_t H, P2, HQ, RB, HB, blk, nblk, bq, QQ;
  // Bw[(hq * RB + rb) * 64 + 4 r + k]: row rb 16 + r, input 4 hq + k; Cw[((part * QQ + q) * HB + hb) * 64
  // + 4 o + k]: output hb 16 + o, state quad q of C o's layout (each block from a multiple of 4)
  std::vector<uint8_t> Bw, Cw;
  // per call: the lanes' input quads, mantissa quads and block sums
  std::vector<int32_t> U, Mq, msum;
  S5Bytes(const QLayerConsts& Ly, size_t h)
      : H(h),
        P2(Ly.states),
        HQ(up_to(h, 4) / 4),
        RB(up_to(2 * P2, 16) / 16),
        HB(up_to(h, 16) / 16),
        blk(std::min(Ly.xop.block, P2)),
        nblk((P2 + blk - 1) / blk),
        bq(up_to(blk, 4)),
        QQ(nblk * bq / 4),
        Bw(HQ * RB * 64, 128),
        Cw(2 * QQ * HB * 64, 128),
        U(kLanes * HQ),
        Mq(kLanes * 2 * QQ),
        msum(kLanes * 2 * nblk) {
    for (size_t r = 0; r < 2 * P2; ++r)
      for (size_t i = 0; i < H; ++i)
        Bw[((i / 4) * RB + r / 16) * 64 + 4 * (r % 16) + i % 4] =
            static_cast<uint8_t>((r < P2 ? Ly.Br[r * H + i] : Ly.Bi[(r - P2) * H + i]) + 128);
    for (size_t part = 0; part < 2; ++part)
      for (size_t o = 0; o < H; ++o)
        for (size_t p = 0; p < P2; ++p) {
          const size_t q = pos(p);
          Cw[((part * QQ + q / 4) * HB + o / 16) * 64 + 4 * (o % 16) + q % 4] =
              static_cast<uint8_t>((part == 0 ? Ly.Cr : Ly.Ci)[o * P2 + p] + 128);
        }
  }
  size_t pos(size_t p) const { return p / blk * bq + p % blk; }
};

// Whether the 8-bit forms hold for this layer and chunk (u: the chunk's inputs).
bool s5_bytes_fit(const QLayerConsts& Ly, const Seq<int32_t>& u, size_t H) {
  if (!vnni() || Ly.xop.bits > 8 || H > 16384 || Ly.states > 16384) return false;
  for (const auto* v : {&Ly.Br, &Ly.Bi, &Ly.Cr, &Ly.Ci})
    if (!codes_within(*v, INT8_MIN, INT8_MAX)) return false;
  return codes_within(u.v, INT8_MIN, INT8_MAX);
}

// 1. B u of the 8 lanes at step t into BU[l BUS + r]. The inputs are packed as U[q kLanes + l],
// lane l's inputs 4 q .. 4 q + 3 as bytes (quad_bytes).
SSMSIM_AVX512_VNNI void bu_bytes(S5Bytes& pk, const Seq<int32_t>& u, size_t t, int32_t* BU, size_t BUS) {
  const size_t HQ = pk.HQ, RB = pk.RB, full = pk.H / 4;
  const int32_t* row = u.at(t, 0);
  __m512i sum2 = _mm512_setzero_si512();  // lanes 0-7: even inputs, 8-15: odd inputs
  for (size_t q = 0; q < full; ++q)
    sum2 = _mm512_add_epi32(sum2, quad_bytes(row + 4 * q * kLanes, _mm512_setzero_si512(), &pk.U[q * kLanes]));
  alignas(64) int32_t s2[16];
  _mm512_store_si512(s2, sum2);
  int32_t corr[kLanes];
  for (size_t l = 0; l < kLanes; ++l) {
    int32_t sum = s2[l] + s2[l + 8];
    if (full < HQ) {  // the last, partial quad
      uint32_t w = 0;
      for (size_t k = 0; 4 * full + k < pk.H; ++k) {
        const int32_t v = row[(4 * full + k) * kLanes + l];
        sum += v;
        w |= static_cast<uint32_t>(static_cast<uint8_t>(v)) << (8 * k);
      }
      pk.U[full * kLanes + l] = static_cast<int32_t>(w);
    }
    corr[l] = -128 * sum;
  }
  for (size_t rb0 = 0; rb0 < RB; rb0 += 2) {
    const bool two = rb0 + 1 < RB;
    __m512i acc[2][kLanes];
    for (size_t l = 0; l < kLanes; ++l) acc[0][l] = acc[1][l] = _mm512_set1_epi32(corr[l]);
    for (size_t q = 0; q < HQ; ++q) {
      const uint8_t* w = &pk.Bw[(q * RB + rb0) * 64];
      const __m512i w0 = _mm512_loadu_si512(w), w1 = two ? _mm512_loadu_si512(w + 64) : _mm512_setzero_si512();
      for (size_t l = 0; l < kLanes; ++l) {
        const __m512i b = _mm512_set1_epi32(pk.U[q * kLanes + l]);
        acc[0][l] = _mm512_dpbusd_epi32(acc[0][l], w0, b);
        acc[1][l] = _mm512_dpbusd_epi32(acc[1][l], w1, b);
      }
    }
    for (size_t l = 0; l < kLanes; ++l) {
      _mm512_storeu_si512(&BU[l * BUS + rb0 * 16], acc[0][l]);
      if (two) _mm512_storeu_si512(&BU[l * BUS + (rb0 + 1) * 16], acc[1][l]);
    }
  }
}

// 4. C o of the 8 lanes from their mantissas M[l 2 MS + part MS + p] and exponents E[l 2 P8 +
// part P8 + p] into Y[l HB 16 + h] (zeroed here).
SSMSIM_AVX512_VNNI void co_bytes(S5Bytes& pk, const int16_t* M, size_t MS, const int64_t* E, size_t P8, int64_t* Y) {
  const size_t QQ = pk.QQ, HB = pk.HB, nblk = pk.nblk;
  std::fill(pk.Mq.begin(), pk.Mq.end(), 0);
  for (size_t l = 0; l < kLanes; ++l)
    for (size_t part = 0; part < 2; ++part) {
      auto* bytes = reinterpret_cast<uint8_t*>(&pk.Mq[(l * 2 + part) * QQ]);
      const int16_t* m = M + l * 2 * MS + part * MS;
      for (size_t b = 0; b < nblk; ++b) {
        const size_t p0 = b * pk.blk, n = std::min(pk.P2, p0 + pk.blk) - p0;
        uint8_t* d = bytes + b * pk.bq;
        __m512i sum = _mm512_setzero_si512();
        size_t j = 0;
        for (; j + 32 <= n; j += 32) {
          const __m512i v = _mm512_loadu_si512(m + p0 + j);
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + j), _mm512_cvtepi16_epi8(v));
          sum = _mm512_add_epi32(sum, _mm512_madd_epi16(v, _mm512_set1_epi16(1)));
        }
        int32_t total = _mm512_reduce_add_epi32(sum);
        for (; j < n; ++j) {
          d[j] = static_cast<uint8_t>(m[p0 + j]);
          total += m[p0 + j];
        }
        pk.msum[(l * 2 + part) * nblk + b] = total;
      }
    }
  std::fill(Y, Y + kLanes * HB * 16, 0);
  for (size_t hb = 0; hb < HB; ++hb)
    for (size_t b = 0; b < nblk; ++b) {
      __m512i sr[kLanes], si[kLanes];
      for (size_t l = 0; l < kLanes; ++l) {
        sr[l] = _mm512_set1_epi32(-128 * pk.msum[(l * 2) * nblk + b]);
        si[l] = _mm512_set1_epi32(-128 * pk.msum[(l * 2 + 1) * nblk + b]);
      }
      for (size_t q = b * pk.bq / 4; q < (b + 1) * pk.bq / 4; ++q) {
        const __m512i wr = _mm512_loadu_si512(&pk.Cw[(q * HB + hb) * 64]);
        const __m512i wi = _mm512_loadu_si512(&pk.Cw[((QQ + q) * HB + hb) * 64]);
        for (size_t l = 0; l < kLanes; ++l) {
          sr[l] = _mm512_dpbusd_epi32(sr[l], wr, _mm512_set1_epi32(pk.Mq[(l * 2) * QQ + q]));
          si[l] = _mm512_dpbusd_epi32(si[l], wi, _mm512_set1_epi32(pk.Mq[(l * 2 + 1) * QQ + q]));
        }
      }
      for (size_t l = 0; l < kLanes; ++l) {
        const int64_t* e = &E[l * 2 * P8];
        const __m512i er = _mm512_set1_epi64(e[b * pk.blk]), ei = _mm512_set1_epi64(e[P8 + b * pk.blk]);
        int64_t* y = &Y[l * HB * 16 + hb * 16];
        _mm512_storeu_si512(y, _mm512_add_epi64(_mm512_loadu_si512(y), shifted(_mm512_castsi512_si256(sr[l]),
                                                                               _mm512_castsi512_si256(si[l]), er, ei)));
        _mm512_storeu_si512(
            y + 8, _mm512_add_epi64(_mm512_loadu_si512(y + 8), shifted(_mm512_extracti64x4_epi64(sr[l], 1),
                                                                       _mm512_extracti64x4_epi64(si[l], 1), er, ei)));
      }
    }
}

template <Rounding R, Overflow O, bool Delta>
SSMSIM_AVX512 void s5_block_kernel(const QLayerConsts& Ly, const Seq<int32_t>& u, size_t H, size_t L, int64_t* yacc,
                                   uint64_t* events, uint64_t* op_events, int32_t* record) {
  const XOperandConsts& op = Ly.xop;
  const size_t P2 = Ly.states, P8 = up_to(P2, 8);
  const size_t RB = up_to(2 * P2, 16) / 16;  // B's row blocks: the states' real parts, then their imaginary parts
  const size_t HB = up_to(H, 16) / 16;       // output blocks
  // the blocks of states; a part's mantissas (C o's 16-bit form reads 2 QP of them)
  const size_t blk = std::min(op.block, P2), nblk = (P2 + blk - 1) / blk;
  const size_t QP = nblk * up_to(blk, 2) / 2, MS = up_to(std::max(P8, 2 * QP), 8);
  std::unique_ptr<S5Bytes> bytes = s5_bytes_fit(Ly, u, H) ? std::make_unique<S5Bytes>(Ly, H) : nullptr;
  std::unique_ptr<S5Words> words = bytes ? nullptr : std::make_unique<S5Words>(Ly, H, MS);
  const StateConsts sc(Ly, P8);
  const Consts r2 = shift_consts(quant::detail::Shift64(2), range_of(Ly.xupd[0].range64(), Ly.xupd[0].zero_point()));
  const VRange mantissa = range_of(op.range, 0);

  // per lane: the stored state (re, im), the exponents (int64 per state and part), the mantissas
  // in state order; the event counters
  std::vector<int64_t> X(kLanes * 2 * P8, 0), E(kLanes * 2 * P8, 0), ev(kLanes * 16, 0);
  std::vector<int16_t> M(kLanes * 2 * MS, 0);
  const size_t BUS = RB * 16 + 16;  // a lane's B u sums (the imaginary parts read 8 past the last row block)
  std::vector<int32_t> BU(kLanes * BUS, 0);
  std::vector<int64_t> Y(kLanes * HB * 16);
  const __m512i one = _mm512_set1_epi64(1);

  for (size_t t = 0; t < L; ++t) {
    // 1. B u of every lane
    if (bytes)
      bu_bytes(*bytes, u, t, BU.data(), BUS);
    else
      bu_words(*words, u, t, BU.data(), BUS);
    for (size_t l = 0; l < kLanes; ++l) {
      const int32_t* bu = &BU[l * BUS];
      int64_t *x = &X[l * 2 * P8], *e = &E[l * 2 * P8];
      int16_t* m = &M[l * 2 * MS];
      __m512i evx = _mm512_loadu_si512(&ev[l * 16]), evo = _mm512_loadu_si512(&ev[l * 16 + 8]);
      // 2. the state update from the previous operands
      for (size_t p0 = 0; p0 < P8; p0 += 8) {
        const __m512i mr = _mm512_cvtepi16_epi64(_mm_loadu_si128(reinterpret_cast<const __m128i*>(m + p0)));
        const __m512i mi = _mm512_cvtepi16_epi64(_mm_loadu_si128(reinterpret_cast<const __m128i*>(m + MS + p0)));
        const __m512i u0 = at(sc.u0, p0), c = at(sc.c, p0);
        const __m512i ar_ = _mm512_add_epi64(u0, _mm512_loadu_si512(e + p0));  // alignment of the real part's A o
        const __m512i ai_ = _mm512_add_epi64(u0, _mm512_loadu_si512(e + P8 + p0));
        const __m512i dr = _mm512_sub_epi64(c, ar_), di = _mm512_sub_epi64(c, ai_);
        const __m512i mkr = _mm512_sub_epi64(_mm512_sllv_epi64(one, dr), one);
        const __m512i mki = _mm512_sub_epi64(_mm512_sllv_epi64(one, di), one);
        const __m512i Ar = at(sc.ar, p0), Ai = at(sc.ai, p0), K0 = at(sc.K0, p0), K1 = at(sc.K1, p0);
        const __m512i k0rr = _mm512_mul_epi32(K0, _mm512_mul_epi32(Ar, mr));
        const __m512i k0ii = _mm512_mul_epi32(K0, _mm512_mul_epi32(Ai, mi));
        const __m512i k0ri = _mm512_mul_epi32(K0, _mm512_mul_epi32(Ar, mi));
        const __m512i k0ir = _mm512_mul_epi32(K0, _mm512_mul_epi32(Ai, mr));
        const __m512i bur = _mm512_cvtepi32_epi64(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(bu + p0)));
        const __m512i bui = _mm512_cvtepi32_epi64(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(bu + P2 + p0)));
        const __m512i u1 = at(sc.u1, p0), d1 = at(sc.d1, p0), m1 = at(sc.m1, p0);
        __m512i hr = _mm512_setzero_si512(), lr = hr, hi = hr, li = hr;
        // re = K0 (ar mr 2^er - ai mi 2^ei) + K1 bur [+ K2 xr], im = K0 (ar mi 2^ei + ai mr 2^er) + K1 bui [+ K2 xi]
        split(k0rr, ar_, dr, mkr, hr, lr);
        split(_mm512_sub_epi64(_mm512_setzero_si512(), k0ii), ai_, di, mki, hr, lr);
        split(_mm512_mul_epi32(K1, bur), u1, d1, m1, hr, lr);
        split(k0ri, ai_, di, mki, hi, li);
        split(k0ir, ar_, dr, mkr, hi, li);
        split(_mm512_mul_epi32(K1, bui), u1, d1, m1, hi, li);
        if constexpr (Delta) {
          const __m512i K2 = at(sc.K2, p0), u2 = at(sc.u2, p0), d2 = at(sc.d2, p0), m2 = at(sc.m2, p0);
          split(_mm512_mul_epi32(K2, _mm512_loadu_si512(x + p0)), u2, d2, m2, hr, lr);
          split(_mm512_mul_epi32(K2, _mm512_loadu_si512(x + P8 + p0)), u2, d2, m2, hi, li);
        }
        const __m512i mc = at(sc.maskc, p0), mc1 = at(sc.maskc1, p0);
        _mm512_storeu_si512(x + p0, narrow<R, O>(joined(hr, lr, c, mc, mc1), r2, evx));
        _mm512_storeu_si512(x + P8 + p0, narrow<R, O>(joined(hi, li, c, mc, mc1), r2, evx));
      }
      if (record)
        for (size_t p = 0; p < P2; ++p) {
          record[(t * 2 * P2 + 2 * p) * kLanes + l] = static_cast<int32_t>(x[p]);
          record[(t * 2 * P2 + 2 * p + 1) * kLanes + l] = static_cast<int32_t>(x[P8 + p]);
        }
      // 3. the new operands: each block's exponent per part, then every mantissa
      for (size_t part = 0; part < 2; ++part) {
        const int64_t* xs = x + part * P8;
        int64_t* es = e + part * P8;
        if (nblk == 1) {
          __m512i mag = _mm512_setzero_si512();
          for (size_t p0 = 0; p0 < P8; p0 += 8)
            mag = _mm512_max_epu64(mag, _mm512_abs_epi64(_mm512_loadu_si512(xs + p0)));
          const __m512i b =
              _mm512_set1_epi64(qstep::block_exponent(_mm512_reduce_max_epu64(mag), op.bits, op.rounding));
          for (size_t p0 = 0; p0 < P8; p0 += 8) _mm512_storeu_si512(es + p0, b);
        } else {
          for (size_t b = 0; b < P2; b += blk) {
            uint64_t mag = 0;
            for (size_t p = b; p < std::min(P2, b + blk); ++p) mag = std::max(mag, qstep::magnitude(xs[p]));
            const int be = qstep::block_exponent(mag, op.bits, op.rounding);
            for (size_t p = b; p < std::min(P2, b + blk); ++p) es[p] = be;
          }
        }
        for (size_t p0 = 0; p0 < P8; p0 += 8) {
          const __m512i v = round_by(_mm512_loadu_si512(xs + p0), _mm512_loadu_si512(es + p0), op.rounding);
          const __m512i mm = fit(v, mantissa, op.overflow, evo);
          _mm_storeu_si128(reinterpret_cast<__m128i*>(m + part * MS + p0), _mm512_cvtepi64_epi16(mm));
        }
      }
      _mm512_storeu_si512(&ev[l * 16], evx);
      _mm512_storeu_si512(&ev[l * 16 + 8], evo);
    }
    // 4. C o of every lane
    if (bytes)
      co_bytes(*bytes, M.data(), MS, E.data(), P8, Y.data());
    else
      co_words(*words, M.data(), MS, E.data(), P8, Y.data());
    for (size_t h = 0; h < H; ++h) {
      int64_t* acc = yacc + (t * H + h) * kLanes;
      for (size_t l = 0; l < kLanes; ++l) acc[l] = Y[l * HB * 16 + h];
    }
  }
  for (size_t l = 0; l < kLanes; ++l)
    for (size_t i = 0; i < 8; ++i)
      events[l] += static_cast<uint64_t>(ev[l * 16 + i]), op_events[l] += ev[l * 16 + 8 + i];
}

struct S5BlockAvx512 {
  template <Rounding R, Overflow O, bool Delta>
  static BlockKernel get() {
    return s5_block_kernel<R, O, Delta>;
  }
};

}  // namespace

#endif

bool s5_block_operand_runs(const QLayerConsts& Ly) {
#ifdef SSMSIM_AVX512_KERNELS
  return Ly.block16 && path() == Path::Avx512;
#else
  (void)Ly;
  return false;
#endif
}

bool s5_block_operand_avx512(const QLayerConsts& Ly, const Seq<int32_t>& u, size_t H, size_t L, int64_t* yacc,
                             uint64_t* events, uint64_t* operand_events, int32_t* record) {
#ifdef SSMSIM_AVX512_KERNELS
  if (!s5_block_operand_runs(Ly)) return false;
  pick<S5BlockAvx512>(Ly)(Ly, u, H, L, yacc, events, operand_events, record);
  return true;
#else
  (void)Ly, (void)u, (void)H, (void)L, (void)yacc, (void)events, (void)operand_events, (void)record;
  return false;
#endif
}

}  // namespace ssmsim::core::simd
