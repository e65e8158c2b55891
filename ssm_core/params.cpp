#include "ssm_core/params.hpp"

#include "quant/errors.hpp"

namespace ssmsim::core {

size_t ParamLayout::add(const std::string& name, std::vector<int64_t> shape, ParamGroup group) {
  size_t n = 1;
  for (int64_t d : shape) n *= static_cast<size_t>(d);
  params_.push_back({name, std::move(shape), total_, n, group});
  total_ += n;
  return params_.back().offset;
}

const ParamInfo& ParamLayout::find(const std::string& name) const {
  for (const auto& p : params_)
    if (p.name == name) return p;
  throw InputError("the model has no parameter '" + name + "'");
}

}  // namespace ssmsim::core
