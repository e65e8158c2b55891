// Reading one scalar config value with its allowed range: the one place that turns a bad value
// into ConfigError(key, value, "an integer in [lo, hi]" / "a number in [lo, hi]" / ...).
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

namespace ssmsim {

std::string yaml_text(const YAML::Node& v);  // the value as written, for messages
std::string int_range(long long lo, long long hi);  // "an integer in [lo, hi]"
std::string real_range(double lo, double hi);       // "a number in [lo, hi]"
long long yaml_int(const YAML::Node& v, const std::string& key, long long lo, long long hi);
size_t yaml_size(const YAML::Node& v, const std::string& key, size_t lo, size_t hi);
double yaml_real(const YAML::Node& v, const std::string& key, double lo, double hi);
bool yaml_bool(const YAML::Node& v, const std::string& key);

// Reading config files (every YAML file a user names: --config, --model, --precision, --hw, --spec,
// energy tables): the one place that refuses what is not a regular file before opening it (a folder;
// a FIFO, whose open blocks forever; a device, which never ends), files over kMaxConfigBytes, syntax
// errors and duplicate map keys, each with an InputError naming the file (and line and key).
// `what` names the kind of file in messages ("config file", "precision config", ...).
constexpr std::uintmax_t kMaxConfigBytes = 16u << 20;
// Refuses, before anything opens it, a path that exists but is not a regular file (a folder, FIFO,
// socket or device); with must_exist, a missing path too. Links are followed.
void check_regular_file(const std::filesystem::path& path, const std::string& what, bool must_exist = true);
std::string read_config_text(const std::filesystem::path& path, const std::string& what);
// Parses YAML text read from `source` (a file name, or "--set key" for an option); refuses duplicate
// keys in any map (yaml-cpp keeps both and lookups and iteration disagree on which wins).
YAML::Node parse_config_yaml(const std::string& text, const std::string& source, const std::string& what);
YAML::Node load_config_yaml(const std::filesystem::path& path, const std::string& what);
// Throws InputError naming `source`, the dotted key and the line of the second occurrence when a map
// in `node` holds a key twice, or when the tree holds more than a million nodes with aliases expanded.
void check_unique_keys(const YAML::Node& node, const std::string& source, const std::string& key_prefix = "");

}  // namespace ssmsim
