// The integer C-model (QEngine) against a slow, obviously-correct reference written separately from
// the contract (tests/support/qreference.hpp, docs/fixed_point.md section 9): exact equality of the
// logits, the predictions and every intermediate code the workspace exposes, over S4D and S5
// models (conjugate symmetry on and off), pre- and post-norm, LayerNorm and BatchNorm, every mixing
// layer, both poolings, both integer GELUs and precision configs that vary widths, granularity,
// scale kinds, rounding and overflow modes; asymmetric weights (zero points) per tensor and per
// channel, the activation points split from act at their own widths, the sigmoid gate's u<b>.<b-1>,
// and the state operand (stored, static into xo, block floating point with blocks of 1, 3 and a
// whole channel), the activation operands (block floating point on input, u, act and the pooled
// vector, blocks of 1, 3 and the whole vector), and asymmetric activation points (every point read
// and written as its operand q - zp: each component alone at 4..6 bits and all together). A model
// changed in one code, one zero point (of a weight or an activation point) or an operand's width or
// block fails them.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "quant/precision.hpp"
#include "ssm_core/checkpoint.hpp"
#include "ssm_core/model.hpp"
#include "ssm_core/qmodel.hpp"
#include "ssm_core/qsimd.hpp"
#include "ssm_core/qsteps.hpp"
#include "tests/support/qreference.hpp"
#include "tests/support/testing.hpp"

using namespace ssmsim;
namespace qref = ssmsim::testing::qref;
using core::LayerType;
using core::Mixing;
using core::Norm;
using core::Pooling;
using core::QGelu;
using quant::Component;
using quant::Granularity;
using quant::Overflow;
using quant::PrecisionConfig;
using quant::QuantizerSpec;
using quant::Rounding;
using quant::ScaleKind;

namespace {

// ---------- precision configs ----------

QuantizerSpec bits_spec(int bits, ScaleKind scale = ScaleKind::Dyadic) {
  QuantizerSpec s;
  s.bits = bits;
  s.scale = scale;
  return s;
}

// Every component `bits` wide, the bias 32. Power-of-two scales make many ratios of the scaled
// sums powers of two, so that rounding ties occur.
PrecisionConfig uniform(int bits, ScaleKind scale = ScaleKind::Dyadic) {
  PrecisionConfig p;
  for (auto c : quant::all_components()) p.set_quantized(c, bits_spec(c == Component::bias ? 32 : bits, scale));
  p.set_name("all" + std::to_string(bits) + (scale == ScaleKind::Pow2 ? "_pow2" : ""));
  p.validate();
  return p;
}

// Mixed widths: A 12, x 16, B / C 6, act 8, and others in between.
PrecisionConfig mixed() {
  PrecisionConfig p = uniform(16);
  const std::pair<Component, int> w[] = {{Component::A, 12},      {Component::B, 6},        {Component::C, 6},
                                         {Component::D, 8},       {Component::x, 16},       {Component::ssm_in, 10},
                                         {Component::ssm_out, 12}, {Component::encoder, 8}, {Component::decoder, 10},
                                         {Component::mixing, 8},  {Component::act, 8},      {Component::norm, 10}};
  for (const auto& [c, b] : w) p.set_quantized(c, bits_spec(b));
  p.set_name("mixed");
  p.validate();
  return p;
}

// Per-channel weights (encoder, decoder, mixing, A, B, C, D, norm), some with power-of-two scales;
// the decoder's dyadic per-channel scales make the logit rescale round.
PrecisionConfig per_channel() {
  PrecisionConfig p = uniform(12);
  for (auto c : {Component::encoder, Component::decoder, Component::mixing, Component::A, Component::B,
                 Component::C, Component::D, Component::norm}) {
    QuantizerSpec s = bits_spec(c == Component::A ? 14 : 10);
    s.granularity = Granularity::PerChannel;
    if (c == Component::B || c == Component::norm) s.scale = ScaleKind::Pow2;
    if (c == Component::C) s.scale_bits = 8;
    p.set_quantized(c, s);
  }
  // power-of-two activations and state, half_even: ties in the residual and elsewhere
  p.set_quantized(Component::x, bits_spec(14, ScaleKind::Pow2));
  p.set_quantized(Component::act, bits_spec(12, ScaleKind::Pow2));
  p.set_quantized(Component::ssm_in, bits_spec(10, ScaleKind::Pow2));
  p.set_name("per_channel");
  p.validate();
  return p;
}

// Rounding modes other than half_even on the datapath points, with power-of-two scales so that
// ties occur (many scaled-sum ratios are then powers of two), ssm_in narrower than the
// activations so that u = SS{s(h)/s(u)}(h) rounds, a fixed binary point for A, saturate_symmetric
// on some points. Weight rounding modes only change the codes quantize_ptq writes.
PrecisionConfig roundings(Rounding act, Rounding ssm_in, Rounding x, Rounding ssm_out, const std::string& name) {
  PrecisionConfig p = uniform(10, ScaleKind::Pow2);
  auto set = [&](Component c, int bits, Rounding r, Overflow o = Overflow::Saturate) {
    QuantizerSpec s = bits_spec(bits, ScaleKind::Pow2);
    s.rounding = r;
    s.overflow = o;
    p.set_quantized(c, s);
  };
  set(Component::act, 9, act, Overflow::SaturateSymmetric);
  set(Component::ssm_in, 8, ssm_in);
  set(Component::x, 14, x);
  set(Component::ssm_out, 12, ssm_out, Overflow::SaturateSymmetric);
  set(Component::mixing, 8, Rounding::HalfDown);
  set(Component::norm, 10, Rounding::HalfTowardZero);
  set(Component::D, 8, Rounding::Floor, Overflow::SaturateSymmetric);
  QuantizerSpec a = bits_spec(12);
  a.frac = 11;  // |Lambda_bar| < 1: a plain s12.11 binary point
  p.set_quantized(Component::A, a);
  p.set_name(name);
  p.validate();
  return p;
}

// Overflow: act wraps, calibrated on a percentile so that test inputs overflow; x and ssm_out
// clip (percentile calibration) and saturate.
PrecisionConfig overflowing() {
  PrecisionConfig p = uniform(12);
  QuantizerSpec act = bits_spec(10);
  act.overflow = Overflow::Wrap;
  act.calibration = quant::Calibration::Percentile;
  act.percentile = 90;
  p.set_quantized(Component::act, act);
  QuantizerSpec x = bits_spec(12);
  x.calibration = quant::Calibration::Percentile;
  x.percentile = 95;
  p.set_quantized(Component::x, x);
  QuantizerSpec y = bits_spec(12);
  y.calibration = quant::Calibration::Percentile;
  y.percentile = 97;
  y.overflow = Overflow::SaturateSymmetric;
  y.rounding = Rounding::Floor;
  p.set_quantized(Component::ssm_out, y);
  p.set_name("act_wrap");
  p.validate();
  return p;
}

// Asymmetric weights: every weight component (A, B, C, D, encoder, decoder, mixing, norm) with a
// zero point, per tensor or per channel; some with power-of-two scales and other rounding modes.
PrecisionConfig asymmetric(Granularity g, int bits, const std::string& name) {
  PrecisionConfig p = uniform(12);
  for (auto c : {Component::A, Component::B, Component::C, Component::D, Component::encoder, Component::decoder,
                 Component::mixing, Component::norm}) {
    QuantizerSpec s = bits_spec(c == Component::A ? bits + 2 : bits);
    s.scheme = quant::Scheme::Asymmetric;
    s.granularity = g;
    if (c == Component::B || c == Component::norm) s.scale = ScaleKind::Pow2;
    if (c == Component::C) s.rounding = Rounding::HalfUp;
    if (c == Component::D) s.rounding = Rounding::Floor;
    p.set_quantized(c, s);
  }
  p.set_name(name);
  p.validate();
  return p;
}

// The state stored at x_bits, its operand narrowed to op_bits: a static scale into xo (block 0) or
// block floating point with `block` states per exponent, in x's rounding and overflow modes.
PrecisionConfig with_operand(PrecisionConfig p, int x_bits, int op_bits, int block, Rounding r, Overflow o,
                             const std::string& name) {
  QuantizerSpec x = bits_spec(x_bits);
  x.operand_bits = op_bits;
  x.operand_block = block;
  x.rounding = r;
  x.overflow = o;
  p.set_quantized(Component::x, x);
  p.set_name(name);
  p.validate();
  return p;
}

// The points split from act, each at its own width and rounding (act itself 10 bits): the input 8,
// the residual stream 14, the GELU output 9, the GLU 11, the gate 3 (u3.2: sigmoid(v) >= 0.875
// reads 1.0), the pooled vector 7.
PrecisionConfig split_act(PrecisionConfig p, const std::string& name) {
  p.set_quantized(Component::act, bits_spec(10));
  const std::tuple<Component, int, Rounding> w[] = {
      {Component::input, 8, Rounding::HalfUp},     {Component::residual, 14, Rounding::HalfEven},
      {Component::gelu_out, 9, Rounding::Floor},    {Component::glu, 11, Rounding::HalfAway},
      {Component::gate, 3, Rounding::HalfEven},    {Component::pool, 7, Rounding::HalfDown}};
  for (const auto& [c, bits, r] : w) {
    QuantizerSpec s = bits_spec(bits);
    s.rounding = r;
    p.set_quantized(c, s);
  }
  p.set_name(name);
  p.validate();
  return p;
}

// Block floating point on activation points (9.3, "activation operands"): each listed component
// (input, ssm_in, gelu_out, pool) at `bits` with an operand of op_bits, `block` features per
// exponent, in rounding r.
struct ActOperand {
  Component c;
  int bits, op_bits, block;
  Rounding r;
  Overflow o = Overflow::Saturate;
};
PrecisionConfig with_act_operands(PrecisionConfig p, const std::vector<ActOperand>& ops, const std::string& name) {
  for (const ActOperand& a : ops) {
    QuantizerSpec s = bits_spec(a.bits);
    s.operand_bits = a.op_bits;
    s.operand_block = a.block;
    s.rounding = a.r;
    s.overflow = a.o;
    p.set_quantized(a.c, s);
  }
  p.set_name(name);
  p.validate();
  return p;
}

// Separate parts (9.2) on the complex weights A, B and C, `bits` wide (A two more), in `scheme`
// and granularity `g` (B with power-of-two scales, C with half_up), and A in delta form (9.3)
// when `delta`.
PrecisionConfig with_parts(PrecisionConfig p, bool separate, bool delta, quant::Scheme scheme, Granularity g, int bits,
                           const std::string& name) {
  for (const Component c : {Component::A, Component::B, Component::C}) {
    QuantizerSpec s = bits_spec(c == Component::A ? bits + 2 : bits);
    s.scheme = scheme;
    s.granularity = g;
    s.separate_parts = separate;
    s.delta = delta && c == Component::A;
    if (c == Component::B) s.scale = ScaleKind::Pow2;
    if (c == Component::C) s.rounding = Rounding::HalfUp;
    p.set_quantized(c, s);
  }
  p.set_name(name);
  p.validate();
  return p;
}

// ---------- models ----------

struct Case {
  LayerType layer = LayerType::S4D;
  bool conj_sym = true;
  bool prenorm = false;
  Norm norm = Norm::Layer;
  Mixing mixing = Mixing::Glu;
  Pooling pooling = Pooling::Mean;
  QGelu gelu = QGelu::Lut;
  size_t d_input = 1;
  size_t n_layers = 1;
  double amplitude = 1.0;  // of the test inputs, relative to the calibration inputs
};

core::ModelConfig model_config(const Case& k) {
  core::ModelConfig c;
  c.layer = k.layer;
  c.d_input = k.d_input;
  c.d_output = 3 + k.d_input;  // 4 or 5 classes
  c.H = 4 + (k.n_layers - 1);
  c.N = 8;
  c.P = k.conj_sym ? 8 : 6;
  c.J = k.conj_sym ? 1 : 2;
  c.conj_sym = k.conj_sym;
  c.n_layers = k.n_layers;
  c.prenorm = k.prenorm;
  c.norm = k.norm;
  c.mixing = k.mixing;
  c.pooling = k.pooling;
  return c;
}

core::SequenceSet random_set(size_t n, size_t L, size_t d_input, size_t classes, double amplitude,
                             std::mt19937_64& rng) {
  core::SequenceSet s;
  s.n = n;
  s.length = L;
  s.d_input = d_input;
  s.inputs.resize(n * L * d_input);
  std::normal_distribution<double> nd(0.0, amplitude);
  for (auto& v : s.inputs) v = static_cast<float>(nd(rng));
  std::uniform_int_distribution<int32_t> label(0, static_cast<int32_t>(classes) - 1);
  for (size_t i = 0; i < n; ++i) s.labels.push_back(label(rng));
  return s;
}

core::FloatCheckpoint make_checkpoint(const core::ModelConfig& config, std::mt19937_64& rng) {
  const core::Model model(config);
  std::vector<double> p = model.init(rng());
  std::normal_distribution<double> noise(0.0, 0.05);
  for (auto& v : p) v += noise(rng);
  // non-trivial normalisation parameters (and BatchNorm running statistics)
  std::normal_distribution<double> nd(0.0, 1.0);
  std::uniform_real_distribution<double> ud(0.3, 2.5);
  for (const auto& info : model.layout().params()) {
    auto ends = [&](const std::string& s) {
      return info.name.size() >= s.size() && info.name.compare(info.name.size() - s.size(), s.size(), s) == 0;
    };
    const bool is_norm = info.name.rfind("norms.", 0) == 0 || info.name.find(".norm.") != std::string::npos;
    if (!is_norm) continue;
    for (size_t j = 0; j < info.size; ++j) {
      double& v = p[info.offset + j];
      if (ends("running_mean")) v = 0.5 * nd(rng);
      else if (ends("running_var")) v = ud(rng);
      else if (ends("weight")) v = 1.0 + 0.3 * nd(rng);
      else if (ends("bias")) v = 0.3 * nd(rng);
    }
  }
  return core::FloatCheckpoint{config, std::vector<float>(p.begin(), p.end()), {}};
}

// ---------- comparison ----------

// Compares one workspace tensor (chunk layout) of one lane with the reference's [step][feature].
size_t compare(const std::string& what, const core::Seq<int32_t>& got, size_t lane, const qref::Mat& want,
               size_t& reported) {
  if (want.empty()) return 0;
  const size_t L = want.size(), F = want[0].size();
  if (got.L != L || got.F != F) {
    ADD_FAILURE() << what << ": workspace shape [" << got.L << ", " << got.F << "], reference [" << L << ", " << F
                  << "]";
    return 1;
  }
  size_t bad = 0;
  for (size_t t = 0; t < L; ++t)
    for (size_t f = 0; f < F; ++f) {
      const int64_t g = got.at(t, f)[lane];
      if (g == want[t][f]) continue;
      ++bad;
      if (reported < 12) {
        ++reported;
        ADD_FAILURE() << what << " lane " << lane << " step " << t << " feature " << f << ": C-model " << g
                      << ", reference " << want[t][f];
      }
    }
  return bad;
}

// The recorded state of one lane: S4D [H * N/2][L][re, im][lanes], S5 [L][2 P2][lanes]; the
// reference's [step][2 * state + part].
size_t compare_states(const std::string& what, const std::vector<int32_t>& got, bool s5, size_t lane,
                      const qref::Mat& want, size_t& reported) {
  const size_t L = want.size(), S2 = want[0].size();
  if (got.size() != L * S2 * core::kLanes) {
    ADD_FAILURE() << what << ": recorded " << got.size() << " values, reference " << L * S2 * core::kLanes;
    return 1;
  }
  size_t bad = 0;
  for (size_t t = 0; t < L; ++t)
    for (size_t j = 0; j < S2; ++j) {
      const size_t k = j / 2, part = j % 2;
      const size_t at = s5 ? (t * S2 + j) * core::kLanes + lane : ((k * L + t) * 2 + part) * core::kLanes + lane;
      if (got[at] == want[t][j]) continue;
      ++bad;
      if (reported < 12) {
        ++reported;
        ADD_FAILURE() << what << " lane " << lane << " step " << t << " state " << k << (part ? " im" : " re")
                      << ": C-model " << got[at] << ", reference " << want[t][j];
      }
    }
  return bad;
}

struct Built {
  core::ModelConfig config;
  core::QModel q;
  core::SequenceSet test;  // kTest sequences of kSteps steps
  std::vector<float> params;  // the float checkpoint's parameters
};

constexpr size_t kTest = 8;
constexpr size_t kSteps = 21;

Built build(const Case& k, const PrecisionConfig& precision, const std::string& name) {
  Built b;
  b.config = model_config(k);
  auto rng = ssmsim::testing::seeded_rng(name);
  const core::FloatCheckpoint ck = make_checkpoint(b.config, rng);
  b.params = ck.params;
  const core::SequenceSet calib = random_set(16, 28, k.d_input, b.config.d_output, 1.0, rng);
  core::PtqOptions opt;
  opt.calib = 16;
  opt.gelu = k.gelu;
  b.q = core::quantize_ptq(ck, precision, calib, opt);
  // test inputs: other sequences, another length, another amplitude
  b.test = random_set(kTest, kSteps, k.d_input, b.config.d_output, k.amplitude, rng);
  return b;
}

// What the reference's runs reached, so that a test can show it exercised what it names.
struct Reached {
  uint64_t blocks_shifted = 0, blocks_carried = 0;  // block floating point: e > 0, e = e0 + 1
  uint64_t gate_ones = 0;                          // gate codes 2^(b-1): the sigmoid's 1.0
  std::map<std::string, uint64_t> act_shifted, act_carried, act_clamped;  // activation operands, per point
};

// Runs the C-model on one chunk whose valid lanes take the test sequences in order (`padding`:
// the lanes left empty), compares every code with the reference; returns the reference's
// overflow events (valid lanes only) and the C-model's counters. `engine_model` (default: b.q) is
// the model the C-model runs; the reference always runs b.q.
void run_and_compare(const Built& b, const std::vector<size_t>& padding, const std::string& name,
                     std::map<std::string, uint64_t>& ref_events, quant::SaturationCounters& counters,
                     Reached* reached = nullptr, const core::QModel* engine_model = nullptr) {
  const core::ModelConfig& config = b.config;
  core::Chunk chunk;
  chunk.L = kSteps;
  std::vector<size_t> lanes;
  for (size_t l = 0, i = 0; l < core::kLanes; ++l) {
    if (std::find(padding.begin(), padding.end(), l) != padding.end()) continue;
    chunk.x[l] = b.test.input(i);
    chunk.label[l] = b.test.labels[i];
    lanes.push_back(l);
    ++i;
  }
  const core::QEngine engine(engine_model ? *engine_model : b.q);
  auto ws = engine.make_workspace();
  ws->record = true;  // every layer's codes
  const core::QChunkResult r = engine.run_chunk(chunk, *ws, counters);

  const qref::Reference ref(b.q);
  const size_t classes = config.d_output, nl = config.n_layers;
  ASSERT_EQ(r.count, lanes.size());
  ASSERT_EQ(r.predicted.size(), lanes.size());
  ASSERT_EQ(r.logits.size(), lanes.size() * classes);
  ASSERT_EQ(ws->layer_out.size(), nl);
  ASSERT_EQ(ws->layers.size(), nl);
  size_t bad = 0, reported = 0;
  for (size_t i = 0; i < lanes.size(); ++i) {
    const size_t l = lanes[i];
    const qref::Trace tr = ref.run(b.test.input(i), kSteps);
    for (const auto& [point, n] : tr.events) ref_events[point] += n;
    if (reached) {
      reached->blocks_shifted += tr.blocks_shifted;
      reached->blocks_carried += tr.blocks_carried;
      for (const auto& [point, n] : tr.act_shifted) reached->act_shifted[point] += n;
      for (const auto& [point, n] : tr.act_carried) reached->act_carried[point] += n;
      for (const auto& [point, n] : tr.act_clamped) reached->act_clamped[point] += n;
      const int64_t one = int64_t{1} << (b.q.point("gate").format.width - 1);
      for (const qref::LayerTrace& T : tr.layers)
        for (const auto& row : T.gate) reached->gate_ones += static_cast<uint64_t>(std::count(row.begin(), row.end(), one));
    }
    // the logits of the valid lanes one after the other, each lane's classes together (the
    // layout run_chunk produces)
    for (size_t c = 0; c < classes; ++c) {
      const int64_t got = r.logits[i * classes + c];
      if (got != tr.logits[c]) {
        ++bad;
        ADD_FAILURE() << name << ": logit lane " << l << " class " << c << ": C-model " << got << ", reference "
                      << tr.logits[c];
      }
    }
    EXPECT_EQ(r.predicted[i], tr.predicted) << name << ": prediction of lane " << l;
    bad += compare(name + " input", ws->in, l, tr.in, reported);
    bad += compare(name + " encoder.out", ws->h0, l, tr.h0, reported);
    for (size_t j = 0; j < nl; ++j)
      bad += compare(name + " layers." + std::to_string(j) + ".out", ws->layer_out[j], l, tr.layers[j].out, reported);
    // every layer's codes, recorded, and the state at every step
    for (size_t j = 0; j < nl; ++j) {
      const qref::LayerTrace& T = tr.layers[j];
      const core::QWorkspace::Layer& R = ws->layers[j];
      const std::string p = name + " recorded layers." + std::to_string(j) + ".";
      bad += compare(p + "u", R.u, l, T.u, reported);
      bad += compare(p + "y", R.y, l, T.y, reported);
      bad += compare(p + "act", R.act, l, T.act, reported);
      bad += compare(p + "mix", R.mix, l, T.mix, reported);
      bad += compare(p + "mixg", R.mixg, l, T.mixg, reported);
      bad += compare(p + "g", R.g, l, T.g, reported);
      bad += compare(p + "res", R.res, l, T.res, reported);
      bad += compare(p + "out", R.out, l, T.out, reported);
      bad += compare_states(p + "x", R.x, config.layer == LayerType::S5, l, T.x, reported);
    }
    // the last layer's gate, which is not recorded (its other step buffers were swapped into the
    // record, compared above)
    const qref::LayerTrace& Ly = tr.layers.back();
    bad += compare(name + " layers." + std::to_string(nl - 1) + ".gate", ws->gate, l, Ly.gate, reported);
    bad += compare(name + " pooled", ws->pooled, l, {tr.pool}, reported);
  }
  EXPECT_EQ(bad, 0u) << name << ": codes that differ from the reference";
  // not vacuous: the model does not collapse to one constant answer
  std::vector<int64_t> all(r.logits.begin(), r.logits.end());
  std::sort(all.begin(), all.end());
  EXPECT_GT(std::unique(all.begin(), all.end()) - all.begin(), 4) << name << ": the logits are (nearly) constant";
}

void expect_same_events(const std::map<std::string, uint64_t>& ref_events, const quant::SaturationCounters& counters,
                        const std::string& name) {
  for (const auto& [point, n] : ref_events)
    EXPECT_EQ(counters.count(point), n) << name << ": overflow events of " << point;
  for (const auto& [point, n] : counters.all())
    if (!ref_events.count(point)) {
      EXPECT_EQ(n, 0u) << name << ": overflow events of " << point << " (no such point in the reference)";
    }
}

// A chunk with padding lanes in the middle (codes only), then a full chunk (codes and every
// point's overflow events). Also checks the gate's fixed format (9.2: u<b>.<b-1>, b the gate
// component's bits) and that it never saturates (it holds the sigmoid's [0, 1]). Returns what the
// full chunk reached and (in *events) the reference's events of its sequences.
Reached check_case(const Case& k, const PrecisionConfig& precision, const std::string& name,
                   std::map<std::string, uint64_t>* events = nullptr) {
  const Built b = build(k, precision, name);
  const int gb = b.q.precision.spec(Component::gate).bits;
  EXPECT_TRUE(b.q.point("gate").format == quant::Format::fixed(false, gb, gb - 1))
      << name << ": gate format " << b.q.point("gate").format.to_string();
  {
    std::map<std::string, uint64_t> ref_events;
    quant::SaturationCounters counters;
    run_and_compare(b, {2, 6}, name + " (padded)", ref_events, counters);
  }
  Reached reached;
  // every kernel path this CPU has (qsimd.hpp; AVX-512 with its integer forms only, and with the
  // VNNI and double-precision forms): the same codes and events on each
  const core::simd::Path was = core::simd::path();
  const bool was_vnni = core::simd::vnni(), was_f64 = core::simd::f64();
  for (const int variant : {0, 1, 2}) {
    const core::simd::Path path = variant == 0 ? core::simd::Path::Generic : core::simd::Path::Avx512;
    if (!core::simd::force(path) || !core::simd::allow_f64(variant == 2)) continue;
    const bool vnni = core::simd::allow_vnni(variant == 2) && variant == 2;  // (refused without VNNI: off)
    if (!vnni) core::simd::allow_vnni(false);
    const std::string pname =
        name + " [" + core::simd::name(path) + (variant == 2 ? "+f64" : "") + (vnni ? "+vnni" : "") + "]";
    std::map<std::string, uint64_t> ref_events;
    quant::SaturationCounters counters;
    reached = Reached{};
    run_and_compare(b, {}, pname, ref_events, counters, &reached);
    expect_same_events(ref_events, counters, pname);
    EXPECT_EQ(counters.count("gate"), 0u) << pname << ": the gate holds [0, 1]";
    if (events) *events = ref_events;
  }
  core::simd::force(was);
  core::simd::allow_vnni(was_vnni);
  core::simd::allow_f64(was_f64);
  return reached;
}

}  // namespace

// ---------- the reference's own primitives, against the tables of docs/fixed_point.md section 2 ----------

TEST(QModelReference, PrimitivesFollowTheContractTables) {
  using qref::cpp_int;
  using qref::round_rational;
  // v = n / 4 for n in -10..10 against the hardware formulation of section 2 (right shift by 2)
  for (int n = -10; n <= 10; ++n)
    for (Rounding mode : quant::kAllRoundings) {
      const int64_t q = n >> 2, rr = n & 3, h = 2;  // arithmetic shift, remainder, half
      bool add = false;
      switch (mode) {
        case Rounding::Floor: add = false; break;
        case Rounding::HalfUp: add = rr >= h; break;
        case Rounding::HalfDown: add = rr > h; break;
        case Rounding::HalfEven: add = rr > h || (rr == h && (q & 1)); break;
        case Rounding::TowardZero: add = n < 0 && rr != 0; break;
        case Rounding::HalfAway: add = rr > h || (rr == h && q >= 0); break;
        case Rounding::HalfTowardZero: add = rr > h || (rr == h && q < 0); break;
      }
      EXPECT_EQ(round_rational(n, 4, mode), cpp_int(q + add)) << n << "/4 " << quant::to_string(mode);
    }
  const quant::Format s4 = quant::Format::fixed(true, 4, 0), u3 = quant::Format::fixed(false, 3, 0);
  uint64_t ev = 0;
  EXPECT_EQ(qref::fit(9, s4, Overflow::Wrap, &ev), -7);
  EXPECT_EQ(qref::fit(-9, s4, Overflow::Wrap, &ev), 7);
  EXPECT_EQ(qref::fit(-8, s4, Overflow::SaturateSymmetric, &ev), -7);
  EXPECT_EQ(qref::fit(-8, s4, Overflow::Saturate, &ev), -8);
  EXPECT_EQ(qref::fit(-1, u3, Overflow::Wrap, &ev), 7);
  EXPECT_EQ(qref::fit(-1, u3, Overflow::SaturateSymmetric, &ev), 0);
  EXPECT_EQ(qref::fit(8, u3, Overflow::Saturate, &ev), 7);
  EXPECT_EQ(ev, 6u);
  for (int v : {0, 1, 2, 3, 4, 15, 16, 17, 99, 100})
    EXPECT_EQ(qref::isqrt(v), cpp_int(static_cast<int>(std::floor(std::sqrt(v))))) << v;
  const cpp_int big = (cpp_int(1) << 125) + 12345;
  const cpp_int s = qref::isqrt(big);
  EXPECT_TRUE(s * s <= big && (s + 1) * (s + 1) > big);
  // a ratio constant has a 31-bit multiplier, also when the rounding carries
  const auto c1 = qref::ratio_constant(0.75, 31), c2 = qref::ratio_constant(std::nextafter(1.0, 0.0), 31);
  EXPECT_EQ(c1.K, cpp_int(3) << 29);
  EXPECT_EQ(c1.S, 31);
  EXPECT_EQ(c2.K, cpp_int(1) << 30);
  EXPECT_EQ(c2.S, 30);
  // narrower: 0.75 is 3/4 at 2 bits, 0.7 is 11/16 at 4 bits; shift-only (1 bit) rounds to a power
  // of two: 0.7 * 2 = 1.4 -> 1/2, and 0.75 * 2 = 1.5 -> 2 carries, so 0.75 -> 1/1
  EXPECT_EQ(qref::ratio_constant(0.75, 2).K, 3);
  EXPECT_EQ(qref::ratio_constant(0.75, 2).S, 2);
  EXPECT_EQ(qref::ratio_constant(0.7, 4).K, 11);
  EXPECT_EQ(qref::ratio_constant(0.7, 4).S, 4);
  EXPECT_EQ(qref::ratio_constant(0.7, 1).K, 1);
  EXPECT_EQ(qref::ratio_constant(0.7, 1).S, 1);
  EXPECT_EQ(qref::ratio_constant(0.75, 1).K, 1);
  EXPECT_EQ(qref::ratio_constant(0.75, 1).S, 0);
}

// ---------- the C-model against the reference ----------

TEST(QModelReference, S4dPostLayerNormGluMeanLutAll16) {
  Case k;
  k.n_layers = 2;
  check_case(k, uniform(16), "s4d_post_ln_glu_mean_lut_16");
}

// No normalisation (the S4D paper's model): u rescaled from h, the layer's output is res.
namespace {

// Every component `bits` wide, the state in rounding r and overflow o, calibrated to clip (its
// 90th percentile): the state overflows its range.
PrecisionConfig overflowing_state(int bits, Rounding r, Overflow o) {
  PrecisionConfig p = uniform(bits);
  QuantizerSpec x = bits_spec(bits);
  x.rounding = r;
  x.overflow = o;
  x.calibration = quant::Calibration::Percentile;
  x.percentile = 90.0;
  p.set_quantized(Component::x, x);
  return p;
}

}  // namespace

// The state update's AVX-512 kernels (qsimd.hpp), S4D and S5, under every rounding and overflow
// mode of an 8-bit state that overflows (a clipping calibration), with A in delta form and
// separate asymmetric parts on every other case: the bounds select those kernels (narrow32), and
// check_case compares every kernel path with the reference, codes and events.
TEST(QModelReference, StateKernelsUnderEveryRoundingAndOverflow) {
  const Rounding rs[] = {Rounding::Floor,    Rounding::TowardZero, Rounding::HalfUp,        Rounding::HalfDown,
                         Rounding::HalfEven, Rounding::HalfAway,   Rounding::HalfTowardZero};
  for (const LayerType layer : {LayerType::S4D, LayerType::S5}) {
    int i = 0;
    for (const Rounding r : rs)
      for (const Overflow o : {Overflow::Saturate, Overflow::SaturateSymmetric, Overflow::Wrap}) {
        const std::string name =
            std::string(layer == LayerType::S5 ? "s5" : "s4d") + "_state_kernels_" + std::to_string(i);
        const bool delta = i++ % 2 == 1;
        PrecisionConfig p = overflowing_state(8, r, o);
        if (delta) p = with_parts(p, true, true, quant::Scheme::Asymmetric, Granularity::PerChannel, 8, name);
        Case k;
        k.layer = layer;
        const core::QEngine engine(build(k, p, name).q);
        EXPECT_TRUE(engine.consts().layers[0].narrow32) << name;
        EXPECT_EQ(engine.consts().layers[0].delta, delta) << name;
        std::map<std::string, uint64_t> events;
        check_case(k, p, name, &events);
        EXPECT_GT(events["layers.0.x"], 0u) << name << ": the state overflows";
      }
  }
}

// The S4D kernel's split form for sums beyond 64 bits (qsimd.hpp's s4d_states_fast): A and x at 16
// bits with the 31-bit multipliers (not Ly.fast), under every rounding and overflow mode of a
// state that overflows, A in delta form (asymmetric, per channel) on every other case: the bounds
// select it (split64), and check_case compares every path with the reference. Where the terms
// are too wide for it (a 32-bit state; delta form's separate parts, whose A operands reach 2^20)
// the 128-bit form runs, with the same bits.
TEST(QModelReference, SplitStateKernelUnderEveryRoundingAndOverflow) {
  const Rounding rs[] = {Rounding::Floor,    Rounding::TowardZero, Rounding::HalfUp,        Rounding::HalfDown,
                         Rounding::HalfEven, Rounding::HalfAway,   Rounding::HalfTowardZero};
  int i = 0;
  for (const Rounding r : rs)
    for (const Overflow o : {Overflow::Saturate, Overflow::SaturateSymmetric, Overflow::Wrap}) {
      const std::string name = "s4d_split_kernel_" + std::to_string(i);
      const bool delta = i++ % 2 == 1;
      PrecisionConfig p = overflowing_state(16, r, o);
      if (delta) p = with_parts(p, false, true, quant::Scheme::Asymmetric, Granularity::PerChannel, 14, name);
      Case k;
      const core::QEngine engine(build(k, p, name).q);
      const core::QLayerConsts& Ly = engine.consts().layers[0];
      EXPECT_FALSE(Ly.fast) << name;
      EXPECT_TRUE(Ly.split64) << name;
      EXPECT_EQ(Ly.delta, delta) << name;
      std::map<std::string, uint64_t> events;
      check_case(k, p, name, &events);
      EXPECT_GT(events["layers.0.x"], 0u) << name << ": the state overflows";
    }
  PrecisionConfig x32 = uniform(16);
  x32.set_quantized(Component::x, bits_spec(32));
  x32.set_name("s4d_split_kernel_x32");
  const PrecisionConfig parts =
      with_parts(uniform(16), true, true, quant::Scheme::Asymmetric, Granularity::PerChannel, 14, "s4d_split_parts");
  for (const PrecisionConfig& p : {x32, parts}) {
    Case k;
    const core::QEngine engine(build(k, p, p.name()).q);
    EXPECT_FALSE(engine.consts().layers[0].fast || engine.consts().layers[0].split64) << p.name();
    check_case(k, p, p.name());
  }
}

// The S5 block-operand kernel (qsimd.hpp's s5_block_operand_avx512: split 64-bit sums, 16-bit
// products) under every rounding and overflow mode: a clipped state of 32, 24 or 16 bits that
// overflows, operands of 8, 6 or 12 bits, one block for all states or blocks of 3, 2 and 1 (odd
// blocks take the padded layout), A in delta form on every other case, with and without
// conjugate symmetry. The bounds select the kernel (block16); check_case compares every path.
TEST(QModelReference, S5BlockOperandKernelUnderEveryRoundingAndOverflow) {
  const Rounding rs[] = {Rounding::Floor,    Rounding::TowardZero, Rounding::HalfUp,        Rounding::HalfDown,
                         Rounding::HalfEven, Rounding::HalfAway,   Rounding::HalfTowardZero};
  const int x_bits[] = {32, 24, 16}, op_bits[] = {8, 6, 12}, blocks[] = {4096, 3, 2, 1};
  int i = 0;
  for (const Rounding r : rs)
    for (const Overflow o : {Overflow::Saturate, Overflow::SaturateSymmetric, Overflow::Wrap}) {
      const std::string name = "s5_block_kernel_" + std::to_string(i);
      const bool delta = i % 2 == 1;
      QuantizerSpec x = bits_spec(x_bits[i % 3]);
      x.operand_bits = op_bits[(i / 3) % 3];
      x.operand_block = blocks[i % 4];
      x.rounding = r;
      x.overflow = o;
      x.calibration = quant::Calibration::Percentile;  // clips: the state overflows its range
      x.percentile = 90.0;
      PrecisionConfig p = uniform(8);
      p.set_quantized(Component::x, x);
      p.set_name(name);
      if (delta) p = with_parts(p, false, true, quant::Scheme::Asymmetric, Granularity::PerChannel, 8, name);
      Case k;
      k.layer = LayerType::S5;
      k.conj_sym = i % 3 != 2;
      k.prenorm = i % 2 == 0;
      const core::QEngine engine(build(k, p, name).q);
      EXPECT_TRUE(engine.consts().layers[0].block16) << name;
      EXPECT_EQ(engine.consts().layers[0].delta, delta) << name;
      std::map<std::string, uint64_t> events;
      const Reached got = check_case(k, p, name, &events);
      EXPECT_GT(events["layers.0.x"], 0u) << name << ": the state overflows";
      EXPECT_GT(got.blocks_shifted, 0u) << name;
      ++i;
    }
}

// The normalisation kernels (qsimd.hpp's norm_avx512: the LayerNorm's d rs gamma in split form,
// BatchNorm's scaled sums) under every rounding mode of every point, LayerNorm and BatchNorm,
// before and after the layer, 8 and 16 bits (16-bit residuals make the LayerNorm's sum of
// squares take its 128-bit form): check_case compares every path with the reference.
TEST(QModelReference, NormKernelsUnderEveryRounding) {
  int i = 0;
  for (const Rounding r : quant::kAllRoundings)
    for (const Norm n : {Norm::Layer, Norm::Batch}) {
      const std::string name = std::string("norm_kernels_") + (n == Norm::Layer ? "ln_" : "bn_") + std::to_string(i);
      PrecisionConfig p = uniform(i % 2 == 0 ? 8 : 16);
      for (const Component c : quant::all_components()) {
        if (p.is_float(c)) continue;
        QuantizerSpec spec = p.spec(c);
        spec.rounding = r;
        p.set_quantized(c, spec);
      }
      p.set_name(name);
      Case k;
      k.norm = n;
      k.prenorm = i % 3 == 0;
      k.layer = i % 4 == 1 ? LayerType::S5 : LayerType::S4D;
      check_case(k, p, name);
      ++i;
    }
}

// Narrower rescale multipliers (precision.rescale_bits, docs/fixed_point.md 9.1): every scaled sum
// of the C-model with K of 16, 12, 8 and 1 bit (shift-only) against the reference computing its
// constants at the same width; S4D (post LayerNorm) and S5 (pre LayerNorm, BatchNorm on the
// shift-only case), on every kernel path.
TEST(QModelReference, NarrowRescaleMultipliers) {
  for (const int rb : {16, 12, 8, 1})
    for (const LayerType layer : {LayerType::S4D, LayerType::S5}) {
      const std::string name = std::string(layer == LayerType::S5 ? "s5" : "s4d") + "_rescale" + std::to_string(rb);
      PrecisionConfig p = uniform(8);
      p.set_rescale_bits(rb);
      Case k;
      k.layer = layer;
      k.prenorm = layer == LayerType::S5;
      if (rb == 1) k.norm = Norm::Batch;
      const core::QEngine engine(build(k, p, name).q);
      for (const quant::ScaledSum& s : engine.consts().layers[0].xupd)
        for (const int64_t K : s.K()) {
          ASSERT_NE(K, 0) << name;
          EXPECT_EQ(64 - __builtin_clzll(static_cast<uint64_t>(std::abs(K))), rb) << name;
        }
      // the S4D kernel's one-multiply terms (qsimd.hpp) wherever the 8-bit codes times K fit 32 bits
      if (layer == LayerType::S4D && rb <= 16) EXPECT_TRUE(engine.consts().layers[0].fused32) << name;
      check_case(k, p, name);
    }
  // the same with A in delta form (separate asymmetric parts: the stored state's term too), and
  // the 31-bit default, which does not fit
  for (const int rb : {12, 31}) {
    const std::string name = "s4d_rescale_delta" + std::to_string(rb);
    PrecisionConfig p = with_parts(uniform(8), true, true, quant::Scheme::Asymmetric, Granularity::PerChannel, 6, name);
    p.set_rescale_bits(rb);
    Case k;
    const core::QEngine engine(build(k, p, name).q);
    EXPECT_TRUE(engine.consts().layers[0].narrow32) << name;
    EXPECT_TRUE(engine.consts().layers[0].delta) << name;
    EXPECT_EQ(engine.consts().layers[0].fused32, rb == 12) << name;
    check_case(k, p, name);
  }
}

TEST(QModelReference, S4dNoNormGluMeanLutAll8TwoLayers) {
  Case k;
  k.norm = Norm::None;
  k.n_layers = 2;
  check_case(k, uniform(8), "s4d_no_norm_glu_mean_lut_8");
}

TEST(QModelReference, S5ConjSymNoNormPrenormHalfGlu1LastHardMixed) {
  Case k;
  k.layer = LayerType::S5;
  k.norm = Norm::None;
  k.prenorm = true;  // no effect without a normalisation
  k.mixing = Mixing::HalfGlu1;
  k.pooling = Pooling::Last;
  k.gelu = QGelu::Hard;
  check_case(k, mixed(), "s5_no_norm_hglu1_last_hard_mixed");
}

TEST(QModelReference, S4dPreLayerNormGeluLastHardAll8) {
  Case k;
  k.prenorm = true;
  k.mixing = Mixing::Gelu;
  k.pooling = Pooling::Last;
  k.gelu = QGelu::Hard;
  k.d_input = 2;
  k.n_layers = 2;
  check_case(k, uniform(8), "s4d_pre_ln_gelu_last_hard_8");
}

TEST(QModelReference, S4dPostBatchNormHalfGlu1MeanLutMixed) {
  Case k;
  k.norm = Norm::Batch;
  k.mixing = Mixing::HalfGlu1;
  check_case(k, mixed(), "s4d_post_bn_hglu1_mean_lut_mixed");
}

TEST(QModelReference, S4dPreBatchNormHalfGlu2MeanHardPerChannel) {
  Case k;
  k.prenorm = true;
  k.norm = Norm::Batch;
  k.mixing = Mixing::HalfGlu2;
  k.gelu = QGelu::Hard;
  k.d_input = 2;
  check_case(k, per_channel(), "s4d_pre_bn_hglu2_mean_hard_perch");
}

TEST(QModelReference, S4dPostLayerNormHalfGlu2LastHardRoundings) {
  Case k;
  k.mixing = Mixing::HalfGlu2;
  k.pooling = Pooling::Last;
  k.gelu = QGelu::Hard;
  k.d_input = 2;
  check_case(k, roundings(Rounding::HalfAway, Rounding::TowardZero, Rounding::Floor, Rounding::HalfUp, "round1"),
             "s4d_post_ln_hglu2_last_hard_round");
}

TEST(QModelReference, S4dPostLayerNormGluMeanLutActWrap) {
  Case k;
  k.amplitude = 2.5;
  check_case(k, overflowing(), "s4d_post_ln_glu_mean_lut_wrap");
}

TEST(QModelReference, S5ConjSymPostLayerNormHalfGlu1MeanLutAll16) {
  Case k;
  k.layer = LayerType::S5;
  k.mixing = Mixing::HalfGlu1;
  check_case(k, uniform(16), "s5c_post_ln_hglu1_mean_lut_16");
}

TEST(QModelReference, S5NoConjPreLayerNormHalfGlu2LastLutMixed) {
  Case k;
  k.layer = LayerType::S5;
  k.conj_sym = false;
  k.prenorm = true;
  k.mixing = Mixing::HalfGlu2;
  k.pooling = Pooling::Last;
  k.n_layers = 2;
  check_case(k, mixed(), "s5n_pre_ln_hglu2_last_lut_mixed");
}

TEST(QModelReference, S5ConjSymPostBatchNormGluMeanHardRoundings) {
  Case k;
  k.layer = LayerType::S5;
  k.norm = Norm::Batch;
  k.gelu = QGelu::Hard;
  check_case(k, roundings(Rounding::HalfTowardZero, Rounding::HalfDown, Rounding::TowardZero, Rounding::Floor, "round2"),
             "s5c_post_bn_glu_mean_hard_round");
}

TEST(QModelReference, S5NoConjPostLayerNormGluLastHardPerChannel) {
  Case k;
  k.layer = LayerType::S5;
  k.conj_sym = false;
  k.pooling = Pooling::Last;
  k.gelu = QGelu::Hard;
  k.d_input = 2;
  check_case(k, per_channel(), "s5n_post_ln_glu_last_hard_perch");
}

TEST(QModelReference, S5ConjSymPreBatchNormGeluMeanLutActWrap) {
  Case k;
  k.layer = LayerType::S5;
  k.prenorm = true;
  k.norm = Norm::Batch;
  k.mixing = Mixing::Gelu;
  k.amplitude = 2.5;
  k.n_layers = 2;
  check_case(k, overflowing(), "s5c_pre_bn_gelu_mean_lut_wrap");
}

// Overflow events are those of the sequences: a chunk's padding lanes (no input) add none, so a
// set's counts do not depend on how it is cut into chunks. The same six sequences, with two
// padding lanes in the chunk, against the reference's events of the six.
TEST(QModelReference, PaddingLanesAddNoOverflowEvents) {
  for (const int which : {0, 1, 2}) {
    Case k;
    k.amplitude = which > 0 ? 2.5 : 1.0;
    const std::string name = which == 0 ? "pad_events_16" : which == 1 ? "pad_events_wrap" : "pad_events_xo";
    QuantizerSpec x = bits_spec(14);  // the static operand that saturates (events on layers.0.xo)
    x.operand_bits = 6;
    x.calibration = quant::Calibration::Mse;
    PrecisionConfig xo = uniform(12);
    xo.set_quantized(Component::x, x);
    xo.validate();
    const Built b = build(k, which == 0 ? uniform(16) : which == 1 ? overflowing() : xo, name);
    std::map<std::string, uint64_t> ref_events;
    quant::SaturationCounters counters;
    run_and_compare(b, {2, 6}, name, ref_events, counters);
    expect_same_events(ref_events, counters, name);
    if (which == 2) {
      EXPECT_GT(ref_events["layers.0.xo"], 0u) << name;
    }
  }
}

// ---------- zero points, the split activation points, the state operand ----------

TEST(QModelReference, S4dPostLayerNormGluMeanLutAsymmetricPerTensor) {
  Case k;
  k.n_layers = 2;
  check_case(k, asymmetric(Granularity::PerTensor, 8, "asym_tensor8"), "s4d_post_ln_glu_mean_lut_asym_t");
}

TEST(QModelReference, S4dPreBatchNormHalfGlu1MeanHardAsymmetricPerChannel) {
  Case k;
  k.prenorm = true;
  k.norm = Norm::Batch;
  k.mixing = Mixing::HalfGlu1;
  k.gelu = QGelu::Hard;
  k.d_input = 2;
  check_case(k, asymmetric(Granularity::PerChannel, 7, "asym_channel7"), "s4d_pre_bn_hglu1_mean_hard_asym_c");
}

TEST(QModelReference, S5ConjSymPostLayerNormGluMeanLutAsymmetricPerChannel) {
  Case k;
  k.layer = LayerType::S5;
  k.d_input = 2;
  check_case(k, asymmetric(Granularity::PerChannel, 8, "asym_channel8"), "s5c_post_ln_glu_mean_lut_asym_c");
}

TEST(QModelReference, S5NoConjPreBatchNormHalfGlu2LastHardAsymmetricPerTensor) {
  Case k;
  k.layer = LayerType::S5;
  k.conj_sym = false;
  k.prenorm = true;
  k.norm = Norm::Batch;
  k.mixing = Mixing::HalfGlu2;
  k.pooling = Pooling::Last;
  k.gelu = QGelu::Hard;
  check_case(k, asymmetric(Granularity::PerTensor, 6, "asym_tensor6"), "s5n_pre_bn_hglu2_last_hard_asym_t");
}

// Every point split from act at its own width and rounding.
TEST(QModelReference, S4dPostLayerNormGluMeanLutSplitActivationPoints) {
  Case k;
  k.amplitude = 2.5;
  check_case(k, split_act(uniform(12), "split"), "s4d_post_ln_glu_mean_lut_split");
}

// The sigmoid's 1.0 is a gate code (2^(b-1) in u<b>.<b-1>) and the gate never saturates. The
// random models' gate pre-activations stay below 1.1, so the mixing weight's unit and the mixg
// point's are made 16 times coarser: the same codes, 16 times the real values (the model stays a
// valid one: both the C-model and the reference run it as stored).
TEST(QModelReference, TheGateHoldsOneAndNeverSaturates) {
  for (const int bits : {3, 8}) {
    Case k;
    k.mixing = Mixing::HalfGlu1;
    k.prenorm = bits == 8;
    const std::string name = "gate_one_" + std::to_string(bits);
    PrecisionConfig p = uniform(12);
    p.set_quantized(Component::gate, bits_spec(bits));
    p.validate();
    Built b = build(k, p, name);
    EXPECT_TRUE(b.q.point("gate").format == quant::Format::fixed(false, bits, bits - 1));
    b.q.points.at("layers.0.mixg")[0].format.scale.shift -= 4;
    b.q.tensors.at("layers.0.mix.weight").params[0].format.scale.shift -= 4;
    std::map<std::string, uint64_t> ref_events;
    quant::SaturationCounters counters;
    Reached r;
    run_and_compare(b, {}, name, ref_events, counters, &r);
    expect_same_events(ref_events, counters, name);
    EXPECT_GT(r.gate_ones, 0u) << name << ": no gate reached 1.0";
    EXPECT_EQ(counters.count("gate"), 0u) << name;
  }
}

TEST(QModelReference, S5ConjSymPreLayerNormHalfGlu1LastHardSplitActivationPointsAsymmetric) {
  Case k;
  k.layer = LayerType::S5;
  k.prenorm = true;
  k.mixing = Mixing::HalfGlu1;
  k.pooling = Pooling::Last;
  k.gelu = QGelu::Hard;
  k.n_layers = 2;
  check_case(k, split_act(asymmetric(Granularity::PerChannel, 8, "x"), "split_asym"), "s5c_pre_ln_hglu1_last_split");
}

// The static operand: the 16-bit state narrowed to 8 bits into xo (its own calibrated scale).
TEST(QModelReference, S4dPostLayerNormGluMeanLutStaticOperand) {
  Case k;
  k.n_layers = 2;
  check_case(k, with_operand(uniform(12), 16, 8, 0, Rounding::HalfEven, Overflow::Saturate, "static8"),
             "s4d_post_ln_glu_mean_lut_static");
}

// xo calibrated by MSE (which clips at 6 bits) and test inputs 2.5 times the calibration's: xo
// saturates, its events count on layers.i.xo; with half_up on the state and asymmetric weights.
TEST(QModelReference, S5ConjSymPostLayerNormHalfGlu2MeanLutStaticOperandSaturating) {
  Case k;
  k.layer = LayerType::S5;
  k.mixing = Mixing::HalfGlu2;
  k.amplitude = 2.5;
  PrecisionConfig p = asymmetric(Granularity::PerTensor, 8, "x");
  QuantizerSpec x = bits_spec(14);
  x.operand_bits = 6;
  x.rounding = Rounding::HalfUp;
  x.calibration = quant::Calibration::Mse;
  p.set_quantized(Component::x, x);
  p.set_name("static6_clip");
  p.validate();
  std::map<std::string, uint64_t> events;
  check_case(k, p, "s5c_post_ln_hglu2_mean_lut_static_sat", &events);
  EXPECT_GT(events["layers.0.xo"], 0u) << "xo never saturated";
}

// Block floating point with blocks of 1 state, of 3 (N/2 = 4: the channel's last block has one
// state) and of a whole channel (4, and 4096: cut at the channel's end); rounding modes floor,
// half_up, half_even, half_down.
TEST(QModelReference, S4dBlockFloatingPointOperandBlocksOfOneThreeAndAChannel) {
  const std::tuple<int, int, Rounding, const char*> cases[] = {{1, 6, Rounding::Floor, "blk1"},
                                                               {3, 5, Rounding::HalfUp, "blk3"},
                                                               {4, 7, Rounding::HalfEven, "blk4"},
                                                               {4096, 4, Rounding::HalfDown, "blk4096"}};
  for (const auto& [block, bits, r, name] : cases) {
    Case k;
    k.n_layers = 2;
    const PrecisionConfig p = with_operand(uniform(12), 16, bits, block, r, Overflow::Saturate, name);
    // the bounds take the AVX-512 block-operand kernel (qsimd.hpp) where the CPU has it
    EXPECT_TRUE(core::QEngine(build(k, p, name).q).consts().layers[0].narrow32) << name;
    const Reached got = check_case(k, p, std::string("s4d_post_ln_glu_mean_lut_") + name);
    EXPECT_GT(got.blocks_shifted, 0u) << name << ": no block exponent above 0";
    // floor never rounds the maximum up: e is e0 there; the other modes reach e0 + 1
    if (r == Rounding::Floor) {
      EXPECT_EQ(got.blocks_carried, 0u) << name;
    } else {
      EXPECT_GT(got.blocks_carried, 0u) << name << ": no block's maximum carried into the sign bit";
    }
  }
}

TEST(QModelReference, S4dPreBatchNormHalfGlu1LastHardBlockOperandAsymmetricPerChannel) {
  Case k;
  k.prenorm = true;
  k.norm = Norm::Batch;
  k.mixing = Mixing::HalfGlu1;
  k.pooling = Pooling::Last;
  k.gelu = QGelu::Hard;
  k.d_input = 2;
  const Reached got = check_case(
      k,
      with_operand(asymmetric(Granularity::PerChannel, 8, "x"), 14, 6, 3, Rounding::HalfUp, Overflow::Saturate,
                   "blk3_asym"),
      "s4d_pre_bn_hglu1_last_hard_blk3_asym");
  EXPECT_GT(got.blocks_shifted, 0u);
}

// S5: blocks over the layer's P2 states (P/2 = 4 with conjugate symmetry, P = 6 without: blocks of
// 4 leave a last block of 2).
TEST(QModelReference, S5BlockFloatingPointOperandBlocksOfOneThreeAndAll) {
  const std::tuple<bool, int, int, Rounding, const char*> cases[] = {
      {true, 1, 6, Rounding::HalfUp, "s5c_blk1"},
      {false, 3, 5, Rounding::Floor, "s5n_blk3"},
      {true, 4, 7, Rounding::HalfEven, "s5c_blk_all"},
      {false, 4, 6, Rounding::HalfAway, "s5n_blk4"}};
  for (const auto& [conj, block, bits, r, name] : cases) {
    Case k;
    k.layer = LayerType::S5;
    k.conj_sym = conj;
    k.prenorm = !conj;
    k.mixing = conj ? Mixing::Glu : Mixing::HalfGlu1;
    const Reached got = check_case(k, with_operand(uniform(12), 16, bits, block, r, Overflow::Saturate, name), name);
    EXPECT_GT(got.blocks_shifted, 0u) << name;
  }
}

// A 24-bit state with a 16-bit operand and 16-bit weights: the state updates and outputs exceed
// 64-bit arithmetic (QLayerConsts::fast is off), the C-model's 128-bit path against the reference.
TEST(QModelReference, WideStateAndOperandTakeTheWidePath) {
  const std::tuple<LayerType, int, const char*> cases[] = {{LayerType::S4D, 3, "s4d_wide_blk3"},
                                                           {LayerType::S4D, 0, "s4d_wide_static"},
                                                           {LayerType::S5, 2, "s5_wide_blk2"},
                                                           {LayerType::S5, 0, "s5_wide_static"}};
  for (const auto& [layer, block, name] : cases) {
    Case k;
    k.layer = layer;
    const PrecisionConfig p = with_operand(uniform(16), 24, 16, block, Rounding::HalfEven, Overflow::Saturate, name);
    const Built b = build(k, p, name);
    EXPECT_FALSE(core::QEngine(b.q).consts().layers[0].fast) << name << ": the 64-bit path";
    check_case(k, p, name);
  }
}

// Floor (and half_down) can round a negative part to -2^(b-1), which saturate_symmetric clamps:
// the one case where a block operand overflows; its events count on layers.i.xo. Wrap keeps it.
TEST(QModelReference, BlockOperandUnderFloorAndSaturateSymmetricCountsItsClampsOnXo) {
  for (const Overflow o : {Overflow::SaturateSymmetric, Overflow::Wrap, Overflow::Saturate}) {
    Case k;
    const std::string name = "s4d_blk_floor_" + quant::to_string(o);
    std::map<std::string, uint64_t> events;
    check_case(k, with_operand(uniform(12), 16, 4, 2, Rounding::Floor, o, name), name, &events);
    if (o == Overflow::SaturateSymmetric) {
      EXPECT_GT(events["layers.0.xo"], 0u) << name;
    } else {
      EXPECT_EQ(events["layers.0.xo"], 0u) << name;
    }
  }
}

// ---------- activation operands (9.3): block floating point on input, u, act and the pooled vector ----------

// Every narrowed point reached a block exponent above 0 (the narrowing is not vacuous).
void expect_shifted(const Reached& r, const std::vector<std::string>& points, const std::string& name) {
  for (const std::string& p : points) {
    const auto it = r.act_shifted.find(p);
    EXPECT_TRUE(it != r.act_shifted.end() && it->second > 0) << name << ": no block of " << p << " with e > 0";
  }
}

// Blocks of one feature on each of the four points, two layers (u and act of both narrowed).
TEST(QModelReference, S4dPostLayerNormGluMeanLutActivationOperandsBlocksOfOne) {
  Case k;
  k.d_input = 2;
  k.n_layers = 2;
  Reached r = check_case(k,
                               with_act_operands(uniform(12),
                                                 {{Component::input, 10, 4, 1, Rounding::HalfEven},
                                                  {Component::ssm_in, 12, 5, 1, Rounding::HalfEven},
                                                  {Component::gelu_out, 12, 5, 1, Rounding::HalfUp},
                                                  {Component::pool, 12, 5, 1, Rounding::HalfEven}},
                                                 "actop1"),
                               "s4d_post_ln_glu_mean_lut_actop1");
  expect_shifted(r, {"input", "layers.0.u", "layers.1.u", "layers.0.act", "layers.1.act", "pool"}, "actop1");
  EXPECT_GT(r.act_carried["layers.0.act"] + r.act_carried["layers.1.act"], 0u) << "actop1: no carry into e0 + 1";
}

// Blocks of three features (H = 4: a block of 3 and one of 1; d_input 2: one short block); half_glu1
// multiplies act' by the gate; BatchNorm before the layer.
TEST(QModelReference, S4dPreBatchNormHalfGlu1MeanHardActivationOperandsBlocksOfThree) {
  Case k;
  k.prenorm = true;
  k.norm = Norm::Batch;
  k.mixing = Mixing::HalfGlu1;
  k.gelu = QGelu::Hard;
  k.d_input = 2;
  const Reached r = check_case(k,
                               with_act_operands(uniform(12),
                                                 {{Component::input, 12, 4, 3, Rounding::HalfUp},
                                                  {Component::ssm_in, 12, 4, 3, Rounding::HalfUp},
                                                  {Component::gelu_out, 12, 4, 3, Rounding::HalfUp},
                                                  {Component::pool, 12, 4, 3, Rounding::HalfUp}},
                                                 "actop3"),
                               "s4d_pre_bn_hglu1_mean_hard_actop3");
  expect_shifted(r, {"input", "layers.0.u", "layers.0.act", "pool"}, "actop3");
}

// The whole vector per exponent (4096), floor; gelu mixing: the residual sum takes act'.
TEST(QModelReference, S5ConjSymPostLayerNormGeluMeanLutActivationOperandsWholeVector) {
  Case k;
  k.layer = LayerType::S5;
  k.mixing = Mixing::Gelu;
  k.n_layers = 2;
  const Reached r = check_case(k,
                               with_act_operands(uniform(12),
                                                 {{Component::input, 12, 6, 4096, Rounding::Floor},
                                                  {Component::ssm_in, 12, 6, 4096, Rounding::Floor},
                                                  {Component::gelu_out, 12, 6, 4096, Rounding::Floor},
                                                  {Component::pool, 12, 6, 4096, Rounding::Floor}},
                                                 "actop4096"),
                               "s5c_post_ln_gelu_mean_lut_actop4096");
  expect_shifted(r, {"input", "layers.0.u", "layers.1.u", "layers.0.act", "layers.1.act", "pool"}, "actop4096");
  uint64_t carried = 0;
  for (const auto& [p, n] : r.act_carried) carried += n;
  EXPECT_EQ(carried, 0u) << "floor never rounds a block's maximum up";
}

// S5 without conjugate symmetry, pre-LayerNorm, GLU (act' in both halves), mixed widths and
// roundings, blocks of two (last pooling has no pool point, so pool takes no operand: quantizing
// with one is refused, tested below).
TEST(QModelReference, S5NoConjPreLayerNormGluLastHardActivationOperandsMixed) {
  Case k;
  k.layer = LayerType::S5;
  k.conj_sym = false;
  k.prenorm = true;
  k.pooling = Pooling::Last;
  k.gelu = QGelu::Hard;
  k.d_input = 2;
  const Reached r = check_case(k,
                               with_act_operands(mixed(),
                                                 {{Component::input, 9, 3, 2, Rounding::TowardZero},
                                                  {Component::ssm_in, 10, 6, 2, Rounding::HalfDown},
                                                  {Component::gelu_out, 8, 5, 2, Rounding::HalfAway}},
                                                 "actop_mixed"),
                               "s5n_pre_ln_glu_last_hard_actop_mixed");
  expect_shifted(r, {"input", "layers.0.u", "layers.0.act"}, "actop_mixed");
}

// A model that pools its last step has no pool point: a pool operand is refused by name.
TEST(QModelReference, APoolOperandOnAModelThatPoolsItsLastStepIsRefused) {
  Case k;
  k.pooling = Pooling::Last;
  try {
    build(k, with_act_operands(uniform(12), {{Component::pool, 12, 6, 2, Rounding::HalfEven}}, "pool_last"),
          "pool_last");
    ADD_FAILURE() << "no InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("pools its last step"), std::string::npos) << e.what();
  }
}

// Floor with saturate_symmetric: a negative value rounds to -2^(b-1), which the clamp moves to
// -(2^(b-1) - 1); those events count on the point (compared with the C-model's counters).
TEST(QModelReference, ActivationOperandUnderFloorAndSaturateSymmetricCountsItsClampsOnThePoint) {
  Case k;
  k.mixing = Mixing::HalfGlu2;
  k.d_input = 2;
  const Overflow ss = Overflow::SaturateSymmetric;
  const Reached r = check_case(k,
                               with_act_operands(uniform(12),
                                                 {{Component::input, 12, 4, 2, Rounding::Floor, ss},
                                                  {Component::ssm_in, 12, 4, 1, Rounding::Floor, ss},
                                                  {Component::gelu_out, 12, 4, 4096, Rounding::Floor, ss},
                                                  {Component::pool, 12, 4, 1, Rounding::Floor, ss}},
                                                 "actop_floor_sym"),
                               "s4d_post_ln_hglu2_mean_lut_actop_floor_sym");
  expect_shifted(r, {"input", "layers.0.u", "layers.0.act", "pool"}, "actop_floor_sym");
  uint64_t clamped = 0;
  for (const auto& [p, n] : r.act_clamped) clamped += n;
  EXPECT_GT(clamped, 0u) << "no mantissa clamped to -(2^(b-1) - 1)";
}

// Together with the state's block operand and asymmetric weights.
TEST(QModelReference, S4dPostLayerNormGluMeanLutActivationAndStateOperandsAsymmetric) {
  Case k;
  k.d_input = 2;
  const Reached r =
      check_case(k,
                 with_act_operands(with_operand(asymmetric(Granularity::PerChannel, 8, "x"), 16, 6, 3,
                                                Rounding::HalfEven, Overflow::Saturate, "x"),
                                   {{Component::input, 12, 6, 1, Rounding::HalfEven},
                                    {Component::ssm_in, 12, 6, 3, Rounding::HalfEven},
                                    {Component::gelu_out, 12, 6, 4096, Rounding::HalfEven},
                                    {Component::pool, 12, 6, 2, Rounding::HalfEven}},
                                   "actop_state"),
                 "s4d_post_ln_glu_mean_lut_actop_state");
  EXPECT_GT(r.blocks_shifted, 0u);
  expect_shifted(r, {"input", "layers.0.u", "layers.0.act", "pool"}, "actop_state");
}

// ---------- zero points on activation points (9.1, 9.2, 9.3) ----------

// Each listed activation component asymmetric (9.2: u<b> with a calibrated zero point) at `bits`,
// in rounding r and overflow o, calibrated on a percentile when one is given.
struct AsymPoint {
  Component c;
  int bits;
  Rounding r = Rounding::HalfEven;
  Overflow o = Overflow::Saturate;
  double percentile = 0;
};
PrecisionConfig with_asym_points(PrecisionConfig p, const std::vector<AsymPoint>& pts, const std::string& name) {
  for (const AsymPoint& a : pts) {
    QuantizerSpec s = bits_spec(a.bits);
    s.scheme = quant::Scheme::Asymmetric;
    s.rounding = a.r;
    s.overflow = a.o;
    if (a.percentile > 0) {
      s.calibration = quant::Calibration::Percentile;
      s.percentile = a.percentile;
    }
    if (a.percentile > 0) {
      s.calibration = quant::Calibration::Percentile;
      s.percentile = a.percentile;
    }
    p.set_quantized(a.c, s);
  }
  p.set_name(name);
  p.validate();
  return p;
}

// The points of an activation component (9.2's table).
bool point_of(const std::string& name, Component c) {
  auto ends = [&](const std::string& s) {
    return name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
  };
  switch (c) {
    case Component::input: return name == "input";
    case Component::residual: return name == "encoder.out" || ends(".res") || ends(".out");
    case Component::ssm_in: return ends(".u");
    case Component::ssm_out: return ends(".y");
    case Component::gelu_out: return ends(".act");
    case Component::glu: return ends(".mix") || ends(".mixg") || ends(".g");
    case Component::pool: return name == "pool";
    default: return false;
  }
}

// Over component c's points: how many there are, how many are asymmetric (u<b>), how many of those
// hold a nonzero zero point, and the overflow events the reference counted there.
struct AsymReached {
  size_t points = 0, asymmetric = 0, nonzero = 0;
  uint64_t events = 0;
};
AsymReached asym_reached(const core::QModel& q, Component c, const std::map<std::string, uint64_t>& events) {
  AsymReached r;
  for (const auto& [name, ps] : q.points) {
    if (!point_of(name, c)) continue;
    ++r.points;
    r.asymmetric += !ps[0].format.is_signed;
    r.nonzero += !ps[0].format.is_signed && ps[0].zero_point != 0;
    const auto it = events.find(name);
    if (it != events.end()) r.events += it->second;
  }
  return r;
}

// Checks a case and that every listed component's points are asymmetric with a zero point (not all
// 0) and, when `clip`, that some of their narrowings reached the unsigned rails (events).
void check_asym_case(const Case& k, const PrecisionConfig& p, const std::string& name,
                     const std::vector<Component>& asym, bool clip) {
  std::map<std::string, uint64_t> events;
  check_case(k, p, name, &events);
  const Built b = build(k, p, name);
  for (const Component c : asym) {
    const AsymReached r = asym_reached(b.q, c, events);
    const std::string cn = quant::component_name(c);
    EXPECT_GT(r.points, 0u) << name << ": no point of " << cn;
    EXPECT_EQ(r.asymmetric, r.points) << name << ": a symmetric point of " << cn;
    EXPECT_GT(r.nonzero, 0u) << name << ": every zero point of " << cn << " is 0";
    if (clip) {
      EXPECT_GT(r.events, 0u) << name << ": no narrowing into " << cn << " reached its rails";
    }
  }
  // the state stays symmetric, the gate keeps its fixed format
  for (const auto& [pname, ps] : b.q.points) {
    const bool state = pname.compare(pname.size() - 2, 2, ".x") == 0 || pname.compare(pname.size() - 3, 3, ".xo") == 0;
    if (state) {
      EXPECT_TRUE(ps[0].format.is_signed) << name << ": " << pname;
    }
  }
  EXPECT_EQ(b.q.point("gate").zero_point, 0) << name;
}

// Each activation component alone asymmetric at 4..6 bits (the others symmetric at 12), on models
// that vary the layer, the norm and its place, the mixing, the GELU and the pooling; test inputs
// 2.5 times the calibration's so that every asymmetric narrowing clips.
TEST(QModelReference, EachActivationComponentAloneAsymmetricAtFewBitsClipsAtItsRails) {
  struct One {
    Component c;
    int bits;
    Rounding r;
    Overflow o;
    LayerType layer;
    bool conj, prenorm;
    Norm norm;
    Mixing mixing;
    Pooling pooling;
    QGelu gelu;
    const char* name;
  };
  const One cases[] = {
      {Component::input, 5, Rounding::HalfEven, Overflow::Saturate, LayerType::S4D, true, false, Norm::Layer,
       Mixing::Glu, Pooling::Mean, QGelu::Lut, "azp_input"},
      {Component::residual, 6, Rounding::HalfUp, Overflow::Saturate, LayerType::S5, true, true, Norm::Layer,
       Mixing::HalfGlu1, Pooling::Mean, QGelu::Hard, "azp_residual"},
      {Component::ssm_in, 5, Rounding::Floor, Overflow::SaturateSymmetric, LayerType::S4D, true, true, Norm::Batch,
       Mixing::HalfGlu2, Pooling::Last, QGelu::Lut, "azp_ssm_in"},
      {Component::ssm_out, 5, Rounding::HalfAway, Overflow::Saturate, LayerType::S5, false, false, Norm::Layer,
       Mixing::Glu, Pooling::Last, QGelu::Hard, "azp_ssm_out"},
      {Component::ssm_out, 4, Rounding::HalfEven, Overflow::Saturate, LayerType::S4D, true, false, Norm::Batch,
       Mixing::Gelu, Pooling::Mean, QGelu::Lut, "azp_ssm_out_lut"},
      {Component::gelu_out, 4, Rounding::HalfEven, Overflow::Saturate, LayerType::S4D, true, false, Norm::Batch,
       Mixing::Gelu, Pooling::Mean, QGelu::Lut, "azp_gelu_out"},
      {Component::gelu_out, 6, Rounding::TowardZero, Overflow::Saturate, LayerType::S5, true, true, Norm::Layer,
       Mixing::HalfGlu1, Pooling::Last, QGelu::Hard, "azp_gelu_out_hard"},
      {Component::glu, 5, Rounding::HalfDown, Overflow::Saturate, LayerType::S5, true, false, Norm::Layer, Mixing::Glu,
       Pooling::Mean, QGelu::Lut, "azp_glu"},
      {Component::glu, 5, Rounding::HalfEven, Overflow::Wrap, LayerType::S4D, true, true, Norm::Layer,
       Mixing::HalfGlu2, Pooling::Mean, QGelu::Hard, "azp_glu_wrap"},
      {Component::pool, 4, Rounding::HalfEven, Overflow::Saturate, LayerType::S4D, true, true, Norm::Layer,
       Mixing::HalfGlu1, Pooling::Mean, QGelu::Hard, "azp_pool"},
  };
  for (const One& o : cases) {
    Case k;
    k.layer = o.layer;
    k.conj_sym = o.conj;
    k.prenorm = o.prenorm;
    k.norm = o.norm;
    k.mixing = o.mixing;
    k.pooling = o.pooling;
    k.gelu = o.gelu;
    k.d_input = 2;
    k.amplitude = 2.5;
    check_asym_case(k, with_asym_points(uniform(12), {{o.c, o.bits, o.r, o.o}}, o.name), o.name, {o.c}, true);
  }
}

// Every activation point asymmetric together: act's entry (input, residual, gelu_out, glu, pool
// and the gate take it; the gate keeps its fixed format) and ssm_in, ssm_out, at 5 and 6 bits,
// over S4D and S5, pre- and post-norm, LayerNorm and BatchNorm, every mixing, both GELUs and both
// poolings, two layers on some; with asymmetric weights and the state's operands on others.
TEST(QModelReference, EveryActivationPointAsymmetricTogether) {
  struct All {
    LayerType layer;
    bool conj, prenorm;
    Norm norm;
    Mixing mixing;
    Pooling pooling;
    QGelu gelu;
    size_t layers;
    int bits;
    int variant;  // 0 plain, 1 asymmetric weights, 2 with a static state operand, 3 a block one
    const char* name;
  };
  const All cases[] = {
      {LayerType::S4D, true, false, Norm::Layer, Mixing::Glu, Pooling::Mean, QGelu::Lut, 2, 6, 0, "azp_all_s4d_glu"},
      {LayerType::S4D, true, true, Norm::Batch, Mixing::HalfGlu1, Pooling::Last, QGelu::Hard, 1, 5, 1,
       "azp_all_s4d_hglu1"},
      {LayerType::S4D, true, false, Norm::Batch, Mixing::Gelu, Pooling::Mean, QGelu::Hard, 1, 6, 3,
       "azp_all_s4d_gelu"},
      {LayerType::S5, true, false, Norm::Batch, Mixing::HalfGlu2, Pooling::Mean, QGelu::Lut, 1, 6, 2,
       "azp_all_s5c_hglu2"},
      {LayerType::S5, false, true, Norm::Layer, Mixing::Gelu, Pooling::Last, QGelu::Lut, 2, 6, 1,
       "azp_all_s5n_gelu"},
      {LayerType::S5, true, true, Norm::Layer, Mixing::Glu, Pooling::Mean, QGelu::Hard, 1, 5, 0, "azp_all_s5c_glu"},
  };
  for (const All& a : cases) {
    Case k;
    k.layer = a.layer;
    k.conj_sym = a.conj;
    k.prenorm = a.prenorm;
    k.norm = a.norm;
    k.mixing = a.mixing;
    k.pooling = a.pooling;
    k.gelu = a.gelu;
    k.n_layers = a.layers;
    k.d_input = 2;
    k.amplitude = 2.0;
    PrecisionConfig p = a.variant == 1 ? asymmetric(Granularity::PerChannel, 8, a.name) : uniform(12);
    if (a.variant == 2) p = with_operand(p, 16, 8, 0, Rounding::HalfEven, Overflow::Saturate, a.name);
    if (a.variant == 3) p = with_operand(p, 16, 6, 3, Rounding::HalfUp, Overflow::Saturate, a.name);
    p = with_asym_points(p,
                         {{Component::act, a.bits, Rounding::HalfEven},
                          {Component::ssm_in, a.bits + 1, Rounding::HalfUp},
                          {Component::ssm_out, a.bits + 1, Rounding::HalfEven}},
                         a.name);
    EXPECT_EQ(p.spec(Component::gate).scheme, quant::Scheme::Asymmetric) << a.name << ": the gate takes act's entry";
    std::vector<Component> asym = {Component::input,    Component::residual, Component::ssm_in,
                                   Component::ssm_out,  Component::gelu_out};
    if (a.mixing != Mixing::Gelu) asym.push_back(Component::glu);
    if (a.pooling == Pooling::Mean) asym.push_back(Component::pool);
    check_asym_case(k, p, a.name, asym, false);
  }
}

// The reference refuses what the contract does not make: an asymmetric point narrowed to a block-
// floating-point operand (its mantissas are signed; quantizing such a config is refused earlier,
// by the precision config), and an asymmetric state.
TEST(QModelReference, TheReferenceRefusesAnAsymmetricOperandPointAndAnAsymmetricState) {
  Case k;
  const Built b = build(k, with_act_operands(uniform(12), {{Component::ssm_in, 12, 6, 1, Rounding::HalfEven}}, "x"),
                        "azp_refuse");
  core::QModel q = b.q;
  q.points.at("layers.0.u")[0].format.is_signed = false;
  q.points.at("layers.0.u")[0].zero_point = 3;
  EXPECT_THROW(qref::Reference(q).run(b.test.input(0), kSteps), std::logic_error);
  core::QModel q2 = b.q;
  q2.points.at("layers.0.x")[0].format.is_signed = false;
  EXPECT_THROW(qref::Reference(q2).run(b.test.input(0), kSteps), std::logic_error);
}

// Section 6 for the zero points the datapath subtracts: an asymmetric dense weight's codes, scale
// and zero point per channel, recomputed here exactly from the float weights: the range widened to
// hold 0, the smallest dyadic scale (scale_bits-bit multiplier) with hi - lo <= (2^b - 1) scale,
// zp = round_half_even(-lo / scale) clamped to [0, 2^b - 1], q = fit(round(x / scale) + zp).
TEST(QModelReference, AsymmetricWeightCodesAndZeroPointsFollowSection6) {
  using qref::cpp_int;
  for (const Granularity g : {Granularity::PerChannel, Granularity::PerTensor}) {
    Case k;
    k.d_input = 2;
    const PrecisionConfig prec = asymmetric(g, 7, "sec6");
    const Built b = build(k, prec, g == Granularity::PerChannel ? "sec6_channel" : "sec6_tensor");
    const core::Model model(b.config);
    size_t nonzero_zp = 0;
    for (const auto& [tname, comp] : {std::pair<const char*, Component>{"encoder.weight", Component::encoder},
                                      {"decoder.weight", Component::decoder}}) {
      const QuantizerSpec& spec = prec.spec(comp);
      const core::QTensor& t = b.q.tensor(tname);
      const float* w = b.params.data() + model.layout().find(tname).offset;
      const size_t channels = g == Granularity::PerChannel ? t.channels() : 1, per = t.size() / channels;
      ASSERT_EQ(t.params.size(), channels) << tname;
      const cpp_int qmax = qref::pow2(spec.bits) - 1;
      for (size_t c = 0; c < channels; ++c) {
        const quant::QuantParams& p = t.params[c];
        SCOPED_TRACE(std::string(tname) + " channel " + std::to_string(c) + " " + p.to_string());
        ASSERT_FALSE(p.format.is_signed);
        ASSERT_EQ(p.format.width, spec.bits);
        ASSERT_TRUE(p.format.scale.mult >= (int64_t{1} << (spec.scale_bits - 1)) &&
                    p.format.scale.mult < (int64_t{1} << spec.scale_bits));
        // every value as an exact rational over one common denominator 2^D
        const int D = 200;
        auto exact = [&](double x) {
          cpp_int m;
          int e = 0;
          qref::exact_double(x, m, e);
          return m * qref::pow2(D + e);  // x * 2^D (|x| > 2^-150 or 0 here)
        };
        cpp_int lo = 0, hi = 0;
        for (size_t i = 0; i < per; ++i) {
          const cpp_int v = exact(w[c * per + i]);
          lo = v < lo ? v : lo;
          hi = v > hi ? v : hi;
        }
        // scale = mult 2^-shift; (hi - lo) 2^-D <= qmax scale  <=>  (hi - lo) 2^shift <= qmax mult 2^D
        auto holds = [&](int64_t mult, int shift) {
          return shift >= 0 ? (hi - lo) * qref::pow2(shift) <= qmax * mult * qref::pow2(D)
                            : (hi - lo) <= qmax * mult * qref::pow2(D - shift);
        };
        const int64_t mult = p.format.scale.mult;
        const int shift = p.format.scale.shift;
        EXPECT_TRUE(holds(mult, shift)) << "the range does not fit";
        const bool smallest = mult > (int64_t{1} << (spec.scale_bits - 1))
                                  ? !holds(mult - 1, shift)
                                  : !holds((int64_t{1} << spec.scale_bits) - 1, shift + 1);
        EXPECT_TRUE(smallest) << "a smaller scale holds the range";
        // x / scale = v 2^-D 2^shift / mult
        auto quotient = [&](const cpp_int& v, cpp_int& num, cpp_int& den) {
          num = shift >= 0 ? v * qref::pow2(shift) : v;
          den = cpp_int(mult) * qref::pow2(D) * (shift >= 0 ? cpp_int(1) : qref::pow2(-shift));
        };
        cpp_int num, den;
        quotient(-lo, num, den);
        cpp_int zp = qref::round_rational(num, den, Rounding::HalfEven);
        zp = zp < 0 ? cpp_int(0) : zp > qmax ? qmax : zp;
        EXPECT_EQ(cpp_int(p.zero_point), zp);
        nonzero_zp += p.zero_point != 0;
        const quant::Format uf = p.format;
        for (size_t i = 0; i < per; ++i) {
          quotient(exact(w[c * per + i]), num, den);
          const cpp_int q = qref::round_rational(num, den, spec.rounding) + zp;
          EXPECT_EQ(t.q[c * per + i], qref::fit(q, uf, spec.overflow, nullptr)) << "element " << i;
        }
      }
    }
    EXPECT_GT(nonzero_zp, 0u);
  }
}

// ---------- separate parts (9.2) and A's delta form (9.3) ----------

// What a model with separate parts holds, so that a test shows it reached what it names: the
// elements whose part is the coarser one (k > 0) with a nonzero operand, and the parts' nonzero
// zero points, over every layer's A, B and C.
struct PartsReached {
  size_t shifted = 0, zero_points = 0, tensors = 0;
};
PartsReached parts_reached(const core::QModel& q) {
  PartsReached r;
  for (size_t i = 0; i < q.config.n_layers; ++i)
    for (const char* w : {"A", "B", "C"}) {
      const core::QTensor& t = q.tensor("layers." + std::to_string(i) + "." + w);
      if (!t.separate_parts) continue;
      ++r.tensors;
      EXPECT_TRUE(t.params.size() == 2 || t.params.size() == 2 * t.channels()) << w << ": two entries per channel";
      for (size_t j = 0; j < t.size(); ++j) {
        const quant::QuantParams& pp = t.params[qref::weight_entry(t, j)];
        r.shifted += qref::part_exponent(pp.format, qref::weight_unit(t, j)) > 0 && t.q[j] != pp.zero_point;
      }
      for (const auto& pp : t.params) r.zero_points += pp.zero_point != 0;
    }
  return r;
}

// Separate parts on A, B and C, symmetric and asymmetric, per channel and per tensor, S4D and S5.
TEST(QModelReference, SeparatePartsOnABAndCSymmetricAndAsymmetricPerChannelAndPerTensor) {
  const std::tuple<LayerType, bool, quant::Scheme, Granularity, int, const char*> cases[] = {
      {LayerType::S4D, true, quant::Scheme::Symmetric, Granularity::PerChannel, 8, "s4d_parts_sym_c"},
      {LayerType::S4D, true, quant::Scheme::Asymmetric, Granularity::PerTensor, 7, "s4d_parts_asym_t"},
      {LayerType::S5, true, quant::Scheme::Asymmetric, Granularity::PerChannel, 8, "s5c_parts_asym_c"},
      {LayerType::S5, false, quant::Scheme::Symmetric, Granularity::PerTensor, 6, "s5n_parts_sym_t"}};
  for (const auto& [layer, conj, scheme, g, bits, name] : cases) {
    Case k;
    k.layer = layer;
    k.conj_sym = conj;
    k.prenorm = !conj;
    k.mixing = conj ? Mixing::Glu : Mixing::HalfGlu2;
    k.n_layers = layer == LayerType::S4D ? 2 : 1;
    const PrecisionConfig p = with_parts(uniform(12), true, false, scheme, g, bits, name);
    check_case(k, p, name);
    const PartsReached r = parts_reached(build(k, p, name).q);
    EXPECT_EQ(r.tensors, 3 * k.n_layers) << name;
    EXPECT_GT(r.shifted, 0u) << name << ": no coarser part with a nonzero operand";
    if (scheme == quant::Scheme::Asymmetric) {
      EXPECT_GT(r.zero_points, 0u) << name << ": no part's zero point";
    }
  }
}

// A in delta form (parts shared): with the stored state, a static operand into xo and block
// floating point (the update's third term is the stored state, not its narrowed operand).
TEST(QModelReference, DeltaFormOnAWithTheStoredStateAStaticOperandAndBlockFloatingPoint) {
  const std::tuple<LayerType, int, int, const char*> cases[] = {{LayerType::S4D, 0, 0, "s4d_delta_stored"},
                                                                {LayerType::S4D, 8, 0, "s4d_delta_static"},
                                                                {LayerType::S4D, 6, 3, "s4d_delta_blk3"},
                                                                {LayerType::S5, 0, 0, "s5c_delta_stored"},
                                                                {LayerType::S5, 7, 1, "s5c_delta_blk1"}};
  for (const auto& [layer, op_bits, block, name] : cases) {
    Case k;
    k.layer = layer;
    k.n_layers = 2;
    k.mixing = layer == LayerType::S5 ? Mixing::HalfGlu1 : Mixing::Glu;
    PrecisionConfig p = with_parts(uniform(12), false, true, quant::Scheme::Symmetric, Granularity::PerChannel, 10, name);
    if (op_bits) p = with_operand(p, 16, op_bits, block, Rounding::HalfEven, Overflow::Saturate, name);
    const Reached r = check_case(k, p, name);
    if (block) {
      EXPECT_GT(r.blocks_shifted, 0u) << name;
    }
    // the stored A is Lambda_bar - 1: every real part negative or zero (|Lambda_bar| < 1)
    const auto built = build(k, p, name);  // held: A refers into it
    const core::QTensor& A = built.q.tensor("layers.0.A");
    size_t negative = 0;
    for (size_t j = 0; j < A.size(); j += 2) negative += A.q[j] < 0;
    EXPECT_GT(negative, A.size() / 4) << name << ": A's real parts are not Lambda_bar - 1";
  }
}

// Both together: separate parts on A, B and C and A in delta form, over S4D and S5, the stored
// state, a static operand and block floating point, asymmetric parts.
TEST(QModelReference, DeltaFormWithSeparatePartsStoredStaticAndBlockOperands) {
  const std::tuple<LayerType, bool, quant::Scheme, Granularity, int, int, const char*> cases[] = {
      {LayerType::S4D, true, quant::Scheme::Symmetric, Granularity::PerChannel, 0, 0, "s4d_dp_stored"},
      {LayerType::S4D, true, quant::Scheme::Asymmetric, Granularity::PerChannel, 8, 0, "s4d_dp_static_asym"},
      {LayerType::S4D, true, quant::Scheme::Symmetric, Granularity::PerTensor, 6, 2, "s4d_dp_blk2"},
      {LayerType::S5, true, quant::Scheme::Asymmetric, Granularity::PerTensor, 0, 0, "s5c_dp_stored_asym"},
      {LayerType::S5, false, quant::Scheme::Symmetric, Granularity::PerChannel, 7, 0, "s5n_dp_static"},
      {LayerType::S5, true, quant::Scheme::Asymmetric, Granularity::PerChannel, 6, 3, "s5c_dp_blk3_asym"}};
  for (const auto& [layer, conj, scheme, g, op_bits, block, name] : cases) {
    Case k;
    k.layer = layer;
    k.conj_sym = conj;
    k.d_input = 2;
    k.norm = layer == LayerType::S5 && conj ? Norm::Batch : Norm::Layer;
    k.gelu = op_bits ? QGelu::Hard : QGelu::Lut;
    PrecisionConfig p = with_parts(uniform(12), true, true, scheme, g, 8, name);
    if (op_bits) p = with_operand(p, 14, op_bits, block, Rounding::HalfUp, Overflow::Saturate, name);
    const Reached r = check_case(k, p, name);
    if (block) {
      EXPECT_GT(r.blocks_shifted, 0u) << name;
    }
    const PartsReached pr = parts_reached(build(k, p, name).q);
    EXPECT_GT(pr.shifted, 0u) << name;
    if (scheme == quant::Scheme::Asymmetric) {
      EXPECT_GT(pr.zero_points, 0u) << name;
    }
  }
}

// A 24-bit state with 16-bit separate parts and the delta form: the C-model's 128-bit path
// (QLayerConsts::fast off) against the reference.
TEST(QModelReference, DeltaFormWithSeparatePartsOnTheWidePath) {
  for (const LayerType layer : {LayerType::S4D, LayerType::S5}) {
    Case k;
    k.layer = layer;
    const std::string name = layer == LayerType::S4D ? "s4d_dp_wide" : "s5_dp_wide";
    const PrecisionConfig p =
        with_operand(with_parts(uniform(16), true, true, quant::Scheme::Symmetric, Granularity::PerChannel, 14, name), 24,
                     16, 0, Rounding::HalfEven, Overflow::Saturate, name);
    EXPECT_FALSE(core::QEngine(build(k, p, name).q).consts().layers[0].fast) << name << ": the 64-bit path";
    check_case(k, p, name);
  }
}

// The operand (q - zp) 2^k holds the part shift, which PTQ caps at 30 - b (the finer part gives
// way) so that it fits 32 bits: 24-bit A and 22-bit B, C parts (k at most 6 and 8) against the
// reference on the wide path. A model whose part shift is made larger by hand (its operands past
// 2^31) is refused by the C-model, naming the tensor, instead of truncated.
TEST(QModelReference, SeparatePartsWithOperandsNear32BitsMatchAndBeyondAreRefused) {
  Case k;
  const std::string name = "parts_wide";
  const PrecisionConfig p =
      with_operand(with_parts(uniform(16), true, true, quant::Scheme::Symmetric, Granularity::PerChannel, 22, name), 28,
                   16, 0, Rounding::HalfEven, Overflow::Saturate, name);
  const Built b = build(k, p, name);
  int64_t largest = 0;
  int kmax = 0;
  const core::QTensor& A = b.q.tensor("layers.0.A");
  for (size_t j = 0; j < A.size(); ++j) {
    largest = std::max(largest, std::abs(A.operand(j)));
    kmax = std::max(kmax, A.part_shift(j));
  }
  EXPECT_GT(largest, int64_t{1} << 26);
  EXPECT_LT(largest, int64_t{1} << 31);
  EXPECT_LE(kmax, 30 - 24);
  check_case(k, p, name);
  core::QModel bad = b.q;
  for (size_t e = 0; e < A.params.size(); e += 2) {  // every channel's imaginary part 2^10 coarser
    bad.tensors.at("layers.0.A").params[e + 1].format = bad.tensors.at("layers.0.A").params[e].format;
    bad.tensors.at("layers.0.A").params[e + 1].format.scale.shift -= 10;
  }
  try {
    const core::QEngine engine(bad);
    ADD_FAILURE() << "no InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("layers.0.A"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("beyond 32 bits; fewer bits or shared parts"), std::string::npos) << e.what();
  }
}

// ---------- not vacuous: the comparison fails when one bit of the model changes ----------

// How many failures run_and_compare and expect_same_events report (intercepted, not recorded)
// when the C-model runs `engine_model` and the reference b.q.
size_t failures_of(const Built& b, const core::QModel& engine_model, const std::string& name) {
  ::testing::TestPartResultArray results;
  {
    const ::testing::ScopedFakeTestPartResultReporter intercept(
        ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &results);
    std::map<std::string, uint64_t> ref_events;
    quant::SaturationCounters counters;
    run_and_compare(b, {}, name, ref_events, counters, nullptr, &engine_model);
    expect_same_events(ref_events, counters, name);
  }
  return static_cast<size_t>(results.size());
}

// One bit of one A code, one zero point (A's, the encoder's, the norm's, an activation point's),
// the operand's width or block, the static operand's scale: each alone makes the C-model differ
// from the reference.
TEST(QModelReference, OneChangedCodeZeroPointOrOperandSettingFailsTheComparison) {
  Case k;
  const Built blk = build(k,
                          with_operand(asymmetric(Granularity::PerChannel, 8, "x"), 16, 6, 3, Rounding::HalfEven,
                                       Overflow::Saturate, "flip_blk"),
                          "flip_blk");
  EXPECT_EQ(failures_of(blk, blk.q, "unchanged"), 0u);
  auto changed = [&](const char* what, const std::function<void(core::QModel&)>& edit) {
    core::QModel q = blk.q;
    edit(q);
    EXPECT_GT(failures_of(blk, q, what), 0u) << what << ": the comparison did not notice";
  };
  changed("A code bit 0", [](core::QModel& q) { q.tensors.at("layers.0.A").q[5] ^= 1; });
  changed("A zero point", [](core::QModel& q) { q.tensors.at("layers.0.A").params[1].zero_point += 1; });
  changed("encoder zero point", [](core::QModel& q) { q.tensors.at("encoder.weight").params[2].zero_point -= 1; });
  changed("norm.shift zero point", [](core::QModel& q) { q.tensors.at("layers.0.norm.shift").params[0].zero_point += 1; });
  changed("operand_bits", [](core::QModel& q) {
    QuantizerSpec x = q.precision.spec(Component::x);
    x.operand_bits += 1;
    q.precision.set_quantized(Component::x, x);
  });
  changed("operand_block", [](core::QModel& q) {
    QuantizerSpec x = q.precision.spec(Component::x);
    x.operand_block = 2;
    q.precision.set_quantized(Component::x, x);
  });

  // an activation operand's width or block, on each of input, ssm_in, gelu_out and pool
  Case ka;
  ka.d_input = 2;
  const Built act = build(ka,
                          with_act_operands(uniform(12),
                                            {{Component::input, 12, 5, 1, Rounding::HalfEven},
                                             {Component::ssm_in, 12, 5, 1, Rounding::HalfEven},
                                             {Component::gelu_out, 12, 5, 3, Rounding::HalfEven},
                                             {Component::pool, 12, 5, 3, Rounding::HalfEven}},
                                            "flip_act"),
                          "flip_act");
  EXPECT_EQ(failures_of(act, act.q, "unchanged act"), 0u);
  for (const Component c : {Component::input, Component::ssm_in, Component::gelu_out, Component::pool}) {
    const std::string cn = quant::component_name(c);
    for (const int which : {0, 1, 2}) {
      core::QModel q = act.q;
      QuantizerSpec s = q.precision.spec(c);
      if (which == 0) s.operand_bits += 1;
      else if (which == 1) s.operand_block = s.operand_block == 1 ? 2 : 1;
      else s.operand_bits = s.operand_block = 0;
      q.precision.set_quantized(c, s);
      const std::string what = cn + (which == 0 ? " operand_bits + 1" : which == 1 ? " operand_block" : " no operand");
      EXPECT_GT(failures_of(act, q, what), 0u) << what << ": the comparison did not notice";
    }
  }

  // separate parts and the delta form: a part's shift, a part's zero point, the delta term
  const Built dp = build(k,
                         with_operand(with_parts(uniform(12), true, true, quant::Scheme::Asymmetric,
                                                 Granularity::PerChannel, 8, "flip_parts"),
                                      16, 6, 3, Rounding::HalfEven, Overflow::Saturate, "flip_parts"),
                         "flip_parts");
  EXPECT_EQ(failures_of(dp, dp.q, "unchanged parts"), 0u);
  for (const char* w : {"A", "B", "C"}) {
    const std::string tn = std::string("layers.0.") + w;
    const core::QTensor& t = dp.q.tensor(tn);
    // the first channel whose coarser part is shifted (k > 0): its shift one larger (its scale
    // twice as coarse, still a power of two apart)
    size_t coarse = t.params.size();
    for (size_t e = 0; e < t.params.size() && coarse == t.params.size(); ++e)
      if (qref::part_exponent(t.params[e].format, qref::weight_unit(t, (e / 2) * (t.size() / t.channels()))) > 0)
        coarse = e;
    ASSERT_LT(coarse, t.params.size()) << tn << ": no coarser part";
    core::QModel q1 = dp.q;
    q1.tensors.at(tn).params[coarse].format.scale.shift -= 1;
    EXPECT_GT(failures_of(dp, q1, tn + " part shift"), 0u) << tn << " part shift: the comparison did not notice";
    for (const size_t part : {coarse, coarse ^ 1}) {  // either part's zero point
      core::QModel q2 = dp.q;
      q2.tensors.at(tn).params[part].zero_point += 1;
      EXPECT_GT(failures_of(dp, q2, tn + " part zero point"), 0u) << tn << " zero point of entry " << part;
    }
  }
  {
    core::QModel q3 = dp.q;  // the same codes, the update without the stored state
    QuantizerSpec a = q3.precision.spec(Component::A);
    a.delta = false;
    q3.precision.set_quantized(Component::A, a);
    EXPECT_GT(failures_of(dp, q3, "delta term dropped"), 0u) << "the delta term: the comparison did not notice";
  }

  // an activation point's zero point (9.2), one point at a time: the input's shifts every operand;
  // a narrowing's only moves its rails, so each point changed is one whose narrowing clipped (its
  // zero point moved by one towards the range, so that it stays a code)
  Case kz;
  kz.d_input = 2;
  kz.amplitude = 2.5;
  const Built az = build(kz,
                         with_asym_points(uniform(12),
                                          {{Component::act, 5, Rounding::HalfEven},
                                           {Component::ssm_in, 5, Rounding::HalfUp, Overflow::Saturate, 95},
                                           {Component::gelu_out, 5, Rounding::HalfEven, Overflow::Saturate, 95},
                                           {Component::ssm_out, 5, Rounding::HalfEven}},
                                          "flip_azp"),
                         "flip_azp");
  EXPECT_EQ(failures_of(az, az.q, "unchanged azp"), 0u);
  std::map<std::string, uint64_t> az_events;
  {
    quant::SaturationCounters counters;
    run_and_compare(az, {}, "flip_azp events", az_events, counters);
  }
  std::map<Component, size_t> flipped;
  for (const auto& [pname, ps] : az.q.points) {
    if (ps[0].format.is_signed || pname == "gate" || (pname != "input" && az_events[pname] == 0)) continue;
    core::QModel qz = az.q;
    quant::QuantParams& pp = qz.points.at(pname)[0];
    pp.zero_point += pp.zero_point < pp.format.max_raw() ? 1 : -1;
    EXPECT_GT(failures_of(az, qz, pname + " zero point"), 0u) << pname << " zero point: the comparison did not notice";
    for (const Component c : {Component::input, Component::residual, Component::ssm_in, Component::ssm_out,
                              Component::gelu_out, Component::glu, Component::pool})
      flipped[c] += point_of(pname, c);
  }
  for (const Component c : {Component::input, Component::residual, Component::ssm_in, Component::ssm_out,
                            Component::gelu_out, Component::glu, Component::pool})
    EXPECT_GT(flipped[c], 0u) << "no zero point of " << quant::component_name(c) << " changed";

  const Built st = build(k, with_operand(uniform(12), 16, 8, 0, Rounding::HalfEven, Overflow::Saturate, "flip_static"),
                         "flip_static");
  EXPECT_EQ(failures_of(st, st.q, "unchanged static"), 0u);
  core::QModel q = st.q;
  q.points.at("layers.0.xo")[0].format.scale.mult += 1;
  EXPECT_GT(failures_of(st, q, "xo scale"), 0u) << "xo's scale: the comparison did not notice";
}

// ---------- the LayerNorm of a step whose features are all equal, with E rounded to 0 ----------
//
// Section 9.3: rs = isqrt(floor(2^112 H / (v + E))) with E = round_half_even(eps H^3 / s(r)^2).
// E rounds to 0 when s(r) > sqrt(2 eps H^3), and v = 0 when every feature of the step is equal;
// then the quotient is undefined. Every d_f is 0 there, so the output is the shift term alone
// whatever rs is (what the float LayerNorm gives: beta). These two tests reach that case: the
// first with a model made by quantize_ptq (8-bit power-of-two scales: a residual step of all zeros
// in s8.3, H = 5, eps = 1e-6, E = round(0.008) = 0), the second by construction (prenorm S5,
// encoder bias 0 and encoder.out in s16.0: E = round(6.4e-5) = 0; inputs 0 on the first steps).
// They stay last in the file: a C-model that divides by zero there stops the process.

TEST(QModelReference, S5ConjSymPostLayerNormGeluMeanHardAll8Pow2) {
  Case k;
  k.layer = LayerType::S5;
  k.mixing = Mixing::Gelu;
  k.gelu = QGelu::Hard;
  k.n_layers = 2;
  check_case(k, uniform(8, ScaleKind::Pow2), "s5c_post_ln_gelu_mean_hard_8p2");
}

TEST(QModelReference, LayerNormOfEqualFeaturesWithEpsilonTermZero) {
  Case k;
  k.layer = LayerType::S5;
  k.prenorm = true;
  Built b = build(k, uniform(16), "ln_equal_features");
  for (auto& c : b.q.tensors.at("encoder.bias").q) c = 0;
  b.q.points.at("encoder.out")[0].format = quant::Format::fixed(true, 16, 0);
  for (size_t i = 0; i < kTest; ++i)
    for (size_t t = 0; t < 3; ++t) b.test.inputs[(i * kSteps + t) * k.d_input] = 0.0f;
  std::map<std::string, uint64_t> ref_events;
  quant::SaturationCounters counters;
  run_and_compare(b, {}, "ln_equal_features", ref_events, counters);
}

