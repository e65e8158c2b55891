// The generic key table (quant/keys.hpp): reading, writing, defaults, errors, nesting, embedding.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <string>
#include <vector>

#include "quant/errors.hpp"
#include "quant/keys.hpp"

namespace ssmsim::keys {
namespace {

enum class Mode { Fast, Exact };

struct Inner {
  int banks = 4;
  uint64_t bytes = 1024;
};

struct Outer {
  std::string name = "x";
  int width = 8;
  double clock = 200;
  bool enabled = true;
  Mode mode = Mode::Fast;
  Inner mem{};
};

const Table<Inner>& inner_keys() {
  static const auto t = Table<Inner>("memory")
                            .integer("banks", &Inner::banks, 1, 64, "banks", "banks of the memory")
                            .integer("bytes", &Inner::bytes, 1, 1LL << 30, "bytes", "capacity");
  return t;
}

const Table<Outer>& outer_keys() {
  static const auto t =
      Table<Outer>("test")
          .text("name", &Outer::name, "a name")
          .accepted("description", "free text, ignored")
          .integer("width", &Outer::width, 8, 1024, "bits", "word width",
                   [](int w) { return w % 8 ? std::string("a multiple of 8 in [8, 1024]") : std::string(); })
          .real("clock", &Outer::clock, 1, 1e5, "MHz", "clock")
          .boolean("enabled", &Outer::enabled, "on or off")
          .choice("mode", &Outer::mode, {{"fast", Mode::Fast}, {"exact", Mode::Exact}}, "how")
          .nested("mem", &Outer::mem, inner_keys(), "a memory")
          .rule([](const Outer& o, const std::string& prefix) {
            if (!o.enabled && o.mode == Mode::Exact)
              throw ConfigError(prefix + ".mode", "exact", "exact needs enabled: true");
          });
  return t;
}

std::string error_of(const std::string& yaml) {
  try {
    outer_keys().read(YAML::Load(yaml), "test");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(KeyTable, ReadsEveryKindOfKeyAndKeepsDefaultsForKeysLeftOut) {
  const Outer o = outer_keys().read(
      YAML::Load("{name: n, description: ignored, width: 16, clock: 250.5, enabled: false, mode: fast, mem: {banks: 8}}"),
      "test");
  EXPECT_EQ(o.name, "n");
  EXPECT_EQ(o.width, 16);
  EXPECT_DOUBLE_EQ(o.clock, 250.5);
  EXPECT_FALSE(o.enabled);
  EXPECT_EQ(o.mode, Mode::Fast);
  EXPECT_EQ(o.mem.banks, 8);
  EXPECT_EQ(o.mem.bytes, 1024u);  // default kept
}

TEST(KeyTable, WritesEveryKeyInDeclarationOrderAndRoundTripsValueByValue) {
  Outer o;
  o.name = "other";
  o.width = 24;
  o.clock = 1234.25;
  o.enabled = false;
  o.mode = Mode::Fast;
  o.mem = {13, 4096};
  const YAML::Node n = outer_keys().write(o);
  EXPECT_EQ(YAML::Dump(n),
            "name: other\nwidth: 24\nclock: 1234.25\nenabled: false\nmode: fast\nmem:\n  banks: 13\n  bytes: 4096");
  const Outer back = outer_keys().read(n, "test");
  EXPECT_EQ(back.name, o.name);
  EXPECT_EQ(back.width, o.width);
  EXPECT_EQ(back.clock, o.clock);
  EXPECT_EQ(back.enabled, o.enabled);
  EXPECT_EQ(back.mode, o.mode);
  EXPECT_EQ(back.mem.banks, o.mem.banks);
  EXPECT_EQ(back.mem.bytes, o.mem.bytes);
}

TEST(KeyTable, ErrorsNameTheDottedKeyTheValueAndWhatIsAllowed) {
  EXPECT_EQ(error_of("{width: 12}"), "config key 'test.width' = '12': a multiple of 8 in [8, 1024]");
  EXPECT_EQ(error_of("{width: 2048}"), "config key 'test.width' = '2048': expected an integer in [8, 1024]");
  EXPECT_EQ(error_of("{clock: fast}"), "config key 'test.clock' = 'fast': expected a number in [1, 100000]");
  EXPECT_EQ(error_of("{enabled: 3}"), "config key 'test.enabled' = '3': expected true or false");
  EXPECT_EQ(error_of("{mode: slow}"), "config key 'test.mode' = 'slow': allowed: fast, exact");
  EXPECT_EQ(error_of("{mem: {banks: 0}}"), "config key 'test.mem.banks' = '0': expected an integer in [1, 64]");
  EXPECT_EQ(error_of("{mem: 3}"), "config key 'test.mem' = '3': expected a map of memory keys");
  EXPECT_EQ(error_of("{colour: red}"),
            "config key 'test.colour' = 'red': unknown test key; allowed: test.name, test.description, test.width, "
            "test.clock, test.enabled, test.mode, test.mem");
  EXPECT_EQ(error_of("[1, 2]"), "config key 'test' = '[1, 2]': expected a map of test keys");
  EXPECT_EQ(error_of("{enabled: false, mode: exact}"), "config key 'test.mode' = 'exact': exact needs enabled: true");
}

TEST(KeyTable, DocsListEveryKeyWithItsDefaultRangeAndUnit) {
  const auto docs = outer_keys().docs("test");
  ASSERT_EQ(docs.size(), 8u);
  EXPECT_EQ(docs[2].key, "test.width");
  EXPECT_EQ(docs[2].default_text, "8");
  EXPECT_EQ(docs[2].allowed, "an integer in [8, 1024]");
  EXPECT_EQ(docs[2].unit, "bits");
  EXPECT_EQ(docs[5].default_text, "fast");
  EXPECT_EQ(docs[6].key, "test.mem.banks");
  EXPECT_EQ(docs[7].key, "test.mem.bytes");
  EXPECT_EQ(docs[7].default_text, "1024");
}

TEST(KeyTable, EmbeddedKeysSitAtTheOuterLevelAndBindTheMember) {
  struct Top {
    Inner a{};
    int other = 1;
  };
  static const auto inner = Table<Inner>("memory").integer("banks", &Inner::banks, 1, 64, "banks", "banks");
  static const auto t = Table<Top>("top").embed(&Top::a, inner).integer("other", &Top::other, 0, 9, "", "other");
  const Top top = t.read(YAML::Load("{banks: 5, other: 3}"), "top");
  EXPECT_EQ(top.a.banks, 5);
  EXPECT_EQ(top.other, 3);
  EXPECT_EQ(YAML::Dump(t.write(top)), "banks: 5\nother: 3");
  EXPECT_EQ(t.docs("top")[0].key, "top.banks");
}

TEST(KeyTable, ACustomKeyIsReadAndWrittenByItsOwnFunctions) {
  struct Spec {
    std::vector<std::string> files;
  };
  static const auto t = Table<Spec>("spec").custom(
      "files", "a non-empty list of names", "the files",
      [](Spec& s, const YAML::Node& v, const std::string& key) {
        if (!v.IsSequence() || v.size() == 0) throw ConfigError(key, yaml_text(v), "expected a non-empty list");
        for (const auto& f : v) s.files.push_back(f.as<std::string>());
      },
      [](const Spec& s) {
        YAML::Node n(YAML::NodeType::Sequence);
        for (const auto& f : s.files) n.push_back(f);
        return n;
      });
  const Spec s = t.read(YAML::Load("{files: [a, b]}"), "spec");
  EXPECT_EQ(s.files, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(YAML::Dump(t.write(s)), "files:\n  - a\n  - b");
  try {
    t.read(YAML::Load("{files: 3}"), "spec");
    ADD_FAILURE() << "no ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "config key 'spec.files' = '3': expected a non-empty list");
  }
  EXPECT_EQ(t.docs("spec")[0].allowed, "a non-empty list of names");
}

TEST(KeyTable, ANullNodeLeavesTheStructUnchanged) {
  Outer o;
  o.width = 64;
  outer_keys().read(YAML::Node(), "test", o);
  outer_keys().read(YAML::Load("~"), "test", o);
  EXPECT_EQ(o.width, 64);
}

TEST(KeyTable, DeclaringAKeyTwiceIsAProgrammingError) {
  EXPECT_THROW(Table<Inner>("memory")
                   .integer("banks", &Inner::banks, 1, 2, "", "")
                   .integer("banks", &Inner::banks, 1, 2, "", ""),
               std::logic_error);
}

}  // namespace
}  // namespace ssmsim::keys
