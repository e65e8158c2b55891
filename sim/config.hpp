// Config resolution, in one place: built-in defaults < YAML files < --set key=value.
//
// The config is one YAML tree with a section per concern (run, data, eval, model, train, quantize,
// precision, hw; sim/sections.cpp). Each section is read by its key table (or its owner's parser)
// into a typed struct once, in resolve(): errors are ssmsim::ConfigError naming the full dotted key,
// the value and what is allowed. Afterwards the CLI hands the typed structs (get<S>()) to library
// code, and dump() writes each section back from its struct.
#pragma once

#include <yaml-cpp/yaml.h>

#include <any>
#include <filesystem>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "quant/keys.hpp"

namespace ssmsim::sim {

// One config section: its defaults, how it is validated into its typed struct and written back,
// and its keys' docs.
struct SectionSpec {
  std::string name;
  std::string help;
  YAML::Node defaults;
  // Validates the section (errors name the key under `key_prefix`) into its typed struct.
  std::function<std::any(const YAML::Node& section, const std::string& key_prefix)> read;
  // The typed struct as the section's canonical, fully resolved YAML (every key).
  std::function<YAML::Node(const std::any& value)> write;
  // Every key with its default, range, unit and meaning (--help-config).
  std::vector<keys::KeyDoc> docs;
};

// A section of a typed struct S read by `read(node, prefix)` and written by `write(S)`.
template <class S, class Read, class Write>
SectionSpec typed_section(std::string name, std::string help, Read read, Write write, std::vector<keys::KeyDoc> docs = {}) {
  SectionSpec s;
  s.defaults = write(S{});
  s.read = [read](const YAML::Node& node, const std::string& prefix) { return std::any(S(read(node, prefix))); };
  s.write = [write](const std::any& v) { return YAML::Node(write(std::any_cast<const S&>(v))); };
  s.docs = std::move(docs);
  s.name = std::move(name);
  s.help = std::move(help);
  return s;
}

// A section whose keys are a key table's.
template <class S>
SectionSpec table_section(std::string name, std::string help, const keys::Table<S>& table) {
  auto docs = table.docs(name);
  return typed_section<S>(
      std::move(name), std::move(help), [&table](const YAML::Node& n, const std::string& p) { return table.read(n, p); },
      [&table](const S& v) { return table.write(v); }, std::move(docs));
}

class Config {
 public:
  explicit Config(std::vector<SectionSpec> sections);

  // Merges a YAML file holding the whole config (top-level keys are section names).
  void merge_file(const std::filesystem::path& path);
  // Replaces one section by a YAML file holding just that section (--precision P.yaml).
  void load_section(const std::string& section, const std::filesystem::path& path);
  // Applies "a.b.c=value"; the value is read as YAML (a scalar, [list] or {map}).
  void set(const std::string& assignment);
  // Validates every section into its typed struct and replaces the section by its resolved form
  // (every key); throws ConfigError on the first problem.
  void resolve();

  const YAML::Node& tree() const { return root_; }
  YAML::Node section(const std::string& name) const;
  // A resolved section as its typed struct (read once, by resolve(); never re-parsed).
  template <class S>
  const S& get(const std::string& name) const {
    const auto it = values_.find(name);
    if (it == values_.end()) throw std::logic_error("config section '" + name + "' read before resolve()");
    return std::any_cast<const S&>(it->second);
  }

  // The resolved config as YAML text, sections in declaration order.
  std::string dump() const;
  // Every key with its default and meaning, for `--help-config`.
  std::string describe() const;

 private:
  const SectionSpec& spec(const std::string& section, const std::string& key_for_error) const;

  std::vector<SectionSpec> specs_;
  YAML::Node root_;
  std::map<std::string, std::any> values_;  // the typed sections, after resolve()
  std::map<std::string, std::string> sources_;  // section -> the last file that gave it (for messages)
  std::vector<std::string> set_keys_;  // the dotted keys --set gave (their values have no file line)
  // " (section 's' read from F)", with ", line L" where the value of `key` (dotted) came from F; or ""
  std::string source_of(const std::string& section, const std::string& key = "") const;
};

// Reads a YAML file; errors name the file and, for syntax errors, line and column.
YAML::Node load_yaml_file(const std::filesystem::path& path);

}  // namespace ssmsim::sim
