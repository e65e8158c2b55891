#include "quant/intops.hpp"

#include <algorithm>
#include <cmath>

#include "quant/errors.hpp"

namespace ssmsim::quant {

ScaledSum::ScaledSum(const std::vector<double>& ratios, const Format& to, Rounding rounding, Overflow overflow,
                     int bits) {
  if (ratios.empty()) throw FormatError("a scaled sum needs at least one term");
  if (bits < 1 || bits > 31) throw FormatError("scaled-sum multiplier bits must be 1..31, got " + std::to_string(bits));
  for (double r : ratios) {
    if (!std::isfinite(r)) throw FormatError("a scaled-sum ratio must be finite, got " + std::to_string(r));
    if (r == 0) {  // an unused term
      K_.push_back(0);
      shifts_.push_back(0);
      continue;
    }
    int exp = 0;
    std::frexp(std::abs(r), &exp);  // |r| = m * 2^exp, m in [0.5, 1)
    int shift = bits - exp;         // |r| * 2^shift in [2^(bits-1), 2^bits)
    double k = std::nearbyint(std::ldexp(r, shift));
    if (std::abs(k) >= std::ldexp(1.0, bits)) {  // rounding carried into a new bit
      --shift;
      k = std::nearbyint(std::ldexp(r, shift));
    }
    K_.push_back(static_cast<int64_t>(k));
    shifts_.push_back(shift);
  }
  finish(to, rounding, overflow);
}

ScaledSum::ScaledSum(const std::vector<double>& ratios, const QuantParams& to, int bits)
    : ScaledSum(ratios, to.format, to.rounding, to.overflow, bits) {
  zp_ = to.zero_point;
}

ScaledSum::ScaledSum(std::vector<int64_t> K, std::vector<int> shifts, const Format& to, Rounding rounding,
                     Overflow overflow)
    : K_(std::move(K)), shifts_(std::move(shifts)) {
  if (K_.empty() || K_.size() != shifts_.size())
    throw FormatError("a scaled sum needs one shift per multiplier and at least one term");
  for (int64_t k : K_)
    if (k < -Format::kMaxMult || k > Format::kMaxMult)
      throw FormatError("a scaled-sum multiplier must be within +-(2^31-1)");
  finish(to, rounding, overflow);
}

void ScaledSum::finish(const Format& to, Rounding rounding, Overflow overflow) {
  // a ratio of 2^bits or more has a negative shift (a left shift: narrow multipliers reach it at
  // small ratios); the sum then needs no rounding, and aligning at S = 0 keeps every up_k >= 0
  S_ = std::max(0, *std::max_element(shifts_.begin(), shifts_.end()));
  for (size_t k = 0; k < K_.size(); ++k) {
    if (K_[k] == 0) shifts_[k] = S_;  // an unused term aligns trivially
    up_.push_back(S_ - shifts_[k]);
    if (up_.back() > 90)
      throw FormatError("scaled-sum terms " + std::to_string(up_.back()) +
                        " binary orders apart cannot be aligned in 128 bits; check the formats' scales");
    Kw_.push_back(static_cast<wide_t>(K_[k]) * (static_cast<wide_t>(1) << up_.back()));
    const bool fits = up_.back() < 32;  // |K| < 2^31, so K 2^up < 2^62
    K64_.push_back(fits ? static_cast<int64_t>(Kw_.back()) : 0);
  }
  out_ = Requantizer(Rescale::dyadic(1, S_), to, rounding, overflow);
  if (S_ >= 0 && S_ <= 62) k64_ = detail::Shift64(S_);
  if (to.width <= 63) range64_ = detail::Range64(to.width, to.is_signed, overflow);
}

bool ScaledSum::fits64(const std::vector<int64_t>& max_abs_terms) const {
  if (S_ < 0 || S_ > 61 || out_.to().width > 63 || max_abs_terms.size() != K_.size()) return false;
  for (size_t k = 0; k < K_.size(); ++k)
    if (K_[k] != 0 && up_[k] >= 32) return false;
  long double bound = 0;  // sum of |v_k| |K_k| 2^up_k, plus the rounding bias (< 2^S)
  for (size_t k = 0; k < K_.size(); ++k)
    bound += std::ldexp(static_cast<long double>(max_abs_terms[k]) * static_cast<long double>(std::abs(K_[k])), up_[k]);
  bound += std::ldexp(1.0L, S_);
  return bound < std::ldexp(1.0L, 62);
}

std::string ScaledSum::to_string() const {
  std::string s = "(";
  for (size_t i = 0; i < K_.size(); ++i)
    s += (i ? ", " : "") + std::to_string(K_[i]) + ">>" + std::to_string(shifts_[i]);
  return s + ") -> " + out_.to().to_string();
}

uint64_t isqrt(uwide_t v) {
  // a long double estimate (64-bit mantissa: within a few units of the root, which is below
  // 2^63), then corrected with exact 128-bit squares
  if (v < 2) return static_cast<uint64_t>(v);
  if (v >> 104 == 0) {  // a double estimate: relative error near 2^-52, so within 2 of a root below 2^52
    const double vd =
        static_cast<double>(static_cast<uint64_t>(v >> 64)) * 0x1p64 + static_cast<double>(static_cast<uint64_t>(v));
    uint64_t x = static_cast<uint64_t>(std::sqrt(vd));
    while (static_cast<uwide_t>(x) * x > v) --x;
    while (static_cast<uwide_t>(x + 1) * (x + 1) <= v) ++x;
    return x;
  }
  if (v >> 126) {  // beyond the contract's range: Newton's method from above, exact for any v
    uwide_t x = uwide_t{1} << 64;
    for (uwide_t y = (x + v / x) / 2; y < x; y = (x + v / x) / 2) x = y;
    return static_cast<uint64_t>(x);
  }
  // (through 64-bit halves: the compiler's 128-bit <-> long double conversions are library calls
  // that cost more than the rest; hi 2^64 is exact, so the sum rounds once, as v itself would)
  const long double vl = static_cast<long double>(static_cast<uint64_t>(v >> 64)) * 0x1p64L +
                         static_cast<long double>(static_cast<uint64_t>(v));
  const long double est = std::sqrt(vl);
  uint64_t x = est >= 0x1p63L ? uint64_t{1} << 63 : static_cast<uint64_t>(est);
  while (static_cast<uwide_t>(x) * x > v) --x;
  while (static_cast<uwide_t>(x + 1) * (x + 1) <= v) ++x;
  return x;
}

Lut::Lut(const Format& in, const QuantParams& out, const std::function<double(double)>& f)
    : Lut(QuantParams{in, 0, out.rounding, out.overflow}, out, f) {}

Lut::Lut(const QuantParams& in, const QuantParams& out, const std::function<double(double)>& f) : in_(in.format) {
  if (in_.width > 16) throw FormatError("a lookup table takes inputs of at most 16 bits, got " + in_.to_string());
  lo_ = in_.min_raw() - in.zero_point;
  const int64_t hi = in_.max_raw() - in.zero_point;
  table_.reserve(static_cast<size_t>(hi - lo_ + 1));
  for (int64_t v = lo_; v <= hi; ++v) {
    uint64_t ev = 0;
    const int64_t q = quantize(f(in_.to_real(v)), out, &ev);
    table_.push_back(static_cast<int32_t>(q - out.zero_point));
    clipped_.push_back(ev ? 1 : 0);
  }
  constexpr int32_t kHalf = int32_t{1} << 30;
  if (std::all_of(table_.begin(), table_.end(), [](int32_t v) { return v >= -kHalf && v < kHalf; }))
    for (size_t i = 0; i < table_.size(); ++i) packed_.push_back(2 * table_[i] + clipped_[i]);
}

Lut::Lut(const Format& in, std::vector<int32_t> table) : in_(in), lo_(in.min_raw()), table_(std::move(table)) {
  if (table_.size() != static_cast<size_t>(in.max_raw() - lo_ + 1))
    throw FormatError("a lookup table for " + in.to_string() + " needs " +
                      std::to_string(in.max_raw() - lo_ + 1) + " entries, got " + std::to_string(table_.size()));
}

}  // namespace ssmsim::quant
