#include "sim/config.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "quant/errors.hpp"
#include "quant/yaml_value.hpp"

namespace ssmsim::sim {

namespace {


std::vector<std::string> split_key(const std::string& key) {
  std::vector<std::string> parts;
  std::string cur;
  for (char c : key) {
    if (c == '.') {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  parts.push_back(cur);
  return parts;
}

// Deep merge: maps merge key by key, anything else replaces.
void merge_into(YAML::Node target, const YAML::Node& source) {
  if (!source.IsMap() || !target.IsMap()) {
    target = source;
    return;
  }
  for (const auto& kv : source) {
    const std::string k = yaml_text(kv.first);
    if (target[k] && target[k].IsMap() && kv.second.IsMap())
      merge_into(target[k], kv.second);
    else
      target[k] = kv.second;  // shared, not cloned: a clone loses the file's line marks
  }
}

// A ConfigError whose message also names the file its section was read from (the section readers
// know keys, not files).
class SourcedConfigError : public ConfigError {
 public:
  SourcedConfigError(const ConfigError& e, const std::string& where) : ConfigError(e), msg_(std::string(e.what()) + where) {}
  const char* what() const noexcept override { return msg_.c_str(); }

 private:
  std::string msg_;
};

}  // namespace

YAML::Node load_yaml_file(const std::filesystem::path& path) { return load_config_yaml(path, "config file"); }

Config::Config(std::vector<SectionSpec> sections) : specs_(std::move(sections)), root_(YAML::NodeType::Map) {
  for (const auto& s : specs_) root_[s.name] = YAML::Clone(s.defaults);
}

const SectionSpec& Config::spec(const std::string& section, const std::string& key_for_error) const {
  for (const auto& s : specs_)
    if (s.name == section) return s;
  std::vector<std::string> names;
  for (const auto& s : specs_) names.push_back(s.name);
  throw ConfigError(key_for_error, section, "unknown config section; allowed sections: " + keys::join(names));
}

void Config::merge_file(const std::filesystem::path& path) {
  const YAML::Node file = load_yaml_file(path);
  if (file.IsNull()) return;
  if (!file.IsMap())
    throw InputError("config file '" + path.string() + "': expected a map of sections (run:, eval:, ...)");
  for (const auto& kv : file) {
    const std::string name = yaml_text(kv.first);
    spec(name, name);
    merge_into(root_[name], kv.second);
    sources_[name] = path.string();
  }
}

void Config::load_section(const std::string& section, const std::filesystem::path& path) {
  spec(section, section);
  const YAML::Node node = load_yaml_file(path);
  if (!node.IsMap())
    throw InputError("config file '" + path.string() + "': expected a map for section '" + section + "'");
  root_[section] = node;
  sources_[section] = path.string();
}

std::string Config::source_of(const std::string& section, const std::string& key) const {
  const auto it = sources_.find(section);
  if (it == sources_.end()) return "";
  std::string line;
  const auto given = [&](const std::string& k) { return k == key || key.rfind(k + ".", 0) == 0; };
  if (!key.empty() && std::none_of(set_keys_.begin(), set_keys_.end(), given)) {
    // the deepest node of the key's path that the tree holds, and its line in the file
    const auto parts = split_key(key);
    YAML::Node cur = root_;
    int at = -1;
    for (const auto& p : parts) {
      if (!cur.IsMap() || !cur[p]) break;
      cur.reset(cur[p]);
      if (cur.Mark().line >= 0) at = cur.Mark().line;
    }
    if (at >= 0) line = ", line " + std::to_string(at + 1);
  }
  return " (section '" + section + "' read from " + it->second + line + ")";
}

void Config::set(const std::string& assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw ConfigError(assignment, "", "--set expects key=value, e.g. --set run.seed=3");
  const std::string key = assignment.substr(0, eq);
  const std::string text = assignment.substr(eq + 1);
  const auto parts = split_key(key);
  for (const auto& p : parts)
    if (p.empty()) throw ConfigError(key, text, "a key is dot-separated names, e.g. precision.components.A.bits");
  spec(parts[0], key);
  YAML::Node value;
  try {
    value = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(key, text, "the value is not valid YAML (" + e.msg + ")");
  }
  check_unique_keys(value, "--set " + key);
  // Setting a key below a section or map that a file gave as a scalar (`train: 5` and --epochs) would
  // index a scalar: refuse it naming the key that is not a map, and where it came from.
  YAML::Node cur = root_[parts[0]];
  for (size_t i = 1; i < parts.size(); ++i) {
    if (cur.IsDefined() && !cur.IsNull() && !cur.IsMap()) {
      std::string at = parts[0];
      for (size_t j = 1; j < i; ++j) at += "." + parts[j];
      throw ConfigError(at, yaml_text(cur), "expected a map of keys (so that " + key + " can be set)" + source_of(parts[0]));
    }
    if (i + 1 == parts.size()) break;
    if (!cur[parts[i]] || cur[parts[i]].IsNull()) cur[parts[i]] = YAML::Node(YAML::NodeType::Map);
    cur.reset(cur[parts[i]]);
  }
  set_keys_.push_back(key);
  if (parts.size() == 1)
    root_[parts[0]] = value;
  else
    cur[parts.back()] = value;
}

void Config::resolve() {
  for (const auto& s : specs_) {
    try {
      values_[s.name] = s.read(root_[s.name], s.name);
    } catch (const ConfigError& e) {
      const auto it = sources_.find(s.name);
      if (it == sources_.end() || std::string(e.what()).find(it->second) != std::string::npos) throw;
      throw SourcedConfigError(e, source_of(s.name, e.key()));
    } catch (const YAML::Exception& e) {  // a reader that indexed a node of the wrong kind
      throw ConfigError(s.name, yaml_text(root_[s.name]), "malformed section (" + e.msg + ")" + source_of(s.name));
    }
    root_[s.name] = s.write(values_[s.name]);
  }
}

YAML::Node Config::section(const std::string& name) const {
  spec(name, name);
  return root_[name];
}

std::string Config::dump() const {
  YAML::Emitter out;
  out << YAML::BeginMap;
  for (const auto& s : specs_) out << YAML::Key << s.name << YAML::Value << root_[s.name];
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

std::string Config::describe() const {
  std::ostringstream os;
  for (const auto& s : specs_) {
    os << s.name << ":  " << s.help << "\n";
    for (const auto& k : s.docs)
      os << "  " << k.key << " = " << k.default_text << "   (" << k.allowed << (k.unit.empty() ? "" : ", " + k.unit)
         << ")  " << k.help << "\n";
  }
  return os.str();
}

}  // namespace ssmsim::sim
