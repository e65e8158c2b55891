// One key table per config kind: the single place where a config key is spelled, with its type,
// allowed range, unit and meaning. A table binds YAML keys to the fields of a typed struct and
// drives, from that one declaration, reading (with ConfigError naming the dotted key, the value and
// what is allowed), writing the resolved config (keys in declaration order), `--help-config`
// (docs()) and the list of allowed keys in "unknown key" messages.
//
//   const keys::Table<SramConfig>& sram_keys() {
//     static const auto t = keys::Table<SramConfig>("memory")
//         .integer("banks", &SramConfig::banks, 1, 1024, "banks", "banks; word w lives in bank w % banks");
//     return t;
//   }
//
// Reading starts from the struct's current values (the defaults for a fresh S{}), so a key that a
// file leaves out keeps its default. A table is built once (a function-local static) and then only
// read; its entries hold no state.
#pragma once

#include <yaml-cpp/yaml.h>

#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "quant/errors.hpp"
#include "quant/yaml_value.hpp"

namespace ssmsim::keys {

// One key as `--help-config` and the docs show it.
struct KeyDoc {
  std::string key;           // dotted, with the prefix docs() was given
  std::string default_text;  // the value of a default-constructed struct, as YAML writes it
  std::string allowed;       // "an integer in [1, 4096]", "one of: lt, cycle", ...
  std::string unit;          // "cycles", "bits", "bytes", "MHz", ... ("" when unitless)
  std::string help;
};

// "a, b, c".
std::string join(const std::vector<std::string>& items);
// The words of a list key: a YAML sequence of scalars, or one scalar "a,b" (as --set gives it;
// spaces and brackets around a word are dropped). A null node is an empty list; anything else is
// ConfigError naming `key` with `what` as what is allowed.
std::vector<std::string> list_words(const YAML::Node& v, const std::string& key, const std::string& what);
// A scalar node as YAML writes it ("" for a map or sequence).
std::string scalar_text(const YAML::Node& n);

namespace detail {
template <class T>
struct NonDeduced {
  using type = T;
};
}  // namespace detail

template <class S>
class Table {
 public:
  // `what` names the config kind in messages: "unknown <what> key; allowed: ...".
  explicit Table(std::string what) : what_(std::move(what)) {}

  // An integral field in [lo, hi]. `check`, when given, returns "" for a good value or the text
  // of what is allowed (e.g. "a multiple of 8 in [8, 1024]").
  template <class I>
  Table& integer(std::string name, I S::*field, long long lo, long long hi, std::string unit, std::string help,
                 typename detail::NonDeduced<std::function<std::string(I)>>::type check = {}) {
    static_assert(std::is_integral_v<I> && !std::is_same_v<I, bool>, "integer() binds an integral field");
    Entry e = base(std::move(name), int_range(lo, hi), std::move(unit), std::move(help));
    e.read = [field, lo, hi, check](S& s, const YAML::Node& v, const std::string& key) {
      const I x = static_cast<I>(yaml_int(v, key, lo, hi));
      if (check) {
        const std::string bad = check(x);
        if (!bad.empty()) throw ConfigError(key, yaml_text(v), bad);
      }
      s.*field = x;
    };
    e.write = [field](const S& s) { return YAML::Node(s.*field); };
    return add(std::move(e));
  }

  Table& real(std::string name, double S::*field, double lo, double hi, std::string unit, std::string help) {
    Entry e = base(std::move(name), real_range(lo, hi), std::move(unit), std::move(help));
    e.read = [field, lo, hi](S& s, const YAML::Node& v, const std::string& key) { s.*field = yaml_real(v, key, lo, hi); };
    e.write = [field](const S& s) { return YAML::Node(s.*field); };
    return add(std::move(e));
  }

  Table& boolean(std::string name, bool S::*field, std::string help) {
    Entry e = base(std::move(name), "true or false", "", std::move(help));
    e.read = [field](S& s, const YAML::Node& v, const std::string& key) { s.*field = yaml_bool(v, key); };
    e.write = [field](const S& s) { return YAML::Node(s.*field); };
    return add(std::move(e));
  }

  // A free string; a YAML null reads as "".
  Table& text(std::string name, std::string S::*field, std::string help) {
    Entry e = base(std::move(name), "a string", "", std::move(help));
    e.read = [field](S& s, const YAML::Node& v, const std::string& key) {
      if (v.IsNull()) {
        s.*field = "";
        return;
      }
      if (!v.IsScalar()) throw ConfigError(key, yaml_text(v), "expected a string");
      s.*field = v.Scalar();
    };
    e.write = [field](const S& s) { return YAML::Node(s.*field); };
    return add(std::move(e));
  }

  // One of named values (an enum, or a string restricted to a list); written by its name.
  template <class E>
  Table& choice(std::string name, E S::*field, std::vector<std::pair<std::string, E>> names, std::string help) {
    std::vector<std::string> list;
    for (const auto& n : names) list.push_back(n.first);
    const std::string allowed = "allowed: " + join(list);
    Entry e = base(std::move(name), "one of: " + join(list), "", std::move(help));
    auto shared = std::make_shared<const std::vector<std::pair<std::string, E>>>(std::move(names));
    e.read = [field, shared, allowed](S& s, const YAML::Node& v, const std::string& key) {
      if (v.IsScalar())
        for (const auto& [n, value] : *shared)
          if (n == v.Scalar()) {
            s.*field = value;
            return;
          }
      throw ConfigError(key, yaml_text(v), allowed);
    };
    e.write = [field, shared](const S& s) {
      for (const auto& [n, value] : *shared)
        if (value == s.*field) return YAML::Node(n);
      return YAML::Node(shared->front().first);  // unreachable for a value that was read or defaulted
    };
    return add(std::move(e));
  }

  // A nested map under `name`, read and written by its own table (which must outlive this one:
  // tables are function-local statics).
  template <class M>
  Table& nested(std::string name, M S::*field, const Table<M>& sub, std::string help) {
    Entry e = base(std::move(name), "a map of " + sub.what() + " keys: " + join(sub.names()), "", std::move(help));
    e.read = [field, &sub](S& s, const YAML::Node& v, const std::string& key) { sub.read(v, key, s.*field); };
    e.write = [field, &sub](const S& s) { return sub.write(s.*field); };
    e.docs = [field, &sub](const std::string& key, const S& d) { return sub.docs(key, d.*field); };
    return add(std::move(e));
  }

  // `sub`'s keys at this level (a flat YAML section assembled from several structs).
  template <class M>
  Table& embed(M S::*field, const Table<M>& sub) {
    for (const auto& se : sub.entries_) {
      Entry e;
      e.name = se.name;
      e.allowed = se.allowed;
      e.unit = se.unit;
      e.help = se.help;
      e.written = se.written;
      auto sr = se.read;
      auto sw = se.write;
      auto sd = se.docs;
      e.read = [field, sr](S& s, const YAML::Node& v, const std::string& key) { sr(s.*field, v, key); };
      if (sw) e.write = [field, sw](const S& s) { return sw(s.*field); };
      if (sd) e.docs = [field, sd](const std::string& key, const S& d) { return sd(key, d.*field); };
      add(std::move(e));
    }
    return *this;
  }

  // A key read by its own function (a list, a map with free keys): `read` throws ConfigError
  // naming `key`; `allowed` is what --help-config shows. Written by `write` when one is given.
  Table& custom(std::string name, std::string allowed, std::string help,
                std::function<void(S&, const YAML::Node&, const std::string& key)> read,
                std::function<YAML::Node(const S&)> write = {}) {
    Entry e = base(std::move(name), std::move(allowed), "", std::move(help));
    e.read = std::move(read);
    e.written = static_cast<bool>(write);
    e.write = std::move(write);
    return add(std::move(e));
  }

  // A key that is read and ignored (documentation such as `description`); never written.
  Table& accepted(std::string name, std::string help) {
    Entry e = base(std::move(name), "anything", "", std::move(help));
    e.read = [](S&, const YAML::Node&, const std::string&) {};
    e.written = false;
    return add(std::move(e));
  }

  // A rule over several keys, run after every key of a read: throws ConfigError itself.
  Table& rule(std::function<void(const S&, const std::string& prefix)> check) {
    rules_.push_back(std::move(check));
    return *this;
  }

  // Reads a map into `into`; a missing or null node leaves `into` unchanged.
  void read(const YAML::Node& node, const std::string& prefix, S& into) const {
    if (!node || node.IsNull()) return;
    if (!node.IsMap()) throw ConfigError(prefix, yaml_text(node), "expected a map of " + what_ + " keys");
    for (const auto& kv : node) {
      const std::string name = kv.first.as<std::string>();
      const Entry* e = find(name);
      const std::string key = prefix.empty() ? name : prefix + "." + name;
      if (!e) throw ConfigError(key, yaml_text(kv.second), "unknown " + what_ + " key; allowed: " + join(keys_under(prefix)));
      e->read(into, kv.second, key);
    }
    for (const auto& r : rules_) r(into, prefix);
  }
  S read(const YAML::Node& node, const std::string& prefix) const {
    S s{};
    read(node, prefix, s);
    return s;
  }

  // Every written key, in declaration order.
  YAML::Node write(const S& s) const {
    YAML::Node n(YAML::NodeType::Map);
    for (const auto& e : entries_)
      if (e.written) n[e.name] = e.write(s);
    return n;
  }

  // Every key with its default (taken from `defaults`) and meaning.
  std::vector<KeyDoc> docs(const std::string& prefix, const S& defaults = S{}) const {
    std::vector<KeyDoc> out;
    for (const auto& e : entries_) {
      const std::string key = prefix.empty() ? e.name : prefix + "." + e.name;
      if (e.docs) {
        for (auto& d : e.docs(key, defaults)) out.push_back(std::move(d));
        continue;
      }
      out.push_back({key, e.written ? scalar_text(e.write(defaults)) : "", e.allowed, e.unit, e.help});
    }
    return out;
  }

  // The keys accepted at this level, in declaration order.
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& e : entries_) out.push_back(e.name);
    return out;
  }
  const std::string& what() const { return what_; }
  // The keys accepted at this level as dotted keys under `prefix` ("run.seed, run.threads").
  std::vector<std::string> keys_under(const std::string& prefix) const {
    std::vector<std::string> out;
    for (const auto& n : names()) out.push_back(prefix.empty() ? n : prefix + "." + n);
    return out;
  }

 private:
  template <class>
  friend class Table;

  struct Entry {
    std::string name, allowed, unit, help;
    bool written = true;
    std::function<void(S&, const YAML::Node&, const std::string&)> read;
    std::function<YAML::Node(const S&)> write;
    std::function<std::vector<KeyDoc>(const std::string&, const S&)> docs;  // nested tables only
  };

  static Entry base(std::string name, std::string allowed, std::string unit, std::string help) {
    Entry e;
    e.name = std::move(name);
    e.allowed = std::move(allowed);
    e.unit = std::move(unit);
    e.help = std::move(help);
    return e;
  }
  Table& add(Entry e) {
    if (find(e.name)) throw std::logic_error("key table '" + what_ + "' declares '" + e.name + "' twice");
    entries_.push_back(std::move(e));
    return *this;
  }
  const Entry* find(const std::string& name) const {
    for (const auto& e : entries_)
      if (e.name == name) return &e;
    return nullptr;
  }

  std::string what_;
  std::vector<Entry> entries_;
  std::vector<std::function<void(const S&, const std::string&)>> rules_;
};

}  // namespace ssmsim::keys
