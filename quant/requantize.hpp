// The one narrowing function of the arithmetic contract (docs/fixed_point.md, section 3).
//
// Every change of format in ssmsim -- accumulator to activation, state to state, float input to
// integer -- goes through Requantizer: the exact rational result raw * num / (den * 2^shift) is
// rounded once with an explicit Rounding, then fitted into the destination width with an explicit
// Overflow; each value changed by the overflow step counts one event on the caller's counter.
#pragma once

#include <cstdint>
#include <map>
#include <string>

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

// A precomputed narrowing: construct once per tensor and layer, apply per element.
class Requantizer {
 public:
  Requantizer() = default;
  Requantizer(const Rescale& rescale, const Format& to, Rounding rounding, Overflow overflow);
  // The exact change of format from -> to.
  Requantizer(const Format& from, const Format& to, Rounding rounding, Overflow overflow);

  // Any 128-bit input is exact: |v| < 2^62 takes the fast path (one multiply, one rounding
  // shift), anything larger the general 128-bit or arbitrary-precision path.
  int64_t operator()(wide_t v, uint64_t* events = nullptr) const {
    if (fast_ && static_cast<uwide_t>((v >> 62) + 1) <= 1) {
      const wide_t p = v * num_;
      return fit(round_shift(p, shift_, rounding_), to_, overflow_, events);
    }
    return apply_general(v, events);
  }

  const Rescale& rescale() const { return rescale_; }
  const Format& to() const { return to_; }
  Rounding rounding() const { return rounding_; }
  Overflow overflow() const { return overflow_; }

 private:
  int64_t apply_general(wide_t v, uint64_t* events) const;

  Rescale rescale_{};
  Format to_{};
  Rounding rounding_ = Rounding::HalfEven;
  Overflow overflow_ = Overflow::Saturate;
  wide_t num_ = 1;
  int shift_ = 0;
  bool fast_ = false;  // dyadic with 0 <= shift and 62 + bits(num) < 126
};

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
