// Reading one scalar config value with its allowed range: the one place that turns a bad value
// into ConfigError(key, value, "an integer in [lo, hi]" / "a number in [lo, hi]" / ...).
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <string>

namespace ssmsim {

std::string yaml_text(const YAML::Node& v);  // the value as written, for messages
std::string int_range(long long lo, long long hi);  // "an integer in [lo, hi]"
std::string real_range(double lo, double hi);       // "a number in [lo, hi]"
long long yaml_int(const YAML::Node& v, const std::string& key, long long lo, long long hi);
size_t yaml_size(const YAML::Node& v, const std::string& key, size_t lo, size_t hi);
double yaml_real(const YAML::Node& v, const std::string& key, double lo, double hi);
bool yaml_bool(const YAML::Node& v, const std::string& key);

}  // namespace ssmsim
