#include "ssm_core/qmodel.hpp"

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <set>

#include "quant/errors.hpp"
#include "quant/yaml_value.hpp"
#include "ssm_core/safetensors.hpp"

namespace ssmsim::core {

using quant::Format;
using quant::QuantParams;

namespace {

constexpr const char* kQFormat = "ssmsim.quantized";
// "saturated.<tensor>" = codes saturated when the tensor was quantized; written only when > 0.
constexpr const char* kSaturated = "saturated.";


nlohmann::json params_json(const std::vector<QuantParams>& ps) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& p : ps)
    a.push_back({{"format", p.format.to_string()},
                 {"zero_point", p.zero_point},
                 {"rounding", quant::to_string(p.rounding)},
                 {"overflow", quant::to_string(p.overflow)}});
  return a;
}

std::vector<QuantParams> params_from_json(const nlohmann::json& a) {
  if (!a.is_array() || a.empty()) throw InputError("quantizer parameters must be a non-empty JSON array");
  std::vector<QuantParams> out;
  for (const auto& e : a) {
    if (!e.is_object()) throw InputError("a quantizer entry is not a JSON object");
    for (const char* key : {"format", "zero_point", "rounding", "overflow"})
      if (!e.contains(key)) throw InputError(std::string("a quantizer entry has no '") + key + "'");
    QuantParams p;
    p.format = Format::parse(e.at("format").get<std::string>());
    p.zero_point = e.at("zero_point").get<int64_t>();
    p.rounding = quant::parse_rounding(e.at("rounding").get<std::string>());
    p.overflow = quant::parse_overflow(e.at("overflow").get<std::string>());
    out.push_back(p);
  }
  return out;
}

// ---- validation: a loaded model is checked against its own config before anything uses it ----

struct Expected {
  quant::Component component;
  std::vector<int64_t> shape;
};

// The tensors quantize_weights (ptq.cpp) writes for `mc`, with their components and shapes
// (docs/fixed_point.md 9.2): S4D A, B, C [H, N/2, 2]; S5 A [P2, 2], B [P2, H, 2], C [H, P2, 2]
// with P2 = P/2 under conjugate symmetry.
std::map<std::string, Expected> expected_tensors(const ModelConfig& mc) {
  using quant::Component;
  const auto H = static_cast<int64_t>(mc.H);
  std::map<std::string, Expected> e;
  e["encoder.weight"] = {Component::encoder, {H, static_cast<int64_t>(mc.d_input)}};
  e["encoder.bias"] = {Component::bias, {H}};
  for (size_t i = 0; i < mc.n_layers; ++i) {
    const std::string p = layer_name(i) + ".";
    if (mc.layer == LayerType::S5) {
      const auto P2 = static_cast<int64_t>(mc.conj_sym ? mc.P / 2 : mc.P);
      e[p + "A"] = {Component::A, {P2, 2}};
      e[p + "B"] = {Component::B, {P2, H, 2}};
      e[p + "C"] = {Component::C, {H, P2, 2}};
    } else {
      const auto N2 = static_cast<int64_t>(mc.N / 2);
      e[p + "A"] = {Component::A, {H, N2, 2}};
      e[p + "B"] = {Component::B, {H, N2, 2}};
      e[p + "C"] = {Component::C, {H, N2, 2}};
    }
    e[p + "D"] = {Component::D, {H}};
    if (mc.mixing != Mixing::Gelu) {
      const int64_t O = mc.mixing == Mixing::Glu ? 2 * H : H;
      e[p + "mix.weight"] = {Component::mixing, {O, H}};
      e[p + "mix.bias"] = {Component::bias, {O}};
    }
    if (mc.norm != Norm::None) {
      e[p + "norm.scale"] = {Component::norm, {H}};
      e[p + "norm.shift"] = {Component::norm, {H}};
    }
  }
  const auto C = static_cast<int64_t>(mc.d_output);
  e["decoder.weight"] = {Component::decoder, {C, H}};
  e["decoder.bias"] = {Component::bias, {C}};
  return e;
}

// The points the integer engine reads for `mc` (ptq.cpp add_chunk and calibrate_points): true =
// required, false = optional (the static state operand `xo`).
std::map<std::string, bool> expected_points(const ModelConfig& mc) {
  std::map<std::string, bool> e;
  e[point_name(PointId::input)] = true;
  e[point_name(PointId::encoder_out)] = true;
  e[point_name(PointId::gate)] = true;
  if (mc.pooling == Pooling::Mean) e[point_name(PointId::pool)] = true;
  for (size_t i = 0; i < mc.n_layers; ++i) {
    for (PointId id : {PointId::u, PointId::x, PointId::y, PointId::act, PointId::res}) e[point_name(id, i)] = true;
    e[point_name(PointId::xo, i)] = false;
    if (mc.mixing == Mixing::Glu) e[point_name(PointId::mix, i)] = true;
    if (mc.mixing != Mixing::Gelu) {
      e[point_name(PointId::mixg, i)] = true;
      e[point_name(PointId::g, i)] = true;
    }
    if (mc.norm_out()) e[point_name(PointId::out, i)] = true;
  }
  return e;
}

// A quantizer entry whose zero point is outside its format's codes cannot have coded anything.
void check_zero_point(const QuantParams& p, const std::string& who) {
  if (p.zero_point < p.format.min_raw() || p.zero_point > p.format.max_raw())
    throw InputError(who + ": zero point " + std::to_string(p.zero_point) + " is outside format " +
                     p.format.to_string() + " (codes " + std::to_string(p.format.min_raw()) + " to " +
                     std::to_string(p.format.max_raw()) + ")");
}

// Shape, component, quantizer count and every code of tensor `name` against the config.
void check_tensor(const std::string& name, const QTensor& t, const Expected& want) {
  const std::string who = "tensor '" + name + "'";
  if (t.component != want.component)
    throw InputError(who + " has component '" + quant::component_name(t.component) + "' but '" +
                     quant::component_name(want.component) + "' was expected");
  if (t.shape != want.shape)
    throw InputError(who + " has shape " + shape_string(t.shape) + " but the model config implies " +
                     shape_string(want.shape));
  if (t.separate_parts && (t.shape.empty() || t.shape.back() != 2))
    throw InputError(who + ": parts 'separate' needs a complex tensor (last dimension 2)");
  const size_t per = t.separate_parts ? 2 : 1;
  if (t.params.size() != per && t.params.size() != per * t.channels())
    throw InputError(who + ": " + std::to_string(t.params.size()) + " quantizer entries for " +
                     std::to_string(t.channels()) + " channels" + (per == 2 ? " with separate parts" : "") +
                     "; expected " + std::to_string(per) + " or " + std::to_string(per * t.channels()));
  for (size_t k = 0; k < t.params.size(); ++k)
    check_zero_point(t.params[k], who + " quantizer entry " + std::to_string(k));
  for (size_t i = 0; i < t.q.size(); ++i) {
    const QuantParams& p = t.params[t.param_index(i)];
    if (t.q[i] < p.format.min_raw() || t.q[i] > p.format.max_raw())
      throw InputError(who + ": code " + std::to_string(t.q[i]) + " at element " + std::to_string(i) +
                       " is outside format " + p.format.to_string() + " (codes " +
                       std::to_string(p.format.min_raw()) + " to " + std::to_string(p.format.max_raw()) + ")");
  }
  if (t.separate_parts) try {  // each channel's two part scales a power of two apart
      for (size_t i = 0; i < t.q.size(); ++i) (void)t.part_shift(i);
    } catch (const InputError& e) {
      throw InputError(who + ": " + e.what());
    }
}

// Every tensor and point the config implies is present and well-formed, and nothing else is.
void validate_qmodel(const QModel& m) {
  const auto want = expected_tensors(m.config);
  for (const auto& [name, t] : m.tensors) {
    const auto it = want.find(name);
    if (it == want.end())
      throw InputError("tensor '" + name + "' is not a tensor of this model (" + std::to_string(want.size()) +
                       " expected, e.g. '" + want.begin()->first + "')");
    check_tensor(name, t, it->second);
  }
  for (const auto& [name, e] : want)
    if (!m.tensors.count(name)) throw InputError("tensor '" + name + "' is missing (the model config implies it)");
  const auto points = expected_points(m.config);
  for (const auto& [name, ps] : m.points) {
    const std::string who = "'point." + name + "'";
    if (!points.count(name)) throw InputError(who + " is not a point of this model");
    if (ps.size() != 1)
      throw InputError(who + " holds " + std::to_string(ps.size()) + " quantizer entries; expected exactly 1");
    check_zero_point(ps[0], who);
  }
  for (const auto& [name, required] : points)
    if (required && !m.points.count(name))
      throw InputError("'point." + name + "' is missing (the model config implies it)");
}

// The metadata value for `key`; InputError "missing" (load_qmodel's message names the key).
const std::string& meta_at(const SafeTensors& st, const std::string& key) {
  const auto it = st.metadata.find(key);
  if (it == st.metadata.end()) throw InputError("missing");
  return it->second;
}

// A metadata value parsed as JSON (load_qmodel's message names the key).
nlohmann::json json_at(const std::string& text) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(std::string("not valid JSON: ") + e.what());
  }
}

}  // namespace

void save_qmodel(const std::filesystem::path& path, const QModel& m) {
  SafeTensors st;
  for (const auto& [name, t] : m.tensors) {
    int bits = 0;  // as a signed container: an unsigned (zero-point) code needs one bit more
    for (const auto& p : t.params) bits = std::max(bits, p.format.width + (p.format.is_signed ? 0 : 1));
    if (bits <= 8) {
      st.tensors[name] = Tensor::from<int8_t>(t.shape, std::vector<int8_t>(t.q.begin(), t.q.end()));
    } else if (bits <= 16) {
      st.tensors[name] = Tensor::from<int16_t>(t.shape, std::vector<int16_t>(t.q.begin(), t.q.end()));
    } else {
      st.tensors[name] = Tensor::from<int32_t>(t.shape, t.q);
    }
    nlohmann::json j = {{"component", quant::component_name(t.component)}, {"params", params_json(t.params)}};
    if (t.separate_parts) j["parts"] = "separate";  // params: two per channel (re, im)
    st.metadata["q." + name] = j.dump();
    if (t.saturated) st.metadata[kSaturated + name] = std::to_string(t.saturated);
  }
  for (const auto& [name, ps] : m.points) st.metadata["point." + name] = params_json(ps).dump();
  m.config.write_metadata(st.metadata);
  st.metadata["precision"] = m.precision.to_yaml_string();
  st.metadata["gelu"] = m.gelu == QGelu::Lut ? "lut" : "hard";
  for (const auto& [k, v] : m.metadata) st.metadata[k] = v;
  st.metadata["format"] = kQFormat;
  write_safetensors(path, st);
}

bool is_qmodel_file(const std::filesystem::path& path) {
  const SafeTensors st = read_safetensors(path);
  const auto it = st.metadata.find("format");
  return it != st.metadata.end() && it->second == kQFormat;
}

QModel load_qmodel(const std::filesystem::path& path) {
  const SafeTensors st = read_safetensors(path);
  const auto fmt = st.metadata.find("format");
  if (fmt == st.metadata.end() || fmt->second != kQFormat)
    throw InputError(path.string() + ": not a quantized model (format " +
                     (fmt == st.metadata.end() ? "missing" : "'" + fmt->second + "'") +
                     "); make one with `ssmsim quantize --ckpt F --precision P.yaml --out Q`");
  QModel m;
  std::string key;  // the metadata key being read, for the error message
  try {
    m.config = ModelConfig::read_metadata(st.metadata, &key);
    key = "precision";
    m.precision = quant::PrecisionConfig::from_yaml(
        parse_config_yaml(meta_at(st, key), "__metadata__ precision", "precision metadata"), "__metadata__ precision");
    key = "gelu";
    const std::string& gelu = meta_at(st, key);
    if (gelu != "lut" && gelu != "hard") throw InputError("'" + gelu + "' is not a GELU; allowed: lut, hard");
    m.gelu = gelu == "hard" ? QGelu::Hard : QGelu::Lut;
    for (const auto& [k, v] : st.metadata) {
      key = k;
      if (k.rfind("point.", 0) == 0) {
        m.points[k.substr(6)] = params_from_json(json_at(v));
      } else if (k.rfind("q.", 0) == 0) {
        const std::string name = k.substr(2);
        const auto j = json_at(v);
        if (!j.is_object() || !j.contains("component") || !j.contains("params"))
          throw InputError("must be a JSON object with 'component' and 'params'");
        QTensor t;
        t.component = quant::parse_component(j.at("component").get<std::string>());
        t.params = params_from_json(j.at("params"));
        const std::string parts = j.value("parts", "shared");
        if (parts != "shared" && parts != "separate")
          throw InputError("parts '" + parts + "'; allowed: shared, separate");
        t.separate_parts = parts == "separate";
        const auto raw_it = st.tensors.find(name);
        if (raw_it == st.tensors.end()) throw InputError("it names no tensor of the file");
        const Tensor& raw = raw_it->second;
        t.shape = raw.shape;
        switch (raw.dtype) {
          case DType::I8: { const auto a = raw.as<int8_t>(); t.q.assign(a.begin(), a.end()); break; }
          case DType::I16: { const auto a = raw.as<int16_t>(); t.q.assign(a.begin(), a.end()); break; }
          case DType::I32: t.q = raw.as<int32_t>(); break;
          default: throw InputError("tensor '" + name + "' has dtype " + dtype_name(raw.dtype) + "; expected I8, I16 or I32");
        }
        m.tensors[name] = std::move(t);
      } else if (k != "format" && k != "precision" && k != "gelu" && k.rfind("model.", 0) != 0 &&
                 k.rfind(kSaturated, 0) != 0) {  // the counts are read below, once every tensor is
        m.metadata[k] = v;
      }
    }
    key = "";
    for (const auto& kv : st.tensors)
      if (!st.metadata.count("q." + kv.first))
        throw InputError("tensor '" + kv.first + "' has no 'q." + kv.first + "' metadata (its format)");
    const std::string prefix = kSaturated;
    for (const auto& [k, v] : st.metadata) {
      if (k.rfind(prefix, 0) != 0) continue;
      key = k;
      const auto it = m.tensors.find(k.substr(prefix.size()));
      if (it == m.tensors.end()) throw InputError("'" + k + "' names no tensor of the model");
      size_t used = 0;
      if (v.empty() || v[0] < '0' || v[0] > '9') throw InputError("'" + k + "' = '" + v + "' is not a count");
      const uint64_t n = std::stoull(v, &used);
      if (used != v.size()) throw InputError("'" + k + "' = '" + v + "' is not a count");
      it->second.saturated = n;
    }
    key = "";
    validate_qmodel(m);
  } catch (const std::exception& e) {
    throw InputError(path.string() + ": malformed quantized model" +
                     (key.empty() ? "" : " (metadata key '" + key + "')") + ": " + e.what());
  }
  return m;
}

}  // namespace ssmsim::core
