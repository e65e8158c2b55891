#include "sim/sweep.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <cstring>
#include <thread>

#include "hw_models/hw_config.hpp"
#include "quant/errors.hpp"
#include "quant/precision.hpp"
#include "quant/yaml_value.hpp"
#include "reports/record.hpp"
#include "reports/result_record.hpp"
#include "sim/config.hpp"
#include "ssm_core/qmodel.hpp"
#include "workloads/sha256.hpp"

extern char** environ;

#ifndef SSMSIM_SOURCE_DIR
#error "SSMSIM_SOURCE_DIR (the repository root) must be defined by the build"
#endif

namespace ssmsim::sim {

namespace fs = std::filesystem;

namespace {

// A path of the spec: as given when it exists (relative to the current folder), else relative to
// the repository root; `dir` completes a preset name ("w8a8" -> configs/precision/w8a8.yaml), from
// the current folder first, then from the repository root.
fs::path resolve(const std::string& given, const std::string& key, const char* dir = nullptr) {
  std::vector<fs::path> tries = {given, fs::path(SSMSIM_SOURCE_DIR) / given};
  if (dir && fs::path(given).extension().empty() && given.find('/') == std::string::npos) {
    tries.push_back(fs::path(dir) / (given + ".yaml"));
    tries.push_back(fs::path(SSMSIM_SOURCE_DIR) / dir / (given + ".yaml"));
  }
  for (const auto& p : tries)
    if (fs::exists(p)) return p;
  throw ConfigError(key, given,
                    std::string("no such file (relative paths are tried from the current folder and the repository "
                                "root") + (dir ? std::string(", a bare name in ") + dir : std::string()) + ")");
}

std::vector<std::string> scalars(const YAML::Node& n, const std::string& key) {
  if (!n.IsSequence() || n.size() == 0)
    throw ConfigError(key, yaml_text(n), "expected a non-empty list, e.g. [a, b]");
  std::vector<std::string> out;
  for (const auto& v : n) {
    if (!v.IsScalar()) throw ConfigError(key, yaml_text(v), "expected a list of plain values");
    out.push_back(v.Scalar());
  }
  return out;
}

void check_keys(const YAML::Node& n, const std::string& key, const std::set<std::string>& allowed) {
  if (!n.IsMap()) throw ConfigError(key, yaml_text(n), "expected a map");
  for (const auto& kv : n) {
    const std::string k = kv.first.as<std::string>();
    if (!allowed.count(k)) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      throw ConfigError(key + "." + k, yaml_text(kv.second), "unknown key; allowed: " + list);
    }
  }
}

// "activations" is the three activation components together (as in scripts/ptq_sensitivity.sh).
std::vector<std::string> components_of(const std::string& name, const std::string& key) {
  if (name == "activations") return {"ssm_in", "ssm_out", "act"};
  quant::parse_component(name, key);  // throws ConfigError listing the components
  return {name};
}

int bits_of(const std::string& v, const std::string& key) {
  try {
    size_t pos = 0;
    const int b = std::stoi(v, &pos);
    if (pos == v.size() && b >= 1 && b <= 32) return b;
  } catch (const std::exception&) {
  }
  throw ConfigError(key, v, "expected a width in bits in [1, 32]");
}

// Every combination of the grid's lists, in order (the last key varies fastest).
template <typename V>
std::vector<std::vector<std::pair<std::string, V>>> product(const std::vector<std::pair<std::string, std::vector<V>>>& axes) {
  std::vector<std::vector<std::pair<std::string, V>>> out = {{}};
  for (const auto& [k, values] : axes) {
    std::vector<std::vector<std::pair<std::string, V>>> next;
    for (const auto& prefix : out)
      for (const auto& v : values) {
        auto p = prefix;
        p.emplace_back(k, v);
        next.push_back(std::move(p));
      }
    out = std::move(next);
  }
  return out;
}

YAML::Node load_yaml(const fs::path& p) { return load_yaml_file(p); }

// Checks that a precision variant resolves (the file with its overrides).
void check_precision(const PrecisionVariant& v, const std::string& key) {
  YAML::Node n = YAML::Clone(load_yaml(v.file));
  for (const auto& [c, b] : v.overrides) n["components"][c]["bits"] = b;
  quant::PrecisionConfig::from_yaml(n, key);
}

void set_path(YAML::Node root, const std::string& dotted, const std::string& value) {
  std::vector<std::string> parts;
  std::stringstream ss(dotted);
  for (std::string p; std::getline(ss, p, '.');) parts.push_back(p);
  std::vector<YAML::Node> chain = {root};
  for (size_t i = 0; i + 1 < parts.size(); ++i) chain.push_back(chain.back()[parts[i]]);
  chain.back()[parts.back()] = YAML::Load(value);
}

void check_hw(const HwVariant& v, const std::string& key) {
  YAML::Node n = YAML::Clone(load_yaml(v.file));
  for (const auto& [k, val] : v.overrides) set_path(n, k, val);
  hw::HwConfig::from_yaml(n, key);
}

std::string stem(const fs::path& p) { return p.stem().string(); }

}  // namespace

SweepSpec SweepSpec::load(const fs::path& path) {
  if (!fs::exists(path)) throw InputError("sweep: no spec file " + path.string() + " (configs/sweeps/ has examples)");
  const YAML::Node n = load_yaml(path);
  const std::string k0 = "spec";
  check_keys(n, k0, {"name", "description", "checkpoint", "workload", "eval", "simulate", "calib", "qat", "precision", "hw",
                     "method"});
  SweepSpec s;
  {
    std::ifstream f(path);
    s.text.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  }
  s.name = n["name"] ? n["name"].Scalar() : stem(path);
  s.description = n["description"] ? n["description"].Scalar() : "";
  if (!n["checkpoint"]) throw ConfigError("spec.checkpoint", "", "required: the float checkpoint the points quantize");
  s.checkpoint = resolve(n["checkpoint"].Scalar(), "spec.checkpoint");
  if (!n["workload"]) throw ConfigError("spec.workload", "", "required: the workload the points are evaluated on");
  s.workload = n["workload"].Scalar();
  if (n["eval"]) {
    check_keys(n["eval"], "spec.eval", {"limit"});
    if (n["eval"]["limit"]) s.eval_limit = yaml_size(n["eval"]["limit"], "spec.eval.limit", 0, 1000000000);
  }
  if (n["simulate"]) {
    check_keys(n["simulate"], "spec.simulate", {"limit"});
    if (n["simulate"]["limit"]) s.simulate_limit = yaml_size(n["simulate"]["limit"], "spec.simulate.limit", 1, 1000000000);
  }
  if (n["calib"]) s.calib = yaml_size(n["calib"], "spec.calib", 1, 10000000);
  if (n["qat"]) {
    check_keys(n["qat"], "spec.qat", {"epochs", "train_size", "val_size", "set"});
    if (n["qat"]["val_size"]) s.qat_val_size = yaml_size(n["qat"]["val_size"], "spec.qat.val_size", 0, 1000000000);
    if (n["qat"]["epochs"]) s.qat_epochs = yaml_size(n["qat"]["epochs"], "spec.qat.epochs", 1, 100000);
    if (n["qat"]["train_size"]) s.qat_train_size = yaml_size(n["qat"]["train_size"], "spec.qat.train_size", 0, 1000000000);
    if (n["qat"]["set"]) {
      if (!n["qat"]["set"].IsMap()) throw ConfigError("spec.qat.set", yaml_text(n["qat"]["set"]), "expected a map of train.* keys");
      for (const auto& kv : n["qat"]["set"]) s.qat_set[kv.first.as<std::string>()] = kv.second.Scalar();
    }
  }
  // precision axis
  if (!n["precision"]) throw ConfigError("spec.precision", "", "required: files, sensitivity and/or grid");
  const YAML::Node P = n["precision"];
  check_keys(P, "spec.precision", {"files", "sensitivity", "grid", "models"});
  if (P["models"])  // quantized models as they are (e.g. a QAT result shipped with the repo)
    for (const auto& f : scalars(P["models"], "spec.precision.models")) {
      const fs::path p = resolve(f, "spec.precision.models");
      if (!core::is_qmodel_file(p))
        throw ConfigError("spec.precision.models", f, "not a quantized model (make one with ssmsim quantize or qat)");
      s.precisions.push_back({stem(f), {}, {}, p});
    }
  if (P["files"])
    for (const auto& f : scalars(P["files"], "spec.precision.files"))
      s.precisions.push_back({stem(f), resolve(f, "spec.precision.files", "configs/precision"), {}});
  if (P["sensitivity"]) {  // one component at a time
    const YAML::Node S = P["sensitivity"];
    const std::string k = "spec.precision.sensitivity";
    check_keys(S, k, {"base", "components", "bits"});
    if (!S["base"]) throw ConfigError(k + ".base", "", "required: the precision config the other components keep");
    const fs::path base = resolve(S["base"].Scalar(), k + ".base", "configs/precision");
    const auto comps = scalars(S["components"], k + ".components");
    const auto bits = scalars(S["bits"], k + ".bits");
    for (const auto& c : comps)
      for (const auto& b : bits) {
        PrecisionVariant v{stem(base) + " " + c + "=" + b, base, {}};
        for (const auto& cc : components_of(c, k + ".components")) v.overrides[cc] = bits_of(b, k + ".bits");
        s.precisions.push_back(v);
      }
  }
  if (P["grid"]) {  // every combination of per-component widths
    const YAML::Node G = P["grid"];
    const std::string k = "spec.precision.grid";
    check_keys(G, k, {"base", "components"});
    if (!G["base"]) throw ConfigError(k + ".base", "", "required: the precision config the grid starts from");
    const fs::path base = resolve(G["base"].Scalar(), k + ".base", "configs/precision");
    if (!G["components"] || !G["components"].IsMap() || G["components"].size() == 0)
      throw ConfigError(k + ".components", "", "expected a non-empty map: component -> list of widths");
    std::vector<std::pair<std::string, std::vector<int>>> axes;
    for (const auto& kv : G["components"]) {
      const std::string c = kv.first.as<std::string>();
      components_of(c, k + ".components");
      std::vector<int> widths;
      for (const auto& b : scalars(kv.second, k + ".components." + c)) widths.push_back(bits_of(b, k + ".components." + c));
      axes.emplace_back(c, widths);
    }
    for (const auto& combo : product(axes)) {
      PrecisionVariant v{stem(base), base, {}};
      for (const auto& [c, b] : combo) {
        v.label += " " + c + "=" + std::to_string(b);
        for (const auto& cc : components_of(c, k)) v.overrides[cc] = b;
      }
      s.precisions.push_back(v);
    }
  }
  if (s.precisions.empty()) throw ConfigError("spec.precision", yaml_text(P), "no precision point: give files, sensitivity or grid");
  for (const auto& v : s.precisions)
    if (v.model.empty()) check_precision(v, "spec.precision (" + v.label + ")");
  // hardware axis
  if (!n["hw"]) throw ConfigError("spec.hw", "", "required: files and/or grid");
  const YAML::Node Hn = n["hw"];
  check_keys(Hn, "spec.hw", {"files", "grid"});
  if (Hn["files"])
    for (const auto& f : scalars(Hn["files"], "spec.hw.files")) s.hws.push_back({stem(f), resolve(f, "spec.hw.files", "configs/hw"), {}});
  if (Hn["grid"]) {
    const YAML::Node G = Hn["grid"];
    const std::string k = "spec.hw.grid";
    check_keys(G, k, {"base", "keys"});
    if (!G["base"]) throw ConfigError(k + ".base", "", "required: the hardware config the grid starts from");
    const fs::path base = resolve(G["base"].Scalar(), k + ".base", "configs/hw");
    if (!G["keys"] || !G["keys"].IsMap() || G["keys"].size() == 0)
      throw ConfigError(k + ".keys", "", "expected a non-empty map: hw key (e.g. cmac_lanes, state_mem.banks) -> list of values");
    std::vector<std::pair<std::string, std::vector<std::string>>> axes;
    for (const auto& kv : G["keys"]) axes.emplace_back(kv.first.as<std::string>(), scalars(kv.second, k + ".keys." + kv.first.as<std::string>()));
    for (const auto& combo : product(axes)) {
      HwVariant v{stem(base), base, {}};
      for (const auto& [key, val] : combo) {
        v.label += " " + key + "=" + val;
        v.overrides[key] = val;
      }
      s.hws.push_back(v);
    }
  }
  if (s.hws.empty()) throw ConfigError("spec.hw", yaml_text(Hn), "no hardware point: give files or grid");
  for (const auto& v : s.hws) check_hw(v, "spec.hw (" + v.label + ")");
  s.methods = n["method"] ? (n["method"].IsSequence() ? scalars(n["method"], "spec.method")
                                                      : std::vector<std::string>{n["method"].Scalar()})
                          : std::vector<std::string>{"ptq"};
  for (const auto& m : s.methods)
    if (m != "ptq" && m != "qat") throw ConfigError("spec.method", m, "allowed: ptq, qat");
  return s;
}

std::string SweepPoint::label() const { return precision->label + " / " + hw->label + " / " + method; }

std::vector<SweepPoint> expand(const SweepSpec& spec) {
  std::vector<SweepPoint> out;
  const std::vector<std::string> given = {"given"};
  for (const auto& p : spec.precisions)
    for (const auto& h : spec.hws)
      for (const auto& m : p.model.empty() ? spec.methods : given) {
        SweepPoint pt;
        pt.precision = &p;
        pt.hw = &h;
        pt.method = m;
        pt.index = out.size();
        // the settings that decide the point's results (names as given: stable across machines)
        nlohmann::json model = {{"checkpoint", spec.checkpoint.filename().string()}, {"workload", spec.workload},
                                {"precision", p.file.filename().string()}, {"precision_overrides", p.overrides},
                                {"method", m}, {"calib", spec.calib}};
        if (!p.model.empty()) model = {{"model", p.model.filename().string()}, {"workload", spec.workload}};
        if (m == "qat")
          model["qat"] = {{"epochs", spec.qat_epochs}, {"train_size", spec.qat_train_size},
                          {"val_size", spec.qat_val_size}, {"set", spec.qat_set}};
        pt.model_key = "m" + workloads::sha256_hex(model.dump()).substr(0, 12);
        const nlohmann::json settings = {{"model", model}, {"eval_limit", spec.eval_limit},
                                         {"hw", h.file.filename().string()}, {"hw_overrides", h.overrides},
                                         {"simulate_limit", spec.simulate_limit}};
        pt.id = "p" + workloads::sha256_hex(settings.dump()).substr(0, 12);
        out.push_back(pt);
      }
  return out;
}

namespace {

std::string quote(const std::string& a) {
  if (a.find_first_of(" \t'\"\\$") == std::string::npos) return a;
  std::string q = "'";
  for (char c : a) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string command_line(const std::vector<std::string>& args) {
  std::string s = "ssmsim";
  for (size_t i = 1; i < args.size(); ++i) s += " " + quote(args[i]);
  return s;
}

// Runs `args` (args[0] is the binary) with stdout and stderr appended to `log`; returns the exit status.
int run_child(const std::vector<std::string>& args, const fs::path& log) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, args[0].c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw RunError("sweep: cannot start " + args[0] + ": " + std::strerror(rc));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) throw RunError("sweep: waitpid failed");
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

nlohmann::json read_json(const fs::path& p) {
  std::ifstream f(p);
  return nlohmann::json::parse(f);
}

// Appends one whole line with one write(2) on an O_APPEND descriptor, then syncs it.
void append_line(const fs::path& p, const std::string& line) {
  const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) throw InputError("sweep: cannot write " + p.string() + ": " + std::strerror(errno));
  const std::string s = line + "\n";
  const ssize_t n = ::write(fd, s.data(), s.size());
  ::fsync(fd);
  ::close(fd);
  if (n != static_cast<ssize_t>(s.size())) throw RunError("sweep: short write to " + p.string());
}

// The command that makes a point's model (quantize for PTQ, qat for QAT) into `model`; empty for a
// model given as it is.
std::vector<std::string> model_command(const SweepSpec& spec, const SweepPoint& p, const fs::path& model,
                                       const std::string& bin, const std::string& threads) {
  if (!p.precision->model.empty()) return {};
  std::vector<std::string> cmd;
  if (p.method == "ptq") {
    cmd = {bin, "quantize", "--ckpt", spec.checkpoint.string(), "--precision", p.precision->file.string(),
           "--workload", spec.workload, "--calib", std::to_string(spec.calib), "--threads", threads};
  } else {
    cmd = {bin, "qat", "--ckpt", spec.checkpoint.string(), "--precision", p.precision->file.string(),
           "--workload", spec.workload, "--epochs", std::to_string(spec.qat_epochs), "--calib",
           std::to_string(spec.calib), "--threads", threads};
    for (const auto& [key, v] : spec.qat_set) cmd.insert(cmd.end(), {"--set", key + "=" + v});
    if (spec.qat_train_size) cmd.insert(cmd.end(), {"--set", "data.train_size=" + std::to_string(spec.qat_train_size)});
    if (spec.qat_val_size) cmd.insert(cmd.end(), {"--set", "data.val_size=" + std::to_string(spec.qat_val_size)});
    // its closing test accuracy on the point's subset (the eval step gives the record's)
    cmd.insert(cmd.end(), {"--set", "eval.limit=" + std::to_string(spec.eval_limit)});
  }
  for (const auto& [c, b] : p.precision->overrides)
    cmd.insert(cmd.end(), {"--set", fmt::format("precision.components.{}.bits={}", c, b)});
  cmd.insert(cmd.end(), {"--out", model.string()});
  return cmd;
}

std::string fmt_secs(double s) {
  const auto t = static_cast<long>(s + 0.5);
  return t >= 3600 ? fmt::format("{}h{:02}m", t / 3600, t / 60 % 60) : fmt::format("{}m{:02}s", t / 60, t % 60);
}

}  // namespace

SweepSummary run_sweep(const SweepSpec& spec, const SweepOptions& o) {
  const std::vector<SweepPoint> all = expand(spec);
  std::vector<const SweepPoint*> mine;
  for (const auto& p : all)
    if (p.index % o.shards == o.shard) mine.push_back(&p);
  const fs::path dir = o.shards > 1 ? o.out_dir / fmt::format("shard-{}-of-{}", o.shard, o.shards) : o.out_dir;
  const fs::path jsonl = dir / "results.jsonl", csv = dir / "results.csv", models = o.out_dir / "models",
                 logs = dir / "logs";
  // what is already done
  std::set<std::string> done;
  std::vector<reports::ResultRecord> kept;
  if (fs::exists(jsonl)) {
    if (!o.resume)
      throw InputError("sweep: " + jsonl.string() + " already holds results: add --resume to continue that sweep, or "
                       "give another --out-dir");
    std::string jtext;  // the whole lines, as read
    std::ifstream f(jsonl);
    for (std::string line; std::getline(f, line);) {
      try {
        const auto j = nlohmann::json::parse(line);
        auto r = reports::record_from_json(j);
        if (r.id && !done.count(*r.id)) {
          done.insert(*r.id);
          jtext += j.dump() + "\n";
          kept.push_back(std::move(r));
        }
      } catch (const nlohmann::json::exception&) {
        // a line cut by a kill: dropped, its point runs again
      }
    }
    // rewrite both files from the whole lines (atomically), so a cut line leaves no trace
    std::string ctext = reports::csv_header() + "\n";
    for (const auto& r : kept) ctext += reports::csv_row(r) + "\n";
    reports::write_text_atomic(jsonl, jtext);
    reports::write_text_atomic(csv, ctext);
  } else {
    fs::create_directories(dir);
    reports::write_text_atomic(csv, reports::csv_header() + "\n");
  }
  fs::create_directories(models);
  fs::create_directories(logs);
  reports::write_text_atomic(o.out_dir / "spec.yaml", spec.text);

  SweepSummary sum;
  sum.total = mine.size();
  sum.results = dir;
  std::vector<const SweepPoint*> todo;
  for (const auto* p : mine) {
    if (done.count(p->id)) {
      ++sum.resumed;
    } else {
      todo.push_back(p);
      ++sum.run;
    }
  }

  const size_t jobs = std::max<size_t>(1, std::min(o.jobs, todo.size()));
  const size_t cores = o.threads ? o.threads : std::max(1u, std::thread::hardware_concurrency());
  const std::string threads = std::to_string(std::max<size_t>(1, cores / jobs));
  const std::string bin = o.binary.string();
  std::mutex mu;                                         // results files, progress, model locks
  std::map<std::string, std::shared_ptr<std::mutex>> model_locks;
  std::atomic<size_t> next{0};
  size_t finished = sum.resumed;
  std::exception_ptr error;
  const auto t0 = std::chrono::steady_clock::now();
  // the best point so far: the most accurate, then the least energy per token
  std::optional<reports::ResultRecord> best;
  auto consider = [&](const reports::ResultRecord& r) {
    const double a = r.accuracy.value_or(0), e = r.energy_nj_per_token.value_or(0);
    if (!best || a > best->accuracy.value_or(0) ||
        (a == best->accuracy.value_or(0) && e < best->energy_nj_per_token.value_or(0)))
      best = r;
  };
  for (const auto& r : kept) consider(r);

  auto model_lock = [&](const std::string& key) {
    std::lock_guard<std::mutex> g(mu);
    auto& l = model_locks[key];
    if (!l) l = std::make_shared<std::mutex>();
    return l;
  };
  auto must = [&](const std::vector<std::string>& args, const fs::path& log, const SweepPoint& p, bool allow1) {
    const int rc = run_child(args, log);
    if (rc != 0 && !(allow1 && rc == 1))
      throw RunError(fmt::format("sweep: point {} ({}) failed: `{}` exited {}; its output is in {}", p.id, p.label(),
                                 command_line(args), rc, log.string()));
  };

  auto worker = [&] {
    for (;;) {
      const size_t k = next++;
      if (k >= todo.size()) return;
      {
        std::lock_guard<std::mutex> g(mu);
        if (error) return;
      }
      const SweepPoint& p = *todo[k];
      try {
        const auto ps = std::chrono::steady_clock::now();
        const fs::path log = logs / (p.id + ".log");
        const fs::path model = p.precision->model.empty() ? models / (p.model_key + ".safetensors") : p.precision->model;
        const fs::path eval_json = models / fmt::format("{}.eval-{}.json", p.model_key, spec.eval_limit);
        const std::vector<std::string> quantize_cmd = model_command(spec, p, model, bin, threads);
        const std::vector<std::string> eval_cmd = {bin, "eval", "--ckpt", model.string(), "--workload", spec.workload, "--limit",
                    std::to_string(spec.eval_limit), "--threads", threads, "--json", eval_json.string()};
        {
          const auto lock = model_lock(p.model_key);
          std::lock_guard<std::mutex> g(*lock);
          if (!fs::exists(model)) must(quantize_cmd, log, p, false);  // files are written atomically
          if (!fs::exists(eval_json)) must(eval_cmd, log, p, false);
        }
        const fs::path sim_json = logs / (p.id + ".simulate.json");
        std::vector<std::string> sim_cmd = {bin, "simulate", "--ckpt", model.string(), "--hw", p.hw->file.string(),
                                            "--workload", spec.workload, "--limit", std::to_string(spec.simulate_limit),
                                            "--json", sim_json.string()};
        for (const auto& [key, v] : p.hw->overrides) sim_cmd.insert(sim_cmd.end(), {"--set", "hw." + key + "=" + v});
        must(sim_cmd, log, p, true);  // exit 1: not bit-exact, still a result (bit_exact false)
        const reports::ResultRecord ev = reports::record_from_json(read_json(eval_json)),
                                    sj = reports::record_from_json(read_json(sim_json));
        reports::ResultRecord r;
        r.id = p.id;
        r.index = p.index;
        r.label = p.label();
        reports::PointSettings settings;
        settings.precision = p.precision->label;
        settings.hw = p.hw->label;
        settings.method = p.method;
        settings.qat_epochs = p.method == "qat" ? spec.qat_epochs : 0;
        settings.precision_overrides = p.precision->overrides;
        settings.hw_overrides = p.hw->overrides;
        r.point = settings;
        r.accuracy = ev.accuracy;
        r.eval_sequences = ev.count;
        r.bit_exact = sj.bit_exact;
        r.energy_nj_per_token = sj.energy_nj_per_token;
        r.latency_us_per_token = sj.latency_us_per_token;
        r.cycles_per_token = sj.cycles_per_token;
        r.tokens_per_s = sj.tokens_per_s;
        r.area_mm2 = sj.area_mm2;
        r.energy_breakdown_nj = sj.energy_breakdown_nj;
        r.utilization = sj.utilization;
        r.memory_bits = sj.memory_bits;
        if (sj.footprint) {
          r.footprint_reduction = sj.footprint->reduction;
          r.memory_bits_by_component = sj.footprint->bits_by_component;
        }
        r.hw_config = sj.hw;
        r.precision_config = p.precision->model.empty() ? p.precision->file.filename().string()
                                                        : p.precision->model.filename().string();
        r.model = model.filename().string();
        r.commands.emplace();
        using Command = const std::vector<std::string>*;
        for (Command c : std::initializer_list<Command>{&quantize_cmd, &eval_cmd, &sim_cmd})
          if (!c->empty()) r.commands->push_back(command_line(*c));
        r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - ps).count();
        std::lock_guard<std::mutex> g(mu);
        append_line(jsonl, reports::to_json(r).dump());
        append_line(csv, reports::csv_row(r));
        ++finished;
        consider(r);
        if (o.progress) {
          const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          const size_t ran = finished - sum.resumed;
          o.progress(fmt::format("sweep: {}/{} points{}, {} elapsed, ETA {}; best so far: {} {:.2f}% at {:.3g} nJ/token",
                                 finished, sum.total, sum.resumed ? fmt::format(" ({} resumed)", sum.resumed) : "",
                                 fmt_secs(el), fmt_secs(el / static_cast<double>(ran) * static_cast<double>(todo.size() - ran)),
                                 best->label.value_or(""), 100 * best->accuracy.value_or(0),
                                 best->energy_nj_per_token.value_or(0)));
        }
      } catch (...) {
        std::lock_guard<std::mutex> g(mu);
        if (!error) error = std::current_exception();
        return;
      }
    }
  };
  std::vector<std::thread> pool;
  for (size_t j = 0; j < jobs; ++j) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
  return sum;
}

}  // namespace ssmsim::sim
