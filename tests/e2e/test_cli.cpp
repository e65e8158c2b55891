// End-to-end: the ssmsim binary as a user runs it. Exit codes and messages are the contract:
// 0 success, 1 run failure, 2 usage or input error; every config error names its key.
#include <gtest/gtest.h>

#include <fstream>

#include "tests/support/testing.hpp"

using ssmsim::testing::run_cli;
using ssmsim::testing::scratch_dir;
using ssmsim::testing::source_dir;

namespace {

void write(const std::filesystem::path& p, const std::string& text) {
  std::ofstream(p) << text;
}

}  // namespace

TEST(Cli, HelpListsEveryVerbAndExitsZero) {
  const auto r = run_cli({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* verb : {"train", "quantize", "qat", "eval", "simulate", "sweep", "vectors", "report", "info"})
    EXPECT_NE(r.out.find(std::string("  ") + verb), std::string::npos) << verb;
}

TEST(Cli, VersionPrintsTheVersion) {
  const auto r = run_cli({"--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out.rfind("ssmsim ", 0), 0u);
}

TEST(Cli, NoCommandIsAUsageError) {
  const auto r = run_cli({});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no command given"), std::string::npos);
  EXPECT_NE(r.err.find("usage:"), std::string::npos);
}

TEST(Cli, UnknownVerbPrintsWhatWasWrongAndTheUsage) {
  const auto r = run_cli({"frobnicate"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown command 'frobnicate'"), std::string::npos);
  EXPECT_NE(r.err.find("commands:"), std::string::npos);
}

TEST(Cli, UnknownOptionPrintsWhatWasWrongAndTheVerbUsage) {
  const auto r = run_cli({"info", "--frobnicate"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("frobnicate"), std::string::npos);
  EXPECT_NE(r.err.find("usage: ssmsim info"), std::string::npos);
}

TEST(Cli, EveryVerbHasItsOwnHelp) {
  for (const char* verb : {"train", "quantize", "qat", "eval", "simulate", "sweep", "vectors", "report", "info"}) {
    const auto r = run_cli({verb, "--help"});
    EXPECT_EQ(r.exit_code, 0) << verb;
    EXPECT_NE(r.out.find(std::string("usage: ssmsim ") + verb), std::string::npos) << verb;
    EXPECT_NE(r.out.find("--set"), std::string::npos) << verb;
  }
}

TEST(Cli, AMissingRequiredOptionIsNamed) {
  const auto r = run_cli({"quantize", "--ckpt", "f.safetensors"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("'--precision' is required"), std::string::npos);
}

TEST(Config, DefaultsFileAndSetResolveInThatOrder) {
  const auto dir = scratch_dir("config_order");
  write(dir / "c.yaml", "run:\n  seed: 7\n  threads: 2\n");
  // file overrides defaults
  auto r = run_cli({"info", "--config", (dir / "c.yaml").string(), "--dump-config"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("seed: 7"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("threads: 2"), std::string::npos) << r.out;
  // --set overrides the file and the named option
  r = run_cli({"info", "--config", (dir / "c.yaml").string(), "--seed", "8", "--set", "run.seed=9", "--dump-config"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("seed: 9"), std::string::npos) << r.out;
  // a named option overrides the file
  r = run_cli({"info", "--config", (dir / "c.yaml").string(), "--seed", "8", "--dump-config"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("seed: 8"), std::string::npos) << r.out;
}

TEST(Config, AnUnknownKeyIsRejectedWithTheAllowedKeys) {
  const auto r = run_cli({"info", "--set", "run.seeed=3", "--dump-config"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("run.seeed"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("run.seed"), std::string::npos) << r.err;
}

TEST(Config, AnUnknownSectionIsRejectedWithTheAllowedSections) {
  const auto r = run_cli({"info", "--set", "bogus.key=3", "--dump-config"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("bogus"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("allowed sections"), std::string::npos) << r.err;
}

TEST(Config, AnOutOfRangeValueNamesKeyValueAndRange) {
  const auto r = run_cli({"info", "--set", "run.threads=-4", "--dump-config"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("run.threads"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("-4"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("an integer in [0, 1024]"), std::string::npos) << r.err;
}

TEST(Config, AValueOfTheWrongTypeNamesTheKey) {
  const auto r = run_cli({"eval", "--ckpt", "x", "--workload", "smnist", "--limit", "lots", "--dump-config"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("eval.limit"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("lots"), std::string::npos) << r.err;
}

TEST(Config, ASetWithoutEqualsSignIsRejected) {
  const auto r = run_cli({"info", "--set", "run.seed", "--dump-config"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("key=value"), std::string::npos) << r.err;
}

TEST(Config, AMissingConfigFileNamesTheFile) {
  const auto r = run_cli({"info", "--config", "/nonexistent/c.yaml", "--dump-config"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("/nonexistent/c.yaml"), std::string::npos) << r.err;
}

TEST(Config, AYamlSyntaxErrorNamesFileAndLine) {
  const auto dir = scratch_dir("config_syntax");
  write(dir / "bad.yaml", "run:\n  seed: 3\n  threads: [1, 2\n");
  const auto r = run_cli({"info", "--config", (dir / "bad.yaml").string(), "--dump-config"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("bad.yaml"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("line "), std::string::npos) << r.err;
}

TEST(Config, HelpConfigListsEveryKeyWithItsRange) {
  const auto r = run_cli({"info", "--help-config"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("run.seed"), std::string::npos);
  EXPECT_NE(r.out.find("eval.limit"), std::string::npos);
}

TEST(Precision, EveryPresetLoadsAndPrintsItsTable) {
  for (const char* preset : {"float", "w8a8_state8", "all8_static", "a8_rest4", "hetero_example"}) {
    const auto path = source_dir() / "configs" / "precision" / (std::string(preset) + ".yaml");
    const auto r = run_cli({"info", "--precision", path.string()});
    ASSERT_EQ(r.exit_code, 0) << preset << ": " << r.err;
    EXPECT_NE(r.out.find(std::string("precision config '") + preset + "'"), std::string::npos) << r.out;
    for (const char* c : {"A ", "x ", "ssm_in", "bias"}) EXPECT_NE(r.out.find(c), std::string::npos) << preset;
  }
}

TEST(Precision, SetOverridesAComponentOfThePresetFile) {
  const auto path = source_dir() / "configs" / "precision" / "w8a8_state8.yaml";
  const auto r = run_cli({"info", "--precision", path.string(), "--set", "precision.components.A.bits=11"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("A         11 "), std::string::npos) << r.out;
}

// Each invalid precision value or combination: exit 2, and the message names the full key and
// the offending value.
TEST(Precision, EveryInvalidValueNamesItsKeyAndValue) {
  const auto path = (source_dir() / "configs" / "precision" / "w8a8_state8.yaml").string();
  struct Case {
    std::string set, key, value;
  };
  const std::vector<Case> cases = {
      {"precision.components.A.bits=40", "precision.components.A.bits", "40"},
      {"precision.components.A.bits=0", "precision.components.A.bits", "0"},
      {"precision.components.x.scheme=asymmetric", "precision.components.x.scheme", "asymmetric"},
      {"precision.components.Q.bits=4", "precision.components.Q", "Q"},
      {"precision.components.act.percentile=120", "precision.components.act.percentile", "120"},
      {"precision.components.B.rounding=stochastic", "precision.components.B.rounding", "stochastic"},
      {"precision.components.B.overflow=clip", "precision.components.B.overflow", "clip"},
      {"precision.components.C.scale_bits=40", "precision.components.C.scale_bits", "40"},
      {"precision.components.bias.bits=4", "precision.components.bias.bits", "4"},
      {"precision.defaults.granularity=per_row", "precision.defaults.granularity", "per_row"},
      {"precision.colour=red", "precision.colour", "red"},
  };
  for (const auto& c : cases) {
    const auto r = run_cli({"info", "--precision", path, "--set", c.set});
    EXPECT_EQ(r.exit_code, 2) << c.set;
    EXPECT_NE(r.err.find(c.key), std::string::npos) << c.set << " -> " << r.err;
    EXPECT_NE(r.err.find("'" + c.value + "'"), std::string::npos) << c.set << " -> " << r.err;
  }
}

TEST(Precision, AMissingPrecisionFileIsNamed) {
  const auto r = run_cli({"info", "--precision", "/nonexistent/p.yaml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("/nonexistent/p.yaml"), std::string::npos) << r.err;
}

TEST(Precision, DumpConfigShowsTheResolvedPrecisionSection) {
  const auto path = source_dir() / "configs" / "precision" / "hetero_example.yaml";
  const auto r = run_cli({"info", "--precision", path.string(), "--dump-config"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("precision:"), std::string::npos);
  EXPECT_NE(r.out.find("hetero_example"), std::string::npos);
}
