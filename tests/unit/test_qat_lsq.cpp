// QAT's learned step sizes (LSQ, ssm_core/qat_lsq.hpp): the pre-rounding values are exactly what
// the integer model rounds, the step gradient is the derivative of the straight-through loss,
// no learned step leaves QAT unchanged to the bit, and a learned model's training forward pass is
// what `eval` computes on its file. With asymmetric activation points: the PTQ zero point held in
// codes, or learned (LSQ+: the offset's gradient is the clipped values' sum), symmetric points
// never taking one, and the forward pass the C-model and the reference.
#include <gtest/gtest.h>

#include <cmath>

#include "ssm_core/qat.hpp"
#include "tests/support/pulse_task.hpp"
#include "tests/support/qreference.hpp"
#include "tests/support/testing.hpp"

using namespace ssmsim::core;
using ssmsim::quant::Component;
using ssmsim::quant::PrecisionConfig;
using ssmsim::quant::QuantizerSpec;

namespace {

Workload pulse(uint64_t seed) { return ssmsim::testing::pulse_workload(seed, 256, 64, 64); }

// Every component at `bits` (A and x at ax_bits, biases 32); `input` at in_bits.
PrecisionConfig uniform(int bits, int ax_bits, int in_bits, int operand_bits = 0, int operand_block = 0) {
  PrecisionConfig p;
  QuantizerSpec s;
  s.bits = bits;
  for (auto c : ssmsim::quant::all_components()) {
    auto sc = s;
    if (c == Component::bias) sc.bits = 32;
    if (c == Component::A || c == Component::x) sc.bits = ax_bits;
    if (c == Component::input) sc.bits = in_bits;
    if (c == Component::x) {
      sc.operand_bits = operand_bits;
      sc.operand_block = operand_block;
    }
    p.set_quantized(c, sc);
  }
  p.validate();
  return p;
}

FloatCheckpoint trained(const Workload& w, const ModelConfig& config, size_t epochs) {
  const Model model(config);
  const TrainState st = ssmsim::testing::train_fresh(model, ssmsim::testing::pulse_recipe(epochs), w);
  return FloatCheckpoint{model.config(), st.best_params, {}};
}

Chunk first_chunk(const SequenceSet& set, size_t offset, size_t n) {
  std::vector<size_t> idx(kLanes);
  for (size_t i = 0; i < kLanes; ++i) idx[i] = offset + i;
  return make_chunk(set, idx.data(), n);
}

TrainConfig recipe() {
  TrainConfig cfg;
  cfg.epochs = 2;
  cfg.batch_size = 32;
  cfg.lr = 0.003;
  cfg.ssm_lr = 0.001;
  cfg.warmup_epochs = 0;
  cfg.seed = 11;
  cfg.threads = 2;
  return cfg;
}

QatOptions all_learned(double lr) {
  QatOptions q;
  q.learn_scales = learnable_components();
  q.scale_lr = lr;
  return q;
}

std::vector<std::pair<std::string, ModelConfig>> model_cases() {
  std::vector<std::pair<std::string, ModelConfig>> cases;
  ModelConfig c = ssmsim::testing::pulse_model();
  c.pooling = Pooling::Mean;
  cases.push_back({"s4d_postnorm_layernorm_glu_mean", c});
  ModelConfig b = c;
  b.norm = Norm::Batch;
  b.mixing = Mixing::HalfGlu2;
  cases.push_back({"s4d_postnorm_batchnorm_half_glu2", b});
  ModelConfig s5 = c;
  s5.layer = LayerType::S5;
  s5.P = 8;
  s5.prenorm = true;
  s5.mixing = Mixing::HalfGlu1;
  cases.push_back({"s5_prenorm_layernorm_half_glu1", s5});
  return cases;
}

}  // namespace

// LSQ's dqhat/ds: the rounding residual inside the range, the rail outside.
TEST(QatLsq, StepDerivativeIsTheResidualInsideAndTheRailOutside) {
  EXPECT_DOUBLE_EQ(lsq_dqds(2.3, 2, -127, 127), 2 - 2.3);
  EXPECT_DOUBLE_EQ(lsq_dqds(-4.5, -4, -127, 127), -4 + 4.5);
  EXPECT_DOUBLE_EQ(lsq_dqds(130.2, 127, -127, 127), 127);
  EXPECT_DOUBLE_EQ(lsq_dqds(127.0, 127, -127, 127), 127);
  EXPECT_DOUBLE_EQ(lsq_dqds(-300, -128, -128, 127), -128);
}

// Every learned point's pre-rounding value (the exact sum the C-model narrows, recomputed from
// the recorded codes) rounds to its recorded code, or lies beyond the rail its code saturated at:
// S4D and S5, pre- and post-norm, LayerNorm and BatchNorm, the GLU variants, mean pooling, the
// stored state, a static state operand (xo) and a block-floating-point one, both GELUs.
TEST(QatLsq, PreRoundingValuesRoundToTheRecordedCodes) {
  const Workload w = pulse(3);
  for (const auto& [name, config] : model_cases()) {
    const FloatCheckpoint ck = trained(w, config, 2);
    const Model model(ck.config);
    for (int op = 0; op < 3; ++op)
      for (const QGelu gelu : {QGelu::Lut, QGelu::Hard}) {
        const std::string label = name + (op == 0 ? " stored" : op == 1 ? " static xo" : " block") +
                                  (gelu == QGelu::Lut ? " lut" : " hard");
        PtqOptions opt;
        opt.calib = 32;
        opt.gelu = gelu;
        const PrecisionConfig prec = op == 0 ? uniform(6, 12, 6) : op == 1 ? uniform(6, 16, 6, 8, 0) : uniform(6, 16, 6, 8, 2);
        const QModel q = quantize_ptq(ck, prec, w.train, opt);
        const QEngine engine(q);
        auto qws = engine.make_workspace();
        qws->record = true;
        const Chunk ch = first_chunk(w.test, 0, 7);
        ssmsim::quant::SaturationCounters sat;
        engine.run_chunk(ch, *qws, sat);
        const std::vector<LearnedStep> steps = learned_steps(q, learnable_components());
        EXPECT_EQ(op == 1, std::any_of(steps.begin(), steps.end(), [](const LearnedStep& s) { return s.id == PointId::xo; }))
            << label;
        for (const LearnedStep& s : steps) {
          std::vector<double> r;
          std::vector<int64_t> codes;
          lsq_values(model, engine, *qws, ch, s, r, codes);
          ASSERT_FALSE(r.empty()) << label << " " << s.name;
          const auto& p = q.point(s.name);
          size_t inside = 0;
          for (size_t k = 0; k < r.size(); ++k) {
            const double c = static_cast<double>(codes[k]);
            if (codes[k] == p.qmax() && r[k] > c) continue;  // saturated high
            if (codes[k] == p.qmin() && r[k] < c) continue;  // saturated low
            ASSERT_LE(std::abs(r[k] - c), 0.5 + 1e-9) << label << " " << s.name << " value " << k << ": " << r[k];
            ++inside;
          }
          EXPECT_GT(inside, 0u) << label << " " << s.name;
        }
      }
  }
}

// The step gradient is the derivative of the loss under LSQ's straight-through quantizer
// qhat(s) = s * (clip(v/s) + [round(v/s0) - v/s0]) (the bracket frozen at s0): for the input
// point at 4 bits, everything else at 16, against a central difference of the float model's loss
// on the inputs so quantized (the float model at the dequantized weights).
TEST(QatLsq, InputStepGradientMatchesAFiniteDifference) {
  const Workload w = pulse(5);
  ModelConfig config = ssmsim::testing::pulse_model();
  const FloatCheckpoint ck = trained(w, config, 3);
  const Model model(ck.config);
  PtqOptions opt;
  opt.calib = 64;
  const PrecisionConfig prec = uniform(16, 16, 4);
  const QModel q = quantize_ptq(ck, prec, w.train, opt);
  const QEngine engine(q);
  const QatView view = qat_view(model, ck.params, q);
  const Chunk ch = first_chunk(w.train, 0, kLanes);
  auto qws = engine.make_workspace();
  auto ws = make_workspace<float>();
  ws->keep_point_grads = true;
  std::vector<float> grad(ck.params.size(), 0.f);
  qat_chunk(model, view, engine, ch, *qws, *ws, grad.data(), nullptr, nullptr);
  const std::vector<LearnedStep> steps = learned_steps(q, {Component::input});
  ASSERT_EQ(steps.size(), 1u);
  LsqSums sums;
  lsq_chunk(model, view, engine, *qws, *ws, ch, steps, sums);
  EXPECT_EQ(sums.count[0], static_cast<double>(kLanes * ch.L));

  const auto& p = q.point(PointId::input);
  const double s0 = p.scale(), qmin = static_cast<double>(p.qmin()), qmax = static_cast<double>(p.qmax());
  const std::vector<double> P(view.params.begin(), view.params.end());
  Model::Prepared<double> prep;
  model.prepare(P.data(), prep);
  auto wsd = make_workspace<double>();
  auto loss = [&](double s) {
    std::vector<std::vector<float>> xs(kLanes);
    Chunk c = ch;
    for (size_t l = 0; l < kLanes; ++l) {
      xs[l].resize(ch.L);
      for (size_t t = 0; t < ch.L; ++t) {
        const double v = ch.x[l][t];
        const double frozen = static_cast<double>(qws->in.at(t, 0)[l]) - std::clamp(v / s0, qmin, qmax);
        xs[l][t] = static_cast<float>(s * (std::clamp(v / s, qmin, qmax) + frozen));
      }
      c.x[l] = xs[l].data();
    }
    return model.run_chunk(P.data(), prep, c, 0, static_cast<double*>(nullptr), *wsd).loss;
  };
  const double eps = 1e-3 * s0;
  const double fd = (loss(s0 + eps) - loss(s0 - eps)) / (2 * eps);
  EXPECT_NEAR(sums.grad[0], fd, 0.03 * std::abs(fd) + 1e-6) << "LSQ " << sums.grad[0] << " finite difference " << fd;
  EXPECT_GT(std::abs(fd), 1e-3);
}

// The activation gradients kept for the learned steps change nothing of the backward pass.
TEST(QatLsq, KeepingPointGradientsLeavesTheGradientBitIdentical) {
  const Workload w = pulse(7);
  for (const auto& [name, config] : model_cases()) {
    const FloatCheckpoint ck = trained(w, config, 1);
    const Model model(ck.config);
    PtqOptions opt;
    opt.calib = 32;
    const QModel q = quantize_ptq(ck, uniform(8, 12, 8), w.train, opt);
    const QEngine engine(q);
    const QatView view = qat_view(model, ck.params, q);
    const Chunk ch = first_chunk(w.train, 8, 5);
    std::vector<float> g0(ck.params.size(), 0.f), g1(ck.params.size(), 0.f);
    auto qws = engine.make_workspace();
    auto ws = make_workspace<float>();
    const double l0 = qat_chunk(model, view, engine, ch, *qws, *ws, g0.data(), nullptr, nullptr);
    ws->keep_point_grads = true;
    const double l1 = qat_chunk(model, view, engine, ch, *qws, *ws, g1.data(), nullptr, nullptr);
    EXPECT_EQ(l0, l1) << name;
    EXPECT_EQ(g0, g1) << name;
  }
}

// With no learned step QAT is what it was; with every step learned at learning rate 0 each step
// rebuilds its PTQ format exactly, so the run is the same to the bit.
TEST(QatLsq, NoLearnedStepOrAZeroRateLeavesQatBitIdentical) {
  const Workload w = pulse(9);
  ModelConfig config = ssmsim::testing::pulse_model();
  config.pooling = Pooling::Mean;
  const FloatCheckpoint ck = trained(w, config, 2);
  const PrecisionConfig prec = uniform(6, 12, 6);
  PtqOptions opt;
  opt.calib = 64;
  TrainConfig cfg = recipe();
  cfg.epochs = 1;
  const QatResult a = train_qat(ck, prec, w, cfg, opt, {});
  const QatResult b = train_qat(ck, prec, w, cfg, opt, {}, all_learned(0.0));
  EXPECT_TRUE(a.steps.empty());
  EXPECT_FALSE(b.steps.empty());
  EXPECT_EQ(a.params, b.params);
  EXPECT_EQ(a.best_val_accuracy, b.best_val_accuracy);
  EXPECT_EQ(a.points, b.points);
  for (size_t k = 0; k < b.steps.size(); ++k) EXPECT_EQ(b.learned_scale[k], b.steps[k].s0) << b.steps[k].name;
  for (const auto& [n, t] : a.best.tensors) EXPECT_EQ(t.q, b.best.tensors.at(n).q) << n;
}

// Learned steps move, the formats follow them in their scale kind, and the quantized model of the
// final weights and steps computes in `eval` (through its file) the logits of QAT's forward pass.
TEST(QatLsq, LearnedStepsMoveAndTheSavedModelIsTheTrainingForward) {
  const Workload w = pulse(11);
  ModelConfig config = ssmsim::testing::pulse_model();
  config.pooling = Pooling::Mean;
  const FloatCheckpoint ck = trained(w, config, 4);
  PrecisionConfig prec = uniform(5, 12, 6);
  QuantizerSpec pow2 = prec.spec(Component::ssm_out);
  pow2.scale = ssmsim::quant::ScaleKind::Pow2;
  prec.set_quantized(Component::ssm_out, pow2);
  prec.validate();
  PtqOptions opt;
  opt.calib = 64;
  const QatResult r = train_qat(ck, prec, w, recipe(), opt, {}, all_learned(0.05));
  ASSERT_FALSE(r.steps.empty());
  size_t moved = 0;
  for (size_t k = 0; k < r.steps.size(); ++k) {
    const auto& s = r.steps[k];
    const auto& p = r.points.at(s.name)[0];
    EXPECT_EQ(p, step_params(s, r.learned_scale[k])) << s.name;
    if (s.spec.scale == ssmsim::quant::ScaleKind::Pow2) {
      EXPECT_EQ(p.format.scale.mult, 1) << s.name;
      EXPECT_NEAR(std::log2(p.scale()), std::log2(r.learned_scale[k]), 0.5 + 1e-9) << s.name;
    } else {
      EXPECT_NEAR(p.scale() / r.learned_scale[k], 1.0, 1e-4) << s.name;
    }
    if (std::abs(r.learned_scale[k] / s.s0 - 1) > 0.01) ++moved;
  }
  EXPECT_GT(moved, r.steps.size() / 2);

  const Model model(ck.config);
  const QModel final_q = quantize_weights(ck.config, r.params, prec, r.points, opt.gelu);
  const auto file = ssmsim::testing::scratch_dir("qat_lsq") / "q.safetensors";
  save_qmodel(file, final_q);
  const QModel loaded = load_qmodel(file);
  EXPECT_EQ(loaded.points, r.points);
  const QEngine e1(final_q), e2(loaded);
  const QatView view = qat_view(model, r.params, final_q);
  const QEvalResult ev = evaluate_quantized(loaded, w.test, w.num_classes, 3 * kLanes, 1);
  std::vector<int64_t> train_logits;
  for (size_t c = 0; c < 3; ++c) {
    auto q1 = e1.make_workspace();
    auto ws = make_workspace<float>();
    ws->keep_point_grads = true;
    std::vector<float> g(r.params.size(), 0.f);
    std::vector<int64_t> logits;
    qat_chunk(model, view, e1, first_chunk(w.test, c * kLanes, kLanes), *q1, *ws, g.data(), nullptr, &logits);
    train_logits.insert(train_logits.end(), logits.begin(), logits.end());
  }
  EXPECT_EQ(train_logits, ev.logits);
}

// The `qat` section: components by name, refused where a step cannot be learned.
TEST(QatLsq, TheQatSectionReadsComponentsAndRefusesTheOthers) {
  const auto q = QatOptions::keys().read(YAML::Load("{learn_scales: [x, ssm_in], scale_lr: 0.01}"), "qat");
  ASSERT_EQ(q.learn_scales.size(), 2u);
  EXPECT_EQ(q.learn_scales[0], Component::x);
  EXPECT_EQ(q.scale_lr, 0.01);
  const auto s = QatOptions::keys().read(YAML::Load("{learn_scales: 'gelu_out,pool'}"), "qat");
  EXPECT_EQ(s.learn_scales, (std::vector<Component>{Component::gelu_out, Component::pool}));
  EXPECT_THROW(QatOptions::keys().read(YAML::Load("{learn_scales: [A]}"), "qat"), ssmsim::ConfigError);
  EXPECT_THROW(QatOptions::keys().read(YAML::Load("{learn_scales: [gate]}"), "qat"), ssmsim::ConfigError);
  EXPECT_TRUE(QatOptions{}.learn_scales.empty());

  const Workload w = pulse(13);
  ModelConfig config = ssmsim::testing::pulse_model();  // last-step pooling
  config.mixing = Mixing::Gelu;
  const FloatCheckpoint ck = trained(w, config, 1);
  PtqOptions opt;
  opt.calib = 16;
  const QModel q8 = quantize_ptq(ck, uniform(8, 12, 8), w.train, opt);
  EXPECT_THROW(learned_steps(q8, {Component::glu}), ssmsim::InputError);
  EXPECT_THROW(learned_steps(q8, {Component::pool}), ssmsim::InputError);
  EXPECT_THROW(learned_steps(q8, {Component::act}), ssmsim::InputError);
  EXPECT_EQ(learned_steps(q8, {Component::residual}).size(), 3u);  // encoder.out, res, out
}

// A component whose point is narrowed to a block-floating-point operand (input, ssm_in, gelu_out,
// pool with operand_bits; docs/fixed_point.md 9.3) cannot learn its step: LSQ's step is that of the
// point's own rounding, and the operand's rounding follows it. The others still can, in that model.
TEST(QatLsq, LearnScalesRefusesAComponentWithAnActivationOperand) {
  const Workload w = pulse(13);
  ModelConfig config = ssmsim::testing::pulse_model();
  config.pooling = Pooling::Mean;  // a pool point
  const Model model(config);
  const auto init = model.init(21);
  const FloatCheckpoint ck{model.config(), std::vector<float>(init.begin(), init.end()), {}};
  PrecisionConfig p = uniform(8, 12, 8, 6, 1);  // x's block operand may learn its step (x's point)
  const Component narrowed[] = {Component::input, Component::ssm_in, Component::gelu_out, Component::pool};
  for (const Component c : narrowed) {
    QuantizerSpec s;
    s.bits = 8;
    s.operand_bits = 4;
    s.operand_block = 2;
    p.set_quantized(c, s);
  }
  p.validate();
  PtqOptions opt;
  opt.calib = 16;
  const QModel q = quantize_ptq(ck, p, w.train, opt);
  for (const Component c : narrowed) {
    const std::string cn = ssmsim::quant::component_name(c);
    try {
      learned_steps(q, {Component::x, c});
      ADD_FAILURE() << cn << ": a learned step on a block-floating-point activation accepted";
    } catch (const ssmsim::InputError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("'" + cn + "'"), std::string::npos) << msg;
      EXPECT_NE(msg.find("operand_bits"), std::string::npos) << msg;
    }
  }
  EXPECT_EQ(learned_steps(q, {Component::x, Component::ssm_out, Component::residual}).size(), 5u);  // x, y, 3
  // the same component without the operand learns
  PrecisionConfig plain = p;
  QuantizerSpec s;
  s.bits = 8;
  plain.set_quantized(Component::gelu_out, s);
  plain.validate();
  EXPECT_EQ(learned_steps(quantize_ptq(ck, plain, w.train, opt), {Component::gelu_out}).size(), 1u);
}

// ---------- A in delta form (docs/fixed_point.md 9.3) ----------

namespace {

// uniform(...) with A in delta form and separate parts on A, B and C.
PrecisionConfig delta_form(PrecisionConfig p) {
  for (const Component c : {Component::A, Component::B, Component::C}) {
    QuantizerSpec s = p.spec(c);
    s.separate_parts = true;
    s.delta = c == Component::A;
    p.set_quantized(c, s);
  }
  p.validate();
  return p;
}

}  // namespace

// In delta form the state's pre-rounding value takes the stored state before the step as its
// third term: every learned point's value (the state's included) still rounds to its recorded
// code, S4D and S5, with the stored state, a static operand and block floating point.
TEST(QatLsq, PreRoundingValuesRoundToTheRecordedCodesInDeltaForm) {
  const Workload w = pulse(3);
  for (const auto& [name, config] : model_cases()) {
    const FloatCheckpoint ck = trained(w, config, 2);
    const Model model(ck.config);
    for (int op = 0; op < 3; ++op) {
      const std::string label = name + (op == 0 ? " stored" : op == 1 ? " static xo" : " block");
      PtqOptions opt;
      opt.calib = 32;
      const PrecisionConfig prec =
          delta_form(op == 0 ? uniform(6, 12, 6) : op == 1 ? uniform(6, 16, 6, 8, 0) : uniform(6, 16, 6, 8, 2));
      const QModel q = quantize_ptq(ck, prec, w.train, opt);
      ASSERT_TRUE(q.precision.spec(Component::A).delta);
      const QEngine engine(q);
      auto qws = engine.make_workspace();
      qws->record = true;
      const Chunk ch = first_chunk(w.test, 0, 7);
      ssmsim::quant::SaturationCounters sat;
      engine.run_chunk(ch, *qws, sat);
      size_t state_values = 0;
      for (const LearnedStep& s : learned_steps(q, learnable_components())) {
        std::vector<double> r;
        std::vector<int64_t> codes;
        lsq_values(model, engine, *qws, ch, s, r, codes);
        ASSERT_FALSE(r.empty()) << label << " " << s.name;
        const auto& p = q.point(s.name);
        for (size_t k = 0; k < r.size(); ++k) {
          const double c = static_cast<double>(codes[k]);
          if ((codes[k] == p.qmax() && r[k] > c) || (codes[k] == p.qmin() && r[k] < c)) continue;  // saturated
          ASSERT_LE(std::abs(r[k] - c), 0.5 + 1e-9) << label << " " << s.name << " value " << k << ": " << r[k];
          state_values += s.id == PointId::x;
        }
      }
      EXPECT_GT(state_values, 0u) << label << ": no state value checked";
    }
  }
}

// qat.learn_scales with A in delta form and separate parts: the steps move, and the model of the
// final weights and steps computes in `eval` (through its file) the logits of the training forward.
TEST(QatLsq, LearnedStepsWithDeltaFormAndSeparatePartsRunAndTheSavedModelIsTheTrainingForward) {
  const Workload w = pulse(11);
  ModelConfig config = ssmsim::testing::pulse_model();
  config.pooling = Pooling::Mean;
  const FloatCheckpoint ck = trained(w, config, 2);
  const PrecisionConfig prec = delta_form(uniform(6, 12, 6));
  PtqOptions opt;
  opt.calib = 64;
  TrainConfig cfg = recipe();
  cfg.epochs = 1;
  const QatResult r = train_qat(ck, prec, w, cfg, opt, {}, all_learned(0.05));
  ASSERT_FALSE(r.steps.empty());
  size_t moved = 0;
  for (size_t k = 0; k < r.steps.size(); ++k) {
    ASSERT_TRUE(std::isfinite(r.learned_scale[k])) << r.steps[k].name;
    moved += std::abs(r.learned_scale[k] / r.steps[k].s0 - 1) > 0.01;
  }
  EXPECT_GT(moved, 0u);
  const Model model(ck.config);
  const QModel final_q = quantize_weights(ck.config, r.params, prec, r.points, opt.gelu);
  EXPECT_TRUE(final_q.tensor("layers.0.A").separate_parts);
  const auto file = ssmsim::testing::scratch_dir("qat_lsq_delta") / "q.safetensors";
  save_qmodel(file, final_q);
  const QModel loaded = load_qmodel(file);
  const QEngine e1(final_q);
  const QatView view = qat_view(model, r.params, final_q);
  const QEvalResult ev = evaluate_quantized(loaded, w.test, w.num_classes, 2 * kLanes, 1);
  std::vector<int64_t> train_logits;
  for (size_t c = 0; c < 2; ++c) {
    auto q1 = e1.make_workspace();
    auto ws = make_workspace<float>();
    std::vector<float> g(r.params.size(), 0.f);
    std::vector<int64_t> logits;
    qat_chunk(model, view, e1, first_chunk(w.test, c * kLanes, kLanes), *q1, *ws, g.data(), nullptr, &logits);
    for (const float v : g) ASSERT_TRUE(std::isfinite(v));
    train_logits.insert(train_logits.end(), logits.begin(), logits.end());
  }
  EXPECT_EQ(train_logits, ev.logits);
}

// ---------- zero points on activation points (docs/fixed_point.md 9.2; docs/quantization.md,
// "Learned zero points") ----------

namespace {

// `p` with every activation component asymmetric at `bits` (the state stays symmetric); the
// residual stream symmetric when `sym_residual`, so that symmetric learned points sit beside
// asymmetric ones.
PrecisionConfig asym_points(PrecisionConfig p, int bits, bool sym_residual) {
  for (const Component c : {Component::input, Component::residual, Component::ssm_in, Component::ssm_out,
                            Component::gelu_out, Component::glu, Component::pool}) {
    QuantizerSpec s = p.spec(c);
    s.bits = bits;
    s.scheme = sym_residual && c == Component::residual ? ssmsim::quant::Scheme::Symmetric
                                                         : ssmsim::quant::Scheme::Asymmetric;
    p.set_quantized(c, s);
  }
  p.validate();
  return p;
}

bool asymmetric_spec(const LearnedStep& s) { return s.spec.scheme == ssmsim::quant::Scheme::Asymmetric; }

// The final model's file evaluated by `eval`, the training forward (qat_chunk) and the reference
// of docs/fixed_point.md section 9 give the same logits on the first `chunks` test chunks.
void expect_saved_model_is_training_forward(const FloatCheckpoint& ck, const Workload& w, const PrecisionConfig& prec,
                                            const QatResult& r, QGelu gelu, const std::string& label) {
  const Model model(ck.config);
  const QModel final_q = quantize_weights(ck.config, r.params, prec, r.points, gelu);
  const auto file = ssmsim::testing::scratch_dir("qat_lsq_zp") / (label + ".safetensors");
  save_qmodel(file, final_q);
  const QModel loaded = load_qmodel(file);
  EXPECT_EQ(loaded.points, r.points) << label;
  const QEngine e1(final_q);
  const QatView view = qat_view(model, r.params, final_q);
  const size_t chunks = 2;
  const QEvalResult ev = evaluate_quantized(loaded, w.test, w.num_classes, chunks * kLanes, 1);
  const ssmsim::testing::qref::Reference ref(loaded);
  std::vector<int64_t> train_logits, ref_logits;
  for (size_t c = 0; c < chunks; ++c) {
    auto q1 = e1.make_workspace();
    auto ws = make_workspace<float>();
    ws->keep_point_grads = true;
    std::vector<float> g(r.params.size(), 0.f);
    std::vector<int64_t> logits;
    qat_chunk(model, view, e1, first_chunk(w.test, c * kLanes, kLanes), *q1, *ws, g.data(), nullptr, &logits);
    for (const float v : g) ASSERT_TRUE(std::isfinite(v)) << label;
    train_logits.insert(train_logits.end(), logits.begin(), logits.end());
    for (size_t l = 0; l < kLanes; ++l) {
      const auto tr = ref.run(w.test.input(c * kLanes + l), w.test.length);
      ref_logits.insert(ref_logits.end(), tr.logits.begin(), tr.logits.end());
    }
  }
  EXPECT_EQ(train_logits, ev.logits) << label << ": eval on the file";
  EXPECT_EQ(train_logits, ref_logits) << label << ": the reference";
}

}  // namespace

// qat.learn_zero_points false (the default): a learned step on an asymmetric point keeps its PTQ
// zero point in codes (lo = -zp(PTQ) s) while its step moves; the point's format is
// step_params(step, s), unsigned, and the saved model is the training forward.
TEST(QatLsq, WithoutLearnedZeroPointsAsymmetricPointsKeepTheirPtqZeroPointInCodes) {
  const Workload w = pulse(11);
  ModelConfig config = ssmsim::testing::pulse_model();
  config.pooling = Pooling::Mean;
  const FloatCheckpoint ck = trained(w, config, 2);
  PrecisionConfig prec = asym_points(uniform(6, 12, 6), 6, true);
  for (const Component c : {Component::ssm_out, Component::glu}) {  // power-of-two steps too
    QuantizerSpec pow2 = prec.spec(c);
    pow2.scale = ssmsim::quant::ScaleKind::Pow2;
    prec.set_quantized(c, pow2);
  }
  prec.validate();
  PtqOptions opt;
  opt.calib = 64;
  const QModel ptq = quantize_ptq(ck, prec, w.train, opt);
  TrainConfig cfg = recipe();
  cfg.epochs = 1;
  const QatResult r = train_qat(ck, prec, w, cfg, opt, {}, all_learned(0.05));
  ASSERT_EQ(r.learned_zero_point.size(), r.steps.size());
  size_t asym = 0, nonzero = 0, moved = 0;
  for (size_t k = 0; k < r.steps.size(); ++k) {
    const LearnedStep& s = r.steps[k];
    const auto& p = r.points.at(s.name)[0];
    EXPECT_FALSE(s.learn_zp) << s.name;
    EXPECT_EQ(s.zp0, ptq.point(s.name).zero_point) << s.name;
    EXPECT_EQ(p.zero_point, s.zp0) << s.name;
    EXPECT_EQ(r.learned_zero_point[k], s.zp0) << s.name;
    EXPECT_EQ(p, step_params(s, r.learned_scale[k])) << s.name;
    EXPECT_EQ(p.format.is_signed, !asymmetric_spec(s)) << s.name;
    asym += asymmetric_spec(s);
    nonzero += s.zp0 != 0;
    moved += std::abs(r.learned_scale[k] / s.s0 - 1) > 0.01;
  }
  EXPECT_GE(asym, 6u);  // input, u, y, act, mix, mixg, g, pool
  EXPECT_GE(nonzero, 4u);
  EXPECT_GT(moved, r.steps.size() / 2);
  expect_saved_model_is_training_forward(ck, w, prec, r, opt.gelu, "keep_zp");
}

// qat.learn_zero_points true: the asymmetric learned points learn their zero point (some move from
// their PTQ one, each stays a code), the symmetric ones (the residual stream, the state) never get
// one; the points are what QatResult reports and the saved model is the training forward (eval on
// its file and the reference give the training logits).
TEST(QatLsq, LearnedZeroPointsMoveOnAsymmetricPointsOnlyAndTheSavedModelIsTheTrainingForward) {
  const Workload w = pulse(11);
  for (const QGelu gelu : {QGelu::Lut, QGelu::Hard}) {
    const std::string label = gelu == QGelu::Lut ? "learn_zp_lut" : "learn_zp_hard";
    ModelConfig config = ssmsim::testing::pulse_model();
    config.pooling = Pooling::Mean;
    if (gelu == QGelu::Hard) config.mixing = Mixing::HalfGlu1;
    const FloatCheckpoint ck = trained(w, config, 2);
    const PrecisionConfig prec = asym_points(uniform(6, 12, 6), 5, true);
    PtqOptions opt;
    opt.calib = 64;
    opt.gelu = gelu;
    QatOptions q = all_learned(0.1);
    q.learn_zero_points = true;
    const QatResult r = train_qat(ck, prec, w, recipe(), opt, {}, q);
    size_t learning = 0, moved = 0;
    for (size_t k = 0; k < r.steps.size(); ++k) {
      const LearnedStep& s = r.steps[k];
      const auto& p = r.points.at(s.name)[0];
      EXPECT_EQ(s.learn_zp, asymmetric_spec(s)) << label << " " << s.name;
      EXPECT_EQ(p.zero_point, r.learned_zero_point[k]) << label << " " << s.name;
      if (s.learn_zp) {
        ++learning;
        EXPECT_FALSE(p.format.is_signed) << label << " " << s.name;
        EXPECT_TRUE(p.zero_point >= 0 && p.zero_point <= p.format.max_raw()) << label << " " << s.name;
        moved += p.zero_point != s.zp0;
      } else {
        EXPECT_TRUE(p.format.is_signed) << label << " " << s.name;
        EXPECT_EQ(p.zero_point, 0) << label << " " << s.name;
        EXPECT_EQ(p, step_params(s, r.learned_scale[k])) << label << " " << s.name;
      }
    }
    EXPECT_GE(learning, 6u) << label;
    EXPECT_GT(moved, 0u) << label << ": no zero point moved";
    expect_saved_model_is_training_forward(ck, w, prec, r, gelu, label);
  }
}

// The LSQ+ sums of one chunk by hand (docs/quantization.md, "Learned zero points"), at 4-bit
// asymmetric points on test inputs so that values clip: every pre-rounding value rounds to its
// recorded operand or lies beyond the operand's rail; the offset's gradient zgrad is the sum of
// dL/dqhat over the clipped values (0 where none clipped, and always 0 without learn_zp); the
// step's gradient is sum dL/dqhat (dqhat/ds) with the operand's ends -zp, 2^b - 1 - zp when the zero
// point is held in codes, and the code's ends 0, 2^b - 1 (zp more) when it is learned.
TEST(QatLsq, TheOffsetGradientIsTheSumOfTheClippedValuesGradients) {
  const Workload w = pulse(5);
  ModelConfig config = ssmsim::testing::pulse_model();
  config.pooling = Pooling::Mean;
  const FloatCheckpoint ck = trained(w, config, 2);
  const Model model(ck.config);
  PtqOptions opt;
  opt.calib = 32;
  const PrecisionConfig prec = asym_points(uniform(8, 12, 8), 4, false);
  const QModel q = quantize_ptq(ck, prec, w.train, opt);
  const QEngine engine(q);
  const QatView view = qat_view(model, ck.params, q);
  const Chunk ch = first_chunk(w.test, 0, kLanes);
  auto qws = engine.make_workspace();
  auto ws = make_workspace<float>();
  ws->keep_point_grads = true;
  std::vector<float> grad(ck.params.size(), 0.f);
  qat_chunk(model, view, engine, ch, *qws, *ws, grad.data(), nullptr, nullptr);
  const std::vector<LearnedStep> held = learned_steps(q, learnable_components(), false);
  const std::vector<LearnedStep> learned = learned_steps(q, learnable_components(), true);
  ASSERT_EQ(held.size(), learned.size());
  LsqSums s0, s1;
  lsq_chunk(model, view, engine, *qws, *ws, ch, held, s0);
  lsq_chunk(model, view, engine, *qws, *ws, ch, learned, s1);
  size_t hand_checked = 0, with_clipped = 0, without_clipped = 0, nonzero_zgrad = 0;
  for (size_t k = 0; k < learned.size(); ++k) {
    const LearnedStep& s = learned[k];
    const auto& p = q.point(s.name);
    const int64_t lo = p.qmin() - p.zero_point, hi = p.qmax() - p.zero_point;  // the operand's ends
    EXPECT_EQ(s.learn_zp, s.id != PointId::x) << s.name;
    EXPECT_EQ(s0.zgrad[k], 0.0) << s.name;
    EXPECT_EQ(s0.count[k], s1.count[k]) << s.name;
    std::vector<double> r;
    std::vector<int64_t> codes;
    lsq_values(model, engine, *qws, ch, s, r, codes);
    ASSERT_EQ(static_cast<double>(r.size()), s1.count[k]) << s.name;
    size_t clipped = 0;
    for (size_t i = 0; i < r.size(); ++i) {
      const double c = static_cast<double>(codes[i]);
      ASSERT_TRUE(codes[i] >= lo && codes[i] <= hi) << s.name << ": a recorded code that is not an operand";
      clipped += r[i] <= static_cast<double>(lo) || r[i] >= static_cast<double>(hi);
      if ((codes[i] == hi && r[i] > c) || (codes[i] == lo && r[i] < c)) continue;  // saturated
      ASSERT_LE(std::abs(r[i] - c), 0.5 + 1e-9) << s.name << " value " << i << ": " << r[i];
    }
    if (clipped == 0) {
      ++without_clipped;
      EXPECT_EQ(s1.zgrad[k], 0.0) << s.name;
    } else {
      ++with_clipped;
    }
    // both sums as they relate: the learned zero point adds zp for every clipped value
    const double zp = static_cast<double>(p.zero_point);
    EXPECT_NEAR(s1.grad[k] - s0.grad[k], zp * s1.zgrad[k], 1e-9 * (std::abs(s0.grad[k]) + std::abs(s1.grad[k]) + 1))
        << s.name;
    // by hand, from the kept gradients, in lsq_values' order (valid lanes, steps, features)
    const Seq<float>* g = s.id == PointId::encoder_out ? &ws->gx
                          : s.id == PointId::pool      ? &ws->gpool
                          : s.id == PointId::y         ? &ws->layers[s.layer].grads.y
                          : s.id == PointId::act       ? &ws->layers[s.layer].grads.act
                                                       : nullptr;
    if (!g) continue;
    const size_t L = s.id == PointId::pool ? 1 : ch.L, F = ck.config.H;
    ASSERT_EQ(r.size(), kLanes * L * F) << s.name;
    double zsum = 0, gs_held = 0, gs_learned = 0;
    size_t i = 0;
    for (size_t l = 0; l < kLanes; ++l)
      for (size_t t = 0; t < L; ++t)
        for (size_t f = 0; f < F; ++f, ++i) {
          const double gi = g->at(t, f)[l];
          const bool clip = r[i] <= static_cast<double>(lo) || r[i] >= static_cast<double>(hi);
          if (clip) zsum += gi;
          const double code_end = r[i] <= static_cast<double>(lo) ? 0.0 : static_cast<double>(p.qmax());
          gs_held += gi * lsq_dqds(r[i], codes[i], lo, hi);
          gs_learned += gi * (clip ? code_end : static_cast<double>(codes[i]) - r[i]);
        }
    EXPECT_DOUBLE_EQ(s1.zgrad[k], zsum) << s.name;
    nonzero_zgrad += zsum != 0;
    EXPECT_NEAR(s0.grad[k], gs_held, 1e-9 * (std::abs(gs_held) + 1)) << s.name;
    EXPECT_NEAR(s1.grad[k], gs_learned, 1e-9 * (std::abs(gs_learned) + 1)) << s.name;
    ++hand_checked;
  }
  EXPECT_GE(hand_checked, 4u);  // encoder.out, y, act, pool
  EXPECT_GT(with_clipped, 0u) << "no point clipped";
  EXPECT_GT(nonzero_zgrad, 0u) << "no hand-checked offset gradient other than 0";
  EXPECT_GT(without_clipped, 0u) << "no point without a clipped value";
}

// step_params with the zero point held in codes: whatever the step and the scale kind (a power of
// two rounding it either way, a dyadic scale of few multiplier bits rounding it up), the point
// keeps zp0 and its scale is the kind's smallest that holds the step; learned offsets re-derive it.
TEST(QatLsq, AStepWithItsZeroPointHeldInCodesKeepsItForEveryScaleKind) {
  for (const auto kind : {ssmsim::quant::ScaleKind::Pow2, ssmsim::quant::ScaleKind::Dyadic}) {
    LearnedStep s;
    s.name = "layers.0.y";
    s.id = PointId::y;
    s.spec.bits = 8;
    s.spec.scheme = ssmsim::quant::Scheme::Asymmetric;
    s.spec.scale = kind;
    s.spec.scale_bits = 4;
    for (const int64_t zp0 : {int64_t{0}, int64_t{1}, int64_t{37}, int64_t{128}, int64_t{250}, int64_t{255}})
      for (double scale = 0.0137; scale < 0.05; scale *= 1.0731) {
        s.zp0 = zp0;
        const auto p = step_params(s, scale);
        SCOPED_TRACE(p.to_string() + " step " + std::to_string(scale));
        EXPECT_EQ(p.zero_point, zp0);
        EXPECT_FALSE(p.format.is_signed);
        EXPECT_EQ(p.format.width, 8);
        if (kind == ssmsim::quant::ScaleKind::Pow2) {
          EXPECT_EQ(p.format.scale.mult, 1);
          EXPECT_NEAR(std::log2(p.scale()), std::log2(scale), 0.5 + 1e-9);
        } else {
          EXPECT_GE(p.scale(), scale);
          EXPECT_LE(p.scale(), scale * (1 + std::ldexp(1.0, -(s.spec.scale_bits - 1))) * (1 + 1e-12));
        }
      }
  }
  // a learned offset: the zero point follows lo at the format's scale
  LearnedStep s;
  s.name = "layers.0.y";
  s.spec.bits = 6;
  s.spec.scheme = ssmsim::quant::Scheme::Asymmetric;
  s.spec.scale = ssmsim::quant::ScaleKind::Pow2;
  s.zp0 = 37;
  EXPECT_EQ(step_params(s, 0.25, -10 * 0.25).zero_point, 10);
  EXPECT_EQ(step_params(s, 0.25, -10 * 0.25).scale(), 0.25);
}
