// `ssmsim eval`: accuracy of a float checkpoint, or of the integer C-model of a quantized one.
#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <type_traits>
#include <vector>

#include "quant/errors.hpp"
#include "quant/precision.hpp"
#include "reports/record.hpp"
#include "reports/result_record.hpp"
#include "sim/verb_common.hpp"
#include "ssm_core/checkpoint.hpp"
#include "ssm_core/model.hpp"
#include "ssm_core/qmodel.hpp"
#include "ssm_core/trainer.hpp"

namespace ssmsim::sim {

namespace {

// --predictions FILE, refused before the evaluation when it cannot be a file (a folder, or in a
// folder that does not exist) so that a long run does not end in a usage error; a folder that
// cannot be written is found by the write itself (reports::write_text_atomic).
void check_predictions_path(const Invocation& inv) {
  if (!inv.options.count("predictions")) return;
  const std::filesystem::path p = inv.options["predictions"].as<std::string>();
  if (std::filesystem::is_directory(p))
    throw InputError("eval --predictions: '" + p.string() + "' is a folder; give a file to write (CSV)");
  const auto dir = p.parent_path();
  if (!dir.empty() && !std::filesystem::is_directory(dir))
    throw InputError("eval --predictions: cannot write '" + p.string() + "': '" + dir.string() +
                     "' is not an existing folder");
}

// The --predictions CSV of a classifier (docs/reports.md): per evaluated test sequence, its index
// in the test split, its label, the predicted class and its `classes` logits; float logits with
// nine significant digits (they read back to the same float), integer codes exactly.
template <class T>
std::string predictions_csv(const core::SequenceSet& set, const std::vector<int32_t>& predicted,
                            const std::vector<T>& logits, size_t classes) {
  std::string csv = "index,label,predicted";
  for (size_t k = 0; k < classes; ++k) csv += fmt::format(",logit_{}", k);
  csv += "\n";
  for (size_t i = 0; i < predicted.size(); ++i) {
    csv += fmt::format("{},{},{}", i, set.labels[i], predicted[i]);
    for (size_t k = 0; k < classes; ++k) {
      if constexpr (std::is_floating_point_v<T>)
        csv += fmt::format(",{:.9g}", logits[i * classes + k]);
      else
        csv += fmt::format(",{}", logits[i * classes + k]);
    }
    csv += "\n";
  }
  return csv;
}

// The --predictions CSV of a regression model: per evaluated test sequence, its index and its
// outputs at the last target_length steps, column output_<t>_<d> (step t, output feature d).
std::string regression_csv(const core::EvalResult& r, const core::SequenceSet& set) {
  const size_t T = set.target_length, D = set.d_output;
  std::string csv = "index";
  for (size_t t = 0; t < T; ++t)
    for (size_t d = 0; d < D; ++d) csv += fmt::format(",output_{}_{}", t, d);
  csv += "\n";
  for (size_t i = 0; i < r.count; ++i) {
    csv += fmt::format("{}", i);
    for (size_t k = 0; k < T * D; ++k) csv += fmt::format(",{:.9g}", r.outputs[i * T * D + k]);
    csv += "\n";
  }
  return csv;
}

// The integer C-model of `q` (from the file `path`, or quantized in memory) on the test set of w.
int run_eval_quantized(const Invocation& inv, const std::string& path, const core::QModel& q,
                       const workloads::Workload& w) {
  const auto& o = inv.options;
  if (q.config.d_input != w.test.d_input || q.config.d_output != w.num_classes)
    throw InputError(fmt::format("eval: {} expects {} input features and {} classes; workload '{}' has {} and {}", path,
                                 q.config.d_input, q.config.d_output, w.name, w.test.d_input, w.num_classes));
  const auto limit = settings<EvalSettings>(inv.config).limit;
  const auto t0 = std::chrono::steady_clock::now();
  const core::QEvalResult r = core::evaluate_quantized(q, w.test, w.num_classes, limit,
                                                       settings<RunSettings>(inv.config).threads);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  inv.out << fmt::format("{} (integer, precision '{}') on {} test: accuracy {:.2f}% ({} sequences), {:.2f} s\n", path,
                         q.precision.name(), w.name, 100 * r.accuracy, r.count, secs);
  if (r.saturation.total()) {
    inv.out << "saturation events:";
    for (const auto& [name, n] : r.saturation.all())
      if (n) inv.out << fmt::format(" {}={}", name, n);
    inv.out << "\n";
  } else {
    inv.out << "saturation events: none\n";
  }
  std::string clipped;  // weight codes saturated when the model was quantized (QTensor::saturated)
  for (const auto& [name, t] : q.tensors)
    if (t.saturated) clipped += fmt::format(" {}={}/{}", name, t.saturated, t.size());
  if (!clipped.empty()) inv.out << "weight codes saturated at quantization:" << clipped << "\n";
  if (o.count("predictions"))
    reports::write_text_atomic(o["predictions"].as<std::string>(),
                               predictions_csv(w.test, r.predicted, r.logits, w.num_classes));
  if (o.count("json")) {
    core::EvalResult er;
    er.accuracy = r.accuracy;
    er.count = r.count;
    er.confusion = r.confusion;
    reports::ResultRecord j = eval_record(er, w.num_classes);
    j.loss.reset();  // the integer C-model's logits give no loss
    j.command = "eval";
    j.checkpoint = path;
    j.integer = true;
    j.precision = q.precision.name();
    j.workload = w.name;
    j.split = "test";
    j.seconds = secs;
    j.saturation = r.saturation.all();
    for (const auto& [name, t] : q.tensors)
      if (t.saturated) (*j.saturation)[reports::weight_saturation_key(name)] = t.saturated;
    reports::write_record(o["json"].as<std::string>(), j);
  }
  return 0;
}

}  // namespace

int run_eval(const Invocation& inv) {
  const auto& o = inv.options;
  const std::string path = o["ckpt"].as<std::string>();
  check_predictions_path(inv);
  if (std::filesystem::exists(path) && core::is_qmodel_file(path)) {
    if (o.count("precision"))
      throw InputError("eval: " + path + " is already quantized; --precision applies to a float checkpoint");
    // the model first (its errors before a data load; arguments have no evaluation order)
    const core::QModel q = core::load_qmodel(path);
    return run_eval_quantized(inv, path, q, load_data(inv, inv.err));
  }
  const core::FloatCheckpoint ck = core::load_checkpoint(path);
  if (o.count("precision")) {  // PTQ in memory (as `quantize`), then the integer C-model
    const quant::PrecisionConfig prec = inv.config.get<quant::PrecisionConfig>("precision");
    const workloads::Workload w = load_data(inv, inv.err);
    return run_eval_quantized(inv, path + " + PTQ", core::quantize_ptq(ck, prec, w.train, ptq_options(inv)), w);
  }
  const workloads::Workload w = load_data(inv, inv.err);
  const bool regress = w.kind == workloads::TaskKind::Regression;
  const size_t outputs = regress ? w.test.d_output : w.num_classes;
  if (ck.config.d_input != w.test.d_input || ck.config.d_output != outputs ||
      regress != (ck.config.task == core::Task::Regress))
    throw InputError(fmt::format("eval: {} ({}) expects {} input features and {} outputs; workload '{}' is a {} "
                                 "task with {} and {}",
                                 path, ck.config.task == core::Task::Regress ? "regression" : "classification",
                                 ck.config.d_input, ck.config.d_output, w.name,
                                 regress ? "regression" : "classification", w.test.d_input, outputs));
  const core::Model model(ck.config);
  const auto limit = settings<EvalSettings>(inv.config).limit;
  const auto t0 = std::chrono::steady_clock::now();
  const bool conv = settings<EvalSettings>(inv.config).conv;
  if (conv && ck.config.layer != core::LayerType::S4D)
    throw InputError("eval --ssm-path conv: " + path + " is an S5 model; the convolution mode is an S4D path "
                     "(use --ssm-path recurrent)");
  const bool predictions = o.count("predictions") > 0;
  const core::EvalResult r = core::evaluate(model, ck.params, w.test, w.num_classes, limit,
                                            settings<RunSettings>(inv.config).threads, conv, predictions);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (regress)
    inv.out << fmt::format("{} on {} test: {}, {:.2f} s\n", path, w.name, regression_text(r, w.test), secs);
  else
    inv.out << fmt::format("{} on {} test: accuracy {:.2f}% ({} sequences), loss {:.4f}, {:.2f} s\n", path,
                           w.name, 100 * r.accuracy, r.count, r.loss, secs);
  if (predictions)
    reports::write_text_atomic(o["predictions"].as<std::string>(),
                               regress ? regression_csv(r, w.test)
                                       : predictions_csv(w.test, r.predicted, r.logits, w.num_classes));
  if (o.count("json")) {
    reports::ResultRecord j = regress ? regression_record(r, w.test) : eval_record(r, w.num_classes);
    j.command = "eval";
    j.checkpoint = path;
    j.workload = w.name;
    j.split = "test";
    j.ssm_path = conv ? "conv" : "recurrent";
    j.seconds = secs;
    reports::write_record(o["json"].as<std::string>(), j);
  }
  return 0;
}

}  // namespace ssmsim::sim
