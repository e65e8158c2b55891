// Config resolution, in one place: built-in defaults < YAML files < --set key=value.
//
// The resolved config is one YAML tree with a section per concern (run, eval, train, precision,
// later model and hw). Each section declares its defaults and a validator; validators throw
// ssmsim::ConfigError naming the full dotted key, the value and what is allowed. After resolve()
// the CLI hands typed structs (quant::PrecisionConfig, RunConfig, ...) to library code.
#pragma once

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace ssmsim::sim {

// One scalar key of a plain section: its type, default, allowed range and meaning.
struct KeySpec {
  enum class Type { Int, Real, Bool, String, Enum };
  std::string name;
  Type type = Type::Int;
  std::string default_value;
  double min = 0, max = 0;               // Int and Real: inclusive range
  std::vector<std::string> choices;      // Enum
  std::string help;
};

struct SectionSpec {
  std::string name;
  std::string help;
  // Either a list of scalar keys (validated here) ...
  std::vector<KeySpec> keys;
  // ... or a free-form default tree that the owning library validates and resolves (e.g.
  // precision): it returns the section in its canonical, fully resolved form.
  YAML::Node defaults;
  std::function<YAML::Node(const YAML::Node& section, const std::string& key_prefix)> resolve;
};

class Config {
 public:
  explicit Config(std::vector<SectionSpec> sections);

  // Merges a YAML file holding the whole config (top-level keys are section names).
  void merge_file(const std::filesystem::path& path);
  // Replaces one section by a YAML file holding just that section (--precision P.yaml).
  void load_section(const std::string& section, const std::filesystem::path& path);
  // Applies "a.b.c=value"; the value is read as YAML (a scalar, [list] or {map}).
  void set(const std::string& assignment);
  // Validates every section and replaces free-form ones by their resolved form; throws
  // ConfigError on the first problem.
  void resolve();

  const YAML::Node& tree() const { return root_; }
  YAML::Node section(const std::string& name) const;
  int64_t get_int(const std::string& key) const;
  double get_real(const std::string& key) const;
  bool get_bool(const std::string& key) const;
  std::string get_string(const std::string& key) const;

  // The resolved config as YAML text, sections in declaration order.
  std::string dump() const;
  // Every key with its default and meaning, for `--help-config`.
  std::string describe() const;

 private:
  const SectionSpec& spec(const std::string& section, const std::string& key_for_error) const;
  YAML::Node lookup(const std::string& key) const;

  std::vector<SectionSpec> specs_;
  YAML::Node root_;
};

// Reads a YAML file; errors name the file and, for syntax errors, line and column.
YAML::Node load_yaml_file(const std::filesystem::path& path);

}  // namespace ssmsim::sim
