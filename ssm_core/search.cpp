#include "ssm_core/search.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "quant/errors.hpp"

namespace ssmsim::core {

using quant::Component;
using quant::ComponentKind;

namespace {

// A component the weight memory holds (weights, biases, norm parameters): what the search narrows.
bool stored(Component c) {
  const auto k = quant::info(c).kind;
  return k == ComponentKind::Weight || k == ComponentKind::Bias;
}

// A number of a list key, or ConfigError naming the key.
double list_number(const std::string& w, const std::string& key, const std::string& what) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(w, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != w.size() || !std::isfinite(v)) throw ConfigError(key, w, what);
  return v;
}

}  // namespace

const keys::Table<SearchOptions>& SearchOptions::keys() {
  using S = SearchOptions;
  static const std::string comps = "a list of stored components: A, B, C, D, encoder, decoder, mixing, bias, norm";
  static const std::string widths = "a list of bit widths in [2, 32]";
  static const std::string ratios = "a list of footprint ratios (times smaller than float32) in [1, 32]";
  static const std::string seeds = "a list of seeds in [0, 2147483647] (run.seed's range); empty: run.seed";
  static const auto t =
      keys::Table<S>("search")
          .custom(
              "components", comps, "the components the search narrows; empty: every stored one the base quantizes",
              [](S& s, const YAML::Node& v, const std::string& key) {
                s.components.clear();
                for (const auto& w : keys::list_words(v, key, comps)) {
                  const quant::Component c = quant::parse_component(w, key);
                  if (!stored(c)) throw ConfigError(key, w, comps);
                  s.components.push_back(c);
                }
              },
              [](const S& s) {
                YAML::Node n(YAML::NodeType::Sequence);
                for (const auto c : s.components) n.push_back(quant::component_name(c));
                return n;
              })
          .custom(
              "bits", widths, "the candidate widths: each move narrows one component to the next lower one",
              [](S& s, const YAML::Node& v, const std::string& key) {
                s.bits.clear();
                for (const auto& w : keys::list_words(v, key, widths)) {
                  const double b = list_number(w, key, widths);
                  if (b != std::floor(b) || b < 2 || b > 32) throw ConfigError(key, w, widths);
                  s.bits.push_back(static_cast<int>(b));
                }
                if (s.bits.empty()) throw ConfigError(key, yaml_text(v), widths + " (at least one)");
              },
              [](const S& s) {
                YAML::Node n(YAML::NodeType::Sequence);
                for (int b : s.bits) n.push_back(b);
                return n;
              })
          .integer("val", &S::val, 0, 1000000000, "sequences",
                   "validation sequences that score the candidate moves (integer-model loss); 0 = all")
          .custom(
              "ratios", ratios, "the path points fine-tuned with QAT: the first at or above each ratio",
              [](S& s, const YAML::Node& v, const std::string& key) {
                s.ratios.clear();
                for (const auto& w : keys::list_words(v, key, ratios)) {
                  const double r = list_number(w, key, ratios);
                  if (r < 1 || r > 32) throw ConfigError(key, w, ratios);
                  s.ratios.push_back(r);
                }
              },
              [](const S& s) {
                YAML::Node n(YAML::NodeType::Sequence);
                for (double r : s.ratios) n.push_back(r);
                return n;
              })
          .real("max_ratio", &S::max_ratio, 1, 32, "x", "the path stops at this footprint ratio against float32")
          .real("budget", &S::budget, 0, 1, "", "accuracy below float allowed for the chosen point (0.01 = 1 point)")
          .boolean("fill", &S::fill,
                   "widen the point at each ratio back, greedily by PTQ loss fallen per bit, while it stays at or "
                   "above the ratio; QAT runs on the filled point")
          .custom(
              "seeds", seeds,
              "training seeds of each QAT point; its model: the highest validation, a tie to the lower seed",
              [](S& s, const YAML::Node& v, const std::string& key) {
                s.seeds.clear();
                for (const auto& w : keys::list_words(v, key, seeds)) {
                  const double x = list_number(w, key, seeds);
                  if (x != std::floor(x) || x < 0 || x > 2147483647) throw ConfigError(key, w, seeds);
                  const auto seed = static_cast<uint64_t>(x);
                  if (std::find(s.seeds.begin(), s.seeds.end(), seed) != s.seeds.end())
                    throw ConfigError(key, w, seeds + " (each seed once)");
                  s.seeds.push_back(seed);
                }
              },
              [](const S& s) {
                YAML::Node n(YAML::NodeType::Sequence);
                for (uint64_t x : s.seeds) n.push_back(x);
                return n;
              })
          .boolean("qat_stable_a", &S::qat_stable_a,
                   "the QAT runs keep every quantized |Lambda_bar| below 1 (each run: `ssmsim qat --set "
                   "quantize.stable_a=true`); the path's PTQ follows quantize.stable_a");
  return t;
}

bool preferred_run(const SeedRun& a, const SeedRun& b) {
  return a.val_accuracy > b.val_accuracy || (a.val_accuracy == b.val_accuracy && a.seed < b.seed);
}

namespace {

struct Scored {
  QModel model;
  double loss = 0, accuracy = 0;
  WeightFootprint footprint;
};

// The integer model's mean cross-entropy and accuracy on the first n validation sequences.
Scored score(QModel model, const Workload& data, size_t n, size_t threads) {
  const QEvalResult r = evaluate_quantized(model, data.val, data.num_classes, n, threads);
  const double unit = QEngine(model).logit_scale();
  const size_t C = data.num_classes;
  double loss = 0;
  for (size_t i = 0; i < r.count; ++i) {
    const int64_t* lg = r.logits.data() + i * C;
    double mx = -INFINITY;
    for (size_t c = 0; c < C; ++c) mx = std::max(mx, static_cast<double>(lg[c]) * unit);
    double sum = 0;
    for (size_t c = 0; c < C; ++c) sum += std::exp(static_cast<double>(lg[c]) * unit - mx);
    loss += mx + std::log(sum) - static_cast<double>(lg[data.val.labels[i]]) * unit;
  }
  Scored s{std::move(model), r.count ? loss / static_cast<double>(r.count) : 0.0, r.accuracy, {}};
  s.footprint = weight_footprint(s.model);
  return s;
}

}  // namespace

SearchResult mixed_precision_search(const FloatCheckpoint& ck, const quant::PrecisionConfig& base, const Workload& data,
                                    const TrainConfig& qat, const PtqOptions& ptq, const SearchOptions& o,
                                    const SearchCallbacks& cb, size_t test_limit, const QatOptions& qo) {
  auto log = [&](const std::string& s) {
    if (cb.log) cb.log(s);
  };
  if (data.kind != TaskKind::Classification) throw InputError("search: only classification workloads are supported");
  if (data.val.n == 0)
    throw InputError("search: the workload '" + data.name + "' has no validation sequences to score on");
  std::vector<int> widths = o.bits;
  std::sort(widths.begin(), widths.end(), std::greater<>());
  widths.erase(std::unique(widths.begin(), widths.end()), widths.end());

  // the path keeps A's form: QAT runs that could not stabilise A are refused before any calibration
  if (o.qat_stable_a && !o.ratios.empty()) check_stable_a(base, "search: search.qat_stable_a");
  // The base: one calibration. The search changes stored widths only, and the activation and
  // state formats come from the float model, so every candidate reuses the base's points.
  const QModel base_model = quantize_ptq(ck, base, data.train, ptq);
  std::vector<Component> comps = o.components;
  if (comps.empty()) {
    std::set<Component> present;
    for (const auto& [name, t] : base_model.tensors) present.insert(t.component);
    for (Component c : quant::all_components())
      if (stored(c) && present.count(c)) comps.push_back(c);
  }
  for (Component c : comps) {
    if (!stored(c))
      throw InputError(
          fmt::format("search: '{}' is not stored in the weight memory (search.components takes weights, "
                      "bias and norm)",
                      quant::component_name(c)));
    if (base.is_float(c))
      throw InputError(fmt::format("search: the base precision '{}' leaves '{}' float; give it a width first",
                                   base.name(), quant::component_name(c)));
  }
  auto requantize = [&](const quant::PrecisionConfig& p) {
    if (ptq.integer_states) return quantize_ptq(ck, p, data.train, ptq);
    QModel m = quantize_weights(ck.config, ck.params, p, base_model.points, base_model.gelu, nullptr, ptq.stable_a);
    m.metadata = base_model.metadata;
    return m;
  };

  SearchResult res;
  {
    const Model model(ck.config);
    res.float_val_accuracy = evaluate(model, ck.params, data.val, data.num_classes, 0, ptq.threads).accuracy;
    const EvalResult t = evaluate(model, ck.params, data.test, data.num_classes, test_limit, ptq.threads);
    res.float_test_accuracy = t.accuracy;
    res.test_count = t.count;
  }
  log(fmt::format("float: val {:.2f}% ({} sequences), test {:.2f}% ({})", 100 * res.float_val_accuracy, data.val.n,
                  100 * res.float_test_accuracy, res.test_count));

  Scored cur = score(base_model, data, o.val, ptq.threads);
  quant::PrecisionConfig prec = base;
  auto add_point = [&](std::string move, size_t scored) {
    SearchPoint p;
    p.step = res.path.size();
    p.move = std::move(move);
    p.precision = prec;
    p.precision.set_name(fmt::format("{}_search{}", base.name(), p.step));
    p.precision.set_description(fmt::format("step {} of the mixed-precision search from '{}'", p.step, base.name()));
    p.footprint = cur.footprint;
    p.ptq_loss = cur.loss;
    p.ptq_accuracy = cur.accuracy;
    p.moves_scored = scored;
    log(fmt::format("step {:>2}: {:<14} {:>7} bits ({:5.2f}x)  PTQ val loss {:.4f} acc {:.2f}%", p.step,
                    p.move.empty() ? "(base)" : p.move, p.footprint.bits, p.footprint.reduction(), p.ptq_loss,
                    100 * p.ptq_accuracy));
    res.path.push_back(std::move(p));
  };
  add_point("", 0);

  // The best move from (prec, cur): each searched component one candidate width lower
  // (narrowing: the smallest rise of the PTQ loss per bit saved, a fall counting as none; ties to
  // the larger saving) or, filling, one higher while the footprint stays at or above `ratio` (the
  // largest fall of the loss per bit spent, only a fall; ties to the fewer bits); ties then go to
  // the component listed first.
  struct Move {
    Scored scored;
    quant::PrecisionConfig prec;
    std::string name;
  };
  auto best_move = [&](bool widen, double ratio, size_t& scored) {
    std::optional<Move> best;
    double best_v = 0;
    uint64_t best_bits = 0;
    scored = 0;
    for (Component c : comps) {
      const int from = prec.bits(c);
      // widths run from the widest down: the next lower is the first below, the next higher the last above
      const auto lower = std::find_if(widths.begin(), widths.end(), [&](int x) { return x < from; });
      const auto higher = std::find_if(widths.rbegin(), widths.rend(), [&](int x) { return x > from; });
      if (widen ? higher == widths.rend() : lower == widths.end()) continue;
      quant::QuantizerSpec spec = prec.spec(c);
      spec.bits = widen ? *higher : *lower;
      quant::PrecisionConfig p = prec;
      p.set_quantized(c, spec);
      try {
        p.validate();
      } catch (const ConfigError&) {
        continue;  // e.g. a bias no longer as wide as what it meets (docs/precision.md rule 7)
      }
      QModel m = requantize(p);
      if (widen) {
        const WeightFootprint fp = weight_footprint(m);
        if (fp.reduction() < ratio || fp.bits <= cur.footprint.bits) continue;
      }
      Scored s = score(std::move(m), data, o.val, ptq.threads);
      ++scored;
      if (!widen && s.footprint.bits >= cur.footprint.bits) continue;
      const uint64_t bits = widen ? s.footprint.bits - cur.footprint.bits : cur.footprint.bits - s.footprint.bits;
      const double rise = s.loss - cur.loss;
      const double v = (widen ? rise : std::max(0.0, rise)) / static_cast<double>(bits);
      if (widen && v >= 0) continue;
      if (!best || v < best_v || (v == best_v && (widen ? bits < best_bits : bits > best_bits))) {
        best = Move{std::move(s), std::move(p),
                    fmt::format("{} {} -> {}", quant::component_name(c), from, spec.bits) +
                        (widen ? fmt::format(" (fill {}x)", ratio) : "")};
        best_v = v;
        best_bits = bits;
      }
    }
    return best;
  };
  auto take = [&](Move&& m, size_t scored) {
    cur = std::move(m.scored);
    prec = std::move(m.prec);
    add_point(std::move(m.name), scored);
  };

  auto stop = [&] { return cb.stop_requested && cb.stop_requested(); };
  while (cur.footprint.reduction() < o.max_ratio) {
    if (stop()) {  // nothing to save: the path is computed again
      res.stopped_in_path = true;
      return res;
    }
    size_t scored = 0;
    std::optional<Move> m = best_move(false, 0, scored);
    if (!m) break;
    take(std::move(*m), scored);
  }

  // Fill: from a ratio's path point, the widening moves while one fits and lowers the loss.
  // Returns the last point's index (the path point itself where none does). The moves compare
  // against the point's recorded loss and footprint; its model is not needed again.
  auto fill = [&](size_t at, double ratio) {
    const SearchPoint& from = res.path[at];
    prec = from.precision;
    cur = Scored{QModel{}, from.ptq_loss, from.ptq_accuracy, from.footprint};
    size_t last = at, scored = 0;
    while (std::optional<Move> m = best_move(true, ratio, scored)) {
      take(std::move(*m), scored);
      last = res.path.size() - 1;
    }
    return last;
  };

  // QAT of the path's points at the asked ratios (with `fill`, of their filled points).
  std::vector<size_t> picks;
  const size_t path_end = res.path.size();
  for (double r : o.ratios) {
    for (size_t i = 0; i < path_end; ++i)
      if (res.path[i].footprint.reduction() >= r) {
        const size_t at = o.fill ? fill(i, r) : i;
        if (std::find(picks.begin(), picks.end(), at) == picks.end()) picks.push_back(at);
        break;
      }
  }
  std::sort(picks.begin(), picks.end());
  const std::vector<uint64_t> seeds = o.seeds.empty() ? std::vector<uint64_t>{qat.seed} : o.seeds;
  for (size_t k = 0; k < picks.size(); ++k) {
    SearchPoint& p = res.path[picks[k]];
    log(fmt::format("QAT {}/{}: step {} ({:.2f}x, {} bits), {} epoch(s){}", k + 1, picks.size(), p.step,
                    p.footprint.reduction(), p.footprint.bits, qat.epochs,
                    seeds.size() > 1 ? fmt::format(", seeds {}", fmt::join(seeds, ", ")) : ""));
    p.runs.clear();
    size_t kept = 0;  // the run in p.runs whose model the point holds
    for (const uint64_t seed : seeds) {
      // the run `ssmsim qat --set run.seed=<seed>` makes: the seed draws the calibration sample too
      TrainConfig recipe = qat;
      recipe.seed = seed;
      PtqOptions calibration = ptq;
      calibration.seed = seed;
      calibration.stable_a = ptq.stable_a || o.qat_stable_a;
      QatCallbacks qcb;
      qcb.progress = cb.qat_progress;
      qcb.stop_requested = cb.stop_requested;
      if (cb.qat_epoch_end)
        qcb.epoch_end = [&](const QatReport& r, const QModel& best, const QatState& s) {
          cb.qat_epoch_end(p, seed, r, best, s);
        };
      const std::optional<QatResume> resume = cb.qat_resume ? cb.qat_resume(p, seed) : std::nullopt;
      QatResult r =
          train_qat(ck, p.precision, data, recipe, calibration, qcb, qo, one_process(), resume ? &*resume : nullptr);
      if (!r.finished) {
        res.stopped = SearchResult::Stopped{p.step, seed, std::move(r.state)};
        return res;
      }
      const QEvalResult t = evaluate_quantized(r.best, data.test, data.num_classes, test_limit, ptq.threads);
      const SeedRun run{seed, r.state.best_epoch, r.best_val_accuracy, t.accuracy};
      log(fmt::format("  QAT step {}{}: val {:.2f}% (epoch {}; PTQ {:.2f}%), test {:.2f}%", p.step,
                      seeds.size() > 1 ? fmt::format(" seed {}", seed) : "", 100 * r.best_val_accuracy,
                      r.state.best_epoch, 100 * r.ptq_val_accuracy, 100 * t.accuracy));
      p.runs.push_back(run);
      if (p.runs.size() == 1 || preferred_run(run, p.runs[kept])) {
        kept = p.runs.size() - 1;
        p.qat = true;
        p.seed = seed;
        p.qat_val_accuracy = r.best_val_accuracy;
        p.qat_ptq_val_accuracy = r.ptq_val_accuracy;
        p.model = std::move(r.best);
        p.test_accuracy = t.accuracy;
        p.test_count = t.count;
      }
    }
    if (seeds.size() > 1) {
      double sum = 0, lo = 1, hi = 0;
      for (const SeedRun& s : p.runs) {
        sum += s.test_accuracy;
        lo = std::min(lo, s.test_accuracy);
        hi = std::max(hi, s.test_accuracy);
      }
      log(
          fmt::format("  step {}: seed {} chosen by validation ({:.2f}%), test {:.2f}%; test over the {} seeds: mean "
                      "{:.2f}%, {:.2f}-{:.2f}%",
                      p.step, p.seed, 100 * p.qat_val_accuracy, 100 * p.test_accuracy, p.runs.size(),
                      100 * sum / static_cast<double>(p.runs.size()), 100 * lo, 100 * hi));
    }
    if (cb.qat_done) cb.qat_done(p);
  }

  // The front: a QAT point is on it when no other has as few bits or fewer and higher accuracy.
  for (size_t i : picks) {
    const SearchPoint& p = res.path[i];
    bool dominated = false;
    for (size_t j : picks) {
      const SearchPoint& q = res.path[j];
      if (j != i && q.footprint.bits <= p.footprint.bits && q.qat_val_accuracy >= p.qat_val_accuracy &&
          (q.footprint.bits < p.footprint.bits || q.qat_val_accuracy > p.qat_val_accuracy))
        dominated = true;
    }
    if (!dominated) res.front.push_back(i);
  }
  std::sort(res.front.begin(), res.front.end(),
            [&](size_t a, size_t b) { return res.path[a].footprint.bits < res.path[b].footprint.bits; });
  for (size_t i : res.front)
    if (res.path[i].qat_val_accuracy >= res.float_val_accuracy - o.budget) {
      res.chosen = i;
      break;
    }
  return res;
}

}  // namespace ssmsim::core
