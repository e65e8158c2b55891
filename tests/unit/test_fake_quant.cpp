// Fake quantization: the forward value is bit-identical to dequantize(quantize(x)); the backward
// pass is the straight-through estimator, optionally zeroed outside the representable range.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "quant/errors.hpp"
#include "quant/fake_quant.hpp"
#include "tests/support/testing.hpp"

namespace ssmsim::quant {
namespace {

template <typename T>
bool same_bits(T a, T b) {
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

template <typename T>
std::vector<T> random_inputs(std::mt19937_64& rng, size_t n, double sigma) {
  std::normal_distribution<double> d(0, sigma);
  std::vector<T> v(n);
  for (auto& x : v) x = static_cast<T>(d(rng));
  return v;
}

std::vector<QuantParams> assorted_params() {
  std::vector<QuantParams> out;
  for (Scheme scheme : {Scheme::Symmetric, Scheme::Asymmetric})
    for (ScaleKind kind : {ScaleKind::Pow2, ScaleKind::Dyadic})
      for (int bits : {2, 4, 8, 16})
        for (Overflow o : {Overflow::Saturate, Overflow::SaturateSymmetric, Overflow::Wrap}) {
          QuantizerSpec s;
          s.bits = bits;
          s.scheme = scheme;
          s.scale = kind;
          s.overflow = o;
          s.rounding = bits == 4 ? Rounding::HalfAway : Rounding::HalfEven;
          out.push_back(params_from_range(s, -1.5, 2.25));
        }
  return out;
}

template <typename T>
class FakeQuant : public ::testing::Test {};
using Reals = ::testing::Types<float, double>;
TYPED_TEST_SUITE(FakeQuant, Reals);

TYPED_TEST(FakeQuant, ForwardIsBitIdenticalToDequantizeOfQuantize) {
  using T = TypeParam;
  auto rng = testing::seeded_rng();
  for (const QuantParams& p : assorted_params()) {
    const FakeQuantizer<T> fq(p);
    for (T x : random_inputs<T>(rng, 300, 2.0)) {
      const T want = dequantize_as<T>(quantize(static_cast<double>(x), p), p);
      ASSERT_TRUE(same_bits(fq.forward(x), want)) << p.to_string() << " x=" << x;
    }
  }
}

TYPED_TEST(FakeQuant, BufferForwardIsBitIdenticalPerChannelAndMayWorkInPlace) {
  using T = TypeParam;
  auto rng = testing::seeded_rng();
  QuantizerSpec s;
  s.bits = 5;
  s.granularity = Granularity::PerChannel;
  const size_t channels = 3, len = 100;
  auto x = random_inputs<T>(rng, channels * len, 1.0);
  for (size_t i = len; i < 2 * len; ++i) x[i] *= T(20);  // channel 1 is much wider
  const auto params = calibrate(s, x.data(), channels, len);
  ASSERT_EQ(params.size(), channels);

  std::vector<int64_t> q(x.size());
  quantize(params, x.data(), channels, len, q.data());
  std::vector<T> want(x.size());
  dequantize(params, q.data(), channels, len, want.data());

  std::vector<T> y(x.size());
  std::vector<uint8_t> pass(x.size());
  uint64_t events = 0;
  fake_quant_forward(params, x.data(), channels, len, y.data(), pass.data(), true, &events);
  for (size_t i = 0; i < x.size(); ++i) ASSERT_TRUE(same_bits(y[i], want[i])) << "i=" << i;
  EXPECT_EQ(events, 0u);  // calibrated on this very data

  std::vector<T> inplace = x;
  fake_quant_forward(params, inplace.data(), channels, len, inplace.data());
  for (size_t i = 0; i < x.size(); ++i) ASSERT_TRUE(same_bits(inplace[i], want[i]));
}

TYPED_TEST(FakeQuant, StraightThroughGradientPassesUnchangedWithoutClipping) {
  using T = TypeParam;
  auto rng = testing::seeded_rng();
  for (const QuantParams& p : assorted_params()) {
    const FakeQuantizer<T> fq(p);
    for (T x : random_inputs<T>(rng, 100, 10.0)) {  // many far outside the range
      const T g = static_cast<T>(std::ldexp(static_cast<double>(x), -3) + 0.1);
      ASSERT_TRUE(same_bits(fq.backward(x, g), g));
    }
  }
  const std::vector<QuantParams> one = {assorted_params().front()};
  std::vector<T> x = {T(-100), T(0), T(100)}, grad = {T(1), T(2), T(3)};
  fake_quant_backward(one, x.data(), 1, 3, grad.data(), false);
  EXPECT_EQ(grad, (std::vector<T>{T(1), T(2), T(3)}));
}

TYPED_TEST(FakeQuant, ClippedGradientIsZeroExactlyOutsideTheRepresentableRange) {
  using T = TypeParam;
  for (const QuantParams& p : assorted_params()) {
    const FakeQuantizer<T> fq(p, true);
    const double lo = dequantize(p.qmin(), p), hi = dequantize(p.qmax(), p);
    EXPECT_EQ(fq.lower(), lo);
    EXPECT_EQ(fq.upper(), hi);
    const T g = T(0.75);
    if (static_cast<double>(static_cast<T>(lo)) == lo) {  // the ends pass (when T holds them)
      EXPECT_EQ(fq.backward(static_cast<T>(lo), g), g) << p.to_string();
    }
    if (static_cast<double>(static_cast<T>(hi)) == hi) {
      EXPECT_EQ(fq.backward(static_cast<T>(hi), g), g) << p.to_string();
    }
    EXPECT_EQ(fq.backward(static_cast<T>((lo + hi) / 2), g), g);
    const T above = std::nextafter(static_cast<T>(hi), std::numeric_limits<T>::infinity());
    const T below = std::nextafter(static_cast<T>(lo), -std::numeric_limits<T>::infinity());
    EXPECT_EQ(fq.backward(above, g), T(0)) << p.to_string();
    EXPECT_EQ(fq.backward(below, g), T(0)) << p.to_string();
    EXPECT_EQ(fq.backward(T(1e6), g), T(0));
  }
}

TYPED_TEST(FakeQuant, MaskFromTheForwardPassAgreesWithTheBackwardPass) {
  using T = TypeParam;
  auto rng = testing::seeded_rng();
  QuantizerSpec s;
  s.bits = 4;
  s.scheme = Scheme::Asymmetric;
  s.granularity = Granularity::PerChannel;
  const size_t channels = 2, len = 500;
  const auto calib = random_inputs<T>(rng, channels * len, 1.0);
  const auto params = calibrate(s, calib.data(), channels, len);
  const auto x = random_inputs<T>(rng, channels * len, 3.0);  // wider than calibrated

  std::vector<T> y(x.size());
  std::vector<uint8_t> pass(x.size());
  uint64_t events = 0;
  fake_quant_forward(params, x.data(), channels, len, y.data(), pass.data(), true, &events);
  EXPECT_GT(events, 0u);

  const auto upstream = random_inputs<T>(rng, x.size(), 1.0);
  std::vector<T> by_mask = upstream, by_backward = upstream;
  apply_ste_mask(pass.data(), by_mask.data(), by_mask.size());
  fake_quant_backward(params, x.data(), channels, len, by_backward.data(), true);
  size_t zeroed = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    ASSERT_TRUE(same_bits(by_mask[i], by_backward[i])) << "i=" << i;
    const FakeQuantizer<T> fq(params[i / len], true);
    ASSERT_EQ(pass[i] != 0, fq.in_range(x[i]));
    zeroed += pass[i] == 0;
  }
  EXPECT_GT(zeroed, 0u);
  EXPECT_LT(zeroed, x.size());

  std::fill(pass.begin(), pass.end(), uint8_t{7});
  fake_quant_forward(params, x.data(), channels, len, y.data(), pass.data(), false);
  for (uint8_t m : pass) ASSERT_EQ(m, 1);  // without clip_gradient everything passes
}

TYPED_TEST(FakeQuant, RejectsNaNInTheForwardPass) {
  using T = TypeParam;
  const FakeQuantizer<T> fq(assorted_params().front());
  EXPECT_THROW(fq.forward(std::numeric_limits<T>::quiet_NaN()), FormatError);
}

}  // namespace
}  // namespace ssmsim::quant
