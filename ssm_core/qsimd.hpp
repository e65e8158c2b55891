// Hand-vectorised kernels of the integer C-model for CPUs with AVX-512, chosen at run time inside
// the portable build, and the switch that picks them. Every kernel here computes the same bits as
// the compiler-vectorised kernel it replaces (qengine.cpp): integer arithmetic is exact, and each
// one runs only where the bounds that make its narrower multiplies exact hold (QLayerConsts).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ssm_core/qsteps.hpp"
#include "ssm_core/seq.hpp"

namespace ssmsim::core {

// Where an S4D state kernel records every state at every step (QWorkspace's record, layout
// [H * N2][L][re, im][lanes]): as int32 codes, or as int16 ones where the state's format has at
// most 16 bits (QWorkspace::record16: half the memory traffic, the same integers). Both null: no
// record.
struct StateRecord {
  int32_t* w32 = nullptr;
  int16_t* w16 = nullptr;
  explicit operator bool() const { return w32 || w16; }
  void put(size_t at, int64_t v) const {
    if (w16)
      w16[at] = static_cast<int16_t>(v);
    else
      w32[at] = static_cast<int32_t>(v);
  }
};

}  // namespace ssmsim::core

namespace ssmsim::core::simd {

enum class Path { Generic, Avx512 };

// The path in use: Avx512 where the CPU has AVX-512 F, DQ, VL, CD and BW, unless the environment variable
// SSMSIM_SIMD=generic asks for the compiler-vectorised kernels alone (AVX2 or the x86-64 baseline,
// picked at load time); read once.
Path path();
// Sets the path (tests compare the paths' bits); Avx512 on a CPU without it is refused (false).
bool force(Path p);
std::string name(Path p);
// Whether the Avx512 path's kernels may use AVX512-VNNI (8-bit products summed in fours, where
// every operand of a product fits 8 bits): where the CPU has it, unless SSMSIM_SIMD=avx512_novnni.
bool vnni();
// Allows or forbids VNNI (tests compare the bits with and without it); allowing it on a CPU
// without it is refused (false).
bool allow_vnni(bool on);
// Whether the Avx512 path's S4D state kernel may compute in double precision where every sum is
// exact there (QLayerConsts::f64): unless SSMSIM_SIMD=avx512_nof64. allow_f64 allows or forbids
// it (tests compare the bits with and without it; false on a CPU without AVX-512).
bool f64();
bool allow_f64(bool on);

// The S4D state update and output accumulation of one layer with a stored state operand, in
// 64-bit lanes, the same bits as the 128-bit form (qengine.cpp's s4d_states_wide): where Ly.fast
// holds (the formats' bounds keep every term below 2^62), the AVX-512 kernel (one 512-bit vector
// per mode and part, every multiply 32 x 32 -> 64 bits) where path() is Avx512 and Ly.narrow32
// holds (in double precision for the channels Ly.f64 marks, where f64() allows it), else the
// compiler-vectorised one; where it does not but Ly.split64 does (e.g. A and x
// at 16 bits with the 31-bit multipliers), on the AVX-512 path, the same kernel with every term
// K_k v_k exact in 64 bits and the sum narrowed from a split into two 64-bit parts. False, and
// nothing written, where neither holds (or Ly.split64 off the AVX-512 path). yacc: L * H * kLanes
// accumulators, which the kernels add to; events: kLanes counters; record: QWorkspace's record,
// or none. The channels run on up to `threads` threads (QAT's spare cores; the same bits for any
// count).
bool s4d_states_fast(const QLayerConsts& Ly, const Seq<int32_t>& u, size_t H, size_t L, int64_t* yacc, uint64_t* events,
                     StateRecord record, size_t threads = 1);
// Whether the split form is exact for an S4D layer with a stored state (|x| <= xmag, |u| <=
// umag; qsimd_avx512.hpp's split_form_fits): each term K_k v_k below 2^63, A x's two products
// and B u bounded by each channel's codes, the state in int32 without a zero point.
bool s4d_split_fits(const QLayerConsts& Ly, int64_t xmag, int64_t umag);
// Per channel of an S4D layer, whether the double-precision form of the state kernel
// (QLayerConsts::f64, qsimd_f64.cpp's s4d_f64) computes the same integers, in a layer where
// Ly.narrow32 holds, with a stored state (|x| <= xmag, |u| <= umag) and a saturating overflow mode:
// A x's sums, B u K_1 (and delta form's x K_2 beside it) and the output accumulators below 2^53 in
// units of their last bit, and the state's range R at the channel's shift S within 2^53: F64Exact
// where (R + 2.5) 2^max(S, 1) <= 2^53 (every sum within one of the range, and it +- 1/2, exact),
// F64Guarded where only R 2^S <= 2^53 (the kernel hands the lanes at the range's edge to the exact
// integer update), F64None otherwise. Empty where no channel qualifies.
enum : uint8_t { F64None = 0, F64Guarded = 1, F64Exact = 2 };
std::vector<uint8_t> s4d_f64_channels(const QLayerConsts& Ly, int64_t xmag, int64_t umag);
// The S4D state update and output accumulation of one layer whose state enters its multipliers
// as a block-floating-point operand (qengine.cpp's s4d_states_operand, same bits) with AVX-512,
// where Ly.narrow32 holds; false, and nothing written, otherwise (or on the generic path).
// operand_events: the operand's clamps per lane (the xo point).
bool s4d_block_operand_avx512(const QLayerConsts& Ly, const Seq<int32_t>& u, size_t H, size_t L, int64_t* yacc,
                              uint64_t* events, uint64_t* operand_events, StateRecord record);

// The S5 state update and output accumulation of one layer with a stored state operand
// (qengine.cpp's s5_states, same bits) with AVX-512, where Ly.narrow32 holds (B u's sum over the
// inputs, A x's sum, the state and the multipliers in 32 bits); false, and nothing written,
// otherwise (or on the generic path). Arguments as s4d_states_fast's; record: int32 codes
// [L][2 P2][lanes], or null.
bool s5_states_avx512(const QLayerConsts& Ly, const Seq<int32_t>& u, size_t H, size_t L, int64_t* yacc,
                      uint64_t* events, int32_t* record);

// The S5 state update and output accumulation of one layer whose state enters its multipliers
// as a block-floating-point operand (qengine.cpp's s5_states, same bits) with AVX-512, where
// Ly.block16 holds (s5_block_fits); false, and nothing written, otherwise (or on the generic
// path). Arguments as s4d_block_operand_avx512's, except that it writes every accumulator of
// yacc (the others add to them). Vectorised across the states of a sequence: B u and C o on
// 16-bit operands with 32-bit sums, the state update's sums (wider than 64 bits with a 32-bit
// state) narrowed exactly from a split into two 64-bit parts (qsimd_s5.cpp).
bool s5_block_operand_runs(const QLayerConsts& Ly);  // whether it runs (true) or declines
bool s5_block_operand_avx512(const QLayerConsts& Ly, const Seq<int32_t>& u, size_t H, size_t L, int64_t* yacc,
                             uint64_t* events, uint64_t* operand_events, int32_t* record);
// Whether that kernel is exact for an S5 layer with a block operand: the operand, every code of
// A, B, C and u (|u| <= umag) fit 16 bits, B u (bound bu_bound) and C o's block sums 32 bits, and
// every state update's sum splits at its shift (at most 60) into parts that fit 64 bits.
bool s5_block_fits(const QLayerConsts& Ly, size_t H, int64_t umag, double bu_bound);

// The normalisation of every step and lane (qsteps.hpp's norm: the integer LayerNorm, or
// BatchNorm folded into a scaled sum per feature), the same bits, with AVX-512; false, and nothing
// written, where the chunk's values or the constants do not fit its 64-bit forms (or on the
// generic path). ev: kLanes event counters.
bool norm_avx512(const QLayerConsts& Ly, const Seq<int32_t>& in, Seq<int32_t>& out, uint64_t* const* ev);

// The SSM output step y = SS(acc, D u) of every step, channel and lane (qengine.cpp's
// step_output, same bits) with AVX-512; false, and nothing written, where the chunk's values do
// not fit its 64-bit forms (or on the generic path). ev: kLanes event counters (the y point).
bool output_avx512(const QLayerConsts& Ly, const int64_t* yacc, const Seq<int32_t>& u, Seq<int32_t>& y,
                   uint64_t* const* ev);
// out[i] = ss(a[i] * b[i]) (Product), ss(a[i], b[i]) (Sum), the hard GELU ss(a[i] * clip(a[i] +
// two, 0, 2 two)) or ss(a[i]) (Scale; b unused) for i < n (lane-interleaved: element i is lane
// i % kLanes), the same bits as ScaledSum::operator(), with AVX-512; false, and nothing written,
// where it does not apply.
enum class Pair { Product, Sum, HardGelu, Scale };
bool pair_avx512(const quant::ScaledSum& ss, Pair kind, const int32_t* a, const int32_t* b, int64_t two, size_t n,
                 int32_t* out, uint64_t* const* ev);

// out[i] = t(in[i]) for i < n (quant::Lut::operator(), the same entries and events; element i is
// lane i % kLanes) with AVX-512 gathers; false, and nothing written, on the generic path.
// ev: kLanes event counters.
bool lut_avx512(const quant::Lut& t, const int32_t* in, size_t n, int32_t* out, uint64_t* const* ev);

// One dense layer (qengine.cpp's qlinear, same bits): outputs o0 .. o0 + on - 1 of W (rows of
// in.F) plus b, narrowed by narrow_to[o - o0], for every step and lane of `in`, with AVX-512, where
// the chunk's inputs keep every accumulator in 32 bits and its narrowing in 64; false, and nothing
// written, otherwise (or on the generic path). ev: kLanes event counters.
bool dense_avx512(const int32_t* W, const int32_t* b, size_t o0, size_t on, const Seq<int32_t>& in,
                  const quant::ScaledSum* narrow_to, Seq<int32_t>& out, uint64_t* const* ev);

}  // namespace ssmsim::core::simd
