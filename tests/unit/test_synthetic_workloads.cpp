// The synthetic tasks (adding, recall, sines) and the workload registry: shapes, determinism for
// a seed, independence of the splits, and what the targets and labels mean.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "quant/errors.hpp"
#include "tests/support/testing.hpp"
#include "workloads/dataset.hpp"
#include "workloads/rng.hpp"
#include "workloads/synthetic.hpp"

namespace {

using namespace ssmsim::workloads;

WorkloadOptions with_seed(uint64_t seed, size_t train_size = 0) {
  WorkloadOptions o;
  o.seed = seed;
  o.train_size = train_size;
  return o;
}

bool same_set(const SequenceSet& a, const SequenceSet& b) {
  return a.n == b.n && a.length == b.length && a.d_input == b.d_input && a.inputs == b.inputs &&
         a.labels == b.labels && a.targets == b.targets && a.target_length == b.target_length &&
         a.d_output == b.d_output;
}

void expect_shapes(const SequenceSet& s, size_t n, size_t length, size_t d) {
  EXPECT_EQ(s.n, n);
  EXPECT_EQ(s.length, length);
  EXPECT_EQ(s.d_input, d);
  EXPECT_EQ(s.inputs.size(), n * length * d);
}

TEST(WorkloadRegistry, ListsEveryWorkloadInTheDocumentedOrder) {
  EXPECT_EQ(workload_names(), (std::vector<std::string>{"smnist", "psmnist", "adding", "recall",
                                                        "sines", "lorenz", "mackey_glass"}));
}

TEST(WorkloadRegistry, RejectsAnUnknownNameAndListsTheKnownOnes) {
  try {
    load_workload("cifar");
    FAIL() << "no error for an unknown workload";
  } catch (const ssmsim::InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("'cifar'"), std::string::npos) << msg;
    for (const auto& name : workload_names()) EXPECT_NE(msg.find(name), std::string::npos) << msg;
  }
}

TEST(SyntheticWorkloads, AreTheSameForASeedAndDifferForAnother) {
  for (const char* name : {"adding", "recall", "sines", "lorenz", "mackey_glass"}) {
    SCOPED_TRACE(name);
    const Workload a = load_workload(name, with_seed(7, 50));
    const Workload b = load_workload(name, with_seed(7, 50));
    const Workload c = load_workload(name, with_seed(8, 50));
    EXPECT_EQ(a.name, name);
    EXPECT_FALSE(a.description.empty());
    EXPECT_TRUE(same_set(a.train, b.train));
    EXPECT_TRUE(same_set(a.val, b.val));
    EXPECT_TRUE(same_set(a.test, b.test));
    EXPECT_NE(a.train.inputs, c.train.inputs);
    EXPECT_NE(a.test.inputs, c.test.inputs);
    EXPECT_NE(a.train.inputs, a.val.inputs);  // the splits are different draws
  }
}

TEST(SyntheticWorkloads, HaveTheDefaultSplitSizesAndTrainSizeChangesOnlyTheTrainingSet) {
  const Workload full = load_workload("sines", with_seed(3));
  EXPECT_EQ(full.train.n, 2000u);
  EXPECT_EQ(full.val.n, 500u);
  EXPECT_EQ(full.test.n, 500u);
  const Workload small = load_workload("sines", with_seed(3, 100));
  EXPECT_EQ(small.train.n, 100u);
  EXPECT_TRUE(same_set(small.val, full.val));
  EXPECT_TRUE(same_set(small.test, full.test));
  // The smaller training set is a prefix of the larger: the same stream, drawn for less long.
  EXPECT_TRUE(
      std::equal(small.train.inputs.begin(), small.train.inputs.end(), full.train.inputs.begin()));
}

TEST(SyntheticWorkloads, RejectAnAbsurdTrainSize) {
  EXPECT_THROW(load_workload("adding", with_seed(1, size_t{1} << 40)), ssmsim::InputError);
}

TEST(AddingProblem, TargetIsTheSumOfTheTwoMarkedValuesOneMarkerInEachHalf) {
  auto rng = ssmsim::testing::seeded_rng();
  const SequenceSet s = make_adding(300, rng());
  expect_shapes(s, 300, 200, 2);
  EXPECT_TRUE(s.labels.empty());
  ASSERT_EQ(s.target_length, 1u);
  ASSERT_EQ(s.d_output, 1u);
  ASSERT_EQ(s.targets.size(), 300u);
  for (size_t i = 0; i < s.n; ++i) {
    const float* x = s.input(i);
    std::vector<size_t> marked;
    for (size_t t = 0; t < s.length; ++t) {
      EXPECT_GE(x[2 * t], 0.0f);
      EXPECT_LT(x[2 * t], 1.0f);
      ASSERT_TRUE(x[2 * t + 1] == 0.0f || x[2 * t + 1] == 1.0f);
      if (x[2 * t + 1] == 1.0f) marked.push_back(t);
    }
    ASSERT_EQ(marked.size(), 2u) << "sequence " << i;
    EXPECT_LT(marked[0], 100u);
    EXPECT_GE(marked[1], 100u);
    EXPECT_EQ(*s.target(i), x[2 * marked[0]] + x[2 * marked[1]]) << "sequence " << i;
  }
  const Workload w = load_workload("adding", with_seed(1, 10));
  EXPECT_EQ(w.kind, TaskKind::Regression);
}

TEST(DelayedRecall, ShowsTheLabelledTokenEarlyAndTheQueryAtTheLastStep) {
  auto rng = ssmsim::testing::seeded_rng();
  RecallParams p;
  p.noise = 0.0;  // noiseless, so the one-hots can be read back exactly
  const SequenceSet s = make_recall(200, rng(), p);
  expect_shapes(s, 200, 150, 9);
  std::set<int32_t> seen;
  for (size_t i = 0; i < s.n; ++i) {
    const float* x = s.input(i);
    ASSERT_GE(s.labels[i], 0);
    ASSERT_LT(s.labels[i], 8);
    seen.insert(s.labels[i]);
    size_t ones = 0;
    for (size_t t = 0; t < s.length; ++t)
      for (size_t c = 0; c < 9; ++c)
        if (x[t * 9 + c] != 0.0f) {
          ++ones;
          EXPECT_EQ(x[t * 9 + c], 1.0f);
          if (c == 8) {
            EXPECT_EQ(t, s.length - 1) << "the query is at the last step";
          } else {
            EXPECT_LT(t, 10u) << "the token is shown in the first 10 steps";
            EXPECT_EQ(static_cast<int32_t>(c), s.labels[i]);
          }
        }
    EXPECT_EQ(ones, 2u);
  }
  EXPECT_EQ(seen.size(), 8u);
  const Workload w = load_workload("recall", with_seed(1, 10));
  EXPECT_EQ(w.kind, TaskKind::Classification);
  EXPECT_EQ(w.num_classes, 8u);
}

TEST(SineFrequencies, PeakAtTheLabelledFrequency) {
  auto rng = ssmsim::testing::seeded_rng();
  const SinesParams p;
  const SequenceSet s = make_sines(200, rng(), p);
  expect_shapes(s, 200, 160, 1);
  size_t right = 0;
  for (size_t i = 0; i < s.n; ++i) {
    const float* x = s.input(i);
    // The class whose frequency carries the most power (a matched filter on each frequency).
    size_t best = 0;
    double best_power = -1;
    for (size_t k = 0; k < p.num_classes; ++k) {
      const double f = p.f0 + static_cast<double>(k) * p.df;
      double re = 0, im = 0;
      for (size_t t = 0; t < s.length; ++t) {
        re += x[t] * std::cos(6.283185307179586 * f * static_cast<double>(t));
        im += x[t] * std::sin(6.283185307179586 * f * static_cast<double>(t));
      }
      if (re * re + im * im > best_power) best_power = re * re + im * im, best = k;
    }
    right += static_cast<int32_t>(best) == s.labels[i];
  }
  EXPECT_GE(right, 190u) << "the task is learnable: a matched filter gets nearly all right";
}

TEST(PortableRng, PermutesAndDrawsWithoutBiasFromAFixedSeed) {
  Rng rng(42);
  const auto p = random_permutation(1000, rng);
  std::vector<uint32_t> sorted = p;
  std::sort(sorted.begin(), sorted.end());
  for (uint32_t i = 0; i < 1000; ++i) EXPECT_EQ(sorted[i], i);
  double sum = 0, sq = 0;
  for (int i = 0; i < 20000; ++i) {
    const double z = rng.normal();
    sum += z;
    sq += z * z;
  }
  EXPECT_NEAR(sum / 20000, 0.0, 0.03);
  EXPECT_NEAR(sq / 20000, 1.0, 0.04);
  EXPECT_NE(derive_seed(1, "adding", 0), derive_seed(1, "adding", 1));
  EXPECT_NE(derive_seed(1, "adding", 0), derive_seed(1, "recall", 0));
  EXPECT_NE(derive_seed(1, "adding", 0), derive_seed(2, "adding", 0));
}

}  // namespace
