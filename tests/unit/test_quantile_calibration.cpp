// calibration: quantile_nearest, the S4D paper's (QSSM) "percentile": torch.quantile(q,
// interpolation='nearest') one dimension at a time. The chosen elements are worked out by hand
// (docs/fixed_point.md 6); where it equals maxabs and where it differs from the clipping
// `percentile` calibrator.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "quant/errors.hpp"
#include "quant/precision.hpp"
#include "quant/quantizer.hpp"
#include "tests/support/testing.hpp"

namespace ssmsim::quant {
namespace {

QuantizerSpec quantile_spec(Scheme scheme, double percentile) {
  QuantizerSpec s;
  s.bits = 8;
  s.scheme = scheme;
  s.calibration = Calibration::QuantileNearest;
  s.percentile = percentile;
  return s;
}

std::vector<double> normal_data(std::mt19937_64& rng, size_t n) {
  std::normal_distribution<double> d(0.0, 1.0);
  std::vector<double> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// q as the QSSM code hands it to torch: percentile / 100 in double, then float.
float q_of(double percentile) { return static_cast<float>(percentile / 100.0); }

TEST(QuantileNearest, TheIndexIsTheFloatRankRoundedHalfToEven) {
  EXPECT_EQ(quantile_nearest_index(0.7f, 1), 0u);
  EXPECT_EQ(quantile_nearest_index(0.0f, 9), 0u);
  EXPECT_EQ(quantile_nearest_index(1.0f, 9), 8u);
  // odd length 5: rank q * 4
  EXPECT_EQ(quantile_nearest_index(0.5f, 5), 2u);    // 2.0
  EXPECT_EQ(quantile_nearest_index(0.3f, 5), 1u);    // 1.2
  EXPECT_EQ(quantile_nearest_index(0.375f, 5), 2u);  // 1.5: tie, to the even 2
  EXPECT_EQ(quantile_nearest_index(0.625f, 5), 2u);  // 2.5: tie, to the even 2
  EXPECT_EQ(quantile_nearest_index(0.875f, 5), 4u);  // 3.5: tie, to the even 4
  // even lengths 4 and 6: ranks q * 3 and q * 5
  EXPECT_EQ(quantile_nearest_index(0.5f, 4), 2u);   // 1.5 -> 2
  EXPECT_EQ(quantile_nearest_index(0.25f, 4), 1u);  // 0.75 -> 1
  EXPECT_EQ(quantile_nearest_index(0.5f, 6), 2u);   // 2.5 -> 2
  // float(0.1) * 5 = 0.50000000745 rounds to the float 0.5: a tie, to 0. (Torch 2.5, which the
  // QSSM code pins, computes the rank in float; a rank kept in double would round to 1.)
  EXPECT_EQ(quantile_nearest_index(0.1f, 6), 0u);
  EXPECT_EQ(quantile_nearest_index(q_of(90), 6), 4u);  // float(0.9) * 5 rounds to 4.5 -> 4
}

TEST(QuantileNearest, AtPercentile99_999TheTopIndexIsTheMaxUpTo49739Values) {
  const float hi = q_of(99.999), lo = static_cast<float>(1.0 - 99.999 / 100.0);
  for (size_t n : {2u, 3u, 16u, 64u, 1000u, 49739u}) {
    EXPECT_EQ(quantile_nearest_index(hi, n), n - 1) << n;
    EXPECT_EQ(quantile_nearest_index(lo, n), 0u) << n;
  }
  EXPECT_EQ(quantile_nearest_index(hi, 49740), 49738u);   // 49738.5 in float: tie, to even
  EXPECT_EQ(quantile_nearest_index(hi, 50001), 50000u);   // 49999.5: tie, to the even 50000
  EXPECT_EQ(quantile_nearest_index(hi, 50002), 50000u);   // 50000.5 -> 50000: one clipped
  EXPECT_EQ(quantile_nearest_index(hi, 100001), 99999u);  // 99999.0: one clipped
  EXPECT_EQ(quantile_nearest_index(lo, 50001), 0u);
  EXPECT_EQ(quantile_nearest_index(lo, 50002), 1u);
}

TEST(QuantileNearest, PicksTheHandChosenElementOfAOneDimensionalTensor) {
  QuantizerSpec s = quantile_spec(Scheme::Symmetric, 50);
  QuantizerSpec clip = s;
  clip.calibration = Calibration::Percentile;
  // |x| sorted {1, 2, 3, 4}: rank 1.5 -> index 2 -> 3; the clipping percentile takes the
  // ceil(0.5 * 4) = 2nd smallest, 2
  const std::vector<double> even = {1, -2, 3, -4};
  EXPECT_EQ(calibrate(s, even).at(0), params_from_range(s, -3, 3));
  EXPECT_EQ(calibrate(clip, even).at(0), params_from_range(s, -2, 2));
  // |x| sorted {1, 2, 3, 4, 5}, p = 62.5: rank 2.5 -> index 2 -> 3; clipping: ceil(3.125) = 4th
  s.percentile = clip.percentile = 62.5;
  const std::vector<double> odd = {-5, 1, 2, 3, 4};
  EXPECT_EQ(calibrate(s, odd).at(0), params_from_range(s, -3, 3));
  EXPECT_EQ(calibrate(clip, odd).at(0), params_from_range(s, -4, 4));

  // asymmetric, p = 90, sorted {-8, -1, 0, 2, 5, 7}: hi rank float(0.9) * 5 = 4.5 -> 4 -> 5;
  // lo rank float(1 - 0.9) * 5 = 0.5 -> 0 -> -8. Clipping: hi ceil(5.4) = 6th (7), lo 1st (-8)
  QuantizerSpec a = quantile_spec(Scheme::Asymmetric, 90);
  QuantizerSpec a_clip = a;
  a_clip.calibration = Calibration::Percentile;
  const std::vector<double> ramp = {7, -1, 5, 0, -8, 2};
  EXPECT_EQ(calibrate(a, ramp).at(0), params_from_range(a, -8, 5));
  EXPECT_EQ(calibrate(a_clip, ramp).at(0), params_from_range(a, -8, 7));
}

TEST(QuantileNearest, ReducesAPerTensorRangeFromTheFirstDimension) {
  // [[1, 5, 9], [6, 2, 3]], p = 40: a length-2 line takes index round(0.4) = 0 (its min), a
  // length-3 line index round(0.8) = 1 (its median), a length-6 line index round(2.0) = 2.
  const std::vector<double> x = {1, 5, 9, 6, 2, 3};
  const QuantizerSpec s = quantile_spec(Scheme::Symmetric, 40);
  // dimension 0 first: column mins {1, 2, 3}, then their median: 2
  EXPECT_EQ(calibrate(s, x.data(), 1, 6, {2, 3}).at(0), params_from_range(s, -2, 2));
  // one dimension of six: sorted {1, 2, 3, 5, 6, 9}[2] = 3 (also the default shape {1, 6})
  EXPECT_EQ(calibrate(s, x.data(), 1, 6, {6}).at(0), params_from_range(s, -3, 3));
  EXPECT_EQ(calibrate(s, x).at(0), params_from_range(s, -3, 3));
  // the other order would give the min of the row medians {5, 3}: 3, not 2
}

TEST(QuantileNearest, ReducesEachChannelFromItsLastDimension) {
  // shape [2 channels, 2, 3]; channel 1 is channel 0 doubled and negated
  const std::vector<double> x = {1, 5, 9, 6, 2, 3, -2, -10, -18, -12, -4, -6};
  QuantizerSpec s = quantile_spec(Scheme::Symmetric, 40);
  s.granularity = Granularity::PerChannel;
  // last dimension first: row medians {5, 3}, then index 0 of those two: 3 (and 6 for channel 1)
  const auto p = calibrate(s, x.data(), 2, 6, {2, 2, 3});
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0], params_from_range(s, -3, 3));
  EXPECT_EQ(p[1], params_from_range(s, -6, 6));

  // asymmetric, p = 75 on [1 channel, 2, 2] = [[-4, 8], [2, -6]]: hi: rows (index round(0.75) =
  // 1, the max) {8, 2}, then their max 8; lo: (index round(0.25) = 0) rows {-4, -6}, then -6
  QuantizerSpec a = quantile_spec(Scheme::Asymmetric, 75);
  a.granularity = Granularity::PerChannel;
  const std::vector<double> y = {-4, 8, 2, -6};
  EXPECT_EQ(calibrate(a, y.data(), 1, 4, {1, 2, 2}).at(0), params_from_range(a, -6, 8));
}

TEST(QuantileNearest, EqualsMaxAbsOnTensorsOfTheSizesTheseModelsHave) {
  auto rng = testing::seeded_rng();
  // s4d_edge's A, B, C: [H = 16, N/2 = 32, (re, im)]; s5_small's B: [P/2 = 64, H = 96, 2]
  for (const std::vector<size_t>& shape : {std::vector<size_t>{16, 32, 2}, {64, 96, 2}}) {
    const size_t n = shape[0] * shape[1] * shape[2];
    const auto x = normal_data(rng, n);
    for (Scheme scheme : {Scheme::Symmetric, Scheme::Asymmetric})
      for (Granularity g : {Granularity::PerTensor, Granularity::PerChannel}) {
        QuantizerSpec s = quantile_spec(scheme, 99.999);
        s.granularity = g;
        QuantizerSpec m = s;
        m.calibration = Calibration::MaxAbs;
        const size_t ch = g == Granularity::PerChannel ? shape[0] : 1;
        EXPECT_EQ(calibrate(s, x.data(), ch, n / ch, shape), calibrate(m, x.data(), ch, n / ch));
      }
  }
  // one dimension of 49739 values still keeps its max
  const auto flat = normal_data(rng, 49739);
  QuantizerSpec s = quantile_spec(Scheme::Asymmetric, 99.999);
  QuantizerSpec m = s;
  m.calibration = Calibration::MaxAbs;
  EXPECT_EQ(calibrate(s, flat), calibrate(m, flat));
}

TEST(QuantileNearest, DiffersFromTheClippingPercentileOnLongTensors) {
  auto rng = testing::seeded_rng();
  const QuantizerSpec s = quantile_spec(Scheme::Symmetric, 99.999);
  QuantizerSpec clip = s;
  clip.calibration = Calibration::Percentile;
  QuantizerSpec maxabs = s;
  maxabs.calibration = Calibration::MaxAbs;
  auto sorted_magnitudes = [](const std::vector<double>& x) {
    std::vector<double> m(x.size());
    std::transform(x.begin(), x.end(), m.begin(), [](double v) { return std::fabs(v); });
    std::sort(m.begin(), m.end());
    return m;
  };
  // one dimension of 60000 values: quantile_nearest takes index round(float(0.99999) * 59999)
  // = 59998, the second largest |x|; the clipping percentile the ceil(0.99999 * 60000) = 60000th
  // smallest, the largest
  const auto x = normal_data(rng, 60000);
  const auto mx = sorted_magnitudes(x);
  EXPECT_EQ(calibrate(s, x).at(0), params_from_range(s, -mx[59998], mx[59998]));
  EXPECT_EQ(calibrate(clip, x).at(0), calibrate(maxabs, x).at(0));
  EXPECT_NE(calibrate(s, x).at(0), calibrate(clip, x).at(0));

  // a [10, 20000] tensor: one dimension at a time every line is short enough to keep its max,
  // so quantile_nearest is maxabs; the clipping percentile over all 200000 values takes the
  // ceil(0.99999 * 200000) = 199998th smallest, clipping the two largest
  const auto y = normal_data(rng, 200000);
  const auto my = sorted_magnitudes(y);
  EXPECT_EQ(calibrate(s, y.data(), 1, y.size(), {10, 20000}), calibrate(maxabs, y));
  EXPECT_EQ(calibrate(clip, y).at(0), params_from_range(s, -my[199997], my[199997]));
}

TEST(QuantileNearest, OtherCalibratorsIgnoreTheShapeAndAWrongShapeIsRefused) {
  auto rng = testing::seeded_rng();
  const auto x = normal_data(rng, 24);
  for (Calibration c : {Calibration::MaxAbs, Calibration::Percentile, Calibration::Mse}) {
    QuantizerSpec s = quantile_spec(Scheme::Symmetric, 90);
    s.calibration = c;
    s.granularity = Granularity::PerChannel;
    EXPECT_EQ(calibrate(s, x.data(), 4, 6, {4, 3, 2}), calibrate(s, x.data(), 4, 6));
  }
  QuantizerSpec s = quantile_spec(Scheme::Symmetric, 90);
  EXPECT_THROW(calibrate(s, x.data(), 1, 24, {5, 5}), FormatError);  // 25 values, not 24
  s.granularity = Granularity::PerChannel;
  EXPECT_THROW(calibrate(s, x.data(), 4, 6, {6, 4}), FormatError);  // 6 channels, not 4
}

TEST(QuantileNearest, IsAPrecisionConfigCalibrationThatRoundTripsWithItsPercentile) {
  const auto cfg = PrecisionConfig::from_yaml(YAML::Load(R"(
default: quantized
defaults: {calibration: quantile_nearest, percentile: 99.999}
components:
  A: {granularity: per_channel}
  encoder: {scheme: asymmetric}
  x: {calibration: percentile, percentile: 99.9}
  act: {calibration: mse}
)"));
  EXPECT_EQ(cfg.spec(Component::A).calibration, Calibration::QuantileNearest);
  EXPECT_EQ(cfg.spec(Component::A).percentile, 99.999);
  EXPECT_EQ(cfg.spec(Component::x).calibration, Calibration::Percentile);
  EXPECT_EQ(cfg.spec(Component::x).percentile, 99.9);
  EXPECT_EQ(cfg.spec(Component::act).percentile, QuantizerSpec::kDefaultPercentile);
  EXPECT_EQ(PrecisionConfig::from_yaml(cfg.to_yaml()), cfg);
  EXPECT_EQ(PrecisionConfig::from_yaml(YAML::Load(cfg.to_yaml_string())), cfg);
  const YAML::Node a = cfg.to_yaml()["components"]["A"];
  EXPECT_EQ(a["calibration"].as<std::string>(), "quantile_nearest");
  EXPECT_EQ(a["percentile"].as<double>(), 99.999);
}

TEST(QuantileNearest, IsNamedWhereverTheCalibratorsAreListed) {
  EXPECT_EQ(parse_calibration("quantile_nearest"), Calibration::QuantileNearest);
  EXPECT_EQ(to_string(Calibration::QuantileNearest), "quantile_nearest");
  EXPECT_TRUE(uses_percentile(Calibration::QuantileNearest));
  EXPECT_TRUE(uses_percentile(Calibration::Percentile));
  EXPECT_FALSE(uses_percentile(Calibration::Mse));
  try {
    parse_calibration("kl");
    ADD_FAILURE() << "no FormatError";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("maxabs, percentile, mse, quantile_nearest"),
              std::string::npos)
        << e.what();
  }
  try {
    PrecisionConfig::from_yaml(YAML::Load("components: {A: {calibration: kl}}"), "precision");
    ADD_FAILURE() << "no ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key(), "precision.components.A.calibration");
    EXPECT_NE(std::string(e.what()).find("quantile_nearest"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ssmsim::quant
