// BatchNorm: chunk statistics over the valid lanes only, running statistics pooled exactly over a
// step's chunks, inference on the running statistics.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "ssm_core/layers.hpp"
#include "ssm_core/model.hpp"
#include "tests/support/testing.hpp"

using namespace ssmsim::core;

namespace {

Seq<double> random_seq(size_t L, size_t F, std::mt19937_64& rng, double shift) {
  Seq<double> s;
  s.resize(L, F);
  std::normal_distribution<double> nd(shift, 2.0);
  for (auto& v : s.v) v = nd(rng);
  return s;
}

}  // namespace

TEST(BatchNorm, NormalisesEachFeatureOverTheValidLanesAndStepsOnly) {
  auto rng = ssmsim::testing::seeded_rng("bn_forward");
  const size_t L = 7, F = 3;
  Seq<double> in = random_seq(L, F, rng, 3.0), out;
  bool valid[kLanes] = {true, true, false, true, true, false, true, false};
  const std::vector<double> gamma(F, 1.0), beta(F, 0.0);
  std::vector<double> mean, var, rstd;
  batchnorm_forward(gamma.data(), beta.data(), static_cast<const double*>(nullptr),
                    static_cast<const double*>(nullptr), in, valid, out, mean, var, rstd, 0.0);
  for (size_t f = 0; f < F; ++f) {
    double m = 0, m2 = 0, n = 0, mi = 0;
    for (size_t t = 0; t < L; ++t)
      for (size_t l = 0; l < kLanes; ++l)
        if (valid[l]) {
          m += out.at(t, f)[l];
          m2 += out.at(t, f)[l] * out.at(t, f)[l];
          mi += in.at(t, f)[l];
          n += 1;
        }
    EXPECT_NEAR(m / n, 0.0, 1e-12);
    EXPECT_NEAR(m2 / n, 1.0, 1e-12);
    EXPECT_NEAR(mean[f], mi / n, 1e-12);
  }
  // the padding lanes do not move the statistics
  Seq<double> in2 = in, out2;
  for (size_t t = 0; t < L; ++t)
    for (size_t f = 0; f < F; ++f) in2.at(t, f)[2] = 1e6;
  std::vector<double> mean2, var2, rstd2;
  batchnorm_forward(gamma.data(), beta.data(), static_cast<const double*>(nullptr),
                    static_cast<const double*>(nullptr), in2, valid, out2, mean2, var2, rstd2, 0.0);
  EXPECT_EQ(mean, mean2);
  EXPECT_EQ(var, var2);
}

TEST(BatchNorm, InferenceUsesTheRunningStatistics) {
  auto rng = ssmsim::testing::seeded_rng("bn_inference");
  const size_t L = 5, F = 2;
  Seq<double> in = random_seq(L, F, rng, 0.0), out;
  bool valid[kLanes] = {true, true, true, true, true, true, true, true};
  const std::vector<double> gamma = {2.0, 0.5}, beta = {1.0, -1.0}, rm = {0.3, -0.2}, rv = {4.0, 0.25};
  std::vector<double> mean, var, rstd;
  batchnorm_forward(gamma.data(), beta.data(), rm.data(), rv.data(), in, valid, out, mean, var, rstd, 1e-5);
  for (size_t t = 0; t < L; ++t)
    for (size_t f = 0; f < F; ++f)
      for (size_t l = 0; l < kLanes; ++l)
        EXPECT_NEAR(out.at(t, f)[l], (in.at(t, f)[l] - rm[f]) / std::sqrt(rv[f] + 1e-5) * gamma[f] + beta[f],
                    1e-12);
}

// The running statistics of a step equal torch's on the whole batch: the pooled mean and the
// unbiased variance of all (sequence, step) elements, whatever the chunking.
TEST(BatchNorm, RunningStatisticsPoolTheChunksExactly) {
  ModelConfig c;
  c.d_input = 1;
  c.d_output = 2;
  c.H = 3;
  c.N = 4;
  c.norm = Norm::Batch;
  c.prenorm = true;  // the statistics are of the encoder output: easy to recompute here
  const Model model(c);
  auto rng = ssmsim::testing::seeded_rng("bn_running");
  auto p64 = model.init(3);
  std::vector<float> params(p64.begin(), p64.end());
  const size_t L = 9, n = 13;  // one full chunk and a partial one
  std::vector<std::vector<float>> x(n, std::vector<float>(L));
  std::normal_distribution<float> nd(1.0f, 3.0f);
  for (auto& s : x)
    for (auto& v : s) v = nd(rng);
  Model::Prepared<float> prep;
  model.prepare(params.data(), prep);
  auto ws = make_workspace<float>();
  std::vector<ChunkResult> res;
  for (size_t begin = 0; begin < n; begin += kLanes) {
    Chunk ch;
    ch.L = L;
    for (size_t l = 0; l < kLanes && begin + l < n; ++l) {
      ch.x[l] = x[begin + l].data();
      ch.label[l] = 0;
    }
    res.push_back(model.run_chunk(params.data(), prep, ch, 77, static_cast<float*>(nullptr), *ws));
  }
  const std::vector<float> before = params;
  model.update_norm_stats(res.data(), res.size(), params.data(), 0.1);
  const auto& W = model.layout().find("encoder.weight");
  const auto& b = model.layout().find("encoder.bias");
  const auto& rm = model.layout().find("norms.0.running_mean");
  const auto& rv = model.layout().find("norms.0.running_var");
  for (size_t f = 0; f < c.H; ++f) {
    double s = 0, s2 = 0;
    const double cnt = static_cast<double>(n * L);
    for (const auto& seq : x)
      for (float u : seq) s += static_cast<double>(before[W.offset + f]) * u + before[b.offset + f];
    const double mu = s / cnt;
    for (const auto& seq : x)
      for (float u : seq) {
        const double e = static_cast<double>(before[W.offset + f]) * u + before[b.offset + f] - mu;
        s2 += e * e;
      }
    EXPECT_NEAR(params[rm.offset + f], 0.9 * before[rm.offset + f] + 0.1 * mu, 1e-5);
    EXPECT_NEAR(params[rv.offset + f], 0.9 * before[rv.offset + f] + 0.1 * s2 / (cnt - 1), 1e-4);
  }
}
