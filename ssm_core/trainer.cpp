#include "ssm_core/trainer.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>

#include "quant/errors.hpp"
#include "quant/keys.hpp"
#include "ssm_core/random.hpp"

namespace ssmsim::core {

namespace {

using Clock = std::chrono::steady_clock;

size_t resolve_threads(size_t threads) { return rank_threads(one_process(), threads); }

// Rank 0's stop request, taken by every rank (each polls its own; rank 0's decides).
bool stop(const TrainCallbacks& cb, const Ranks& ranks) {
  return ranks.rank0_says(cb.stop_requested && cb.stop_requested());
}

}  // namespace

void parallel_for(size_t n, size_t threads, const std::function<void(size_t, size_t)>& fn) {
  run_team(n, resolve_threads(threads), fn);
}

uint64_t chunk_seed(uint64_t seed, uint64_t step, uint64_t chunk) {
  uint64_t h = seed * 0x9E3779B97F4A7C15ull ^ (step + 1) * 0xBF58476D1CE4E5B9ull ^ (chunk + 1) * 0x94D049BB133111EBull;
  h ^= h >> 31;
  return h ? h : 1;
}

Chunk make_chunk(const SequenceSet& set, const size_t* idx, size_t count) {
  Chunk c;
  c.L = set.length;
  for (size_t l = 0; l < count && l < kLanes; ++l) {
    c.x[l] = set.input(idx[l]);
    c.label[l] = set.labels.empty() ? -1 : set.labels[idx[l]];
    if (!set.targets.empty()) c.y[l] = set.target(idx[l]);
  }
  return c;
}

std::vector<size_t> epoch_order(size_t n, uint64_t seed, size_t epoch) {
  std::vector<size_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = i;
  // Fisher-Yates with our own uniform draws (std::shuffle's distribution is library-defined)
  std::mt19937_64 rng(seed * 1000003ull + epoch);
  for (size_t i = v.size(); i > 1; --i) {
    const auto j = static_cast<size_t>(uniform01(rng) * static_cast<double>(i));
    std::swap(v[i - 1], v[std::min(j, i - 1)]);
  }
  return v;
}

Progress progress_at(size_t epoch, size_t epochs, size_t step, size_t steps, double loss_sum, size_t correct,
                     size_t seen, size_t set_size, size_t done, double elapsed_s) {
  Progress pr;
  pr.epoch = epoch + 1;
  pr.epochs = epochs;
  pr.step = step + 1;
  pr.steps = steps;
  pr.loss = loss_sum / static_cast<double>(seen);
  pr.accuracy = static_cast<double>(correct) / static_cast<double>(seen);
  pr.samples_per_s = static_cast<double>(done) / elapsed_s;
  pr.eta_s = static_cast<double>((epochs - epoch) * set_size - seen) / pr.samples_per_s;
  return pr;
}

AdamW::AdamW(const Model& model, const TrainConfig& cfg) : cfg_(cfg) {
  const size_t P = model.layout().total();
  base_lr_.assign(P, 0.f);
  decay_.assign(P, 0.f);
  for (const auto& info : model.layout().params())
    for (size_t j = 0; j < info.size; ++j) {
      const bool ssm = info.group == ParamGroup::Ssm;
      base_lr_[info.offset + j] = info.group == ParamGroup::Buffer ? 0.f : static_cast<float>(ssm ? cfg.ssm_lr : cfg.lr);
      decay_[info.offset + j] = static_cast<float>(
          ssm ? cfg.ssm_weight_decay : info.group == ParamGroup::NoDecay ? 0.0 : cfg.weight_decay);
    }
}

AdamW::AdamW(size_t n, double lr, double decay, const TrainConfig& cfg)
    : cfg_(cfg), base_lr_(n, static_cast<float>(lr)), decay_(n, static_cast<float>(decay)) {}

void AdamW::step(TrainState& st, std::vector<float>& grad, size_t count, double f) const {
  const size_t P = grad.size();
  const float inv = 1.0f / static_cast<float>(count);
  double norm2 = 0;
  for (size_t i = 0; i < P; ++i) {
    grad[i] *= inv;
    if (base_lr_[i] != 0.f) norm2 += static_cast<double>(grad[i]) * grad[i];  // frozen entries do not clip
  }
  float clip = 1.0f;
  if (cfg_.grad_clip > 0 && std::sqrt(norm2) > cfg_.grad_clip) clip = static_cast<float>(cfg_.grad_clip / std::sqrt(norm2));
  const double t = static_cast<double>(st.step + 1);
  const auto bc1 = static_cast<float>(1.0 - std::pow(cfg_.beta1, t));
  const auto bc2 = static_cast<float>(1.0 - std::pow(cfg_.beta2, t));
  const auto b1 = static_cast<float>(cfg_.beta1), b2 = static_cast<float>(cfg_.beta2);
  const auto eps = static_cast<float>(cfg_.adam_eps);
  for (size_t i = 0; i < P; ++i) {
    const float lr = static_cast<float>(f) * base_lr_[i];
    const float g = grad[i] * clip;
    float& p = st.params[i];
    p -= lr * decay_[i] * p;
    st.adam_m[i] = b1 * st.adam_m[i] + (1 - b1) * g;
    st.adam_v[i] = b2 * st.adam_v[i] + (1 - b2) * g * g;
    p -= lr * (st.adam_m[i] / bc1) / (std::sqrt(st.adam_v[i] / bc2) + eps);
  }
}

const keys::Table<TrainConfig>& TrainConfig::keys() {
  using T = TrainConfig;
  static const auto t =
      keys::Table<T>("train")
          .integer("epochs", &T::epochs, 1, 1000000, "epochs", "passes over the training set")
          .integer("batch_size", &T::batch_size, 1, 65536, "sequences", "sequences per optimiser step")
          .real("lr", &T::lr, 0, 10, "", "peak learning rate of the regular and no-decay groups")
          .real("ssm_lr", &T::ssm_lr, 0, 10, "", "peak learning rate of the SSM group (step, state matrix)")
          .real("weight_decay", &T::weight_decay, 0, 10, "", "decoupled weight decay (AdamW) of the regular group")
          .real("ssm_weight_decay", &T::ssm_weight_decay, 0, 10, "", "weight decay of the SSM group")
          .real("warmup_epochs", &T::warmup_epochs, 0, 1e6, "epochs", "linear warm-up, then cosine decay")
          .real("min_lr_ratio", &T::min_lr_ratio, 0, 1, "", "the cosine decay's floor, as a fraction of lr")
          .real("cosine_epochs", &T::cosine_epochs, 0, 1e6, "epochs",
                "> 0: the cosine's period T_max, stepped per epoch as PyTorch's CosineAnnealingLR (rising "
                "again after T_max); 0: one decay over the run, per step")
          .real("grad_clip", &T::grad_clip, 0, 1e9, "", "global L2 norm of the gradient; 0 = off")
          .choice("recurrence", &T::recurrence,
                  {{"continuous", Recurrence::Continuous},
                   {"discrete", Recurrence::Discrete},
                   {"polar", Recurrence::Polar}},
                  "QAT: how the recurrent matrix is learnt (docs/quantization.md)")
          .boolean("standardize_input", &T::standardize_input,
                   "float training: standardize each input feature by the training split's mean and std (the S4D "
                   "paper's MNIST Normalize); the checkpoint folds it into the encoder and reads raw inputs");
  return t;
}

TrainConfig TrainConfig::from_yaml(const YAML::Node& node, const std::string& prefix) { return keys().read(node, prefix); }

YAML::Node TrainConfig::to_yaml() const { return keys().write(*this); }

InputStats input_stats(const SequenceSet& set) {
  const size_t F = set.d_input, count = set.n * set.length;
  InputStats st{std::vector<double>(F, 0.0), std::vector<double>(F, 1.0)};
  if (count == 0) return st;
  std::vector<double> sq(F, 0.0);
  for (size_t i = 0; i < count; ++i)
    for (size_t f = 0; f < F; ++f) st.mean[f] += set.inputs[i * F + f];
  for (size_t f = 0; f < F; ++f) st.mean[f] /= static_cast<double>(count);
  for (size_t i = 0; i < count; ++i)
    for (size_t f = 0; f < F; ++f) {
      const double d = set.inputs[i * F + f] - st.mean[f];
      sq[f] += d * d;
    }
  for (size_t f = 0; f < F; ++f) {
    const double sd = std::sqrt(sq[f] / static_cast<double>(count));
    st.std[f] = sd > 0 ? sd : 1.0;
  }
  return st;
}

void standardize_inputs(SequenceSet& set, const InputStats& s) {
  const size_t F = set.d_input;
  for (size_t i = 0; i < set.inputs.size(); ++i)
    set.inputs[i] = static_cast<float>((set.inputs[i] - s.mean[i % F]) / s.std[i % F]);
}

std::vector<float> fold_input_standardization(const Model& model, std::vector<float> params, const InputStats& s) {
  const ParamInfo& w = model.layout().find("encoder.weight");
  const ParamInfo& b = model.layout().find("encoder.bias");
  const size_t H = static_cast<size_t>(w.shape[0]), F = static_cast<size_t>(w.shape[1]);
  for (size_t h = 0; h < H; ++h) {
    double shift = 0;
    for (size_t f = 0; f < F; ++f) {
      float& wf = params[w.offset + h * F + f];
      const double folded = static_cast<double>(wf) / s.std[f];
      shift += folded * s.mean[f];
      wf = static_cast<float>(folded);
    }
    params[b.offset + h] = static_cast<float>(static_cast<double>(params[b.offset + h]) - shift);
  }
  return params;
}

double lr_factor(uint64_t s, uint64_t S, uint64_t W, double min_ratio, double cosine_epochs, uint64_t steps_per_epoch) {
  if (W > 0 && s < W) return static_cast<double>(s + 1) / static_cast<double>(W);
  if (cosine_epochs > 0) {
    const double e = static_cast<double>(s / std::max<uint64_t>(steps_per_epoch, 1));
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + std::cos(M_PI * e / cosine_epochs));
  }
  if (S <= W) return 1.0;
  const double progress = static_cast<double>(s - W) / static_cast<double>(S - W);
  return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + std::cos(M_PI * std::min(1.0, progress)));
}

EvalResult evaluate(const Model& model, const std::vector<float>& params,
                    const SequenceSet& set, size_t num_classes, size_t limit,
                    size_t threads, bool conv, bool keep_logits, const Ranks& ranks) {
  const size_t n = limit ? std::min(limit, set.n) : set.n;
  const size_t nchunks = (n + kLanes - 1) / kLanes;
  threads = rank_threads(ranks, threads);
  Model::Prepared<float> prep;
  if (conv)
    model.prepare_conv(params.data(), set.length, prep);
  else
    model.prepare(params.data(), prep);
  std::vector<std::unique_ptr<Workspace<float>>> ws;
  for (size_t w = 0; w < std::min(threads, std::max<size_t>(nchunks, 1)); ++w) ws.push_back(make_workspace<float>());
  std::vector<ChunkResult> results(nchunks);
  EvalResult r;
  // each chunk's logits (the decoder's output, lane-innermost in the workspace) go to their own rows
  const size_t C = model.config().d_output;
  if (keep_logits && model.config().task == Task::Classify) r.logits.resize(n * C);
  std::vector<size_t> idx(n);
  for (size_t i = 0; i < n; ++i) idx[i] = i;
  RankedChunks work;
  work.run = [&](size_t c, size_t w) {
    const size_t begin = c * kLanes, count = std::min(kLanes, n - begin);
    results[c] = model.run_chunk(params.data(), prep, make_chunk(set, &idx[begin], count), 0,
                                 static_cast<float*>(nullptr), *ws[w]);
    if (!r.logits.empty())
      for (size_t l = 0; l < count; ++l)
        for (size_t k = 0; k < C; ++k) r.logits[(begin + l) * C + k] = ws[w]->logits.v[k * kLanes + l];
  };
  auto logits_of = [&](size_t c) {  // the chunk's rows of r.logits (none unless kept)
    const auto at = [&](size_t i) { return r.logits.begin() + static_cast<std::ptrdiff_t>(i); };
    if (r.logits.empty()) return std::make_pair(r.logits.end(), r.logits.end());
    return std::make_pair(at(c * kLanes * C), at(std::min(n, (c + 1) * kLanes) * C));
  };
  work.pack = [&](size_t c, Packer& p) {
    const auto [b, e] = logits_of(c);
    p.put(results[c].loss).put(results[c].correct).put(results[c].predicted).put(results[c].outputs);
    p.put(std::vector<float>(b, e));
  };
  work.unpack = [&](size_t c, Unpacker& u) {
    std::vector<float> logits;
    u.get(results[c].loss).get(results[c].correct).get(results[c].predicted).get(results[c].outputs).get(logits);
    const auto [b, e] = logits_of(c);
    if (logits.size() != static_cast<size_t>(e - b)) throw std::logic_error("evaluate: a rank's logits do not fit");
    std::copy(logits.begin(), logits.end(), b);
  };
  run_chunks(ranks, nchunks, threads, work);
  r.count = n;
  r.confusion.assign(num_classes * num_classes, 0);
  double loss = 0;
  size_t correct = 0;
  for (size_t c = 0; c < nchunks; ++c) {
    loss += results[c].loss;
    correct += results[c].correct;
    r.outputs.insert(r.outputs.end(), results[c].outputs.begin(), results[c].outputs.end());
    for (size_t l = 0; l < results[c].predicted.size(); ++l) {
      const int32_t p = results[c].predicted[l];
      r.predicted.push_back(p);
      const int32_t y = set.labels.empty() ? -1 : set.labels[c * kLanes + l];
      if (y >= 0 && static_cast<size_t>(y) < num_classes)
        ++r.confusion[static_cast<size_t>(y) * num_classes + static_cast<size_t>(p)];
    }
  }
  r.loss = n ? loss / static_cast<double>(n) : 0;
  r.accuracy = n ? static_cast<double>(correct) / static_cast<double>(n) : 0;
  return r;
}

TrainState train(const Model& model, const TrainConfig& cfg, const Workload& data,
                 TrainState st, const TrainCallbacks& cb, const Ranks& ranks) {
  const auto& set = data.train;
  const bool regress = data.kind == TaskKind::Regression;
  if (regress != (model.config().task == Task::Regress))
    throw InputError("training '" + data.name + "': a " + (regress ? "regression" : "classification") +
                     " workload needs a model with task: " + (regress ? "regress" : "classify"));
  if (set.n == 0) throw InputError("training '" + data.name + "': the training split is empty");
  const size_t P = model.layout().total();
  if (st.params.size() != P) throw InputError("training: the parameter vector does not match the model");
  if (st.adam_m.size() != P) st.adam_m.assign(P, 0.f);
  if (st.adam_v.size() != P) st.adam_v.assign(P, 0.f);
  const size_t threads = rank_threads(ranks, cfg.threads);
  const size_t B = cfg.batch_size;
  const size_t steps_per_epoch = (set.n + B - 1) / B;
  const uint64_t total_steps = static_cast<uint64_t>(steps_per_epoch) * cfg.epochs;
  const auto warmup = static_cast<uint64_t>(std::llround(cfg.warmup_epochs * static_cast<double>(steps_per_epoch)));

  const AdamW adamw(model, cfg);

  const size_t max_chunks = (B + kLanes - 1) / kLanes;
  std::vector<std::vector<float>> chunk_grad(max_chunks, std::vector<float>(P));
  std::vector<ChunkResult> chunk_res(max_chunks);
  std::vector<std::unique_ptr<Workspace<float>>> ws;
  for (size_t w = 0; w < std::min(threads, max_chunks); ++w) ws.push_back(make_workspace<float>());
  std::vector<float> grad(P);
  const auto run_start = Clock::now();
  size_t samples_this_run = 0;

  for (size_t epoch = st.epochs_done; epoch < cfg.epochs; ++epoch) {
    const auto epoch_start = Clock::now();
    const std::vector<size_t> order = epoch_order(set.n, cfg.seed, epoch);
    // a run stopped mid-epoch continues at its step, with the epoch's sums so far
    double loss_sum = st.epoch_loss;
    size_t correct = st.epoch_correct, seen = st.epoch_seen;
    const size_t seen_before = seen;  // by an earlier process (resumed mid-epoch)

    for (size_t s = st.epoch_step; s < steps_per_epoch; ++s) {
      const size_t begin = s * B, count = std::min(B, set.n - begin);
      const size_t nchunks = (count + kLanes - 1) / kLanes;
      Model::Prepared<float> prep;
      model.prepare(st.params.data(), prep);
      const uint64_t step = st.step;
      RankedChunks work;
      work.run = [&](size_t c, size_t w) {
        std::fill(chunk_grad[c].begin(), chunk_grad[c].end(), 0.f);
        const size_t cb0 = begin + c * kLanes, cn = std::min(kLanes, begin + count - cb0);
        chunk_res[c] = model.run_chunk(st.params.data(), prep, make_chunk(set, &order[cb0], cn),
                                       chunk_seed(cfg.seed, step, c), chunk_grad[c].data(), *ws[w]);
      };
      work.pack = [&](size_t c, Packer& p) {  // what the step below reads of a chunk
        const ChunkResult& r = chunk_res[c];
        p.put(r.loss).put(r.correct).put(r.count).put(r.norm_stats).put(r.norm_count).put(chunk_grad[c]);
      };
      work.unpack = [&](size_t c, Unpacker& u) {
        ChunkResult& r = chunk_res[c];
        u.get(r.loss).get(r.correct).get(r.count).get(r.norm_stats).get(r.norm_count).get(chunk_grad[c]);
      };
      run_chunks(ranks, nchunks, threads, work);
      std::fill(grad.begin(), grad.end(), 0.f);
      for (size_t c = 0; c < nchunks; ++c) {
        for (size_t i = 0; i < P; ++i) grad[i] += chunk_grad[c][i];
        loss_sum += chunk_res[c].loss;
        correct += chunk_res[c].correct;
      }
      seen += count;
      adamw.step(st, grad, count,
                 lr_factor(step, total_steps, warmup, cfg.min_lr_ratio, cfg.cosine_epochs, steps_per_epoch));
      model.update_norm_stats(chunk_res.data(), nchunks, st.params.data());
      ++st.step;
      samples_this_run += count;
      if (cb.progress && (s % 10 == 9 || s + 1 == steps_per_epoch))
        cb.progress(progress_at(epoch, cfg.epochs, s, steps_per_epoch, loss_sum, correct, seen, set.n, samples_this_run,
                                std::chrono::duration<double>(Clock::now() - run_start).count()));
      if (s + 1 < steps_per_epoch && stop(cb, ranks)) {
        st.epoch_step = s + 1;
        st.epoch_loss = loss_sum;
        st.epoch_correct = correct;
        st.epoch_seen = seen;
        return st;
      }
    }
    st.epoch_step = st.epoch_seen = st.epoch_correct = 0;
    st.epoch_loss = 0;
    EpochReport rep;
    rep.epoch = epoch + 1;
    rep.train_loss = loss_sum / static_cast<double>(seen);
    rep.train_accuracy = static_cast<double>(correct) / static_cast<double>(seen);
    rep.seconds = std::chrono::duration<double>(Clock::now() - epoch_start).count();
    rep.samples_per_s = static_cast<double>(seen - seen_before) / rep.seconds;  // this process's part
    if (data.val.n) {
      const EvalResult v = evaluate(model, st.params, data.val, data.num_classes, 0, threads, false, false, ranks);
      rep.val_loss = v.loss;
      rep.val_accuracy = v.accuracy;
    }
    st.epochs_done = epoch + 1;
    const bool better = regress ? (st.best_val_loss < 0 || rep.val_loss < st.best_val_loss)
                                : rep.val_accuracy > st.best_val_accuracy;
    if (better || st.best_params.empty()) {
      st.best_val_accuracy = rep.val_accuracy;
      st.best_val_loss = rep.val_loss;
      st.best_params = st.params;
      rep.best = true;
    }
    if (cb.epoch_end) cb.epoch_end(rep, st);
    if (epoch + 1 < cfg.epochs && stop(cb, ranks)) return st;
  }
  return st;
}

}  // namespace ssmsim::core
