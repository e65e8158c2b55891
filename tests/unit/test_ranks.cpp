// Data parallelism across ranks (ssm_core/ranks.hpp) without MPI: K threads of this process play
// K ranks, exchanging through shared memory exactly what MPI ranks exchange. Training, QAT and
// evaluation must end with one process's bits on every rank, for any K, including more ranks
// than a batch has chunks; rank 0 alone decides a stop. (tests/e2e/test_mpi_train.cpp runs the
// same under the real mpirun.)
#include <gtest/gtest.h>

#include <condition_variable>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "quant/precision.hpp"
#include "ssm_core/qat.hpp"
#include "ssm_core/ranks.hpp"
#include "ssm_core/trainer.hpp"
#include "tests/support/pulse_task.hpp"
#include "tests/support/testing.hpp"

using namespace ssmsim::core;

namespace {

// The shared memory of K thread-ranks: gather_each is a barrier that hands every rank all slots.
class ThreadGroup {
 public:
  explicit ThreadGroup(size_t k) : k_(k), slots_(k) {}
  std::vector<std::string> gather(size_t rank, std::string mine) {
    std::unique_lock<std::mutex> lock(m_);
    const size_t generation = generation_;
    slots_[rank] = std::move(mine);
    if (++arrived_ == k_) {
      result_ = slots_;
      arrived_ = 0;
      ++generation_;
      cv_.notify_all();
    } else {
      cv_.wait(lock, [&] { return generation_ != generation; });
    }
    return result_;
  }
  size_t size() const { return k_; }

 private:
  const size_t k_;
  std::mutex m_;
  std::condition_variable cv_;
  std::vector<std::string> slots_, result_;
  size_t arrived_ = 0, generation_ = 0;
};

class ThreadRank final : public Ranks {
 public:
  ThreadRank(ThreadGroup& group, size_t rank) : group_(group), rank_(rank) {}
  size_t rank() const override { return rank_; }
  size_t size() const override { return group_.size(); }
  size_t on_this_host() const override { return group_.size(); }
  std::vector<std::string> gather_each(std::string mine) const override { return group_.gather(rank_, std::move(mine)); }
  bool rank0_says(bool flag) const override { return gather_each(flag ? "1" : "0")[0] == "1"; }

 private:
  ThreadGroup& group_;
  const size_t rank_;
};

// fn(ranks) on K thread-ranks; every rank's result, in rank order.
template <class Result>
std::vector<Result> on_ranks(size_t k, const std::function<Result(const Ranks&)>& fn) {
  ThreadGroup group(k);
  std::vector<Result> results(k);
  std::vector<std::thread> threads;
  for (size_t r = 0; r < k; ++r)
    threads.emplace_back([&, r] {
      const ThreadRank rank(group, r);
      results[r] = fn(rank);
    });
  for (auto& t : threads) t.join();
  return results;
}

ModelConfig dropout_batchnorm_model() {
  ModelConfig mc = ssmsim::testing::pulse_model();
  mc.dropout = 0.1;
  mc.norm = Norm::Batch;
  return mc;
}

TrainConfig recipe() {
  TrainConfig cfg = ssmsim::testing::pulse_recipe(2);
  cfg.batch_size = 44;  // 6 chunks, the last one partial
  cfg.grad_clip = 1.0;
  cfg.threads = 1;
  return cfg;
}

TrainState fresh(const Model& model, uint64_t seed) {
  TrainState st;
  const auto p = model.init(seed);
  st.params.assign(p.begin(), p.end());
  return st;
}

}  // namespace

TEST(Packer, ValuesVectorsAndStringsComeBackInOrderAndAShortBufferIsRefused) {
  Packer p;
  p.put(3.5).put(size_t{7}).put(std::vector<float>{1.f, -2.f}).put(std::string("ab\0c", 4)).put(std::vector<int>{});
  const std::string bytes = p.take();
  double d = 0;
  size_t n = 0;
  std::vector<float> v;
  std::string s;
  std::vector<int> e{9};
  Unpacker u(bytes);
  u.get(d).get(n).get(v).get(s).get(e);
  u.finish();
  EXPECT_EQ(d, 3.5);
  EXPECT_EQ(n, 7u);
  EXPECT_EQ(v, (std::vector<float>{1.f, -2.f}));
  EXPECT_EQ(s, std::string("ab\0c", 4));
  EXPECT_TRUE(e.empty());
  const std::string cut = bytes.substr(0, bytes.size() - 1);
  Unpacker short_one(cut);
  short_one.get(d).get(n).get(v).get(s);
  EXPECT_THROW(short_one.get(e), std::logic_error);  // its size field lacks a byte
  const std::string longer = bytes + "x";
  Unpacker long_one(longer);
  long_one.get(d).get(n).get(v).get(s).get(e);
  EXPECT_THROW(long_one.finish(), std::logic_error);
}

TEST(Ranks, AllGatherGivesEveryRankEveryItemInItsPlace) {
  for (const size_t k : {1u, 2u, 3u, 9u}) {
    const auto all = on_ranks<std::vector<std::string>>(k, [](const Ranks& ranks) {
      std::vector<std::string> items(7);
      for (size_t i = 0; i < items.size(); ++i)
        if (ranks.owns(i)) items[i] = std::string(i, static_cast<char>('a' + i));  // item 0 is empty
      all_gather(ranks, items);
      return items;
    });
    for (size_t r = 0; r < k; ++r)
      for (size_t i = 0; i < 7; ++i) EXPECT_EQ(all[r][i], std::string(i, static_cast<char>('a' + i))) << k << " " << r;
  }
}

TEST(Ranks, AChunkRunsOnItsOwnerOnlyAndEveryRankGetsItsResult) {
  const auto results = on_ranks<std::vector<int>>(3, [](const Ranks& ranks) {
    std::vector<int> out(8, -1), ran(8, 0);
    RankedChunks work;
    work.run = [&](size_t c, size_t) {
      out[c] = static_cast<int>(10 * c + ranks.rank());
      ran[c] = 1;
    };
    work.pack = [&](size_t c, Packer& p) { p.put(out[c]); };
    work.unpack = [&](size_t c, Unpacker& u) { u.get(out[c]); };
    run_chunks(ranks, 8, 2, work);
    for (size_t c = 0; c < 8; ++c) EXPECT_EQ(ran[c], ranks.owns(c) ? 1 : 0) << c;
    return out;
  });
  for (const auto& out : results)
    for (size_t c = 0; c < 8; ++c) EXPECT_EQ(out[c], static_cast<int>(10 * c + c % 3)) << c;
}

// BatchNorm statistics, dropout seeds, gradient clipping and a partial chunk: one process's bits
// on every rank for 2, 3 and 8 ranks (8: more ranks than the 6 chunks of a batch).
TEST(Ranks, TrainingGivesEveryRankTheStateOfOneProcess) {
  const Workload w = ssmsim::testing::pulse_workload(11, 300, 64, 64);
  const Model model(dropout_batchnorm_model());
  const TrainState one = train(model, recipe(), w, fresh(model, 3), {});
  for (const size_t k : {2u, 3u, 8u}) {
    const auto states = on_ranks<TrainState>(
        k, [&](const Ranks& ranks) { return train(model, recipe(), w, fresh(model, 3), {}, ranks); });
    for (size_t r = 0; r < k; ++r) {
      EXPECT_TRUE(states[r].params == one.params) << k << " ranks, rank " << r;
      EXPECT_TRUE(states[r].adam_v == one.adam_v) << k << " ranks, rank " << r;
      EXPECT_TRUE(states[r].best_params == one.best_params) << k << " ranks, rank " << r;
      EXPECT_EQ(states[r].best_val_accuracy, one.best_val_accuracy);
    }
  }
}

// Every rank polls its own stop request; rank 0's decides for all, at the same step.
TEST(Ranks, RankZerosStopRequestStopsEveryRankAtTheSameStep) {
  const Workload w = ssmsim::testing::pulse_workload(11, 300, 64, 64);
  const Model model(dropout_batchnorm_model());
  const auto states = on_ranks<TrainState>(3, [&](const Ranks& ranks) {
    size_t polls = 0;
    TrainCallbacks cb;
    cb.stop_requested = [&] { return ++polls == (ranks.is_root() ? 4u : 1u); };  // rank 0: after its 4th step
    return train(model, recipe(), w, fresh(model, 3), cb, ranks);
  });
  for (const auto& st : states) {
    EXPECT_EQ(st.epoch_step, 4u);
    EXPECT_EQ(st.epochs_done, 0u);
    EXPECT_TRUE(st.params == states[0].params);
  }
}

// QAT with the discrete recurrence and learned step sizes (per-chunk Lambda_bar, B_bar and LSQ
// sums), and the integer validation split across ranks: one process's model on every rank.
TEST(Ranks, QatAndItsIntegerValidationGiveEveryRankTheResultOfOneProcess) {
  const Workload w = ssmsim::testing::pulse_workload(5, 200, 64, 64);
  ModelConfig mc = ssmsim::testing::pulse_model();
  mc.pooling = Pooling::Mean;
  const Model model(mc);
  const FloatCheckpoint ck{mc, train(model, recipe(), w, fresh(model, 3), {}).best_params, {}};
  const auto prec =
      ssmsim::quant::PrecisionConfig::load(ssmsim::testing::source_dir() / "configs/precision/w8a8_state8.yaml");
  TrainConfig cfg = recipe();
  cfg.epochs = 1;
  cfg.recurrence = Recurrence::Discrete;
  PtqOptions opt;
  opt.calib = 64;
  QatOptions qo;
  qo.learn_scales = {ssmsim::quant::Component::x, ssmsim::quant::Component::ssm_in};
  const QatResult one = train_qat(ck, prec, w, cfg, opt, {}, qo);
  const QEvalResult one_test = evaluate_quantized(one.best, w.test, 4, 0, 1);
  const auto results = on_ranks<std::pair<QatResult, QEvalResult>>(3, [&](const Ranks& ranks) {
    QatResult r = train_qat(ck, prec, w, cfg, opt, {}, qo, ranks);
    QEvalResult t = evaluate_quantized(r.best, w.test, 4, 0, 1, ranks);
    return std::make_pair(std::move(r), std::move(t));
  });
  for (const auto& [r, t] : results) {
    EXPECT_TRUE(r.params == one.params);
    EXPECT_EQ(r.learned_scale, one.learned_scale);
    EXPECT_EQ(r.best_val_accuracy, one.best_val_accuracy);
    for (const auto& [name, tensor] : one.best.tensors) EXPECT_EQ(r.best.tensors.at(name).q, tensor.q) << name;
    EXPECT_EQ(t.logits, one_test.logits);
    EXPECT_EQ(t.saturation.all(), one_test.saturation.all());
  }
}
