// QAT: its forward pass is the integer C-model (the same integers as `eval` on the saved model and
// as the reference model, with zero points, a narrowed state operand and activation operands
// too), its float view
// dequantizes asymmetric weights as (q - zp) * scale, its gradient is the float model's gradient
// through the straight-through estimator, and it recovers accuracy that PTQ loses.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <set>

#include "quant/errors.hpp"
#include "ssm_core/qat.hpp"
#include "ssm_core/qsimd.hpp"
#include "tests/support/pulse_task.hpp"
#include "tests/support/qreference.hpp"
#include "tests/support/testing.hpp"

using namespace ssmsim::core;
using ssmsim::quant::Component;
using ssmsim::quant::PrecisionConfig;

namespace {

Workload pulse_workload(uint64_t seed) { return ssmsim::testing::pulse_workload(seed, 512, 128, 128); }

ModelConfig small_model(Norm norm = Norm::Layer) {
  ModelConfig c = ssmsim::testing::pulse_model();
  c.norm = norm;
  return c;
}

PrecisionConfig uniform(int bits, int A_x_bits) {
  PrecisionConfig p;
  ssmsim::quant::QuantizerSpec s;
  s.bits = bits;
  for (auto c : ssmsim::quant::all_components()) {
    auto sc = s;
    if (c == Component::bias) sc.bits = 32;
    if (c == Component::A || c == Component::x) sc.bits = A_x_bits;
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

// PTQ calibrated on the first `calib` training sequences.
QModel ptq(const FloatCheckpoint& ck, const PrecisionConfig& p, const Workload& w, size_t calib = 64) {
  PtqOptions opt;
  opt.calib = calib;
  return quantize_ptq(ck, p, w.train, opt);
}

// The fine-tuning recipe of the QAT learning tests.
TrainConfig qat_recipe(Recurrence recurrence = Recurrence::Continuous) {
  TrainConfig cfg;
  cfg.epochs = 4;
  cfg.batch_size = 32;
  cfg.lr = 0.003;
  cfg.ssm_lr = 0.001;
  cfg.warmup_epochs = 0;
  cfg.seed = 11;
  cfg.recurrence = recurrence;
  return cfg;
}

double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ab += static_cast<double>(a[i]) * b[i];
    aa += static_cast<double>(a[i]) * a[i];
    bb += static_cast<double>(b[i]) * b[i];
  }
  return ab / std::sqrt(aa * bb);
}

}  // namespace

// At 16 bits the STE gradient through the integer forward pass is the float gradient, nearly:
// the plumbing from every recorded code to every parameter is right.
TEST(Qat, SixteenBitGradientMatchesTheFloatGradient) {
  std::vector<std::pair<std::string, ModelConfig>> cases = {{"s4d_layernorm", small_model(Norm::Layer)},
                                                             {"s4d_batchnorm", small_model(Norm::Batch)}};
  ModelConfig s5 = small_model(Norm::Layer);
  s5.layer = LayerType::S5;
  s5.P = 8;
  s5.prenorm = true;
  s5.mixing = Mixing::HalfGlu1;
  cases.push_back({"s5_prenorm_layernorm_half_glu1", s5});
  s5.norm = Norm::Batch;
  s5.mixing = Mixing::Glu;
  s5.conj_sym = false;
  cases.push_back({"s5_prenorm_batchnorm_glu_no_conj", s5});
  for (const auto& [name, config] : cases) {
    const Workload w = pulse_workload(5);
    const FloatCheckpoint ck = trained(w, config, 3);
    const Model model(ck.config);
    const QModel q = ptq(ck, uniform(16, 16), w);
    const QEngine engine(q);
    const QatView view = qat_view(model, ck.params, q);
    std::vector<size_t> idx(kLanes);
    for (size_t i = 0; i < kLanes; ++i) idx[i] = i;
    const Chunk ch = make_chunk(w.train, idx.data(), 6);
    std::vector<float> gq(ck.params.size(), 0.f), gf(ck.params.size(), 0.f);
    auto qws = engine.make_workspace();
    auto ws = make_workspace<float>();
    const double lq = qat_chunk(model, view, engine, ch, *qws, *ws, gq.data(), nullptr, nullptr);
    Model::Prepared<float> prep;
    model.prepare(ck.params.data(), prep);
    // the float reference in inference mode (no dropout, BatchNorm on running statistics)
    const ChunkResult r = model.run_chunk(ck.params.data(), prep, ch, 0, static_cast<float*>(nullptr), *ws);
    model.backward(ck.params.data(), prep, ch, 0, *ws, gf.data());
    EXPECT_NEAR(lq, r.loss, 0.02 * r.loss + 1e-3) << name;
    EXPECT_GT(cosine(gq, gf), 0.99) << name;
  }
}

// QAT splits an S4D chunk's channels over the cores a batch's chunks leave idle (the state
// kernel's and the backward pass's channel ranges on threads): the same logits, recorded states,
// saturation counts and gradient bits for any split, on both kernel paths.
TEST(Qat, ChunkIsTheSameBitsWithItsChannelsSplitOverThreads) {
  const Workload w = pulse_workload(5);
  const FloatCheckpoint ck = trained(w, small_model(), 2);
  const Model model(ck.config);
  ASSERT_GE(ck.config.H, 3u);
  const QModel q = ptq(ck, uniform(8, 12), w, 2);  // calibrated on 2 sequences: the chunk saturates
  const QEngine engine(q);
  const QatView view = qat_view(model, ck.params, q);
  std::vector<size_t> idx(kLanes);
  for (size_t i = 0; i < kLanes; ++i) idx[i] = i + 40;
  const Chunk ch = make_chunk(w.train, idx.data(), 7);
  const simd::Path initial = simd::path();
  for (auto path : {simd::Path::Avx512, simd::Path::Generic}) {
    if (!simd::force(path)) continue;
    std::vector<std::vector<float>> grads;
    std::vector<std::vector<int64_t>> logits;
    std::vector<std::vector<int32_t>> states;
    std::vector<std::map<std::string, uint64_t>> saturations;
    for (size_t split : {1, 3, 16}) {
      auto qws = engine.make_workspace();
      auto ws = make_workspace<float>();
      qws->channel_threads = ws->channel_threads = split;
      grads.emplace_back(ck.params.size(), 0.f);
      logits.emplace_back();
      qat_chunk(model, view, engine, ch, *qws, *ws, grads.back().data(), nullptr, &logits.back());
      states.push_back(qws->layers[0].x);
      // the saturation counts of the split state kernel (qat_chunk keeps its own)
      ssmsim::quant::SaturationCounters sat;
      engine.run_chunk(ch, *qws, sat);
      saturations.push_back(sat.all());
    }
    EXPECT_GT(saturations[0].at("layers.0.x"), 0u) << "the case must saturate the state to test its counts";
    for (size_t k = 1; k < grads.size(); ++k) {
      EXPECT_EQ(logits[k], logits[0]) << simd::name(path) << " split " << k;
      EXPECT_EQ(states[k], states[0]) << simd::name(path) << " split " << k;
      EXPECT_EQ(saturations[k], saturations[0]) << simd::name(path) << " split " << k;
      EXPECT_EQ(0, std::memcmp(grads[k].data(), grads[0].data(), grads[0].size() * sizeof(float)))
          << simd::name(path) << " split " << k;
    }
  }
  simd::force(initial);
}

// Low-bit PTQ loses accuracy; QAT brings it back; the best QAT model's integer logits are the
// ones QAT's forward pass computes, also after a round trip through the file.
TEST(Qat, RecoversAccuracyAndItsForwardPassIsTheIntegerModel) {
  const Workload w = pulse_workload(7);
  const FloatCheckpoint ck = trained(w, small_model(), 12);
  const PrecisionConfig prec = uniform(4, 8);
  const TrainConfig cfg = qat_recipe();
  PtqOptions opt;
  opt.calib = 128;
  const QatResult r = train_qat(ck, prec, w, cfg, opt, {});
  const Model model(ck.config);
  EXPECT_GT(r.best_val_accuracy, r.ptq_val_accuracy + 0.05)
      << "PTQ " << r.ptq_val_accuracy << " QAT " << r.best_val_accuracy;

  // the forward pass of QAT on the final weights and `eval` on the saved model: the same integers
  const QModel final_q = quantize_weights(ck.config, r.params, prec, r.best.points, opt.gelu);
  const auto file = ssmsim::testing::scratch_dir("qat") / "q.safetensors";
  save_qmodel(file, final_q);
  const QModel loaded = load_qmodel(file);
  const QEngine e1(final_q), e2(loaded);
  const QatView view = qat_view(model, r.params, final_q);
  for (size_t c = 0; c < 4; ++c) {
    std::vector<size_t> idx(kLanes);
    for (size_t i = 0; i < kLanes; ++i) idx[i] = c * kLanes + i;
    const Chunk ch = make_chunk(w.test, idx.data(), c == 3 ? 5 : kLanes);
    auto q1 = e1.make_workspace(), q2 = e2.make_workspace();
    auto ws = make_workspace<float>();
    std::vector<float> g(r.params.size(), 0.f);
    std::vector<int64_t> qat_logits;
    qat_chunk(model, view, e1, ch, *q1, *ws, g.data(), nullptr, &qat_logits);
    ssmsim::quant::SaturationCounters sat;
    const QChunkResult ev = e2.run_chunk(ch, *q2, sat);
    EXPECT_EQ(qat_logits, ev.logits) << "chunk " << c;
    EXPECT_FALSE(ev.logits.empty());
  }
}

// A QAT run stopped (mid-epoch and at an epoch boundary), its state saved to a file with the best
// model so far and continued, ends with the bits of an uninterrupted run: the master weights, the
// recurrence learned directly, the learned steps, every moment, the best model and the epochs'
// reports. The file refuses a run with other inputs.
TEST(Qat, AStoppedRunContinuedFromItsSavedStateEndsWithTheBitsOfAnUninterruptedOne) {
  const Workload w = pulse_workload(7);
  const FloatCheckpoint ck = trained(w, small_model(), 12);
  const Model model(ck.config);
  const PrecisionConfig prec = uniform(4, 8);  // PTQ loses accuracy, so an epoch's model is the best
  TrainConfig cfg = qat_recipe(Recurrence::Discrete);
  cfg.epochs = 3;
  const size_t spe = 16;  // steps an epoch: 512 sequences, batches of 32
  PtqOptions opt;
  opt.calib = 128;
  QatOptions qo;
  qo.learn_scales = {Component::ssm_in, Component::ssm_out};
  std::vector<double> whole_train;
  QatCallbacks wcb;
  wcb.epoch_end = [&](const QatReport& r, const QModel&, const QatState&) { whole_train.push_back(r.train_loss); };
  const QatResult whole = train_qat(ck, prec, w, cfg, opt, wcb, qo);
  ASSERT_TRUE(whole.finished);
  ASSERT_FALSE(whole.state.recurrence.params.empty());
  ASSERT_FALSE(whole.state.steps.params.empty());

  const auto dir = ssmsim::testing::scratch_dir("qat_resume");
  const std::string key = "the test's run";
  std::vector<double> parts_train;
  QatResult r;
  // stops after step 5 of epoch 1 (mid-epoch), after epoch 2's last step (its boundary), then none
  for (const size_t stop_at : {size_t{5}, 2 * spe, size_t{0}}) {
    size_t steps = 0;
    QatCallbacks cb;
    cb.epoch_end = [&](const QatReport& rep, const QModel& best, const QatState& s) {
      parts_train.push_back(rep.train_loss);
      if (rep.best) save_qmodel(dir / "best.safetensors", best);
      save_qat_state(dir / "run.state", model, s, key);
    };
    std::optional<QatResume> resume;
    if (std::filesystem::exists(dir / "run.state")) {
      resume.emplace();
      resume->state = load_qat_state(dir / "run.state", model, key);
      if (resume->state.best_epoch > 0) resume->best = load_qmodel(dir / "best.safetensors");
      steps = resume->state.weights.epochs_done * spe + resume->state.weights.epoch_step;
    }
    cb.stop_requested = [&] { return ++steps == stop_at; };
    r = train_qat(ck, prec, w, cfg, opt, cb, qo, one_process(), resume ? &*resume : nullptr);
    if (stop_at == 0) break;
    ASSERT_FALSE(r.finished) << stop_at;
    EXPECT_EQ(r.state.weights.epochs_done, stop_at / spe);
    EXPECT_EQ(r.state.weights.epoch_step, stop_at % spe);
    save_qat_state(dir / "run.state", model, r.state, key);
  }
  ASSERT_TRUE(r.finished);
  EXPECT_EQ(parts_train, whole_train);  // the epochs' running sums survived the stops
  EXPECT_TRUE(r.params == whole.params);
  for (auto [a, b] : {std::pair{&r.state.weights, &whole.state.weights},
                      {&r.state.recurrence, &whole.state.recurrence},
                      {&r.state.steps, &whole.state.steps},
                      {&r.state.offsets, &whole.state.offsets}}) {
    EXPECT_TRUE(a->params == b->params);
    EXPECT_TRUE(a->adam_m == b->adam_m);
    EXPECT_TRUE(a->adam_v == b->adam_v);
    EXPECT_EQ(a->step, b->step);
  }
  EXPECT_EQ(r.learned_scale, whole.learned_scale);
  EXPECT_EQ(r.best_val_accuracy, whole.best_val_accuracy);
  EXPECT_EQ(r.state.best_epoch, whole.state.best_epoch);
  EXPECT_GT(whole.state.best_epoch, 0u);
  for (const auto& [name, t] : whole.best.tensors) EXPECT_EQ(r.best.tensors.at(name).q, t.q) << name;
  EXPECT_EQ(r.best.points, whole.best.points);

  try {
    load_qat_state(dir / "run.state", model, "another run");
    ADD_FAILURE() << "a state of another run was accepted";
  } catch (const ssmsim::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("resume with the same command"), std::string::npos) << e.what();
  }
}

// Distillation from the float checkpoint: it changes what QAT learns, recovers accuracy as the
// cross-entropy alone does, gives the same weights for any thread count, and is recorded in the
// best model's metadata.
TEST(Qat, DistillationFromTheFloatModelRecoversAccuracyWithTheSameBitsForAnyThreadCount) {
  const Workload w = pulse_workload(7);
  const FloatCheckpoint ck = trained(w, small_model(), 12);
  const PrecisionConfig prec = uniform(4, 8);
  TrainConfig cfg = qat_recipe();
  PtqOptions opt;
  opt.calib = 128;
  QatOptions qo;
  qo.distill = 0.7;
  qo.distill_temperature = 2;
  cfg.threads = 1;
  const QatResult one = train_qat(ck, prec, w, cfg, opt, {}, qo);
  cfg.threads = 3;
  const QatResult three = train_qat(ck, prec, w, cfg, opt, {}, qo);
  const QatResult plain = train_qat(ck, prec, w, cfg, opt, {});
  EXPECT_EQ(one.params, three.params);
  EXPECT_EQ(one.best_val_accuracy, three.best_val_accuracy);
  EXPECT_NE(one.params, plain.params) << "distillation changed nothing";
  EXPECT_GT(one.best_val_accuracy, one.ptq_val_accuracy + 0.05)
      << "PTQ " << one.ptq_val_accuracy << " QAT " << one.best_val_accuracy;
  ASSERT_NE(one.best.metadata.at("qat.best_epoch"), "0");
  EXPECT_EQ(one.best.metadata.at("qat.distill"), "weight 0.7, temperature 2");
  EXPECT_EQ(plain.best.metadata.count("qat.distill"), 0u);
}

// The discrete and polar parameterisations start from the float model's discretization exactly
// (to float rounding), and the polar chain rule matches central differences.
TEST(Qat, DiscreteAndPolarParameterisationsStartAtTheDiscretizationAndDifferentiate) {
  const Model model(small_model());
  const auto p64 = model.init(3);
  const std::vector<float> params(p64.begin(), p64.end());
  const std::vector<double> pd(p64.begin(), p64.end());
  Model::Prepared<double> prep;
  model.prepare(pd.data(), prep);
  for (const Recurrence r : {Recurrence::Discrete, Recurrence::Polar}) {
    const auto rp = recurrence_params_init(model, params, r);
    const auto co = recurrence_coeffs(model, rp, r);
    const auto& k = prep.s4d[0];
    for (size_t m = 0; m < k.H * k.N2; ++m) {
      EXPECT_NEAR(co[0].A[2 * m], k.Lr[m], 1e-6);
      EXPECT_NEAR(co[0].A[2 * m + 1], k.Li[m], 1e-6);
      EXPECT_NEAR(co[0].B[2 * m], k.Br[m], 1e-6);
    }
    // L = Re(conj(w) Lambda_bar) for a fixed w has G = w; compare the chain with differences
    std::vector<CoeffGrad> cg(1);
    cg[0].lambda_bar.assign(k.H * k.N2, 0.0);
    cg[0].b_bar.assign(k.H * k.N2, 0.0);
    const std::complex<double> w(0.3, -0.7);
    cg[0].lambda_bar[5] = w;
    std::vector<float> g;
    recurrence_grad(model, rp, r, cg, g);
    for (int part = 0; part < 2; ++part) {
      auto loss = [&](double delta) {
        auto q = rp;
        q[10 + part] = static_cast<float>(q[10 + part] + delta);
        const auto c = recurrence_coeffs(model, q, r);
        return w.real() * c[0].A[10] + w.imag() * c[0].A[11];
      };
      const double fd = (loss(1e-3) - loss(-1e-3)) / 2e-3;
      EXPECT_NEAR(g[10 + part], fd, 1e-3 * (1 + std::abs(fd))) << (r == Recurrence::Polar ? "polar" : "discrete");
    }
  }
}

// QAT learning the recurrent matrix directly (discrete) or as magnitude and angle (polar) also
// recovers what PTQ loses, and its saved model is what eval runs.
TEST(Qat, DiscreteAndPolarQatRecoverAccuracy) {
  const Workload w = pulse_workload(7);
  const FloatCheckpoint ck = trained(w, small_model(), 12);
  for (const Recurrence rec : {Recurrence::Discrete, Recurrence::Polar}) {
    const TrainConfig cfg = qat_recipe(rec);
    PtqOptions opt;
    opt.calib = 128;
    const QatResult r = train_qat(ck, uniform(4, 8), w, cfg, opt, {});
    EXPECT_GT(r.best_val_accuracy, r.ptq_val_accuracy + 0.05)
        << (rec == Recurrence::Polar ? "polar" : "discrete") << ": PTQ " << r.ptq_val_accuracy << " QAT "
        << r.best_val_accuracy;
    EXPECT_EQ(r.best.metadata.at("qat.recurrence"), rec == Recurrence::Polar ? "polar" : "discrete");
  }
}

namespace {

// Asymmetric weights per channel (every weight component: A, B, C, D, encoder, decoder, mixing,
// norm), activations at 8 bits, the state stored at 16 bits with its operand narrowed to 8 (block
// 0: static into xo; block k: block floating point).
PrecisionConfig zero_points_and_operand(int block) {
  PrecisionConfig p = uniform(8, 16);
  for (auto c : {Component::A, Component::B, Component::C, Component::D, Component::encoder, Component::decoder,
                 Component::mixing, Component::norm}) {
    ssmsim::quant::QuantizerSpec s;
    s.bits = c == Component::A ? 10 : 8;
    s.scheme = ssmsim::quant::Scheme::Asymmetric;
    s.granularity = ssmsim::quant::Granularity::PerChannel;
    p.set_quantized(c, s);
  }
  ssmsim::quant::QuantizerSpec x;
  x.bits = 16;
  x.operand_bits = 8;
  x.operand_block = block;
  p.set_quantized(Component::x, x);
  p.validate();
  return p;
}

// zero_points_and_operand(3) with block floating point on the activations whose consumers
// multiply them (docs/fixed_point.md 9.3): input, ssm_in, gelu_out, pool, 5-bit mantissas in
// blocks of 1, 3, the whole vector and 2.
PrecisionConfig zero_points_and_activation_operands() {
  PrecisionConfig p = zero_points_and_operand(3);
  const std::pair<Component, int> ops[] = {
      {Component::input, 1}, {Component::ssm_in, 3}, {Component::gelu_out, 4096}, {Component::pool, 2}};
  for (const auto& [c, block] : ops) {
    ssmsim::quant::QuantizerSpec s;
    s.bits = 8;
    s.operand_bits = 5;
    s.operand_block = block;
    p.set_quantized(c, s);
  }
  p.validate();
  return p;
}

// An untrained model's parameters (seeded) with seeded noise, as a checkpoint: the noise gives
// every tensor values of both signs (the initial norm shifts are 0, the initial Lambda_bar has
// no negative imaginary part), so that asymmetric quantizers have zero points other than 0.
FloatCheckpoint initialised(const ModelConfig& config, uint64_t seed) {
  const Model model(config);
  auto p = model.init(seed);
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> noise(0.0, 0.1);
  for (auto& v : p) v += noise(rng);
  return FloatCheckpoint{model.config(), std::vector<float>(p.begin(), p.end()), {}};
}

bool any_zero_point(const QTensor& t) {
  for (const auto& p : t.params)
    if (p.zero_point != 0) return true;
  return false;
}

}  // namespace

// QAT quantizes its weights with quantize_weights and the PTQ's points (xo included) at every
// step; its forward pass on them gives the logits and predictions that QEngine gives on the PTQ
// model read back from its file, and the reference model of docs/fixed_point.md section 9 gives
// the same logits: with zero points and a narrowed state operand, static and block floating point,
// and (block -1) with block floating point on the activation operands too, over mean pooling.
TEST(Qat, ForwardPassIsTheCModelWithZeroPointsAndANarrowedStateOperand) {
  const Workload w = pulse_workload(5);
  for (const int block : {0, 3, -1}) {
    const bool acts = block < 0;
    const std::string name = block == 0 ? "static operand" : acts ? "activation operands" : "block operand";
    ModelConfig config = small_model(block == 0 ? Norm::Layer : Norm::Batch);
    if (acts) config.pooling = Pooling::Mean;
    const FloatCheckpoint ck = initialised(config, 17 + block);
    const Model model(ck.config);
    const PrecisionConfig prec = acts ? zero_points_and_activation_operands() : zero_points_and_operand(block);
    PtqOptions opt;
    opt.calib = 64;
    const QModel ptq = quantize_ptq(ck, prec, w.train, opt);
    EXPECT_TRUE(any_zero_point(ptq.tensor("layers.0.A")) && any_zero_point(ptq.tensor("encoder.weight"))) << name;
    EXPECT_EQ(ptq.points.count("layers.0.xo"), block == 0 ? 1u : 0u) << name;
    // what QAT runs at every step
    const QModel step = quantize_weights(ck.config, ck.params, prec, ptq.points, opt.gelu);
    for (const auto& [tname, t] : ptq.tensors) {
      EXPECT_EQ(step.tensor(tname).q, t.q) << name << " " << tname;
      EXPECT_TRUE(step.tensor(tname).params == t.params) << name << " " << tname;
    }
    const auto file = ssmsim::testing::scratch_dir("qat_zero_points") / ("q" + std::to_string(block) + ".safetensors");
    save_qmodel(file, ptq);
    const QModel loaded = load_qmodel(file);
    const QEngine qat_engine(step), eval_engine(loaded);
    const QatView view = qat_view(model, ck.params, step);
    const ssmsim::testing::qref::Reference ref(loaded);
    std::set<int64_t> distinct;
    std::map<std::string, uint64_t> shifted;  // the reference's activation blocks with e > 0
    for (size_t c = 0; c < 3; ++c) {
      const size_t valid = c == 2 ? 5 : kLanes;
      std::vector<size_t> idx(valid);
      for (size_t i = 0; i < valid; ++i) idx[i] = c * kLanes + i;
      const Chunk ch = make_chunk(w.test, idx.data(), valid);
      auto q1 = qat_engine.make_workspace(), q2 = eval_engine.make_workspace();
      auto ws = make_workspace<float>();
      std::vector<float> g(ck.params.size(), 0.f);
      std::vector<int64_t> qat_logits;
      size_t correct = 0;
      qat_chunk(model, view, qat_engine, ch, *q1, *ws, g.data(), &correct, &qat_logits);
      ssmsim::quant::SaturationCounters sat;
      const QChunkResult ev = eval_engine.run_chunk(ch, *q2, sat);
      ASSERT_EQ(qat_logits, ev.logits) << name << " chunk " << c;
      const size_t classes = ck.config.d_output;
      size_t eval_correct = 0;
      for (size_t i = 0; i < valid; ++i) {
        const auto first = qat_logits.begin() + static_cast<std::ptrdiff_t>(i * classes);
        const auto arg = std::max_element(first, first + static_cast<std::ptrdiff_t>(classes)) - first;
        EXPECT_EQ(arg, ev.predicted[i]) << name << " chunk " << c << " lane " << i;
        eval_correct += ev.predicted[i] == w.test.labels[idx[i]];
        const auto tr = ref.run(w.test.input(idx[i]), w.test.length);
        for (const auto& [point, n] : tr.act_shifted) shifted[point] += n;
        EXPECT_EQ(std::vector<int64_t>(first, first + static_cast<std::ptrdiff_t>(classes)), tr.logits)
            << name << " chunk " << c << " lane " << i << ": the reference's logits";
      }
      EXPECT_EQ(correct, eval_correct) << name << " chunk " << c;
      distinct.insert(qat_logits.begin(), qat_logits.end());
    }
    EXPECT_GT(distinct.size(), 8u) << name << ": the logits are (nearly) constant";
    if (acts) {
      for (const char* p : {"input", "layers.0.u", "layers.0.act", "pool"})
        EXPECT_GT(shifted[p], 0u) << name << ": no block of " << p << " with e > 0";
    } else {
      EXPECT_TRUE(shifted.empty()) << name;
    }
  }
}

// QAT's 16-bit state record (QWorkspace::record16): where every state fits int16, the S4D
// kernels record the states as int16 and the backward pass reads those. The same states, logits
// and gradient bits as with the int32 record, on both kernel paths: a 12-bit state (the 64-bit
// kernels), A and the state at 16 bits (the split or 128-bit forms), a block-floating-point
// operand, and a 20-bit state, which keeps the int32 record.
TEST(Qat, SixteenBitStateRecordGivesTheSameStatesAndGradientBits) {
  const Workload w = pulse_workload(5);
  const FloatCheckpoint ck = trained(w, small_model(), 2);
  const Model model(ck.config);
  std::vector<size_t> idx(kLanes);
  for (size_t i = 0; i < kLanes; ++i) idx[i] = i + 40;
  const Chunk ch = make_chunk(w.train, idx.data(), 7);
  struct Case {
    std::string name;
    PrecisionConfig prec;
    bool fits;
  };
  const std::vector<Case> cases = {{"12-bit state", uniform(8, 12), true},
                                   {"A and state at 16 bits", uniform(8, 16), true},
                                   {"block operand", zero_points_and_operand(3), true},
                                   {"20-bit state", uniform(8, 20), false}};
  const simd::Path initial = simd::path();
  for (const Case& c : cases)
    for (auto path : {simd::Path::Avx512, simd::Path::Generic}) {
      if (!simd::force(path)) continue;
      const std::string name = c.name + " " + simd::name(path);
      const QModel q = ptq(ck, c.prec, w, 2);
      const QEngine engine(q);
      const QatView view = qat_view(model, ck.params, q);
      auto q32 = engine.make_workspace(), q16 = engine.make_workspace();
      q16->record16 = true;
      auto w32 = make_workspace<float>(), w16 = make_workspace<float>();
      std::vector<float> g32(ck.params.size(), 0.f), g16(ck.params.size(), 0.f);
      std::vector<int64_t> l32, l16;
      const double loss32 = qat_chunk(model, view, engine, ch, *q32, *w32, g32.data(), nullptr, &l32);
      const double loss16 = qat_chunk(model, view, engine, ch, *q16, *w16, g16.data(), nullptr, &l16);
      const auto& r32 = q32->layers[0];
      const auto& r16 = q16->layers[0];
      ASSERT_FALSE(r32.x.empty()) << name;
      EXPECT_TRUE(r32.x16.empty()) << name;
      EXPECT_EQ(r16.x16.empty(), !c.fits) << name;
      EXPECT_EQ(r16.x.empty(), c.fits) << name;
      EXPECT_EQ(c.fits ? std::vector<int32_t>(r16.x16.begin(), r16.x16.end()) : r16.x, r32.x) << name;
      EXPECT_EQ(l16, l32) << name;
      EXPECT_EQ(loss16, loss32) << name;
      EXPECT_EQ(0, std::memcmp(g16.data(), g32.data(), g32.size() * sizeof(float))) << name;
    }
  simd::force(initial);
}

// The float view of an asymmetric model holds (q - zp) * scale for every weight, the channel's zero
// point and scale (computed here exactly: mult * 2^-shift), also for the discretized A and B that
// the backward pass reads from the prepared coefficients.
TEST(Qat, ViewDequantizesAsymmetricWeightsAsCodeMinusZeroPointTimesScale) {
  const Workload w = pulse_workload(5);
  const ModelConfig config = small_model();
  const FloatCheckpoint ck = initialised(config, 23);
  const Model model(ck.config);
  PtqOptions opt;
  opt.calib = 32;
  QModel q = quantize_ptq(ck, zero_points_and_operand(0), w.train, opt);
  // a tensor whose values are all of one sign calibrates zero points 0 (the range always holds 0):
  // norm.scale (near 1) and the initial Lambda_bar, B_bar here; those are given zero points by hand
  // (codes unchanged, each zero point inside the unsigned range: still a valid asymmetric model)
  for (const char* name : {"layers.0.A", "layers.0.B", "layers.0.norm.scale"}) {
    QTensor& t = q.tensors.at(name);
    ASSERT_FALSE(t.params[0].format.is_signed) << name << " is not asymmetric";
    if (!any_zero_point(t))
      for (size_t c = 0; c < t.params.size(); ++c) t.params[c].zero_point = static_cast<int64_t>(c % 3) + 1;
  }
  const QatView view = qat_view(model, ck.params, q);
  auto dq = [](const QTensor& t, size_t i) {
    const size_t ch = t.params.size() == 1 ? 0 : i / (t.size() / t.params.size());
    const auto& p = t.params[ch];
    return static_cast<float>(static_cast<double>(t.q[i] - p.zero_point) *
                              std::ldexp(static_cast<double>(p.format.scale.mult), -p.format.scale.shift));
  };
  const std::pair<const char*, const char*> flat[] = {{"encoder.weight", "encoder.weight"},
                                                      {"decoder.weight", "decoder.weight"},
                                                      {"layers.0.C", "s4_layers.0.kernel.C"},
                                                      {"layers.0.D", "s4_layers.0.D"},
                                                      {"layers.0.mix.weight", "s4_layers.0.output_linear.0.weight"},
                                                      {"layers.0.norm.scale", "norms.0.weight"},
                                                      {"layers.0.norm.shift", "norms.0.bias"}};
  for (const auto& [qname, fname] : flat) {
    const QTensor& t = q.tensor(qname);
    EXPECT_TRUE(any_zero_point(t)) << qname;
    const float* at = view.params.data() + model.layout().find(fname).offset;
    size_t moved = 0;
    for (size_t i = 0; i < t.size(); ++i) {
      ASSERT_EQ(at[i], dq(t, i)) << qname << "[" << i << "]";
      moved += t.p(t.params.size() == 1 ? 0 : i / (t.size() / t.params.size())).zero_point != 0;
    }
    EXPECT_GT(moved, 0u) << qname << ": no code with a zero point";
  }
  const QTensor &A = q.tensor("layers.0.A"), &B = q.tensor("layers.0.B");
  EXPECT_TRUE(any_zero_point(A) && any_zero_point(B));
  const auto& k = view.prep.s4d[0];
  for (size_t m = 0; m < k.H * k.N2; ++m) {
    ASSERT_EQ(k.Lr[m], dq(A, 2 * m)) << m;
    ASSERT_EQ(k.Li[m], dq(A, 2 * m + 1)) << m;
    ASSERT_EQ(k.Br[m], dq(B, 2 * m)) << m;
    ASSERT_EQ(k.Bi[m], dq(B, 2 * m + 1)) << m;
  }
}

// ---------- separate parts and A's delta form (docs/fixed_point.md 9.2, 9.3) ----------

namespace {

// zero_points_and_operand(block) with separate parts on A, B and C (asymmetric, per channel) and A
// in delta form.
PrecisionConfig delta_and_parts(int block) {
  PrecisionConfig p = zero_points_and_operand(block);
  for (const Component c : {Component::A, Component::B, Component::C}) {
    ssmsim::quant::QuantizerSpec s = p.spec(c);
    s.separate_parts = true;
    s.delta = c == Component::A;
    p.set_quantized(c, s);
  }
  p.validate();
  return p;
}

// The dequantized operand of element i, computed here from the parts' formats exactly:
// (q - zp) 2^k f with f the finer of the channel's two scales, plus `re_offset` on real parts.
float dq_parts(const QTensor& t, size_t i, double re_offset = 0.0) {
  const size_t g = t.groups() == 1 ? 0 : i / (t.size() / t.groups());
  const auto& own = t.params[2 * g + i % 2].format.scale;
  const auto& re = t.params[2 * g].format.scale;
  const auto& im = t.params[2 * g + 1].format.scale;
  const double sre = std::ldexp(static_cast<double>(re.mult), -re.shift);
  const double sim = std::ldexp(static_cast<double>(im.mult), -im.shift);
  const double f = std::min(sre, sim);
  const double k = std::log2(std::ldexp(static_cast<double>(own.mult), -own.shift) / f);
  EXPECT_EQ(k, std::floor(k)) << "part scales not a power of two apart";
  const double w = static_cast<double>(t.q[i] - t.params[2 * g + i % 2].zero_point) * std::exp2(k);
  return static_cast<float>(w * f + (i % 2 == 0 ? re_offset : 0.0));
}

}  // namespace

// With A in delta form and separate parts on A, B and C (and zero points, a narrowed state
// operand): what QAT quantizes at every step is the PTQ model, its forward pass gives the logits of
// QEngine on the model read back from its file and of the reference model, and one step's
// gradient is finite and reaches the SSM's parameters.
TEST(Qat, DeltaFormWithSeparatePartsForwardIsTheCModelAndItsGradientIsFinite) {
  const Workload w = pulse_workload(5);
  for (const int block : {0, 3}) {
    const std::string name = block == 0 ? "static operand" : "block operand";
    const ModelConfig config = small_model(block == 0 ? Norm::Layer : Norm::Batch);
    const FloatCheckpoint ck = initialised(config, 41 + block);
    const Model model(ck.config);
    const PrecisionConfig prec = delta_and_parts(block);
    PtqOptions opt;
    opt.calib = 64;
    const QModel ptq = quantize_ptq(ck, prec, w.train, opt);
    for (const char* t : {"layers.0.A", "layers.0.B", "layers.0.C"}) EXPECT_TRUE(ptq.tensor(t).separate_parts) << t;
    const QModel step = quantize_weights(ck.config, ck.params, prec, ptq.points, opt.gelu);
    for (const auto& [tname, t] : ptq.tensors) {
      EXPECT_EQ(step.tensor(tname).q, t.q) << name << " " << tname;
      EXPECT_TRUE(step.tensor(tname).params == t.params) << name << " " << tname;
      EXPECT_EQ(step.tensor(tname).separate_parts, t.separate_parts) << name << " " << tname;
    }
    const auto file = ssmsim::testing::scratch_dir("qat_delta_parts") / ("q" + std::to_string(block) + ".safetensors");
    save_qmodel(file, ptq);
    const QModel loaded = load_qmodel(file);
    const QEngine qat_engine(step), eval_engine(loaded);
    const QatView view = qat_view(model, ck.params, step);
    const ssmsim::testing::qref::Reference ref(loaded);
    std::vector<float> g(ck.params.size(), 0.f);
    std::set<int64_t> distinct;
    for (size_t c = 0; c < 2; ++c) {
      std::vector<size_t> idx(kLanes);
      for (size_t i = 0; i < kLanes; ++i) idx[i] = c * kLanes + i;
      const Chunk ch = make_chunk(w.test, idx.data(), kLanes);
      auto q1 = qat_engine.make_workspace(), q2 = eval_engine.make_workspace();
      auto ws = make_workspace<float>();
      std::vector<int64_t> qat_logits;
      const double loss = qat_chunk(model, view, qat_engine, ch, *q1, *ws, g.data(), nullptr, &qat_logits);
      EXPECT_TRUE(std::isfinite(loss)) << name;
      ssmsim::quant::SaturationCounters sat;
      ASSERT_EQ(qat_logits, eval_engine.run_chunk(ch, *q2, sat).logits) << name << " chunk " << c;
      const size_t classes = ck.config.d_output;
      for (size_t i = 0; i < kLanes; ++i) {
        const auto first = qat_logits.begin() + static_cast<std::ptrdiff_t>(i * classes);
        EXPECT_EQ(std::vector<int64_t>(first, first + static_cast<std::ptrdiff_t>(classes)),
                  ref.run(w.test.input(idx[i]), w.test.length).logits)
            << name << " chunk " << c << " lane " << i << ": the reference's logits";
      }
      distinct.insert(qat_logits.begin(), qat_logits.end());
    }
    EXPECT_GT(distinct.size(), 8u) << name << ": the logits are (nearly) constant";
    for (size_t i = 0; i < g.size(); ++i) ASSERT_TRUE(std::isfinite(g[i])) << name << " gradient " << i;
    for (const char* p : {"s4_layers.0.kernel.log_dt", "s4_layers.0.kernel.A_imag", "s4_layers.0.kernel.C",
                          "encoder.weight"}) {
      const auto& info = model.layout().find(p);
      double norm = 0;
      for (size_t j = 0; j < info.size; ++j) norm += std::fabs(g[info.offset + j]);
      EXPECT_GT(norm, 0.0) << name << ": no gradient reaches " << p;
    }
  }
}

// The float view of a model with A in delta form holds D + 1 on A's real parts (the stored
// Lambda_bar - 1 plus 1) and D on its imaginary parts; with separate parts every complex weight is
// its operand (q - zp) 2^k in its channel's unit (A and B in the prepared coefficients, C in the
// parameters). Direct form: A as stored.
TEST(Qat, ViewHoldsTheDeltaFormsAPlusOneOnRealPartsAndSeparatePartsInTheirUnit) {
  const Workload w = pulse_workload(5);
  const FloatCheckpoint ck = initialised(small_model(), 29);
  const Model model(ck.config);
  PtqOptions opt;
  opt.calib = 32;
  const std::vector<double> pd(ck.params.begin(), ck.params.end());
  Model::Prepared<double> lambda;  // the float model's Lambda_bar, in double
  model.prepare(pd.data(), lambda);
  for (const bool delta : {true, false}) {
    PrecisionConfig prec = delta_and_parts(0);
    ssmsim::quant::QuantizerSpec a = prec.spec(Component::A);
    a.delta = delta;
    prec.set_quantized(Component::A, a);
    prec.validate();
    const QModel q = quantize_ptq(ck, prec, w.train, opt);
    const QatView view = qat_view(model, ck.params, q);
    const QTensor &A = q.tensor("layers.0.A"), &B = q.tensor("layers.0.B"), &C = q.tensor("layers.0.C");
    const auto& k = view.prep.s4d[0];
    size_t shifted = 0;
    for (size_t m = 0; m < k.H * k.N2; ++m) {
      ASSERT_EQ(k.Lr[m], dq_parts(A, 2 * m, delta ? 1.0 : 0.0)) << m;
      ASSERT_EQ(k.Li[m], dq_parts(A, 2 * m + 1)) << m;
      ASSERT_EQ(k.Br[m], dq_parts(B, 2 * m)) << m;
      ASSERT_EQ(k.Bi[m], dq_parts(B, 2 * m + 1)) << m;
      // either form: Lambda_bar within a step of each part's quantizer (maxabs: half a step of
      // rounding, and half a step more where the coarser part's zero point was re-rounded)
      const size_t g = A.groups() == 1 ? 0 : 2 * m / (A.size() / A.groups());
      EXPECT_LE(std::fabs(k.Lr[m] - lambda.s4d[0].Lr[m]), A.params[2 * g].scale() + 1e-6) << m;
      EXPECT_LE(std::fabs(k.Li[m] - lambda.s4d[0].Li[m]), A.params[2 * g + 1].scale() + 1e-6) << m;
      shifted += A.part_shift(2 * m) + A.part_shift(2 * m + 1) + B.part_shift(2 * m) + B.part_shift(2 * m + 1) > 0;
    }
    EXPECT_GT(shifted, 0u) << "no coarser part shifted";
    const float* at = view.params.data() + model.layout().find("s4_layers.0.kernel.C").offset;
    for (size_t i = 0; i < C.size(); ++i) ASSERT_EQ(at[i], dq_parts(C, i)) << "C[" << i << "]";
  }
}

// One epoch of QAT with A in delta form and separate parts runs, and its best model keeps both.
TEST(Qat, OneEpochWithDeltaFormAndSeparatePartsRunsAndKeepsThem) {
  const Workload w = pulse_workload(7);
  const FloatCheckpoint ck = trained(w, small_model(), 2);
  PtqOptions opt;
  opt.calib = 64;
  TrainConfig cfg = qat_recipe();
  cfg.epochs = 1;
  const QatResult r = train_qat(ck, delta_and_parts(0), w, cfg, opt, {});
  EXPECT_TRUE(std::isfinite(r.best_val_accuracy));
  EXPECT_GT(r.best_val_accuracy, 0.0);
  for (const float v : r.params) ASSERT_TRUE(std::isfinite(v));
  EXPECT_TRUE(r.best.precision.spec(Component::A).delta);
  EXPECT_TRUE(r.best.tensor("layers.0.A").separate_parts && r.best.tensor("layers.0.C").separate_parts);
  EXPECT_NE(r.params, ck.params) << "the step moved nothing";
}

namespace {

// The mean of |w - q(w)| / step over the quantized weights inside their range (the distances
// the dampening term shrinks) of the run's weights and discrete recurrence in `s`.
double mean_code_distance(const Model& model, const QatState& s, const PrecisionConfig& prec,
                          const std::map<std::string, std::vector<ssmsim::quant::QuantParams>>& points) {
  const auto co = recurrence_coeffs(model, s.recurrence.params, Recurrence::Discrete);
  const QModel q = quantize_weights(model.config(), s.weights.params, prec, points, QGelu::Precision, &co);
  const QatView v = qat_view(model, s.weights.params, q);
  double sum = 0;
  size_t n = 0;
  auto add = [&](const std::vector<float>& w, const std::vector<float>& dq, const std::vector<float>& step) {
    for (size_t i = 0; i < w.size(); ++i) {
      const double d = std::abs(w[i] - dq[i]) / step[i];
      if (step[i] > 0 && d <= 0.5 + 1e-4) {
        sum += d;
        ++n;
      }
    }
  };
  add(s.weights.params, v.params, v.step);
  add(s.recurrence.params, v.recurrence, v.recurrence_step);
  return sum / static_cast<double>(n);
}

}  // namespace

// The float view names each quantized parameter's step (0 elsewhere, where it keeps the float
// value) and holds A and B dequantized in the recurrence parameters' order: each code is its
// parameter's rounding, within half a step (but for codes clipped at the range).
TEST(Qat, ViewHoldsEachQuantizedParametersStepAndTheRecurrenceInItsParametersOrder) {
  const Workload w = pulse_workload(7);
  const FloatCheckpoint ck = trained(w, small_model(Norm::None), 12);
  const Model model(ck.config);
  const PrecisionConfig prec = uniform(4, 8);
  const QModel p = ptq(ck, prec, w);
  const auto rp = recurrence_params_init(model, ck.params, Recurrence::Discrete);
  const auto co = recurrence_coeffs(model, rp, Recurrence::Discrete);
  const QModel q = quantize_weights(ck.config, ck.params, prec, p.points, QGelu::Precision, &co);
  const QatView v = qat_view(model, ck.params, q);
  ASSERT_EQ(v.step.size(), ck.params.size());
  ASSERT_EQ(v.recurrence.size(), rp.size());
  ASSERT_EQ(v.recurrence_step.size(), rp.size());
  auto within = [](const std::vector<float>& a, const std::vector<float>& b, const std::vector<float>& step) {
    size_t quantized = 0, near = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      if (step[i] == 0.f) {
        EXPECT_EQ(a[i], b[i]) << i;  // not quantized: the float value
        continue;
      }
      ++quantized;
      near += std::abs(a[i] - b[i]) <= 0.5f * step[i] * (1 + 1e-4f);
    }
    return std::pair{quantized, near};
  };
  const auto [nw, ww] = within(ck.params, v.params, v.step);
  const auto [nr, wr] = within(rp, v.recurrence, v.recurrence_step);
  // the encoder, C, D, the mixing and decoder weights and their biases are quantized
  EXPECT_GT(nw, ck.params.size() / 2);
  EXPECT_EQ(nr, rp.size());  // every part of A and B
  EXPECT_GT(ww, nw * 9 / 10);
  EXPECT_GT(wr, nr * 9 / 10);
}

// Oscillation dampening (qat.dampen) pulls the weights towards their codes: the run ends with its
// weights nearer their codes than without it, still recovers accuracy, and is recorded.
TEST(Qat, DampeningHoldsTheWeightsNearerTheirCodes) {
  const Workload w = pulse_workload(7);
  const FloatCheckpoint ck = trained(w, small_model(Norm::None), 12);
  const Model model(ck.config);
  const PrecisionConfig prec = uniform(4, 8);
  const TrainConfig cfg = qat_recipe(Recurrence::Discrete);
  PtqOptions opt;
  opt.calib = 128;
  const QatResult plain = train_qat(ck, prec, w, cfg, opt, {});
  QatOptions qo;
  qo.dampen = 30;
  const QatResult damped = train_qat(ck, prec, w, cfg, opt, {}, qo);
  const double d0 = mean_code_distance(model, plain.state, prec, plain.points);
  const double d1 = mean_code_distance(model, damped.state, prec, damped.points);
  EXPECT_LT(d1, 0.7 * d0) << "without " << d0 << ", with dampening " << d1;
  EXPECT_GT(damped.best_val_accuracy, damped.ptq_val_accuracy + 0.05)
      << "PTQ " << damped.ptq_val_accuracy << " QAT " << damped.best_val_accuracy;
  ASSERT_NE(damped.best.metadata.at("qat.best_epoch"), "0");
  EXPECT_EQ(damped.best.metadata.at("qat.dampen"), "30");
}

// A run started from another run's parameters (`qat --from-state`): its epoch 0 is the model those
// parameters quantize to, its schedule and optimiser moments start afresh, and a state of another
// shape is refused.
TEST(Qat, ARunFromAnotherRunsParametersStartsAtItsModelWithAFreshSchedule) {
  const Workload w = pulse_workload(7);
  const FloatCheckpoint ck = trained(w, small_model(Norm::None), 12);
  const Model model(ck.config);
  const PrecisionConfig prec = uniform(4, 8);
  TrainConfig cfg = qat_recipe(Recurrence::Discrete);
  cfg.epochs = 2;
  const size_t spe = 16;
  PtqOptions opt;
  opt.calib = 128;
  const QatResult first = train_qat(ck, prec, w, cfg, opt, {});
  QatResume from;
  from.state = first.state;
  from.parameters_only = true;
  TrainConfig still = cfg;  // nothing moves: the best stays the starting model
  still.epochs = 1;
  still.lr = still.ssm_lr = 0;
  const QatResult r = train_qat(ck, prec, w, still, opt, {}, {}, one_process(), &from);
  const auto co = recurrence_coeffs(model, first.state.recurrence.params, Recurrence::Discrete);
  const QModel start = quantize_weights(ck.config, first.state.weights.params, prec, first.points, opt.gelu, &co);
  EXPECT_EQ(r.best.metadata.at("qat.best_epoch"), "0");
  for (const auto& [name, t] : start.tensors) EXPECT_EQ(r.best.tensors.at(name).q, t.q) << name;
  EXPECT_EQ(r.best_val_accuracy, r.start_val_accuracy);
  EXPECT_GT(r.start_val_accuracy, r.ptq_val_accuracy + 0.05) << "the start is the trained model, not PTQ";
  EXPECT_EQ(r.state.weights.epochs_done, 1u);
  EXPECT_EQ(r.state.weights.step, spe);  // the schedule restarted (the first run took 2 * spe steps)
  EXPECT_EQ(r.params, first.state.weights.params);

  const QatResult moved = train_qat(ck, prec, w, cfg, opt, {}, {}, one_process(), &from);
  EXPECT_NE(moved.params, first.state.weights.params);

  QatResume other;  // a continuous run's state has no recurrence group
  other.state = train_qat(ck, prec, w, qat_recipe(), opt, {}).state;
  other.parameters_only = true;
  EXPECT_THROW(train_qat(ck, prec, w, still, opt, {}, {}, one_process(), &other), ssmsim::InputError);
}
