// `ssmsim qat`: quantization-aware training from a float checkpoint to a quantized model, with
// --resume and --time-limit as `ssmsim train` (the state in OUT.state).
#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <unistd.h>

#include <filesystem>
#include <optional>

#include "quant/errors.hpp"
#include "quant/precision.hpp"
#include "reports/result_record.hpp"
#include "sim/verb_common.hpp"
#include "ssm_core/checkpoint.hpp"
#include "ssm_core/qat.hpp"
#include "ssm_core/qmodel.hpp"
#include "workloads/sha256.hpp"

namespace ssmsim::sim {

int run_qat(const Invocation& inv) {
  const auto& o = inv.options;
  const std::string path = o["ckpt"].as<std::string>();
  const core::FloatCheckpoint ck = core::load_checkpoint(path);
  const quant::PrecisionConfig prec = inv.config.get<quant::PrecisionConfig>("precision");
  const std::string workload = checkpoint_workload(inv, ck, path, "qat");
  const workloads::Workload w = load_data(inv, inv.err, workload);
  const core::TrainConfig tc = train_config(inv);
  if (tc.standardize_input)
    throw InputError(
        "qat: train.standardize_input is for float training (`ssmsim train` folds it into the "
        "checkpoint's encoder); a quantized model reads raw inputs: drop the key");
  const core::PtqOptions opt = ptq_options(inv);
  const core::QatOptions qo = inv.config.get<core::QatOptions>("qat");
  inv.ranks.all_set_up();  // under MPI: every rank read its inputs (or all stop here)
  const bool tty = ::isatty(2);
  const bool root = inv.ranks.is_root();  // only rank 0 writes files and prints
  core::QatCallbacks cb;
  if (root) cb.progress = progress_printer(inv.err, "qat epoch");
  const std::string out = o["out"].as<std::string>();
  const std::string state_path = out + ".state";
  const core::Model model(ck.config);
  YAML::Emitter pe;
  pe << YAML::Flow << inv.config.section("precision");
  std::string run_key = qat_run_key(inv, ck, workload, tc.seed, pe.c_str());
  std::optional<core::QatResume> resume;
  const bool resuming = o["resume"].as<bool>();
  if (o.count("from-state")) {  // the parameters it starts from are one of the run's inputs
    const std::string from = o["from-state"].as<std::string>();
    core::QatState s = core::load_qat_state(from, model, "");
    std::string digest;
    for (const core::TrainState* g : {&s.weights, &s.recurrence, &s.steps, &s.offsets})
      digest += workloads::sha256_hex(g->params.data(), g->params.size() * sizeof(float));
    run_key += ", from state " + workloads::sha256_hex(digest);
    if (!resuming) {
      inv.err << fmt::format("starting from the parameters of {} (after its epoch {}): a new schedule\n", from,
                             s.weights.epochs_done);
      resume.emplace();
      resume->state = std::move(s);
      resume->parameters_only = true;
    }
  }
  if (resuming) {
    if (!std::filesystem::exists(state_path))
      throw InputError("qat --resume: no QAT state at '" + state_path + "'; run without --resume to start afresh");
    resume = load_qat_resume(out, model, run_key);
    inv.err << resume_text(resume->state) << "\n";
  }
  auto annotate = [&](core::QModel q) { return qat_annotated(std::move(q), path, workload, tc, qo); };
  if (root)
    cb.epoch_end = [&](const core::QatReport& r, const core::QModel& best, const core::QatState& s) {
      if (r.best) core::save_qmodel(out, annotate(best));
      core::save_qat_state(state_path, model, s, run_key);
      inv.err << fmt::format(
          "{}qat epoch {}/{}: train loss {:.4f} acc {:.2f}%, val (integer) {:.2f}%, {:.1f} s "
          "({:.0f} seq/s){}\n",
          tty ? "\r" : "", r.epoch, tc.epochs, r.train_loss, 100 * r.train_accuracy, 100 * r.val_accuracy, r.seconds,
          r.samples_per_s, r.best ? "  best -> " + out : "");
    };
  inv.err << fmt::format("QAT of {} with precision '{}': {} epochs of {} sequences, lr {} / SSM lr {}, {}\n", path,
                         prec.name(), tc.epochs, w.train.n, tc.lr, tc.ssm_lr, workers_text(inv.ranks, tc.threads));
  if (!qo.learn_scales.empty()) {
    std::vector<std::string> names;
    for (const auto c : qo.learn_scales) names.push_back(quant::component_name(c));
    inv.err << fmt::format("learned step sizes (LSQ) for {} (scale lr {}){}\n", keys::join(names), qo.scale_lr,
                           qo.learn_zero_points ? ", and the asymmetric points' zero points (LSQ+)" : "");
  }
  if (qo.distill > 0)
    inv.err << fmt::format(
        "distillation from {}: weight {}, temperature {} (its logits on the {} training sequences "
        "first)\n",
        path, qo.distill, qo.distill_temperature, w.train.n);
  const StopRequests stop(inv, "qat");
  cb.stop_requested = [&] { return stop(); };
  const core::QatResult r = core::train_qat(ck, prec, w, tc, opt, cb, qo, inv.ranks, resume ? &*resume : nullptr);
  inv.err << fmt::format("PTQ starting point: val (integer) {:.2f}%\n", 100 * r.ptq_val_accuracy);
  if (resume && resume->parameters_only)
    inv.err << fmt::format("the model it started from: val (integer) {:.2f}%\n", 100 * r.start_val_accuracy);
  if (!r.finished) {
    if (root) core::save_qat_state(state_path, model, r.state, run_key);
    return report_stopped(inv, "qat", r.state.weights, state_path, stop);
  }
  for (size_t k = 0; k < r.steps.size(); ++k)
    inv.err << fmt::format("learned step {}: {:.6g} (PTQ {:.6g}, x{:.4f}){}\n", r.steps[k].name, r.learned_scale[k],
                           r.steps[k].s0, r.learned_scale[k] / r.steps[k].s0,
                           r.steps[k].learn_zp ? fmt::format(", zero point {} (PTQ {})", r.learned_zero_point[k],
                                                             r.steps[k].zp0)
                                               : "");
  const core::QModel best = annotate(r.best);
  if (root) core::save_qmodel(out, best);
  for (const auto& [name, t] : best.tensors)  // the final weights' codes clipped at quantization
    if (t.saturated) inv.err << core::saturation_warning(name, t, prec) << "\n";
  const core::QEvalResult test = core::evaluate_quantized(
      best, w.test, w.num_classes, settings<EvalSettings>(inv.config).limit, tc.threads, inv.ranks);
  inv.out << fmt::format("test accuracy {:.2f}% ({} sequences, integer C-model) of the best QAT model (val {:.2f}%, "
                         "PTQ val {:.2f}%): {}\n",
                         100 * test.accuracy, test.count, 100 * r.best_val_accuracy, 100 * r.ptq_val_accuracy, out);
  if (root && o.count("json")) {
    reports::ResultRecord j;
    j.command = "qat";
    j.checkpoint = out;
    j.precision = prec.name();
    j.workload = workload;
    j.ptq_val_accuracy = r.ptq_val_accuracy;
    j.best_val_accuracy = r.best_val_accuracy;
    j.test_accuracy = test.accuracy;
    j.test_count = test.count;
    reports::write_record(o["json"].as<std::string>(), j);
  }
  return 0;
}

}  // namespace ssmsim::sim
