#include "workloads/synthetic.hpp"

#include <cmath>
#include <string>

#include "quant/errors.hpp"
#include "workloads/rng.hpp"

namespace ssmsim::workloads {

namespace {

constexpr double kTwoPi = 6.283185307179586;
constexpr size_t kMaxSequences = 10'000'000;  // a guard against a mistyped train_size

void shape_inputs(SequenceSet& s, size_t n, size_t length, size_t d_input) {
  s.n = n;
  s.length = length;
  s.d_input = d_input;
  s.inputs.assign(n * length * d_input, 0.0f);
}

void require(bool ok, const std::string& what) {
  if (!ok) throw InputError(what);
}

}  // namespace

SplitSizes split_sizes(const WorkloadOptions& options, const char* name) {
  SplitSizes s;
  if (options.train_size != 0) {
    if (options.train_size > kMaxSequences)
      throw InputError("workload option train_size = " + std::to_string(options.train_size) + ": " +
                       name + " allows 1.." + std::to_string(kMaxSequences) + " (0 = the default " +
                       std::to_string(s.train) + ")");
    s.train = options.train_size;
  }
  return s;
}

std::string split_sizes_text(const Workload& w) {
  return "train " + std::to_string(w.train.n) + " / val " + std::to_string(w.val.n) + " / test " +
         std::to_string(w.test.n);
}

SequenceSet make_adding(size_t n, uint64_t seed, const AddingParams& params) {
  require(params.length >= 2, "adding: length must be at least 2");
  SequenceSet s;
  shape_inputs(s, n, params.length, 2);
  s.target_length = 1;
  s.d_output = 1;
  s.targets.assign(n, 0.0f);
  Rng rng(seed);
  const size_t half = params.length / 2;
  for (size_t i = 0; i < n; ++i) {
    float* x = s.inputs.data() + i * params.length * 2;
    for (size_t t = 0; t < params.length; ++t) x[2 * t] = static_cast<float>(rng.uniform());
    const size_t a = rng.below(half);
    const size_t b = half + rng.below(params.length - half);
    x[2 * a + 1] = 1.0f;
    x[2 * b + 1] = 1.0f;
    // The sum of the float inputs as stored, so the target is exactly what the inputs say.
    s.targets[i] = x[2 * a] + x[2 * b];
  }
  return s;
}

SequenceSet make_recall(size_t n, uint64_t seed, const RecallParams& params) {
  require(params.num_tokens >= 2, "recall: num_tokens must be at least 2");
  require(params.show_window >= 1 && params.show_window < params.length,
          "recall: show_window must be in 1..length-1");
  const size_t d = params.num_tokens + 1;
  SequenceSet s;
  shape_inputs(s, n, params.length, d);
  s.labels.resize(n);
  Rng rng(seed);
  for (size_t i = 0; i < n; ++i) {
    float* x = s.inputs.data() + i * params.length * d;
    const size_t token = rng.below(params.num_tokens);
    const size_t when = rng.below(params.show_window);
    x[when * d + token] = 1.0f;
    x[(params.length - 1) * d + params.num_tokens] = 1.0f;
    if (params.noise > 0)
      for (size_t j = 0; j < params.length * d; ++j)
        x[j] = static_cast<float>(x[j] + params.noise * rng.normal());
    s.labels[i] = static_cast<int32_t>(token);
  }
  return s;
}

SequenceSet make_sines(size_t n, uint64_t seed, const SinesParams& params) {
  require(params.num_classes >= 2, "sines: num_classes must be at least 2");
  require(params.length >= 2, "sines: length must be at least 2");
  SequenceSet s;
  shape_inputs(s, n, params.length, 1);
  s.labels.resize(n);
  Rng rng(seed);
  for (size_t i = 0; i < n; ++i) {
    float* x = s.inputs.data() + i * params.length;
    const size_t k = rng.below(params.num_classes);
    const double f = params.f0 + static_cast<double>(k) * params.df;
    const double amp = rng.uniform(params.amp_lo, params.amp_hi);
    const double phase = rng.uniform(0.0, kTwoPi);
    for (size_t t = 0; t < params.length; ++t)
      x[t] = static_cast<float>(amp * std::sin(kTwoPi * f * static_cast<double>(t) + phase) +
                                params.noise * rng.normal());
    s.labels[i] = static_cast<int32_t>(k);
  }
  return s;
}

Workload adding_workload(const WorkloadOptions& options) {
  Workload w;
  w.name = "adding";
  w.kind = TaskKind::Regression;
  const AddingParams p;
  fill_splits(w, options, [&](size_t n, uint64_t seed) { return make_adding(n, seed, p); });
  w.description = "adding problem: " + std::to_string(p.length) +
                  " steps x 2 channels (value in [0,1), marker at one step in each half), "
                  "regress the sum of the two marked values at the last step; " +
                  split_sizes_text(w) + "; seed " + std::to_string(options.seed);
  return w;
}

Workload recall_workload(const WorkloadOptions& options) {
  Workload w;
  w.name = "recall";
  w.kind = TaskKind::Classification;
  const RecallParams p;
  w.num_classes = p.num_tokens;
  fill_splits(w, options, [&](size_t n, uint64_t seed) { return make_recall(n, seed, p); });
  w.description = "delayed recall: " + std::to_string(p.length) + " steps x " +
                  std::to_string(p.num_tokens + 1) + " channels, one of " +
                  std::to_string(p.num_tokens) + " tokens shown in the first " +
                  std::to_string(p.show_window) +
                  " steps, a query at the last, Gaussian noise 0.1; classify the token; " +
                  split_sizes_text(w) + "; seed " + std::to_string(options.seed);
  return w;
}

Workload sines_workload(const WorkloadOptions& options) {
  Workload w;
  w.name = "sines";
  w.kind = TaskKind::Classification;
  const SinesParams p;
  w.num_classes = p.num_classes;
  fill_splits(w, options, [&](size_t n, uint64_t seed) { return make_sines(n, seed, p); });
  w.description = "sine frequencies: " + std::to_string(p.length) +
                  " steps x 1 channel, A sin(2 pi f_k t + phi) + N(0, 0.3^2), f_k = 0.02 + "
                  "0.01 k cycles/step; classify k among " +
                  std::to_string(p.num_classes) + "; " + split_sizes_text(w) + "; seed " +
                  std::to_string(options.seed);
  return w;
}

}  // namespace ssmsim::workloads
