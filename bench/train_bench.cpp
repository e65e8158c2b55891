// Float training throughput of the S4D and S5 presets' shapes (samples/s), on seeded random sequences
// of sMNIST's shape (784 steps, 1 feature, 10 classes). `make bench` prints the implied epoch
// time for 55,000 sequences; the real-data epoch is timed by `ssmsim train` itself.
#include <benchmark/benchmark.h>

#include <chrono>
#include <random>

#include "ssm_core/trainer.hpp"

using namespace ssmsim::core;

namespace {

ssmsim::core::Workload random_smnist_shape(size_t n) {
  ssmsim::core::Workload w;
  w.name = "random-784";
  w.num_classes = 10;
  auto& s = w.train;
  s.n = n;
  s.length = 784;
  s.d_input = 1;
  s.inputs.resize(n * 784);
  s.labels.resize(n);
  std::mt19937_64 rng(1);
  for (auto& v : s.inputs) v = static_cast<float>(rng() % 256) / 255.f;
  for (auto& y : s.labels) y = static_cast<int32_t>(rng() % 10);
  return w;
}

void BM_TrainEpochSlice(benchmark::State& state, ModelConfig mc) {
  const size_t n = 512;
  const auto w = random_smnist_shape(n);
  mc.d_input = 1;
  mc.d_output = 10;
  const Model model(mc);
  TrainConfig cfg;
  cfg.epochs = 1;
  cfg.batch_size = 64;
  cfg.threads = static_cast<size_t>(state.range(0));
  TrainState st;
  const auto p = model.init(1);
  st.params.assign(p.begin(), p.end());
  double seconds = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    TrainState s = st;
    s = train(model, cfg, w, s, {});
    benchmark::DoNotOptimize(s.params.data());
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * n));
  // the implied time of one sMNIST epoch (55,000 sequences), without validation
  state.counters["epoch_s_55k"] =
      55000.0 * seconds / (static_cast<double>(state.iterations()) * static_cast<double>(n));
}

ModelConfig s4d_edge() {
  ModelConfig c;
  c.H = 16;
  c.N = 64;
  c.n_layers = 1;
  return c;
}

ModelConfig s4d_mid() {
  ModelConfig c;
  c.H = 64;
  c.N = 64;
  c.n_layers = 4;
  c.dropout = 0.1;
  return c;
}

// configs/models/s5_small.yaml
ModelConfig s5_small() {
  ModelConfig c;
  c.layer = LayerType::S5;
  c.H = 32;
  c.P = 32;
  c.n_layers = 3;
  c.prenorm = true;
  c.mixing = Mixing::HalfGlu1;
  c.dropout = 0.05;
  return c;
}

// configs/models/s5_qs5_smnist.yaml (Q-S5's sMNIST model)
ModelConfig s5_qs5_smnist() {
  ModelConfig c;
  c.layer = LayerType::S5;
  c.H = 96;
  c.P = 128;
  c.n_layers = 4;
  c.prenorm = true;
  c.mixing = Mixing::HalfGlu1;
  c.dropout = 0.1;
  return c;
}

}  // namespace

BENCHMARK_CAPTURE(BM_TrainEpochSlice, s4d_edge, s4d_edge())->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_TrainEpochSlice, s4d_mid, s4d_mid())->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_TrainEpochSlice, s5_small, s5_small())->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_TrainEpochSlice, s5_qs5_smnist, s5_qs5_smnist())->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
BENCHMARK_MAIN();
