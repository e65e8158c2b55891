// The S5 layer against its defining formulas: the HiPPO-LegS diagonalisation, the reference's
// initialisation, both discretizations, the MIMO recurrence; the S5 model configuration, its
// parameter names and checkpoints; and an S5 model that learns.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <complex>

#include "quant/errors.hpp"
#include "ssm_core/checkpoint.hpp"
#include "ssm_core/s5.hpp"
#include "ssm_core/trainer.hpp"
#include "tests/support/pulse_task.hpp"
#include "tests/support/testing.hpp"

using namespace ssmsim::core;
using cd = std::complex<double>;

namespace {

struct Layer {
  ParamLayout layout;
  S5Offsets o;
  std::vector<double> p;
};

Layer make_layer(size_t H, size_t P, size_t J, bool conj_sym, uint64_t seed,
                 S5CInit c_init = S5CInit::TruncStandardNormal) {
  Layer l;
  l.o = s5_register(l.layout, "", H, conj_sym ? P / 2 : P);
  l.p.assign(l.layout.total(), 0.0);
  std::mt19937_64 rng(seed);
  s5_init(l.o, P, J, conj_sym, c_init, 0.001, 0.1, rng, l.p.data());
  return l;
}

cd B_tilde(const Layer& l, size_t p, size_t h) {
  const size_t i = l.o.B + (p * l.o.H + h) * 2;
  return {l.p[i], l.p[i + 1]};
}

cd C_tilde(const Layer& l, size_t h, size_t p) {
  const size_t i = l.o.C + (h * l.o.P2 + p) * 2;
  return {l.p[i], l.p[i + 1]};
}

// The largest value jax's lecun_normal can give: 2 truncated standard deviations.
double lecun_bound(double fan_in) { return 2.0 * std::sqrt(1.0 / fan_in) / 0.87962566103423978; }

}  // namespace

TEST(S5, HippoLegSHasTheReferenceEntries) {
  const std::vector<double> A = hippo_legs(4);
  const double expected[16] = {-1,           0,            0,            0,   //
                               -std::sqrt(3), -2,          0,            0,   //
                               -std::sqrt(5), -std::sqrt(15), -3,        0,   //
                               -std::sqrt(7), -std::sqrt(21), -std::sqrt(35), -4};
  for (size_t i = 0; i < 16; ++i) EXPECT_NEAR(A[i], expected[i], 1e-15) << i;
  // its normal part: skew-symmetric minus I/2
  const size_t N = 6;
  const std::vector<double> S = hippo_legs_normal(N);
  for (size_t n = 0; n < N; ++n)
    for (size_t k = 0; k < N; ++k) {
      if (n == k) {
        EXPECT_NEAR(S[n * N + k], -0.5, 1e-15);
      } else {
        EXPECT_NEAR(S[n * N + k], -S[k * N + n], 1e-14);
      }
    }
}

TEST(S5, TheDiagonalisedHippoHasRealPartMinusHalfAndReconstructsTheNormalMatrix) {
  for (const size_t N : {2u, 8u, 16u}) {
    const DplrHippo d = make_dplr_hippo(N);
    const std::vector<double> S = hippo_legs_normal(N);
    for (size_t k = 0; k < N; ++k) {
      EXPECT_EQ(d.Lambda[k].real(), -0.5);
      if (k > 0) {
        EXPECT_LE(d.Lambda[k - 1].imag(), d.Lambda[k].imag());  // ascending, as eigh
      }
      // conjugate pairs: the spectrum is symmetric about the real axis
      EXPECT_NEAR(d.Lambda[k].imag(), -d.Lambda[N - 1 - k].imag(), 1e-9);
    }
    for (size_t r = 0; r < N; ++r)
      for (size_t c = 0; c < N; ++c) {
        cd rec = 0, gram = 0;
        for (size_t k = 0; k < N; ++k) {
          rec += d.V[r * N + k] * d.Lambda[k] * std::conj(d.V[c * N + k]);
          gram += std::conj(d.V[k * N + r]) * d.V[k * N + c];
        }
        EXPECT_NEAR(std::abs(rec - S[r * N + c]), 0.0, 1e-9) << "N " << N << " (" << r << ", " << c << ")";
        EXPECT_NEAR(std::abs(gram - (r == c ? 1.0 : 0.0)), 0.0, 1e-12);  // V unitary: V^-1 = V^H
      }
  }
}

TEST(S5, InitialisationTilesHalfTheHippoSpectrumOverTheBlocks) {
  const size_t H = 8, P = 16, J = 2, bs = P / J, bh = bs / 2;
  const Layer l = make_layer(H, P, J, true, 1);
  const DplrHippo d = make_dplr_hippo(bs);
  ASSERT_EQ(l.o.P2, J * bh);
  for (size_t j = 0; j < J; ++j)
    for (size_t k = 0; k < bh; ++k) {
      EXPECT_EQ(l.p[l.o.Lambda_re + j * bh + k], -0.5);
      EXPECT_EQ(l.p[l.o.Lambda_im + j * bh + k], d.Lambda[k].imag());
      EXPECT_LT(l.p[l.o.Lambda_im + j * bh + k], 0.0);  // eigh's first half: the negative frequencies
    }
  for (size_t i = 0; i < l.o.P2; ++i) {
    const double step = std::exp(l.p[l.o.log_step + i]);
    EXPECT_GE(step, 0.001);
    EXPECT_LE(step, 0.1);
  }
  // B_tilde = V_half^H B with B real: the other half of the eigenvectors are the conjugates, so
  // B = V V^H B = 2 Re(V_half B_tilde), a lecun_normal draw of fan_in P
  double sum2 = 0;
  for (size_t j = 0; j < J; ++j)
    for (size_t n = 0; n < bs; ++n)
      for (size_t h = 0; h < H; ++h) {
        cd b = 0;
        for (size_t k = 0; k < bh; ++k) b += d.V[n * bs + k] * B_tilde(l, j * bh + k, h);
        const double B = 2.0 * b.real();
        EXPECT_LE(std::abs(B), lecun_bound(static_cast<double>(P)) + 1e-12);
        sum2 += B * B;
      }
  const double sd = std::sqrt(sum2 / static_cast<double>(P * H));
  EXPECT_NEAR(sd, 1.0 / std::sqrt(static_cast<double>(P)), 0.3 / std::sqrt(static_cast<double>(P)));
}

TEST(S5, WithoutConjugateSymmetryBAndCAreTheFullEigenbasisImagesOfRealDraws) {
  const size_t H = 6, P = 8, J = 2, bs = P / J;
  const Layer l = make_layer(H, P, J, false, 2);
  const DplrHippo d = make_dplr_hippo(bs);
  ASSERT_EQ(l.o.P2, P);
  for (size_t j = 0; j < J; ++j)
    for (size_t n = 0; n < bs; ++n) {
      // B = V B_tilde is real and bounded as lecun_normal(fan_in P)
      for (size_t h = 0; h < H; ++h) {
        cd b = 0;
        for (size_t k = 0; k < bs; ++k) b += d.V[n * bs + k] * B_tilde(l, j * bs + k, h);
        EXPECT_NEAR(b.imag(), 0.0, 1e-12);
        EXPECT_LE(std::abs(b.real()), lecun_bound(static_cast<double>(P)) + 1e-12);
      }
      // C = C_tilde V^H: both parts bounded as lecun_normal(fan_in P) (trunc_standard_normal)
      for (size_t h = 0; h < H; ++h) {
        cd c = 0;
        for (size_t k = 0; k < bs; ++k) c += C_tilde(l, h, j * bs + k) * std::conj(d.V[n * bs + k]);
        EXPECT_LE(std::abs(c.real()), lecun_bound(static_cast<double>(P)) + 1e-12);
        EXPECT_LE(std::abs(c.imag()), lecun_bound(static_cast<double>(P)) + 1e-12);
      }
    }
  // lecun_normal C: fan_in P * H
  const Layer ll = make_layer(H, P, J, false, 3, S5CInit::LecunNormal);
  for (size_t h = 0; h < H; ++h)
    for (size_t n = 0; n < bs; ++n) {
      cd c = 0;
      for (size_t k = 0; k < bs; ++k) c += C_tilde(ll, h, k) * std::conj(d.V[n * bs + k]);
      EXPECT_LE(std::abs(c.real()), lecun_bound(static_cast<double>(P * H)) + 1e-12);
    }
}

TEST(S5, DiscretizationsEqualTheirClosedForms) {
  const size_t H = 3, P = 8;
  Layer l = make_layer(H, P, 1, true, 4);
  for (const Discretization disc : {Discretization::Zoh, Discretization::Bilinear})
    for (const bool conj_sym : {true, false}) {
      S5Options opt;
      opt.discretization = disc;
      opt.conj_sym = conj_sym;
      opt.step_rescale = 1.5;
      S5Coeffs<double> k;
      s5_discretize(l.o, l.p.data(), opt, k);
      const double s = conj_sym ? 2.0 : 1.0;
      for (size_t p = 0; p < l.o.P2; ++p) {
        const cd La(l.p[l.o.Lambda_re + p], l.p[l.o.Lambda_im + p]);
        const double step = 1.5 * std::exp(l.p[l.o.log_step + p]);
        cd Lb, beta;
        if (disc == Discretization::Zoh) {
          Lb = std::exp(La * step);
          beta = (Lb - 1.0) / La;
          // ZOH is exact for an input held over the step: beta = integral_0^step exp(Lambda s) ds
          const int M = 20000;
          cd integral = 0;
          for (int j = 0; j < M; ++j) integral += std::exp(La * (step * (j + 0.5) / M)) * (step / M);
          EXPECT_NEAR(std::abs(beta - integral), 0.0, 1e-9);
        } else {
          Lb = (1.0 + step / 2.0 * La) / (1.0 - step / 2.0 * La);
          beta = step / (1.0 - step / 2.0 * La);
        }
        EXPECT_NEAR(k.Lr[p], Lb.real(), 1e-15);
        EXPECT_NEAR(k.Li[p], Lb.imag(), 1e-15);
        EXPECT_LT(std::abs(Lb), 1.0);  // stable: Re Lambda < 0
        for (size_t h = 0; h < H; ++h) {
          const cd Bb = beta * B_tilde(l, p, h);
          EXPECT_NEAR(k.Wb[2 * p * H + h], Bb.real(), 1e-15);
          EXPECT_NEAR(k.Wb[(2 * p + 1) * H + h], Bb.imag(), 1e-15);
          EXPECT_EQ(k.Wc[h * 2 * l.o.P2 + 2 * p], s * C_tilde(l, h, p).real());
          EXPECT_EQ(k.Wc[h * 2 * l.o.P2 + 2 * p + 1], -s * C_tilde(l, h, p).imag());
        }
      }
      for (size_t h = 0; h < H; ++h) EXPECT_EQ(k.D[h], l.p[l.o.D + h]);
    }
}

TEST(S5, TheForwardPassIsTheDefiningMimoRecurrence) {
  const size_t H = 3, P = 12, J = 2, L = 40;
  auto rng = ssmsim::testing::seeded_rng();
  for (const bool conj_sym : {true, false}) {
    Layer l = make_layer(H, P, J, conj_sym, 5);
    std::normal_distribution<double> nd(0, 1);
    for (size_t i = 0; i < l.o.P2; ++i) l.p[l.o.log_step + i] = std::log(0.05 + 0.1 * std::abs(nd(rng)));
    S5Options opt;
    opt.conj_sym = conj_sym;
    S5Coeffs<double> k;
    s5_discretize(l.o, l.p.data(), opt, k);
    Seq<double> u, y, xs;
    u.resize(L, H);
    for (auto& v : u.v) v = nd(rng);
    s5_forward(k, u, y, xs);
    const size_t P2 = l.o.P2;
    for (size_t lane = 0; lane < kLanes; ++lane) {
      std::vector<cd> x(P2, 0.0);
      for (size_t t = 0; t < L; ++t) {
        for (size_t p = 0; p < P2; ++p) {
          const cd Lb(k.Lr[p], k.Li[p]);
          cd Bu = 0;
          for (size_t h = 0; h < H; ++h)
            Bu += cd(k.Wb[2 * p * H + h], k.Wb[(2 * p + 1) * H + h]) * u.at(t, h)[lane];
          x[p] = Lb * x[p] + Bu;
          EXPECT_NEAR(xs.at(t, 2 * p)[lane], x[p].real(), 1e-12);
          EXPECT_NEAR(xs.at(t, 2 * p + 1)[lane], x[p].imag(), 1e-12);
        }
        for (size_t h = 0; h < H; ++h) {
          cd Cx = 0;
          for (size_t p = 0; p < P2; ++p) Cx += C_tilde(l, h, p) * x[p];
          const double expect = (conj_sym ? 2.0 : 1.0) * Cx.real() + l.p[l.o.D + h] * u.at(t, h)[lane];
          EXPECT_NEAR(y.at(t, h)[lane], expect, 1e-12) << "t " << t << " h " << h;
        }
      }
    }
  }
}

TEST(S5, ConjugateSymmetryEqualsTheFullRealSystem) {
  // 2 Re(C_half x_half) with the conjugate half left out equals Re(C x) of the full system whose
  // second half holds the conjugates: the reference's conj_sym shortcut is exact
  const size_t H = 2, P = 8, L = 30;
  Layer half = make_layer(H, P, 1, true, 6);
  ParamLayout fl;
  const S5Offsets fo = s5_register(fl, "", H, P);
  std::vector<double> full(fl.total());
  const size_t P2 = P / 2;
  for (size_t p = 0; p < P2; ++p)
    for (size_t c = 0; c < 2; ++c) {
      const double sign = c == 0 ? 1.0 : -1.0;  // the conjugate's imaginary parts flip
      const size_t q = p + c * P2;
      full[fo.Lambda_re + q] = half.p[half.o.Lambda_re + p];
      full[fo.Lambda_im + q] = sign * half.p[half.o.Lambda_im + p];
      full[fo.log_step + q] = half.p[half.o.log_step + p];
      for (size_t h = 0; h < H; ++h) {
        full[fo.B + (q * H + h) * 2] = half.p[half.o.B + (p * H + h) * 2];
        full[fo.B + (q * H + h) * 2 + 1] = sign * half.p[half.o.B + (p * H + h) * 2 + 1];
        full[fo.C + (h * P + q) * 2] = half.p[half.o.C + (h * P2 + p) * 2];
        full[fo.C + (h * P + q) * 2 + 1] = sign * half.p[half.o.C + (h * P2 + p) * 2 + 1];
      }
    }
  for (size_t h = 0; h < H; ++h) full[fo.D + h] = half.p[half.o.D + h];
  S5Options on, off;
  off.conj_sym = false;
  S5Coeffs<double> kh, kf;
  s5_discretize(half.o, half.p.data(), on, kh);
  s5_discretize(fo, full.data(), off, kf);
  auto rng = ssmsim::testing::seeded_rng();
  std::normal_distribution<double> nd(0, 1);
  Seq<double> u, yh, yf, xs;
  u.resize(L, H);
  for (auto& v : u.v) v = nd(rng);
  s5_forward(kh, u, yh, xs);
  s5_forward(kf, u, yf, xs);
  for (size_t i = 0; i < yh.v.size(); ++i) EXPECT_NEAR(yh.v[i], yf.v[i], 1e-12);
}

TEST(S5, ModelConfigAcceptsS5AndRoundTripsItsKeys) {
  const YAML::Node n = YAML::Load(
      "{layer: s5, H: 12, P: 16, J: 2, conj_sym: true, step_rescale: 2.0, C_init: complex_normal, "
      "mixing: half_glu2, discretization: bilinear, prenorm: true}");
  const ModelConfig c = ModelConfig::from_yaml(n);
  EXPECT_EQ(c.layer, LayerType::S5);
  EXPECT_EQ(c.P, 16u);
  EXPECT_EQ(c.J, 2u);
  EXPECT_TRUE(c.conj_sym);
  EXPECT_EQ(c.step_rescale, 2.0);
  EXPECT_EQ(c.C_init, S5CInit::ComplexNormal);
  const ModelConfig r = ModelConfig::from_yaml(YAML::Load(YAML::Dump(c.to_yaml())));
  EXPECT_EQ(YAML::Dump(r.to_yaml()), YAML::Dump(c.to_yaml()));
  EXPECT_EQ(r.P, 16u);
  EXPECT_EQ(r.J, 2u);
  EXPECT_EQ(r.step_rescale, 2.0);
  EXPECT_EQ(r.C_init, S5CInit::ComplexNormal);
  EXPECT_EQ(r.layer, LayerType::S5);

  auto error_of = [](const std::string& yaml) -> std::string {
    try {
      ModelConfig::from_yaml(YAML::Load(yaml));
    } catch (const ssmsim::ConfigError& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(error_of("{layer: s5, P: 16, J: 3}").find("model.J"), std::string::npos);
  EXPECT_NE(error_of("{layer: s5, P: 12, J: 4}").find("model.P"), std::string::npos);  // odd blocks
  EXPECT_EQ(error_of("{layer: s5, P: 12, J: 4, conj_sym: false}"), "");
  EXPECT_NE(error_of("{layer: s5, C_init: glorot}").find("trunc_standard_normal"), std::string::npos);
}

TEST(S5, ModelRegistersTheReferenceNamesShapesAndGroups) {
  ModelConfig c;
  c.layer = LayerType::S5;
  c.d_input = 1;
  c.d_output = 10;
  c.H = 6;
  c.P = 8;
  c.n_layers = 2;
  c.mixing = Mixing::Glu;
  const Model m(c);
  const auto& L = m.layout();
  auto shape = [&](const std::string& n) { return L.find(n).shape; };
  EXPECT_EQ(shape("layers.1.seq.Lambda_re"), (std::vector<int64_t>{4}));
  EXPECT_EQ(shape("layers.1.seq.Lambda_im"), (std::vector<int64_t>{4}));
  EXPECT_EQ(shape("layers.1.seq.B"), (std::vector<int64_t>{4, 6, 2}));
  EXPECT_EQ(shape("layers.1.seq.C"), (std::vector<int64_t>{6, 4, 2}));
  EXPECT_EQ(shape("layers.1.seq.D"), (std::vector<int64_t>{6}));
  EXPECT_EQ(shape("layers.1.seq.log_step"), (std::vector<int64_t>{4, 1}));
  EXPECT_EQ(shape("layers.0.out1.weight"), (std::vector<int64_t>{6, 6}));
  EXPECT_EQ(shape("layers.0.out2.weight"), (std::vector<int64_t>{6, 6}));
  EXPECT_EQ(shape("layers.0.norm.weight"), (std::vector<int64_t>{6}));
  // the GLU's two halves are contiguous: out1 then out2, weights and biases
  EXPECT_EQ(L.find("layers.0.out2.weight").offset, L.find("layers.0.out1.weight").offset + 36);
  EXPECT_EQ(L.find("layers.0.out2.bias").offset, L.find("layers.0.out1.bias").offset + 6);
  for (const char* n : {"Lambda_re", "Lambda_im", "B", "log_step"})
    EXPECT_EQ(L.find(std::string("layers.0.seq.") + n).group, ParamGroup::Ssm) << n;
  EXPECT_EQ(L.find("layers.0.seq.C").group, ParamGroup::Regular);
  EXPECT_EQ(L.find("layers.0.seq.D").group, ParamGroup::Regular);
  EXPECT_EQ(L.find("layers.0.norm.weight").group, ParamGroup::Ssm);  // opt_config "standard"
  EXPECT_EQ(L.find("decoder.bias").group, ParamGroup::Regular);
  EXPECT_THROW(L.find("s4_layers.0.kernel.log_dt"), ssmsim::InputError);

  // a checkpoint keeps the S5 configuration and every parameter
  const auto p = m.init(3);
  const std::vector<float> pf(p.begin(), p.end());
  const auto file = ssmsim::testing::scratch_dir("s5_checkpoint") / "s5.safetensors";
  save_checkpoint(file, m, pf, {});
  const FloatCheckpoint ck = load_checkpoint(file);
  EXPECT_EQ(ck.config.layer, LayerType::S5);
  EXPECT_EQ(ck.config.P, 8u);
  EXPECT_EQ(ck.config.C_init, S5CInit::TruncStandardNormal);
  EXPECT_TRUE(ck.params == pf);
}

TEST(S5, ThePresetsParse) {
  for (const char* name : {"s5_small", "s5_qs5_smnist"}) {
    const YAML::Node n = YAML::LoadFile((ssmsim::testing::source_dir() / "configs/models" /
                                         (std::string(name) + ".yaml")).string());
    const ModelConfig c = ModelConfig::from_yaml(n["model"]);
    const TrainConfig t = TrainConfig::from_yaml(n["train"]);
    EXPECT_EQ(c.layer, LayerType::S5) << name;
    EXPECT_TRUE(c.prenorm) << name;
    EXPECT_EQ(c.name, name);
    EXPECT_GT(t.epochs, 0u);
  }
  // Q-S5's sMNIST run (run_smnist.sh): 4 layers, H 96, P 128, J 1, SSM lr 0.004, lr 4 x 0.004,
  // weight decay 0.01, dropout 0.1, batch 50, 150 epochs
  const YAML::Node q = YAML::LoadFile((ssmsim::testing::source_dir() / "configs/models/s5_qs5_smnist.yaml").string());
  const ModelConfig c = ModelConfig::from_yaml(q["model"]);
  const TrainConfig t = TrainConfig::from_yaml(q["train"]);
  EXPECT_EQ(c.n_layers, 4u);
  EXPECT_EQ(c.H, 96u);
  EXPECT_EQ(c.P, 128u);
  EXPECT_EQ(c.J, 1u);
  EXPECT_EQ(c.mixing, Mixing::HalfGlu1);
  EXPECT_EQ(c.norm, Norm::Layer);  // the "LN*" model of Q-S5's PTQ tables: LayerNorm without bias
  EXPECT_FALSE(c.norm_bias);
  EXPECT_EQ(c.discretization, Discretization::Zoh);
  EXPECT_EQ(c.dropout, 0.1);
  EXPECT_EQ(t.ssm_lr, 0.004);
  EXPECT_EQ(t.lr, 0.016);
  EXPECT_EQ(t.weight_decay, 0.01);
  EXPECT_EQ(t.ssm_weight_decay, 0.0);
  EXPECT_EQ(t.batch_size, 50u);
  EXPECT_EQ(t.epochs, 150u);
}

namespace {

using ssmsim::testing::pulse_set;

// The pulse task's model as a small pre-norm S5 with half_glu1.
ModelConfig pulse_s5_model() {
  ModelConfig c = ssmsim::testing::pulse_model();
  c.layer = LayerType::S5;
  c.P = 16;
  c.prenorm = true;
  c.mixing = Mixing::HalfGlu1;
  return c;
}

}  // namespace

TEST(S5, ASmallS5ModelLearnsWhereThePulseWas) {
  const Workload w = ssmsim::testing::pulse_workload(7);
  const Model model(pulse_s5_model());
  const auto p = model.init(3);
  const double before = evaluate(model, std::vector<float>(p.begin(), p.end()), w.test, 4).accuracy;
  const TrainState st = ssmsim::testing::train_fresh(model, ssmsim::testing::pulse_recipe(40), w);
  const EvalResult after = evaluate(model, st.best_params, w.test, 4);
  EXPECT_LT(before, 0.5);
  EXPECT_GT(after.accuracy, 0.9) << "test accuracy after training";
}

TEST(S5, TheSameSeedGivesTheSameBitsForAnyThreadCount) {
  std::mt19937_64 rng(11);
  Workload w;
  w.name = "pulse";
  w.num_classes = 4;
  w.train = pulse_set(200, 32, rng);
  w.val = pulse_set(40, 32, rng);
  w.test = pulse_set(40, 32, rng);
  ModelConfig c;
  c.layer = LayerType::S5;
  c.d_input = 1;
  c.d_output = 4;
  c.H = 6;
  c.P = 12;
  c.J = 2;
  c.n_layers = 2;
  c.prenorm = true;
  c.mixing = Mixing::HalfGlu2;
  c.dropout = 0.1;
  const Model model(c);
  std::vector<std::vector<float>> results;
  for (size_t threads : {1u, 2u, 3u}) {
    TrainConfig cfg;
    cfg.epochs = 2;
    cfg.batch_size = 36;  // not a multiple of the chunk width: a partial chunk every step
    cfg.seed = 5;
    cfg.threads = threads;
    results.push_back(ssmsim::testing::train_fresh(model, cfg, w).params);
  }
  EXPECT_TRUE(results[0] == results[1]);
  EXPECT_TRUE(results[0] == results[2]);
}

// norm_bias: false (Q-S5's "LN*" models): the norm's shift is stored, stays exactly zero through
// training and takes no part in gradient clipping, while the norm's scale and the rest train.
TEST(S5, ALayerNormWithoutBiasKeepsItsShiftAtZero) {
  const Workload w = ssmsim::testing::pulse_workload(7);
  ModelConfig c = pulse_s5_model();
  c.norm = Norm::Layer;
  c.norm_bias = false;
  const Model model(c);
  const auto p0 = model.init(3);
  TrainConfig cfg = ssmsim::testing::pulse_recipe(10);
  cfg.grad_clip = 0.5;
  const TrainState st = ssmsim::testing::train_fresh(model, cfg, w);
  size_t biases = 0, scales_moved = 0;
  for (const auto& info : model.layout().params()) {
    const bool bias = info.name.size() > 9 && info.name.compare(info.name.size() - 9, 9, "norm.bias") == 0;
    const bool scale = info.name.size() > 11 && info.name.compare(info.name.size() - 11, 11, "norm.weight") == 0;
    for (size_t j = 0; j < info.size; ++j) {
      if (bias) EXPECT_EQ(st.params[info.offset + j], 0.f) << info.name;
      if (scale && st.params[info.offset + j] != static_cast<float>(p0[info.offset + j])) ++scales_moved;
    }
    if (bias) {
      ++biases;
      EXPECT_EQ(info.group, ParamGroup::Buffer) << info.name;
    }
  }
  EXPECT_EQ(biases, c.n_layers);
  EXPECT_GT(scales_moved, 0u);
  EXPECT_GT(evaluate(model, st.best_params, w.test, 4).accuracy, 0.9);
  // the same model with a learned shift moves it
  c.norm_bias = true;
  const Model with(c);
  const TrainState sb = ssmsim::testing::train_fresh(with, cfg, w);
  const auto& b = with.layout().params();
  const auto it = std::find_if(b.begin(), b.end(), [](const auto& i) { return i.name == "layers.0.norm.bias"; });
  ASSERT_NE(it, b.end());
  EXPECT_NE(sb.params[it->offset], 0.f);
}
