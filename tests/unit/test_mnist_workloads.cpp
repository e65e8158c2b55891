// sMNIST and psMNIST on the real data: split sizes, label range, pixel scaling, the permutation.
// The data tests skip when the MNIST cache is absent (`make data` fetches it; `make test` does so
// first) and fail instead when SSMSIM_REQUIRE_DATA=1.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "quant/errors.hpp"
#include "tests/support/testing.hpp"
#include "workloads/dataset.hpp"
#include "workloads/mnist.hpp"

namespace {

using namespace ssmsim::workloads;

bool data_required() {
  const char* v = std::getenv("SSMSIM_REQUIRE_DATA");
  return v && std::string(v) == "1";
}

#define REQUIRE_MNIST_OR_SKIP()                                                                    \
  do {                                                                                             \
    if (!mnist_present()) {                                                                        \
      const std::string why = "MNIST is not in " + mnist_dir().string() + "; " + mnist_fix_hint(); \
      if (data_required()) FAIL() << why << " (SSMSIM_REQUIRE_DATA=1)";                            \
      GTEST_SKIP() << why;                                                                         \
    }                                                                                              \
  } while (0)

TEST(PsmnistPermutation, IsAPermutationOfTheSevenHundredEightyFourPixels) {
  const auto& perm = psmnist_permutation();
  ASSERT_EQ(perm.size(), 784u);
  std::vector<uint32_t> sorted = perm;
  std::sort(sorted.begin(), sorted.end());
  for (uint32_t i = 0; i < 784; ++i) ASSERT_EQ(sorted[i], i);
  size_t fixed_points = 0;
  for (uint32_t i = 0; i < 784; ++i) fixed_points += perm[i] == i;
  EXPECT_LT(fixed_points, 10u) << "a random permutation moves nearly every pixel";
}

TEST(PsmnistPermutation, IsFixedForEveryoneWhateverTheWorkloadSeed) {
  // Golden values: psMNIST is one task, so its permutation may never change.
  const auto& perm = psmnist_permutation();
  const std::vector<uint32_t> first = {perm.begin(), perm.begin() + 8};
  EXPECT_EQ(first, (std::vector<uint32_t>{730, 156, 682, 109, 58, 381, 214, 41}));
  uint64_t h = 1469598103934665603ull;
  for (uint32_t v : perm) h = (h ^ v) * 1099511628211ull;
  EXPECT_EQ(h, 0x6fe740d32bd294e7ull);
}

TEST(Smnist, HasTheDocumentedSplitsLabelsAndPixelScale) {
  REQUIRE_MNIST_OR_SKIP();
  const Workload w = load_workload("smnist");
  EXPECT_EQ(w.kind, TaskKind::Classification);
  EXPECT_EQ(w.num_classes, 10u);
  EXPECT_EQ(w.train.n, 55000u);
  EXPECT_EQ(w.val.n, 5000u);
  EXPECT_EQ(w.test.n, 10000u);
  for (const SequenceSet* s : {&w.train, &w.val, &w.test}) {
    EXPECT_EQ(s->length, 784u);
    EXPECT_EQ(s->d_input, 1u);
    ASSERT_EQ(s->inputs.size(), s->n * 784);
    ASSERT_EQ(s->labels.size(), s->n);
    std::vector<size_t> count(10, 0);
    for (int32_t y : s->labels) {
      ASSERT_GE(y, 0);
      ASSERT_LT(y, 10);
      ++count[static_cast<size_t>(y)];
    }
    for (size_t c : count) EXPECT_GT(c, s->n / 20) << "every digit is present";
    const auto [lo, hi] = std::minmax_element(s->inputs.begin(), s->inputs.end());
    EXPECT_EQ(*lo, 0.0f);
    EXPECT_EQ(*hi, 1.0f);
  }
  // The well-known first labels of the official files: 5 0 4 1 9 (train), 7 2 1 0 4 (test).
  EXPECT_EQ(std::vector<int32_t>(w.train.labels.begin(), w.train.labels.begin() + 5),
            (std::vector<int32_t>{5, 0, 4, 1, 9}));
  EXPECT_EQ(std::vector<int32_t>(w.test.labels.begin(), w.test.labels.begin() + 5),
            (std::vector<int32_t>{7, 2, 1, 0, 4}));
  // Every value is a whole number of 255ths.
  for (size_t k = 0; k < 784 * 10; ++k) {
    const float v = w.train.inputs[k] * 255.0f;
    EXPECT_EQ(v, static_cast<float>(static_cast<int>(v + 0.5f)));
  }
}

TEST(Psmnist, ShowsTheSmnistPixelsInThePermutedOrderAndTrainSizeTrimsTheTrainingSet) {
  REQUIRE_MNIST_OR_SKIP();
  WorkloadOptions options;
  options.train_size = 100;
  options.seed = 12345;  // must not matter
  const Workload plain = load_workload("smnist", options);
  const Workload perm = load_workload("psmnist", options);
  EXPECT_EQ(plain.train.n, 100u);
  EXPECT_EQ(perm.train.n, 100u);
  EXPECT_EQ(perm.val.n, 5000u);
  EXPECT_EQ(perm.test.n, 10000u);
  EXPECT_EQ(perm.train.labels, plain.train.labels);
  EXPECT_EQ(perm.test.labels, plain.test.labels);
  const auto& p = psmnist_permutation();
  for (const auto& [a, b] :
       {std::pair{&plain.train, &perm.train}, std::pair{&plain.test, &perm.test}})
    for (size_t i = 0; i < 50; ++i)
      for (size_t t = 0; t < 784; ++t) ASSERT_EQ(b->input(i)[t], a->input(i)[p[t]]);
}

TEST(Smnist, RejectsATrainSizeBeyondTheTrainingSplit) {
  WorkloadOptions options;
  options.train_size = 55001;
  // the size error itself, not whatever error comes first (a missing data folder also throws)
  try {
    load_workload("smnist", options);
    FAIL() << "train_size 55001 was accepted";
  } catch (const ssmsim::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("train_size = 55001"), std::string::npos) << e.what();
  }
}

TEST(Smnist, ValSizeUpToTenThousandExtendsTheOfficialSplitWithTheEndOfTheTrainingFile) {
  REQUIRE_MNIST_OR_SKIP();
  WorkloadOptions paper;  // the S4D paper code's split: 50,000 / 10,000
  paper.train_size = 50000;
  paper.val_size = 10000;
  const Workload wide = load_workload("smnist", paper);
  WorkloadOptions official;
  official.val_size = 3000;
  const Workload narrow = load_workload("smnist", official);
  WorkloadOptions rest;  // training images 50,000..54,999 as training sequences
  rest.train_size = 55000;
  rest.val_size = 1;
  const Workload all = load_workload("smnist", rest);
  ASSERT_EQ(wide.train.n, 50000u);
  ASSERT_EQ(wide.val.n, 10000u);
  ASSERT_EQ(narrow.val.n, 3000u);
  // Validation: the official 5,000 in order (so the 3,000 split is its beginning), then the unused
  // training images 50,000..54,999.
  for (size_t i : {size_t{0}, size_t{2999}}) {
    EXPECT_EQ(wide.val.labels[i], narrow.val.labels[i]);
    for (size_t t = 0; t < 784; ++t) ASSERT_EQ(wide.val.input(i)[t], narrow.val.input(i)[t]);
  }
  for (size_t i : {size_t{0}, size_t{1234}, size_t{4999}}) {
    EXPECT_EQ(wide.val.labels[5000 + i], all.train.labels[50000 + i]);
    for (size_t t = 0; t < 784; ++t) ASSERT_EQ(wide.val.input(5000 + i)[t], all.train.input(50000 + i)[t]);
  }
  EXPECT_NE(wide.description.find("validation images 55000..59999 then 50000..54999"), std::string::npos)
      << wide.description;
}

TEST(Smnist, RejectsAValidationSplitThatOverlapsTheTrainingSplit) {
  const auto rejects = [](size_t train, size_t val, const std::string& says) {
    WorkloadOptions options;
    options.train_size = train;
    options.val_size = val;
    try {
      load_workload("smnist", options);
      ADD_FAILURE() << "train_size " << train << " with val_size " << val << " was accepted";
    } catch (const ssmsim::InputError& e) {
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
    }
  };
  rejects(0, 6000, "set data.train_size to at most 54000");
  rejects(50001, 10000, "set data.train_size to at most 50000");
  rejects(100, 10001, "val_size = 10001");
}

}  // namespace
