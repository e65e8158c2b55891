// PTQ's separate parts and A's delta form (docs/fixed_point.md 9.2 "Separate parts", 9.3 "Delta
// form"): the real part keeps its calibrated scale, the imaginary part's is the real one times the
// smallest power of two not below its calibrated scale (within 2^+-(30 - b), beyond which the real
// part gives way), a rescaled part's zero point is re-rounded; delta form stores Lambda_bar - 1
// (real parts only); the quantized model's file keeps both and refuses part scales that are not a
// power of two apart.
#include <gtest/gtest.h>

#include <boost/multiprecision/cpp_int.hpp>

#include <algorithm>
#include <cmath>
#include <complex>
#include <random>
#include <string>
#include <vector>

#include "quant/errors.hpp"
#include "quant/precision.hpp"
#include "quant/quantizer.hpp"
#include "ssm_core/checkpoint.hpp"
#include "ssm_core/model.hpp"
#include "ssm_core/qmodel.hpp"
#include "tests/support/qmodel_fixtures.hpp"
#include "tests/support/qreference.hpp"
#include "tests/support/testing.hpp"

using namespace ssmsim;
using boost::multiprecision::cpp_int;
using core::QTensor;
using quant::Component;
using quant::Format;
using quant::Granularity;
using quant::PrecisionConfig;
using quant::QuantizerSpec;
using quant::QuantParams;
using quant::ScaleKind;
using quant::Scheme;

namespace {

PrecisionConfig with(const QuantizerSpec& s, Component c) {
  PrecisionConfig p;
  for (auto k : quant::all_components()) {
    QuantizerSpec d;
    d.bits = k == Component::bias ? 32 : 12;
    p.set_quantized(k, d);
  }
  p.set_quantized(c, s);
  p.set_name("parts");
  p.validate();
  return p;
}

// A scale mult 2^-shift as the exact rational n / d.
void exact(const Format& f, cpp_int& n, cpp_int& d) {
  n = f.scale.mult;
  d = 1;
  if (f.scale.shift >= 0) d = cpp_int(1) << f.scale.shift;
  else n <<= -f.scale.shift;
}
// a <= b, exactly.
bool not_above(const Format& a, const Format& b) {
  cpp_int an, ad, bn, bd;
  exact(a, an, ad);
  exact(b, bn, bd);
  return an * bd <= bn * ad;
}
// f 2^k as a format (the same multiplier, the shift lowered by k).
Format times_pow2(Format f, int k) {
  f.scale.shift -= k;
  return f;
}

// Complex data [channels, n, 2]: per channel, the real parts at magnitude re_mag[c], the
// imaginary at im_mag[c] (uniform in [-m, m], shifted by `offset` of the magnitude for asymmetric
// ranges); a magnitude 0 leaves the part zero.
std::vector<double> complex_data(const std::vector<double>& re_mag, const std::vector<double>& im_mag, size_t n,
                                 double offset, const std::string& seed) {
  auto rng = ssmsim::testing::seeded_rng(seed);
  std::uniform_real_distribution<double> ud(-1.0, 1.0);
  std::vector<double> d;
  for (size_t c = 0; c < re_mag.size(); ++c)
    for (size_t j = 0; j < n; ++j) {
      d.push_back(re_mag[c] * (ud(rng) + offset));
      d.push_back(im_mag[c] * (ud(rng) - offset));
    }
  return d;
}

// Section 9.2 for one tensor quantized with separate parts, against each part's own calibration:
// a part of zeros takes the other's format (zero point 0); the real part keeps its calibrated
// scale r and the imaginary part takes r 2^k, k the smallest integer in [-kmax, kmax] with
// r 2^k >= its calibrated scale, kmax = 30 - b (0 from 30 bits on: every operand fits 32 bits);
// when no such k exists the real part gives way and takes i 2^-kmax. A part whose scale changed
// re-rounds its zero point. The operand is (q - zp) 2^|k| for the coarser part, in the unit of
// the finer.
struct Seen {
  size_t shifted = 0, imag_finer = 0, zp_moved = 0, equal = 0, recalibrated = 0, gave_way = 0;
};
Seen check_parts(const std::vector<double>& data, size_t channels, const QuantizerSpec& spec, const QTensor& t) {
  Seen seen;
  const size_t per = data.size() / channels, n = per / 2;
  EXPECT_TRUE(t.separate_parts);
  EXPECT_EQ(t.params.size(), 2 * channels);
  EXPECT_EQ(t.groups(), channels);
  const int64_t qmax = (int64_t{1} << spec.bits) - 1;
  const int kmax = std::max(0, 30 - spec.bits);
  auto rerounded = [&](const QuantParams& from, const QuantParams& to) {
    return std::clamp<int64_t>(
        static_cast<int64_t>(std::nearbyint(static_cast<double>(from.zero_point) * from.scale() / to.scale())), 0, qmax);
  };
  for (size_t g = 0; g < channels; ++g) {
    SCOPED_TRACE("channel " + std::to_string(g));
    QuantParams cal[2];
    bool zero[2];
    for (int r = 0; r < 2; ++r) {
      std::vector<double> v;
      for (size_t j = 0; j < n; ++j) v.push_back(data[g * per + 2 * j + r]);
      zero[r] = std::all_of(v.begin(), v.end(), [](double x) { return x == 0.0; });
      cal[r] = quant::calibrate(spec, v.data(), 1, n)[0];
    }
    for (int r = 0; r < 2; ++r)
      if (zero[r] && !zero[1 - r]) {
        cal[r] = cal[1 - r];
        cal[r].zero_point = 0;
      }
    int k = -kmax;  // the smallest k in [-kmax, kmax] with r 2^k >= i, exactly
    while (k <= kmax && !not_above(cal[1].format, times_pow2(cal[0].format, k))) ++k;
    const QuantParams &pr = t.params[2 * g], &pi = t.params[2 * g + 1];
    EXPECT_EQ(pr.format.width, pi.format.width);
    EXPECT_EQ(pr.format.is_signed, pi.format.is_signed);
    EXPECT_EQ(pi.rounding, cal[1].rounding);
    EXPECT_EQ(pi.overflow, cal[1].overflow);
    if (k <= kmax) {  // the real part keeps its calibration; the imaginary takes r 2^k
      EXPECT_TRUE(pr == cal[0]) << pr.to_string() << " vs " << cal[0].to_string();
      EXPECT_TRUE(pi.format == times_pow2(pr.format, k)) << pi.to_string();
      EXPECT_EQ(pi.zero_point, rerounded(cal[1], pi));
      seen.zp_moved += pi.zero_point != cal[1].zero_point;
      seen.recalibrated += !(pi.format == cal[1].format);
    } else {  // the real part gives way: i 2^-kmax
      k = kmax;
      ++seen.gave_way;
      EXPECT_TRUE(pi == cal[1]) << pi.to_string() << " vs " << cal[1].to_string();
      EXPECT_TRUE(pr.format == times_pow2(pi.format, -kmax)) << pr.to_string();
      EXPECT_EQ(pr.zero_point, rerounded(cal[0], pr));
      seen.zp_moved += pr.zero_point != cal[0].zero_point;
      seen.recalibrated += !(pr.format == cal[0].format);
    }
    if (spec.scheme == Scheme::Symmetric) {
      EXPECT_EQ(pr.zero_point + pi.zero_point, 0);
    }
    seen.shifted += k != 0;
    seen.imag_finer += k < 0;
    seen.equal += cal[0].format == cal[1].format;
    // the unit (the finer scale) and the operand (q - zp) 2^|k|; every code quantized with its
    // part's parameters
    const int coarse = k >= 0 ? 1 : 0;
    EXPECT_DOUBLE_EQ(t.unit(g), std::min(pr.scale(), pi.scale()));
    for (size_t j = 0; j < n; ++j)
      for (int r = 0; r < 2; ++r) {
        const size_t i = g * per + 2 * j + r;
        const QuantParams& p = t.params[2 * g + r];
        EXPECT_EQ(t.param_index(i), 2 * g + r);
        EXPECT_EQ(t.part_shift(i), r == coarse ? std::abs(k) : 0);
        EXPECT_EQ(t.q[i], quant::quantize(data[i], p)) << "element " << i;
        EXPECT_EQ(t.operand(i), (t.q[i] - p.zero_point) * (int64_t{1} << t.part_shift(i)));
        EXPECT_LT(std::abs(t.operand(i)), int64_t{1} << 31) << "an operand beyond 32 bits";
        if (spec.scheme == Scheme::Symmetric) {  // maxabs: no clipping, within half a step of the part
          EXPECT_LE(std::fabs(static_cast<double>(t.operand(i)) * t.unit(g) - data[i]), 0.5 * p.scale()) << i;
        }
      }
  }
  return seen;
}

}  // namespace

// Per channel: channels whose imaginary parts are 2.3, 1, 1/3.1, 40 and 1e-3 times the real
// ones (so either part is the finer somewhere), symmetric and asymmetric, dyadic and
// power-of-two scales, and an 8-bit multiplier.
TEST(QuantizeParts, TheImaginaryScaleIsTheRealOneTimesTheSmallestPowerOfTwoNotBelowItsCalibration) {
  const std::vector<double> re{0.5, 0.7, 0.31, 0.02, 3.0}, im{1.15, 0.7, 0.1, 0.8, 0.003};
  for (const Scheme scheme : {Scheme::Symmetric, Scheme::Asymmetric})
    for (const ScaleKind sk : {ScaleKind::Dyadic, ScaleKind::Pow2})
      for (const int sb : {16, 8}) {
        if (sk == ScaleKind::Pow2 && sb != 16) continue;
        QuantizerSpec s;
        s.bits = 8;
        s.scheme = scheme;
        s.scale = sk;
        s.scale_bits = sb;
        s.granularity = Granularity::PerChannel;
        s.separate_parts = true;
        const std::string name = quant::to_string(scheme) + "_" + quant::to_string(sk) + std::to_string(sb);
        SCOPED_TRACE(name);
        const std::vector<double> d = complex_data(re, im, 9, scheme == Scheme::Asymmetric ? 0.4 : 0.0, name);
        const QTensor t = core::quantize_tensor(d, {5, 9, 2}, Component::B, with(s, Component::B));
        const Seen seen = check_parts(d, 5, s, t);
        EXPECT_GE(seen.shifted, 3u);
        EXPECT_GE(seen.imag_finer, 2u);
        EXPECT_EQ(seen.gave_way, 0u);
        // a power-of-two calibration is already r 2^k: the imaginary part keeps it, zero point too
        if (scheme == Scheme::Asymmetric && sk == ScaleKind::Dyadic) {
          EXPECT_GT(seen.zp_moved, 0u) << "no zero point re-rounded";
        }
        if (sk == ScaleKind::Pow2) {
          EXPECT_EQ(seen.zp_moved, 0u);
          EXPECT_EQ(seen.recalibrated, 0u);
        }
      }
}

// Per tensor: two quantizers for the whole tensor; equal parts: the same format, k = 0, the real
// part the unit.
TEST(QuantizeParts, PerTensorGivesTwoEntriesAndEqualPartsShareTheirScale) {
  QuantizerSpec s;
  s.bits = 10;
  s.scheme = Scheme::Asymmetric;
  s.separate_parts = true;
  const std::vector<double> d = complex_data({0.2, 0.25, 0.3}, {2.0, 1.5, 0.9}, 6, 0.3, "parts_tensor");
  const QTensor t = core::quantize_tensor(d, {3, 6, 2}, Component::C, with(s, Component::C));
  ASSERT_EQ(t.params.size(), 2u);
  const Seen seen = check_parts(d, 1, s, t);
  EXPECT_EQ(seen.shifted, 1u);
  EXPECT_EQ(t.unit(2), t.params[0].scale());  // any channel: the tensor's unit

  s.scheme = Scheme::Symmetric;
  std::vector<double> same = complex_data({0.4}, {0.4}, 8, 0.0, "parts_same");
  for (size_t j = 0; j < same.size(); j += 2) same[j + 1] = -same[j];  // |re| and |im| alike
  const QTensor e = core::quantize_tensor(same, {1, 8, 2}, Component::A, with(s, Component::A));
  EXPECT_TRUE(e.params[0] == e.params[1]);
  EXPECT_EQ(check_parts(same, 1, s, e).equal, 1u);
  for (size_t i = 0; i < e.size(); ++i) EXPECT_EQ(e.part_shift(i), 0);
}

// A part of zeros takes the other part's format with zero point 0 (not section 6's scale 1 for an
// empty range, which would put it 2^k apart for a large k); its codes and operands are 0.
TEST(QuantizeParts, APartOfZerosTakesTheOtherPartsFormat) {
  for (const Scheme scheme : {Scheme::Symmetric, Scheme::Asymmetric})
    for (const double mag : {0.5, 1e-9}) {
      QuantizerSpec s;
      s.bits = 16;
      s.scheme = scheme;
      s.granularity = Granularity::PerChannel;
      s.separate_parts = true;
      const std::vector<double> d = complex_data({mag, 0.0}, {0.0, mag}, 5, 0.3, "parts_zero");
      const QTensor t = core::quantize_tensor(d, {2, 5, 2}, Component::C, with(s, Component::C));
      check_parts(d, 2, s, t);
      EXPECT_TRUE(t.params[1].format == t.params[0].format);  // channel 0: im zero
      EXPECT_TRUE(t.params[2].format == t.params[3].format);  // channel 1: re zero
      EXPECT_EQ(t.params[1].zero_point, 0);
      EXPECT_EQ(t.params[2].zero_point, 0);
      for (const size_t i : {1, 3, 5, 10, 12}) EXPECT_EQ(t.operand(i), 0) << i;
      for (size_t i = 0; i < t.size(); ++i) EXPECT_EQ(t.part_shift(i), 0) << i;
    }
}

// The part shift is at most 30 - b, so that the operand (q - zp) 2^|k| fits 32 bits: an
// imaginary part far finer than the real one takes r 2^-(30-b) (coarser than its calibration,
// nothing clips); one far coarser makes the real part give way (i 2^-(30-b)); from 30 bits on the
// two parts share one scale. Parts a factor ~1000 apart (|k| = 10) either way round.
TEST(QuantizeParts, TheRealPartGivesWayOnlyBeyondAShiftOfThirtyMinusBits) {
  const std::vector<double> re{0.003, 3.0}, im{3.0, 0.003};
  for (const Scheme scheme : {Scheme::Symmetric, Scheme::Asymmetric})
    for (const int bits : {16, 22, 24, 29, 30, 31, 32}) {
      if (scheme == Scheme::Asymmetric && bits > 30) continue;  // u31, u32 codes leave int32
      QuantizerSpec s;
      s.bits = bits;
      s.scheme = scheme;
      s.granularity = Granularity::PerChannel;
      s.separate_parts = true;
      const std::string name = quant::to_string(scheme) + std::to_string(bits);
      SCOPED_TRACE(name);
      const std::vector<double> d = complex_data(re, im, 6, scheme == Scheme::Asymmetric ? 0.3 : 0.0, name);
      const QTensor t = core::quantize_tensor(d, {2, 6, 2}, Component::B, with(s, Component::B));
      const Seen seen = check_parts(d, 2, s, t);
      EXPECT_EQ(seen.gave_way, bits > 20 ? 1u : 0u) << "channel 0 needs k = 10";
      EXPECT_EQ(seen.imag_finer, bits < 30 ? 1u : 0u) << "channel 1: k < 0";
    }
}

// ---------- delta form ----------

namespace {

core::FloatCheckpoint small_checkpoint(core::LayerType layer, const std::string& seed) {
  core::ModelConfig c;
  c.layer = layer;
  c.d_input = 1;
  c.d_output = 3;
  c.H = 4;
  c.N = 8;
  c.P = 8;
  c.n_layers = 1;
  const core::Model model(c);
  auto rng = ssmsim::testing::seeded_rng(seed);
  const std::vector<double> p = model.init(rng());
  return core::FloatCheckpoint{c, std::vector<float>(p.begin(), p.end()), {}};
}

core::QModel ptq(const core::FloatCheckpoint& ck, const PrecisionConfig& prec, bool stable_a = false) {
  auto rng = ssmsim::testing::seeded_rng("parts_ptq");
  const core::SequenceSet set = ssmsim::testing::random_set(4, 12, rng);
  core::PtqOptions opt;
  opt.calib = 4;
  opt.stable_a = stable_a;
  return core::quantize_ptq(ck, prec, set, opt);
}

// Lambda_bar of layer 0 in double, interleaved (re, im).
std::vector<double> lambda_bar(const core::FloatCheckpoint& ck) {
  const core::Model model(ck.config);
  const std::vector<double> pd(ck.params.begin(), ck.params.end());
  core::Model::Prepared<double> pr;
  model.prepare(pd.data(), pr);
  std::vector<double> out;
  const auto& Lr = ck.config.layer == core::LayerType::S5 ? pr.s5[0].Lr : pr.s4d[0].Lr;
  const auto& Li = ck.config.layer == core::LayerType::S5 ? pr.s5[0].Li : pr.s4d[0].Li;
  for (size_t m = 0; m < Lr.size(); ++m) {
    out.push_back(Lr[m]);
    out.push_back(Li[m]);
  }
  return out;
}

}  // namespace

// Delta form stores D = Lambda_bar - 1: 1 subtracted from every real part, none from the
// imaginary ones; the codes are exactly those of quantizing that tensor (with or without separate
// parts), and the direct form's A is Lambda_bar itself.
TEST(QuantizeParts, DeltaFormSubtractsOneFromTheRealPartsOnly) {
  for (const core::LayerType layer : {core::LayerType::S4D, core::LayerType::S5})
    for (const bool separate : {false, true}) {
      SCOPED_TRACE(std::string(layer == core::LayerType::S5 ? "S5" : "S4D") + (separate ? " separate" : " shared"));
      const core::FloatCheckpoint ck = small_checkpoint(layer, "delta_form");
      const std::vector<double> L = lambda_bar(ck);
      QuantizerSpec s;
      s.bits = 12;
      s.granularity = Granularity::PerChannel;
      s.separate_parts = separate;
      PrecisionConfig direct = with(s, Component::A);
      s.delta = true;
      PrecisionConfig delta = with(s, Component::A);
      const core::QModel qd = ptq(ck, delta), q0 = ptq(ck, direct);
      const QTensor &A = qd.tensor("layers.0.A"), &A0 = q0.tensor("layers.0.A");
      std::vector<double> D = L;
      for (size_t j = 0; j < D.size(); j += 2) D[j] -= 1.0;
      const QTensor want = core::quantize_tensor(D, A.shape, Component::A, delta);
      const QTensor want0 = core::quantize_tensor(L, A0.shape, Component::A, direct);
      EXPECT_EQ(A.q, want.q);
      EXPECT_TRUE(A.params == want.params);
      EXPECT_EQ(A0.q, want0.q);
      EXPECT_EQ(A.separate_parts, separate);
      const size_t per = A.size() / A.channels();
      for (size_t i = 0; i < A.size(); ++i) {
        const size_t c = i / per;
        const double v = static_cast<double>(A.operand(i)) * A.unit(c);
        const double step = A.params[A.param_index(i)].scale();
        EXPECT_LE(std::fabs(v - D[i]), 0.5 * step) << i;
        if (i % 2 == 0) {
          EXPECT_LT(v, 0.0) << "a real part of Lambda_bar - 1 at " << i;
        }
      }
    }
}

// quantize.stable_a on A in delta form (shared or separate parts): every quantized Lambda_bar =
// 1 + operand * unit is inside the unit circle, only states that were not are changed, and the
// count of code moves is in the metadata.
// Stored directly with separate parts it is refused, naming what to change.
TEST(QuantizeParts, StableAPullsDeltaFormPolesInsideTheUnitCircle) {
  for (const bool separate : {false, true}) {
    SCOPED_TRACE(separate ? "separate" : "shared");
    size_t moved_states = 0;
    for (const char* seed : {"stable_a", "stable_a_2", "stable_a_3"}) {
      const core::FloatCheckpoint ck = small_checkpoint(core::LayerType::S4D, seed);
      QuantizerSpec s;
      s.bits = separate ? 2 : 3;  // coarse: rounding puts poles onto or beyond the circle
      // asymmetric on one shared range can leave no negative real code (zero point 0): Lambda_bar = 1
      // then stays, so the shared case is symmetric
      s.scheme = separate ? ssmsim::quant::Scheme::Asymmetric : ssmsim::quant::Scheme::Symmetric;
      s.granularity = Granularity::PerChannel;
      s.separate_parts = separate;
      s.delta = true;
      const PrecisionConfig prec = with(s, Component::A);
      const core::QModel plain = ptq(ck, prec), stable = ptq(ck, prec, true);
      const QTensor &a0 = plain.tensor("layers.0.A"), &a1 = stable.tensor("layers.0.A");
      const size_t per = a1.size() / a1.channels();
      auto mag2 = [&](const QTensor& t, size_t k) {
        const double u = t.unit(2 * k / per);
        const std::complex<double> l(1.0 + static_cast<double>(t.operand(2 * k)) * u,
                                     static_cast<double>(t.operand(2 * k + 1)) * u);
        return std::norm(l);
      };
      size_t moves = 0;
      for (size_t k = 0; k < a1.size() / 2; ++k) {
        EXPECT_LT(mag2(a1, k), 1.0) << "state " << k;
        if (mag2(a0, k) < 1.0) {
          EXPECT_TRUE(a0.q[2 * k] == a1.q[2 * k] && a0.q[2 * k + 1] == a1.q[2 * k + 1]) << "state " << k;
          continue;
        }
        ++moved_states;
        moves += static_cast<size_t>(a0.q[2 * k] - a1.q[2 * k]) +
                 static_cast<size_t>(std::abs(a0.q[2 * k + 1] - a1.q[2 * k + 1]));
      }
      EXPECT_EQ(stable.metadata.at("quantize.stable_a.layers.0.A"), std::to_string(moves));
    }
    EXPECT_GT(moved_states, 0u) << "no pole reached the circle: the test checks nothing";
  }
  QuantizerSpec s;
  s.bits = 8;
  s.separate_parts = true;
  try {
    ptq(small_checkpoint(core::LayerType::S4D, "stable_a"), with(s, Component::A), true);
    ADD_FAILURE() << "no InputError";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("quantize.stable_a"), std::string::npos) << msg;
    EXPECT_NE(msg.find("form: delta"), std::string::npos) << msg;
  }
}

// ---------- the file ----------

// save_qmodel / load_qmodel keep separate_parts, both entries per channel and A's form (in the
// precision), and give the same logits; a file whose part scales are not a power of two apart, or
// with one entry per channel where separate parts need two, is refused naming the tensor.
TEST(QuantizeParts, TheQuantizedModelFileKeepsSeparatePartsAndRefusesScalesNotAPowerOfTwoApart) {
  const core::FloatCheckpoint ck = ssmsim::testing::embedded_checkpoint();
  auto rng = ssmsim::testing::seeded_rng("parts_file");
  const core::SequenceSet set = ssmsim::testing::random_set(8, 40, rng);
  PrecisionConfig prec = with(QuantizerSpec{}, Component::x);
  for (const Component c : {Component::A, Component::B, Component::C}) {
    QuantizerSpec s;
    s.bits = 8;
    s.scheme = c == Component::B ? Scheme::Asymmetric : Scheme::Symmetric;
    s.granularity = c == Component::C ? Granularity::PerTensor : Granularity::PerChannel;
    s.separate_parts = true;
    s.delta = c == Component::A;
    prec.set_quantized(c, s);
  }
  prec.validate();
  core::PtqOptions opt;
  opt.calib = 8;
  const core::QModel q = core::quantize_ptq(ck, prec, set, opt);
  const auto dir = ssmsim::testing::scratch_dir("parts_file");
  core::save_qmodel(dir / "q.safetensors", q);
  const core::QModel back = core::load_qmodel(dir / "q.safetensors");
  EXPECT_TRUE(back.precision == q.precision);
  EXPECT_TRUE(back.precision.spec(Component::A).delta);
  EXPECT_TRUE(back.precision.spec(Component::C).separate_parts);
  ASSERT_EQ(back.tensors.size(), q.tensors.size());
  size_t separate = 0;
  for (const auto& [name, t] : q.tensors) {
    const QTensor& b = back.tensor(name);
    EXPECT_EQ(b.q, t.q) << name;
    EXPECT_TRUE(b.params == t.params) << name;
    EXPECT_EQ(b.separate_parts, t.separate_parts) << name;
    separate += t.separate_parts;
  }
  EXPECT_EQ(separate, 3 * q.config.n_layers);
  core::Chunk ch;
  ch.L = set.length;
  for (size_t l = 0; l < 4; ++l) ch.x[l] = set.input(l);
  quant::SaturationCounters s1, s2;
  const core::QEngine e1(q), e2(back);
  auto w1 = e1.make_workspace(), w2 = e2.make_workspace();
  EXPECT_EQ(e1.run_chunk(ch, *w1, s1).logits, e2.run_chunk(ch, *w2, s2).logits);

  auto refused = [&](const std::string& what, core::QModel bad, const std::vector<std::string>& mentions) {
    SCOPED_TRACE(what);
    core::save_qmodel(dir / "bad.safetensors", bad);
    try {
      core::load_qmodel(dir / "bad.safetensors");
      ADD_FAILURE() << "no InputError";
    } catch (const InputError& e) {
      for (const auto& m : mentions) EXPECT_NE(std::string(e.what()).find(m), std::string::npos) << m << " in " << e.what();
    }
  };
  core::QModel bad = q;
  bad.tensors.at("layers.0.B").params[3].format.scale.mult += 1;  // channel 1's imaginary part
  refused("part scales 3 apart", bad, {"layers.0.B", "not a power of two apart"});
  bad = q;
  bad.tensors.at("layers.0.C").params.pop_back();
  refused("one entry for the tensor", bad, {"layers.0.C", "1 quantizer entries", "separate parts"});
}

// A fixed binary point (frac) gives both parts the one format (k = 0); one that cannot hold the
// data under overflow wrap is refused as with shared parts (the data would wrap silently).
TEST(QuantizeParts, AFixedBinaryPointThatWrapsTheDataIsRefusedWithSeparatePartsToo) {
  QuantizerSpec s;
  s.bits = 8;
  s.frac = 10;  // s8.10 holds |v| <= 0.124
  s.separate_parts = true;
  const std::vector<double> d = complex_data({0.05, 0.05}, {0.1, 0.1}, 4, 0.0, "parts_frac");
  const QTensor ok = core::quantize_tensor(d, {2, 4, 2}, Component::C, with(s, Component::C));
  for (const auto& p : ok.params) EXPECT_TRUE(p.format == Format::fixed(true, 8, 10)) << p.to_string();
  for (size_t i = 0; i < ok.size(); ++i) EXPECT_EQ(ok.part_shift(i), 0);
  s.overflow = quant::Overflow::Wrap;
  const std::vector<double> big = complex_data({0.05, 0.05}, {0.5, 0.1}, 4, 0.0, "parts_frac");
  try {
    core::quantize_tensor(big, {2, 4, 2}, Component::C, with(s, Component::C));
    ADD_FAILURE() << "accepted a binary point that wraps the data";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("overflow: saturate"), std::string::npos) << e.what();
  }
}

// quantize.integer_states runs the integer model (A in delta form, separate parts) with a widened
// state to calibrate it; the model it makes computes what the reference computes.
TEST(QuantizeParts, IntegerStatesCalibrateADeltaFormModelWithSeparateParts) {
  const core::FloatCheckpoint ck = ssmsim::testing::embedded_checkpoint();
  PrecisionConfig prec = with(QuantizerSpec{}, Component::x);
  for (const Component c : {Component::A, Component::B, Component::C}) {
    QuantizerSpec s;
    s.bits = 10;
    s.granularity = Granularity::PerChannel;
    s.separate_parts = true;
    s.delta = c == Component::A;
    prec.set_quantized(c, s);
  }
  prec.validate();
  auto rng = ssmsim::testing::seeded_rng("parts_integer_states");
  const core::SequenceSet set = ssmsim::testing::random_set(8, 30, rng);
  core::PtqOptions opt;
  opt.calib = 8;
  const core::QModel plain = core::quantize_ptq(ck, prec, set, opt);
  opt.integer_states = true;
  const core::QModel q = core::quantize_ptq(ck, prec, set, opt);
  EXPECT_FALSE(q.point("layers.0.x") == plain.point("layers.0.x")) << "the state calibrated on the same values";
  const core::QEngine engine(q);
  auto ws = engine.make_workspace();
  core::Chunk ch;
  ch.L = set.length;
  for (size_t l = 0; l < 3; ++l) ch.x[l] = set.input(l);
  quant::SaturationCounters sat;
  const core::QChunkResult r = engine.run_chunk(ch, *ws, sat);
  const ssmsim::testing::qref::Reference ref(q);
  const size_t classes = q.config.d_output;
  for (size_t l = 0; l < 3; ++l)
    EXPECT_EQ(std::vector<int64_t>(r.logits.begin() + static_cast<std::ptrdiff_t>(l * classes),
                                   r.logits.begin() + static_cast<std::ptrdiff_t>((l + 1) * classes)),
              ref.run(set.input(l), set.length).logits)
        << "lane " << l;
}
