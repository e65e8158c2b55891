#include "ssm_core/qmodel.hpp"

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include <algorithm>

#include "quant/errors.hpp"
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
  std::vector<QuantParams> out;
  for (const auto& e : a) {
    QuantParams p;
    p.format = Format::parse(e.at("format").get<std::string>());
    p.zero_point = e.at("zero_point").get<int64_t>();
    p.rounding = quant::parse_rounding(e.at("rounding").get<std::string>());
    p.overflow = quant::parse_overflow(e.at("overflow").get<std::string>());
    out.push_back(p);
  }
  return out;
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
  for (const auto& kv : m.config.to_yaml()) st.metadata["model." + kv.first.as<std::string>()] = kv.second.as<std::string>();
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
  try {
    YAML::Node node(YAML::NodeType::Map);
    for (const auto& [k, v] : st.metadata)
      if (k.rfind("model.", 0) == 0) node[k.substr(6)] = YAML::Load(v);
    m.config = ModelConfig::from_yaml(node, "__metadata__ model");
    m.precision = quant::PrecisionConfig::from_yaml(YAML::Load(st.meta("precision")), "__metadata__ precision");
    m.gelu = st.meta("gelu") == "hard" ? QGelu::Hard : QGelu::Lut;
    for (const auto& [k, v] : st.metadata) {
      if (k.rfind("point.", 0) == 0) {
        m.points[k.substr(6)] = params_from_json(nlohmann::json::parse(v));
      } else if (k.rfind("q.", 0) == 0) {
        const std::string name = k.substr(2);
        const auto j = nlohmann::json::parse(v);
        QTensor t;
        t.component = quant::parse_component(j.at("component").get<std::string>());
        t.params = params_from_json(j.at("params"));
        t.separate_parts = j.value("parts", "shared") == "separate";
        const Tensor& raw = st.tensors.at(name);
        t.shape = raw.shape;
        switch (raw.dtype) {
          case DType::I8: { const auto a = raw.as<int8_t>(); t.q.assign(a.begin(), a.end()); break; }
          case DType::I16: { const auto a = raw.as<int16_t>(); t.q.assign(a.begin(), a.end()); break; }
          case DType::I32: t.q = raw.as<int32_t>(); break;
          default: throw InputError("tensor '" + name + "' has dtype " + dtype_name(raw.dtype) + "; expected I8, I16 or I32");
        }
        const size_t per = t.separate_parts ? 2 : 1;
        if (t.params.size() != per && t.params.size() != per * t.channels())
          throw InputError("tensor '" + name + "': " + std::to_string(t.params.size()) + " quantizer entries for " +
                           std::to_string(t.channels()) + " channels" + (per == 2 ? " with separate parts" : ""));
        if (t.separate_parts) try {  // each channel's two part scales a power of two apart
            for (size_t i = 0; i < t.q.size(); ++i) (void)t.part_shift(i);
          } catch (const InputError& e) {
            throw InputError("tensor '" + name + "': " + e.what());
          }
        m.tensors[name] = std::move(t);
      } else if (k != "format" && k != "precision" && k != "gelu" && k.rfind("model.", 0) != 0 &&
                 k.rfind(kSaturated, 0) != 0) {  // the counts are read below, once every tensor is
        m.metadata[k] = v;
      }
    }
    const std::string prefix = kSaturated;
    for (const auto& [k, v] : st.metadata) {
      if (k.rfind(prefix, 0) != 0) continue;
      const auto it = m.tensors.find(k.substr(prefix.size()));
      if (it == m.tensors.end()) throw InputError("'" + k + "' names no tensor of the model");
      size_t used = 0;
      const uint64_t n = std::stoull(v, &used);
      if (used != v.size() || v.empty() || v[0] == '-') throw InputError("'" + k + "' = '" + v + "' is not a count");
      it->second.saturated = n;
    }
  } catch (const std::exception& e) {
    throw InputError(path.string() + ": malformed quantized model: " + e.what());
  }
  return m;
}

}  // namespace ssmsim::core
