#include "sim/verbs.hpp"

#include <fmt/format.h>

#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <functional>

#include "quant/errors.hpp"
#include "hw_models/energy.hpp"
#include "hw_models/hw_config.hpp"
#include "quant/precision.hpp"
#include "sim/simulate.hpp"
#include "sim/vectors.hpp"
#include "reports/record.hpp"
#include "ssm_core/checkpoint.hpp"
#include "ssm_core/qat.hpp"
#include "ssm_core/qmodel.hpp"
#include "ssm_core/trainer.hpp"
#include "workloads/dataset.hpp"
#include "workloads/metrics.hpp"

namespace ssmsim::sim {

namespace {

std::string calibration_text(const quant::QuantizerSpec& s) {
  if (s.frac) return fmt::format("fixed frac {}", *s.frac);
  if (s.calibration == quant::Calibration::Percentile) return fmt::format("percentile {}", s.percentile);
  return quant::to_string(s.calibration);
}

std::string scale_text(const quant::QuantizerSpec& s) {
  if (s.frac || s.scale == quant::ScaleKind::Pow2) return "pow2";
  return fmt::format("dyadic/{}b", s.scale_bits);
}

void print_precision(const quant::PrecisionConfig& p, std::ostream& out) {
  out << fmt::format("precision config '{}'{}\n\n", p.name(),
                     p.description().empty() ? "" : ": " + p.description());
  out << fmt::format("{:<9} {:<5} {:<10} {:<11} {:<10} {:<16} {:<17} {:<18} {}\n", "component", "bits",
                     "scheme", "granularity", "scale", "calibration", "rounding", "overflow", "role");
  for (const auto c : quant::all_components()) {
    const auto name = quant::component_name(c);
    if (p.is_float(c)) {
      out << fmt::format("{:<9} {:<5} {:<10} {:<11} {:<10} {:<16} {:<17} {:<18} {}\n", name, "f32",
                         "float", "-", "-", "-", "-", "-", quant::component_description(c));
      continue;
    }
    const auto& s = p.spec(c);
    out << fmt::format("{:<9} {:<5} {:<10} {:<11} {:<10} {:<16} {:<17} {:<18} {}\n", name, s.bits,
                       quant::to_string(s.scheme), quant::to_string(s.granularity), scale_text(s),
                       calibration_text(s), quant::to_string(s.rounding), quant::to_string(s.overflow),
                       quant::component_description(c));
  }
}

void print_checkpoint(const std::string& path, std::ostream& out) {
  const core::FloatCheckpoint ck = core::load_checkpoint(path);
  const core::Model model(ck.config);
  const bool s5 = ck.config.layer == core::LayerType::S5;
  out << fmt::format("float checkpoint {}: model '{}', {} {} layer(s), H={}, {}={}, {} -> {} outputs\n\n", path,
                     ck.config.name, ck.config.n_layers, s5 ? "S5" : "S4D", ck.config.H, s5 ? "P" : "N",
                     s5 ? ck.config.P : ck.config.N, ck.config.d_input, ck.config.d_output);
  out << fmt::format("{:<40} {:<16} {:>9} {:>10}\n", "tensor", "shape", "elements", "bytes(f32)");
  size_t total = 0;
  for (const auto& p : model.layout().params()) {
    std::string shape;
    for (auto d : p.shape) shape += (shape.empty() ? "" : "x") + std::to_string(d);
    out << fmt::format("{:<40} {:<16} {:>9} {:>10}\n", p.name, shape, p.size, 4 * p.size);
    total += p.size;
  }
  out << fmt::format("\ntotal: {} parameters, {} bytes as float32\n", total, 4 * total);
}

// Per component: tensors, bits per element, total bits and bytes; the footprint against the same
// tensors in float32 (the papers' "memory reduction").
void print_qmodel(const std::string& path, std::ostream& out) {
  const core::QModel q = core::load_qmodel(path);
  const auto& mc = q.config;
  const bool s5 = mc.layer == core::LayerType::S5;
  out << fmt::format("quantized model {}: model '{}', {} {} layer(s), H={}, {}={}; precision '{}', GELU {}\n\n", path,
                     mc.name, mc.n_layers, s5 ? "S5" : "S4D", mc.H, s5 ? "P" : "N", s5 ? mc.P : mc.N,
                     q.precision.name(), q.gelu == core::QGelu::Lut ? "lookup table" : "x*clip(x+2,0,4)/4");
  out << fmt::format("{:<24} {:<9} {:<12} {:>9} {:>5} {:>10} {:>9}  {}\n", "tensor", "component", "shape", "elements",
                     "bits", "total bits", "bytes", "format");
  std::map<quant::Component, std::pair<uint64_t, uint64_t>> per;  // bits, elements
  uint64_t bits_total = 0, elems_total = 0;
  for (const auto& [name, t] : q.tensors) {
    int bits = 0;
    for (const auto& p : t.params) bits = std::max(bits, p.format.width);
    std::string shape;
    for (auto d : t.shape) shape += (shape.empty() ? "" : "x") + std::to_string(d);
    const uint64_t tb = static_cast<uint64_t>(bits) * t.size();
    out << fmt::format("{:<24} {:<9} {:<12} {:>9} {:>5} {:>10} {:>9}  {}{}\n", name, quant::component_name(t.component),
                       shape, t.size(), bits, tb, (tb + 7) / 8, t.params[0].format.to_string(),
                       t.params.size() > 1 ? fmt::format(" (+{} channels)", t.params.size() - 1) : "");
    per[t.component].first += tb;
    per[t.component].second += t.size();
    bits_total += tb;
    elems_total += t.size();
  }
  out << fmt::format("\n{:<10} {:>9} {:>12} {:>10} {:>12}\n", "component", "elements", "bits", "bytes", "float32 bytes");
  for (const auto& [c, v] : per)
    out << fmt::format("{:<10} {:>9} {:>12} {:>10} {:>12}\n", quant::component_name(c), v.second, v.first,
                       (v.first + 7) / 8, 4 * v.second);
  const uint64_t bytes = (bits_total + 7) / 8, f32 = 4 * elems_total;
  out << fmt::format("\ntotal: {} elements, {} bits = {} bytes; as float32 {} bytes: {:.2f}x smaller ({:.1f}% reduction)\n",
                     elems_total, bits_total, bytes, f32, static_cast<double>(f32) / static_cast<double>(bytes),
                     100.0 * (1.0 - static_cast<double>(bytes) / static_cast<double>(f32)));
  const auto& x = q.point("layers.0.x");
  const uint64_t states = s5 ? mc.P / (mc.conj_sym ? 2 : 1) : mc.H * mc.N / 2;
  out << fmt::format("state per sequence: {} layer(s) x {} complex states x 2 x {} bits = {} bytes\n", mc.n_layers,
                     states, x.format.width, (mc.n_layers * states * 2 * static_cast<uint64_t>(x.format.width) + 7) / 8);
}

}  // namespace

int run_info(const Invocation& inv) {
  if (inv.options.count("ckpt")) {
    const std::string path = inv.options["ckpt"].as<std::string>();
    if (core::is_qmodel_file(path))
      print_qmodel(path, inv.out);
    else
      print_checkpoint(path, inv.out);
    return 0;
  }
  if (!inv.options.count("precision"))
    throw InputError("info: give --ckpt F|Q or --precision P.yaml (see ssmsim info --help)");
  print_precision(quant::PrecisionConfig::from_yaml(inv.config.section("precision")), inv.out);
  return 0;
}

namespace {

// The workload `name` (default: --workload), seeded by run.seed, with a line on `log`.
workloads::Workload load_data(const Invocation& inv, std::ostream& log, std::string name = "") {
  workloads::WorkloadOptions wo;
  wo.seed = static_cast<uint64_t>(inv.config.get_int("run.seed"));
  wo.train_size = static_cast<size_t>(inv.config.get_int("data.train_size"));
  wo.val_size = static_cast<size_t>(inv.config.get_int("data.val_size"));
  if (name.empty()) name = inv.options["workload"].as<std::string>();
  log << "loading workload '" << name << "'..." << std::flush;
  const auto t0 = std::chrono::steady_clock::now();
  workloads::Workload w = workloads::load_workload(name, wo);
  log << fmt::format(" {} train / {} val / {} test sequences of {} steps ({:.1f} s)\n", w.train.n, w.val.n,
                     w.test.n, w.train.length,
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return w;
}

// The train section with run.seed and run.threads.
core::TrainConfig train_config(const Invocation& inv) {
  core::TrainConfig tc = core::TrainConfig::from_yaml(inv.config.section("train"));
  tc.seed = static_cast<uint64_t>(inv.config.get_int("run.seed"));
  tc.threads = static_cast<size_t>(inv.config.get_int("run.threads"));
  return tc;
}

std::string fmt_time(double s) {
  if (s < 90) return fmt::format("{:.0f}s", s);
  if (s < 5400) return fmt::format("{:.0f}m{:02.0f}s", std::floor(s / 60), std::fmod(s, 60));
  return fmt::format("{:.0f}h{:02.0f}m", std::floor(s / 3600), std::fmod(s / 60, 60));
}

// The progress line of train and qat: rewritten in place on a terminal, five lines an epoch
// otherwise (logs).
std::function<void(const core::Progress&)> progress_printer(std::ostream& err, const char* what) {
  const bool tty = ::isatty(2);
  return [&err, what, tty](const core::Progress& p) {
    if (!tty && p.step % std::max<size_t>(1, p.steps / 5) > 9 && p.step != p.steps) return;
    err << fmt::format("{}{} {}/{} step {}/{}  loss {:.4f}  acc {:.2f}%  {:.0f} seq/s  ETA {}{}", tty ? "\r" : "", what,
                       p.epoch, p.epochs, p.step, p.steps, p.loss, 100 * p.accuracy, p.samples_per_s, fmt_time(p.eta_s),
                       tty ? "   " : "\n")
        << std::flush;
  };
}

volatile std::sig_atomic_t g_stop_signal = 0;
extern "C" void on_stop_signal(int sig) { g_stop_signal = sig; }

// While alive, SIGINT and SIGTERM ask a training run to save its state and stop after the current
// step, instead of killing it.
class StopSignals {
 public:
  StopSignals() {
    g_stop_signal = 0;
    old_int_ = std::signal(SIGINT, on_stop_signal);
    old_term_ = std::signal(SIGTERM, on_stop_signal);
  }
  ~StopSignals() {
    std::signal(SIGINT, old_int_);
    std::signal(SIGTERM, old_term_);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  int received() const { return g_stop_signal; }

 private:
  void (*old_int_)(int) = nullptr;
  void (*old_term_)(int) = nullptr;
};

nlohmann::json eval_json(const core::EvalResult& r, size_t classes) {
  nlohmann::json j;
  j["count"] = r.count;
  j["accuracy"] = r.accuracy;
  j["loss"] = r.loss;
  nlohmann::json conf = nlohmann::json::array();
  for (size_t y = 0; y < classes; ++y) {
    nlohmann::json row = nlohmann::json::array();
    for (size_t p = 0; p < classes; ++p) row.push_back(r.confusion[y * classes + p]);
    conf.push_back(row);
  }
  j["confusion"] = conf;
  return j;
}

}  // namespace

// MSE and sMAPE of regression outputs against the set's targets (same order, first count).
std::pair<double, double> regression_metrics(const core::EvalResult& r, const core::SequenceSet& set) {
  const size_t n = r.outputs.size();
  return {workloads::mse(r.outputs.data(), set.targets.data(), n),
          workloads::smape(r.outputs.data(), set.targets.data(), n)};
}

std::string regression_text(const core::EvalResult& r, const core::SequenceSet& set) {
  const auto [m, s] = regression_metrics(r, set);
  return fmt::format("MSE {:.6f}, sMAPE {:.3f}% ({} sequences)", m, s, r.count);
}

nlohmann::json regression_json(const core::EvalResult& r, const core::SequenceSet& set) {
  const auto [m, s] = regression_metrics(r, set);
  return {{"count", r.count}, {"mse", m}, {"smape_percent", s}};
}

int run_train(const Invocation& inv) {
  const auto& o = inv.options;
  core::ModelConfig mc = core::ModelConfig::from_yaml(inv.config.section("model"));
  const core::TrainConfig tc = train_config(inv);
  const workloads::Workload w = load_data(inv, inv.err);
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
  inv.err << fmt::format("model '{}': {} parameters; training {} epochs of {} sequences, batch {}, {} thread(s)\n",
                         mc.name, model.layout().total(), tc.epochs, w.train.n, tc.batch_size,
                         tc.threads ? std::to_string(tc.threads) : "all");

  const bool tty = ::isatty(2);
  core::TrainCallbacks cb;
  cb.progress = progress_printer(inv.err, "epoch");
  std::map<std::string, std::string> meta = {{"data.workload", w.name},
                                             {"train.seed", std::to_string(tc.seed)}};
  for (const auto& kv : tc.to_yaml())  // the recipe (recurrence is QAT's, not float training's)
    if (kv.first.as<std::string>() != "recurrence")
      meta["train." + kv.first.as<std::string>()] = kv.second.as<std::string>();
  cb.epoch_end = [&](const core::EpochReport& r, const core::TrainState& s) {
    core::save_train_state(state_path, model, s);
    if (r.best) {
      auto m = meta;
      m["train.epochs_done"] = std::to_string(r.epoch);
      m["train.val_accuracy"] = fmt::format("{:.6f}", r.val_accuracy);
      core::save_checkpoint(out, model, s.best_params, m);
    }
    const std::string metrics =
        regress ? fmt::format("train MSE {:.6f}, val MSE {:.6f}", r.train_loss, r.val_loss)
                : fmt::format("train loss {:.4f} acc {:.2f}%, val loss {:.4f} acc {:.2f}%", r.train_loss,
                              100 * r.train_accuracy, r.val_loss, 100 * r.val_accuracy);
    inv.err << fmt::format("{}epoch {}/{}: {}, {:.1f} s ({:.0f} seq/s){}\n", tty ? "\r" : "", r.epoch, tc.epochs,
                           metrics, r.seconds, r.samples_per_s, r.best ? "  best -> " + out.string() : "");
  };
  const double limit_s = 60 * o["time-limit"].as<double>();
  if (limit_s < 0) throw InputError("train --time-limit: minutes must be >= 0 (0: no limit)");
  const auto start = std::chrono::steady_clock::now();
  const StopSignals signals;
  cb.stop_requested = [&] {
    return signals.received() ||
           (limit_s > 0 && std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() > limit_s);
  };
  st = core::train(model, tc, w, std::move(st), cb);
  if (st.epochs_done < tc.epochs) {
    core::save_train_state(state_path, model, st);
    const std::string where = st.epoch_step ? fmt::format("at step {} of epoch {}", st.epoch_step, st.epochs_done + 1)
                                            : fmt::format("after epoch {}", st.epochs_done);
    inv.err << fmt::format("{}stopped {} ({}); the state is in {}: continue with the same command and --resume\n",
                           tty ? "\n" : "", where,
                           signals.received() ? fmt::format("signal {}", signals.received()) : "time limit",
                           state_path.string());
    if (o.count("json")) {
      nlohmann::json j;
      j["command"] = "train";
      j["finished"] = false;
      j["epochs_done"] = st.epochs_done;
      j["epoch_step"] = st.epoch_step;
      j["state"] = state_path.string();
      reports::write_json(o["json"].as<std::string>(), j);
    }
    return signals.received() ? 128 + signals.received() : 0;
  }

  const core::EvalResult test = core::evaluate(model, st.best_params, w.test, w.num_classes,
                                               static_cast<size_t>(inv.config.get_int("eval.limit")), tc.threads);
  if (regress)
    inv.out << fmt::format("test {} of the best checkpoint (val MSE {:.6f}): {}\n", regression_text(test, w.test),
                           st.best_val_loss, out.string());
  else
    inv.out << fmt::format("test accuracy {:.2f}% ({} sequences) of the best checkpoint (val {:.2f}%): {}\n",
                           100 * test.accuracy, test.count, 100 * st.best_val_accuracy, out.string());
  if (o.count("json")) {
    nlohmann::json j;
    j["command"] = "train";
    j["finished"] = true;
    j["checkpoint"] = out.string();
    j["workload"] = w.name;
    j["model"] = YAML::Dump(mc.to_yaml());
    j["best_val_accuracy"] = st.best_val_accuracy;
    j["test"] = regress ? regression_json(test, w.test) : eval_json(test, w.num_classes);
    reports::write_json(o["json"].as<std::string>(), j);
  }
  return 0;
}

namespace {

// The quantize section (and run.seed / run.threads) as PTQ options.
core::PtqOptions ptq_options(const Invocation& inv) {
  core::PtqOptions opt;
  opt.calib = static_cast<size_t>(inv.config.get_int("quantize.calib"));
  opt.gelu = inv.config.get_string("quantize.gelu") == "hard" ? core::QGelu::Hard : core::QGelu::Lut;
  opt.stable_a = inv.config.get_bool("quantize.stable_a");
  opt.integer_states = inv.config.get_bool("quantize.integer_states");
  opt.seed = static_cast<uint64_t>(inv.config.get_int("run.seed"));
  opt.threads = static_cast<size_t>(inv.config.get_int("run.threads"));
  return opt;
}

std::string checkpoint_workload(const Invocation& inv, const core::FloatCheckpoint& ck, const std::string& path,
                                const char* verb) {
  if (inv.options.count("workload")) return inv.options["workload"].as<std::string>();
  const auto it = ck.metadata.find("data.workload");
  if (it == ck.metadata.end())
    throw InputError(std::string(verb) + ": " + path + " does not say which workload it was trained on; give --workload W");
  return it->second;
}

}  // namespace

int run_quantize(const Invocation& inv) {
  const auto& o = inv.options;
  const std::string path = o["ckpt"].as<std::string>();
  const core::FloatCheckpoint ck = core::load_checkpoint(path);
  const quant::PrecisionConfig prec = quant::PrecisionConfig::from_yaml(inv.config.section("precision"));
  const std::string workload = checkpoint_workload(inv, ck, path, "quantize");
  const workloads::Workload w = load_data(inv, inv.err, workload);
  const core::PtqOptions opt = ptq_options(inv);
  const auto t0 = std::chrono::steady_clock::now();
  core::QModel q = core::quantize_ptq(ck, prec, w.train, opt);
  q.metadata["source.checkpoint"] = path;
  q.metadata["data.workload"] = workload;
  q.metadata["quantize.method"] = "ptq";
  const std::string out = o["out"].as<std::string>();
  core::save_qmodel(out, q);
  inv.err << fmt::format("calibrated on {} '{}' training sequences ({:.1f} s)\n", std::min(opt.calib, w.train.n),
                         workload, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  inv.out << fmt::format("quantized {} with precision '{}' (PTQ) -> {}\n", path, prec.name(), out);
  return 0;
}

int run_qat(const Invocation& inv) {
  const auto& o = inv.options;
  const std::string path = o["ckpt"].as<std::string>();
  const core::FloatCheckpoint ck = core::load_checkpoint(path);
  const quant::PrecisionConfig prec = quant::PrecisionConfig::from_yaml(inv.config.section("precision"));
  const std::string workload = checkpoint_workload(inv, ck, path, "qat");
  const workloads::Workload w = load_data(inv, inv.err, workload);
  const core::TrainConfig tc = train_config(inv);
  const core::PtqOptions opt = ptq_options(inv);
  const bool tty = ::isatty(2);
  core::QatCallbacks cb;
  cb.progress = progress_printer(inv.err, "qat epoch");
  const std::string out = o["out"].as<std::string>();
  auto annotate = [&](core::QModel q) {
    q.metadata["source.checkpoint"] = path;
    q.metadata["data.workload"] = workload;
    q.metadata["quantize.method"] = "qat";
    for (const auto& kv : tc.to_yaml()) q.metadata["qat.train." + kv.first.as<std::string>()] = kv.second.as<std::string>();
    return q;
  };
  cb.epoch_end = [&](const core::QatReport& r, const core::QModel& best) {
    if (r.best) core::save_qmodel(out, annotate(best));
    inv.err << fmt::format("{}qat epoch {}/{}: train loss {:.4f} acc {:.2f}%, val (integer) {:.2f}%, {:.1f} s "
                           "({:.0f} seq/s){}\n",
                           tty ? "\r" : "", r.epoch, tc.epochs, r.train_loss, 100 * r.train_accuracy,
                           100 * r.val_accuracy, r.seconds, r.samples_per_s, r.best ? "  best -> " + out : "");
  };
  inv.err << fmt::format("QAT of {} with precision '{}': {} epochs of {} sequences, lr {} / SSM lr {}\n", path,
                         prec.name(), tc.epochs, w.train.n, tc.lr, tc.ssm_lr);
  const core::QatResult r = core::train_qat(ck, prec, w, tc, opt, cb);
  inv.err << fmt::format("PTQ starting point: val (integer) {:.2f}%\n", 100 * r.ptq_val_accuracy);
  const core::QModel best = annotate(r.best);
  core::save_qmodel(out, best);
  const core::QEvalResult test = core::evaluate_quantized(
      best, w.test, w.num_classes, static_cast<size_t>(inv.config.get_int("eval.limit")), tc.threads);
  inv.out << fmt::format("test accuracy {:.2f}% ({} sequences, integer C-model) of the best QAT model (val {:.2f}%, "
                         "PTQ val {:.2f}%): {}\n",
                         100 * test.accuracy, test.count, 100 * r.best_val_accuracy, 100 * r.ptq_val_accuracy, out);
  if (o.count("json")) {
    nlohmann::json j;
    j["command"] = "qat";
    j["checkpoint"] = out;
    j["precision"] = prec.name();
    j["workload"] = workload;
    j["ptq_val_accuracy"] = r.ptq_val_accuracy;
    j["best_val_accuracy"] = r.best_val_accuracy;
    j["test_accuracy"] = test.accuracy;
    j["test_count"] = test.count;
    reports::write_json(o["json"].as<std::string>(), j);
  }
  return 0;
}

namespace {

// The integer C-model of `q` (from the file `path`, or quantized in memory) on the test set of w.
int run_eval_quantized(const Invocation& inv, const std::string& path, const core::QModel& q,
                       const workloads::Workload& w) {
  const auto& o = inv.options;
  if (q.config.d_input != w.test.d_input || q.config.d_output != w.num_classes)
    throw InputError(fmt::format("eval: {} expects {} input features and {} classes; workload '{}' has {} and {}", path,
                                 q.config.d_input, q.config.d_output, w.name, w.test.d_input, w.num_classes));
  const auto limit = static_cast<size_t>(inv.config.get_int("eval.limit"));
  const auto t0 = std::chrono::steady_clock::now();
  const core::QEvalResult r = core::evaluate_quantized(q, w.test, w.num_classes, limit,
                                                       static_cast<size_t>(inv.config.get_int("run.threads")));
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
  if (o.count("json")) {
    core::EvalResult er;
    er.accuracy = r.accuracy;
    er.count = r.count;
    er.confusion = r.confusion;
    nlohmann::json j = eval_json(er, w.num_classes);
    j.erase("loss");
    j["command"] = "eval";
    j["checkpoint"] = path;
    j["integer"] = true;
    j["precision"] = q.precision.name();
    j["workload"] = w.name;
    j["split"] = "test";
    j["seconds"] = secs;
    nlohmann::json sat = nlohmann::json::object();
    for (const auto& [name, n] : r.saturation.all()) sat[name] = n;
    j["saturation"] = sat;
    reports::write_json(o["json"].as<std::string>(), j);
  }
  return 0;
}

}  // namespace

int run_eval(const Invocation& inv) {
  const auto& o = inv.options;
  const std::string path = o["ckpt"].as<std::string>();
  if (std::filesystem::exists(path) && core::is_qmodel_file(path)) {
    if (o.count("precision"))
      throw InputError("eval: " + path + " is already quantized; --precision applies to a float checkpoint");
    return run_eval_quantized(inv, path, core::load_qmodel(path), load_data(inv, inv.err));
  }
  const core::FloatCheckpoint ck = core::load_checkpoint(path);
  if (o.count("precision")) {  // PTQ in memory (as `quantize`), then the integer C-model
    const quant::PrecisionConfig prec = quant::PrecisionConfig::from_yaml(inv.config.section("precision"));
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
  const auto limit = static_cast<size_t>(inv.config.get_int("eval.limit"));
  const auto t0 = std::chrono::steady_clock::now();
  const bool conv = inv.config.get_string("eval.ssm_path") == "conv";
  if (conv && ck.config.layer != core::LayerType::S4D)
    throw InputError("eval --ssm-path conv: " + path + " is an S5 model; the convolution mode is an S4D path "
                     "(use --ssm-path recurrent)");
  const core::EvalResult r = core::evaluate(model, ck.params, w.test, w.num_classes, limit,
                                            static_cast<size_t>(inv.config.get_int("run.threads")), conv);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (regress)
    inv.out << fmt::format("{} on {} test: {}, {:.2f} s\n", path, w.name, regression_text(r, w.test), secs);
  else
    inv.out << fmt::format("{} on {} test: accuracy {:.2f}% ({} sequences), loss {:.4f}, {:.2f} s\n", path,
                           w.name, 100 * r.accuracy, r.count, r.loss, secs);
  if (o.count("json")) {
    nlohmann::json j = regress ? regression_json(r, w.test) : eval_json(r, w.num_classes);
    j["command"] = "eval";
    j["checkpoint"] = path;
    j["workload"] = w.name;
    j["split"] = "test";
    j["ssm_path"] = conv ? "conv" : "recurrent";
    j["seconds"] = secs;
    reports::write_json(o["json"].as<std::string>(), j);
  }
  return 0;
}

}  // namespace ssmsim::sim

namespace ssmsim::sim {

namespace {

// A resolved config section as JSON (numbers and booleans typed, the rest strings).
nlohmann::json yaml_to_json(const YAML::Node& n) {
  if (n.IsMap()) {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& kv : n) j[kv.first.as<std::string>()] = yaml_to_json(kv.second);
    return j;
  }
  if (n.IsSequence()) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& v : n) j.push_back(yaml_to_json(v));
    return j;
  }
  if (!n.IsScalar()) return nullptr;
  const std::string& s = n.Scalar();
  if (s == "true" || s == "false") return s == "true";
  try {
    size_t pos = 0;
    const double d = std::stod(s, &pos);
    if (pos == s.size()) return d;
  } catch (const std::exception&) {
  }
  return s;
}

}  // namespace

int run_simulate(const Invocation& inv) {
  const auto& o = inv.options;
  const std::string path = o["ckpt"].as<std::string>();
  if (!std::filesystem::exists(path))
    throw InputError("simulate: " + path + " does not exist (make a quantized model with `ssmsim quantize` or `ssmsim qat`)");
  if (!core::is_qmodel_file(path))
    throw InputError("simulate: " + path + " is a float checkpoint; the accelerator runs quantized models: make one "
                     "with `ssmsim quantize --ckpt " + path + " --precision P.yaml --out q.safetensors`");
  const core::QModel q = core::load_qmodel(path);
  const hw::HwConfig hwc = hw::HwConfig::from_yaml(inv.config.section("hw"));
  hw::EnergyTable table = hwc.energy_table.empty() ? hw::EnergyTable::builtin() : hw::EnergyTable::load(hwc.energy_table);
  table.scale = hwc.tech_scale;
  const workloads::Workload w = load_data(inv, inv.err);
  if (q.config.d_input != w.test.d_input || q.config.d_output != w.num_classes)
    throw InputError(fmt::format("simulate: {} expects {} input features and {} classes; workload '{}' has {} and {}",
                                 path, q.config.d_input, q.config.d_output, w.name, w.test.d_input, w.num_classes));
  SimulateOptions so;
  so.limit = static_cast<size_t>(inv.config.get_int("eval.limit"));
  so.check_states = o["check-states"].as<bool>();
  so.cmac = o["cmac"].as<std::string>();
  if (o.count("vcd")) so.vcd = o["vcd"].as<std::string>();
  const bool tty = ::isatty(2);
  const auto t0 = std::chrono::steady_clock::now();
  so.progress = [&](size_t done, size_t total) {
    if (!tty && done % std::max<size_t>(1, total / 5) && done != total) return;
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    inv.err << fmt::format("{}simulate ({}): {}/{} sequences  {:.0f} tokens/s simulated per wall second  ETA {}{}",
                           tty ? "\r" : "", hwc.mode, done, total,
                           static_cast<double>(done * w.test.length) / std::max(s, 1e-9),
                           fmt_time(s / static_cast<double>(done) * static_cast<double>(total - done)), tty ? "   " : "\n")
            << std::flush;
  };
  const SimulateResult r = simulate(q, hwc, table, w.test, so);
  if (tty) inv.err << "\n";
  inv.out << fmt::format("{} on accelerator '{}' ({} mode, {} MHz{}): {} sequences, accuracy {:.2f}%, bit_exact {}\n",
                         path, hwc.name, hwc.mode, hwc.clock_mhz, r.streaming ? ", weights streamed from off-chip" : "",
                         r.sequences, 100 * r.accuracy, r.bit_exact ? "true" : "false");
  inv.out << fmt::format("  {:.1f} cycles/token, {:.3f} us/token, {:.0f} tokens/s, {:.3f} nJ/token, area {:.3f} mm2, "
                         "weights {} bits, states {} bits\n",
                         r.cycles_per_token, r.latency_us_per_token, r.tokens_per_s, r.energy_nj_per_token,
                         r.cost.area_mm2, r.cost.weight_bits, r.cost.state_bits);
  inv.out << "  energy per token (nJ):";
  for (const auto& [k, e] : r.cost.energy_pj_by_module)
    inv.out << fmt::format(" {} {:.3f}", k, e / 1000.0 / static_cast<double>(r.tokens));
  inv.out << fmt::format("\n  simulation: {:.2f} s wall, {:.0f} simulated tokens/s, {:.2f} M cycles/s\n", r.wall_s,
                         static_cast<double>(r.tokens) / r.wall_s, static_cast<double>(r.cycles) / r.wall_s / 1e6);
  if (!r.bit_exact) inv.err << "error: the accelerator is not bit-exact with the C-model: first mismatch at " << r.first_mismatch << "\n";
  if (o.count("json")) {
    nlohmann::json j;
    j["command"] = "simulate";
    j["checkpoint"] = path;
    j["workload"] = w.name;
    j["precision"] = q.precision.name();
    j["mode"] = hwc.mode;
    j["bit_exact"] = r.bit_exact;
    j["checked_states"] = so.check_states;
    j["cmac"] = so.cmac;
    if (!r.bit_exact) j["first_mismatch"] = r.first_mismatch;
    j["sequences"] = r.sequences;
    j["tokens"] = r.tokens;
    j["accuracy"] = r.accuracy;
    j["clock_mhz"] = hwc.clock_mhz;
    j["cycles"] = r.cycles;
    j["cycles_per_sequence"] = static_cast<double>(r.cycles) / static_cast<double>(r.sequences);
    j["cycles_per_token"] = r.cycles_per_token;
    nlohmann::json per_layer = nlohmann::json::array();
    for (uint64_t c : r.layer_cycles) per_layer.push_back(static_cast<double>(c) / static_cast<double>(r.tokens));
    j["cycles_per_layer_per_token"] = per_layer;
    j["latency_us_per_token"] = r.latency_us_per_token;
    j["tokens_per_s"] = r.tokens_per_s;
    j["load_cycles"] = r.load_cycles;
    j["io_cycles"] = r.io_cycles;
    j["weights_streamed"] = r.streaming;
    j["energy_nj_per_token"] = r.energy_nj_per_token;
    j["energy_nj_total"] = r.cost.energy_pj / 1000.0;
    j["leakage_nj_total"] = r.cost.leakage_pj / 1000.0;
    nlohmann::json eb = nlohmann::json::object();
    for (const auto& [k, e] : r.cost.energy_pj_by_module) eb[k] = e / 1000.0 / static_cast<double>(r.tokens);
    j["energy_breakdown_nj"] = eb;  // per token
    nlohmann::json mb = nlohmann::json::object();
    for (const auto& [k, b] : r.cost.memory_bits) mb[k] = b;
    mb["weights_total"] = r.cost.weight_bits;
    mb["states_total"] = r.cost.state_bits;
    mb["total"] = r.cost.weight_bits + r.cost.state_bits;
    j["memory_bits"] = mb;
    {  // the stored weights per model component, and against float32 (as `ssmsim info --ckpt Q`)
      nlohmann::json byc = nlohmann::json::object();
      uint64_t elements = 0;
      for (const auto& [name, t] : q.tensors) {
        const std::string c = quant::component_name(t.component);
        const uint64_t b = r.cost.memory_bits.count(name) ? r.cost.memory_bits.at(name) : 0;
        byc[c] = byc.value(c, uint64_t{0}) + b;
        elements += t.size();
      }
      j["footprint"] = {{"weight_elements", elements},
                        {"weight_bits", r.cost.weight_bits},
                        {"float32_bits", 32 * elements},
                        {"reduction", static_cast<double>(32 * elements) / static_cast<double>(r.cost.weight_bits)},
                        {"bits_by_component", byc}};
    }
    j["area_mm2"] = r.cost.area_mm2;
    nlohmann::json ab = nlohmann::json::object();
    for (const auto& [k, a] : r.cost.area_um2) ab[k] = a * 1e-6;
    j["area_breakdown_mm2"] = ab;
    j["utilization"] = r.cost.utilization;
    nlohmann::json st = nlohmann::json::array();
    for (const auto& s : r.stats) st.push_back({{"name", s.name}, {"unit", s.unit}, {"description", s.description}, {"value", s.value}});
    j["stats"] = st;
    j["hw"] = yaml_to_json(inv.config.section("hw"));
    j["energy_table"] = table.name;
    j["wall_seconds"] = r.wall_s;
    j["simulated_tokens_per_wall_s"] = static_cast<double>(r.tokens) / r.wall_s;
    j["simulated_cycles_per_wall_s"] = static_cast<double>(r.cycles) / r.wall_s;
    reports::write_json(o["json"].as<std::string>(), j);
  }
  return r.bit_exact ? 0 : 1;
}

}  // namespace ssmsim::sim

namespace ssmsim::sim {

int run_vectors(const Invocation& inv) {
  const auto& o = inv.options;
  auto load_q = [](const std::string& path) {
    if (!std::filesystem::exists(path)) throw InputError("vectors: " + path + " does not exist");
    if (!core::is_qmodel_file(path))
      throw InputError("vectors: " + path + " is a float checkpoint; vectors come from a quantized model (ssmsim quantize)");
    return core::load_qmodel(path);
  };
  if (o.count("check")) {
    const std::filesystem::path dir = o["check"].as<std::string>();
    nlohmann::json man;
    {
      std::ifstream f(dir / "manifest.json");
      if (!f) throw InputError("vectors --check: no " + (dir / "manifest.json").string() + " (make one with ssmsim vectors)");
      man = nlohmann::json::parse(f, nullptr, false);
      if (man.is_discarded() || !man.contains("source"))
        throw InputError("vectors --check: " + (dir / "manifest.json").string() + " is not an ssmsim vector manifest");
    }
    const auto& src = man["source"];
    const core::QModel q = load_q(src["checkpoint"].get<std::string>());
    hw::HwConfig hwc = hw::HwConfig::from_yaml(load_yaml_file(src["hw"].get<std::string>()));
    const workloads::Workload w = load_data(inv, inv.err, src["workload"].get<std::string>());
    const CheckResult r = check_vectors(dir, q, hwc, w.test);
    if (!r.ok) {
      inv.err << "vectors --check: mismatch in " << r.first_mismatch << "\n";
      return 1;
    }
    inv.out << fmt::format("vectors --check {}: {} files, {} values equal to the C-model\n", dir.string(), r.files, r.values);
    return 0;
  }
  for (const char* req : {"ckpt", "hw", "workload", "out-dir"})
    if (!o.count(req)) throw InputError(std::string("vectors: the option '--") + req + "' is required (or --check D)");
  VectorOptions vo;
  vo.checkpoint = o["ckpt"].as<std::string>();
  vo.hw_file = o["hw"].as<std::string>();
  vo.workload = o["workload"].as<std::string>();
  vo.out_dir = o["out-dir"].as<std::string>();
  vo.index = o["index"].as<size_t>();
  if (o.count("units")) {
    std::stringstream ss(o["units"].as<std::string>());
    for (std::string u; std::getline(ss, u, ',');) vo.units.insert(u);
  }
  if (o.count("steps")) {
    const std::string s = o["steps"].as<std::string>();
    const auto colon = s.find(':');
    try {
      if (colon == std::string::npos) throw std::invalid_argument(s);
      vo.step_begin = std::stoul(s.substr(0, colon));
      vo.step_end = std::stoul(s.substr(colon + 1));
    } catch (const std::exception&) {
      throw InputError("vectors: --steps '" + s + "': expected A:B (time steps A to B-1), e.g. 0:32");
    }
  }
  const core::QModel q = load_q(vo.checkpoint);
  const hw::HwConfig hwc = hw::HwConfig::from_yaml(inv.config.section("hw"));
  const workloads::Workload w = load_data(inv, inv.err);
  const size_t files = export_vectors(q, hwc, w.test, vo);
  inv.out << fmt::format("vectors: {} files and manifest.json for test sequence {} of '{}' -> {}\n", files, vo.index,
                         w.name, vo.out_dir.string());
  return 0;
}

}  // namespace ssmsim::sim
