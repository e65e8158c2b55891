// Quantizers: exact real-to-fixed conversion, quantizer specs, calibration, and quantize /
// dequantize of values and buffers (docs/fixed_point.md "Quantizers", docs/precision.md).
//
// Everything here is deterministic and exact where it says so: to_fixed() rounds the exact value of
// a double once (through the shared round_shift / round_div / fit of quant/requantize.hpp), the
// calibrators use fixed orders and exact comparisons, and no result depends on a thread count.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "quant/format.hpp"
#include "quant/requantize.hpp"

namespace ssmsim::quant {

// ---------------------------------------------------------------------------------------------
// Exact conversion between reals and raw fixed-point values
// ---------------------------------------------------------------------------------------------

// The raw value of `x` in format `to`: the exact value of the double (m * 2^e, m an integer)
// divided by the format's unit mult * 2^-shift, rounded ONCE with `rounding`, then fitted into the
// format with `overflow` (one event in *events when the overflow step changed the value).
// NaN throws FormatError. +-inf is treated as the exact value +-2^1024 (one binade beyond the
// largest finite double): it saturates under Saturate / SaturateSymmetric and wraps its (zero) low
// bits under Wrap, counting one event either way.
int64_t to_fixed(double x, const Format& to, Rounding rounding, Overflow overflow,
                 uint64_t* events = nullptr);


// ---------------------------------------------------------------------------------------------
// Quantizer specs
// ---------------------------------------------------------------------------------------------

// Symmetric: zero point 0, signed grid. Asymmetric: unsigned grid with a zero point.
enum class Scheme { Symmetric, Asymmetric };
// One scale for the whole tensor, or one per channel (the first dimension of a row-major
// [channels, elements_per_channel] tensor).
enum class Granularity { PerTensor, PerChannel };
// Pow2: the scale is a power of two (a binary point; a shift in hardware). Dyadic: a free real
// scale represented as mult * 2^-shift with a multiplier of exactly `scale_bits` bits.
enum class ScaleKind { Pow2, Dyadic };
// How the clipping range is chosen from data (calibrate() below gives each one exactly):
//   MaxAbs:          the data's range.
//   Percentile:      a clipping percentile: the nearest-rank p-th percentile of all the group's values
//                    at once (clips as soon as the group holds more than 100/(100-p) values).
//   Mse:             the clipping of the maxabs range that minimises the squared error.
//   QuantileNearest: the S4D paper's (QSSM) "percentile": torch.quantile(q, interpolation='nearest')
//                    applied one dimension at a time; on small dimensions it is the min / max.
// The names are distinct on purpose: "percentile" keeps its clipping meaning.
enum class Calibration { MaxAbs, Percentile, Mse, QuantileNearest };
// True for the calibrators that read QuantizerSpec::percentile (percentile, quantile_nearest).
bool uses_percentile(Calibration c);

std::string to_string(Scheme s);
std::string to_string(Granularity g);
std::string to_string(ScaleKind k);
std::string to_string(Calibration c);
// Parse the names of to_string() ("symmetric", "asymmetric"; "per_tensor", "per_channel";
// "pow2", "dyadic"; "maxabs", "percentile", "mse", "quantile_nearest"). Throw FormatError listing the allowed names.
Scheme parse_scheme(std::string_view name);
Granularity parse_granularity(std::string_view name);
ScaleKind parse_scale_kind(std::string_view name);
Calibration parse_calibration(std::string_view name);
const char* scheme_names();
const char* granularity_names();
const char* scale_kind_names();
const char* calibration_names();

// How one tensor is quantized. The defaults are the built-in defaults of precision configs.
struct QuantizerSpec {
  static constexpr int kMinBits = 1;
  static constexpr int kMaxBits = 32;
  static constexpr int kMinScaleBits = 2;   // Rescale::approximate's range; mult < 2^31
  static constexpr int kMaxScaleBits = 31;
  static constexpr double kDefaultPercentile = 99.99;
  static constexpr int kDefaultScaleBits = 16;

  int bits = 8;
  Scheme scheme = Scheme::Symmetric;
  Granularity granularity = Granularity::PerTensor;
  ScaleKind scale = ScaleKind::Dyadic;
  int scale_bits = kDefaultScaleBits;          // dyadic multiplier width (top bit set)
  Calibration calibration = Calibration::MaxAbs;
  double percentile = kDefaultPercentile;      // percentile / quantile_nearest only, (0, 100]
  std::optional<int> frac;                     // a fixed binary point: no calibration at all
  Rounding rounding = Rounding::HalfEven;
  Overflow overflow = Overflow::Saturate;
  // The state only (docs/fixed_point.md 9.3, "state operand"): the state is stored at `bits` and
  // narrowed to `operand_bits` where it enters a multiplier (A x, C x); 0: the operand is the
  // stored state. `operand_block`: 0, the operand has its own calibrated static scale; k >= 1,
  // block floating point: k consecutive states share a power-of-two exponent computed every step.
  int operand_bits = 0;
  int operand_block = 0;
  // Complex weights only (A, B, C; docs/fixed_point.md 9.2, "parts"): false, the real and
  // imaginary parts of a channel share one quantizer; true, each part has its own zero point and
  // scale, the coarser scale tied to the finer by a power of two (a shift of its products).
  bool separate_parts = false;
  // A only (docs/fixed_point.md 9.3, "delta form"): the stored tensor is Lambda_bar - 1 and the
  // state update adds the stored state, x' = x + (Lambda_bar - 1) o + B u.
  bool delta = false;

  // Throws FormatError naming the first field that breaks a rule of check_spec().
  void validate() const;
  // The same spec with the fields that cannot matter reset to their defaults (percentile unless
  // the calibration uses it, scale_bits unless the scale is dyadic; with frac: scale pow2 and
  // the calibration fields), so that equal behaviour means equal specs.
  QuantizerSpec normalized() const;

  bool operator==(const QuantizerSpec& o) const;
  bool operator!=(const QuantizerSpec& o) const { return !(*this == o); }
};

// A rule of a single spec that is broken: the field's name (as in precision configs), its value as
// text, and what is allowed.
struct SpecIssue {
  std::string field;
  std::string value;
  std::string allowed;
};
// The first broken rule of a single spec, in field order, or nothing. Rules:
//  - bits 1..32; a symmetric quantizer needs bits >= 2 (its range [-(2^(b-1)-1), 2^(b-1)-1] is
//    {0} for one bit);
//  - scale_bits 2..31 (the dyadic multiplier must fit Format::kMaxMult);
//  - percentile in (0, 100];
//  - frac within the format's shift range -1024..1024, and only with a symmetric scheme (a fixed
//    binary point has no zero point to calibrate);
//  - operand_bits 0 or 2..bits; operand_block 0..4096, and only with operand_bits.
// (Which components take parts and form is the precision config's rule.)
std::optional<SpecIssue> check_spec(const QuantizerSpec& spec);

// ---------------------------------------------------------------------------------------------
// Quantization parameters and quantize / dequantize
// ---------------------------------------------------------------------------------------------

// The parameters of one channel (or of a whole tensor):
//   symmetric:  q = to_fixed(x, format)          format signed, width = bits, zero_point 0
//   asymmetric: q = fit(round(x / scale) + zero_point)   format unsigned, width = bits
//   real = (q - zero_point) * scale,   scale = format.scale.mult * 2^-format.scale.shift
// The rounding and overflow modes travel with the parameters so that one object quantizes.
struct QuantParams {
  Format format{};
  int64_t zero_point = 0;
  Rounding rounding = Rounding::HalfEven;
  Overflow overflow = Overflow::Saturate;

  // The smallest and largest q that quantize() can return (qmin is -max for a signed format under
  // SaturateSymmetric).
  int64_t qmin() const;
  int64_t qmax() const;
  // dequantize(qmin()) and dequantize(qmax()): the representable real range.
  double real_min() const;
  double real_max() const;
  double scale() const { return format.scale.real(); }
  std::string to_string() const;

  bool operator==(const QuantParams& o) const {
    return format == o.format && zero_point == o.zero_point && rounding == o.rounding &&
           overflow == o.overflow;
  }
  bool operator!=(const QuantParams& o) const { return !(*this == o); }
};

// One value. NaN throws FormatError; +-inf behaves as in to_fixed().
int64_t quantize(double x, const QuantParams& p, uint64_t* events = nullptr);
// (q - zero_point) * scale, through to_real().
double dequantize(int64_t q, const QuantParams& p);
// dequantize() rounded to T (float: the double result rounded once more, to nearest even).
template <typename T>
T dequantize_as(int64_t q, const QuantParams& p) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "float or double");
  return static_cast<T>(dequantize(q, p));
}

// A row-major [channels, per_channel_len] buffer. `params` holds one entry (per tensor) or
// `channels` entries (per channel); anything else throws FormatError.
template <typename T>
void quantize(const std::vector<QuantParams>& params, const T* x, size_t channels,
              size_t per_channel_len, int64_t* q, uint64_t* events = nullptr);
template <typename T>
void dequantize(const std::vector<QuantParams>& params, const int64_t* q, size_t channels,
                size_t per_channel_len, T* x);

// The parameters of `spec` for the clipping range [lo, hi] (lo <= 0 <= hi is enforced by
// widening). Symmetric: the clipping maximum M = max(|lo|, |hi|) gets the smallest scale of the
// spec's kind with M <= (2^(b-1)-1) * scale (the symmetric range, so that -q is representable;
// exact comparison). Asymmetric: the smallest scale with hi - lo <= (2^b - 1) * scale, and
// zero_point = round_half_even(-lo / scale) clamped to [0, 2^b - 1]. M == 0 (or hi == lo) gives
// scale 1. A scale below the format's range (shift > 1024) is clamped to the finest allowed one.
// With spec.frac the result is Format::fixed(signed, bits, frac) whatever the range.
QuantParams params_from_range(const QuantizerSpec& spec, double lo, double hi);

// Calibrates a row-major [channels, per_channel_len] buffer: one QuantParams per channel
// (Granularity::PerChannel) or one for all data (PerTensor). Non-finite data throws FormatError.
//   maxabs:     the range of the data (symmetric: max |x|; asymmetric: [min x, max x]).
//   percentile: nearest rank: the k-th smallest value with k = ceil(p/100 * n) of |x|
//               (symmetric), or of x for hi and of the (100-p) rank for lo (asymmetric), over all
//               n values of the group at once. It clips.
//   mse:        the clipping ratio r = i/100, i = 1..100, applied to the maxabs range, whose
//               params give the smallest sum of squared errors (x - dequantize(quantize(x)))^2
//               through the same quantize/dequantize; ties go to the larger ratio.
//   quantile_nearest: the QSSM code's get_amax_amin: for each dimension in the reduction order,
//               every line of values along that dimension is replaced by the element of sorted
//               index quantile_nearest_index(q, length) (the dimension is kept with size 1); the
//               next dimension is reduced on the result. Symmetric: on |x| with
//               q = float(p / 100), range [-m, m]. Asymmetric: hi with q = float(p / 100), lo,
//               on its own chain from x, with q = float(1 - p / 100) (p / 100 and 1 - p / 100 in
//               double, as Python computes them, then rounded to float as torch does).
//               `shape` gives the tensor's dimensions (row-major, product channels *
//               per_channel_len, first = channels when per channel); empty means
//               {channels, per_channel_len}. Reduction order: per tensor, dimension 0 first, then
//               1, ... (the code's dims_to_reduce: null = range(ndim)); per channel, the
//               non-channel dimensions from the last to the second (its [-1, -2]).
// Every range is then given to params_from_range (which widens it to hold 0).
// A complex tensor is calibrated as its interleaved (re, im) parts: both share one format.
template <typename T>
std::vector<QuantParams> calibrate(const QuantizerSpec& spec, const T* data, size_t channels,
                                   size_t per_channel_len, const std::vector<size_t>& shape = {});
template <typename T>
std::vector<QuantParams> calibrate(const QuantizerSpec& spec, const std::vector<T>& data,
                                   size_t channels = 1) {
  const size_t len = channels == 0 ? 0 : data.size() / channels;
  return calibrate(spec, data.data(), channels, len);
}

// torch.quantile(..., interpolation='nearest')'s choice among n sorted values: the 0-based index
// round_half_even(q * (n - 1)), the product computed in float (torch computes the rank in the
// tensor's dtype, float32 in the QSSM code: n - 1 <= 2^24 is exact there; beyond, where torch
// refuses the tensor, n - 1 is rounded to float and the index clamped to n - 1). n <= 1 gives 0.
// Examples: n = 4, q = 0.5: 1.5 -> 2; n = 6, q = 0.5: 2.5 -> 2; n = 50001, q = float(0.99999):
// 49999.5 rounded in float -> 50000 (the max); n = 100001: 99999.0 -> 99999 (clips one value).
size_t quantile_nearest_index(float q, size_t n);

// The sum over the buffer of (x - dequantize(quantize(x)))^2, accumulated in order in double;
// the objective of the MSE calibrator.
template <typename T>
double quantization_sse(const QuantParams& p, const T* x, size_t n);

// The number of steps in the MSE calibrator's grid of clipping ratios.
constexpr int kMseGridSteps = 100;

}  // namespace ssmsim::quant
