// The one narrowing function of the arithmetic contract (docs/fixed_point.md, section 3).
//
// Every change of format in ssmsim -- accumulator to activation, state to state, float input to
// integer -- goes through Requantizer: the exact rational result raw * num / (den * 2^shift) is
// rounded once with an explicit Rounding, then fitted into the destination width with an explicit
// Overflow; each value changed by the overflow step counts one event on the caller's counter.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <type_traits>

#include "quant/format.hpp"

namespace ssmsim::quant {

__extension__ typedef __int128 wide_t;            // exact intermediates (products, sums)
__extension__ typedef unsigned __int128 uwide_t;

// Inputs up to 2^kFastInputBits in magnitude stay in 128-bit arithmetic; wider ones take the
// arbitrary-precision path (same result, slower).
constexpr int kFastInputBits = 95;

// A rescale factor num / den * 2^-shift, 1 <= num, den < 2^31, |shift| <= 1024. A dyadic rescale
// (den == 1) is what hardware implements: a multiply by an integer and a rounding right shift.
struct Rescale {
  int64_t num = 1;
  int64_t den = 1;
  int shift = 0;

  // The exact factor between two formats: from.scale / to.scale, reduced.
  static Rescale between(const Format& from, const Format& to);
  // An explicit dyadic factor mult * 2^-shift.
  static Rescale dyadic(int64_t mult, int shift);
  // The dyadic factor nearest `ratio` with a multiplier of exactly `mult_bits` bits (its top bit
  // set), as integer-only inference precomputes it; ratio > 0, 2 <= mult_bits <= 31.
  static Rescale approximate(double ratio, int mult_bits = 31);

  bool is_dyadic() const { return den == 1; }
  double real() const;
  void validate() const;
  std::string to_string() const;
};

// Rounds num / den (den > 0) to an integer; exact. Requires |num|, den < 2^126.
wide_t round_div(wide_t num, wide_t den, Rounding mode);
// Rounds v / 2^n (n >= 0) to an integer; exact for every n. Requires |v| < 2^126.
wide_t round_shift(wide_t v, int n, Rounding mode);
// Fits an integer into the range of `to` with the overflow mode. Counts one event in *events
// (when given) if the value changed.
int64_t fit(wide_t v, const Format& to, Overflow mode, uint64_t* events = nullptr);

namespace detail {

// 64-bit forms of round_shift and fit for the hot paths (same bits; the oracle tests check both).
// Always inlined: the mode switch then folds or hoists at the call site.

// The constants of a rounding right shift by `shift` (0..62) bits.
struct Shift64 {
  int shift = 0;
  int64_t mask = 0;        // 2^shift - 1: the discarded bits
  int64_t below_half = 0;  // 2^(shift-1) - 1, or 0 when shift == 0
  int64_t half = 0;        // 2^(shift-1), or 0 when shift == 0
  explicit Shift64(int s = 0)
      : shift(s), mask((int64_t{1} << s) - 1), below_half(mask >> 1), half(mask - (mask >> 1)) {}
};

// The hardware form of the rounding modes (docs/fixed_point.md, section 2): a right shift by s
// rounds as floor((p + bias) / 2^s) with this bias. `negative` is p < 0, `odd` the lowest kept
// bit (bit s of p; 0 when s == 0), mask = 2^s - 1, half = 2^(s-1), below_half = half - 1 (all 0
// when s == 0). Written once for every lane width; inlined, so a constant mode folds away.
template <typename U>
[[gnu::always_inline]] inline U rounding_bias(Rounding mode, bool negative, U odd, U mask,
                                              U below_half, U half) {
  switch (mode) {
    case Rounding::Floor: return 0;
    case Rounding::TowardZero: return negative ? mask : 0;
    case Rounding::HalfUp: return half;
    case Rounding::HalfDown: return below_half;
    case Rounding::HalfEven: return below_half + odd;
    case Rounding::HalfAway: return negative ? below_half : half;
    case Rounding::HalfTowardZero: return negative ? half : below_half;
  }
  return 0;
}

// round_shift(p, k.shift, mode) for |p| < 2^62: floor((p + bias) / 2^shift); the bias is below
// 2^62, so the sum cannot overflow.
[[gnu::always_inline]] inline int64_t round_shift64(int64_t p, const Shift64& k,
                                                    Rounding mode) {
  const int64_t odd = k.mask != 0 ? (p >> k.shift) & 1 : 0;
  return (p + rounding_bias<int64_t>(mode, p < 0, odd, k.mask, k.below_half, k.half)) >> k.shift;
}

// round_shift(p, s, mode) for |p| < 2^126 and 0 <= s <= 125, inline: floor((p + bias) / 2^s)
// (the bias is below 2^125, so the sum cannot overflow 128 bits).
[[gnu::always_inline]] inline wide_t round_shift128(wide_t p, int s, Rounding mode) {
  if (s == 0) return p;
  const wide_t mask = (wide_t{1} << s) - 1, half = wide_t{1} << (s - 1);
  return (p + rounding_bias<wide_t>(mode, p < 0, (p >> s) & 1, mask, half - 1, half)) >> s;
}

// The range of a destination under an overflow mode (SaturateSymmetric: [-max, max] if signed).
struct Range64 {
  int64_t lo = 0, hi = 0;
  int width = 1;
  bool is_signed = true;
  Range64() = default;
  Range64(int w, bool sgn, Overflow mode) : width(w), is_signed(sgn) {
    hi = sgn ? static_cast<int64_t>((uint64_t{1} << (w - 1)) - 1)
             : static_cast<int64_t>((uint64_t{1} << w) - 1);
    lo = !sgn ? 0 : mode == Overflow::SaturateSymmetric ? -hi : -hi - 1;
  }
  // The low `width` bits of q as a value of the format (two's complement wrap).
  int64_t wrap(int64_t q) const {
    const int drop = 64 - width;
    if (is_signed) return static_cast<int64_t>(static_cast<uint64_t>(q) << drop) >> drop;
    return static_cast<int64_t>(static_cast<uint64_t>(q) & (~uint64_t{0} >> drop));
  }
};

// fit() for a 64-bit value.
[[gnu::always_inline]] inline int64_t fit64(int64_t q, const Range64& r, Overflow mode,
                                            uint64_t* events) {
  if (q >= r.lo && q <= r.hi) return q;
  if (events) ++*events;
  if (mode != Overflow::Wrap) return q < r.lo ? r.lo : r.hi;
  return r.wrap(q);
}

// fit() for a 128-bit value into a range of at most 63 bits (its wrap reads the low 64 bits).
[[gnu::always_inline]] inline int64_t fit128(wide_t q, const Range64& r, Overflow mode, uint64_t* events) {
  if (q >= r.lo && q <= r.hi) return static_cast<int64_t>(q);
  if (events) ++*events;
  if (mode != Overflow::Wrap) return q < r.lo ? r.lo : r.hi;
  return r.wrap(static_cast<int64_t>(q));
}

}  // namespace detail

// A precomputed narrowing: construct once per tensor and layer, apply per element.
class Requantizer {
 public:
  Requantizer() = default;
  Requantizer(const Rescale& rescale, const Format& to, Rounding rounding, Overflow overflow);
  // The exact change of format from -> to.
  Requantizer(const Format& from, const Format& to, Rounding rounding, Overflow overflow);

  // Any 128-bit input is exact. A dyadic rescale with a right shift of at most 62 bits and an
  // input whose product with the multiplier stays below 2^62 runs in 64-bit arithmetic; other
  // inputs below 2^62 take one 128-bit multiply and rounding shift; anything larger the general
  // 128-bit or arbitrary-precision path. All paths give the same bits.
  int64_t operator()(wide_t v, uint64_t* events = nullptr) const {
    if (fast64_ && v >= -lim64_ && v < lim64_) {
      const int64_t q = detail::round_shift64(static_cast<int64_t>(v) * num64_, k64_, rounding_);
      return detail::fit64(q, range_, overflow_, events);
    }
    if (fast_ && static_cast<uwide_t>((v >> 62) + 1) <= 1) {
      const wide_t p = v * num_;
      return fit(round_shift(p, shift_, rounding_), to_, overflow_, events);
    }
    return apply_general(v, events);
  }

  // out[i] = (*this)(in[i]) for i < n, with the events of all n added to *events: the same bits
  // as n calls, with the mode dispatch hoisted out of the loop (the form for whole tensors).
  // In and Out are integer types; Out must hold the destination format.
  template <typename In, typename Out>
  void apply(const In* in, Out* out, size_t n, uint64_t* events = nullptr) const;

  const Rescale& rescale() const { return rescale_; }
  const Format& to() const { return to_; }
  Rounding rounding() const { return rounding_; }
  Overflow overflow() const { return overflow_; }

 private:
  int64_t apply_general(wide_t v, uint64_t* events) const;
  // apply() on the 64-bit path, one loop per mode pair
  template <Rounding R, typename In, typename Out>
  uint64_t apply64(const In* in, Out* out, size_t n) const;
  template <Rounding R, Overflow O, typename In, typename Out>
  uint64_t apply64(const In* in, Out* out, size_t n) const;
  // apply() for a binary-point rescale of 32-bit inputs into at most 32 bits: all in 32-bit
  // lanes, which the compiler vectorises
  template <Rounding R, Overflow O, typename In, typename Out>
  uint64_t apply32(const In* in, Out* out, size_t n) const;

  Rescale rescale_{};
  Format to_{};
  Rounding rounding_ = Rounding::HalfEven;
  Overflow overflow_ = Overflow::Saturate;

  wide_t num_ = 1;
  int shift_ = 0;
  bool fast_ = false;  // dyadic with 0 <= shift and 62 + bits(num) < 126
  // the 64-bit path: dyadic, 0 <= shift <= 62, inputs with |v| < lim64_ = 2^(62 - bits(num))
  bool fast64_ = false;
  int64_t num64_ = 1;
  int64_t lim64_ = 0;
  detail::Shift64 k64_{};
  detail::Range64 range_{};
};

template <Rounding R, typename In, typename Out>
uint64_t Requantizer::apply64(const In* in, Out* out, size_t n) const {
  // 32-bit lanes need: inputs that fit int32, no multiplier, a shift below 32 and a destination
  // range that fits int32
  const bool lanes32 = (std::is_signed<In>::value || sizeof(In) < 4) && num64_ == 1 &&
                       k64_.shift <= 31 && range_.width <= (range_.is_signed ? 32 : 31);
  switch (overflow_) {
    case Overflow::Wrap:
      return lanes32 ? apply32<R, Overflow::Wrap>(in, out, n)
                     : apply64<R, Overflow::Wrap>(in, out, n);
    case Overflow::Saturate:
      return lanes32 ? apply32<R, Overflow::Saturate>(in, out, n)
                     : apply64<R, Overflow::Saturate>(in, out, n);
    case Overflow::SaturateSymmetric:
      return lanes32 ? apply32<R, Overflow::SaturateSymmetric>(in, out, n)
                     : apply64<R, Overflow::SaturateSymmetric>(in, out, n);
  }
  return 0;
}

template <Rounding R, Overflow O, typename In, typename Out>
uint64_t Requantizer::apply32(const In* in, Out* out, size_t n) const {
  // v = q0 * 2^s + rem, so floor((v + bias) / 2^s) = q0 + (rem + bias) / 2^s, where
  // rem + bias < 2^(s+1) <= 2^32 fits an unsigned lane and the quotient is 0 or 1.
  const int s = k64_.shift;
  const auto mask = static_cast<uint32_t>(k64_.mask);
  const auto below_half = static_cast<uint32_t>(k64_.below_half);
  const auto half = static_cast<uint32_t>(k64_.half);
  const uint32_t odd_bit = s != 0 ? 1u : 0u;
  const auto lo = static_cast<int32_t>(range_.lo), hi = static_cast<int32_t>(range_.hi);
  const int drop = 32 - range_.width;
  const bool is_signed = range_.is_signed;
  uint64_t events = 0;
  // 32-bit event lanes vectorise better; a chunk of at most 2^31 values cannot overflow them
  constexpr size_t kChunk = size_t{1} << 31;
  for (size_t start = 0; start < n; start += kChunk) {
    const size_t end = n - start > kChunk ? start + kChunk : n;
    uint32_t chunk_events = 0;
    for (size_t i = start; i < end; ++i) {
      const auto v = static_cast<int32_t>(in[i]);
      const int32_t q0 = v >> s;
      const uint32_t rem = static_cast<uint32_t>(v) & mask;
      const uint32_t bias = detail::rounding_bias<uint32_t>(
          R, v < 0, static_cast<uint32_t>(q0) & odd_bit, mask, below_half, half);
      const int32_t q = q0 + static_cast<int32_t>((rem + bias) >> s);
      chunk_events += (q < lo || q > hi) ? 1u : 0u;
      int32_t fitted;
      if (O == Overflow::Wrap) {
        const uint32_t bits = static_cast<uint32_t>(q) << drop;
        fitted = is_signed ? static_cast<int32_t>(bits) >> drop
                           : static_cast<int32_t>(bits >> drop);
      } else {
        fitted = q < lo ? lo : q > hi ? hi : q;
      }
      out[i] = static_cast<Out>(fitted);
    }
    events += chunk_events;
  }
  return events;
}

template <Rounding R, Overflow O, typename In, typename Out>
uint64_t Requantizer::apply64(const In* in, Out* out, size_t n) const {
  // locals: the stores through `out` cannot alias them, so they stay in registers
  const int64_t num = num64_;
  const detail::Shift64 k = k64_;
  const detail::Range64 r = range_;
  uint64_t events = 0;
  for (size_t i = 0; i < n; ++i) {
    const int64_t q = detail::round_shift64(static_cast<int64_t>(in[i]) * num, k, R);
    const bool over = q < r.lo || q > r.hi;
    events += over ? 1u : 0u;
    const int64_t fitted =
        O == Overflow::Wrap ? r.wrap(q) : (q < r.lo ? r.lo : q > r.hi ? r.hi : q);
    out[i] = static_cast<Out>(fitted);
  }
  return events;
}

template <typename In, typename Out>
void Requantizer::apply(const In* in, Out* out, size_t n, uint64_t* events) const {
  static_assert(std::is_integral<In>::value && sizeof(In) <= 8, "apply() takes integer inputs");
  static_assert(std::is_integral<Out>::value, "apply() writes integer outputs");
  // inputs of up to 32 bits always satisfy |v| < lim64_ >= 2^31
  if (!fast64_ || sizeof(In) > 4) {
    for (size_t i = 0; i < n; ++i)
      out[i] = static_cast<Out>((*this)(static_cast<wide_t>(in[i]), events));
    return;
  }
  uint64_t ev = 0;
  switch (rounding_) {
    case Rounding::Floor: ev = apply64<Rounding::Floor>(in, out, n); break;
    case Rounding::TowardZero: ev = apply64<Rounding::TowardZero>(in, out, n); break;
    case Rounding::HalfUp: ev = apply64<Rounding::HalfUp>(in, out, n); break;
    case Rounding::HalfDown: ev = apply64<Rounding::HalfDown>(in, out, n); break;
    case Rounding::HalfEven: ev = apply64<Rounding::HalfEven>(in, out, n); break;
    case Rounding::HalfAway: ev = apply64<Rounding::HalfAway>(in, out, n); break;
    case Rounding::HalfTowardZero: ev = apply64<Rounding::HalfTowardZero>(in, out, n); break;
  }
  if (events) *events += ev;
}

// One-off forms of the same operation (they build a Requantizer).
int64_t requantize(wide_t raw, const Format& from, const Format& to, Rounding rounding,
                   Overflow overflow, uint64_t* events = nullptr);
int64_t rescale(wide_t value, const Rescale& factor, const Format& to, Rounding rounding,
                Overflow overflow, uint64_t* events = nullptr);

// Overflow events per named tensor ("layer0.x", "layer0.y", ...). slot() pointers stay valid for
// the life of the object; one instance per thread, merged in a fixed order for determinism.
class SaturationCounters {
 public:
  uint64_t* slot(const std::string& tensor) { return &counts_[tensor]; }
  uint64_t count(const std::string& tensor) const;
  uint64_t total() const;
  const std::map<std::string, uint64_t>& all() const { return counts_; }
  void merge(const SaturationCounters& other);

 private:
  std::map<std::string, uint64_t> counts_;
};

}  // namespace ssmsim::quant
