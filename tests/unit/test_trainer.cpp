// The trainer learns, and is deterministic: the same seed gives the same bits for any thread count.
#include <gtest/gtest.h>

#include <cmath>

#include "ssm_core/checkpoint.hpp"
#include "ssm_core/trainer.hpp"
#include "tests/support/pulse_task.hpp"
#include "tests/support/testing.hpp"

using namespace ssmsim::core;
using ssmsim::core::SequenceSet;
using ssmsim::core::Workload;

namespace {

// The pulse task (tests/support/pulse_task.hpp): which of 4 time windows holds a pulse.
using ssmsim::testing::pulse_workload;

ModelConfig small_model() { return ssmsim::testing::pulse_model(); }

}  // namespace

class TrainerNorms : public ::testing::TestWithParam<Norm> {};

// With BatchNorm, evaluation runs on the running statistics: learning shows they are right.
TEST_P(TrainerNorms, ASmallModelLearnsWhereThePulseWas) {
  const Workload w = pulse_workload(7);
  ModelConfig mc = small_model();
  mc.norm = GetParam();
  const Model model(mc);
  const auto p = model.init(3);
  const double before = evaluate(model, std::vector<float>(p.begin(), p.end()), w.test, 4).accuracy;
  const TrainState st = ssmsim::testing::train_fresh(model, ssmsim::testing::pulse_recipe(40), w);
  const EvalResult after = evaluate(model, st.best_params, w.test, 4);
  EXPECT_LT(before, 0.5);
  EXPECT_GT(after.accuracy, 0.9) << "test accuracy after training";
  int64_t total = 0;
  for (auto c : after.confusion) total += c;
  EXPECT_EQ(total, 256);
}

TEST_P(TrainerNorms, TheSameSeedGivesTheSameBitsForAnyThreadCount) {
  const Workload w = pulse_workload(11);
  ModelConfig mc = small_model();
  mc.dropout = 0.1;
  mc.norm = GetParam();
  const Model model(mc);
  std::vector<std::vector<float>> results;
  for (size_t threads : {1u, 2u, 3u}) {
    TrainConfig cfg;
    cfg.epochs = 2;
    cfg.batch_size = 40;  // not a multiple of the chunk width: a partial chunk every step
    cfg.seed = 5;
    cfg.threads = threads;
    cfg.grad_clip = 1.0;
    results.push_back(ssmsim::testing::train_fresh(model, cfg, w).params);
  }
  EXPECT_TRUE(results[0] == results[1]);
  EXPECT_TRUE(results[0] == results[2]);
  if (GetParam() == Norm::Batch) {  // the running statistics moved
    const auto& rv = model.layout().find("norms.0.running_var");
    EXPECT_NE(results[0][rv.offset], 1.0f);
  }
}

INSTANTIATE_TEST_SUITE_P(LayerAndBatch, TrainerNorms, ::testing::Values(Norm::Layer, Norm::Batch),
                         [](const auto& p) { return p.param == Norm::Layer ? "LayerNorm" : "BatchNorm"; });

TEST(Trainer, LearningRateWarmsUpThenFollowsACosine) {
  EXPECT_DOUBLE_EQ(lr_factor(0, 100, 10, 0.0), 0.1);
  EXPECT_DOUBLE_EQ(lr_factor(9, 100, 10, 0.0), 1.0);
  EXPECT_DOUBLE_EQ(lr_factor(10, 100, 10, 0.0), 1.0);
  EXPECT_NEAR(lr_factor(55, 100, 10, 0.0), 0.5, 1e-12);
  EXPECT_NEAR(lr_factor(100, 100, 10, 0.2), 0.2, 1e-12);
  // PyTorch's CosineAnnealingLR stepped per epoch (T_max 20, 10 steps an epoch): constant within
  // an epoch, 0 at epoch 20, rising again after it; the run's length plays no part
  EXPECT_DOUBLE_EQ(lr_factor(0, 300, 0, 0.0, 20, 10), 1.0);
  EXPECT_DOUBLE_EQ(lr_factor(9, 300, 0, 0.0, 20, 10), 1.0);
  EXPECT_NEAR(lr_factor(100, 300, 0, 0.0, 20, 10), 0.5, 1e-12);
  EXPECT_NEAR(lr_factor(205, 300, 0, 0.0, 20, 10), 0.0, 1e-12);
  EXPECT_NEAR(lr_factor(299, 300, 0, 0.0, 20, 10), 0.5 * (1 + std::cos(M_PI * 29 / 20)), 1e-12);
  EXPECT_GT(lr_factor(299, 300, 0, 0.0, 20, 10), lr_factor(210, 300, 0, 0.0, 20, 10));
  EXPECT_DOUBLE_EQ(lr_factor(4, 300, 5, 0.0, 20, 10), 1.0);  // the warm-up first
}

// An interruption after any epoch loses nothing: the state saved at the end of epoch 2 (through
// the file format --resume uses) continues to exactly the bits of an uninterrupted run.
TEST(Trainer, AnInterruptedRunResumesToTheSameBits) {
  const Workload w = pulse_workload(13);
  ModelConfig mc = small_model();
  mc.dropout = 0.1;
  const Model model(mc);
  TrainConfig cfg;
  cfg.epochs = 4;
  cfg.batch_size = 48;
  cfg.seed = 9;
  TrainState fresh;
  const auto p = model.init(cfg.seed);
  fresh.params.assign(p.begin(), p.end());
  const TrainState whole = train(model, cfg, w, fresh, {});

  const auto state_file = ssmsim::testing::scratch_dir("resume") / "run.state";
  struct Interrupt {};
  TrainCallbacks cb;
  cb.epoch_end = [&](const EpochReport& r, const TrainState& s) {
    save_train_state(state_file, model, s);
    if (r.epoch == 2) throw Interrupt{};
  };
  EXPECT_THROW(train(model, cfg, w, fresh, cb), Interrupt);
  const TrainState resumed = train(model, cfg, w, load_train_state(state_file, model), {});
  EXPECT_EQ(resumed.epochs_done, 4u);
  EXPECT_TRUE(resumed.params == whole.params);
  EXPECT_TRUE(resumed.adam_m == whole.adam_m);
  EXPECT_TRUE(resumed.best_params == whole.best_params);
}

// A stop request inside an epoch (a time limit, a signal) returns a state that continues, through
// the file, to exactly the bits of an uninterrupted run; here stopped twice, once in epoch 1 (no
// best parameters yet) and once in epoch 3.
TEST(Trainer, AStopInsideAnEpochResumesToTheSameBits) {
  const Workload w = pulse_workload(17);
  ModelConfig mc = small_model();
  mc.dropout = 0.1;
  mc.norm = Norm::Batch;
  const Model model(mc);
  TrainConfig cfg;
  cfg.epochs = 3;
  cfg.batch_size = 48;  // 22 steps per epoch
  cfg.seed = 21;
  TrainState fresh;
  const auto p = model.init(cfg.seed);
  fresh.params.assign(p.begin(), p.end());
  std::vector<double> whole_train_acc;
  TrainCallbacks whole_cb;
  whole_cb.epoch_end = [&](const EpochReport& r, const TrainState&) { whole_train_acc.push_back(r.train_accuracy); };
  const TrainState whole = train(model, cfg, w, fresh, whole_cb);

  const auto state_file = ssmsim::testing::scratch_dir("resume_mid_epoch") / "run.state";
  std::vector<double> resumed_train_acc;
  TrainCallbacks cb;
  cb.epoch_end = [&](const EpochReport& r, const TrainState&) { resumed_train_acc.push_back(r.train_accuracy); };
  size_t calls = 0, stop_at = 5;
  cb.stop_requested = [&] { return ++calls == stop_at; };
  TrainState st = train(model, cfg, w, fresh, cb);
  EXPECT_EQ(st.epochs_done, 0u);
  EXPECT_EQ(st.epoch_step, 5u);
  save_train_state(state_file, model, st);
  calls = 0;
  // polled after every step but an epoch's last, and after each epoch but the run's last:
  // 16 + 1 (rest of epoch 1), 21 + 1 (epoch 2), 5 (epoch 3)
  stop_at = 16 + 1 + 21 + 1 + 5;
  st = train(model, cfg, w, load_train_state(state_file, model), cb);
  EXPECT_EQ(st.epochs_done, 2u);
  EXPECT_EQ(st.epoch_step, 5u);
  save_train_state(state_file, model, st);
  cb.stop_requested = nullptr;
  const TrainState resumed = train(model, cfg, w, load_train_state(state_file, model), cb);
  EXPECT_EQ(resumed.epochs_done, 3u);
  EXPECT_TRUE(resumed.params == whole.params);
  EXPECT_TRUE(resumed.adam_v == whole.adam_v);
  EXPECT_TRUE(resumed.best_params == whole.best_params);
  EXPECT_EQ(resumed_train_acc, whole_train_acc);  // the epochs' running sums survived the stops
}

// Logits are kept only when asked for; then one row per sequence in set order, whose first largest
// entry is the prediction, the same bits for any thread count, and nothing else changes.
TEST(Trainer, EvaluateKeepsTheLogitsOnlyWhenAskedAndTheyGiveThePredictions) {
  const Workload w = pulse_workload(13);
  const Model model(small_model());
  const auto p = model.init(4);
  const std::vector<float> params(p.begin(), p.end());
  const size_t C = 4, n = 21;  // not a multiple of the chunk width
  const EvalResult plain = evaluate(model, params, w.test, C, n, 1);
  EXPECT_TRUE(plain.logits.empty());
  const EvalResult one = evaluate(model, params, w.test, C, n, 1, false, true);
  const EvalResult two = evaluate(model, params, w.test, C, n, 2, false, true);
  ASSERT_EQ(one.logits.size(), n * C);
  EXPECT_TRUE(one.logits == two.logits);
  EXPECT_EQ(one.predicted, plain.predicted);
  EXPECT_EQ(one.confusion, plain.confusion);
  EXPECT_EQ(one.loss, plain.loss);
  for (size_t i = 0; i < n; ++i) {
    size_t arg = 0;
    for (size_t k = 1; k < C; ++k)
      if (one.logits[i * C + k] > one.logits[i * C + arg]) arg = k;
    EXPECT_EQ(static_cast<size_t>(one.predicted[i]), arg) << i;
  }
}
