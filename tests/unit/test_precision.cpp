// Precision configs: presets, round trips, and one ConfigError per rule with the right key.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <set>
#include <string>

#include "quant/errors.hpp"
#include "quant/precision.hpp"
#include "quant/yaml_value.hpp"
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
  for (const char* want : {"float", "w8a8_state8", "all8_static", "a8_rest4", "hetero_example", "w8a8_hw", "qssm_8bit",
                           "qs5_w8a8", "qs5_w4a8wssm8", "qs5_w4a8wa8", "qs5_w4a8", "qs5_w2a8wssm8", "qs5_w2a8wa8",
                           "qs5_w2a8"})
    EXPECT_EQ(names.count(want), 1u) << want;
}

TEST(PrecisionConfig, PresetsSayWhatTheirPapersUsed) {
  const auto f = PrecisionConfig::load(presets() / "float.yaml");
  for (Component c : all_components()) EXPECT_TRUE(f.is_float(c)) << component_name(c);

  // the S4D paper's code (QSSM q_config.yaml): dA, dB, dC asymmetric per channel, D and the
  // linear layers asymmetric per tensor, quantile 99.999 nearest, 8 bits; a 16-bit state; biases,
  // residual and GLU float (here wide or 16); the hard GELU
  const auto qssm = PrecisionConfig::load(presets() / "qssm_8bit.yaml");
  EXPECT_EQ(qssm.gelu(), "hard");
  for (Component c : {Component::A, Component::B, Component::C}) {
    EXPECT_EQ(qssm.bits(c), 8) << component_name(c);
    EXPECT_EQ(qssm.spec(c).scheme, Scheme::Asymmetric) << component_name(c);
    EXPECT_EQ(qssm.spec(c).granularity, Granularity::PerChannel) << component_name(c);
    EXPECT_EQ(qssm.spec(c).calibration, Calibration::QuantileNearest) << component_name(c);
    EXPECT_EQ(qssm.spec(c).percentile, 99.999) << component_name(c);
  }
  for (Component c : {Component::D, Component::encoder, Component::decoder, Component::mixing}) {
    EXPECT_EQ(qssm.spec(c).scheme, Scheme::Asymmetric) << component_name(c);
    EXPECT_EQ(qssm.spec(c).granularity, Granularity::PerTensor) << component_name(c);
  }
  EXPECT_EQ(qssm.bits(Component::x), 16);
  EXPECT_EQ(qssm.spec(Component::x).scheme, Scheme::Symmetric);
  for (Component c : {Component::input, Component::ssm_in, Component::ssm_out, Component::gelu_out, Component::pool})
    EXPECT_EQ(qssm.bits(c), 8) << component_name(c);
  EXPECT_EQ(qssm.bits(Component::residual), 32);
  EXPECT_EQ(qssm.bits(Component::bias), 32);

  // Q-S5's sMNIST PTQ rows: A / B, C, D / dense weights; activations and the state operand 8
  struct Row {
    const char* file;
    int a, bcd, dense;
  };
  for (const Row& r : {Row{"qs5_w8a8", 8, 8, 8}, Row{"qs5_w4a8wssm8", 8, 8, 4}, Row{"qs5_w4a8wa8", 8, 4, 4},
                       Row{"qs5_w4a8", 4, 4, 4}, Row{"qs5_w2a8wssm8", 8, 8, 2}, Row{"qs5_w2a8wa8", 8, 2, 2},
                       Row{"qs5_w2a8", 2, 2, 2}}) {
    SCOPED_TRACE(r.file);
    const auto q = PrecisionConfig::load(presets() / (std::string(r.file) + ".yaml"));
    EXPECT_EQ(q.bits(Component::A), r.a);
    for (Component c : {Component::B, Component::C, Component::D}) EXPECT_EQ(q.bits(c), r.bcd) << component_name(c);
    for (Component c : {Component::encoder, Component::decoder, Component::mixing})
      EXPECT_EQ(q.bits(c), r.dense) << component_name(c);
    for (Component c : all_components())
      if (component_kind(c) == ComponentKind::Weight && c != Component::norm)
        EXPECT_EQ(q.spec(c).scheme, Scheme::Symmetric) << component_name(c);
    EXPECT_EQ(q.spec(Component::x).operand_bits, 8);
    for (Component c : {Component::input, Component::ssm_in, Component::ssm_out, Component::gelu_out, Component::pool})
      EXPECT_EQ(q.bits(c), 8) << component_name(c);
    EXPECT_EQ(q.bits(Component::residual), 32);
    EXPECT_EQ(q.gelu(), "hard");
  }

  // the hardware-real 8-bit preset: every stored weight 8 bits, the state operand 8 bits
  const auto hw = PrecisionConfig::load(presets() / "w8a8_hw.yaml");
  for (Component c : all_components())
    if (component_kind(c) == ComponentKind::Weight) EXPECT_EQ(hw.bits(c), 8) << component_name(c);
  EXPECT_EQ(hw.spec(Component::A).scheme, Scheme::Asymmetric);
  EXPECT_EQ(hw.spec(Component::x).operand_bits, 8);
  EXPECT_EQ(hw.spec(Component::x).operand_block, 1);

  // the old presets, under names that say what they are
  const auto all8 = PrecisionConfig::load(presets() / "all8_static.yaml");
  for (Component c : all_components()) EXPECT_EQ(all8.bits(c), 8) << component_name(c);
  const auto a8 = PrecisionConfig::load(presets() / "a8_rest4.yaml");
  EXPECT_EQ(a8.bits(Component::A), 8);
  for (Component c : {Component::B, Component::C, Component::D, Component::x, Component::ssm_in,
                      Component::ssm_out, Component::encoder, Component::decoder,
                      Component::mixing, Component::act, Component::residual})
    EXPECT_EQ(a8.bits(c), 4) << component_name(c);

  const auto w8a8_state8 = PrecisionConfig::load(presets() / "w8a8_state8.yaml");
  for (Component c : all_components())
    if (c != Component::bias) {
      EXPECT_EQ(w8a8_state8.bits(c), 8) << component_name(c);
    }
  EXPECT_EQ(w8a8_state8.spec(Component::x).operand_bits, 0);
  EXPECT_EQ(w8a8_state8.spec(Component::act).calibration, Calibration::Percentile);
  EXPECT_EQ(w8a8_state8.spec(Component::encoder).granularity, Granularity::PerChannel);

  const auto het = PrecisionConfig::load(presets() / "hetero_example.yaml");
  EXPECT_GE(het.bits(Component::A), 12);
  EXPECT_GE(het.bits(Component::x), 12);
  EXPECT_EQ(het.spec(Component::x).scale, ScaleKind::Pow2);
  for (Component c : {Component::B, Component::C, Component::D, Component::encoder,
                      Component::decoder})
    EXPECT_LE(het.bits(c), 6) << component_name(c);
}

// A precision config names its GELU (gelu: hard); quantize.gelu 'precision' (the default) takes it.
TEST(PrecisionConfig, NamesItsGeluOrNone) {
  EXPECT_EQ(parse("name: a").gelu(), "");
  const auto h = parse("name: a\ngelu: hard");
  EXPECT_EQ(h.gelu(), "hard");
  EXPECT_EQ(PrecisionConfig::from_yaml(h.to_yaml()), h);
  EXPECT_NE(h, parse("name: a\ngelu: lut"));
  expect_config_error("gelu: erf", "precision.gelu", "erf", {"lut", "hard"});
}

// rescale_bits: 31 unless set, 1..31 (1: shift-only), written to YAML only when not 31 (so every
// earlier file and config reads and writes as before), part of equality.
TEST(PrecisionConfig, RescaleBitsDefaultsTo31AndRoundTrips) {
  EXPECT_EQ(parse("name: a").rescale_bits(), 31);
  EXPECT_FALSE(parse("name: a").to_yaml()["rescale_bits"]);
  for (const int b : {1, 12, 16, 31}) {
    const auto p = parse("name: a\nrescale_bits: " + std::to_string(b));
    EXPECT_EQ(p.rescale_bits(), b);
    EXPECT_EQ(PrecisionConfig::from_yaml(p.to_yaml()), p);
  }
  EXPECT_NE(parse("name: a\nrescale_bits: 12"), parse("name: a"));
  for (const std::string bad : {"0", "32", "-3", "12.5", "wide"})
    expect_config_error("rescale_bits: " + bad, "precision.rescale_bits", bad, {"1..31", "shift-only"});
  PrecisionConfig p;
  EXPECT_THROW(p.set_rescale_bits(0), ConfigError);
  p.set_rescale_bits(8);
  EXPECT_EQ(p.rescale_bits(), 8);
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

// Weights take zero points (the operand q - zp is formed at fetch, docs/fixed_point.md 9.2), the
// complex A, B and C included; the state does not (a zero point on it would add cross terms to
// every complex product of the recurrence).
TEST(PrecisionConfig, RejectsAnAsymmetricStateAndAcceptsAsymmetricWeights) {
  expect_config_error("components: {x: {scheme: asymmetric}}", "precision.components.x.scheme", "asymmetric",
                      {"state x", "allowed: symmetric"});
  for (const char* c : {"A", "B", "C", "D", "encoder", "decoder", "mixing", "norm"}) {
    SCOPED_TRACE(c);
    const auto cfg = parse(std::string("components: {") + c + ": {scheme: asymmetric, granularity: per_channel}}");
    EXPECT_EQ(cfg.spec(parse_component(c)).scheme, Scheme::Asymmetric);
    EXPECT_EQ(PrecisionConfig::from_yaml(cfg.to_yaml()), cfg);
  }
  EXPECT_NO_THROW(parse("components: {D: {scheme: asymmetric}, act: {scheme: asymmetric}}"));
  // inherited from the defaults: blamed where it was written, naming the state
  expect_config_error("default: quantized\ndefaults: {scheme: asymmetric}",
                      "precision.defaults.scheme", "asymmetric", {"state x"});
  // the defaults' asymmetric scheme is fine once the state says symmetric (the unlisted bias is
  // then the next to refuse it: at accumulator scale its zero point is 0)
  expect_config_error("default: quantized\ndefaults: {scheme: asymmetric}\ncomponents: {x: {scheme: symmetric}}",
                      "precision.defaults.scheme", "asymmetric", {"accumulator"});
  EXPECT_NO_THROW(parse("default: quantized\ndefaults: {scheme: asymmetric}\n"
                        "components: {x: {scheme: symmetric}, bias: {scheme: symmetric}}"));
}

// Activation points take zero points (docs/fixed_point.md 9.2: u<b>, read and written as the
// operand q - zp), every activation component, the gate's entry included (its format is fixed, its
// scheme ignored); not one narrowed to a block-floating-point operand (its mantissas are signed),
// blamed at the scheme, also where the scheme comes from the defaults.
TEST(PrecisionConfig, AsymmetricActivationsButNoneWithABlockFloatingPointOperand) {
  for (const char* c : {"act", "input", "residual", "ssm_in", "ssm_out", "gelu_out", "glu", "gate", "pool"}) {
    SCOPED_TRACE(c);
    const auto cfg = parse(std::string("components: {") + c + ": {bits: 6, scheme: asymmetric}}");
    EXPECT_EQ(cfg.spec(parse_component(c)).scheme, Scheme::Asymmetric);
    EXPECT_EQ(PrecisionConfig::from_yaml(cfg.to_yaml()), cfg);
  }
  for (const char* c : {"input", "ssm_in", "gelu_out", "pool"}) {
    SCOPED_TRACE(c);
    const std::string at = std::string("precision.components.") + c + ".scheme";
    expect_config_error(std::string("components: {") + c +
                            ": {bits: 12, scheme: asymmetric, operand_bits: 6, operand_block: 1}}",
                        at, "asymmetric", {"block-floating-point operand", "mantissas are signed", "symmetric"});
    EXPECT_NO_THROW(parse(std::string("components: {") + c +
                          ": {bits: 12, scheme: symmetric, operand_bits: 6, operand_block: 1}}"));
    // the scheme from the defaults: blamed where it was written
    expect_config_error(std::string("default: quantized\ndefaults: {scheme: asymmetric}\ncomponents: {x: {scheme: "
                                    "symmetric}, bias: {scheme: symmetric}, ") +
                            c + ": {bits: 12, operand_bits: 6, operand_block: 1}}",
                        "precision.defaults.scheme", "asymmetric", {"block-floating-point operand"});
  }
  // programmatic edits: the same rule
  PrecisionConfig cfg;
  QuantizerSpec s;
  s.bits = 12;
  s.scheme = Scheme::Asymmetric;
  cfg.set_quantized(Component::ssm_in, s);
  EXPECT_NO_THROW(cfg.validate());
  s.operand_bits = 6;
  s.operand_block = 2;
  cfg.set_quantized(Component::ssm_in, s);
  EXPECT_THROW(cfg.validate(), ConfigError);
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
                      {"name, description, gelu, rescale_bits, default, defaults, components"});
  expect_config_error("defaults: {colour: red}", "precision.defaults.colour", "red");
  expect_config_error("components: {E: 8}", "precision.components.E", "E",
                      {"A, B, C, D, x, ssm_in, ssm_out, encoder, decoder, mixing, act, input, residual, "
                       "gelu_out, glu, gate, pool, bias, norm"});
  expect_config_error("components: {A: [1, 2]}", "precision.components.A", "[1, 2]",
                      {"float, quantized, wide"});
  expect_config_error("components: {A: narrow}", "precision.components.A", "narrow", {"float, quantized, wide"});
  expect_config_error("components: {x: {operand_bitz: 8}}", "precision.components.x.operand_bitz", "8",
                      {"unknown key", "operand_bits, operand_block"});
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
  cfg.set_quantized(Component::A, s);
  EXPECT_NO_THROW(cfg.validate());
  auto expect_key = [&](const std::string& prefix, const std::string& key) {
    try {
      cfg.validate(prefix);
      ADD_FAILURE() << "no ConfigError, expected one at " << key;
    } catch (const ConfigError& e) {
      EXPECT_EQ(e.key(), key) << e.what();
    }
  };
  cfg.set_quantized(Component::x, s);
  expect_key("precision", "precision.components.x.scheme");
  s.scheme = Scheme::Symmetric;
  s.bits = 40;
  cfg.set_quantized(Component::x, s);
  expect_key("p", "p.components.x.bits");
  s.bits = 8;
  s.operand_bits = 6;
  cfg.set_quantized(Component::x, s);
  EXPECT_NO_THROW(cfg.validate());
  cfg.set_quantized(Component::A, s);  // a weight takes no operand keys
  expect_key("p", "p.components.A.operand_bits");
  cfg.set_float(Component::A);
  s.operand_bits = 9;
  cfg.set_quantized(Component::x, s);
  expect_key("p", "p.components.x.operand_bits");
}

// ---------- the activation points split from act ----------

const Component kActChildren[] = {Component::input, Component::residual, Component::gelu_out,
                                  Component::glu,   Component::gate,     Component::pool};

TEST(PrecisionConfig, ActivationPointsSplitFromActInheritItsEntryUnlessListed) {
  for (const Component c : kActChildren) EXPECT_EQ(info(c).parent, Component::act) << component_name(c);
  EXPECT_EQ(info(Component::act).parent, Component::act);
  EXPECT_EQ(info(Component::ssm_in).parent, Component::ssm_in);

  const auto only_act = parse("components: {act: {bits: 9, rounding: floor}}");
  for (const Component c : kActChildren) {
    EXPECT_TRUE(only_act.component(c) == only_act.component(Component::act)) << component_name(c);
    EXPECT_EQ(only_act.bits(c), 9) << component_name(c);
  }
  EXPECT_TRUE(only_act.is_float(Component::ssm_in));  // not a child: default float

  const auto listed = parse(R"(
default: quantized
defaults: {bits: 6}
components:
  act: {bits: 10, calibration: mse}
  residual: 16
  gate: 4
  pool: float
)");
  EXPECT_EQ(listed.bits(Component::ssm_in), 6);  // unlisted, not a child: the defaults
  EXPECT_EQ(listed.bits(Component::act), 10);
  EXPECT_EQ(listed.bits(Component::residual), 16);
  EXPECT_EQ(listed.spec(Component::residual).calibration, Calibration::MaxAbs);  // its own entry, from the defaults
  EXPECT_EQ(listed.bits(Component::gate), 4);
  EXPECT_TRUE(listed.is_float(Component::pool));
  for (const Component c : {Component::input, Component::gelu_out, Component::glu}) {
    EXPECT_EQ(listed.bits(c), 10) << component_name(c);  // act's entry, not the defaults'
    EXPECT_EQ(listed.spec(c).calibration, Calibration::Mse) << component_name(c);
  }

  // a float act: its unlisted children are float too, a listed one is quantized
  const auto float_act = parse("components: {A: 8, glu: 12}");
  EXPECT_TRUE(float_act.is_float(Component::act));
  EXPECT_TRUE(float_act.is_float(Component::residual));
  EXPECT_EQ(float_act.bits(Component::glu), 12);
}

TEST(PrecisionConfig, SettingActProgrammaticallySetsTheComponentsThatInheritIt) {
  PrecisionConfig cfg;
  QuantizerSpec s;
  s.bits = 8;
  cfg.set_quantized(Component::act, s);
  for (const Component c : kActChildren) EXPECT_EQ(cfg.bits(c), 8) << component_name(c);
  EXPECT_TRUE(cfg.is_float(Component::ssm_in));
  QuantizerSpec wide = s;
  wide.bits = 16;
  cfg.set_quantized(Component::residual, wide);  // a child after its parent: it differs
  EXPECT_EQ(cfg.bits(Component::residual), 16);
  EXPECT_EQ(cfg.bits(Component::glu), 8);
  cfg.set_float(Component::gate);
  EXPECT_TRUE(cfg.is_float(Component::gate));
  EXPECT_EQ(cfg.bits(Component::pool), 8);
  cfg.set_quantized(Component::act, s);  // setting the parent again sets every child
  EXPECT_EQ(cfg.bits(Component::residual), 8);
  EXPECT_FALSE(cfg.is_float(Component::gate));
  cfg.set_float(Component::act);
  for (const Component c : kActChildren) EXPECT_TRUE(cfg.is_float(c)) << component_name(c);
}

TEST(PrecisionConfig, ToYamlLeavesOutAChildEqualToItsParentAndRoundTrips) {
  const auto same = parse("components: {act: 8, A: 8}");
  const YAML::Node y = same.to_yaml();
  EXPECT_TRUE(y["components"]["act"].IsDefined());
  for (const Component c : kActChildren)
    EXPECT_FALSE(y["components"][component_name(c)].IsDefined()) << component_name(c);
  EXPECT_EQ(PrecisionConfig::from_yaml(y), same);
  EXPECT_EQ(PrecisionConfig::from_yaml(YAML::Load(same.to_yaml_string())), same);

  const auto differ = parse("components: {act: 8, residual: 16, gate: float, pool: {bits: 8, rounding: floor}}");
  const YAML::Node d = differ.to_yaml();
  EXPECT_EQ(d["components"]["residual"]["bits"].as<int>(), 16);
  EXPECT_EQ(d["components"]["gate"].as<std::string>(), "float");
  EXPECT_EQ(d["components"]["pool"]["rounding"].as<std::string>(), "floor");
  for (const Component c : {Component::input, Component::gelu_out, Component::glu})
    EXPECT_FALSE(d["components"][component_name(c)].IsDefined()) << component_name(c);
  EXPECT_EQ(PrecisionConfig::from_yaml(d), differ);
  EXPECT_EQ(PrecisionConfig::from_yaml(YAML::Load(differ.to_yaml_string())), differ);

  // a child quantized under a float act, and the same made programmatically
  const auto under_float = parse("components: {glu: 12}");
  EXPECT_EQ(PrecisionConfig::from_yaml(under_float.to_yaml()), under_float);
  PrecisionConfig edited;
  QuantizerSpec s;
  s.bits = 8;
  edited.set_quantized(Component::act, s);
  s.bits = 14;
  edited.set_quantized(Component::residual, s);
  edited.validate();
  EXPECT_EQ(PrecisionConfig::from_yaml(edited.to_yaml()), edited);
}

// `wide`: the accumulator's width (32 bits, maxabs), where a paper leaves a point float.
TEST(PrecisionConfig, WideMeansThirtyTwoBitsMaxAbs) {
  const auto cfg = parse(R"(
default: quantized
defaults: {bits: 8, calibration: percentile, percentile: 99.9, rounding: floor}
components:
  residual: wide
  pool: wide
  bias: wide
)");
  for (const Component c : {Component::residual, Component::pool, Component::bias}) {
    EXPECT_EQ(cfg.bits(c), 32) << component_name(c);
    EXPECT_EQ(cfg.spec(c).calibration, Calibration::MaxAbs) << component_name(c);
    EXPECT_EQ(cfg.spec(c).percentile, QuantizerSpec::kDefaultPercentile) << component_name(c);  // dropped
    EXPECT_EQ(cfg.spec(c).rounding, Rounding::Floor) << component_name(c);  // the rest from the defaults
  }
  EXPECT_EQ(cfg.bits(Component::act), 8);
  EXPECT_EQ(cfg.bits(Component::glu), 8);
  EXPECT_EQ(cfg.spec(Component::glu).calibration, Calibration::Percentile);
  EXPECT_EQ(PrecisionConfig::from_yaml(cfg.to_yaml()), cfg);
  // `act: wide` is inherited by its children
  const auto act = parse("components: {act: wide}");
  for (const Component c : kActChildren) EXPECT_EQ(act.bits(c), 32) << component_name(c);
}

// A bias not listed is at the accumulator's width whatever the defaults' bits; listed, it takes
// what it is given (the defaults for `quantized`); under default: float it stays float.
TEST(PrecisionConfig, AnUnlistedBiasIsThirtyTwoBitsUnderDefaultQuantized) {
  const auto unlisted = parse("default: quantized\ndefaults: {bits: 8, scale: pow2}");
  EXPECT_EQ(unlisted.bits(Component::bias), 32);
  EXPECT_EQ(unlisted.spec(Component::bias).scale, ScaleKind::Pow2);  // the other keys: the defaults
  EXPECT_EQ(unlisted.bits(Component::encoder), 8);
  EXPECT_EQ(PrecisionConfig::from_yaml(unlisted.to_yaml()), unlisted);
  EXPECT_EQ(parse("default: quantized\ndefaults: {bits: 8}\ncomponents: {bias: 16}").bits(Component::bias), 16);
  EXPECT_EQ(parse("default: quantized\ndefaults: {bits: 8}\ncomponents: {bias: quantized}").bits(Component::bias), 8);
  EXPECT_TRUE(parse("defaults: {bits: 8}\ncomponents: {encoder: 8}").is_float(Component::bias));
}

// operand_bits / operand_block: the state x and the activations whose consumers multiply them
// (input, ssm_in, gelu_out, pool; a component entry, never a default), operand_bits 0 or 2..bits,
// operand_block 0..4096 and only with operand_bits; written back only where set.
TEST(PrecisionConfig, StateOperandKeysOnlyOnXWithinTheirRanges) {
  const auto stat = parse("components: {x: {bits: 16, operand_bits: 8}}");
  EXPECT_EQ(stat.spec(Component::x).operand_bits, 8);
  EXPECT_EQ(stat.spec(Component::x).operand_block, 0);
  EXPECT_EQ(PrecisionConfig::from_yaml(stat.to_yaml()), stat);
  const auto block = parse("components: {x: {bits: 16, operand_bits: 8, operand_block: 4096}}");
  EXPECT_EQ(block.spec(Component::x).operand_block, 4096);
  EXPECT_EQ(block.to_yaml()["components"]["x"]["operand_block"].as<int>(), 4096);
  EXPECT_EQ(PrecisionConfig::from_yaml(YAML::Load(block.to_yaml_string())), block);
  EXPECT_FALSE(parse("components: {x: 16}").to_yaml()["components"]["x"]["operand_bits"].IsDefined());
  EXPECT_NO_THROW(parse("components: {x: {bits: 8, operand_bits: 8, operand_block: 1}}"));
  EXPECT_NO_THROW(parse("components: {x: {bits: 8, operand_bits: 2}}"));

  for (const char* c : {"A", "B", "C", "D", "act", "encoder", "bias", "residual", "glu", "gate", "ssm_out"})
    expect_config_error(std::string("components: {") + c + ": {bits: 16, operand_bits: 8, operand_block: 1}}",
                        std::string("precision.components.") + c + ".operand_bits", "8",
                        {"only to the state x and to the activations input, ssm_in, gelu_out and pool"});
  expect_config_error("components: {A: {bits: 16, operand_bits: 8, operand_block: 2}}",
                      "precision.components.A.operand_bits", "8", {"state x"});
  expect_config_error("defaults: {operand_bits: 8}", "precision.defaults.operand_bits", "8",
                      {"unknown key", "only in a component"});
  expect_config_error("components: {x: {bits: 16, operand_block: 4}}", "precision.components.x.operand_block", "4",
                      {"only with operand_bits"});
  expect_config_error("components: {x: {bits: 8, operand_bits: 9}}", "precision.components.x.operand_bits", "9",
                      {"2..8"});
  expect_config_error("components: {x: {bits: 16, operand_bits: 1}}", "precision.components.x.operand_bits", "1",
                      {"2..16"});
  expect_config_error("components: {x: {bits: 16, operand_bits: -2}}", "precision.components.x.operand_bits", "-2");
  expect_config_error("components: {x: {bits: 16, operand_bits: 8, operand_block: 4097}}",
                      "precision.components.x.operand_block", "4097", {"1..4096"});
  expect_config_error("components: {x: {bits: 16, operand_bits: 8, operand_block: -1}}",
                      "precision.components.x.operand_block", "-1");
  expect_config_error("components: {x: {bits: 16, operand_bits: eight}}", "precision.components.x.operand_bits",
                      "eight");
  // inherited by a narrower x from the defaults' bits: blamed at the operand key
  expect_config_error("default: quantized\ndefaults: {bits: 6}\ncomponents: {x: {operand_bits: 8}}",
                      "precision.components.x.operand_bits", "8", {"2..6"});
}

// Activation operands (docs/fixed_point.md 9.3): block floating point on input, ssm_in, gelu_out
// and pool only, always with operand_block 1..4096 (no static operand: that is the point at fewer
// bits), operand_bits 2..bits, and bits at most 30 (the mantissa times 2^e is held in 32 bits).
TEST(PrecisionConfig, ActivationOperandsAreBlockFloatingPointOnTheFourMultipliedPoints) {
  for (const Component c : {Component::input, Component::ssm_in, Component::gelu_out, Component::pool}) {
    const std::string cn = component_name(c);
    SCOPED_TRACE(cn);
    const auto p = parse("components: {" + cn + ": {bits: 12, operand_bits: 6, operand_block: 3}}");
    EXPECT_EQ(p.spec(c).operand_bits, 6);
    EXPECT_EQ(p.spec(c).operand_block, 3);
    EXPECT_EQ(p.to_yaml()["components"][cn]["operand_block"].as<int>(), 3);
    EXPECT_EQ(PrecisionConfig::from_yaml(YAML::Load(p.to_yaml_string())), p);
    EXPECT_NO_THROW(parse("components: {" + cn + ": {bits: 30, operand_bits: 30, operand_block: 4096}}"));
    EXPECT_NO_THROW(parse("components: {" + cn + ": {bits: 8, operand_bits: 2, operand_block: 1}}"));
    EXPECT_NO_THROW(parse("components: {" + cn + ": {bits: 32}}"));  // 32 bits without an operand
    const std::string at = "precision.components." + cn + ".";
    // no static operand on an activation
    expect_config_error("components: {" + cn + ": {bits: 12, operand_bits: 6}}", at + "operand_block", "0",
                        {"operand_block 1..4096"});
    expect_config_error("components: {" + cn + ": {bits: 12, operand_bits: 6, operand_block: 0}}",
                        at + "operand_block", "0", {"block floating point"});
    // bits at most 30 with one
    expect_config_error("components: {" + cn + ": {bits: 31, operand_bits: 8, operand_block: 1}}", at + "bits", "31",
                        {"at most 30"});
    expect_config_error("components: {" + cn + ": {bits: 32, operand_bits: 8, operand_block: 1}}", at + "bits", "32",
                        {"at most 30"});
    // the ranges x has
    expect_config_error("components: {" + cn + ": {bits: 8, operand_bits: 9, operand_block: 1}}", at + "operand_bits",
                        "9", {"2..8"});
    expect_config_error("components: {" + cn + ": {bits: 8, operand_bits: 1, operand_block: 1}}", at + "operand_bits",
                        "1", {"2..8"});
    expect_config_error("components: {" + cn + ": {bits: 12, operand_bits: 6, operand_block: 4097}}",
                        at + "operand_block", "4097", {"1..4096"});
    expect_config_error("components: {" + cn + ": {bits: 12, operand_block: 4}}", at + "operand_block", "4",
                        {"only with operand_bits"});
  }
  // act's entry may not carry them (its children that multiply list their own)
  expect_config_error("components: {act: {bits: 12, operand_bits: 6, operand_block: 1}}",
                      "precision.components.act.operand_bits", "6", {"only to the state x"});
  // programmatic edits: the same rules
  PrecisionConfig cfg;
  QuantizerSpec s;
  s.bits = 12;
  s.operand_bits = 6;
  s.operand_block = 1;
  cfg.set_quantized(Component::gelu_out, s);
  EXPECT_NO_THROW(cfg.validate());
  cfg.set_quantized(Component::residual, s);
  try {
    cfg.validate("p");
    ADD_FAILURE() << "an operand on residual accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key(), "p.components.residual.operand_bits") << e.what();
  }
  cfg.set_quantized(Component::residual, QuantizerSpec{});
  s.operand_block = 0;
  cfg.set_quantized(Component::pool, s);
  try {
    cfg.validate("p");
    ADD_FAILURE() << "a static operand on pool accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key(), "p.components.pool.operand_block") << e.what();
  }
  s.operand_block = 2;
  s.bits = 31;
  cfg.set_quantized(Component::pool, s);
  try {
    cfg.validate("p");
    ADD_FAILURE() << "a 31-bit pool with an operand accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key(), "p.components.pool.bits") << e.what();
  }
}

// `parts` (shared, separate) on the complex weights A, B and C only; `form` (direct, delta) on A
// only (docs/fixed_point.md 6, 9.2, 9.3); a bad value names the key and the allowed values; both
// round-trip through YAML and leave the defaults' other settings alone.
TEST(PrecisionConfig, PartsOnlyOnTheComplexWeightsAndFormOnlyOnA) {
  const auto p = parse("components: {A: {bits: 8, parts: separate, form: delta}, B: {bits: 8, parts: separate},"
                       " C: {bits: 8, parts: shared}}");
  EXPECT_TRUE(p.spec(Component::A).separate_parts);
  EXPECT_TRUE(p.spec(Component::A).delta);
  EXPECT_TRUE(p.spec(Component::B).separate_parts);
  EXPECT_FALSE(p.spec(Component::B).delta);
  EXPECT_FALSE(p.spec(Component::C).separate_parts);
  EXPECT_EQ(PrecisionConfig::from_yaml(p.to_yaml()), p);
  EXPECT_EQ(PrecisionConfig::from_yaml(YAML::Load(p.to_yaml_string())), p);
  EXPECT_EQ(p.to_yaml()["components"]["A"]["parts"].as<std::string>(), "separate");
  EXPECT_EQ(p.to_yaml()["components"]["A"]["form"].as<std::string>(), "delta");
  // the defaults are not written
  const auto plain = parse("components: {A: {bits: 8, parts: shared, form: direct}}");
  EXPECT_FALSE(plain.spec(Component::A).separate_parts || plain.spec(Component::A).delta);
  EXPECT_FALSE(plain.to_yaml()["components"]["A"]["parts"].IsDefined());
  EXPECT_FALSE(plain.to_yaml()["components"]["A"]["form"].IsDefined());
  // a spec differing only in parts or form is another spec
  QuantizerSpec s = p.spec(Component::C), t = s;
  t.separate_parts = true;
  EXPECT_FALSE(s == t);
  t = s;
  t.delta = true;
  EXPECT_FALSE(s == t);

  for (const char* c : {"D", "x", "act", "encoder", "decoder", "mixing", "norm", "bias", "ssm_in", "pool"})
    expect_config_error(std::string("components: {") + c + ": {bits: 16, parts: separate}}",
                        std::string("precision.components.") + c + ".parts", "separate",
                        {"only to the complex weights A, B and C"});
  for (const char* c : {"B", "C", "D", "x", "act", "encoder"})
    expect_config_error(std::string("components: {") + c + ": {bits: 16, form: delta}}",
                        std::string("precision.components.") + c + ".form", "delta", {"only to A"});
  expect_config_error("components: {A: {bits: 8, parts: split}}", "precision.components.A.parts", "split",
                      {"shared", "separate"});
  expect_config_error("components: {A: {bits: 8, form: delta_1}}", "precision.components.A.form", "delta_1",
                      {"direct", "delta"});
  expect_config_error("components: {B: {bits: 8, parts: 2}}", "precision.components.B.parts", "2",
                      {"shared", "separate"});
  // per component, never inherited from the defaults
  expect_config_error("defaults: {parts: separate}", "precision.defaults.parts", "separate", {"only in a component"});
  expect_config_error("defaults: {form: delta}", "precision.defaults.form", "delta", {"only in a component"});
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

// The message of the InputError that loading `file` throws ("" when it loads).
std::string load_error(const std::filesystem::path& file) {
  try {
    PrecisionConfig::load(file);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(PrecisionConfig, LoadRefusesAFolderAFifoAndADeviceNamingThemWithoutOpening) {
  const auto dir = testing::scratch_dir("precision_special");
  const auto fifo = dir / "fifo.yaml";
  std::filesystem::remove(fifo);
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // opening the FIFO for reading would block this test forever: the refusal comes first
  const std::string f = load_error(fifo);
  EXPECT_NE(f.find(fifo.string() + "': not a regular file"), std::string::npos) << f;
  std::filesystem::remove(fifo);
  const std::string d = load_error(dir);
  EXPECT_NE(d.find(dir.string() + "': it is a folder"), std::string::npos) << d;
  const std::string z = load_error("/dev/zero");
  EXPECT_NE(z.find("/dev/zero': not a regular file"), std::string::npos) << z;
  const std::string m = load_error(dir / "missing.yaml");
  EXPECT_NE(m.find("missing.yaml': no such file"), std::string::npos) << m;
}

TEST(PrecisionConfig, LoadRefusesDuplicateKeysNamingTheKeyAndLine) {
  const auto dir = testing::scratch_dir("precision_dup");
  const auto file = dir / "dup.yaml";
  // the last `defaults:` used to win silently: w8a8 became 3 bits
  std::ofstream(file) << "name: w8a8\ndefault: quantized\ndefaults: {bits: 8}\ndefaults: {bits: 3}\n";
  const std::string msg = load_error(file);
  EXPECT_NE(msg.find(file.string() + ":4: duplicate key 'defaults'"), std::string::npos) << msg;
  std::ofstream(file) << "name: n\ncomponents:\n  A: {bits: 8}\n  B: 4\n  A: {bits: 2}\n";
  const std::string nested = load_error(file);
  EXPECT_NE(nested.find(file.string() + ":5: duplicate key 'components.A'"), std::string::npos) << nested;
  std::ofstream(file) << "name: n\ncomponents:\n  A: {bits: 8, bits: 4}\n";
  const std::string inner = load_error(file);
  EXPECT_NE(inner.find("duplicate key 'components.A.bits'"), std::string::npos) << inner;
}

TEST(PrecisionConfig, LoadRefusesAFileOverTheConfigSizeLimit) {
  const auto dir = testing::scratch_dir("precision_big");
  const auto file = dir / "big.yaml";
  std::filesystem::remove(file);
  std::ofstream(file) << "name: big\n";
  std::filesystem::resize_file(file, kMaxConfigBytes + 1);  // sparse: no disk used
  const std::string msg = load_error(file);
  EXPECT_NE(msg.find(file.string() + "': " + std::to_string(kMaxConfigBytes + 1) + " bytes"), std::string::npos) << msg;
  std::filesystem::remove(file);
}

TEST(PrecisionConfig, LoadErrorsOnValuesNameTheFileForEveryTopLevelKey) {
  const auto dir = testing::scratch_dir("precision_named");
  const auto file = dir / "bad.yaml";
  for (const std::string text : {"gelu: xyz\n", "default: maybe\n", "defaults: {rounding: sideways}\n",
                                 "components: {A: {scheme: xyz}}\n", "components: 5\n", "name: [a]\n",
                                 "frobnicate: 1\n"}) {
    std::ofstream(file) << text;
    const std::string msg = load_error(file);
    EXPECT_NE(msg.find(file.string()), std::string::npos) << text << " -> " << msg;
  }
}

}  // namespace
}  // namespace ssmsim::quant
