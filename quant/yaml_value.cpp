#include "quant/yaml_value.hpp"

#include <cmath>
#include <sstream>

#include "quant/errors.hpp"

namespace ssmsim {

namespace {
template <typename N>
std::string range(const char* what, N lo, N hi) {
  std::ostringstream s;
  s << what << " in [" << lo << ", " << hi << "]";
  return s.str();
}
}  // namespace

std::string int_range(long long lo, long long hi) { return range("an integer", lo, hi); }
std::string real_range(double lo, double hi) { return range("a number", lo, hi); }

std::string yaml_text(const YAML::Node& v) {
  if (!v || v.IsNull()) return "";
  if (v.IsScalar()) return v.Scalar();
  YAML::Emitter e;
  e << YAML::Flow << v;
  return e.c_str();
}

long long yaml_int(const YAML::Node& v, const std::string& key, long long lo, long long hi) {
  try {
    if (v.IsScalar()) {
      const auto x = v.as<long long>();
      if (x >= lo && x <= hi) return x;
    }
  } catch (const YAML::Exception&) {
  }
  throw ConfigError(key, yaml_text(v), "expected " + int_range(lo, hi));
}

size_t yaml_size(const YAML::Node& v, const std::string& key, size_t lo, size_t hi) {
  return static_cast<size_t>(yaml_int(v, key, static_cast<long long>(lo), static_cast<long long>(hi)));
}

double yaml_real(const YAML::Node& v, const std::string& key, double lo, double hi) {
  try {
    if (v.IsScalar()) {
      const auto x = v.as<double>();
      if (std::isfinite(x) && x >= lo && x <= hi) return x;
    }
  } catch (const YAML::Exception&) {
  }
  throw ConfigError(key, yaml_text(v), "expected " + real_range(lo, hi));
}

bool yaml_bool(const YAML::Node& v, const std::string& key) {
  try {
    if (v.IsScalar()) return v.as<bool>();
  } catch (const YAML::Exception&) {
  }
  throw ConfigError(key, yaml_text(v), "expected true or false");
}

}  // namespace ssmsim
