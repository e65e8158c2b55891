#include "quant/quantizer.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "quant/errors.hpp"

namespace ssmsim::quant {

namespace {

int bit_length(uint64_t v) { return v == 0 ? 0 : 64 - __builtin_clzll(v); }

uint64_t magnitude(int64_t v) {
  return v < 0 ? ~static_cast<uint64_t>(v) + 1 : static_cast<uint64_t>(v);
}

// A finite double (or an infinity, as 2^1024) as m * 2^e with m odd, or m == 0.
struct Dyadic {
  int64_t m = 0;
  int e = 0;
};

Dyadic decompose(double x) {
  if (std::isinf(x)) return {x < 0 ? -1 : 1, 1024};
  if (x == 0) return {};
  int exp = 0;
  const double mant = std::frexp(x, &exp);  // x = mant * 2^exp, 0.5 <= |mant| < 1: exact
  auto m = static_cast<int64_t>(std::ldexp(mant, 53));  // an integer below 2^53: exact
  const int tz = __builtin_ctzll(static_cast<uint64_t>(m));
  m /= int64_t{1} << tz;  // exact: the low tz bits are zero
  return {m, exp - 53 + tz};
}

// Values of at least this many bits (before the division by mult) lie beyond every format: the
// rounded quotient is then at least 2^(kHugeBits - 1 - 31) >= 2^68 in magnitude.
constexpr int kHugeBits = 100;

struct Rounded {
  wide_t value = 0;  // the exact rounded quotient, or the sign when huge
  bool huge = false;
};

// round(x / scale) for x = m * 2^e, exactly, with the shared rounding primitives.
Rounded round_to_grid(const Dyadic& x, const Scale& s, Rounding mode) {
  if (x.m == 0) return {};
  const int t = x.e + s.shift;  // x / scale = m * 2^t / mult
  if (t >= 0) {
    if (bit_length(magnitude(x.m)) + t > kHugeBits) return {x.m < 0 ? -1 : 1, true};
    const wide_t num = static_cast<wide_t>(x.m) * (wide_t{1} << t);
    return {s.mult == 1 ? num : round_div(num, s.mult, mode), false};
  }
  const int n = -t;
  if (s.mult == 1) return {round_shift(x.m, n, mode), false};  // exact for every n
  if (n <= 94) return {round_div(x.m, static_cast<wide_t>(s.mult) << n, mode), false};
  // |x / scale| < 2^53 / 2^94 < 1/2: every mode's result depends only on the sign (and on x being
  // non-zero), which a unit numerator keeps.
  return {round_div(x.m < 0 ? -1 : 1, static_cast<wide_t>(s.mult) << 94, mode), false};
}

// fit(round(x / scale) + offset) into `to` for a validated format.
int64_t quantize_unchecked(double x, const Format& to, int64_t offset, Rounding rounding,
                           Overflow overflow, uint64_t* events) {
  if (std::isnan(x))
    throw FormatError("cannot convert NaN to the fixed-point format " + to.to_string());
  const Dyadic d = decompose(x);
  const Rounded r = round_to_grid(d, to.scale, rounding);
  if (!r.huge) return fit(r.value + offset, to, overflow, events);
  if (overflow != Overflow::Wrap)
    return fit(r.value * (wide_t{1} << kHugeBits), to, overflow, events);
  // Wrap of a huge value: its low 64 bits, exactly, through the arbitrary-precision requantize
  // path; then the offset and the destination width (2^width divides 2^64).
  Format low64;
  low64.is_signed = true;
  low64.width = 64;
  const Rescale exact{1, to.scale.mult, -(d.e + to.scale.shift)};
  const int64_t low = rescale(static_cast<wide_t>(d.m), exact, low64, rounding, Overflow::Wrap);
  if (events) ++*events;
  return fit(static_cast<wide_t>(low) + offset, to, Overflow::Wrap);
}

// True when m <= qmax * scale, exactly: floor(-m / scale) >= -qmax.
bool covers(double m, const Scale& s, int64_t qmax) {
  Format f;
  f.is_signed = true;
  f.width = 64;
  f.scale = s;
  return quantize_unchecked(-m, f, 0, Rounding::Floor, Overflow::Saturate, nullptr) >= -qmax;
}

// The smallest power of two 2^k (|k| <= 1024) with m <= qmax * 2^k; m > 0.
Scale pow2_scale(double m, int64_t qmax) {
  int e = 0;
  std::frexp(m / static_cast<double>(qmax), &e);  // a first guess, checked exactly below
  int k = std::clamp(e, -Format::kMaxShift, Format::kMaxShift);
  while (k > -Format::kMaxShift && covers(m, Scale{1, -(k - 1)}, qmax)) --k;
  while (k < Format::kMaxShift && !covers(m, Scale{1, -k}, qmax)) ++k;
  return Scale{1, -k};
}

// The smallest mult * 2^-shift with mult of exactly `bits` bits and |shift| <= 1024 such that
// m <= qmax * scale; m > 0. Below the range: the finest such scale.
Scale dyadic_scale(double m, int64_t qmax, int bits) {
  const int64_t lo = int64_t{1} << (bits - 1), hi = (int64_t{1} << bits) - 1;
  const double target = m / static_cast<double>(qmax);
  Scale s{lo, Format::kMaxShift};
  if (target > 0) {
    int e = 0;
    const double mant = std::frexp(target, &e);
    s = Scale{static_cast<int64_t>(std::ceil(std::ldexp(mant, bits))), bits - e};
    if (s.mult > hi) s = Scale{lo, s.shift - 1};
    if (s.shift > Format::kMaxShift) s = Scale{lo, Format::kMaxShift};
  }
  const auto down = [&](Scale v) {
    return v.mult == lo ? Scale{hi, v.shift + 1} : Scale{v.mult - 1, v.shift};
  };
  const auto up = [&](Scale v) {
    return v.mult == hi ? Scale{lo, v.shift - 1} : Scale{v.mult + 1, v.shift};
  };
  // The first guess is within a step or two; these loops make it exact.
  while (down(s).shift <= Format::kMaxShift && covers(m, down(s), qmax)) s = down(s);
  while (up(s).shift >= -Format::kMaxShift && !covers(m, s, qmax)) s = up(s);
  return s;
}

Scale unit_scale(const QuantizerSpec& spec) {
  if (spec.scale == ScaleKind::Pow2) return Scale{1, 0};
  return Scale{int64_t{1} << (spec.scale_bits - 1), spec.scale_bits - 1};
}

Scale scale_for(const QuantizerSpec& spec, double m, int64_t qmax) {
  if (!(m > 0)) return unit_scale(spec);
  return spec.scale == ScaleKind::Pow2 ? pow2_scale(m, qmax)
                                       : dyadic_scale(m, qmax, spec.scale_bits);
}

// Nearest rank: the 0-based index of the k-th smallest of n values, k = ceil(p/100 * n), with a
// relative tolerance so that p * n / 100 landing a rounding error above an integer stays there.
size_t rank_index(double p, size_t n) {
  const double k = std::ceil(p / 100.0 * static_cast<double>(n) * (1.0 - 1e-12));
  if (!(k >= 1.0)) return 0;
  return std::min(n, static_cast<size_t>(k)) - 1;
}

double kth(std::vector<double>& v, size_t index) {
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(index), v.end());
  return v[index];
}

// One stage of quantile_nearest: the element of index quantile_nearest_index(q, dims[dim]) of
// every line along dimension `dim` of the row-major tensor x; the dimension is kept, with size 1.
std::vector<double> reduce_dim(const std::vector<double>& x, std::vector<size_t>& dims, size_t dim,
                               float q) {
  size_t outer = 1, inner = 1;
  for (size_t i = 0; i < dim; ++i) outer *= dims[i];
  for (size_t i = dim + 1; i < dims.size(); ++i) inner *= dims[i];
  const size_t len = dims[dim];
  const size_t k = quantile_nearest_index(q, len);
  std::vector<double> out(outer * inner), line(len);
  for (size_t o = 0; o < outer; ++o)
    for (size_t i = 0; i < inner; ++i) {
      for (size_t j = 0; j < len; ++j) line[j] = x[(o * len + j) * inner + i];
      out[o * inner + i] = kth(line, k);
    }
  dims[dim] = 1;
  return out;
}

// The dimensions of one calibration group and the order quantile_nearest reduces them in.
struct GroupShape {
  std::vector<size_t> dims;
  std::vector<size_t> order;
};

// quantile_nearest's value for one group: the dimensions reduced one at a time, in order.
double quantile_chain(std::vector<double> x, GroupShape g, float q) {
  for (const size_t d : g.order) x = reduce_dim(x, g.dims, d, q);
  return x.at(0);
}

template <typename T>
QuantParams calibrate_quantile(const QuantizerSpec& spec, const T* x, size_t n,
                               const GroupShape& g) {
  if (n == 0) return params_from_range(spec, 0, 0);
  std::vector<double> v(n);
  const double p = spec.percentile / 100.0;
  if (spec.scheme == Scheme::Symmetric) {
    for (size_t i = 0; i < n; ++i) v[i] = std::fabs(static_cast<double>(x[i]));
    const double m = quantile_chain(std::move(v), g, static_cast<float>(p));
    return params_from_range(spec, -m, m);
  }
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<double>(x[i]);
  const double hi = quantile_chain(v, g, static_cast<float>(p));
  const double lo = quantile_chain(std::move(v), g, static_cast<float>(1.0 - p));
  return params_from_range(spec, lo, hi);
}

template <typename T>
QuantParams calibrate_group(const QuantizerSpec& spec, const T* x, size_t n, const GroupShape& g) {
  double lo = 0, hi = 0;
  for (size_t i = 0; i < n; ++i) {
    lo = std::min(lo, static_cast<double>(x[i]));
    hi = std::max(hi, static_cast<double>(x[i]));
  }
  switch (spec.calibration) {
    case Calibration::MaxAbs:
      return params_from_range(spec, lo, hi);
    case Calibration::Percentile: {
      if (n == 0) return params_from_range(spec, 0, 0);
      std::vector<double> v(n);
      if (spec.scheme == Scheme::Symmetric) {
        for (size_t i = 0; i < n; ++i) v[i] = std::fabs(static_cast<double>(x[i]));
        const double m = kth(v, rank_index(spec.percentile, n));
        return params_from_range(spec, -m, m);
      }
      for (size_t i = 0; i < n; ++i) v[i] = static_cast<double>(x[i]);
      const double top = kth(v, rank_index(spec.percentile, n));
      const double bottom = kth(v, rank_index(100.0 - spec.percentile, n));
      return params_from_range(spec, bottom, top);
    }
    case Calibration::Mse: {
      QuantParams best = params_from_range(spec, lo, hi);
      std::optional<QuantParams> previous;
      double best_sse = std::numeric_limits<double>::infinity();
      for (int i = 1; i <= kMseGridSteps; ++i) {
        const double r = static_cast<double>(i) / kMseGridSteps;
        const QuantParams p = params_from_range(spec, r * lo, r * hi);
        if (previous && p == *previous) continue;  // the same grid has the same error
        previous = p;
        const double sse = quantization_sse(p, x, n);
        if (sse <= best_sse) {  // ties go to the larger ratio (less clipping)
          best_sse = sse;
          best = p;
        }
      }
      return best;
    }
    case Calibration::QuantileNearest:
      return calibrate_quantile(spec, x, n, g);
  }
  return params_from_range(spec, lo, hi);
}

const std::vector<QuantParams>& checked(const std::vector<QuantParams>& params, size_t channels) {
  if (params.size() != 1 && params.size() != channels)
    throw FormatError("quantizer parameters: " + std::to_string(params.size()) +
                      " entries for a tensor of " + std::to_string(channels) +
                      " channels (allowed: 1 per tensor, or 1 per channel)");
  for (const auto& p : params) p.format.validate();
  return params;
}

template <typename E>
E parse_name(std::string_view name, const char* const* names, int count, const char* what,
             const char* allowed) {
  for (int i = 0; i < count; ++i)
    if (name == names[i]) return static_cast<E>(i);
  throw FormatError("unknown " + std::string(what) + " '" + std::string(name) + "': allowed " +
                    allowed);
}

constexpr const char* kSchemeNames[] = {"symmetric", "asymmetric"};
constexpr const char* kGranularityNames[] = {"per_tensor", "per_channel"};
constexpr const char* kScaleKindNames[] = {"pow2", "dyadic"};
constexpr const char* kCalibrationNames[] = {"maxabs", "percentile", "mse", "quantile_nearest"};

std::string number_text(double v) {
  std::ostringstream s;
  s.precision(17);
  s << v;
  return s.str();
}

}  // namespace

// ---------------------------------------------------------------------------------------------

int64_t to_fixed(double x, const Format& to, Rounding rounding, Overflow overflow,
                 uint64_t* events) {
  to.validate();
  return quantize_unchecked(x, to, 0, rounding, overflow, events);
}


// ---------------------------------------------------------------------------------------------

std::string to_string(Scheme s) { return kSchemeNames[static_cast<int>(s)]; }
std::string to_string(Granularity g) { return kGranularityNames[static_cast<int>(g)]; }
std::string to_string(ScaleKind k) { return kScaleKindNames[static_cast<int>(k)]; }
std::string to_string(Calibration c) { return kCalibrationNames[static_cast<int>(c)]; }

const char* scheme_names() { return "symmetric, asymmetric"; }
const char* granularity_names() { return "per_tensor, per_channel"; }
const char* scale_kind_names() { return "pow2, dyadic"; }
const char* calibration_names() { return "maxabs, percentile, mse, quantile_nearest"; }

bool uses_percentile(Calibration c) {
  return c == Calibration::Percentile || c == Calibration::QuantileNearest;
}

size_t quantile_nearest_index(float q, size_t n) {
  if (n <= 1) return 0;
  const float rank = q * static_cast<float>(n - 1);  // one float multiply, as torch's q * last_index
  const double r = static_cast<double>(rank);
  const double f = std::floor(r);
  const double d = r - f;  // exact
  const double k = d > 0.5 ? f + 1 : d < 0.5 ? f : (std::fmod(f, 2.0) == 0 ? f : f + 1);
  if (!(k > 0)) return 0;
  return k >= static_cast<double>(n - 1) ? n - 1 : static_cast<size_t>(k);
}

Scheme parse_scheme(std::string_view name) {
  return parse_name<Scheme>(name, kSchemeNames, 2, "quantizer scheme", scheme_names());
}
Granularity parse_granularity(std::string_view name) {
  return parse_name<Granularity>(name, kGranularityNames, 2, "quantizer granularity",
                                 granularity_names());
}
ScaleKind parse_scale_kind(std::string_view name) {
  return parse_name<ScaleKind>(name, kScaleKindNames, 2, "scale kind", scale_kind_names());
}
Calibration parse_calibration(std::string_view name) {
  return parse_name<Calibration>(name, kCalibrationNames, 4, "calibration", calibration_names());
}

std::optional<SpecIssue> check_spec(const QuantizerSpec& s) {
  if (s.bits < QuantizerSpec::kMinBits || s.bits > QuantizerSpec::kMaxBits)
    return SpecIssue{"bits", std::to_string(s.bits), "allowed 1..32"};
  if (s.scheme == Scheme::Symmetric && s.bits < 2)
    return SpecIssue{"bits", std::to_string(s.bits),
                     "a symmetric quantizer needs 2..32 bits (its range [-(2^(b-1)-1), "
                     "2^(b-1)-1] is {0} for one bit); use scheme asymmetric for 1 bit"};
  if (s.scale_bits < QuantizerSpec::kMinScaleBits || s.scale_bits > QuantizerSpec::kMaxScaleBits)
    return SpecIssue{"scale_bits", std::to_string(s.scale_bits),
                     "allowed 2..31 (bits of the dyadic scale multiplier)"};
  if (!(s.percentile > 0 && s.percentile <= 100))
    return SpecIssue{"percentile", number_text(s.percentile), "allowed (0, 100]"};
  if (s.frac) {
    if (*s.frac < -Format::kMaxShift || *s.frac > Format::kMaxShift)
      return SpecIssue{"frac", std::to_string(*s.frac), "allowed -1024..1024"};
    if (s.scheme == Scheme::Asymmetric)
      return SpecIssue{"frac", std::to_string(*s.frac),
                       "a fixed binary point (frac) has zero point 0: it needs scheme symmetric, "
                       "not asymmetric"};
  }
  if (s.operand_bits != 0 && (s.operand_bits < 2 || s.operand_bits > s.bits))
    return SpecIssue{"operand_bits", std::to_string(s.operand_bits),
                     "0 (the operand is the stored value) or 2.." + std::to_string(s.bits) +
                         " (at most the storage bits)"};
  if (s.operand_block < 0 || s.operand_block > 4096)
    return SpecIssue{"operand_block", std::to_string(s.operand_block),
                     "0 (a static operand scale) or 1..4096 (states per block-floating-point exponent)"};
  if (s.operand_block != 0 && s.operand_bits == 0)
    return SpecIssue{"operand_block", std::to_string(s.operand_block),
                     "operand_block applies only with operand_bits (a narrowed state operand)"};
  return std::nullopt;
}

void QuantizerSpec::validate() const {
  if (const auto issue = check_spec(*this))
    throw FormatError("quantizer spec: " + issue->field + " = " + issue->value + ": " +
                      issue->allowed);
}

QuantizerSpec QuantizerSpec::normalized() const {
  QuantizerSpec s = *this;
  if (s.frac) {
    s.scale = ScaleKind::Pow2;
    s.calibration = Calibration::MaxAbs;
  }
  if (!uses_percentile(s.calibration)) s.percentile = kDefaultPercentile;
  if (s.scale != ScaleKind::Dyadic) s.scale_bits = kDefaultScaleBits;
  if (s.operand_bits == 0) s.operand_block = 0;
  return s;
}

bool QuantizerSpec::operator==(const QuantizerSpec& o) const {
  // percentile compares as a number; a NaN never equals (and never validates)
  return bits == o.bits && scheme == o.scheme && granularity == o.granularity &&
         scale == o.scale && scale_bits == o.scale_bits && calibration == o.calibration &&
         percentile == o.percentile && frac == o.frac && rounding == o.rounding &&
         overflow == o.overflow && operand_bits == o.operand_bits && operand_block == o.operand_block &&
         separate_parts == o.separate_parts && delta == o.delta;
}

// ---------------------------------------------------------------------------------------------

int64_t QuantParams::qmin() const {
  if (overflow == Overflow::SaturateSymmetric && format.is_signed) return -format.max_raw();
  return format.min_raw();
}
int64_t QuantParams::qmax() const { return format.max_raw(); }
double QuantParams::real_min() const { return dequantize(qmin(), *this); }
double QuantParams::real_max() const { return dequantize(qmax(), *this); }

std::string QuantParams::to_string() const {
  std::string s = format.to_string();
  if (zero_point != 0) s += " zp=" + std::to_string(zero_point);
  return s + " " + quant::to_string(rounding) + " " + quant::to_string(overflow);
}

int64_t quantize(double x, const QuantParams& p, uint64_t* events) {
  p.format.validate();
  return quantize_unchecked(x, p.format, p.zero_point, p.rounding, p.overflow, events);
}

double dequantize(int64_t q, const QuantParams& p) { return p.format.to_real(q - p.zero_point); }

template <typename T>
void quantize(const std::vector<QuantParams>& params, const T* x, size_t channels,
              size_t per_channel_len, int64_t* q, uint64_t* events) {
  checked(params, channels);
  for (size_t c = 0; c < channels; ++c) {
    const QuantParams& p = params.size() == 1 ? params[0] : params[c];
    for (size_t i = c * per_channel_len, end = i + per_channel_len; i < end; ++i)
      q[i] = quantize_unchecked(static_cast<double>(x[i]), p.format, p.zero_point, p.rounding,
                                p.overflow, events);
  }
}

template <typename T>
void dequantize(const std::vector<QuantParams>& params, const int64_t* q, size_t channels,
                size_t per_channel_len, T* x) {
  checked(params, channels);
  for (size_t c = 0; c < channels; ++c) {
    const QuantParams& p = params.size() == 1 ? params[0] : params[c];
    for (size_t i = c * per_channel_len, end = i + per_channel_len; i < end; ++i)
      x[i] = dequantize_as<T>(q[i], p);
  }
}

QuantParams params_from_range(const QuantizerSpec& spec, double lo, double hi) {
  spec.validate();
  if (!std::isfinite(lo) || !std::isfinite(hi))
    throw FormatError("quantizer range [" + number_text(lo) + ", " + number_text(hi) +
                      "] is not finite");
  QuantParams p;
  p.rounding = spec.rounding;
  p.overflow = spec.overflow;
  if (spec.frac) {
    p.format = Format::fixed(true, spec.bits, *spec.frac);
    return p;
  }
  lo = std::min(lo, 0.0);
  hi = std::max(hi, 0.0);
  if (spec.scheme == Scheme::Symmetric) {
    const int64_t qmax = (int64_t{1} << (spec.bits - 1)) - 1;  // symmetric range: -q fits
    p.format = Format{true, spec.bits, scale_for(spec, std::max(-lo, hi), qmax)};
    return p;
  }
  const int64_t qmax = (int64_t{1} << spec.bits) - 1;
  const double range = hi - lo;
  if (!std::isfinite(range))
    throw FormatError("quantizer range [" + number_text(lo) + ", " + number_text(hi) +
                      "] is wider than the largest double");
  p.format = Format{false, spec.bits, scale_for(spec, range, qmax)};
  Format wide = p.format;
  wide.is_signed = true;
  wide.width = 64;
  p.zero_point = std::clamp<int64_t>(
      quantize_unchecked(-lo, wide, 0, Rounding::HalfEven, Overflow::Saturate, nullptr), 0, qmax);
  return p;
}

template <typename T>
std::vector<QuantParams> calibrate(const QuantizerSpec& spec, const T* data, size_t channels,
                                   size_t per_channel_len, const std::vector<size_t>& shape) {
  spec.validate();
  const size_t n = channels * per_channel_len;
  for (size_t i = 0; i < n; ++i)
    if (!std::isfinite(data[i]))
      throw FormatError("calibration data holds a non-finite value at index " +
                        std::to_string(i));
  const bool per_channel = spec.granularity == Granularity::PerChannel;
  GroupShape g;
  g.dims = shape.empty() ? std::vector<size_t>{channels, per_channel_len} : shape;
  size_t count = 1;
  for (const size_t d : g.dims) count *= d;
  if (count != n || (per_channel && g.dims[0] != channels))
    throw FormatError("calibration: a tensor shape of " + std::to_string(g.dims.size()) +
                      " dimensions holding " + std::to_string(count) + " values for " +
                      std::to_string(channels) + " channels of " +
                      std::to_string(per_channel_len) + " values");
  if (!per_channel) {
    for (size_t d = 0; d < g.dims.size(); ++d) g.order.push_back(d);  // range(ndim)
    return {calibrate_group(spec, data, n, g)};
  }
  g.dims.erase(g.dims.begin());
  for (size_t d = g.dims.size(); d-- > 0;) g.order.push_back(d);  // [-1, -2, ...]
  std::vector<QuantParams> out;
  out.reserve(channels);
  for (size_t c = 0; c < channels; ++c)
    out.push_back(calibrate_group(spec, data + c * per_channel_len, per_channel_len, g));
  return out;
}

template <typename T>
double quantization_sse(const QuantParams& p, const T* x, size_t n) {
  p.format.validate();
  double sse = 0;
  for (size_t i = 0; i < n; ++i) {
    const double v = static_cast<double>(x[i]);
    const int64_t q = quantize_unchecked(v, p.format, p.zero_point, p.rounding, p.overflow,
                                         nullptr);
    const double e = v - dequantize(q, p);
    sse += e * e;
  }
  return sse;
}

#define SSMSIM_QUANTIZER_INSTANTIATE(T)                                                        \
  template void quantize<T>(const std::vector<QuantParams>&, const T*, size_t, size_t,         \
                            int64_t*, uint64_t*);                                              \
  template void dequantize<T>(const std::vector<QuantParams>&, const int64_t*, size_t, size_t, \
                              T*);                                                             \
  template std::vector<QuantParams> calibrate<T>(const QuantizerSpec&, const T*, size_t,       \
                                                 size_t, const std::vector<size_t>&);          \
  template double quantization_sse<T>(const QuantParams&, const T*, size_t);

SSMSIM_QUANTIZER_INSTANTIATE(float)
SSMSIM_QUANTIZER_INSTANTIATE(double)
#undef SSMSIM_QUANTIZER_INSTANTIATE

}  // namespace ssmsim::quant
