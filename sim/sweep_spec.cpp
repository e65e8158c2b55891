// `ssmsim sweep`'s spec (sim/sweep.hpp): the key tables that read and validate it, and the
// expansion into points with their stable ids.
#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "hw_models/hw_config.hpp"
#include "quant/errors.hpp"
#include "quant/keys.hpp"
#include "quant/precision.hpp"
#include "quant/yaml_value.hpp"
#include "sim/config.hpp"
#include "sim/sections.hpp"
#include "sim/sweep.hpp"
#include "ssm_core/checkpoint.hpp"
#include "ssm_core/qmodel.hpp"
#include "workloads/dataset.hpp"
#include "workloads/sha256.hpp"

#ifndef SSMSIM_SOURCE_DIR
#error "SSMSIM_SOURCE_DIR (the repository root) must be defined by the build"
#endif

namespace ssmsim::sim {

namespace fs = std::filesystem;

namespace {

// A path of the spec: as given when it exists (relative to the current folder), else relative to
// the repository root; `dir` completes a preset name ("w8a8_state8" -> configs/precision/w8a8_state8.yaml), from
// the current folder first, then from the repository root.
fs::path resolve(const std::string& given, const std::string& key, const char* dir = nullptr) {
  std::vector<fs::path> tries = {given, fs::path(SSMSIM_SOURCE_DIR) / given};
  if (dir && fs::path(given).extension().empty() && given.find('/') == std::string::npos) {
    tries.push_back(fs::path(dir) / (given + ".yaml"));
    tries.push_back(fs::path(SSMSIM_SOURCE_DIR) / dir / (given + ".yaml"));
  }
  for (const auto& p : tries)
    if (fs::exists(p)) {
      // a folder, FIFO or device would fail (or block) in the child that reads it
      if (!fs::is_regular_file(p)) throw ConfigError(key, given, "not a regular file: " + p.string());
      return p;
    }
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

void check_keys(const YAML::Node& n, const std::string& key, const std::vector<std::string>& allowed) {
  if (!n.IsMap()) throw ConfigError(key, yaml_text(n), "expected a map");
  for (const auto& kv : n) {
    const std::string k = yaml_text(kv.first);
    if (std::find(allowed.begin(), allowed.end(), k) == allowed.end())
      throw ConfigError(key + "." + k, yaml_text(kv.second), "unknown key; allowed: " + keys::join(allowed));
  }
}

// "activations" is the activation components together (the component table's rows of that kind).
std::vector<std::string> components_of(const std::string& name, const std::string& key) {
  if (name == "activations") {
    std::vector<std::string> out;
    for (const quant::Component c : quant::all_components())
      if (quant::component_kind(c) == quant::ComponentKind::Activation) out.push_back(quant::component_name(c));
    return out;
  }
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

// A section file with `--set` overrides, read exactly as the child command will read it (the same
// config, file reader and key tables), so that a bad file or value fails here, before any work.
void check_section(const std::string& section, const fs::path& file, const std::vector<std::string>& sets,
                   const std::string& key) {
  try {
    Config c = make_config();
    c.load_section(section, file);
    for (const auto& s : sets) c.set(s);
    c.resolve();
  } catch (const InputError& e) {
    throw ConfigError(key, file.string(), e.what());
  }
}

void check_precision(const PrecisionVariant& v, const std::string& key) {
  std::vector<std::string> sets;
  for (const auto& [c, b] : v.overrides) sets.push_back(fmt::format("precision.components.{}.bits={}", c, b));
  check_section("precision", v.file, sets, key);
}

void check_hw(const HwVariant& v, const std::string& key) {
  std::vector<std::string> sets;
  for (const auto& [k, val] : v.overrides) sets.push_back("hw." + k + "=" + val);
  check_section("hw", v.file, sets, key);
}

std::string stem(const fs::path& p) { return p.stem().string(); }

// Validates `key=value` as the qat command reads its --set (the same config and key tables), so a
// bad value fails here, before any work, instead of in a child.
void check_set(const std::string& key, const std::string& value, const std::string& spec_key) {
  try {
    Config c = make_config();
    c.set(key + "=" + value);
    c.resolve();
  } catch (const InputError& e) {
    throw ConfigError(spec_key, value, e.what());
  }
}

// The workload by name, as every command checks it (the data itself is loaded by the children).
void check_workload(const std::string& name, const std::string& key) {
  const auto names = workloads::workload_names();
  if (std::find(names.begin(), names.end(), name) == names.end())
    throw ConfigError(key, name, "unknown workload; allowed: " + keys::join(names));
}

// The float checkpoint the points quantize, read whole as quantize and qat read it.
fs::path checked_checkpoint(const YAML::Node& v, const std::string& key) {
  if (!v.IsScalar()) throw ConfigError(key, yaml_text(v), "expected a path to a float checkpoint");
  const fs::path p = resolve(v.Scalar(), key);
  try {
    core::load_checkpoint(p);
  } catch (const InputError& e) {
    throw ConfigError(key, v.Scalar(), e.what());
  }
  return p;
}

}  // namespace

namespace {

// The spec's keys (docs/sweeps.md), each spelled once: in the key tables below (quant/keys.hpp),
// whose custom entries read the axes' lists and grids. A key whose help starts with "required"
// must be present (require()); the help is the message.

// The keys of every level are checked first, so the message is "unknown key; allowed: ..." at
// every level of the spec; then the level's table reads them.
template <typename S>
void read_level(const keys::Table<S>& table, const YAML::Node& n, const std::string& k, S& into) {
  check_keys(n, k, table.names());
  for (const auto& d : table.docs(k))
    if (d.help.rfind("required", 0) == 0 && !n[d.key.substr(k.size() + 1)]) throw ConfigError(d.key, "", d.help);
  table.read(n, k, into);
}

std::string path_text(const YAML::Node& v, const std::string& k) {
  if (!v.IsScalar()) throw ConfigError(k, yaml_text(v), "expected a path or a preset name");
  return v.Scalar();
}

struct LimitKeys {
  size_t limit = 0;
};

const keys::Table<LimitKeys>& eval_keys() {
  static const auto t = keys::Table<LimitKeys>("eval").integer(
      "limit", &LimitKeys::limit, 0, 1000000000, "sequences", "accuracy on the first N test sequences (0: all)");
  return t;
}

const keys::Table<LimitKeys>& simulate_keys() {
  static const auto t = keys::Table<LimitKeys>("simulate").integer(
      "limit", &LimitKeys::limit, 1, 1000000000, "sequences", "sequences the accelerator runs per point");
  return t;
}

struct QatKeys {
  size_t epochs = 1, train_size = 0, val_size = 0;
  std::map<std::string, std::string> set;
};

const keys::Table<QatKeys>& qat_keys() {
  static const auto t =
      keys::Table<QatKeys>("qat")
          .integer("epochs", &QatKeys::epochs, 1, 100000, "epochs", "QAT epochs of the QAT points")
          .integer("train_size", &QatKeys::train_size, 0, 1000000000, "sequences",
                   "training sequences of the QAT points (data.train_size; 0: all)")
          .integer("val_size", &QatKeys::val_size, 0, 1000000000, "sequences",
                   "their validation sequences (data.val_size; 0: all)")
          .custom("set", "a map of train.* keys", "train.* keys of the QAT points",
                  [](QatKeys& q, const YAML::Node& v, const std::string& k) {
                    if (!v.IsMap()) throw ConfigError(k, yaml_text(v), "expected a map of train.* keys");
                    for (const auto& kv : v) {
                      const std::string key = kv.first.Scalar();
                      if (!kv.first.IsScalar() || key.rfind("train.", 0) != 0 || key.size() == 6)
                        throw ConfigError(k + "." + yaml_text(kv.first), yaml_text(kv.second),
                                          "expected a train.* key, e.g. train.lr");
                      if (!kv.second.IsScalar())
                        throw ConfigError(k + "." + key, yaml_text(kv.second), "expected a plain value");
                      check_set(key, kv.second.Scalar(), k + "." + key);
                      q.set[key] = kv.second.Scalar();
                    }
                  });
  return t;
}

// A sensitivity study: one component at a time at each width, the rest as the base config.
struct SensitivityKeys {
  fs::path base;
  std::vector<std::string> components, bits;
};

const keys::Table<SensitivityKeys>& sensitivity_keys() {
  using S = SensitivityKeys;
  static const auto t =
      keys::Table<S>("sensitivity")
          .custom("base", "a path or a preset name", "required: the precision config the other components keep",
                  [](S& s, const YAML::Node& v, const std::string& k) {
                    s.base = resolve(path_text(v, k), k, "configs/precision");
                  })
          .custom("components", "a list of components", "required: the components (activations = ssm_in, ssm_out, act)",
                  [](S& s, const YAML::Node& v, const std::string& k) {
                    s.components = scalars(v, k);
                    for (const auto& c : s.components) components_of(c, k);
                  })
          .custom("bits", "a list of widths", "required: the widths, each in [1, 32]",
                  [](S& s, const YAML::Node& v, const std::string& k) {
                    s.bits = scalars(v, k);
                    for (const auto& b : s.bits) bits_of(b, k);
                  });
  return t;
}

// A grid of per-component widths: every combination.
struct PrecisionGridKeys {
  fs::path base;
  std::vector<std::pair<std::string, std::vector<int>>> axes;  // component -> widths, in order
};

const keys::Table<PrecisionGridKeys>& precision_grid_keys() {
  using G = PrecisionGridKeys;
  static const auto t =
      keys::Table<G>("grid")
          .custom("base", "a path or a preset name", "required: the precision config the grid starts from",
                  [](G& g, const YAML::Node& v, const std::string& k) {
                    g.base = resolve(path_text(v, k), k, "configs/precision");
                  })
          .custom("components", "a map: component -> list of widths", "required: the components and their widths",
                  [](G& g, const YAML::Node& v, const std::string& k) {
                    if (!v.IsMap() || v.size() == 0)
                      throw ConfigError(k, "", "expected a non-empty map: component -> list of widths");
                    for (const auto& kv : v) {
                      const std::string c = kv.first.as<std::string>();
                      components_of(c, k);
                      std::vector<int> widths;
                      for (const auto& b : scalars(kv.second, k + "." + c)) widths.push_back(bits_of(b, k + "." + c));
                      g.axes.emplace_back(c, widths);
                    }
                  });
  return t;
}

// The precision axis by kind; its points are models, files, sensitivity, grid in that order,
// whatever the order of the keys in the file.
struct PrecisionAxis {
  std::vector<PrecisionVariant> models, files, sensitivity, grid;
};

const keys::Table<PrecisionAxis>& precision_axis_keys() {
  using A = PrecisionAxis;
  static const auto t =
      keys::Table<A>("precision")
          .custom("models", "a list of quantized models", "quantized models used as they are (method given)",
                  [](A& a, const YAML::Node& v, const std::string& k) {
                    for (const auto& f : scalars(v, k)) {
                      const fs::path p = resolve(f, k);
                      bool quantized = false;
                      try {
                        quantized = core::is_qmodel_file(p);
                        if (quantized) core::load_qmodel(p);  // read whole, as eval and simulate read it
                      } catch (const InputError& e) {
                        throw ConfigError(k, f, e.what());
                      }
                      if (!quantized)
                        throw ConfigError(k, f, "not a quantized model (make one with ssmsim quantize or qat)");
                      a.models.push_back({stem(f), {}, {}, p});
                    }
                  })
          .custom("files", "a list of paths or preset names", "precision configs",
                  [](A& a, const YAML::Node& v, const std::string& k) {
                    for (const auto& f : scalars(v, k)) a.files.push_back({stem(f), resolve(f, k, "configs/precision"), {}});
                  })
          .custom("sensitivity", "a map of sensitivity keys: base, components, bits", "one component at a time",
                  [](A& a, const YAML::Node& v, const std::string& k) {
                    SensitivityKeys sk;
                    read_level(sensitivity_keys(), v, k, sk);
                    for (const auto& c : sk.components)
                      for (const auto& b : sk.bits) {
                        PrecisionVariant pv{stem(sk.base) + " " + c + "=" + b, sk.base, {}};
                        for (const auto& cc : components_of(c, k)) pv.overrides[cc] = bits_of(b, k);
                        a.sensitivity.push_back(pv);
                      }
                  })
          .custom("grid", "a map of grid keys: base, components", "every combination of per-component widths",
                  [](A& a, const YAML::Node& v, const std::string& k) {
                    PrecisionGridKeys gk;
                    read_level(precision_grid_keys(), v, k, gk);
                    for (const auto& combo : product(gk.axes)) {
                      PrecisionVariant pv{stem(gk.base), gk.base, {}};
                      for (const auto& [c, b] : combo) {
                        pv.label += " " + c + "=" + std::to_string(b);
                        for (const auto& cc : components_of(c, k)) pv.overrides[cc] = b;
                      }
                      a.grid.push_back(pv);
                    }
                  });
  return t;
}

// A grid of hardware keys: every combination.
struct HwGridKeys {
  fs::path base;
  std::vector<std::pair<std::string, std::vector<std::string>>> axes;  // hw key -> values, in order
};

const keys::Table<HwGridKeys>& hw_grid_keys() {
  using G = HwGridKeys;
  static const auto t =
      keys::Table<G>("grid")
          .custom("base", "a path or a preset name", "required: the hardware config the grid starts from",
                  [](G& g, const YAML::Node& v, const std::string& k) {
                    g.base = resolve(path_text(v, k), k, "configs/hw");
                  })
          .custom("keys", "a map: hw key -> list of values",
                  "required: hw keys (e.g. cmac_lanes, state_mem.banks) and their values",
                  [](G& g, const YAML::Node& v, const std::string& k) {
                    if (!v.IsMap() || v.size() == 0)
                      throw ConfigError(k, "", "expected a non-empty map: hw key (e.g. cmac_lanes, state_mem.banks) -> "
                                        "list of values");
                    for (const auto& kv : v)
                      g.axes.emplace_back(kv.first.as<std::string>(), scalars(kv.second, k + "." + kv.first.as<std::string>()));
                  });
  return t;
}

// The hardware axis: files, then the grid's combinations.
struct HwAxis {
  std::vector<HwVariant> files, grid;
};

const keys::Table<HwAxis>& hw_axis_keys() {
  using A = HwAxis;
  static const auto t =
      keys::Table<A>("hw")
          .custom("files", "a list of paths or preset names", "hardware configs",
                  [](A& a, const YAML::Node& v, const std::string& k) {
                    for (const auto& f : scalars(v, k)) a.files.push_back({stem(f), resolve(f, k, "configs/hw"), {}});
                  })
          .custom("grid", "a map of grid keys: base, keys", "every combination of hardware key values",
                  [](A& a, const YAML::Node& v, const std::string& k) {
                    HwGridKeys gk;
                    read_level(hw_grid_keys(), v, k, gk);
                    for (const auto& combo : product(gk.axes)) {
                      HwVariant hv{stem(gk.base), gk.base, {}};
                      for (const auto& [hk, val] : combo) {
                        hv.label += " " + hk + "=" + val;
                        hv.overrides[hk] = val;
                      }
                      a.grid.push_back(hv);
                    }
                  });
  return t;
}

const keys::Table<SweepSpec>& spec_keys() {
  using S = SweepSpec;
  static const auto t =
      keys::Table<S>("spec")
          .text("name", &S::name, "the sweep's name (default: the spec file's stem)")
          .text("description", &S::description, "what the sweep is for")
          .custom("checkpoint", "a path", "required: the float checkpoint the points quantize",
                  [](S& s, const YAML::Node& v, const std::string& k) { s.checkpoint = checked_checkpoint(v, k); })
          .text("workload", &S::workload, "required: the workload the points are evaluated on")
          .custom("eval", "a map of eval keys: limit", "accuracy",
                  [](S& s, const YAML::Node& v, const std::string& k) {
                    LimitKeys l{s.eval_limit};
                    read_level(eval_keys(), v, k, l);
                    s.eval_limit = l.limit;
                  })
          .custom("simulate", "a map of simulate keys: limit", "cost and bit_exact",
                  [](S& s, const YAML::Node& v, const std::string& k) {
                    LimitKeys l{s.simulate_limit};
                    read_level(simulate_keys(), v, k, l);
                    s.simulate_limit = l.limit;
                  })
          .integer("calib", &S::calib, 1, 10000000, "sequences", "PTQ calibration sequences")
          .custom("qat", "a map of qat keys: epochs, train_size, val_size, set", "the QAT points' recipe",
                  [](S& s, const YAML::Node& v, const std::string& k) {
                    QatKeys q{s.qat_epochs, s.qat_train_size, s.qat_val_size, s.qat_set};
                    read_level(qat_keys(), v, k, q);
                    s.qat_epochs = q.epochs;
                    s.qat_train_size = q.train_size;
                    s.qat_val_size = q.val_size;
                    s.qat_set = q.set;
                  })
          .custom("precision", "a map of precision keys: models, files, sensitivity, grid",
                  "required: files, sensitivity and/or grid",
                  [](S& s, const YAML::Node& v, const std::string& k) {
                    PrecisionAxis a;
                    read_level(precision_axis_keys(), v, k, a);
                    for (auto* part : {&a.models, &a.files, &a.sensitivity, &a.grid})
                      s.precisions.insert(s.precisions.end(), part->begin(), part->end());
                    if (s.precisions.empty())
                      throw ConfigError(k, yaml_text(v), "no precision point: give files, sensitivity or grid");
                    for (const auto& pv : s.precisions)
                      if (pv.model.empty()) check_precision(pv, k + " (" + pv.label + ")");
                  })
          .custom("hw", "a map of hw keys: files, grid", "required: files and/or grid",
                  [](S& s, const YAML::Node& v, const std::string& k) {
                    HwAxis a;
                    read_level(hw_axis_keys(), v, k, a);
                    for (auto* part : {&a.files, &a.grid}) s.hws.insert(s.hws.end(), part->begin(), part->end());
                    if (s.hws.empty()) throw ConfigError(k, yaml_text(v), "no hardware point: give files or grid");
                    for (const auto& hv : s.hws) check_hw(hv, k + " (" + hv.label + ")");
                  })
          .custom("method", "ptq, qat, or a list of both", "the quantization method (default ptq)",
                  [](S& s, const YAML::Node& v, const std::string& k) {
                    s.methods = v.IsSequence() ? scalars(v, k) : std::vector<std::string>{v.Scalar()};
                    for (const auto& m : s.methods)
                      if (m != "ptq" && m != "qat") throw ConfigError(k, m, "allowed: ptq, qat");
                  });
  return t;
}

}  // namespace

SweepSpec SweepSpec::load(const fs::path& path) {
  if (!fs::exists(path)) throw InputError("sweep: no spec file " + path.string() + " (configs/sweeps/ has examples)");
  if (!fs::is_regular_file(path)) throw InputError("sweep: --spec " + path.string() + " is not a regular file");
  SweepSpec s;
  s.methods = {"ptq"};
  s.text = read_config_text(path, "sweep spec");
  try {
    read_level(spec_keys(), parse_config_yaml(s.text, path.string(), "sweep spec"), "spec", s);
    check_workload(s.workload, "spec.workload");
  } catch (const ConfigError& e) {  // the key is named; name the file too
    if (std::string(e.what()).find(path.string()) != std::string::npos) throw;
    throw InputError(std::string(e.what()) + " (in sweep spec " + path.string() + ")");
  }
  if (s.name.empty()) s.name = stem(path);
  return s;
}

std::string SweepPoint::label() const { return precision->label + " / " + hw->label + " / " + method; }

namespace {

// The SHA-256 of a file's bytes: a point's key covers the contents of the files its results come
// from, so a replaced checkpoint or model is evaluated again, never answered from an old record.
std::string file_sha256(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw InputError("sweep: cannot read " + path.string() + "; check that it exists and is readable");
  std::ostringstream bytes;
  bytes << f.rdbuf();
  return workloads::sha256_hex(bytes.str());
}

}  // namespace

std::vector<SweepPoint> expand(const SweepSpec& spec) {
  std::vector<SweepPoint> out;
  const std::string checkpoint_sha = file_sha256(spec.checkpoint);
  const std::vector<std::string> given = {"given"};
  for (const auto& p : spec.precisions) {
    const std::string model_sha = p.model.empty() ? "" : file_sha256(p.model);  // read once per model
    for (const auto& h : spec.hws)
      for (const auto& m : p.model.empty() ? spec.methods : given) {
        SweepPoint pt;
        pt.precision = &p;
        pt.hw = &h;
        pt.method = m;
        pt.index = out.size();
        // the settings that decide the point's results (names as given: stable across machines)
        nlohmann::json model = {{"checkpoint", spec.checkpoint.filename().string()},
                                {"checkpoint_sha256", checkpoint_sha},
                                {"workload", spec.workload},
                                {"precision", p.file.filename().string()},
                                {"precision_overrides", p.overrides},
                                {"method", m},
                                {"calib", spec.calib}};
        if (!p.model.empty())
          model = {{"model", p.model.filename().string()}, {"model_sha256", model_sha}, {"workload", spec.workload}};
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
  }
  return out;
}

}  // namespace ssmsim::sim
