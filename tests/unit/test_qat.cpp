// QAT: its forward pass is the integer C-model (the same integers as `eval` on the saved model),
// its gradient is the float model's gradient through the straight-through estimator, and it
// recovers accuracy that PTQ loses.
#include <gtest/gtest.h>

#include <cmath>

#include "ssm_core/qat.hpp"
#include "tests/support/pulse_task.hpp"
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
    PtqOptions opt;
    opt.calib = 64;
    const QModel q = quantize_ptq(ck, uniform(16, 16), w.train, opt);
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
