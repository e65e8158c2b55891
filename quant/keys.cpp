#include "quant/keys.hpp"

namespace ssmsim::keys {

std::string join(const std::vector<std::string>& items) {
  std::string s;
  for (const auto& i : items) s += (s.empty() ? "" : ", ") + i;
  return s;
}

std::vector<std::string> list_words(const YAML::Node& v, const std::string& key, const std::string& what) {
  std::vector<std::string> words;
  if (!v || v.IsNull()) return words;
  if (v.IsSequence()) {
    for (const auto& e : v) {
      if (!e.IsScalar()) throw ConfigError(key, yaml_text(v), what);
      words.push_back(e.Scalar());
    }
    return words;
  }
  if (!v.IsScalar()) throw ConfigError(key, yaml_text(v), what);
  std::string rest = v.Scalar();
  for (size_t p; !rest.empty(); rest = p == std::string::npos ? "" : rest.substr(p + 1)) {
    p = rest.find(',');
    std::string n = rest.substr(0, p);
    n.erase(0, n.find_first_not_of(" []"));
    n.erase(n.find_last_not_of(" []") + 1);
    if (!n.empty()) words.push_back(n);
  }
  return words;
}

std::string scalar_text(const YAML::Node& n) {
  if (n && n.IsSequence()) {  // a list of scalars: [a, b]
    std::vector<std::string> items;
    for (const auto& e : n) items.push_back(e.IsScalar() ? e.Scalar() : "");
    return "[" + join(items) + "]";
  }
  return n && n.IsScalar() ? n.Scalar() : "";
}

}  // namespace ssmsim::keys
