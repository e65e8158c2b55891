// Fixed-point formats and the rounding / overflow modes of the arithmetic contract
// (docs/fixed_point.md, sections 1-2).
//
// A value is an integer `raw` held in an int64_t. Its format says how many bits it has, whether it
// is two's complement, and what one unit of `raw` is worth:
//     real = raw * mult * 2^-shift
// A plain binary point is mult == 1 and shift == frac (frac may be negative or exceed the width).
// A dyadic scale (mult > 1) represents a real-valued quantizer scale with integers only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ssmsim::quant {

// How a value that falls between two representable values is rounded (quant/modes.def: names and
// semantics). Every mode is exact: it is applied to the exact rational result, never to a
// pre-rounded one.
enum class Rounding {
#define SSMSIM_ROUNDING(name, id, tag) id,
#include "quant/modes.def"
};

// What happens to a rounded value outside the destination range (quant/modes.def).
enum class Overflow {
#define SSMSIM_OVERFLOW(name, id, tag) id,
#include "quant/modes.def"
};

// Every mode, in declaration order (for sweeps, tables and tests).
constexpr Rounding kAllRoundings[] = {
#define SSMSIM_ROUNDING(name, id, tag) Rounding::id,
#include "quant/modes.def"
};
constexpr Overflow kAllOverflows[] = {
#define SSMSIM_OVERFLOW(name, id, tag) Overflow::id,
#include "quant/modes.def"
};

// The unit of a raw value: real = mult * 2^-shift, with 1 <= mult < 2^31.
struct Scale {
  int64_t mult = 1;
  int shift = 0;

  double real() const;
  bool operator==(const Scale& o) const { return mult == o.mult && shift == o.shift; }
  bool operator!=(const Scale& o) const { return !(*this == o); }
};

struct Format {
  bool is_signed = true;
  int width = 8;   // total bits including the sign: 1..64 signed, 1..63 unsigned (held in int64_t)
  Scale scale{};   // binary point when scale.mult == 1 (then scale.shift is the fraction bits)

  static constexpr int kMaxWidth = 64;
  static constexpr int kMaxShift = 1024;          // |shift| bound; far beyond any useful format
  static constexpr int64_t kMaxMult = (int64_t{1} << 31) - 1;

  // A binary-point format: `frac` fraction bits (negative: the LSB weighs 2^-frac > 1).
  static Format fixed(bool is_signed, int width, int frac);
  // A dyadic-scale format: one raw unit is worth mult * 2^-shift.
  static Format dyadic(bool is_signed, int width, int64_t mult, int shift);
  // Parses the notation of to_string(): "s8.4", "u16.0", "s8.-3", "s8*12345>>20".
  static Format parse(std::string_view text);

  bool is_binary_point() const { return scale.mult == 1; }
  int frac() const { return scale.shift; }  // meaningful when is_binary_point()
  int64_t min_raw() const;
  int64_t max_raw() const;
  // raw * mult * 2^-shift: the integer product is exact, then rounded once to double (nearest,
  // ties to even). Exact when |raw * mult| < 2^53 and the result is a normal double.
  double to_real(int64_t raw) const;
  // Throws FormatError naming what is out of range.
  void validate() const;
  std::string to_string() const;

  bool operator==(const Format& o) const {
    return is_signed == o.is_signed && width == o.width && scale == o.scale;
  }
  bool operator!=(const Format& o) const { return !(*this == o); }
};

std::string to_string(Rounding r);
std::string to_string(Overflow o);
// Parse the names of to_string() (quant/modes.def). Throw FormatError listing the allowed names.
Rounding parse_rounding(std::string_view name);
Overflow parse_overflow(std::string_view name);
// The allowed names, comma-separated, for error messages.
const char* rounding_names();
const char* overflow_names();

}  // namespace ssmsim::quant
