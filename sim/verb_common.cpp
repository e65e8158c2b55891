#include "sim/verb_common.hpp"

#include <fmt/format.h>

#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cmath>

#include <yaml-cpp/yaml.h>

#include "quant/errors.hpp"
#include "quant/keys.hpp"
#include "workloads/metrics.hpp"
#include "workloads/sha256.hpp"

namespace ssmsim::sim {

workloads::Workload load_data(const Invocation& inv, std::ostream& log, std::string name) {
  workloads::WorkloadOptions wo;
  wo.seed = settings<RunSettings>(inv.config).seed;
  wo.train_size = settings<DataSettings>(inv.config).train_size;
  wo.val_size = settings<DataSettings>(inv.config).val_size;
  if (name.empty()) name = inv.options["workload"].as<std::string>();
  log << "loading workload '" << name << "'..." << std::flush;
  const auto t0 = std::chrono::steady_clock::now();
  workloads::Workload w = workloads::load_workload(name, wo);
  log << fmt::format(" {} train / {} val / {} test sequences of {} steps ({:.1f} s)\n", w.train.n, w.val.n,
                     w.test.n, w.train.length,
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return w;
}

core::TrainConfig train_config(const Invocation& inv) {
  core::TrainConfig tc = inv.config.get<core::TrainConfig>("train");
  tc.seed = settings<RunSettings>(inv.config).seed;
  tc.threads = settings<RunSettings>(inv.config).threads;
  return tc;
}

std::string workers_text(const core::Ranks& ranks, size_t threads) {
  if (ranks.size() == 1) return fmt::format("{} thread(s)", threads ? std::to_string(threads) : "all");
  return fmt::format("{} MPI ranks x {} thread(s)", ranks.size(), core::rank_threads(ranks, threads));
}

std::string fmt_time(double s) {
  if (s < 90) return fmt::format("{:.0f}s", s);
  if (s < 5400) return fmt::format("{:.0f}m{:02.0f}s", std::floor(s / 60), std::fmod(s, 60));
  return fmt::format("{:.0f}h{:02.0f}m", std::floor(s / 3600), std::fmod(s / 60, 60));
}

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

reports::ResultRecord eval_record(const core::EvalResult& r, size_t classes) {
  reports::ResultRecord j;
  j.count = r.count;
  j.accuracy = r.accuracy;
  j.loss = r.loss;
  j.confusion.emplace();
  for (size_t y = 0; y < classes; ++y)
    j.confusion->emplace_back(r.confusion.begin() + static_cast<std::ptrdiff_t>(y * classes),
                              r.confusion.begin() + static_cast<std::ptrdiff_t>((y + 1) * classes));
  return j;
}

std::pair<double, double> regression_metrics(const core::EvalResult& r, const core::SequenceSet& set) {
  const size_t n = r.outputs.size();
  return {workloads::mse(r.outputs.data(), set.targets.data(), n),
          workloads::smape(r.outputs.data(), set.targets.data(), n)};
}

std::string regression_text(const core::EvalResult& r, const core::SequenceSet& set) {
  const auto [m, s] = regression_metrics(r, set);
  return fmt::format("MSE {:.6f}, sMAPE {:.3f}% ({} sequences)", m, s, r.count);
}

reports::ResultRecord regression_record(const core::EvalResult& r, const core::SequenceSet& set) {
  const auto [m, sm] = regression_metrics(r, set);
  reports::ResultRecord j;
  j.count = r.count;
  j.mse = m;
  j.smape_percent = sm;
  return j;
}

core::PtqOptions ptq_options(const Invocation& inv) {
  core::PtqOptions opt = inv.config.get<core::PtqOptions>("quantize");
  opt.seed = settings<RunSettings>(inv.config).seed;
  opt.threads = settings<RunSettings>(inv.config).threads;
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

namespace {
volatile std::sig_atomic_t g_stop_signal = 0;
extern "C" void on_stop_signal(int sig) { g_stop_signal = sig; }
}  // namespace

std::string qat_run_key(const Invocation& inv, const core::FloatCheckpoint& ck, const std::string& workload,
                        uint64_t seed, const std::string& precision, bool stable_a) {
  std::string key =
      fmt::format("ckpt sha256 {}, workload {}, seed {}",
                  workloads::sha256_hex(ck.params.data(), ck.params.size() * sizeof(float)), workload, seed);
  for (const char* section : {"train", "quantize", "qat"}) {
    YAML::Node n = YAML::Clone(inv.config.section(section));
    if (stable_a && std::string(section) == "quantize") n["stable_a"] = true;
    YAML::Emitter e;
    e << YAML::Flow << n;
    key += fmt::format(", {}: {}", section, e.c_str());
  }
  YAML::Emitter d;
  d << YAML::Flow << inv.config.section("data");
  return key + fmt::format(", precision: {}, data: {}", precision, d.c_str());
}

core::QatResume load_qat_resume(const std::string& out, const core::Model& model, const std::string& run_key) {
  core::QatResume r;
  r.state = core::load_qat_state(out + ".state", model, run_key);
  if (r.state.best_epoch > 0) r.best = core::load_qmodel(out);
  return r;
}

std::string resume_text(const core::QatState& s) {
  const core::TrainState& p = s.weights;
  return fmt::format("resuming after epoch {}{} (best validation accuracy so far {:.2f}%, epoch {})", p.epochs_done,
                     p.epoch_step ? fmt::format(" and step {} of epoch {}", p.epoch_step, p.epochs_done + 1) : "",
                     100 * p.best_val_accuracy, s.best_epoch);
}

core::QModel qat_annotated(core::QModel q, const std::string& ckpt, const std::string& workload,
                           const core::TrainConfig& tc, const core::QatOptions& qo) {
  q.metadata["source.checkpoint"] = ckpt;
  q.metadata["data.workload"] = workload;
  q.metadata["quantize.method"] = "qat";
  for (const auto& kv : tc.to_yaml())
    q.metadata["qat.train." + kv.first.as<std::string>()] = kv.second.as<std::string>();
  if (!qo.learn_scales.empty()) q.metadata["qat.scale_lr"] = fmt::format("{}", qo.scale_lr);
  if (!qo.learn_scales.empty() && qo.learn_zero_points) q.metadata["qat.learn_zero_points"] = "true";
  return q;
}

StopRequests::StopRequests(const Invocation& inv, const char* verb)
    : limit_s_(60 * inv.options["time-limit"].as<double>()), start_(std::chrono::steady_clock::now()) {
  if (limit_s_ < 0) throw InputError(fmt::format("{} --time-limit: minutes must be >= 0 (0: no limit)", verb));
  g_stop_signal = 0;
  old_int_ = std::signal(SIGINT, on_stop_signal);
  old_term_ = std::signal(SIGTERM, on_stop_signal);
}

StopRequests::~StopRequests() {
  std::signal(SIGINT, old_int_);
  std::signal(SIGTERM, old_term_);
}

int StopRequests::signal() const { return g_stop_signal; }

bool StopRequests::operator()() const {
  return g_stop_signal ||
         (limit_s_ > 0 && std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count() > limit_s_);
}

std::string StopRequests::reason() const { return signal() ? fmt::format("signal {}", signal()) : "time limit"; }

int StopRequests::exit_code() const { return signal() ? 128 + signal() : 0; }

int report_stopped(const Invocation& inv, const char* verb, const core::TrainState& p, const std::string& state_path,
                   const StopRequests& stop) {
  const std::string where = p.epoch_step ? fmt::format("at step {} of epoch {}", p.epoch_step, p.epochs_done + 1)
                                         : fmt::format("after epoch {}", p.epochs_done);
  inv.err << fmt::format("{}stopped {} ({}); the state is in {}: continue with the same command and --resume\n",
                         ::isatty(2) ? "\n" : "", where, stop.reason(), state_path);
  if (inv.ranks.is_root() && inv.options.count("json")) {
    reports::ResultRecord j;
    j.command = verb;
    j.finished = false;
    j.epochs_done = p.epochs_done;
    j.epoch_step = p.epoch_step;
    j.state = state_path;
    reports::write_record(inv.options["json"].as<std::string>(), j);
  }
  return stop.exit_code();
}

}  // namespace ssmsim::sim
