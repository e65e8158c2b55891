// Component tests of reports/: the typed result record (every record ssmsim writes survives its
// round trip byte for byte; lenient reading; the results.csv columns), the Pareto front against a brute-force O(n^2) definition on seeded
// random sets (ties and duplicates included), and the report of a small fixed sweep written here
// (two folders, one id in both): every point once per plot and once in the table, the fronts
// marked, the page well-formed and self-contained, the Markdown naming the front; bad input named
// by file and line. No SystemC: these run in the component tier because reports/ sits above
// hw_models/ in the layer order.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>

#include "quant/errors.hpp"
#include "reports/pareto.hpp"
#include "reports/report.hpp"
#include "reports/result_record.hpp"
#include "tests/support/testing.hpp"

using namespace ssmsim;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The definition, checked pair by pair; the result ordered by cost, then index (the documented order).
std::vector<size_t> brute_force_front(const std::vector<double>& cost, const std::vector<double>& acc) {
  std::vector<size_t> front;
  for (size_t i = 0; i < cost.size(); ++i) {
    bool dominated = false;
    for (size_t j = 0; j < cost.size() && !dominated; ++j)
      dominated = j != i && cost[j] <= cost[i] && acc[j] >= acc[i] && (cost[j] < cost[i] || acc[j] > acc[i]);
    if (!dominated) front.push_back(i);
  }
  std::sort(front.begin(), front.end(), [&](size_t a, size_t b) { return cost[a] != cost[b] ? cost[a] < cost[b] : a < b; });
  return front;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

size_t count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + needle.size())) ++n;
  return n;
}

// A strict well-formedness check, XML-like: every tag closed (or written self-closed, <meta .../>),
// in order; attribute values double-quoted without < > or "; text without a bare < or >; every &
// starting an entity. <!DOCTYPE ...> is skipped. The page's <style> and <script> hold none of
// < > & so they pass as text. Returns "" or what is wrong and where.
std::string well_formed_error(const std::string& h) {
  static const std::regex attrs(R"re(^(\s+[A-Za-z_:][-A-Za-z0-9_:.]*="[^"<>]*")*\s*/?$)re");
  std::vector<std::string> open;
  for (size_t i = 0; i < h.size(); ++i) {
    const char c = h[i];
    const auto where = [&] { return " at offset " + std::to_string(i) + ": '" + h.substr(i, 40) + "'"; };
    if (c == '<') {
      if (h.compare(i, 9, "<!DOCTYPE") == 0) {
        i = h.find('>', i);
        if (i == std::string::npos) return "unterminated DOCTYPE";
        continue;
      }
      const size_t end = h.find('>', i);
      if (end == std::string::npos) return "unterminated tag" + where();
      const std::string tag = h.substr(i + 1, end - i - 1);
      const bool closing = !tag.empty() && tag[0] == '/';
      size_t k = closing ? 1 : 0;
      while (k < tag.size() && (std::isalnum(static_cast<unsigned char>(tag[k])) || tag[k] == '-')) ++k;
      const std::string name = tag.substr(closing ? 1 : 0, k - (closing ? 1 : 0));
      if (name.empty() || !std::isalpha(static_cast<unsigned char>(name[0]))) return "bare '<' in text" + where();
      const std::string rest = tag.substr(k);
      if (closing) {
        if (!rest.empty()) return "junk in a closing tag" + where();
        if (open.empty() || open.back() != name)
          return "</" + name + "> closes " + (open.empty() ? std::string("nothing") : "<" + open.back() + ">") + where();
        open.pop_back();
      } else {
        if (!std::regex_match(rest, attrs)) return "malformed attributes in <" + name + ">" + where();
        if (rest.empty() || rest.back() != '/') open.push_back(name);
      }
      i = end;
    } else if (c == '>') {
      return "bare '>' in text" + where();
    } else if (c == '&') {
      static const std::regex entity(R"re(^&(#[0-9]+|#x[0-9a-fA-F]+|[A-Za-z]+);)re");
      if (!std::regex_search(h.substr(i, 12), entity)) return "bare '&' in text" + where();
    }
  }
  if (!open.empty()) return "<" + open.back() + "> never closed";
  return "";
}

// The text between the first `from` at or after `pos` and the next `to` after it.
std::string between(const std::string& h, const std::string& from, const std::string& to, size_t pos = 0) {
  const size_t a = h.find(from, pos);
  if (a == std::string::npos) return "";
  const size_t b = h.find(to, a);
  return h.substr(a, b == std::string::npos ? std::string::npos : b + to.size() - a);
}

// The ids of the circles with class "pt front" in one SVG.
std::set<std::string> front_ids(const std::string& svg) {
  std::set<std::string> ids;
  static const std::regex re(R"re(<circle class="pt front" data-id="([^"]*)")re");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), re); it != std::sregex_iterator(); ++it)
    ids.insert((*it)[1]);
  return ids;
}

json full_record(const std::string& id, int index, double acc, double energy, double mem, double lat) {
  return {{"id", id},
          {"index", index},
          {"point", {{"precision", "w8a8_state8"}, {"hw", "edge_minimal"}, {"method", index % 2 ? "qat" : "ptq"},
                     {"qat_epochs", 0}, {"precision_overrides", json::object()}, {"hw_overrides", {{"cmac_lanes", 8}}}}},
          {"label", "w8a8_state8 / edge_minimal / " + std::string(index % 2 ? "qat" : "ptq") + " #" + std::to_string(index)},
          {"accuracy", acc},
          {"bit_exact", true},
          {"energy_nj_per_token", energy},
          {"latency_us_per_token", lat},
          {"cycles_per_token", 100.0 * lat},
          {"tokens_per_s", 1e6 / lat},
          {"area_mm2", 0.226},
          {"memory_bits", mem},
          {"footprint_reduction", 32.0 * 3000 / mem},
          {"energy_breakdown_nj", {{"cmac", 0.4 * energy}, {"mve", 0.1 * energy}, {"sfu", 0.1 * energy},
                                   {"weight_mem", 0.2 * energy}, {"state_mem", 0.2 * energy}, {"io_mem", 0.0},
                                   {"bus", 0.0}, {"offchip", 0.0}}},
          {"memory_bits_by_component", {{"A", mem / 2}, {"B", mem / 4}, {"C", mem / 4}}},
          {"utilization", {{"cmac", 0.33}, {"mve", 0.45}, {"sfu", 0.22}, {"bus", 0.0005}}},
          {"commands", {"ssmsim quantize --ckpt f --precision w8a8_state8.yaml --out m.safetensors",
                        "ssmsim eval --ckpt m.safetensors --workload smnist",
                        "ssmsim simulate --ckpt m.safetensors --hw h.yaml --set hw.cmac_lanes=8 --json s.json"}},
          {"hw_config", {{"cmac_lanes", 8}, {"clock_mhz", 200}}},
          {"precision_config", {{"name", "w8a8_state8"}}},
          {"seconds", 12.3}};
}

// Six points in two folders (two shards), p1 in both (the second copy differs: the first is kept).
// By accuracy against energy: p2 (5 nJ, 80%), p1 (10, 90%), p3 (20, 95%) are the front; p4, p5,
// p6 are dominated. p5 has only the required fields; p4's label and commands need escaping.
struct FixedSweep {
  fs::path a, b;
  FixedSweep() {
    // one folder per test: ctest runs the tests that use this fixture in parallel processes
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    const fs::path root = ssmsim::testing::scratch_dir(std::string("report_fixed_sweep_") + info->name());
    a = root / "shard-0-of-2";
    b = root / "shard-1-of-2";
    json p4 = full_record("p4", 3, 0.85, 12.0, 25000, 3.0);
    p4["label"] = "w6 <A=4> & \"wide\"";
    p4["commands"] = json::array({"ssmsim simulate --set 'hw.x=<1>' && echo \"done\""});
    p4["bit_exact"] = false;
    const json p5 = {{"id", "p5"}, {"accuracy", 0.70}, {"energy_nj_per_token", 30.0}, {"latency_us_per_token", 0.5},
                     {"memory_bits", 5000}};
    json p1_again = full_record("p1", 0, 0.10, 1.0, 1000, 0.1);
    write(a / "results.jsonl", full_record("p1", 0, 0.90, 10.0, 20000, 2.0).dump() + "\n" +
                                   full_record("p2", 1, 0.80, 5.0, 10000, 1.0).dump() + "\n" +
                                   full_record("p3", 2, 0.95, 20.0, 40000, 4.0).dump() + "\n");
    write(a / "results.csv", "ignored\n");
    write(b / "results.jsonl", p4.dump() + "\n\n" + p5.dump() + "\n" + p1_again.dump() + "\n" +
                                   full_record("p6", 5, 0.60, 8.0, 8000, 1.5).dump() + "\n");
    write(root / "spec.yaml", "name: fixed <test> sweep\n");
  }
};

}  // namespace

TEST(ParetoFront, MatchesTheBruteForceDefinitionOnSeededRandomSets) {
  auto rng = ssmsim::testing::seeded_rng();
  for (int set = 0; set < 200; ++set) {
    const size_t n = std::uniform_int_distribution<size_t>(0, 60)(rng);
    // Half the sets draw from small grids, so equal costs, equal accuracies and exact duplicates
    // are common; the rest are continuous with some points copied to make duplicates.
    const bool grid = set % 2 == 0;
    std::uniform_int_distribution<int> small(0, 6);
    std::uniform_real_distribution<double> real(0.0, 1.0);
    std::vector<double> cost(n), acc(n);
    for (size_t i = 0; i < n; ++i) {
      if (i > 0 && real(rng) < 0.15) {
        const size_t j = std::uniform_int_distribution<size_t>(0, i - 1)(rng);
        cost[i] = cost[j];
        acc[i] = acc[j];
        continue;
      }
      cost[i] = grid ? small(rng) : 1.0 + 100.0 * real(rng);
      acc[i] = grid ? small(rng) / 6.0 : real(rng);
    }
    ASSERT_EQ(reports::pareto_front(cost, acc), brute_force_front(cost, acc)) << "set " << set << ", n " << n;
  }
}

TEST(ParetoFront, TiesDuplicatesAndEdgesAsDocumented) {
  using reports::pareto_front;
  EXPECT_TRUE(pareto_front({}, {}).empty());
  EXPECT_EQ(pareto_front({3.0}, {0.5}), (std::vector<size_t>{0}));
  // duplicates: both on the front, by index
  EXPECT_EQ(pareto_front({2, 1, 2}, {0.9, 0.5, 0.9}), (std::vector<size_t>{1, 0, 2}));
  // equal cost: only the most accurate; equal accuracy: only the cheapest
  EXPECT_EQ(pareto_front({1, 1, 2}, {0.5, 0.7, 0.7}), (std::vector<size_t>{1}));
  // a cheaper point of equal accuracy dominates
  EXPECT_EQ(pareto_front({1, 2, 3}, {0.8, 0.8, 0.9}), (std::vector<size_t>{0, 2}));
  // infinities are ordinary values; -inf accuracy alone is still a front
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(pareto_front({inf, 1}, {1.0, 0.5}), (std::vector<size_t>{1, 0}));
  EXPECT_EQ(pareto_front({1, 2}, {-inf, -inf}), (std::vector<size_t>{0}));
  EXPECT_THROW(pareto_front({1, std::nan("")}, {0.5, 0.6}), InputError);
  EXPECT_THROW(pareto_front({1, 2}, {0.5}), std::invalid_argument);
}

TEST(Report, MergesShardsAndWritesAWellFormedSelfContainedPage) {
  const FixedSweep sweep;
  const auto r = reports::load_results({sweep.a, sweep.b});
  ASSERT_EQ(r.points.size(), 6u);
  EXPECT_EQ(r.duplicates, 1u);
  EXPECT_EQ(r.files.size(), 2u);
  const std::vector<std::string> ids = {"p1", "p2", "p3", "p4", "p6", "p5"};  // by index, p5 (none) last
  for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(r.points[i].id, ids[i]);
  EXPECT_DOUBLE_EQ(r.points[0].accuracy, 0.90);  // the first record of p1, not the later copy
  EXPECT_FALSE(r.points[5].bit_exact.has_value());

  const auto fronts = reports::pareto_fronts(r);
  const auto ids_of = [&](const std::vector<size_t>& idx) {
    std::set<std::string> s;
    for (const size_t i : idx) s.insert(r.points[i].id);
    return s;
  };
  EXPECT_EQ(ids_of(fronts.energy), (std::set<std::string>{"p1", "p2", "p3"}));
  EXPECT_EQ(ids_of(fronts.memory), (std::set<std::string>{"p5", "p2", "p1", "p3"}));

  const fs::path prefix = sweep.a.parent_path() / "out" / "report";
  fs::create_directories(prefix.parent_path());
  const auto files = reports::write_report(r, prefix);
  EXPECT_EQ(files.html, fs::path(prefix.string() + ".html"));
  EXPECT_EQ(files.points, 6u);
  EXPECT_EQ(files.energy_front, 3u);
  const std::string html = slurp(files.html), md = slurp(files.markdown);
  ASSERT_FALSE(html.empty());

  EXPECT_EQ(well_formed_error(html), "");
  // self-contained: nothing fetched, no address at all
  EXPECT_EQ(html.find("http"), std::string::npos);
  for (const char* fetch : {"<link", "src=", "@import", "url("}) EXPECT_EQ(html.find(fetch), std::string::npos) << fetch;

  // three scatter plots, each with every point exactly once and the front marked
  const std::map<std::string, std::set<std::string>> expected_front = {
      {"energy", ids_of(fronts.energy)}, {"memory", ids_of(fronts.memory)}, {"latency", ids_of(fronts.latency)}};
  EXPECT_EQ(count(html, "<svg class=\"plot\""), 3u);
  for (const auto& [plot, front] : expected_front) {
    const std::string svg = between(html, "<svg class=\"plot\" data-plot=\"" + plot + "\"", "</svg>");
    ASSERT_FALSE(svg.empty()) << plot;
    EXPECT_EQ(count(svg, "<circle class=\"pt"), ids.size()) << plot;
    for (const auto& id : ids) EXPECT_EQ(count(svg, "data-id=\"" + id + "\""), 1u) << plot << " " << id;
    EXPECT_EQ(front_ids(svg), front) << plot;
    EXPECT_EQ(count(svg, "<polyline class=\"front-line\""), 1u) << plot;
  }
  // the table: every point once; data-id appears nowhere else
  const std::string table = between(html, "<table id=\"points-table\"", "</table>");
  ASSERT_FALSE(table.empty());
  for (const auto& id : ids) {
    EXPECT_EQ(count(table, "<tr data-id=\"" + id + "\""), 1u) << id;
    EXPECT_EQ(count(html, "data-id=\"" + id + "\""), 4u) << id;
    EXPECT_EQ(count(html, "<details id=\"pt-" + id + "\">"), 1u) << id;
  }
  // escaping of labels and commands; the spec is embedded; p5's missing fields still report
  EXPECT_NE(html.find("w6 &lt;A=4&gt; &amp; &quot;wide&quot;"), std::string::npos);
  EXPECT_NE(html.find("&amp;&amp; echo"), std::string::npos);
  EXPECT_NE(html.find("name: fixed &lt;test&gt; sweep"), std::string::npos);
  EXPECT_NE(html.find("<strong>NO</strong>"), std::string::npos);
  EXPECT_EQ(count(between(html, "<svg class=\"bars\"", "</svg>"), "<rect class=\"seg\""), 3u * 5u);

  // Markdown: the summary and every point of the accuracy/energy front, linking the page
  EXPECT_NE(md.find("6 design points"), std::string::npos);
  EXPECT_NE(md.find("[report.html](report.html)"), std::string::npos);
  EXPECT_NE(md.find("best accuracy: 95.00%"), std::string::npos);
  EXPECT_NE(md.find("1 of 6 points are not bit-exact (p4)"), std::string::npos);
  for (const auto& id : ids_of(fronts.energy)) EXPECT_NE(md.find("| `" + id + "` |"), std::string::npos) << id;
  for (const char* off : {"p4", "p5", "p6"}) EXPECT_EQ(md.find("| `" + std::string(off) + "` |"), std::string::npos);
}

TEST(Report, ReadsShardSubfoldersOfOneFolderAndTheSpecBesideThem) {
  const FixedSweep sweep;
  const auto r = reports::load_results({sweep.a.parent_path()});
  EXPECT_EQ(r.points.size(), 6u);
  EXPECT_EQ(r.duplicates, 1u);
  ASSERT_EQ(r.specs.size(), 1u);
  EXPECT_EQ(r.specs[0].first.filename(), "spec.yaml");
  // the same folder twice adds nothing but duplicates
  EXPECT_EQ(reports::load_results({sweep.a.parent_path(), sweep.a}).points.size(), 6u);
}

TEST(Report, BadInputIsNamedByFileAndLine) {
  const fs::path dir = ssmsim::testing::scratch_dir("report_bad_input");
  const std::string good = full_record("p1", 0, 0.9, 10.0, 20000, 2.0).dump();
  const auto message = [](const fs::path& d) -> std::string {
    try {
      reports::load_results({d});
    } catch (const InputError& e) {
      return e.what();
    }
    return "no error";
  };
  const auto has = [](const std::string& m, const std::string& s) {
    return m.find(s) != std::string::npos ? ::testing::AssertionSuccess()
                                          : ::testing::AssertionFailure() << "'" << s << "' not in: " << m;
  };

  write(dir / "malformed/results.jsonl", good + "\n\n{\"id\": \"p2\", \"accuracy\": 0.5,, }\n");
  std::string m = message(dir / "malformed");
  EXPECT_TRUE(has(m, (dir / "malformed/results.jsonl").string() + ":3"));
  EXPECT_TRUE(has(m, "not a JSON object"));

  json missing = full_record("p2", 1, 0.5, 1.0, 100, 1.0);
  missing.erase("energy_nj_per_token");
  write(dir / "missing/results.jsonl", good + "\n" + missing.dump() + "\n");
  m = message(dir / "missing");
  EXPECT_TRUE(has(m, "results.jsonl:2"));
  EXPECT_TRUE(has(m, "energy_nj_per_token"));

  json text_number = full_record("p2", 1, 0.5, 1.0, 100, 1.0);
  text_number["memory_bits"] = "100";
  write(dir / "type/results.jsonl", text_number.dump() + "\n");
  m = message(dir / "type");
  EXPECT_TRUE(has(m, "results.jsonl:1"));
  EXPECT_TRUE(has(m, "\"memory_bits\" is \"100\", not a number"));

  write(dir / "noid/results.jsonl", "[1, 2]\n");
  EXPECT_TRUE(has(message(dir / "noid"), "results.jsonl:1"));

  // the cut last line an interrupted sweep leaves: named, and how to repair it
  write(dir / "cut/results.jsonl", good + "\n" + good.substr(0, good.size() / 2));
  m = message(dir / "cut");
  EXPECT_TRUE(has(m, "results.jsonl:2"));
  EXPECT_TRUE(has(m, "--resume"));

  fs::create_directories(dir / "empty/logs");
  m = message(dir / "empty");
  EXPECT_TRUE(has(m, "no results.jsonl"));
  EXPECT_TRUE(has(m, "ssmsim sweep --spec S.yaml --out-dir D"));

  EXPECT_TRUE(has(message(dir / "does-not-exist"), "no such folder"));

  write(dir / "blank/results.jsonl", "\n\n");
  EXPECT_TRUE(has(message(dir / "blank"), "no design points"));
}

// Records as ssmsim writes them (keys sorted, integers and floats as written): reading one into
// the typed record and writing it again gives the same bytes, so a key the record does not list,
// or lists with another type, fails here.
TEST(ResultRecord, EveryRecordSsmsimWritesSurvivesTheTypedRoundTripByteForByte) {
  const char* const records[] = {
      // simulate --json (not bit-exact, so first_mismatch is there)
      R"({"accuracy":1.0,"area_breakdown_mm2":{"bus":0.00128,"cmac":0.05919768},"area_mm2":0.2173052,)"
      R"("bit_exact":false,"checked_states":true,"checkpoint":"q.safetensors","clock_mhz":200.0,"cmac":"cpp",)"
      R"("command":"simulate","cycles":784200,"cycles_per_layer_per_token":[478.0,12.5],"cycles_per_sequence":392100.0,)"
      R"("cycles_per_token":500.3469387755102,"energy_breakdown_nj":{"cmac":4.894245530532411,"offchip":0.0},)"
      R"("energy_nj_per_token":12.780335014425994,"energy_nj_total":20039.565302619958,"energy_table":"horowitz45nm",)"
      R"("first_mismatch":"sequence 0, logits","footprint":{"bits_by_component":{"A":8192,"B":4096},)"
      R"("float32_bits":123712,"reduction":6.069073783359498,"weight_bits":20384,"weight_elements":3866},)"
      R"("hw":{"clock_mhz":200.0,"double_buffer":true,"name":"edge_minimal","state_mem":{"banks":4.0}},)"
      R"("io_cycles":344,"latency_us_per_token":2.501734693877551,"leakage_nj_total":32.6299844801,"load_cycles":527,)"
      R"("memory_bits":20384,"memory_bits_by_tensor":{"decoder.weight":640,"layers.0.x":16384},"mode":"lt",)"
      R"("precision":"hetero_6x","sequences":2,"simulated_cycles_per_wall_s":18395537.986563094,)"
      R"("simulated_tokens_per_wall_s":36781.69288820573,"state_bits":16384,"stats":[{"description":"tokens processed",)"
      R"("name":"controller.tokens","unit":"tokens","value":1568.0}],"tokens":1568,"tokens_per_s":399722.6414324754,)"
      R"("utilization":{"bus":0.0011094537946249447,"cmac":0.3279163478704412},"wall_seconds":0.042629903,)"
      R"("weights_streamed":false,"workload":"smnist"})",
      // eval --json: float (classification), the integer C-model, float (regression)
      R"({"accuracy":0.9791666666666666,"checkpoint":"f.safetensors","command":"eval","confusion":[[5,0],[1,4]],)"
      R"("count":10,"loss":0.08860123,"seconds":0.14,"split":"test","ssm_path":"recurrent","workload":"smnist"})",
      R"({"accuracy":0.9375,"checkpoint":"q.safetensors","command":"eval","confusion":[[5,0],[1,4]],"count":10,)"
      R"("integer":true,"precision":"hetero_6x","saturation":{"layers.0.x":0,"pool":136},"seconds":0.25,)"
      R"("split":"test","workload":"smnist"})",
      R"({"checkpoint":"l.safetensors","command":"eval","count":4,"mse":0.0123,"seconds":0.5,"smape_percent":3.25,)"
      R"("split":"test","ssm_path":"recurrent","workload":"lorenz"})",
      // train --json (finished, and stopped by its time limit), qat --json
      R"({"best_val_accuracy":0.398,"checkpoint":"t.safetensors","command":"train","finished":true,)"
      R"("model":"name: s5_small\nlayer: s5\n","test":{"accuracy":0.484375,"confusion":[[12,0],[3,2]],"count":64,)"
      R"("loss":1.8714382648468018},"workload":"sines"})",
      R"({"command":"train","epoch_step":1,"epochs_done":0,"finished":false,"state":"t2.safetensors.state"})",
      R"({"best_val_accuracy":0.46875,"checkpoint":"q.safetensors","command":"qat","precision":"hetero_6x",)"
      R"("ptq_val_accuracy":0.21875,"test_accuracy":0.4375,"test_count":32,"workload":"smnist"})",
      // a line of results.jsonl
      R"({"accuracy":0.9375,"area_mm2":0.217305,"bit_exact":true,"commands":["ssmsim eval --ckpt m","ssmsim simulate"],)"
      R"("cycles_per_token":500.347,"energy_breakdown_nj":{"cmac":4.89,"sfu":1.0},"energy_nj_per_token":12.78,)"
      R"("eval_sequences":48,"footprint_reduction":6.06907,"hw_config":{"cmac_lanes":8.0,"name":"wide"},)"
      R"("id":"p9a130203b076","index":0,"label":"w8a8_state8 / wide cmac_lanes=8 / qat","latency_us_per_token":2.5,)"
      R"("memory_bits":20384,"memory_bits_by_component":{"A":8192,"B":4096},"model":"m1.safetensors",)"
      R"("point":{"hw":"wide cmac_lanes=8","hw_overrides":{"cmac_lanes":"8"},"method":"qat",)"
      R"("precision":"w8a8_state8","precision_overrides":{"A":4},"qat_epochs":1},"precision_config":"w8a8_state8.yaml",)"
      R"("seconds":2.2,"tokens_per_s":399723.0,"utilization":{"cmac":0.33}})",
  };
  for (const char* text : records) {
    const json j = json::parse(text);
    EXPECT_EQ(reports::to_json(reports::record_from_json(j)).dump(), j.dump()) << text;
  }
}

TEST(ResultRecord, ReadingKeepsWhatFitsAndLeavesTheRestEmpty) {
  const auto r = reports::record_from_json(json::parse(
      R"({"accuracy":"high","index":-1,"bit_exact":1,"memory_bits":100.0,"tokens":2.5,"label":7,"hw_config":null,)"
      R"("energy_breakdown_nj":{"cmac":1.5,"bad":"x"},"commands":["a",{"b":1}],"point":{"hw_overrides":{"lanes":8}},)"
      R"("unknown_key":3})"));
  EXPECT_FALSE(r.accuracy);
  EXPECT_FALSE(r.index);      // negative: not an index
  EXPECT_FALSE(r.bit_exact);  // a number, not a boolean
  EXPECT_EQ(r.memory_bits, 100u);  // a whole number written as a float
  EXPECT_FALSE(r.tokens);
  EXPECT_FALSE(r.label);
  EXPECT_FALSE(r.hw_config);
  ASSERT_TRUE(r.energy_breakdown_nj);
  EXPECT_EQ(*r.energy_breakdown_nj, (std::map<std::string, double>{{"cmac", 1.5}}));
  EXPECT_EQ(r.commands, (std::vector<std::string>{"a", "{\n  \"b\": 1\n}"}));
  ASSERT_TRUE(r.point && r.point->hw_overrides);
  EXPECT_EQ(r.point->hw_overrides->at("lanes"), "8");
  EXPECT_EQ(reports::to_json(reports::ResultRecord{}).dump(), "{}");
}

TEST(ResultRecord, KeysAndTheResultsCsvColumnsComeFromTheOneFieldList) {
  using reports::PointSettings;
  using reports::ResultRecord;
  EXPECT_STREQ(reports::record_key(&ResultRecord::energy_nj_per_token), "energy_nj_per_token");
  EXPECT_STREQ(reports::record_key(&ResultRecord::memory_bits), "memory_bits");
  EXPECT_STREQ(reports::record_key(&PointSettings::method), "method");
  EXPECT_EQ(reports::csv_header(),
            "id,index,label,precision,hw,method,accuracy,bit_exact,energy_nj_per_token,latency_us_per_token,"
            "cycles_per_token,tokens_per_s,memory_bits,footprint_reduction,area_mm2,seconds");
  ResultRecord r = reports::record_from_json(json::parse(
      R"({"id":"p1","index":3,"label":"w8a8_state8, \"wide\"","point":{"precision":"w8a8_state8","hw":"wide","method":"ptq"},)"
      R"("accuracy":0.9375,"bit_exact":true,"energy_nj_per_token":12.7831234,"latency_us_per_token":2.5,)"
      R"("cycles_per_token":500.347,"tokens_per_s":2775890.5,"memory_bits":20384,"footprint_reduction":6.06907,)"
      R"("area_mm2":0.217305,"seconds":2.24})"));
  EXPECT_EQ(reports::csv_row(r),
            "p1,3,\"w8a8_state8, \"\"wide\"\"\",w8a8_state8,wide,ptq,0.937500,true,12.7831,2.5,500.347,2.77589e+06,20384,6.06907,"
            "0.217305,2.2");
  r.tokens_per_s.reset();
  try {
    reports::csv_row(r);
    ADD_FAILURE() << "a row without tokens_per_s";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("tokens_per_s"), std::string::npos) << e.what();
  }
}
