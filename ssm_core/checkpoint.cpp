#include "ssm_core/checkpoint.hpp"

#include <yaml-cpp/yaml.h>

#include <cstdio>

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

void put_model_metadata(SafeTensors& st, const Model& model) {
  for (const auto& kv : model.config().to_yaml())
    st.metadata["model." + kv.first.as<std::string>()] = kv.second.as<std::string>();
}

ModelConfig model_from_metadata(const SafeTensors& st) {
  YAML::Node node(YAML::NodeType::Map);
  for (const auto& [k, v] : st.metadata)
    if (k.rfind("model.", 0) == 0) node[k.substr(6)] = YAML::Load(v);
  try {
    return ModelConfig::from_yaml(node, "__metadata__ model");
  } catch (const ConfigError& e) {
    throw InputError(st.source + ": " + e.what());
  }
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
  put_model_metadata(st, model);
  write_safetensors(path, st);
}

FloatCheckpoint load_checkpoint(const std::filesystem::path& path) {
  const SafeTensors st = read_safetensors(path);
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
  for (const auto& info : model.layout().params()) {
    // the reference stores Conv1d weights as [O, I, 1] and Linear as [O, I]: accept both
    std::vector<int64_t> shape = info.shape;
    const Tensor* t = nullptr;
    if (st.contains(info.name) && shape.size() == 3 && st.tensors.at(info.name).shape.size() == 2)
      shape.pop_back();
    t = &st.get(info.name, DType::F32, shape);
    const auto v = t->as<float>();
    std::copy(v.begin(), v.end(), ck.params.begin() + static_cast<long>(info.offset));
  }
  return ck;
}

void save_train_state(const std::filesystem::path& path, const Model& model, const TrainState& s) {
  SafeTensors st;
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
  put_model_metadata(st, model);
  write_safetensors(path, st);
}

TrainState load_train_state(const std::filesystem::path& path, const Model& model) {
  const SafeTensors st = read_safetensors(path);
  if (st.meta("format") != kStateFormat)
    throw InputError(path.string() + ": not an ssmsim training-state file");
  if (model_from_metadata(st).to_yaml().size() != model.config().to_yaml().size() ||
      YAML::Dump(model_from_metadata(st).to_yaml()) != YAML::Dump(model.config().to_yaml()))
    throw InputError(path.string() + ": the training state belongs to a different model configuration; "
                     "resume with the same --model, or start without --resume");
  const auto P = static_cast<int64_t>(model.layout().total());
  TrainState s;
  s.params = st.get("params", DType::F32, {P}).as<float>();
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
  return s;
}

}  // namespace ssmsim::core
