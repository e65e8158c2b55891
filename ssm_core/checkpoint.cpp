#include "ssm_core/checkpoint.hpp"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdio>
#include <set>
#include <sstream>

#include "quant/errors.hpp"
#include "ssm_core/safetensors.hpp"

namespace ssmsim::core {

namespace {

constexpr const char* kFloatFormat = "ssmsim.float";
constexpr const char* kStateFormat = "ssmsim.train_state";

std::string num(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

ModelConfig model_from_metadata(const SafeTensors& st) {
  try {
    return ModelConfig::read_metadata(st.metadata);
  } catch (const InputError& e) {
    throw InputError(st.source + ": " + e.what());
  }
}

// A 2-d F32 tensor transposed (flax Dense kernels are [in, out], nn.Linear weights [out, in]).
Tensor transposed(const Tensor& t, const std::string& name, const std::string& source) {
  if (t.shape.size() != 2 || t.dtype != DType::F32)
    throw InputError(source + ": flax tensor '" + name + "' should be a 2-d F32 kernel, is " +
                     dtype_name(t.dtype) + " " + shape_string(t.shape));
  const auto rows = static_cast<size_t>(t.shape[0]), cols = static_cast<size_t>(t.shape[1]);
  const auto v = t.as<float>();
  std::vector<float> out(v.size());
  for (size_t r = 0; r < rows; ++r)
    for (size_t c = 0; c < cols; ++c) out[c * rows + r] = v[r * cols + c];
  return Tensor::from<float>({t.shape[1], t.shape[0]}, out);
}

// The lindermanlab S5 (flax) names, as flax.traverse_util.flatten_dict(..., sep=".") spells them,
// mapped to ssmsim's (ssm_core/model.hpp): encoder.encoder.* -> encoder.*,
// encoder.layers_<i>.* -> layers.<i>.*, Dense kernel -> weight (transposed), LayerNorm/BatchNorm
// scale -> weight, batch_stats ... norm.{mean,var} -> norm.{running_mean,running_var}. A leading
// "params." is dropped. Files without flax names pass unchanged.
void translate_flax_names(SafeTensors& st) {
  auto strip = [](std::string n) { return n.rfind("params.", 0) == 0 ? n.substr(7) : n; };
  bool flax = false;
  for (const auto& kv : st.tensors) flax |= strip(kv.first) == "encoder.encoder.kernel";
  if (!flax) return;
  std::map<std::string, Tensor> out;
  for (const auto& [raw, t] : st.tensors) {
    std::string n = strip(raw);
    const bool stats = n.rfind("batch_stats.", 0) == 0;
    if (stats) n = n.substr(12);
    bool kernel = false;
    if (n.rfind("encoder.encoder.", 0) == 0) {
      n = "encoder." + n.substr(16);
    } else if (n.rfind("encoder.layers_", 0) == 0) {
      const size_t dot = n.find('.', 15);
      n = "layers." + n.substr(15, dot - 15) + n.substr(dot);
    } else if (n.rfind("decoder.", 0) != 0) {
      throw InputError(st.source + ": unexpected tensor '" + raw + "' in a flax (lindermanlab S5) export; "
                       "expected encoder.encoder.*, encoder.layers_<i>.*, decoder.* and batch_stats.*");
    }
    auto ends = [&](const std::string& suffix) {
      return n.size() >= suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    auto replace_end = [&](const std::string& from, const std::string& to) {
      n = n.substr(0, n.size() - from.size()) + to;
    };
    if (stats && ends(".mean")) replace_end(".mean", ".running_mean");
    else if (stats && ends(".var")) replace_end(".var", ".running_var");
    else if (ends(".scale")) replace_end(".scale", ".weight");
    else if (ends(".kernel")) {
      replace_end(".kernel", ".weight");
      kernel = true;
    }
    out[n] = kernel ? transposed(t, raw, st.source) : t;
  }
  st.tensors = std::move(out);
}

// A float checkpoint's weights must be finite: a NaN or infinity would run silently through every
// later stage (eval printed "loss nan" and exited 0).
void check_finite(const std::vector<float>& v, const std::string& name, const std::string& source) {
  for (size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i]))
      throw InputError(source + ": tensor '" + name + "' holds " + (std::isnan(v[i]) ? "NaN" : "an infinity") +
                       " at element " + std::to_string(i) + "; a checkpoint's weights must be finite");
}

Tensor flat(const std::vector<float>& v) { return Tensor::from<float>({static_cast<int64_t>(v.size())}, v); }

}  // namespace

void save_checkpoint(const std::filesystem::path& path, const Model& model,
                     const std::vector<float>& params,
                     const std::map<std::string, std::string>& extra) {
  SafeTensors st;
  for (const auto& info : model.layout().params())
    st.tensors[info.name] = Tensor::from<float>(
        info.shape, std::vector<float>(params.begin() + static_cast<long>(info.offset),
                                       params.begin() + static_cast<long>(info.offset + info.size)));
  st.metadata = extra;
  st.metadata["format"] = kFloatFormat;
  model.config().write_metadata(st.metadata);
  write_safetensors(path, st);
}

FloatCheckpoint load_checkpoint(const std::filesystem::path& path) {
  SafeTensors st = read_safetensors(path);
  translate_flax_names(st);
  const auto fmt = st.metadata.find("format");
  // other tools' tags (e.g. "pt" from Hugging Face exports) are fine; another ssmsim kind is not
  if (fmt != st.metadata.end() && fmt->second.rfind("ssmsim.", 0) == 0 && fmt->second != kFloatFormat)
    throw InputError(path.string() + ": this is a '" + fmt->second +
                     "' file, not a float checkpoint (ssmsim.float); give the float checkpoint made by "
                     "`ssmsim train`, or an exported model with model.* metadata");
  FloatCheckpoint ck;
  ck.config = model_from_metadata(st);
  ck.metadata = st.metadata;
  const Model model(ck.config);
  ck.params.assign(model.layout().total(), 0.f);
  std::set<std::string> expected;
  for (const auto& info : model.layout().params()) expected.insert(info.name);
  for (const auto& kv : st.tensors)
    if (!expected.count(kv.first))
      throw InputError(path.string() + ": tensor '" + kv.first + "' is not a parameter of the model its metadata " +
                       "describes (" + std::to_string(expected.size()) + " parameters, e.g. '" +
                       *expected.begin() + "'); a checkpoint of another model or architecture?");
  for (const auto& info : model.layout().params()) {
    // the reference stores Conv1d weights as [O, I, 1] and Linear as [O, I]: accept both
    std::vector<int64_t> shape = info.shape;
    const Tensor* t = nullptr;
    if (st.contains(info.name) && shape.size() == 3 && st.tensors.at(info.name).shape.size() == 2)
      shape.pop_back();
    t = &st.get(info.name, DType::F32, shape);
    const auto v = t->as<float>();
    check_finite(v, info.name, path.string());
    std::copy(v.begin(), v.end(), ck.params.begin() + static_cast<long>(info.offset));
  }
  return ck;
}

// An extra optimiser group's tensors are "<group>.params" and so on; its names are listed in the
// metadata key "groups" (comma-separated), the saver's own keys under "run.".
constexpr const char* kGroupTensors[] = {"params", "adam_m", "adam_v"};

void save_train_state(const std::filesystem::path& path, const Model& model, const TrainState& s,
                      const std::map<std::string, TrainState>& groups,
                      const std::map<std::string, std::string>& metadata) {
  SafeTensors st;
  std::string names;
  for (const auto& [name, g] : groups) {
    const std::vector<float>* parts[] = {&g.params, &g.adam_m, &g.adam_v};
    for (size_t k = 0; k < 3; ++k) st.tensors[name + "." + kGroupTensors[k]] = flat(*parts[k]);
    names += (names.empty() ? "" : ",") + name;
  }
  if (!names.empty()) st.metadata["groups"] = names;
  for (const auto& [k, v] : metadata) st.metadata["run." + k] = v;
  st.tensors["params"] = flat(s.params);
  st.tensors["adam_m"] = flat(s.adam_m);
  st.tensors["adam_v"] = flat(s.adam_v);
  if (!s.best_params.empty()) st.tensors["best_params"] = flat(s.best_params);  // none in epoch 1
  st.metadata["format"] = kStateFormat;
  st.metadata["epochs_done"] = std::to_string(s.epochs_done);
  st.metadata["step"] = std::to_string(s.step);
  st.metadata["epoch_step"] = std::to_string(s.epoch_step);
  st.metadata["epoch_seen"] = std::to_string(s.epoch_seen);
  st.metadata["epoch_correct"] = std::to_string(s.epoch_correct);
  st.metadata["epoch_loss"] = num(s.epoch_loss);
  st.metadata["best_val_accuracy"] = num(s.best_val_accuracy);
  st.metadata["best_val_loss"] = num(s.best_val_loss);
  model.config().write_metadata(st.metadata);
  write_safetensors(path, st);
}

TrainState load_train_state(const std::filesystem::path& path, const Model& model,
                            std::map<std::string, TrainState>* groups, std::map<std::string, std::string>* metadata) {
  const SafeTensors st = read_safetensors(path);
  if (st.meta("format") != kStateFormat)
    throw InputError(path.string() + ": not an ssmsim training-state file");
  if (YAML::Dump(model_from_metadata(st).to_yaml()) != YAML::Dump(model.config().to_yaml()))
    throw InputError(path.string() + ": the training state belongs to a different model configuration; "
                     "resume with the same --model, or start without --resume");
  const auto P = static_cast<int64_t>(model.layout().total());
  TrainState s;
  s.params = st.get("params", DType::F32, {P}).as<float>();
  check_finite(s.params, "params", path.string());
  // The moments are what the run computed: a squared gradient past the float range makes a second
  // moment infinite (that parameter's update is then 0), and a resumed run must continue from it.
  s.adam_m = st.get("adam_m", DType::F32, {P}).as<float>();
  s.adam_v = st.get("adam_v", DType::F32, {P}).as<float>();
  if (st.tensors.count("best_params")) s.best_params = st.get("best_params", DType::F32, {P}).as<float>();
  try {
    s.epochs_done = std::stoull(st.meta("epochs_done"));
    s.step = std::stoull(st.meta("step"));
    s.best_val_accuracy = std::stod(st.meta("best_val_accuracy"));
    s.best_val_loss = std::stod(st.meta("best_val_loss"));
    s.epoch_step = std::stoull(st.meta("epoch_step"));
    s.epoch_seen = std::stoull(st.meta("epoch_seen"));
    s.epoch_correct = std::stoull(st.meta("epoch_correct"));
    s.epoch_loss = std::stod(st.meta("epoch_loss"));
  } catch (const std::logic_error&) {
    throw InputError(path.string() + ": malformed progress metadata");
  }
  if (metadata)
    for (const auto& [k, v] : st.metadata)
      if (k.rfind("run.", 0) == 0) (*metadata)[k.substr(4)] = v;
  if (groups && st.metadata.count("groups")) {
    std::stringstream names(st.meta("groups"));
    for (std::string name; std::getline(names, name, ',');) {
      TrainState& g = (*groups)[name];
      std::vector<float>* parts[] = {&g.params, &g.adam_m, &g.adam_v};
      for (size_t k = 0; k < 3; ++k) {
        const std::string t = name + "." + kGroupTensors[k];
        if (!st.tensors.count(t)) throw InputError(path.string() + ": optimiser group tensor '" + t + "' is missing");
        const Tensor& x = st.tensors.at(t);
        *parts[k] = st.get(t, DType::F32, {x.shape.empty() ? 0 : x.shape[0]}).as<float>();
        if (k == 0) check_finite(*parts[k], t, path.string());
      }
    }
  }
  return s;
}

}  // namespace ssmsim::core
