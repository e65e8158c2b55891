// Synthetic sequence tasks, generated deterministically from a seed: the adding problem, delayed
// recall, and sine-frequency classification (docs/workloads.md). Small by default so that tests
// and sweeps are quick, long enough (150-200 steps) that the recurrence has to carry information.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "workloads/dataset.hpp"
#include "workloads/rng.hpp"

namespace ssmsim::workloads {

// Default split sizes of the synthetic and dynamical-system tasks; WorkloadOptions::train_size
// replaces `train`.
struct SplitSizes {
  size_t train = 2000;
  size_t val = 500;
  size_t test = 500;
};

// Adding problem (Hochreiter & Schmidhuber 1997): 2 input channels per step, channel 0 a value
// uniform in [0, 1), channel 1 a marker that is 1 at exactly two steps -- one uniform in the
// first half [0, length/2), one in the second half [length/2, length) -- and 0 elsewhere. Target:
// the sum of the two marked values (Regression, target_length 1, d_output 1, i.e. read at the
// last step). Predicting the mean 1.0 gives MSE 1/6.
struct AddingParams {
  size_t length = 200;
};
SequenceSet make_adding(size_t n, uint64_t seed, const AddingParams& params = {});

// Delayed recall: d_input = num_tokens + 1. A token k (uniform in [0, num_tokens)) is shown as a
// one-hot of amplitude 1 on channel k at one step uniform in [0, show_window); at the last step
// the query channel (index num_tokens) is 1; every value of every step gets independent Gaussian
// noise of standard deviation `noise`. Label: k (Classification, num_tokens classes).
struct RecallParams {
  size_t length = 150;
  size_t num_tokens = 8;
  size_t show_window = 10;
  double noise = 0.1;
};
SequenceSet make_recall(size_t n, uint64_t seed, const RecallParams& params = {});

// Sine frequencies: d_input = 1, x_t = A sin(2 pi f_k t + phi) + noise * N(0, 1) for t = 0..
// length-1, with class k uniform in [0, num_classes), f_k = f0 + k * df cycles per step, A
// uniform in [amp_lo, amp_hi), phi uniform in [0, 2 pi). Label: k.
struct SinesParams {
  size_t length = 160;
  size_t num_classes = 8;
  double f0 = 0.02;
  double df = 0.01;
  double amp_lo = 0.5;
  double amp_hi = 1.5;
  double noise = 0.3;
};
SequenceSet make_sines(size_t n, uint64_t seed, const SinesParams& params = {});

// The registered workloads: splits drawn from independent streams derive_seed(options.seed,
// name, split) (0 = train, 1 = val, 2 = test), so val and test do not depend on train_size.
Workload adding_workload(const WorkloadOptions& options);
Workload recall_workload(const WorkloadOptions& options);
Workload sines_workload(const WorkloadOptions& options);

// The split sizes for `options` (train_size applied, checked against a sanity limit).
SplitSizes split_sizes(const WorkloadOptions& options, const char* name);

// Fills w.train, w.val and w.test with make(n, seed), each split from its own stream
// derive_seed(options.seed, w.name, split) with split 0 = train, 1 = val, 2 = test.
template <typename Make>
void fill_splits(Workload& w, const WorkloadOptions& options, Make make) {
  const SplitSizes sizes = split_sizes(options, w.name.c_str());
  w.train = make(sizes.train, derive_seed(options.seed, w.name, 0));
  w.val = make(sizes.val, derive_seed(options.seed, w.name, 1));
  w.test = make(sizes.test, derive_seed(options.seed, w.name, 2));
}

// "train N / val N / test N", for descriptions.
std::string split_sizes_text(const Workload& w);

}  // namespace ssmsim::workloads
