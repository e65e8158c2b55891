// Quantizer properties: idempotence, range, per-channel independence, zero points, scale kinds,
// and the percentile / MSE calibrators.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "quant/errors.hpp"
#include "quant/quantizer.hpp"
#include "tests/support/testing.hpp"

namespace ssmsim::quant {
namespace {

int bit_length(int64_t v) { return v == 0 ? 0 : 64 - __builtin_clzll(static_cast<uint64_t>(v)); }

std::vector<double> normal_data(std::mt19937_64& rng, size_t n, double sigma = 1.0,
                                double mean = 0.0) {
  std::normal_distribution<double> d(mean, sigma);
  std::vector<double> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// Heavy-tailed: Student-t with 2 degrees of freedom (normal / sqrt(chi2 / 2)).
std::vector<double> heavy_tailed_data(std::mt19937_64& rng, size_t n) {
  std::normal_distribution<double> z(0, 1);
  std::chi_squared_distribution<double> chi(2.0);
  std::vector<double> v(n);
  for (auto& x : v) x = z(rng) / std::sqrt(chi(rng) / 2.0);
  return v;
}

QuantizerSpec spec_of(int bits, Scheme scheme, ScaleKind scale, int scale_bits = 16) {
  QuantizerSpec s;
  s.bits = bits;
  s.scheme = scheme;
  s.scale = scale;
  s.scale_bits = scale_bits;
  return s;
}

std::vector<QuantizerSpec> assorted_specs() {
  std::vector<QuantizerSpec> specs;
  for (int bits : {2, 3, 4, 8, 12})
    for (Scheme scheme : {Scheme::Symmetric, Scheme::Asymmetric})
      for (ScaleKind kind : {ScaleKind::Pow2, ScaleKind::Dyadic})
        specs.push_back(spec_of(bits, scheme, kind, bits == 3 ? 5 : 16));
  return specs;
}

TEST(Quantizer, IsIdempotentOnEveryRepresentableValue) {
  auto rng = testing::seeded_rng();
  for (const QuantizerSpec& spec : assorted_specs()) {
    for (Rounding r : {Rounding::HalfEven, Rounding::Floor, Rounding::TowardZero}) {
      QuantizerSpec s = spec;
      s.rounding = r;
      const auto data = normal_data(rng, 200, 3.0, 0.5);
      const QuantParams p = calibrate(s, data).at(0);
      for (int64_t q = p.qmin(); q <= p.qmax(); ++q)
        ASSERT_EQ(quantize(dequantize(q, p), p), q) << p.to_string() << " q=" << q;
    }
  }
}

TEST(Quantizer, IsIdempotentAtThirtyTwoBitsWithWideDyadicMultipliers) {
  auto rng = testing::seeded_rng();
  const QuantizerSpec s = spec_of(32, Scheme::Symmetric, ScaleKind::Dyadic, 31);
  const QuantParams p = calibrate(s, normal_data(rng, 100)).at(0);
  for (int i = 0; i < 5000; ++i) {
    const auto span = static_cast<uint64_t>(p.qmax() - p.qmin() + 1);
    const int64_t q = p.qmin() + static_cast<int64_t>(rng() % span);
    ASSERT_EQ(quantize(dequantize(q, p), p), q) << p.to_string() << " q=" << q;
  }
}

TEST(Quantizer, KeepsOutputsInRangeAndMapsTheCalibratedMaximumWithinOneStep) {
  auto rng = testing::seeded_rng();
  for (const QuantizerSpec& spec : assorted_specs()) {
    auto data = normal_data(rng, 500, 2.0, spec.scheme == Scheme::Asymmetric ? 1.0 : 0.0);
    const QuantParams p = calibrate(spec, data).at(0);
    const double lo = *std::min_element(data.begin(), data.end());
    const double hi = *std::max_element(data.begin(), data.end());
    uint64_t events = 0;
    std::vector<int64_t> q(data.size());
    quantize(std::vector<QuantParams>{p}, data.data(), 1, data.size(), q.data(), &events);
    for (int64_t v : q) ASSERT_TRUE(v >= p.qmin() && v <= p.qmax()) << p.to_string();
    if (spec.scheme == Scheme::Symmetric) {
      // maxabs covers the data exactly: nothing saturates, and -q of the extremes fits
      EXPECT_EQ(events, 0u) << p.to_string();
      const double m = std::max(-lo, hi);
      EXPECT_LE(std::abs(quantize(m, p)), p.qmax());
      EXPECT_GE(-quantize(m, p), -p.qmax());
    }
    for (double extreme : {lo, hi})
      EXPECT_LE(std::abs(dequantize(quantize(extreme, p), p) - extreme), p.scale())
          << p.to_string() << " extreme=" << extreme;
    // far outside: saturates to the ends
    EXPECT_EQ(quantize(1e30, p), p.qmax());
    EXPECT_EQ(quantize(-1e30, p), p.qmin());
  }
}

TEST(Quantizer, UsesTheSymmetricRangeSoThatTheNegatedMaximumIsRepresentable) {
  const QuantizerSpec s = spec_of(8, Scheme::Symmetric, ScaleKind::Pow2);
  const QuantParams p = params_from_range(s, -1.0, 127.0);
  EXPECT_TRUE(p.format.is_signed);
  EXPECT_EQ(p.format.scale, (Scale{1, 0}));  // 127 = 127 * 1: the symmetric range, not 128
  EXPECT_EQ(quantize(127.0, p), 127);
  EXPECT_EQ(quantize(-127.0, p), -127);
}

TEST(Quantizer, CalibratesEachChannelIndependently) {
  auto rng = testing::seeded_rng();
  for (Scheme scheme : {Scheme::Symmetric, Scheme::Asymmetric}) {
    QuantizerSpec s = spec_of(6, scheme, ScaleKind::Dyadic);
    s.granularity = Granularity::PerChannel;
    for (Calibration c : {Calibration::MaxAbs, Calibration::Percentile, Calibration::Mse,
                          Calibration::QuantileNearest}) {
      s.calibration = c;
      s.percentile = 99.0;
      const size_t channels = 4, len = 64;
      auto data = normal_data(rng, channels * len);
      const auto before = calibrate(s, data.data(), channels, len);
      ASSERT_EQ(before.size(), channels);
      std::vector<int64_t> q_before(data.size());
      quantize(before, data.data(), channels, len, q_before.data());

      for (size_t i = 2 * len; i < 3 * len; ++i) data[i] = data[i] * 37.0 + 5.0;  // channel 2
      const auto after = calibrate(s, data.data(), channels, len);
      std::vector<int64_t> q_after(data.size());
      quantize(after, data.data(), channels, len, q_after.data());
      for (size_t ch : {0u, 1u, 3u}) {
        EXPECT_EQ(before[ch], after[ch]) << "channel " << ch;
        for (size_t i = ch * len; i < (ch + 1) * len; ++i) ASSERT_EQ(q_before[i], q_after[i]);
      }
      EXPECT_NE(before[2], after[2]);
    }
  }
}

TEST(Quantizer, PerTensorCalibrationPoolsAllChannels) {
  auto rng = testing::seeded_rng();
  const QuantizerSpec s = spec_of(8, Scheme::Symmetric, ScaleKind::Dyadic);
  const auto data = normal_data(rng, 4 * 50);
  const auto pooled = calibrate(s, data.data(), 4, 50);
  ASSERT_EQ(pooled.size(), 1u);
  EXPECT_EQ(pooled[0], calibrate(s, data.data(), 1, 200).at(0));
}

TEST(Quantizer, PlacesTheAsymmetricZeroPointWhereZeroIsExactlyRepresentable) {
  for (ScaleKind kind : {ScaleKind::Pow2, ScaleKind::Dyadic}) {
    const QuantizerSpec s = spec_of(8, Scheme::Asymmetric, kind);
    const QuantParams p = params_from_range(s, -1.0, 3.0);
    EXPECT_FALSE(p.format.is_signed);
    EXPECT_EQ(p.qmin(), 0);
    EXPECT_EQ(p.qmax(), 255);
    EXPECT_GT(p.zero_point, 0);
    EXPECT_LT(p.zero_point, 255);
    EXPECT_EQ(quantize(0.0, p), p.zero_point);
    EXPECT_EQ(dequantize(p.zero_point, p), 0.0);
    EXPECT_EQ(dequantize(p.zero_point + 3, p), 3 * p.scale());
    // about a quarter of the grid lies below zero
    EXPECT_NEAR(static_cast<double>(p.zero_point), 255.0 / 4, kind == ScaleKind::Pow2 ? 32 : 1);
    // all-positive data widens to include 0 at q = 0; all-negative data puts 0 at the top
    EXPECT_EQ(params_from_range(s, 2.0, 5.0).zero_point, 0);
    const QuantParams negative = params_from_range(s, -5.0, -2.0);
    EXPECT_EQ(quantize(-5.0, negative), 0);
    EXPECT_EQ(quantize(0.0, negative), negative.zero_point);
    if (kind == ScaleKind::Dyadic) {
      EXPECT_EQ(negative.zero_point, 255);
    }
  }
}

TEST(Quantizer, GivesPowerOfTwoScalesThatAreTheSmallestCoveringTheRange) {
  auto rng = testing::seeded_rng();
  std::uniform_real_distribution<double> mag(-30, 30);
  for (int i = 0; i < 300; ++i) {
    const int bits = 2 + static_cast<int>(rng() % 31);
    const QuantizerSpec s = spec_of(bits, Scheme::Symmetric, ScaleKind::Pow2);
    const double m = std::exp2(mag(rng));
    const QuantParams p = params_from_range(s, -m, m / 3);
    ASSERT_EQ(p.format.scale.mult, 1);
    const double qmax = std::ldexp(1.0, bits - 1) - 1;
    EXPECT_LE(m, qmax * p.scale());
    EXPECT_GT(m, qmax * p.scale() / 2);
  }
}

TEST(Quantizer, GivesDyadicMultipliersOfExactlyScaleBitsBits) {
  auto rng = testing::seeded_rng();
  std::uniform_real_distribution<double> mag(-40, 40);
  for (int scale_bits = 2; scale_bits <= 31; ++scale_bits) {
    for (int i = 0; i < 20; ++i) {
      const int bits = 2 + static_cast<int>(rng() % 31);
      for (Scheme scheme : {Scheme::Symmetric, Scheme::Asymmetric}) {
        const QuantizerSpec s = spec_of(bits, scheme, ScaleKind::Dyadic, scale_bits);
        const double m = std::exp2(mag(rng));
        const QuantParams p = params_from_range(s, -m / 5, m);
        ASSERT_EQ(bit_length(p.format.scale.mult), scale_bits) << p.to_string();
        // the smallest such scale: one multiplier step less no longer covers the range
        const double qmax = scheme == Scheme::Symmetric ? std::ldexp(1.0, bits - 1) - 1
                                                        : std::ldexp(1.0, bits) - 1;
        const double range = scheme == Scheme::Symmetric ? m : m + m / 5;
        const double smaller =
            std::ldexp(static_cast<double>(p.format.scale.mult - 1), -p.format.scale.shift);
        EXPECT_LE(range, qmax * p.scale() * (1 + 1e-15));
        if (p.format.scale.mult > (int64_t{1} << (scale_bits - 1))) {
          EXPECT_GT(range, qmax * smaller * (1 - 1e-15));
        }
      }
    }
  }
}

TEST(Quantizer, PercentileCalibrationUsesTheNearestRank) {
  std::vector<double> data;
  for (int i = 1; i <= 100; ++i) data.push_back(i % 2 ? i : -i);
  QuantizerSpec s = spec_of(8, Scheme::Symmetric, ScaleKind::Dyadic);
  s.calibration = Calibration::Percentile;
  s.percentile = 90;
  EXPECT_EQ(calibrate(s, data).at(0), params_from_range(s, -90, 90));
  s.percentile = 100;
  QuantizerSpec maxabs = s;
  maxabs.calibration = Calibration::MaxAbs;
  EXPECT_EQ(calibrate(s, data).at(0), calibrate(maxabs, data).at(0));
  s.percentile = 99.99;  // ceil(99.99) = 100th value
  EXPECT_EQ(calibrate(s, data).at(0), params_from_range(s, -100, 100));
  s.percentile = 1;
  EXPECT_EQ(calibrate(s, data).at(0), params_from_range(s, -1, 1));

  QuantizerSpec a = spec_of(8, Scheme::Asymmetric, ScaleKind::Dyadic);
  a.calibration = Calibration::Percentile;
  a.percentile = 95;
  std::vector<double> ramp;
  for (int i = -50; i < 150; ++i) ramp.push_back(i);  // 200 values
  // hi: the 190th smallest (139); lo: the 10th smallest (-41)
  EXPECT_EQ(calibrate(a, ramp).at(0), params_from_range(a, -41, 139));
}

TEST(Quantizer, PercentileCalibrationClipsOutliersThatMaxAbsKeeps) {
  auto rng = testing::seeded_rng();
  auto data = normal_data(rng, 10000);
  data[17] = 1000.0;
  data[4242] = -800.0;
  QuantizerSpec s = spec_of(8, Scheme::Symmetric, ScaleKind::Dyadic);
  const QuantParams maxabs = calibrate(s, data).at(0);
  s.calibration = Calibration::Percentile;
  s.percentile = 99.9;
  const QuantParams pct = calibrate(s, data).at(0);
  EXPECT_LT(pct.scale(), maxabs.scale() / 50);
  EXPECT_GT(pct.real_max(), 2.5);  // still covers the bulk of a unit normal
}

TEST(Quantizer, MseCalibrationClipsHeavyTailsAndNeverLosesToMaxAbs) {
  auto rng = testing::seeded_rng();
  for (Scheme scheme : {Scheme::Symmetric, Scheme::Asymmetric}) {
    for (ScaleKind kind : {ScaleKind::Pow2, ScaleKind::Dyadic}) {
      const auto data = heavy_tailed_data(rng, 4000);
      QuantizerSpec s = spec_of(4, scheme, kind);
      const QuantParams maxabs = calibrate(s, data).at(0);
      s.calibration = Calibration::Mse;
      const QuantParams mse = calibrate(s, data).at(0);
      EXPECT_LE(mse.scale(), maxabs.scale());
      const double e_mse = quantization_sse(mse, data.data(), data.size());
      const double e_max = quantization_sse(maxabs, data.data(), data.size());
      EXPECT_LE(e_mse, e_max);
      EXPECT_LT(e_mse, 0.8 * e_max) << "heavy tails: clipping should pay off at 4 bits";
    }
  }
}

TEST(Quantizer, MseCalibrationKeepsTheFullRangeOnDataWithoutTails) {
  // two values only: any clipping loses, so the largest ratio wins
  const std::vector<double> data = {-1.0, 1.0};
  QuantizerSpec s = spec_of(8, Scheme::Symmetric, ScaleKind::Dyadic);
  const QuantParams maxabs = calibrate(s, data).at(0);
  s.calibration = Calibration::Mse;
  EXPECT_EQ(calibrate(s, data).at(0), maxabs);
}

TEST(Quantizer, CalibratesDeterministically) {
  auto rng = testing::seeded_rng();
  const auto data = heavy_tailed_data(rng, 3000);
  QuantizerSpec s = spec_of(5, Scheme::Asymmetric, ScaleKind::Dyadic);
  s.granularity = Granularity::PerChannel;
  for (Calibration c : {Calibration::MaxAbs, Calibration::Percentile, Calibration::Mse,
                        Calibration::QuantileNearest}) {
    s.calibration = c;
    EXPECT_EQ(calibrate(s, data.data(), 3, 1000), calibrate(s, data.data(), 3, 1000));
  }
}

TEST(Quantizer, UsesTheFixedBinaryPointWhenFracIsGiven) {
  QuantizerSpec s = spec_of(12, Scheme::Symmetric, ScaleKind::Pow2);
  s.frac = 9;
  const std::vector<double> data = {100.0, -3.0};
  const QuantParams p = calibrate(s, data).at(0);
  EXPECT_EQ(p.format, Format::fixed(true, 12, 9));
  EXPECT_EQ(p.zero_point, 0);
  EXPECT_EQ(quantize(100.0, p), 2047);  // saturates: the binary point ignores the data
}

TEST(Quantizer, QuantizesASymmetricValueExactlyAsToFixed) {
  auto rng = testing::seeded_rng();
  std::normal_distribution<double> d(0, 5);
  for (Overflow o : {Overflow::Wrap, Overflow::Saturate, Overflow::SaturateSymmetric}) {
    QuantizerSpec s = spec_of(6, Scheme::Symmetric, ScaleKind::Dyadic);
    s.overflow = o;
    s.rounding = Rounding::HalfAway;
    const QuantParams p = params_from_range(s, -2, 2);
    for (int i = 0; i < 500; ++i) {
      const double x = d(rng);
      uint64_t e1 = 0, e2 = 0;
      ASSERT_EQ(quantize(x, p, &e1), to_fixed(x, p.format, p.rounding, p.overflow, &e2));
      ASSERT_EQ(e1, e2);
    }
  }
}

TEST(Quantizer, WrapsAsymmetricValuesAroundTheUnsignedRange) {
  QuantizerSpec s = spec_of(4, Scheme::Asymmetric, ScaleKind::Pow2);
  s.overflow = Overflow::Wrap;
  const QuantParams p = params_from_range(s, -4.0, 11.0);  // scale 1, zero point 4
  ASSERT_EQ(p.scale(), 1.0);
  ASSERT_EQ(p.zero_point, 4);
  uint64_t events = 0;
  EXPECT_EQ(quantize(12.0, p, &events), 0);  // 16 mod 16
  EXPECT_EQ(quantize(-5.0, p, &events), 15);
  EXPECT_EQ(quantize(1e300, p, &events), (to_fixed(1e300, Format::fixed(false, 4, 0),
                                                   Rounding::HalfEven, Overflow::Wrap) + 4) % 16);
  EXPECT_EQ(events, 3u);
}

TEST(Quantizer, RejectsInvalidSpecsNonFiniteDataAndMismatchedParameterCounts) {
  QuantizerSpec s;
  s.bits = 33;
  EXPECT_THROW(s.validate(), FormatError);
  s.bits = 1;
  ASSERT_TRUE(check_spec(s).has_value());
  EXPECT_EQ(check_spec(s)->field, "bits");
  s.scheme = Scheme::Asymmetric;
  EXPECT_FALSE(check_spec(s).has_value());  // one bit is fine with a zero point
  s.scale_bits = 32;
  EXPECT_EQ(check_spec(s)->field, "scale_bits");
  s.scale_bits = 16;
  s.percentile = 0;
  EXPECT_EQ(check_spec(s)->field, "percentile");
  s.percentile = 99;
  s.frac = 3;
  EXPECT_EQ(check_spec(s)->field, "frac");

  const std::vector<double> bad = {1.0, std::nan("")};
  EXPECT_THROW(calibrate(QuantizerSpec{}, bad), FormatError);
  const std::vector<double> data(8, 1.0);
  std::vector<int64_t> q(8);
  const std::vector<QuantParams> three(3);
  EXPECT_THROW(quantize(three, data.data(), 2, 4, q.data()), FormatError);
}

TEST(Quantizer, ParsesAndPrintsItsEnumNames) {
  for (Scheme v : {Scheme::Symmetric, Scheme::Asymmetric}) EXPECT_EQ(parse_scheme(to_string(v)), v);
  for (Granularity v : {Granularity::PerTensor, Granularity::PerChannel})
    EXPECT_EQ(parse_granularity(to_string(v)), v);
  for (ScaleKind v : {ScaleKind::Pow2, ScaleKind::Dyadic})
    EXPECT_EQ(parse_scale_kind(to_string(v)), v);
  for (Calibration v : {Calibration::MaxAbs, Calibration::Percentile, Calibration::Mse,
                        Calibration::QuantileNearest})
    EXPECT_EQ(parse_calibration(to_string(v)), v);
  EXPECT_THROW(parse_calibration("kl"), FormatError);
}

}  // namespace
}  // namespace ssmsim::quant
