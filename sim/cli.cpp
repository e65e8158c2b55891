#include "sim/cli.hpp"

#include <fmt/format.h>

#include <boost/program_options.hpp>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "quant/errors.hpp"
#include "quant/yaml_value.hpp"
#include "sim/config.hpp"
#include "sim/sections.hpp"
#include "sim/verbs.hpp"

#ifndef SSMSIM_VERSION
#define SSMSIM_VERSION "unknown"
#endif

namespace po = boost::program_options;

namespace ssmsim::sim {

namespace {

// A named option that is sugar for a config key: `--limit 100` is `--set eval.limit=100`.
struct KeyOption {
  const char* option;
  const char* key;
};

struct Verb {
  const char* name;
  const char* summary;
  const char* synopsis;
  std::vector<const char*> required;       // options that must be given (checked after --help)
  std::vector<KeyOption> key_options;      // options mapped onto config keys
  std::function<void(po::options_description&)> add_options;
  VerbHandler run;
};

const std::vector<Verb>& verbs() {
  static const std::vector<Verb> table = {
      {"train",
       "train a float S4D/S5 model on a workload",
       "ssmsim train --model M.yaml --workload smnist --out ckpt.safetensors",
       {"model", "workload", "out"},
       {{"epochs", "train.epochs"}},
       [](po::options_description& d) {
         d.add_options()("model", po::value<std::string>(),
                         "model preset (YAML with model: and train: sections, configs/models/)")(
             "workload", po::value<std::string>(), "workload name (smnist, psmnist, adding, recall, sines, ...)")(
             "out", po::value<std::string>(), "best checkpoint to write (safetensors); OUT.state holds the "
             "resumable training state")(
             "epochs", po::value<std::string>(), "training epochs (train.epochs)")(
             "resume", po::bool_switch(), "continue an interrupted run from OUT.state, to the bits of an "
             "uninterrupted one (the state is saved every epoch, at --time-limit and on SIGINT/SIGTERM)")(
             "time-limit", po::value<double>()->default_value(0.0, "0 (none)"),
             "minutes; then save OUT.state after the current step and stop (continue with --resume)")(
             "json", po::value<std::string>(), "result record to write");
       },
       run_train},
      {"quantize",
       "post-training quantization (PTQ) of a float checkpoint",
       "ssmsim quantize --ckpt F --precision P.yaml [--workload W] [--calib N] --out q.safetensors",
       {"ckpt", "precision", "out"},
       {{"calib", "quantize.calib"}, {"gelu", "quantize.gelu"}, {"stable-a", "quantize.stable_a"}},
       [](po::options_description& d) {
         d.add_options()("ckpt", po::value<std::string>(), "float checkpoint (safetensors)")(
             "precision", po::value<std::string>(), "precision config (YAML)")(
             "stable-a", po::value<std::string>(), "true: keep every quantized |Lambda_bar| below 1 (quantize.stable_a)")(
             "workload", po::value<std::string>(), "calibration data: its training split (default: the workload "
             "the checkpoint was trained on)")(
             "out", po::value<std::string>(), "quantized model to write (safetensors)")(
             "calib", po::value<std::string>(), "calibration sequences (quantize.calib)")(
             "gelu", po::value<std::string>(), "lut (exact GELU tabulated), hard (x*clip(x+2,0,4)/4) or precision (the precision config's gelu; default) (quantize.gelu)");
       },
       run_quantize},
      {"qat",
       "quantization-aware fine-tuning of a float checkpoint",
       "ssmsim qat --ckpt F --precision P.yaml [--workload W] --epochs N --out q.safetensors",
       {"ckpt", "precision", "out"},
       {{"epochs", "train.epochs"}, {"calib", "quantize.calib"}, {"gelu", "quantize.gelu"}},
       [](po::options_description& d) {
         d.add_options()("ckpt", po::value<std::string>(), "float checkpoint (safetensors)")(
             "precision", po::value<std::string>(), "precision config (YAML)")(
             "workload", po::value<std::string>(),
             "training data (default: the workload the checkpoint was "
             "trained on)")("epochs", po::value<std::string>(),
                            "fine-tuning epochs (train.epochs; the recipe is the train "
                            "section: e.g. --set train.lr=0.002)")(
             "calib", po::value<std::string>(), "calibration sequences of the activation formats (quantize.calib)")(
             "gelu", po::value<std::string>(), "lut, hard or precision (quantize.gelu)")(
             "out", po::value<std::string>(),
             "quantized model to write (safetensors): the best by validation; "
             "OUT.state holds the resumable QAT state")(
             "resume", po::bool_switch(),
             "continue an interrupted run from OUT.state (and its best model so far, "
             "OUT), to the bits of an uninterrupted one; the same command and config")(
             "time-limit", po::value<double>()->default_value(0.0, "0 (none)"),
             "minutes; then save OUT.state after the current step and stop (continue with --resume)")(
             "from-state", po::value<std::string>(),
             "start from the parameters of another QAT run's state (its OUT.state: the same model, "
             "recurrence and learned steps) instead of the float checkpoint's: a new "
             "schedule and fresh optimiser moments (fine-tuning a finished run, e.g. at a lower lr)")(
             "json", po::value<std::string>(), "result record to write");
       },
       run_qat},
      {"search",
       "mixed-precision search: the smallest weights within an accuracy budget (PTQ sensitivity, then QAT)",
       "ssmsim search --ckpt F --precision BASE.yaml [--workload W] --out-dir D [--budget 0.01] [--epochs N]\n"
       "       [--bits 16,12,8,6,5,4,3,2] [--ratios 4,6,8,10,12] [--seeds 1,2,3] [--hw H.yaml] [--time-limit M] "
       "[--resume]",
       {"ckpt", "precision", "out-dir"},
       {{"epochs", "train.epochs"},
        {"calib", "quantize.calib"},
        {"budget", "search.budget"},
        {"bits", "search.bits"},
        {"ratios", "search.ratios"},
        {"components", "search.components"},
        {"seeds", "search.seeds"},
        {"limit", "eval.limit"}},
       [](po::options_description& d) {
         d.add_options()("ckpt", po::value<std::string>(), "float checkpoint (safetensors)")(
             "precision", po::value<std::string>(),
             "the base precision config (YAML): the start of the path; the "
             "search narrows its stored components' widths")(
             "workload", po::value<std::string>(), "data (default: the workload the checkpoint was trained on)")(
             "out-dir", po::value<std::string>(),
             "results folder (search.md, search.csv, search.log, precision/, "
             "models/)")("epochs", po::value<std::string>(),
                         "QAT epochs of each fine-tuned point (train.epochs; the recipe is "
                         "the train section)")("calib", po::value<std::string>(),
                                               "calibration sequences (quantize.calib)")(
             "budget", po::value<std::string>(), "accuracy below float allowed, a fraction (search.budget)")(
             "bits", po::value<std::string>(), "candidate widths, e.g. 8,6,4 (search.bits)")(
             "ratios", po::value<std::string>(), "footprint ratios whose first path point gets QAT (search.ratios)")(
             "components", po::value<std::string>(), "components to narrow, e.g. A,B,C (search.components)")(
             "limit", po::value<std::string>(), "test sequences evaluated (eval.limit)")(
             "hw", po::value<std::string>(),
             "hardware config: price each QAT point on the accelerator "
             "(`ssmsim simulate`, --sim-limit sequences)")("sim-limit", po::value<size_t>()->default_value(2),
                                                           "test sequences each --hw simulation runs")(
             "seeds", po::value<std::string>(), "training seeds of each QAT point, e.g. 1,2,3 (search.seeds)")(
             "resume", po::bool_switch(),
             "continue a stopped search: the path again, then each QAT run from its state in "
             "OUT-DIR/runs/ (a finished run is read, not trained again); the same command and config")(
             "time-limit", po::value<double>()->default_value(0.0, "0 (none)"),
             "minutes; then save the QAT run's state after the current step and stop (continue with --resume)");
       },
       run_search},
      {"eval",
       "accuracy of a float or quantized model (integer C-model for quantized ones)",
       "ssmsim eval --ckpt F|Q [--precision P.yaml] --workload smnist [--limit N] --json out.json "
       "[--predictions P.csv]",
       {"ckpt", "workload"},
       {{"limit", "eval.limit"}, {"ssm-path", "eval.ssm_path"}},
       [](po::options_description& d) {
         d.add_options()("ckpt", po::value<std::string>(), "float or quantized model")(
             "precision", po::value<std::string>(), "precision config (YAML): quantize a float checkpoint in memory "
             "(PTQ, as `quantize`) and evaluate the integer C-model")(
             "workload", po::value<std::string>(), "workload name")(
             "limit", po::value<std::string>(), "evaluate the first N test sequences (eval.limit)")(
             "ssm-path", po::value<std::string>(), "recurrent or conv: a float S4D model's SSM by its recurrence "
             "or its convolution kernel through FFTs (eval.ssm_path)")(
             "predictions", po::value<std::string>(), "CSV to write: per test sequence its index, label, predicted "
             "class and logits, or a regression's outputs (docs/reports.md)")(
             "json", po::value<std::string>(), "result record to write");
       },
       run_eval},
      {"simulate",
       "run a quantized model on the SystemC accelerator model",
       "ssmsim simulate --ckpt Q --hw H.yaml --workload smnist [--limit N] --json out.json",
       {"ckpt", "hw", "workload"},
       {{"limit", "eval.limit"}, {"mode", "hw.mode"}},
       [](po::options_description& d) {
         d.add_options()("ckpt", po::value<std::string>(), "quantized model")(
             "hw", po::value<std::string>(), "hardware config (YAML, configs/hw/)")(
             "workload", po::value<std::string>(), "workload name")(
             "limit", po::value<std::string>(), "simulate the first N test sequences (eval.limit)")(
             "mode", po::value<std::string>(), "lt (loosely timed, default) or cycle (clocked) (hw.mode)")(
             "check-states", po::bool_switch(), "also compare every layer's state at every step with the C-model")(
             "cmac", po::value<std::string>()->default_value("cpp"), "the CMAC lanes' state update: cpp (the C++ step "
             "function) or rtl (co-simulation with the Verilated Verilog lane, hw_models/rtl/)")(
             "vcd", po::value<std::string>(), "cycle mode: write a waveform to FILE.vcd")(
             "json", po::value<std::string>(), "result record to write");
       },
       run_simulate},
      {"sweep",
       "design-space exploration over precision and hardware configs",
       "ssmsim sweep --spec S.yaml --out-dir D [--jobs N] [--resume] [--shard i/n]\n"
       "       ssmsim sweep --spec S.yaml --out-dir D --slurm [--slurm-tasks N] [--partition P] [--time T]\n"
       "             [--cpus-per-task C] [--sbatch-arg ARG]... [--dry-run]\n"
       "       ssmsim sweep --status D",
       {},
       {{"limit", "eval.limit"}},
       [](po::options_description& d) {
         d.add_options()("spec", po::value<std::string>(), "sweep spec (YAML, configs/sweeps/)")(
             "out-dir", po::value<std::string>(), "results folder (results.jsonl, results.csv, models/, logs/)")(
             "jobs", po::value<std::string>()->default_value("1"), "design points run in parallel")(
             "resume", po::bool_switch(), "continue a sweep in OUT-DIR: skip finished points, never duplicate one")(
             "shard", po::value<std::string>(), "i/n: run the points whose index % n == i (into OUT-DIR/shard-i-of-n; "
             "`ssmsim report --in OUT-DIR` merges the shards)")(
             "limit", po::value<std::string>(), "accuracy on the first N test sequences (eval.limit; overrides "
             "the spec's eval.limit)")(
             "status", po::value<std::string>(), "D: say which points of the sweep in D are done, running, failed "
             "or waiting")(
             "slurm", po::bool_switch(), "submit the sweep to Slurm as a job array (sbatch; docs/cluster.md) "
             "instead of running it here")(
             "slurm-tasks", po::value<std::string>(), "--slurm: array tasks (shards); default one per point, "
             "at most 64")(
             "partition", po::value<std::string>(), "--slurm: the Slurm partition")(
             "time", po::value<std::string>(), "--slurm: the time limit of each task (sbatch --time)")(
             "cpus-per-task", po::value<std::string>()->default_value("1"), "--slurm: cores per task (its points "
             "run in parallel on them)")(
             "sbatch-arg", po::value<std::vector<std::string>>()->composing(), "--slurm: one more sbatch flag, "
             "e.g. --sbatch-arg=--account=ml (repeatable)")(
             "dry-run", po::bool_switch(), "--slurm: print the job script, submit nothing");
       },
       run_sweep_verb},
      {"vectors",
       "export RTL test vectors for one input sequence, or check a vector folder",
       "ssmsim vectors --ckpt Q --hw H.yaml --workload smnist --index I --out-dir D [--units U,..] [--steps A:B]\n"
       "       ssmsim vectors --check D",
       {},
       {},
       [](po::options_description& d) {
         d.add_options()("ckpt", po::value<std::string>(), "quantized model")(
             "hw", po::value<std::string>(), "hardware config (YAML)")(
             "workload", po::value<std::string>(), "workload name")(
             "index", po::value<std::string>()->default_value("0"), "test-set sequence index")(
             "out-dir", po::value<std::string>(), "folder for the vectors (docs/vectors.md)")(
             "units", po::value<std::string>(), "comma-separated subset of host, mve, sfu, cmac, mem (default: all)")(
             "steps", po::value<std::string>(), "A:B: only time steps A to B-1 (default: all)")(
             "check", po::value<std::string>(), "re-read a vector folder and compare it with the C-model");
       },
       run_vectors},
      {"report",
       "HTML and Markdown report of sweep folders",
       "ssmsim report --in D [--in D2 ...] [--out PREFIX]",
       {"in"},
       {},
       [](po::options_description& d) {
         d.add_options()("in", po::value<std::vector<std::string>>()->composing(),
                         "sweep results folder (results.jsonl, or shard subfolders holding one); repeatable: "
                         "the folders' points are merged by id")(
             "out", po::value<std::string>(), "write PREFIX.html and PREFIX.md (default: the first --in "
             "folder's report.html and report.md)");
       },
       run_report},
      {"info",
       "shapes and footprint per component of a model, or a precision config's table",
       "ssmsim info --ckpt F|Q    |    ssmsim info --precision P.yaml",
       {},
       {},
       [](po::options_description& d) {
         d.add_options()("ckpt", po::value<std::string>(), "float or quantized model")(
             "precision", po::value<std::string>(), "precision config (YAML)");
       },
       run_info},
  };
  return table;
}

const Verb* find_verb(const std::string& name) {
  for (const auto& v : verbs())
    if (name == v.name) return &v;
  return nullptr;
}

void add_common_options(po::options_description& d) {
  d.add_options()("help,h", "show this help")(
      "config", po::value<std::vector<std::string>>()->composing(),
      "config file (YAML, sections run:, eval:, ...); repeatable, later files win")(
      "set", po::value<std::vector<std::string>>()->composing(),
      "override one key, e.g. --set run.seed=3; repeatable, wins over files and options")(
      "seed", po::value<std::string>(), "seed of every random stream (run.seed)")(
      "threads", po::value<std::string>(), "worker threads, 0 = all cores (run.threads)")(
      "dump-config", po::bool_switch(), "print the resolved config and exit")(
      "help-config", po::bool_switch(), "list every config key with its default and range");
}

std::string main_usage() {
  std::ostringstream os;
  os << "ssmsim " SSMSIM_VERSION " - bit-accurate simulator and design-space explorer for\n"
        "fixed-point accelerators running diagonal state-space models (S4D, S5).\n\n"
        "usage: ssmsim <command> [options]     ssmsim <command> --help     ssmsim --version\n\n"
        "commands:\n";
  for (const auto& v : verbs())
    os << fmt::format("  {:<10}{}\n", v.name, v.summary);
  os << "\nexit status: 0 success, 1 run failure (e.g. not bit-exact), 2 usage or input error\n";
  return os.str();
}

std::string verb_usage(const Verb& v, const po::options_description& d) {
  std::ostringstream os;
  os << v.summary << "\n\nusage: " << v.synopsis << "\n\n" << d;
  os << "\nConfig precedence: built-in defaults < --config files < --model/--precision/--hw files"
        " < named options < --set.\n";
  return os.str();
}

// Usage errors: message, then the usage, exit 2.
int usage_error(std::ostream& err, const std::string& what, const std::string& usage) {
  err << "ssmsim: " << what << "\n\n" << usage;
  return 2;
}

// Unsigned options are declared as text and read here: Boost reads "-1" into a size_t as 2^64-1.
// The verbs read them as size_t (the value is replaced in the variables map).
struct UnsignedOption {
  const char* name;
  size_t lo, hi;
};
// --jobs: sweep points run in parallel, each a child process; --index: a test sequence.
constexpr UnsignedOption kUnsignedOptions[] = {
    {"jobs", 1, 1024}, {"index", 0, 1000000000}, {"slurm-tasks", 1, 100000}, {"cpus-per-task", 1, 1024}};

void read_unsigned_options(po::variables_map& vm) {
  for (const auto& u : kUnsignedOptions) {
    if (!vm.count(u.name)) continue;
    const std::string text = vm[u.name].as<std::string>();
    size_t x = 0;
    const auto r = std::from_chars(text.data(), text.data() + text.size(), x);
    if (text.empty() || r.ec != std::errc() || r.ptr != text.data() + text.size() || x < u.lo || x > u.hi)
      throw InputError(fmt::format("option '--{}' = '{}': expected an integer in [{}, {}]", u.name, text, u.lo, u.hi));
    vm.at(u.name).value() = x;
  }
  if (vm.count("time-limit")) {
    const double t = vm["time-limit"].as<double>();
    if (!std::isfinite(t) || t < 0)
      throw InputError(fmt::format("option '--time-limit' = '{}': expected minutes >= 0 (0: none)", t));
  }
}

// The files a verb reads and writes, by option. Inputs that exist must be regular files (a FIFO would
// block the read forever, a folder fails deep inside a loader); an output may not be an input or
// another output (`quantize --ckpt f --out f` would overwrite the checkpoint).
constexpr const char* kFileInputs[] = {"ckpt", "precision", "model", "hw", "spec", "config"};
constexpr const char* kOutputs[] = {"out", "json", "predictions", "vcd", "out-dir"};

std::vector<std::pair<std::string, std::string>> option_paths(const po::variables_map& vm, const char* name) {
  std::vector<std::pair<std::string, std::string>> r;
  if (!vm.count(name)) return r;
  const auto& v = vm[name].value();
  if (const auto* s = boost::any_cast<std::string>(&v)) r.emplace_back(name, *s);
  if (const auto* l = boost::any_cast<std::vector<std::string>>(&v))
    for (const auto& s : *l) r.emplace_back(name, s);
  return r;
}

bool same_file(const std::string& a, const std::string& b) {
  namespace fs = std::filesystem;
  std::error_code ec1, ec2;
  if (fs::exists(a, ec1) && fs::exists(b, ec2)) return fs::equivalent(a, b, ec1);
  const auto ca = fs::weakly_canonical(a, ec1), cb = fs::weakly_canonical(b, ec2);
  return !ec1 && !ec2 ? ca == cb : a == b;
}

void check_file_options(const Verb& v, const po::variables_map& vm) {
  std::vector<std::pair<std::string, std::string>> inputs, outputs;
  for (const char* name : kFileInputs)
    for (auto& p : option_paths(vm, name)) {
      check_regular_file(p.second, "--" + p.first + " file", false);
      inputs.push_back(std::move(p));
    }
  for (const auto& p : option_paths(vm, "in")) inputs.push_back(p);
  for (const auto& p : option_paths(vm, "check")) inputs.push_back(p);
  if (std::string(v.name) != "report")  // report --out is a prefix (PREFIX.html, PREFIX.md)
    for (const char* name : kOutputs)
      for (auto& p : option_paths(vm, name)) outputs.push_back(std::move(p));
  for (size_t i = 0; i < outputs.size(); ++i) {
    for (const auto& in : inputs)
      if (same_file(outputs[i].second, in.second))
        throw InputError(fmt::format("{}: --{} '{}' is also the input --{}: writing it would destroy the input",
                                     v.name, outputs[i].first, outputs[i].second, in.first));
    for (size_t j = 0; j < i; ++j)
      if (same_file(outputs[i].second, outputs[j].second))
        throw InputError(fmt::format("{}: --{} and --{} both name '{}'", v.name, outputs[j].first, outputs[i].first,
                                     outputs[i].second));
  }
}

int run_verb(const Verb& v, const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
             const core::Ranks& ranks) {
  po::options_description d(fmt::format("options of 'ssmsim {}'", v.name));
  v.add_options(d);
  add_common_options(d);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(d).run(), vm);
    po::notify(vm);
    read_unsigned_options(vm);
  } catch (const po::error& e) {
    return usage_error(err, fmt::format("{}: {}", v.name, e.what()), verb_usage(v, d));
  } catch (const InputError& e) {
    return usage_error(err, fmt::format("{}: {}", v.name, e.what()), verb_usage(v, d));
  }
  if (vm.count("help")) {
    out << verb_usage(v, d);
    return 0;
  }

  Config cfg = make_config();
  if (vm["help-config"].as<bool>()) {
    out << cfg.describe();
    return 0;
  }
  check_file_options(v, vm);
  if (vm.count("config"))
    for (const auto& f : vm["config"].as<std::vector<std::string>>()) cfg.merge_file(f);
  if (vm.count("model")) cfg.merge_file(vm["model"].as<std::string>());
  if (vm.count("precision")) cfg.load_section("precision", vm["precision"].as<std::string>());
  if (vm.count("hw")) cfg.load_section("hw", vm["hw"].as<std::string>());
  std::vector<KeyOption> key_options = v.key_options;
  key_options.push_back({"seed", "run.seed"});
  key_options.push_back({"threads", "run.threads"});
  for (const auto& ko : key_options)
    if (vm.count(ko.option)) cfg.set(std::string(ko.key) + "=" + vm[ko.option].as<std::string>());
  if (vm.count("set"))
    for (const auto& s : vm["set"].as<std::vector<std::string>>()) cfg.set(s);
  cfg.resolve();

  if (vm["dump-config"].as<bool>()) {
    out << cfg.dump();
    return 0;
  }
  for (const char* r : v.required)
    if (!vm.count(r))
      return usage_error(err, fmt::format("{}: the option '--{}' is required", v.name, r), verb_usage(v, d));
  return v.run(Invocation{vm, cfg, out, err, ranks});
}

}  // namespace

int run_cli(int argc, const char* const* argv, std::ostream& out, std::ostream& err, const core::Ranks& ranks,
            std::string* error) {
  std::ostream silent(nullptr);  // what ranks other than 0 print
  std::ostream& rank_out = ranks.is_root() ? out : silent;
  std::ostream& rank_err = ranks.is_root() ? err : silent;
  const std::string who = ranks.is_root() ? "ssmsim" : fmt::format("ssmsim [rank {}]", ranks.rank());
  auto fail = [&](const std::string& text, int status) {
    err << who << ": " << text << "\n";
    if (error) *error = text;
    return status;
  };
  try {
    if (argc < 2) return usage_error(rank_err, "no command given", main_usage());
    const std::string first = argv[1];
    if (first == "--help" || first == "-h" || first == "help") {
      rank_out << main_usage();
      return 0;
    }
    if (first == "--version") {
      rank_out << "ssmsim " SSMSIM_VERSION "\n";
      return 0;
    }
    const Verb* v = find_verb(first);
    if (!v) {
      const std::string what = first.rfind("-", 0) == 0 ? "unknown option '" + first + "' (options follow the command)"
                                                         : "unknown command '" + first + "'";
      return usage_error(rank_err, what, main_usage());
    }
    if (ranks.size() > 1 && first != "train" && first != "qat")
      throw InputError(fmt::format("'{}' does not run under MPI ({} ranks): only train and qat split their work "
                                   "across ranks; run it as one process, without mpirun",
                                   first, ranks.size()));
    return run_verb(*v, std::vector<std::string>(argv + 2, argv + argc), rank_out, rank_err, ranks);
  } catch (const InputError& e) {  // ConfigError and FormatError too
    return fail(e.what(), 2);
  } catch (const RunError& e) {
    return fail(std::string("run failed: ") + e.what(), 1);
  } catch (const std::exception& e) {
    return fail(std::string("internal error: ") + e.what(), 1);
  }
}

}  // namespace ssmsim::sim
