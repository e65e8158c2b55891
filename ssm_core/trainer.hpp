// Training and evaluation of float models on a workload.
//
// Determinism: a batch is split into chunks of kLanes sequences in shuffled order; threads (and
// MPI ranks) take chunks, each chunk has its own gradient buffer, and the buffers are summed in
// chunk order. The shuffle, dropout masks and initialisation come from the seed alone, so the same
// seed gives the same checkpoint bits for any thread and rank count (tested).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ssm_core/model.hpp"
#include "ssm_core/ranks.hpp"
#include "ssm_core/sequences.hpp"

namespace YAML {
class Node;
}
namespace ssmsim::keys {
template <class S>
class Table;
}

namespace ssmsim::core {

// How QAT learns the recurrent matrix (the S4D paper's three parameterisations): through the
// continuous parameters discretized every pass; the discretized Lambda_bar (and B_bar) directly;
// or Lambda_bar as magnitude exp(-exp(rho)) and angle theta (and B_bar directly).
enum class Recurrence { Continuous, Discrete, Polar };

struct TrainConfig {
  size_t epochs = 10;
  size_t batch_size = 64;
  double lr = 0.01;              // Regular and NoDecay groups
  double ssm_lr = 0.001;         // the SSM group (step, state matrix)
  double weight_decay = 0.01;    // Regular group (decoupled, AdamW)
  double ssm_weight_decay = 0.0;
  double warmup_epochs = 1.0;    // linear warm-up, then cosine decay to min_lr_ratio * lr
  double min_lr_ratio = 0.0;
  // > 0: the cosine is PyTorch's CosineAnnealingLR stepped once per epoch with T_max = this many
  // epochs (past T_max it rises again, as there); 0: one half-period over the run, per step
  double cosine_epochs = 0.0;
  double grad_clip = 0.0;        // global L2 norm; 0 = off
  double beta1 = 0.9, beta2 = 0.999, adam_eps = 1e-8;
  uint64_t seed = 1;
  size_t threads = 0;            // 0 = all cores; results do not depend on it
  Recurrence recurrence = Recurrence::Continuous;  // QAT only
  // Float training only: train on inputs standardized per feature by the training split's mean
  // and standard deviation (the S4D paper's MNIST Normalize); the checkpoint written folds them
  // into the encoder (fold_input_standardization), so it reads raw inputs like any other.
  bool standardize_input = false;

  // The `train` section's keys: the one place they are spelled.
  static const keys::Table<TrainConfig>& keys();
  // Reads the `train` section; ConfigError names key, value, allowed.
  static TrainConfig from_yaml(const YAML::Node& node, const std::string& key_prefix = "train");
  // The section as resolved (every key); seed and threads come from the run section.
  YAML::Node to_yaml() const;
};

struct Progress {
  size_t epoch = 0, epochs = 0;   // 1-based epoch
  size_t step = 0, steps = 0;     // within the epoch
  double loss = 0, accuracy = 0;  // running means over the epoch so far
  double samples_per_s = 0;
  double eta_s = 0;               // whole run
};

// The progress line's figures at step `step` of `steps` in epoch `epoch` (0-based) of `epochs`:
// running means over the epoch's `seen` sequences so far, throughput over the `done` sequences of
// the `elapsed_s` this process has run, and the remaining sequences of the whole run.
Progress progress_at(size_t epoch, size_t epochs, size_t step, size_t steps, double loss_sum, size_t correct,
                     size_t seen, size_t set_size, size_t done, double elapsed_s);

struct EpochReport {
  size_t epoch = 0;
  double train_loss = 0, train_accuracy = 0;
  double val_loss = 0, val_accuracy = 0;
  double seconds = 0, samples_per_s = 0;  // of the part this process ran (all of it unless resumed)
  bool best = false;
};

// Everything needed to continue a run after an interruption, at an epoch boundary or (after a
// stop request) within an epoch: the continuation gives the bits of an uninterrupted run.
struct TrainState {
  std::vector<float> params, adam_m, adam_v;
  size_t epochs_done = 0;
  uint64_t step = 0;               // optimiser steps taken (the schedule's position)
  // within epoch epochs_done + 1: steps taken and the running training loss / accuracy sums
  size_t epoch_step = 0, epoch_seen = 0, epoch_correct = 0;
  double epoch_loss = 0;
  double best_val_accuracy = -1;   // classification: the best is the highest accuracy
  double best_val_loss = -1;       // regression: the best is the lowest loss (-1: none yet)
  std::vector<float> best_params;
};

struct EvalResult {
  double loss = 0;       // mean cross-entropy (classification) or mean squared error (regression)
  double accuracy = 0;
  size_t count = 0;
  std::vector<int64_t> confusion;  // [true class][predicted class], classes x classes
  std::vector<int32_t> predicted;
  std::vector<float> outputs;  // regression: [count, target_length, d_output], in set order
  std::vector<float> logits;   // classification, when asked for: [count, classes], in set order
};

struct TrainCallbacks {
  std::function<void(const Progress&)> progress;                        // every few steps
  std::function<void(const EpochReport&, const TrainState&)> epoch_end;  // checkpoints go here
  // Polled after every step: true makes train() return at once, its state mid-epoch (a time limit,
  // a signal); save it with save_train_state and continue later.
  std::function<bool()> stop_requested;
};

// The optimiser of train() and QAT: per-parameter groups (SSM learning rate and weight decay,
// no decay for norms and biases, buffers untouched), then per step: the mean of the summed
// gradient over `count` sequences, global-norm clipping, AdamW (as torch.optim.AdamW) at the
// schedule's learning-rate factor.
class AdamW {
 public:
  AdamW(const Model& model, const TrainConfig& config);
  // n parameters of one group, learning rate lr and weight decay decay (QAT's recurrence).
  AdamW(size_t n, double lr, double decay, const TrainConfig& config);
  void step(TrainState& st, std::vector<float>& grad, size_t count, double lr_factor) const;

 private:
  TrainConfig cfg_;
  std::vector<float> base_lr_, decay_;
};

// Runs fn(task, worker) for task in [0, n) on up to `threads` workers (0: all cores). Which worker
// runs which task varies; callers make every task's output independent of that.
void parallel_for(size_t n, size_t threads, const std::function<void(size_t, size_t)>& fn);

// A seed for one chunk's dropout masks: never 0 (0 means "no dropout").
uint64_t chunk_seed(uint64_t seed, uint64_t step, uint64_t chunk);

// The chunk of up to kLanes sequences idx[0..count) of a set.
Chunk make_chunk(const SequenceSet& set, const size_t* idx, size_t count);

// The seeded shuffle of one epoch (Fisher-Yates with ssmsim's own uniform draws).
std::vector<size_t> epoch_order(size_t n, uint64_t seed, size_t epoch);

// Trains `model` from `state` (fresh: params set, epochs_done 0). Returns the final state.
// Under several ranks (ssm_core/ranks.hpp) each computes its share of every batch and all reach
// the same state; callbacks run on every rank (only rank 0's should write), and rank 0's stop
// request stops all.
TrainState train(const Model& model, const TrainConfig& config, const Workload& data,
                 TrainState state, const TrainCallbacks& callbacks, const Ranks& ranks = one_process());

// Forward passes only; `limit` > 0 evaluates the first `limit` sequences. `conv`: S4D models
// run their convolution mode (FFT) instead of the recurrence. `keep_logits`: a classifier's
// logits are copied into the result (off by default: nothing extra is kept). Several ranks share
// the chunks and all get the whole result.
EvalResult evaluate(const Model& model, const std::vector<float>& params,
                    const SequenceSet& set, size_t num_classes, size_t limit = 0,
                    size_t threads = 0, bool conv = false, bool keep_logits = false,
                    const Ranks& ranks = one_process());

// Per input feature, the mean and (population) standard deviation over every step of every
// sequence of `set`; a constant feature gets std 1.
struct InputStats {
  std::vector<double> mean, std;
};
InputStats input_stats(const SequenceSet& set);
// x <- (x - mean) / std, per feature, in place.
void standardize_inputs(SequenceSet& set, const InputStats& s);
// The parameters of the same function on raw inputs: W' = W / std, b' = b - W' mean for the
// encoder (the only layer that reads the input); every other parameter unchanged.
std::vector<float> fold_input_standardization(const Model& model, std::vector<float> params, const InputStats& s);

// The learning-rate factor of step s of S (warm-up W steps, then cosine from 1 to min_ratio over
// the rest). With cosine_epochs T > 0, after the warm-up: min_ratio + (1 - min_ratio) (1 +
// cos(pi e / T)) / 2 for the epoch e = s / steps_per_epoch, whatever S.
double lr_factor(uint64_t s, uint64_t S, uint64_t W, double min_ratio, double cosine_epochs = 0,
                 uint64_t steps_per_epoch = 1);

}  // namespace ssmsim::core
