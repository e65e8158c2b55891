#include "quant/yaml_value.hpp"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <set>
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

void check_regular_file(const std::filesystem::path& path, const std::string& what, bool must_exist) {
  namespace fs = std::filesystem;
  const std::string name = path.string();
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);  // follows links: a link to a FIFO is a FIFO
  if (ec || !fs::exists(st)) {
    if (!must_exist) return;
    throw InputError("cannot read " + what + " '" + name + "': no such file");
  }
  if (fs::is_directory(st)) throw InputError("cannot read " + what + " '" + name + "': it is a folder, not a file");
  if (!fs::is_regular_file(st))
    throw InputError("cannot read " + what + " '" + name + "': not a regular file (a FIFO, socket or device)");
}

std::string read_config_text(const std::filesystem::path& path, const std::string& what) {
  namespace fs = std::filesystem;
  const std::string name = path.string();
  check_regular_file(path, what);
  std::error_code ec;
  const std::uintmax_t size = fs::file_size(path, ec);
  if (ec) throw InputError("cannot read " + what + " '" + name + "': " + ec.message());
  if (size > kMaxConfigBytes)
    throw InputError("cannot read " + what + " '" + name + "': " + std::to_string(size) + " bytes, more than the " +
                     std::to_string(kMaxConfigBytes) + " a config file may have");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("cannot read " + what + " '" + name + "': " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw InputError("cannot read " + what + " '" + name + "': read error");
  return text.str();
}

namespace {
// Aliases share nodes: a file of nested aliases (`b: [*a, *a, ...]`) expands exponentially when walked.
// The walk (and every later reader) is bounded by a node budget.
constexpr size_t kMaxConfigNodes = 1000000;

void check_unique_keys_at(const YAML::Node& node, const std::string& source, const std::string& key_prefix,
                          size_t& visited) {
  if (++visited > kMaxConfigNodes)
    throw InputError(source + ": more than " + std::to_string(kMaxConfigNodes) +
                     " YAML nodes once aliases are expanded (a config file holds far fewer)");
  if (node.IsSequence()) {
    for (size_t i = 0; i < node.size(); ++i)
      check_unique_keys_at(node[i], source, key_prefix + "[" + std::to_string(i) + "]", visited);
    return;
  }
  if (!node.IsMap()) return;
  std::set<std::string> seen;
  for (const auto& kv : node) {
    if (!kv.first.IsScalar()) {  // `? [a, b]: ...`, `~: ...`: no reader has a name for it
      const YAML::Mark m = kv.first.Mark();
      throw InputError(source + (m.line >= 0 ? ":" + std::to_string(m.line + 1) : "") + ": a key of '" +
                       (key_prefix.empty() ? "(top level)" : key_prefix) + "' is " +
                       (kv.first.IsNull() ? "null" : "a list or map") + ", not a name");
    }
    const std::string k = yaml_text(kv.first);
    const std::string key = key_prefix.empty() ? k : key_prefix + "." + k;
    if (!seen.insert(k).second) {
      const YAML::Mark m = kv.first.Mark();
      throw InputError(source + (m.line >= 0 ? ":" + std::to_string(m.line + 1) : "") + ": duplicate key '" + key +
                       "' (each key may appear once in a map)");
    }
    check_unique_keys_at(kv.second, source, key, visited);
  }
}
}  // namespace

void check_unique_keys(const YAML::Node& node, const std::string& source, const std::string& key_prefix) {
  size_t visited = 0;
  check_unique_keys_at(node, source, key_prefix, visited);
}

YAML::Node parse_config_yaml(const std::string& text, const std::string& source, const std::string& what) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw InputError(source + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) +
                     ": YAML syntax error in " + what + " (line " + std::to_string(e.mark.line + 1) + ", column " +
                     std::to_string(e.mark.column + 1) + "): " + e.msg);
  }
  check_unique_keys(root, source);
  return root;
}

YAML::Node load_config_yaml(const std::filesystem::path& path, const std::string& what) {
  return parse_config_yaml(read_config_text(path, what), path.string(), what);
}

}  // namespace ssmsim
