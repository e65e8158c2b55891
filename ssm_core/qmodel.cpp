#include "ssm_core/qmodel.hpp"

#include <cmath>

#include "quant/errors.hpp"

namespace ssmsim::core {

using quant::QuantParams;

std::string layer_name(size_t i) { return "layers." + std::to_string(i); }

std::string point_name(PointId id, size_t layer) {
  const PointInfo& row = point_info(id);
  return row.per_layer ? layer_name(layer) + "." + row.name : std::string(row.name);
}

int QTensor::part_shift(size_t i) const {
  if (!separate_parts) return 0;
  const size_t k = param_index(i);
  const double ratio = params[k].scale() / unit(k / 2);
  int e = 0;
  const double m = std::frexp(ratio, &e);  // ratio = m 2^e, a power of two: m = 0.5
  if (m != 0.5) throw InputError("tensor with separate parts: the part scales are not a power of two apart");
  return e - 1;
}

uint64_t tensor_bits(const QTensor& t) {
  int bits = 0;
  for (const auto& p : t.params) bits = std::max(bits, p.format.width);
  return static_cast<uint64_t>(bits) * t.size();
}

WeightFootprint weight_footprint(const QModel& q) {
  WeightFootprint f;
  for (const auto& [name, t] : q.tensors) {
    f.bits += tensor_bits(t);
    f.elements += t.size();
  }
  return f;
}

const QTensor& QModel::tensor(const std::string& name) const {
  const auto it = tensors.find(name);
  if (it == tensors.end()) throw InputError("quantized model: no tensor '" + name + "'");
  return it->second;
}

const QuantParams& QModel::point(const std::string& name, size_t ch) const {
  const auto it = points.find(name);
  if (it == points.end()) throw InputError("quantized model: no point '" + name + "'");
  return it->second.size() == 1 ? it->second[0] : it->second.at(ch);
}

}  // namespace ssmsim::core
