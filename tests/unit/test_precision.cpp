// Precision configs: presets, round trips, and one ConfigError per rule with the right key.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <set>
#include <string>

#include "quant/errors.hpp"
#include "quant/precision.hpp"
#include "tests/support/testing.hpp"

namespace ssmsim::quant {
namespace {

PrecisionConfig parse(const std::string& text, const std::string& prefix = "precision") {
  return PrecisionConfig::from_yaml(YAML::Load(text), prefix);
}

// Parses `text` expecting a ConfigError at `key` whose message contains `value` and every one of
// `mentions`.
void expect_config_error(const std::string& text, const std::string& key, const std::string& value,
                         const std::vector<std::string>& mentions = {}) {
  SCOPED_TRACE(text);
  try {
    parse(text);
    ADD_FAILURE() << "no ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key(), key) << e.what();
    const std::string msg = e.what();
    EXPECT_NE(msg.find("'" + value + "'"), std::string::npos) << msg;
    for (const auto& m : mentions) EXPECT_NE(msg.find(m), std::string::npos) << m << " in " << msg;
  }
}

std::filesystem::path presets() { return testing::source_dir() / "configs" / "precision"; }

TEST(PrecisionConfig, LoadsEveryPresetAndRoundTripsItThroughYaml) {
  std::set<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(presets())) {
    if (entry.path().extension() != ".yaml") continue;
    SCOPED_TRACE(entry.path().string());
    const PrecisionConfig cfg = PrecisionConfig::load(entry.path());
    EXPECT_EQ(cfg.name(), entry.path().stem().string());
    EXPECT_FALSE(cfg.description().empty());
    EXPECT_EQ(PrecisionConfig::from_yaml(cfg.to_yaml()), cfg);
    EXPECT_EQ(PrecisionConfig::from_yaml(YAML::Load(cfg.to_yaml_string())), cfg);
    names.insert(cfg.name());
  }
  for (const char* want : {"float", "w8a8", "s4d_paper_8bit", "qs5_a8_rest4", "hetero_example"})
    EXPECT_EQ(names.count(want), 1u) << want;
}

TEST(PrecisionConfig, PresetsSayWhatTheirPapersUsed) {
  const auto f = PrecisionConfig::load(presets() / "float.yaml");
  for (Component c : all_components()) EXPECT_TRUE(f.is_float(c)) << component_name(c);

  const auto s4d = PrecisionConfig::load(presets() / "s4d_paper_8bit.yaml");
  for (Component c : all_components()) EXPECT_EQ(s4d.bits(c), 8) << component_name(c);

  const auto qs5 = PrecisionConfig::load(presets() / "qs5_a8_rest4.yaml");
  EXPECT_EQ(qs5.bits(Component::A), 8);
  for (Component c : {Component::B, Component::C, Component::D, Component::x, Component::ssm_in,
                      Component::ssm_out, Component::encoder, Component::decoder,
                      Component::mixing, Component::act})
    EXPECT_EQ(qs5.bits(c), 4) << component_name(c);

  const auto w8a8 = PrecisionConfig::load(presets() / "w8a8.yaml");
  for (Component c : all_components())
    if (c != Component::bias) {
      EXPECT_EQ(w8a8.bits(c), 8) << component_name(c);
    }
  EXPECT_EQ(w8a8.spec(Component::act).calibration, Calibration::Percentile);
  EXPECT_EQ(w8a8.spec(Component::encoder).granularity, Granularity::PerChannel);

  const auto het = PrecisionConfig::load(presets() / "hetero_example.yaml");
  EXPECT_GE(het.bits(Component::A), 12);
  EXPECT_GE(het.bits(Component::x), 12);
  EXPECT_EQ(het.spec(Component::x).scale, ScaleKind::Pow2);
  for (Component c : {Component::B, Component::C, Component::D, Component::encoder,
                      Component::decoder})
    EXPECT_LE(het.bits(c), 6) << component_name(c);
}

TEST(PrecisionConfig, AppliesDefaultsOverridesAndShorthands) {
  const auto cfg = parse(R"(
name: mix
default: quantized
defaults: {bits: 6, scale: pow2, rounding: floor}
components:
  A: 12
  B: quantized
  C: float
  x: {bits: 16, scale: dyadic, scale_bits: 20}
  act: {calibration: percentile, percentile: 99.5}
  D: {frac: 5}
  bias: {bits: 32}
)");
  EXPECT_EQ(cfg.name(), "mix");
  EXPECT_EQ(cfg.bits(Component::A), 12);
  EXPECT_EQ(cfg.spec(Component::A).scale, ScaleKind::Pow2);
  EXPECT_EQ(cfg.spec(Component::A).rounding, Rounding::Floor);
  EXPECT_EQ(cfg.bits(Component::B), 6);
  EXPECT_TRUE(cfg.is_float(Component::C));
  EXPECT_EQ(cfg.bits(Component::C), 32);
  EXPECT_THROW(cfg.spec(Component::C), InputError);
  EXPECT_EQ(cfg.spec(Component::x).scale_bits, 20);
  EXPECT_EQ(cfg.spec(Component::act).percentile, 99.5);
  EXPECT_EQ(cfg.spec(Component::D).frac, 5);
  EXPECT_EQ(cfg.bits(Component::mixing), 6);  // unlisted, default: quantized
  EXPECT_EQ(PrecisionConfig::from_yaml(cfg.to_yaml()), cfg);

  const auto only_a = parse("components: {A: {bits: 8}}");
  EXPECT_EQ(only_a.name(), "custom");
  EXPECT_FALSE(only_a.is_float(Component::A));
  EXPECT_TRUE(only_a.is_float(Component::x));  // default: float

  EXPECT_EQ(PrecisionConfig::from_yaml(YAML::Node()), PrecisionConfig());
}

TEST(PrecisionConfig, DropsInheritedSettingsThatAComponentMakesMeaningless) {
  const auto cfg = parse(R"(
default: quantized
defaults: {calibration: percentile, percentile: 99.9, scale: dyadic, scale_bits: 12}
components:
  A: {calibration: mse}
  x: {scale: pow2}
  D: {frac: 4}
)");
  EXPECT_EQ(cfg.spec(Component::A).calibration, Calibration::Mse);
  EXPECT_EQ(cfg.spec(Component::A).percentile, QuantizerSpec::kDefaultPercentile);
  EXPECT_EQ(cfg.spec(Component::x).scale_bits, QuantizerSpec::kDefaultScaleBits);
  EXPECT_EQ(cfg.spec(Component::D).calibration, Calibration::MaxAbs);
  EXPECT_EQ(cfg.spec(Component::D).scale, ScaleKind::Pow2);
  EXPECT_EQ(cfg.spec(Component::act).percentile, 99.9);
  EXPECT_EQ(PrecisionConfig::from_yaml(cfg.to_yaml()), cfg);
}

TEST(PrecisionConfig, RejectsBitWidthsOutsideOneToThirtyTwo) {
  expect_config_error("components: {A: {bits: 33}}", "precision.components.A.bits", "33",
                      {"1..32"});
  expect_config_error("components: {A: {bits: 0}}", "precision.components.A.bits", "0");
  expect_config_error("components: {A: {bits: eight}}", "precision.components.A.bits", "eight");
  expect_config_error("components: {D: 40}", "precision.components.D", "40");
  expect_config_error("defaults: {bits: -3}", "precision.defaults.bits", "-3");
  expect_config_error("components: {A: {bits: 1}}", "precision.components.A.bits", "1",
                      {"symmetric"});
  EXPECT_NO_THROW(parse("components: {D: {bits: 1, scheme: asymmetric}}"));
}

TEST(PrecisionConfig, RejectsAsymmetricSchemesForTheComplexComponents) {
  for (const char* c : {"A", "B", "C", "x"})
    expect_config_error(std::string("components: {") + c + ": {scheme: asymmetric}}",
                        std::string("precision.components.") + c + ".scheme", "asymmetric",
                        {"complex", "symmetric"});
  EXPECT_NO_THROW(parse("components: {D: {scheme: asymmetric}, act: {scheme: asymmetric}}"));
  // inherited from the defaults: blamed where it was written
  expect_config_error("default: quantized\ndefaults: {scheme: asymmetric}",
                      "precision.defaults.scheme", "asymmetric", {"complex component A"});
}

TEST(PrecisionConfig, RejectsPercentileWithoutPercentileCalibrationOrOutOfRange) {
  expect_config_error("components: {act: {percentile: 99}}", "precision.components.act.percentile",
                      "99", {"calibration: percentile"});
  expect_config_error("defaults: {calibration: mse, percentile: 99}",
                      "precision.defaults.percentile", "99");
  expect_config_error("defaults: {calibration: percentile}\ncomponents: {act: {calibration: mse, "
                      "percentile: 99.9}}",
                      "precision.components.act.percentile", "99.9");
  for (const char* bad : {"0", "100.5", "-1", "nan", "lots"})
    expect_config_error(std::string("components: {act: {calibration: percentile, percentile: ") +
                            bad + "}}",
                        "precision.components.act.percentile", bad);
  EXPECT_NO_THROW(parse("components: {act: {calibration: percentile, percentile: 100}}"));
}

TEST(PrecisionConfig, RejectsScaleBitsOutOfRangeOrWithPowerOfTwoScales) {
  expect_config_error("components: {A: {scale_bits: 1}}", "precision.components.A.scale_bits", "1",
                      {"2..31"});
  expect_config_error("components: {A: {scale_bits: 32}}", "precision.components.A.scale_bits",
                      "32");
  expect_config_error("components: {A: {scale: pow2, scale_bits: 12}}",
                      "precision.components.A.scale_bits", "12", {"dyadic"});
  expect_config_error("defaults: {scale: pow2}\ncomponents: {A: {scale_bits: 12}}",
                      "precision.components.A.scale_bits", "12");
}

TEST(PrecisionConfig, RejectsFracWithCalibrationSettingsOrAnAsymmetricScheme) {
  expect_config_error("components: {x: {frac: 8, calibration: mse}}",
                      "precision.components.x.calibration", "mse", {"frac"});
  expect_config_error("components: {x: {frac: 8, scale: dyadic}}", "precision.components.x.scale",
                      "dyadic", {"frac"});
  expect_config_error("components: {x: {frac: 8, scale_bits: 10}}",
                      "precision.components.x.scale_bits", "10");
  expect_config_error("components: {x: {frac: 8, calibration: percentile, percentile: 99}}",
                      "precision.components.x.calibration", "percentile");
  expect_config_error("components: {D: {frac: 4, scheme: asymmetric}}",
                      "precision.components.D.frac", "4", {"symmetric"});
  expect_config_error("components: {D: {frac: 2000}}", "precision.components.D.frac", "2000");
  expect_config_error("defaults: {frac: 4}", "precision.defaults.frac", "4",
                      {"only in a component"});
  EXPECT_NO_THROW(parse("components: {x: {frac: 8, calibration: maxabs, scale: pow2}}"));
}

TEST(PrecisionConfig, RejectsABiasNarrowerThanTheWeightsAndActivationsItIsAddedTo) {
  expect_config_error("components: {mixing: {bits: 16}, act: 8, bias: {bits: 8}}",
                      "precision.components.bias.bits", "8", {"mixing", "16..32"});
  expect_config_error("default: quantized\ndefaults: {bits: 8}\ncomponents: {bias: 4}",
                      "precision.components.bias", "4", {"8..32"});
  expect_config_error("components: {bias: {scheme: asymmetric}}",
                      "precision.components.bias.scheme", "asymmetric", {"accumulator"});
  // a wide state or A does not constrain the bias: it is never added to them
  EXPECT_NO_THROW(parse("components: {A: 16, x: 16, encoder: 8, bias: 8}"));
}

TEST(PrecisionConfig, RejectsUnknownKeysAndComponentsListingTheAllowedOnes) {
  expect_config_error("components: {A: {bitz: 8}}", "precision.components.A.bitz", "8",
                      {"unknown key", "bits, scheme, granularity"});
  expect_config_error("nam: x", "precision.nam", "x",
                      {"name, description, default, defaults, components"});
  expect_config_error("defaults: {colour: red}", "precision.defaults.colour", "red");
  expect_config_error("components: {E: 8}", "precision.components.E", "E",
                      {"A, B, C, D, x, ssm_in, ssm_out, encoder, decoder, mixing, act, bias"});
  expect_config_error("components: {A: [1, 2]}", "precision.components.A", "[1, 2]",
                      {"float, quantized"});
  expect_config_error("default: maybe", "precision.default", "maybe", {"float", "quantized"});
  expect_config_error("components: {A: {rounding: nearest}}", "precision.components.A.rounding",
                      "nearest", {"half_even"});
  expect_config_error("components: {A: {overflow: clamp}}", "precision.components.A.overflow",
                      "clamp", {"saturate_symmetric"});
  expect_config_error("components: {A: {scheme: sym}}", "precision.components.A.scheme", "sym");
  expect_config_error("components: {A: {granularity: row}}",
                      "precision.components.A.granularity", "row", {"per_channel"});
  expect_config_error("components: {A: {scale: log}}", "precision.components.A.scale", "log");
  expect_config_error("components: {A: {calibration: kl}}", "precision.components.A.calibration",
                      "kl", {"maxabs, percentile, mse"});
  expect_config_error("name: [a]", "precision.name", "[a]");
  expect_config_error("[1, 2]", "precision", "[1, 2]");
}

TEST(PrecisionConfig, NamesKeysUnderTheCallersPrefix) {
  try {
    parse("components: {A: {bits: 99}}", "run.precision");
    FAIL() << "no ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key(), "run.precision.components.A.bits");
  }
}

TEST(PrecisionConfig, ReportsTheFileAndLineOfYamlSyntaxErrors) {
  const auto dir = testing::scratch_dir("precision_syntax");
  const auto file = dir / "broken.yaml";
  std::ofstream(file) << "name: broken\ndefault: float\ncomponents: {A: {bits: 8}\n";
  try {
    PrecisionConfig::load(file);
    FAIL() << "no InputError";
  } catch (const ConfigError& e) {
    FAIL() << "a syntax error is not a config error: " << e.what();
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(file.string() + ":4:"), std::string::npos) << msg;
    EXPECT_NE(msg.find("YAML syntax error"), std::string::npos) << msg;
  }
}

TEST(PrecisionConfig, ReportsTheFileAndLineOfInvalidValues) {
  const auto dir = testing::scratch_dir("precision_value");
  const auto file = dir / "bad.yaml";
  std::ofstream(file) << "name: bad\ncomponents:\n  A:\n    bits: 40\n";
  try {
    PrecisionConfig::load(file);
    FAIL() << "no ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key(), "precision.components.A.bits");
    const std::string msg = e.what();
    EXPECT_NE(msg.find("'40'"), std::string::npos) << msg;
    EXPECT_NE(msg.find(file.string() + ":4:"), std::string::npos) << msg;
  }
}

TEST(PrecisionConfig, ReportsAMissingFileByName) {
  const auto missing = testing::scratch_dir("precision_missing") / "nope.yaml";
  try {
    PrecisionConfig::load(missing);
    FAIL() << "no InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(missing.string()), std::string::npos) << e.what();
  }
}

TEST(PrecisionConfig, NamesAnUnnamedFileAfterItsStem) {
  const auto file = testing::scratch_dir("precision_stem") / "my_mix.yaml";
  std::ofstream(file) << "components: {A: 8}\n";
  EXPECT_EQ(PrecisionConfig::load(file).name(), "my_mix");
}

TEST(PrecisionConfig, ValidatesProgrammaticEditsWithTheSameRules) {
  PrecisionConfig cfg;
  QuantizerSpec s;
  s.scheme = Scheme::Asymmetric;
  cfg.set_quantized(Component::D, s);
  EXPECT_NO_THROW(cfg.validate());
  cfg.set_quantized(Component::A, s);
  try {
    cfg.validate();
    FAIL() << "no ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key(), "precision.components.A.scheme");
  }
  cfg.set_float(Component::A);
  s.bits = 40;
  cfg.set_quantized(Component::x, s);
  try {
    cfg.validate("p");
    FAIL() << "no ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key(), "p.components.x.bits");
  }
}

TEST(Components, HaveFixedNamesThatParseBack) {
  EXPECT_EQ(all_components().size(), static_cast<size_t>(kNumComponents));
  for (Component c : all_components()) {
    EXPECT_EQ(parse_component(component_name(c)), c);
    EXPECT_NE(std::string(component_names()).find(component_name(c)), std::string::npos);
  }
  try {
    parse_component("Q");
    FAIL() << "no ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key(), "component");
    EXPECT_NE(std::string(e.what()).find("ssm_out"), std::string::npos);
  }
  EXPECT_TRUE(is_complex(Component::A) && is_complex(Component::B) && is_complex(Component::C) &&
              is_complex(Component::x));
  EXPECT_FALSE(is_complex(Component::D) || is_complex(Component::bias));
  EXPECT_EQ(component_kind(Component::x), ComponentKind::State);
  EXPECT_EQ(component_kind(Component::act), ComponentKind::Activation);
  EXPECT_EQ(component_kind(Component::mixing), ComponentKind::Weight);
  EXPECT_EQ(component_kind(Component::bias), ComponentKind::Bias);
}

TEST(Components, TheTableListsEveryComponentOnceInEnumOrderWithUniqueNames) {
  std::string joined;
  for (int i = 0; i < kNumComponents; ++i) {
    const ComponentInfo& row = kComponents[i];
    EXPECT_EQ(static_cast<int>(row.id), i);
    EXPECT_EQ(all_components()[static_cast<size_t>(i)], row.id);
    EXPECT_EQ(component_name(row.id), row.name);
    for (int j = 0; j < i; ++j) EXPECT_STRNE(kComponents[j].name, row.name);
    joined += (i ? ", " : "") + std::string(row.name);
  }
  EXPECT_EQ(joined, component_names());
}

}  // namespace
}  // namespace ssmsim::quant
