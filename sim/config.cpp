#include "sim/config.hpp"

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
    target = YAML::Clone(source);
    return;
  }
  for (const auto& kv : source) {
    const std::string k = kv.first.as<std::string>();
    if (target[k] && target[k].IsMap() && kv.second.IsMap())
      merge_into(target[k], kv.second);
    else
      target[k] = YAML::Clone(kv.second);
  }
}

}  // namespace

YAML::Node load_yaml_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw InputError("cannot read config file '" + path.string() + "': no such file or not readable");
  try {
    return YAML::Load(in);
  } catch (const YAML::ParserException& e) {
    throw InputError("config file '" + path.string() + "', line " + std::to_string(e.mark.line + 1) +
                     ", column " + std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
}

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
    const std::string name = kv.first.as<std::string>();
    spec(name, name);
    merge_into(root_[name], kv.second);
  }
}

void Config::load_section(const std::string& section, const std::filesystem::path& path) {
  spec(section, section);
  const YAML::Node node = load_yaml_file(path);
  if (!node.IsMap())
    throw InputError("config file '" + path.string() + "': expected a map for section '" + section + "'");
  root_[section] = node;
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
  YAML::Node cur = root_[parts[0]];
  for (size_t i = 1; i + 1 < parts.size(); ++i) {
    if (!cur[parts[i]] || !cur[parts[i]].IsMap()) cur[parts[i]] = YAML::Node(YAML::NodeType::Map);
    cur.reset(cur[parts[i]]);
  }
  if (parts.size() == 1)
    root_[parts[0]] = value;
  else
    cur[parts.back()] = value;
}

void Config::resolve() {
  for (const auto& s : specs_) {
    values_[s.name] = s.read(root_[s.name], s.name);
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
