#include "quant/format.hpp"

#include <cmath>
#include <cstdlib>
#include <limits>

#include "quant/errors.hpp"

namespace ssmsim::quant {

double Scale::real() const { return std::ldexp(static_cast<double>(mult), -shift); }

Format Format::fixed(bool is_signed, int width, int frac) {
  Format f{is_signed, width, Scale{1, frac}};
  f.validate();
  return f;
}

Format Format::dyadic(bool is_signed, int width, int64_t mult, int shift) {
  Format f{is_signed, width, Scale{mult, shift}};
  f.validate();
  return f;
}

int64_t Format::min_raw() const {
  if (!is_signed) return 0;
  return width == 64 ? INT64_MIN : -(int64_t{1} << (width - 1));
}

int64_t Format::max_raw() const {
  if (is_signed) return width == 64 ? INT64_MAX : (int64_t{1} << (width - 1)) - 1;
  return static_cast<int64_t>((uint64_t{1} << width) - 1);  // width <= 63
}

double Format::to_real(int64_t raw) const {
  __extension__ const __int128 p = static_cast<__int128>(raw) * scale.mult;  // exact: |p| < 2^94
  return std::ldexp(static_cast<double>(p), -scale.shift);                   // one rounding
}

void Format::validate() const {
  const int max_width = is_signed ? kMaxWidth : kMaxWidth - 1;
  if (width < 1 || width > max_width)
    throw FormatError("format width " + std::to_string(width) + " is out of range: allowed 1.." +
                      std::to_string(max_width) + (is_signed ? " for signed formats" :
                      " for unsigned formats (raw values are held in int64_t)"));
  if (scale.mult < 1 || scale.mult > kMaxMult)
    throw FormatError("format scale multiplier " + std::to_string(scale.mult) +
                      " is out of range: allowed 1..2^31-1");
  if (std::abs(scale.shift) > kMaxShift)
    throw FormatError("format shift / binary point " + std::to_string(scale.shift) +
                      " is out of range: allowed -1024..1024");
}

std::string Format::to_string() const {
  std::string s = (is_signed ? "s" : "u") + std::to_string(width);
  if (scale.mult == 1) return s + "." + std::to_string(scale.shift);
  return s + "*" + std::to_string(scale.mult) + ">>" + std::to_string(scale.shift);
}

namespace {

[[noreturn]] void bad_format(std::string_view text, const char* why) {
  throw FormatError("cannot parse format '" + std::string(text) + "': " + why +
                    " (expected s<width>.<frac>, u<width>.<frac> or s<width>*<mult>>><shift>,"
                    " e.g. s8.4, u16.0, s8.-3, s8*12345>>20)");
}

// Reads an optionally negative decimal integer at text[pos...]; advances pos.
long long read_int(std::string_view text, size_t& pos) {
  const size_t start = pos;
  if (pos < text.size() && text[pos] == '-') ++pos;
  const size_t digits = pos;
  while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') ++pos;
  if (pos == digits || pos - digits > 12) bad_format(text, "a number is missing or too long");
  return std::stoll(std::string(text.substr(start, pos - start)));
}

// A width or shift read by read_int, checked before it is narrowed to int (a silent wrap would
// turn "s4294967304.4" into s8.4).
int to_int(std::string_view text, long long v) {
  if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max())
    bad_format(text, "a number is out of range");
  return static_cast<int>(v);
}

}  // namespace

Format Format::parse(std::string_view text) {
  if (text.empty() || (text[0] != 's' && text[0] != 'u'))
    bad_format(text, "it must start with 's' (signed) or 'u' (unsigned)");
  Format f;
  f.is_signed = text[0] == 's';
  size_t pos = 1;
  f.width = to_int(text, read_int(text, pos));
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    f.scale = Scale{1, to_int(text, read_int(text, pos))};
  } else if (pos < text.size() && text[pos] == '*') {
    ++pos;
    const long long mult = read_int(text, pos);
    if (text.substr(pos, 2) != ">>") bad_format(text, "'>>' must follow the multiplier");
    pos += 2;
    f.scale = Scale{mult, to_int(text, read_int(text, pos))};
  } else {
    bad_format(text, "'.' or '*' must follow the width");
  }
  if (pos != text.size()) bad_format(text, "unexpected characters at the end");
  try {
    f.validate();
  } catch (const FormatError& e) {  // well-formed but out of range: name the text as well
    throw FormatError("cannot parse format '" + std::string(text) + "': " + e.what());
  }
  return f;
}

namespace {
constexpr const char* kRoundingNames[] = {
#define SSMSIM_ROUNDING(name, id, tag) #name,
#include "quant/modes.def"
};
constexpr const char* kOverflowNames[] = {
#define SSMSIM_OVERFLOW(name, id, tag) #name,
#include "quant/modes.def"
};

template <size_t K>
std::string joined(const char* const (&names)[K]) {
  std::string s;
  for (const char* n : names) s += (s.empty() ? "" : ", ") + std::string(n);
  return s;
}
}  // namespace

std::string to_string(Rounding r) { return kRoundingNames[static_cast<int>(r)]; }
std::string to_string(Overflow o) { return kOverflowNames[static_cast<int>(o)]; }

const char* rounding_names() {
  static const std::string s = joined(kRoundingNames);
  return s.c_str();
}
const char* overflow_names() {
  static const std::string s = joined(kOverflowNames);
  return s.c_str();
}

Rounding parse_rounding(std::string_view name) {
  for (const Rounding r : kAllRoundings)
    if (name == kRoundingNames[static_cast<int>(r)]) return r;
  throw FormatError("unknown rounding mode '" + std::string(name) + "': allowed " +
                    rounding_names());
}

Overflow parse_overflow(std::string_view name) {
  for (const Overflow o : kAllOverflows)
    if (name == kOverflowNames[static_cast<int>(o)]) return o;
  throw FormatError("unknown overflow mode '" + std::string(name) + "': allowed " +
                    overflow_names());
}

}  // namespace ssmsim::quant
