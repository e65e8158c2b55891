// The mixed-precision search (ssm_core/search.hpp) and the float trainer's folded input
// standardization: the search's path only shrinks the stored weights, one component one step at
// a time, scores its points with the integer model, repeats itself exactly, and its front and
// choice follow their definitions; a folded standardization is the same function on raw inputs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include "ssm_core/search.hpp"
#include "tests/support/pulse_task.hpp"
#include "tests/support/testing.hpp"

using namespace ssmsim::core;
using ssmsim::quant::Component;
using ssmsim::quant::PrecisionConfig;

namespace {

PrecisionConfig eight_bit() {
  PrecisionConfig p;
  ssmsim::quant::QuantizerSpec s;
  s.bits = 8;
  for (auto c : ssmsim::quant::all_components()) {
    auto sc = s;
    if (c == Component::bias) sc.bits = 32;
    if (c == Component::x) sc.bits = 16;
    p.set_quantized(c, sc);
  }
  p.set_name("base8");
  p.validate();
  return p;
}

struct Fixture {
  Workload w = ssmsim::testing::pulse_workload(5, 512, 128, 128);
  FloatCheckpoint ck;
  Fixture() {
    const Model model(ssmsim::testing::pulse_model());
    const TrainState st = ssmsim::testing::train_fresh(model, ssmsim::testing::pulse_recipe(8), w);
    ck = FloatCheckpoint{model.config(), st.best_params, {}};
  }
};

const Fixture& fixture() {
  static const Fixture f;
  return f;
}

SearchOptions small_search() {
  SearchOptions o;
  o.bits = {16, 8, 6, 4, 3, 2};
  o.val = 64;
  o.ratios = {6, 9};
  o.max_ratio = 12;
  o.budget = 0.05;
  return o;
}

TrainConfig qat_recipe() {
  TrainConfig t;
  t.epochs = 2;
  t.batch_size = 32;
  t.lr = 0.003;
  t.ssm_lr = 0.001;
  t.warmup_epochs = 0;
  t.seed = 3;
  return t;
}

PtqOptions ptq_options(size_t threads) {
  PtqOptions p;
  p.calib = 64;
  p.threads = threads;
  return p;
}

}  // namespace

TEST(Search, PathNarrowsOneStoredComponentOneStepAtATimeAndRepeatsExactly) {
  const Fixture& f = fixture();
  const SearchOptions o = small_search();
  std::vector<std::string> lines;
  SearchCallbacks cb;
  cb.log = [&](const std::string& s) { lines.push_back(s); };
  const SearchResult r = mixed_precision_search(f.ck, eight_bit(), f.w, qat_recipe(), ptq_options(1), o, cb);
  ASSERT_GE(r.path.size(), 3u);
  EXPECT_FALSE(lines.empty());
  EXPECT_EQ(r.path[0].precision.bits(Component::A), 8);
  for (size_t i = 1; i < r.path.size(); ++i) {
    const SearchPoint& a = r.path[i - 1];
    const SearchPoint& b = r.path[i];
    EXPECT_LT(b.footprint.bits, a.footprint.bits) << b.move;
    EXPECT_EQ(b.footprint.elements, a.footprint.elements);
    // exactly one stored component changed, to the next lower candidate width
    int changed = 0;
    for (auto c : ssmsim::quant::all_components()) {
      const int wa = a.precision.bits(c), wb = b.precision.bits(c);
      if (wa == wb) continue;
      ++changed;
      const auto k = ssmsim::quant::info(c).kind;
      EXPECT_TRUE(k == ssmsim::quant::ComponentKind::Weight || k == ssmsim::quant::ComponentKind::Bias)
          << ssmsim::quant::component_name(c);
      const auto next = std::find_if(o.bits.begin(), o.bits.end(), [&](int w) { return w < wa; });
      ASSERT_NE(next, o.bits.end());
      EXPECT_EQ(wb, *next) << b.move;
    }
    EXPECT_EQ(changed, 1) << b.move;
  }
  // the path stops at max_ratio or when nothing is left to narrow
  const SearchPoint& last = r.path.back();
  bool all_min = true;
  for (auto c : ssmsim::quant::all_components()) {
    const auto k = ssmsim::quant::info(c).kind;
    if ((k == ssmsim::quant::ComponentKind::Weight || k == ssmsim::quant::ComponentKind::Bias) &&
        last.precision.bits(c) > 2 && c != Component::bias && c != Component::norm)
      all_min = false;
  }
  EXPECT_TRUE(last.footprint.reduction() >= o.max_ratio || all_min) << last.footprint.reduction();
  if (r.path.size() >= 2) {
    EXPECT_LT(r.path[r.path.size() - 2].footprint.reduction(), o.max_ratio);
  }

  // the QAT points are the first at or above each ratio, each evaluated; the front is not dominated
  for (double ratio : o.ratios) {
    const auto it = std::find_if(r.path.begin(), r.path.end(),
                                 [&](const SearchPoint& p) { return p.footprint.reduction() >= ratio; });
    if (it == r.path.end()) continue;
    EXPECT_TRUE(it->qat) << "ratio " << ratio;
    ASSERT_TRUE(it->model.has_value());
    EXPECT_EQ(weight_footprint(*it->model).bits, it->footprint.bits);
    EXPECT_GT(it->test_count, 0u);
  }
  ASSERT_FALSE(r.front.empty());
  for (size_t i : r.front)
    for (const SearchPoint& q : r.path)
      if (q.qat && q.step != i) {
        EXPECT_FALSE(q.footprint.bits <= r.path[i].footprint.bits && q.qat_val_accuracy > r.path[i].qat_val_accuracy)
            << "front point " << i << " is dominated by " << q.step;
      }
  if (r.chosen) {
    EXPECT_GE(r.path[*r.chosen].qat_val_accuracy, r.float_val_accuracy - o.budget);
    for (size_t i : r.front)
      if (r.path[i].footprint.bits < r.path[*r.chosen].footprint.bits) {
        EXPECT_LT(r.path[i].qat_val_accuracy, r.float_val_accuracy - o.budget);
      }
  }

  // the same search on another thread count: the same path, scores and QAT models
  const SearchResult again = mixed_precision_search(f.ck, eight_bit(), f.w, qat_recipe(), ptq_options(3), o, {});
  ASSERT_EQ(again.path.size(), r.path.size());
  for (size_t i = 0; i < r.path.size(); ++i) {
    EXPECT_EQ(again.path[i].move, r.path[i].move);
    EXPECT_EQ(again.path[i].ptq_loss, r.path[i].ptq_loss);
    EXPECT_EQ(again.path[i].qat_val_accuracy, r.path[i].qat_val_accuracy);
    if (r.path[i].model) {
      ASSERT_TRUE(again.path[i].model.has_value());
      for (const auto& [name, t] : r.path[i].model->tensors)
        EXPECT_EQ(again.path[i].model->tensors.at(name).q, t.q) << name;
    }
  }
  EXPECT_EQ(again.front, r.front);
  EXPECT_EQ(again.chosen, r.chosen);
}

TEST(Search, FillWidensTheRatiosPointBackWhileItStaysAtTheRatio) {
  const Fixture& f = fixture();
  SearchOptions o = small_search();
  o.ratios = {6};
  o.fill = true;
  TrainConfig t = qat_recipe();
  t.epochs = 1;
  const SearchResult r = mixed_precision_search(f.ck, eight_bit(), f.w, t, ptq_options(1), o, {});
  // the narrowing path, then the fill moves of its first point at or above 6x
  size_t at = 0;
  while (at < r.path.size() && r.path[at].footprint.reduction() < 6) ++at;
  ASSERT_LT(at, r.path.size());
  size_t end = at + 1;
  while (end < r.path.size() && r.path[end].move.find("(fill 6x)") == std::string::npos) ++end;
  ASSERT_LT(end, r.path.size()) << "no fill move: the 6x point had no room left";
  const SearchPoint* prev = &r.path[at];
  for (size_t i = end; i < r.path.size(); ++i) {
    const SearchPoint& b = r.path[i];
    EXPECT_NE(b.move.find("(fill 6x)"), std::string::npos) << b.move;
    EXPECT_GT(b.footprint.bits, prev->footprint.bits) << b.move;
    EXPECT_GE(b.footprint.reduction(), 6.0) << b.move;
    EXPECT_LT(b.ptq_loss, prev->ptq_loss) << b.move;
    // one component, to the next candidate width above
    int changed = 0;
    for (auto c : ssmsim::quant::all_components()) {
      const int wa = prev->precision.bits(c), wb = b.precision.bits(c);
      if (wa == wb) continue;
      ++changed;
      const auto up = std::find_if(o.bits.rbegin(), o.bits.rend(), [&](int w) { return w > wa; });
      ASSERT_NE(up, o.bits.rend());
      EXPECT_EQ(wb, *up) << b.move;
    }
    EXPECT_EQ(changed, 1) << b.move;
    prev = &b;
  }
  // QAT ran on the filled point, not on the path point it started from
  EXPECT_TRUE(r.path.back().qat);
  EXPECT_FALSE(r.path[at].qat);
  ASSERT_TRUE(r.path.back().model.has_value());
  EXPECT_EQ(weight_footprint(*r.path.back().model).bits, r.path.back().footprint.bits);
}

// search.seeds: each QAT point runs once per seed, each run the run `train_qat` makes with that
// seed (training and calibration); the point keeps the highest validation (a tie to the lower seed). A search stopped inside a
// run continues from the saved states (a finished run's gives its result) to the same bits.
TEST(Search, SeedsRunEachQatPointOncePerSeedAndAStoppedSearchContinuesToTheSameBits) {
  const Fixture& f = fixture();
  SearchOptions o = small_search();
  o.ratios = {6};
  o.seeds = {5, 3};
  const SearchResult r = mixed_precision_search(f.ck, eight_bit(), f.w, qat_recipe(), ptq_options(2), o, {});
  const auto it = std::find_if(r.path.begin(), r.path.end(), [](const SearchPoint& p) { return p.qat; });
  ASSERT_NE(it, r.path.end());
  const SearchPoint& p = *it;
  ASSERT_EQ(p.runs.size(), 2u);
  EXPECT_EQ(p.runs[0].seed, 5u);
  EXPECT_EQ(p.runs[1].seed, 3u);
  const SeedRun& best = p.runs[0].val_accuracy > p.runs[1].val_accuracy ? p.runs[0] : p.runs[1];
  EXPECT_EQ(p.seed, best.seed);
  EXPECT_EQ(p.qat_val_accuracy, best.val_accuracy);
  EXPECT_EQ(p.test_accuracy, best.test_accuracy);
  for (const SeedRun& run : p.runs) {
    TrainConfig recipe = qat_recipe();
    recipe.seed = run.seed;
    PtqOptions calibration = ptq_options(2);
    calibration.seed = run.seed;
    const QatResult q = train_qat(f.ck, p.precision, f.w, recipe, calibration, {});
    EXPECT_EQ(q.best_val_accuracy, run.val_accuracy) << "seed " << run.seed;
    EXPECT_EQ(q.state.best_epoch, run.best_epoch) << "seed " << run.seed;
    if (run.seed != p.seed) continue;
    for (const auto& [name, t] : q.best.tensors) EXPECT_EQ(p.model->tensors.at(name).q, t.q) << name;
  }

  // stopped a few steps into the second seed's run, then continued from what the callbacks saved
  std::map<uint64_t, std::pair<QatState, QModel>> saved;
  size_t polls_after_first = 0;
  SearchCallbacks cb;
  cb.qat_epoch_end = [&](const SearchPoint&, uint64_t seed, const QatReport&, const QModel& m, const QatState& s) {
    saved[seed] = {s, m};
  };
  cb.stop_requested = [&] {
    return saved.count(5) && saved[5].first.weights.epochs_done == 2 && ++polls_after_first == 5;
  };
  const SearchResult stopped = mixed_precision_search(f.ck, eight_bit(), f.w, qat_recipe(), ptq_options(2), o, cb);
  ASSERT_TRUE(stopped.stopped.has_value());
  EXPECT_EQ(stopped.stopped->step, p.step);
  EXPECT_EQ(stopped.stopped->seed, 3u);
  EXPECT_EQ(stopped.stopped->state.weights.epoch_step, 5u);
  EXPECT_FALSE(stopped.chosen.has_value());
  SearchCallbacks again;
  std::map<uint64_t, size_t> epochs_run;  // the finished run is read, the stopped one trains on
  again.qat_epoch_end = [&](const SearchPoint&, uint64_t seed, const QatReport&, const QModel&, const QatState&) {
    ++epochs_run[seed];
  };
  again.qat_resume = [&](const SearchPoint&, uint64_t seed) {
    QatResume res;
    if (seed == 5) {
      res.state = saved[5].first;
      res.best = saved[5].second;
    } else {
      res.state = stopped.stopped->state;
    }
    return std::optional<QatResume>(std::move(res));
  };
  const SearchResult resumed = mixed_precision_search(f.ck, eight_bit(), f.w, qat_recipe(), ptq_options(2), o, again);
  ASSERT_FALSE(resumed.stopped.has_value());
  EXPECT_EQ(epochs_run[5], 0u);
  EXPECT_EQ(epochs_run[3], 2u);
  const SearchPoint& q = resumed.path[p.step];
  ASSERT_EQ(q.runs.size(), 2u);
  for (size_t k = 0; k < 2; ++k) {
    EXPECT_EQ(q.runs[k].val_accuracy, p.runs[k].val_accuracy) << k;
    EXPECT_EQ(q.runs[k].test_accuracy, p.runs[k].test_accuracy) << k;
  }
  EXPECT_EQ(q.seed, p.seed);
  for (const auto& [name, t] : p.model->tensors) EXPECT_EQ(q.model->tensors.at(name).q, t.q) << name;
  EXPECT_EQ(resumed.chosen, r.chosen);
}

// search.qat_stable_a: the path is scored as quantize.stable_a says (here off), the QAT runs are
// `train_qat`'s with stable_a on, bit for bit.
TEST(Search, QatStableAStabilisesTheQatRunsAndLeavesThePath) {
  const Fixture& f = fixture();
  SearchOptions o = small_search();
  o.ratios = {6};
  o.max_ratio = 7;
  const SearchResult plain = mixed_precision_search(f.ck, eight_bit(), f.w, qat_recipe(), ptq_options(2), o, {});
  o.qat_stable_a = true;
  const SearchResult r = mixed_precision_search(f.ck, eight_bit(), f.w, qat_recipe(), ptq_options(2), o, {});
  ASSERT_EQ(r.path.size(), plain.path.size());
  for (size_t k = 0; k < r.path.size(); ++k) {
    EXPECT_EQ(r.path[k].move, plain.path[k].move) << k;
    EXPECT_EQ(r.path[k].ptq_loss, plain.path[k].ptq_loss) << k;
  }
  const auto it = std::find_if(r.path.begin(), r.path.end(), [](const SearchPoint& p) { return p.qat; });
  ASSERT_NE(it, r.path.end());
  ASSERT_TRUE(it->model.has_value());
  EXPECT_EQ(it->model->metadata.at("quantize.stable_a"), "true");
  EXPECT_EQ(plain.path[it->step].model->metadata.at("quantize.stable_a"), "false");
  PtqOptions calibration = ptq_options(2);
  calibration.stable_a = true;
  const QatResult q = train_qat(f.ck, it->precision, f.w, qat_recipe(), calibration, {});
  EXPECT_EQ(q.best_val_accuracy, it->qat_val_accuracy);
  for (const auto& [name, t] : q.best.tensors) EXPECT_EQ(it->model->tensors.at(name).q, t.q) << name;
}

// search.qat_stable_a on a base whose A is stored directly with separate parts (which
// quantize.stable_a refuses) is refused at the start, before the base's calibration and the path.
TEST(Search, QatStableAOnADirectSeparatePartsBaseIsRefusedBeforeThePath) {
  const Fixture& f = fixture();
  PrecisionConfig p = eight_bit();
  ssmsim::quant::QuantizerSpec a = p.spec(Component::A);
  a.separate_parts = true;
  p.set_quantized(Component::A, a);
  p.validate();
  SearchOptions o = small_search();
  o.ratios = {6};
  o.qat_stable_a = true;
  SearchCallbacks cb;
  size_t messages = 0;
  cb.log = [&](const std::string&) { ++messages; };
  try {
    mixed_precision_search(f.ck, p, f.w, qat_recipe(), ptq_options(1), o, cb);
    FAIL() << "expected an InputError";
  } catch (const ssmsim::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("search.qat_stable_a"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("form: delta"), std::string::npos) << e.what();
  }
  EXPECT_EQ(messages, 0u);
  o.ratios.clear();  // no QAT run: nothing to refuse
  EXPECT_NO_THROW(mixed_precision_search(f.ck, p, f.w, qat_recipe(), ptq_options(1), o, {}));
}

// A stop asked for while the path is computed ends the search before its next move, with no QAT.
TEST(Search, AStopDuringThePathEndsItBeforeTheNextMove) {
  const Fixture& f = fixture();
  SearchCallbacks cb;
  size_t polls = 0;
  cb.stop_requested = [&] { return ++polls == 3; };
  const SearchResult r =
      mixed_precision_search(f.ck, eight_bit(), f.w, qat_recipe(), ptq_options(2), small_search(), cb);
  EXPECT_TRUE(r.stopped_in_path);
  EXPECT_FALSE(r.stopped.has_value());
  EXPECT_EQ(r.path.size(), 3u);  // the base and two moves
  for (const SearchPoint& p : r.path) EXPECT_FALSE(p.qat);
  EXPECT_FALSE(r.chosen.has_value());
}

// The run a point keeps: the higher validation accuracy, a tie to the lower seed in either order.
TEST(Search, APointKeepsTheHigherValidationATieGoingToTheLowerSeed) {
  const SeedRun five{5, 30, 0.9635, 0.9621}, three{3, 29, 0.9635, 0.9500}, one{1, 30, 0.9561, 0.9700};
  EXPECT_TRUE(preferred_run(three, five));
  EXPECT_FALSE(preferred_run(five, three));
  EXPECT_TRUE(preferred_run(five, one));  // validation decides, not test
  EXPECT_FALSE(preferred_run(one, five));
  EXPECT_FALSE(preferred_run(three, three));
}

TEST(Search, RefusesAFloatComponentAndAnActivationToNarrow) {
  const Fixture& f = fixture();
  PrecisionConfig p = eight_bit();
  p.set_float(Component::mixing);
  SearchOptions o = small_search();
  o.components = {Component::mixing};
  EXPECT_THROW(mixed_precision_search(f.ck, p, f.w, qat_recipe(), ptq_options(1), o, {}), ssmsim::InputError);
  o.components = {Component::ssm_out};
  EXPECT_THROW(mixed_precision_search(f.ck, eight_bit(), f.w, qat_recipe(), ptq_options(1), o, {}), ssmsim::InputError);
  // the search section's keys: stored components only, integer widths, ratios in range
  const auto& keys = SearchOptions::keys();
  EXPECT_EQ(keys.read(YAML::Load("{components: [A, bias, norm]}"), "search").components.size(), 3u);
  EXPECT_THROW(keys.read(YAML::Load("{components: [ssm_out]}"), "search"), ssmsim::ConfigError);
  EXPECT_THROW(keys.read(YAML::Load("{bits: [8, 4.5]}"), "search"), ssmsim::ConfigError);
  EXPECT_THROW(keys.read(YAML::Load("{ratios: [0.5]}"), "search"), ssmsim::ConfigError);
}

TEST(Search, FootprintCountsEveryStoredTensorAtItsWidestFormat) {
  const Fixture& f = fixture();
  PtqOptions opt = ptq_options(1);
  const QModel q = quantize_ptq(f.ck, eight_bit(), f.w.train, opt);
  uint64_t bits = 0, elements = 0;
  for (const auto& [name, t] : q.tensors) {
    const int width = t.component == Component::bias ? 32 : 8;
    bits += static_cast<uint64_t>(width) * t.size();
    elements += t.size();
  }
  const WeightFootprint fp = weight_footprint(q);
  EXPECT_EQ(fp.bits, bits);
  EXPECT_EQ(fp.elements, elements);
  EXPECT_DOUBLE_EQ(fp.reduction(), 32.0 * static_cast<double>(elements) / static_cast<double>(bits));
}

TEST(Train, FoldedInputStandardizationIsTheSameFunctionOnRawInputs) {
  std::mt19937_64 rng(17);
  ModelConfig mc = ssmsim::testing::pulse_model();
  mc.d_input = 3;
  const Model model(mc);
  const auto p0 = model.init(4);
  std::vector<float> params(p0.begin(), p0.end());
  SequenceSet raw = ssmsim::testing::pulse_set(24, 64, rng);
  // three features with different offsets and spreads
  SequenceSet wide = raw;
  wide.d_input = 3;
  wide.inputs.resize(raw.n * raw.length * 3);
  std::normal_distribution<float> nd(0.f, 1.f);
  for (size_t i = 0; i < raw.n * raw.length; ++i) {
    wide.inputs[i * 3 + 0] = raw.inputs[i];
    wide.inputs[i * 3 + 1] = 5.f + 0.1f * nd(rng);
    wide.inputs[i * 3 + 2] = -2.f + 7.f * nd(rng);
  }
  const InputStats st = input_stats(wide);
  EXPECT_NEAR(st.mean[1], 5.0, 0.01);
  EXPECT_NEAR(st.std[1], 0.1, 0.01);
  EXPECT_NEAR(st.std[2], 7.0, 0.2);
  SequenceSet standardized = wide;
  standardize_inputs(standardized, st);
  const InputStats unit = input_stats(standardized);
  for (size_t f = 0; f < 3; ++f) {
    EXPECT_NEAR(unit.mean[f], 0.0, 1e-5);
    EXPECT_NEAR(unit.std[f], 1.0, 1e-5);
  }
  const std::vector<float> folded = fold_input_standardization(model, params, st);
  const EvalResult a = evaluate(model, params, standardized, 4, 0, 1, false, true);
  const EvalResult b = evaluate(model, folded, wide, 4, 0, 1, false, true);
  ASSERT_EQ(a.logits.size(), b.logits.size());
  double worst = 0;
  for (size_t i = 0; i < a.logits.size(); ++i) worst = std::max(worst, std::abs(double(a.logits[i]) - b.logits[i]));
  EXPECT_LT(worst, 1e-4);
  // only the encoder changed
  size_t differ = 0;
  for (size_t i = 0; i < params.size(); ++i) differ += params[i] != folded[i];
  EXPECT_GT(differ, 0u);
  EXPECT_LE(differ, model.layout().find("encoder.weight").size + model.layout().find("encoder.bias").size);
}
