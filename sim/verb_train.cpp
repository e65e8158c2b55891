// `ssmsim train`: float training with progress, best checkpoint, --resume and a stop on signals.
#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <unistd.h>

#include <filesystem>
#include <map>
#include <optional>

#include "quant/errors.hpp"
#include "reports/result_record.hpp"
#include "sim/verb_common.hpp"
#include "ssm_core/checkpoint.hpp"
#include "ssm_core/trainer.hpp"

namespace ssmsim::sim {

int run_train(const Invocation& inv) {
  const auto& o = inv.options;
  core::ModelConfig mc = inv.config.get<core::ModelConfig>("model");
  const core::TrainConfig tc = train_config(inv);
  workloads::Workload w = load_data(inv, inv.err);
  // train.standardize_input: the model trains on standardized inputs, and every checkpoint written
  // folds the standardization into its encoder (it reads the raw inputs, as the other verbs give).
  std::optional<core::InputStats> norm;
  if (tc.standardize_input) {
    norm = core::input_stats(w.train);
    for (auto* set : {&w.train, &w.val, &w.test}) core::standardize_inputs(*set, *norm);
    std::string stats;
    for (size_t f = 0; f < norm->mean.size(); ++f)
      stats += fmt::format("{}{:.6g} / {:.6g}", f ? ", " : "", norm->mean[f], norm->std[f]);
    inv.err << fmt::format("inputs standardized by the training split's mean / std: {}\n", stats);
  }
  // the task and the data's shape come from the workload unless the model fixes them
  const bool regress = w.kind == workloads::TaskKind::Regression;
  if (regress) {
    mc.task = core::Task::Regress;
    if (mc.target_length == 0) mc.target_length = w.train.target_length;
  }
  const size_t outputs = regress ? w.train.d_output : w.num_classes;
  if (mc.d_input == 0) mc.d_input = w.train.d_input;
  if (mc.d_output == 0) mc.d_output = outputs;
  if (mc.d_input != w.train.d_input || mc.d_output != outputs)
    throw InputError(fmt::format("train: the model expects {} input features and {} outputs, workload '{}' has "
                                 "{} and {}", mc.d_input, mc.d_output, w.name, w.train.d_input, outputs));
  const core::Model model(mc);
  const std::filesystem::path out = o["out"].as<std::string>();
  const std::filesystem::path state_path = out.string() + ".state";

  core::TrainState st;
  if (o["resume"].as<bool>()) {
    if (!std::filesystem::exists(state_path))
      throw InputError("train --resume: no training state at '" + state_path.string() +
                       "'; run without --resume to start afresh");
    st = core::load_train_state(state_path, model);
    inv.err << fmt::format("resuming after epoch {}{} (best validation accuracy so far {:.2f}%)\n",
                           st.epochs_done, st.epoch_step ? fmt::format(" and step {} of epoch {}", st.epoch_step,
                                                                       st.epochs_done + 1) : "",
                           100 * st.best_val_accuracy);
  } else {
    const auto p = model.init(tc.seed);
    st.params.assign(p.begin(), p.end());
  }
  inv.ranks.all_set_up();  // under MPI: every rank read its inputs (or all stop here)
  inv.err << fmt::format("model '{}': {} parameters; training {} epochs of {} sequences, batch {}, {}\n", mc.name,
                         model.layout().total(), tc.epochs, w.train.n, tc.batch_size, workers_text(inv.ranks, tc.threads));

  const bool tty = ::isatty(2);
  const bool root = inv.ranks.is_root();  // only rank 0 writes files and prints
  core::TrainCallbacks cb;
  if (root) cb.progress = progress_printer(inv.err, "epoch");
  std::map<std::string, std::string> meta = {{"data.workload", w.name},
                                             {"train.seed", std::to_string(tc.seed)}};
  for (const auto& kv : tc.to_yaml())  // the recipe (recurrence is QAT's, not float training's)
    if (kv.first.as<std::string>() != "recurrence")
      meta["train." + kv.first.as<std::string>()] = kv.second.as<std::string>();
  if (norm)  // provenance only: the written parameters already fold them in
    for (size_t f = 0; f < norm->mean.size(); ++f) {
      meta[fmt::format("train.input_mean.{}", f)] = fmt::format("{:.9g}", norm->mean[f]);
      meta[fmt::format("train.input_std.{}", f)] = fmt::format("{:.9g}", norm->std[f]);
    }
  if (root) cb.epoch_end = [&](const core::EpochReport& r, const core::TrainState& s) {
    core::save_train_state(state_path, model, s);
    if (r.best) {
      auto m = meta;
      m["train.epochs_done"] = std::to_string(r.epoch);
      m["train.val_accuracy"] = fmt::format("{:.6f}", r.val_accuracy);
      core::save_checkpoint(out, model,
                            norm ? core::fold_input_standardization(model, s.best_params, *norm) : s.best_params, m);
    }
    const std::string metrics =
        regress ? fmt::format("train MSE {:.6f}, val MSE {:.6f}", r.train_loss, r.val_loss)
                : fmt::format("train loss {:.4f} acc {:.2f}%, val loss {:.4f} acc {:.2f}%", r.train_loss,
                              100 * r.train_accuracy, r.val_loss, 100 * r.val_accuracy);
    inv.err << fmt::format("{}epoch {}/{}: {}, {:.1f} s ({:.0f} seq/s){}\n", tty ? "\r" : "", r.epoch, tc.epochs,
                           metrics, r.seconds, r.samples_per_s, r.best ? "  best -> " + out.string() : "");
  };
  const StopRequests stop(inv, "train");
  cb.stop_requested = [&] { return stop(); };
  st = core::train(model, tc, w, std::move(st), cb, inv.ranks);
  if (st.epochs_done < tc.epochs) {
    if (root) core::save_train_state(state_path, model, st);
    return report_stopped(inv, "train", st, state_path.string(), stop);
  }

  const core::EvalResult test = core::evaluate(model, st.best_params, w.test, w.num_classes,
                                               settings<EvalSettings>(inv.config).limit, tc.threads, false, false,
                                               inv.ranks);
  if (regress)
    inv.out << fmt::format("test {} of the best checkpoint (val MSE {:.6f}): {}\n", regression_text(test, w.test),
                           st.best_val_loss, out.string());
  else
    inv.out << fmt::format("test accuracy {:.2f}% ({} sequences) of the best checkpoint (val {:.2f}%): {}\n",
                           100 * test.accuracy, test.count, 100 * st.best_val_accuracy, out.string());
  if (root && o.count("json")) {
    reports::ResultRecord j;
    j.command = "train";
    j.finished = true;
    j.checkpoint = out.string();
    j.workload = w.name;
    j.model = YAML::Dump(mc.to_yaml());
    j.best_val_accuracy = st.best_val_accuracy;
    j.test = reports::to_json(regress ? regression_record(test, w.test) : eval_record(test, w.num_classes));
    reports::write_record(o["json"].as<std::string>(), j);
  }
  return 0;
}

}  // namespace ssmsim::sim
