// Integer-only building blocks of the quantized models (docs/fixed_point.md, section 9): the scaled
// sum that every layer output goes through, the integer square root and reciprocal square root of
// the integer LayerNorm, and lookup tables for nonlinearities.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "quant/quantizer.hpp"
#include "quant/requantize.hpp"

namespace ssmsim::quant {

// out = fit(round(sum_k v_k * K_k * 2^(S - S_k) / 2^S)): integer terms v_k, each with its own
// scale s_k, brought to an output format of scale s_out with one rounding and one overflow step.
// K_k / 2^S_k is the dyadic approximation of the real ratio r_k = s_k / s_out (negative ratios
// allowed: a folded BatchNorm scale) with a multiplier of exactly `bits` bits
// (K_k = round_half_even(r_k * 2^S_k), exact in double); the terms are aligned to the finest shift
// S = max S_k by exact left shifts, so every term keeps its full precision whatever the ratios'
// spread. Products and sum are exact (128 bits); callers keep each |v_k * K_k * 2^(S - S_k)|
// below 2^125.
class ScaledSum {
 public:
  ScaledSum() = default;
  ScaledSum(const std::vector<double>& ratios, const Format& to, Rounding rounding, Overflow overflow,
            int bits = 31);
  // Into a point's parameters. With a zero point zp (an asymmetric activation point, docs/
  // fixed_point.md 9.2) the result is the point's operand q - zp: the rounded sum plus zp is
  // fitted into the unsigned format, then zp is taken off again, i.e. the rounded sum is fitted
  // into [-zp, 2^b - 1 - zp].
  ScaledSum(const std::vector<double>& ratios, const QuantParams& to, int bits = 31);
  // From stored constants (a quantized model file): multipliers and their shifts.
  ScaledSum(std::vector<int64_t> K, std::vector<int> shifts, const Format& to, Rounding rounding, Overflow overflow);

  int64_t operator()(wide_t v0, uint64_t* events) const { return narrow(v0 * Kw_[0], events); }
  int64_t operator()(wide_t v0, wide_t v1, uint64_t* events) const {
    return narrow(v0 * Kw_[0] + v1 * Kw_[1], events);
  }
  int64_t operator()(wide_t v0, wide_t v1, wide_t v2, uint64_t* events) const {
    return narrow(v0 * Kw_[0] + v1 * Kw_[1] + v2 * Kw_[2], events);
  }
  // The one rounding and overflow step of an aligned weighted sum (|sum| < 2^126).
  int64_t narrow(wide_t sum, uint64_t* events) const {
    if (S_ <= 62 && out_.to().width <= 63 && sum >= -kLim64 && sum < kLim64)
      return fast_narrow(static_cast<int64_t>(sum), events);
    if (S_ <= 125 && out_.to().width <= 63)  // inline 128-bit rounding and fit
      return detail::fit128(detail::round_shift128(sum, S_, out_.rounding()) + zp_, range64_, out_.overflow(), events) -
             zp_;
    return fit(round_shift(sum, S_, out_.rounding()) + zp_, out_.to(), out_.overflow(), events) - zp_;
  }

  // The 64-bit form: valid (same bits) when the terms are bounded by the magnitudes given to
  // fits64(), which says whether the whole computation stays below 2^62.
  bool fits64(const std::vector<int64_t>& max_abs_terms) const;
  int64_t fast(int64_t v0, uint64_t* events) const { return fast_narrow(v0 * K64_[0], events); }
  int64_t fast(int64_t v0, int64_t v1, uint64_t* events) const {
    return fast_narrow(v0 * K64_[0] + v1 * K64_[1], events);
  }
  int64_t fast(int64_t v0, int64_t v1, int64_t v2, uint64_t* events) const {
    return fast_narrow(v0 * K64_[0] + v1 * K64_[1] + v2 * K64_[2], events);
  }
  // The 64-bit rounding and overflow step of an aligned sum.
  int64_t fast_narrow(int64_t sum, uint64_t* events) const {
    return detail::fit64(detail::round_shift64(sum, k64_, out_.rounding()) + zp_, range64_, out_.overflow(), events) -
           zp_;
  }
  // The aligned multipliers K_k * 2^(S - S_k) (64-bit: valid where fits64 held) and the 64-bit
  // rounding shift and range, for kernels that inline the narrowing.
  const std::vector<int64_t>& aligned64() const { return K64_; }
  const detail::Shift64& shift64() const { return k64_; }
  const detail::Range64& range64() const { return range64_; }

  const std::vector<int64_t>& K() const { return K_; }
  const std::vector<int>& shifts() const { return shifts_; }
  int S() const { return S_; }
  const Format& to() const { return out_.to(); }
  Rounding rounding() const { return out_.rounding(); }
  Overflow overflow() const { return out_.overflow(); }
  int64_t zero_point() const { return zp_; }
  std::string to_string() const;

 private:
  static constexpr wide_t kLim64 = static_cast<wide_t>(1) << 62;
  void finish(const Format& to, Rounding rounding, Overflow overflow);
  std::vector<int64_t> K_;
  std::vector<int> shifts_, up_;
  std::vector<wide_t> Kw_;     // K_k * 2^(S - S_k)
  std::vector<int64_t> K64_;   // the same where it fits 64 bits (0 otherwise)
  int S_ = 0;
  int64_t zp_ = 0;
  Requantizer out_;
  detail::Shift64 k64_;
  detail::Range64 range64_;
};

// floor(sqrt(v)), exact, for any v (the LayerNorm's stay below 2^126: the fast estimate).
uint64_t isqrt(uwide_t v);

// A table of 2^in.width entries: entry i is quantize(f(dequantize(code)), out) for the input code
// of index i (code = i + min of the input format). Built offline in double; applied with integers
// only. Inputs up to 16 bits.
class Lut {
 public:
  Lut() = default;
  Lut(const Format& in, const QuantParams& out, const std::function<double(double)>& f);
  // Between points with zero points (docs/fixed_point.md 9.1): indexed by the input's operand
  // v = q - zp_in (entry of v: the function of in.format.to_real(v)), holding the output's operands
  // quantize(f(.), out) - zp_out.
  Lut(const QuantParams& in, const QuantParams& out, const std::function<double(double)>& f);
  // From stored entries.
  Lut(const Format& in, std::vector<int32_t> table);
  // The entry of `code`; an entry whose tabulation overflowed counts one event per read.
  int64_t operator()(int64_t code, uint64_t* events = nullptr) const {
    const auto i = static_cast<size_t>(code - lo_);
    if (events && !clipped_.empty() && clipped_[i]) ++*events;
    return table_[i];
  }
  const std::vector<int32_t>& table() const { return table_; }
  const Format& in() const { return in_; }
  int64_t lo() const { return lo_; }  // the code of entry 0
  // Per entry, 1 where its tabulation clipped (a read counts one event), else 0; empty for a
  // table built from stored entries.
  const std::vector<int32_t>& clipped() const { return clipped_; }
  // Per entry, 2 entry + clipped (one read for both: a vectorised lookup gathers once), where
  // clipped() is not empty and every entry lies in [-2^30, 2^30); else empty.
  const std::vector<int32_t>& packed() const { return packed_; }

 private:
  Format in_{};
  int64_t lo_ = 0;
  std::vector<int32_t> table_;
  std::vector<int32_t> clipped_;  // tabulated entries that the overflow step changed
  std::vector<int32_t> packed_;
};

}  // namespace ssmsim::quant
