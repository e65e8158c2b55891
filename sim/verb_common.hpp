// Helpers shared by several verbs (sim/verb_*.cpp): the workload load, the train and PTQ options
// from the resolved config, the progress line, and the JSON/text of evaluation results.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <ostream>
#include <string>
#include <utility>

#include "reports/result_record.hpp"
#include "sim/sections.hpp"
#include "sim/verbs.hpp"
#include "ssm_core/checkpoint.hpp"
#include "ssm_core/qat.hpp"
#include "ssm_core/qmodel.hpp"
#include "ssm_core/trainer.hpp"
#include "workloads/dataset.hpp"

namespace ssmsim::sim {

// The workload `name` (default: --workload), seeded by run.seed, with a line on `log`.
workloads::Workload load_data(const Invocation& inv, std::ostream& log, std::string name = "");

// The train section with run.seed and run.threads.
core::TrainConfig train_config(const Invocation& inv);

// A duration as 42s, 3m07s or 2h05m.
std::string fmt_time(double s);

// The progress line of train and qat: rewritten in place on a terminal, five lines an epoch
// otherwise (logs).
std::function<void(const core::Progress&)> progress_printer(std::ostream& err, const char* what);

// Who does the work, for the start line: "2 thread(s)", "all thread(s)", or under MPI
// "3 MPI ranks x 4 thread(s)".
std::string workers_text(const core::Ranks& ranks, size_t threads);

// The record of a classification result: count, accuracy, loss and the confusion matrix.
reports::ResultRecord eval_record(const core::EvalResult& r, size_t classes);

// MSE and sMAPE of regression outputs against the set's targets (same order, first count).
std::pair<double, double> regression_metrics(const core::EvalResult& r, const core::SequenceSet& set);
std::string regression_text(const core::EvalResult& r, const core::SequenceSet& set);
// The record of a regression result: count, MSE and sMAPE.
reports::ResultRecord regression_record(const core::EvalResult& r, const core::SequenceSet& set);

// The quantize section (and run.seed / run.threads) as PTQ options.
core::PtqOptions ptq_options(const Invocation& inv);

// The workload of a float checkpoint: --workload, else the checkpoint's data.workload metadata.
std::string checkpoint_workload(const Invocation& inv, const core::FloatCheckpoint& ck, const std::string& path,
                                const char* verb);

// What makes two QAT runs the same run (threads and ranks do not change the bits): the float
// checkpoint's parameters, the workload, the seed, the train, quantize, qat and data sections and
// `precision` (the precision config's YAML), for the key of its resumable state. `stable_a`: the
// run's quantize section has stable_a on whatever the invocation's says (search.qat_stable_a).
std::string qat_run_key(const Invocation& inv, const core::FloatCheckpoint& ck, const std::string& workload,
                        uint64_t seed, const std::string& precision, bool stable_a = false);

// The QAT run saved at `out` (its best model) and `out`.state, to continue (--resume): the state,
// refused where its key is not `run_key`, and the best model where an epoch beat PTQ.
core::QatResume load_qat_resume(const std::string& out, const core::Model& model, const std::string& run_key);
// "resuming after epoch 3 and step 40 of epoch 4 (best validation accuracy so far 95.10%, epoch 2)"
std::string resume_text(const core::QatState& s);

// A QAT model with the metadata of how it was made: its float checkpoint, workload and recipe.
core::QModel qat_annotated(core::QModel q, const std::string& ckpt, const std::string& workload,
                           const core::TrainConfig& tc, const core::QatOptions& qo);

// What stops a training run (train, qat) early, to save its state and continue with --resume:
// SIGINT or SIGTERM (while this object lives they ask, instead of killing), or --time-limit's
// minutes (counted from construction) having passed.
class StopRequests {
 public:
  StopRequests(const Invocation& inv, const char* verb);
  ~StopRequests();
  StopRequests(const StopRequests&) = delete;
  StopRequests& operator=(const StopRequests&) = delete;
  bool operator()() const;
  int signal() const;  // the signal received, or 0
  // "signal 15" or "time limit"
  std::string reason() const;
  // the exit code of a stopped run: 0 for a time limit, 128 + the signal
  int exit_code() const;

 private:
  double limit_s_;
  std::chrono::steady_clock::time_point start_;
  void (*old_int_)(int) = nullptr;
  void (*old_term_)(int) = nullptr;
};

// The end of a run that `stop` stopped before its last epoch, its state saved in `state_path`: the
// line that says where and how to continue, and (root, --json) the unfinished result record.
// Returns the exit code: 0 for a time limit, 128 + the signal.
int report_stopped(const Invocation& inv, const char* verb, const core::TrainState& progress,
                   const std::string& state_path, const StopRequests& stop);

}  // namespace ssmsim::sim
