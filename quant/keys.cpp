#include "quant/keys.hpp"

namespace ssmsim::keys {

std::string join(const std::vector<std::string>& items) {
  std::string s;
  for (const auto& i : items) s += (s.empty() ? "" : ", ") + i;
  return s;
}

std::string scalar_text(const YAML::Node& n) { return n && n.IsScalar() ? n.Scalar() : ""; }

}  // namespace ssmsim::keys
