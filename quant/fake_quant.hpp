// Fake quantization for quantization-aware training (docs/fixed_point.md "Fake quantization").
//
// Forward: y = dequantize_as<T>(quantize(x)) through exactly the functions the integer model uses,
// so the forward value is bit-identical to what the hardware's integers mean ("what you train is
// what you simulate"). Backward: the straight-through estimator (STE): dL/dx = dL/dy, or, with
// clip_gradient, 0 where x lies outside the representable range [real_min, real_max] =
// [dequantize(qmin), dequantize(qmax)] (the PACT / LSQ convention: a clipped input does not move
// the output).
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "quant/errors.hpp"
#include "quant/quantizer.hpp"

namespace ssmsim::quant {

template <typename T>
class FakeQuantizer {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "float or double");

 public:
  FakeQuantizer() : FakeQuantizer(QuantParams{}) {}
  explicit FakeQuantizer(const QuantParams& params, bool clip_gradient = false)
      : params_(params),
        clip_gradient_(clip_gradient),
        lower_(params.real_min()),
        upper_(params.real_max()) {}

  // dequantize_as<T>(quantize(x)); counts saturations in *events. NaN throws FormatError.
  T forward(T x, uint64_t* events = nullptr) const {
    return dequantize_as<T>(quantize(static_cast<double>(x), params_, events), params_);
  }
  // Whether x lies within [real_min, real_max] (compared exactly, in double).
  bool in_range(T x) const {
    const double v = static_cast<double>(x);
    return v >= lower_ && v <= upper_;
  }
  // The STE gradient for input x and upstream gradient `grad`.
  T backward(T x, T grad) const { return (!clip_gradient_ || in_range(x)) ? grad : T(0); }

  const QuantParams& params() const { return params_; }
  bool clip_gradient() const { return clip_gradient_; }
  double lower() const { return lower_; }
  double upper() const { return upper_; }

 private:
  QuantParams params_;
  bool clip_gradient_ = false;
  double lower_ = 0;  // exact when |qmin - zero_point| * mult < 2^53
  double upper_ = 0;
};

namespace detail {
inline const QuantParams& channel_params(const std::vector<QuantParams>& params, size_t channels,
                                         size_t c) {
  if (params.size() != 1 && params.size() != channels)
    throw FormatError("fake quantization: " + std::to_string(params.size()) +
                      " parameter entries for a tensor of " + std::to_string(channels) +
                      " channels (allowed: 1 per tensor, or 1 per channel)");
  return params.size() == 1 ? params[0] : params[c];
}
}  // namespace detail

// The forward pass over a row-major [channels, per_channel_len] buffer: y[i] = forward(x[i]) with
// the channel's params (one entry = per tensor). When `pass` is given, pass[i] is 1 where the STE
// lets the gradient through and 0 where clip_gradient zeroes it (always 1 without clip_gradient).
// y may alias x.
template <typename T>
void fake_quant_forward(const std::vector<QuantParams>& params, const T* x, size_t channels,
                        size_t per_channel_len, T* y, uint8_t* pass = nullptr,
                        bool clip_gradient = false, uint64_t* events = nullptr) {
  for (size_t c = 0; c < channels; ++c) {
    const FakeQuantizer<T> fq(detail::channel_params(params, channels, c), clip_gradient);
    for (size_t i = c * per_channel_len, end = i + per_channel_len; i < end; ++i) {
      const T v = x[i];
      if (pass) pass[i] = static_cast<uint8_t>(fq.backward(v, T(1)) != T(0));
      y[i] = fq.forward(v, events);
    }
  }
}

// The backward pass in place: grad[i] = backward(x[i], grad[i]) with the channel's params.
template <typename T>
void fake_quant_backward(const std::vector<QuantParams>& params, const T* x, size_t channels,
                         size_t per_channel_len, T* grad, bool clip_gradient = false) {
  if (!clip_gradient) return;  // the STE passes every gradient unchanged
  for (size_t c = 0; c < channels; ++c) {
    const FakeQuantizer<T> fq(detail::channel_params(params, channels, c), true);
    for (size_t i = c * per_channel_len, end = i + per_channel_len; i < end; ++i)
      grad[i] = fq.backward(x[i], grad[i]);
  }
}

// The backward pass from a mask of fake_quant_forward(): grad[i] = pass[i] ? grad[i] : 0.
template <typename T>
void apply_ste_mask(const uint8_t* pass, T* grad, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (!pass[i]) grad[i] = T(0);
}

}  // namespace ssmsim::quant
