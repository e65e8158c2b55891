// Mixed-precision search (`ssmsim search`, docs/search.md): from a float checkpoint and a base
// precision config, the stored weights' widths are narrowed one component at a time, greedily,
// by what each step costs in integer-model validation loss per weight bit saved (the sensitivity
// of every candidate move, measured with PTQ); then the points of that path at the asked
// footprint ratios are fine-tuned with QAT, and the memory/accuracy Pareto front of the QAT
// models is reported with the smallest one within the accuracy budget of float.
//
// Deterministic: the same inputs give the same path, the same QAT models and the same choice for
// any thread count (PTQ, the integer evaluation and QAT are; ties go to the larger saving, then
// to the component listed first). Each QAT point may run under several training seeds, its model
// chosen by validation accuracy; a run stopped part-way continues from its saved state.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "quant/keys.hpp"
#include "quant/precision.hpp"
#include "ssm_core/checkpoint.hpp"
#include "ssm_core/qat.hpp"
#include "ssm_core/qmodel.hpp"
#include "ssm_core/sequences.hpp"
#include "ssm_core/trainer.hpp"

namespace ssmsim::core {

// The `search` section (sim/sections.cpp holds its keys).
struct SearchOptions {
  // The components the search narrows (weights, biases, norm parameters); empty: every one the
  // base quantizes and the model stores.
  std::vector<quant::Component> components;
  std::vector<int> bits = {16, 12, 8, 6, 5, 4, 3, 2};  // candidate widths; a move takes the next lower one
  size_t val = 1000;                                   // validation sequences that score the moves (0: all)
  std::vector<double> ratios = {4, 6, 8, 10, 12};      // path points fine-tuned with QAT: the first at or above each
  double max_ratio = 16;                               // the path stops at this footprint ratio
  double budget = 0.01;                                // accuracy below float allowed for the chosen point (a fraction)
  // Fill each ratio's point: the path's first point at or above a ratio overshoots it; widen its
  // components back one candidate width at a time, greedily (the largest fall of the PTQ loss
  // per weight bit spent), while the footprint stays at or above the ratio; QAT then runs on the
  // filled point.
  bool fill = false;
  // The seeds of each QAT point: one run per seed (its training and its calibration sample, as
  // `ssmsim qat --set run.seed=<seed>`), the point's model the run of the highest validation
  // accuracy (a tie to the lower seed). Empty: the recipe's seed (run.seed).
  std::vector<uint64_t> seeds;
  // The QAT runs keep every quantized |Lambda_bar| below 1 (quantize.stable_a for the runs only:
  // each run is `ssmsim qat --set quantize.stable_a=true`), while the path's PTQ follows
  // quantize.stable_a. Off: the runs follow quantize.stable_a too.
  bool qat_stable_a = false;
  static const keys::Table<SearchOptions>& keys();
};

// One QAT run of a point: its seed, its best epoch (by validation) and that model's accuracies.
struct SeedRun {
  uint64_t seed = 0;
  size_t best_epoch = 0;
  double val_accuracy = 0, test_accuracy = 0;
};

// Whether a point keeps run `a` over run `b`: the higher validation accuracy, a tie to the lower
// seed.
bool preferred_run(const SeedRun& a, const SeedRun& b);

struct SearchPoint {
  size_t step = 0;   // 0: the base config
  std::string move;  // "B 8 -> 6" (empty for the base); a fill move: "decoder 3 -> 4 (fill 8x)"
  quant::PrecisionConfig precision;
  WeightFootprint footprint;
  double ptq_loss = 0, ptq_accuracy = 0;  // the integer model after PTQ, on the search's validation sequences
  size_t moves_scored = 0;                // candidate moves measured to choose this one
  // QAT (the points at the asked ratios only): the chosen run's
  bool qat = false;
  double qat_val_accuracy = 0, qat_ptq_val_accuracy = 0;  // on the whole validation set
  double test_accuracy = 0;
  size_t test_count = 0;
  uint64_t seed = 0;
  std::optional<QModel> model;  // the best QAT model
  std::vector<SeedRun> runs;    // every seed's run, in search.seeds' order
};

struct SearchResult {
  double float_val_accuracy = 0, float_test_accuracy = 0;  // the float checkpoint (whole validation set; test)
  size_t test_count = 0;
  // in the order taken: the narrowing path (footprint shrinking), then with `fill` each ratio's
  // fill moves (footprint growing from that ratio's path point)
  std::vector<SearchPoint> path;
  std::vector<size_t> front;  // indices of the QAT points on the bits/validation-accuracy Pareto front, smallest first
  std::optional<size_t> chosen;  // the smallest QAT point with val accuracy >= float val - budget
  // A QAT run stopped part-way (SearchCallbacks::stop_requested): the search returned there,
  // without front or choice; save the state and call again with it as the run's QatResume.
  struct Stopped {
    size_t step = 0;
    uint64_t seed = 0;
    QatState state;
  };
  std::optional<Stopped> stopped;
  bool stopped_in_path = false;  // stopped before any QAT run began: nothing to save
};

struct SearchCallbacks {
  std::function<void(const std::string&)> log;  // one line per path step and per phase
  std::function<void(const Progress&)> qat_progress;
  std::function<void(const SearchPoint&)> qat_done;  // after each QAT point (save its model)
  // Each QAT run (a point, a seed): the state it continues from (none: it starts afresh; a
  // finished run's state gives its result without training), and after every epoch its report,
  // best model and state (save them to continue later).
  std::function<std::optional<QatResume>(const SearchPoint&, uint64_t seed)> qat_resume;
  std::function<void(const SearchPoint&, uint64_t seed, const QatReport&, const QModel& best, const QatState&)>
      qat_epoch_end;
  // polled after every path step and every QAT step: true stops the search there
  std::function<bool()> stop_requested;
};

// `qat` is the fine-tuning recipe (train section); `ptq` the calibration; `test_limit` the test
// sequences evaluated (0: all); `qat_options` what QAT learns beyond the weights and its
// distillation (the qat section). Throws InputError for an unsupported model or a base that leaves a
// searched component float.
SearchResult mixed_precision_search(const FloatCheckpoint& ck, const quant::PrecisionConfig& base, const Workload& data,
                                    const TrainConfig& qat, const PtqOptions& ptq, const SearchOptions& options,
                                    const SearchCallbacks& callbacks, size_t test_limit = 0,
                                    const QatOptions& qat_options = {});

}  // namespace ssmsim::core
