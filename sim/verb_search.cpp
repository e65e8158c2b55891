// `ssmsim search`: the mixed-precision search of ssm_core/search.hpp, its files (docs/search.md)
// and, with --hw, each QAT point's cost on the accelerator (one `ssmsim simulate` child each: the
// SystemC kernel elaborates once per process). Every QAT run (a point, a seed) keeps its best
// model and resumable state in runs/, so --time-limit / --resume work as for `ssmsim qat`.
#include <fmt/format.h>
#include <unistd.h>

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "quant/errors.hpp"
#include "reports/result_record.hpp"
#include "sim/sweep.hpp"
#include "sim/verb_common.hpp"
#include "ssm_core/search.hpp"

namespace ssmsim::sim {

namespace {

namespace fs = std::filesystem;

struct Cost {
  bool bit_exact = false;
  double nj = 0, us = 0, area = 0;
};

// The accelerator's cost of one quantized model on `limit` test sequences (a child process).
Cost simulate_cost(const fs::path& model, const std::string& hw, const std::string& workload, size_t limit) {
  const fs::path json = fs::path(model).replace_extension(".simulate.json");
  const fs::path log = fs::path(model).replace_extension(".simulate.log");
  const std::vector<std::string> args = {fs::read_symlink("/proc/self/exe").string(),
                                         "simulate",
                                         "--ckpt",
                                         model.string(),
                                         "--hw",
                                         hw,
                                         "--workload",
                                         workload,
                                         "--limit",
                                         std::to_string(limit),
                                         "--json",
                                         json.string()};
  if (const int rc = run_child(args, log, "search"); rc != 0)
    throw RunError(fmt::format("search: `ssmsim simulate` of {} failed (exit {}); its output is in {}", model.string(),
                               rc, log.string()));
  std::ifstream f(json);
  const reports::ResultRecord r = reports::record_from_json(nlohmann::json::parse(f));
  return {r.bit_exact.value_or(false), r.energy_nj_per_token.value_or(0), r.latency_us_per_token.value_or(0),
          r.area_mm2.value_or(0)};
}

std::string pct(double a) { return fmt::format("{:.2f}%", 100 * a); }

}  // namespace

int run_search(const Invocation& inv) {
  const auto& o = inv.options;
  const std::string path = o["ckpt"].as<std::string>();
  const core::FloatCheckpoint ck = core::load_checkpoint(path);
  const quant::PrecisionConfig base = inv.config.get<quant::PrecisionConfig>("precision");
  const std::string workload = checkpoint_workload(inv, ck, path, "search");
  const workloads::Workload w = load_data(inv, inv.err, workload);
  const core::TrainConfig tc = train_config(inv);
  const core::PtqOptions ptq = ptq_options(inv);
  const core::SearchOptions so = inv.config.get<core::SearchOptions>("search");
  const core::QatOptions qo = inv.config.get<core::QatOptions>("qat");
  const size_t test_limit = settings<EvalSettings>(inv.config).limit;
  const fs::path dir = o["out-dir"].as<std::string>();
  std::error_code ec;
  fs::create_directories(dir / "precision", ec);
  fs::create_directories(dir / "models", ec);
  fs::create_directories(dir / "runs", ec);
  if (ec)
    throw InputError(
        fmt::format("search: cannot create {}: {}; choose a writable --out-dir", dir.string(), ec.message()));
  const std::string hw = o.count("hw") ? o["hw"].as<std::string>() : "";
  const size_t sim_limit = o["sim-limit"].as<size_t>();

  const bool resuming = o["resume"].as<bool>();
  std::ofstream logf(dir / "search.log", resuming ? std::ios::app : std::ios::trunc);
  core::SearchCallbacks cb;
  cb.log = [&](const std::string& line) {
    inv.err << line << "\n";
    logf << line << "\n";
    logf.flush();
  };
  cb.qat_progress = progress_printer(inv.err, "qat epoch");
  auto model_file = [&](size_t step) { return dir / "models" / fmt::format("step{:02}_qat.safetensors", step); };
  // each QAT run's best model so far, its state beside it (run_file + ".state")
  auto run_file = [&](size_t step, uint64_t seed) {
    return dir / "runs" / fmt::format("step{:02}_seed{}.safetensors", step, seed);
  };
  auto state_file = [&](size_t step, uint64_t seed) { return fs::path(run_file(step, seed).string() + ".state"); };
  const core::Model model(ck.config);
  auto run_key = [&](const core::SearchPoint& p, uint64_t seed) {
    YAML::Emitter e;
    e << YAML::Flow << p.precision.to_yaml();
    return qat_run_key(inv, ck, workload, seed, e.c_str(), so.qat_stable_a);
  };
  auto annotate = [&](core::QModel m, const core::SearchPoint& p, uint64_t seed) {
    core::TrainConfig recipe = tc;
    recipe.seed = seed;
    m = qat_annotated(std::move(m), path, workload, recipe, qo);
    m.metadata["search.step"] = std::to_string(p.step);
    m.metadata["search.seed"] = std::to_string(seed);
    return m;
  };
  if (resuming)
    cb.qat_resume = [&](const core::SearchPoint& p, uint64_t seed) -> std::optional<core::QatResume> {
      if (!fs::exists(state_file(p.step, seed))) return std::nullopt;  // a run the stopped search had not begun
      core::QatResume r = load_qat_resume(run_file(p.step, seed).string(), model, run_key(p, seed));
      cb.log(fmt::format("  step {} seed {}: {}", p.step, seed, resume_text(r.state)));
      return r;
    };
  const bool tty = ::isatty(2);
  cb.qat_epoch_end = [&](const core::SearchPoint& p, uint64_t seed, const core::QatReport& r, const core::QModel& best,
                         const core::QatState& s) {
    if (r.best) core::save_qmodel(run_file(p.step, seed), annotate(best, p, seed));
    core::save_qat_state(state_file(p.step, seed), model, s, run_key(p, seed));
    if (tty) inv.err << "\r";
    cb.log(fmt::format("  qat epoch {}/{} (step {}, seed {}): train loss {:.4f}, val (integer) {:.2f}%, {:.1f} s{}",
                       r.epoch, tc.epochs, p.step, seed, r.train_loss, 100 * r.val_accuracy, r.seconds,
                       r.best ? " (best)" : ""));
  };
  const StopRequests stop(inv, "search");
  cb.stop_requested = [&] { return stop(); };
  std::map<size_t, Cost> costs;
  cb.qat_done = [&](const core::SearchPoint& p) {
    core::save_qmodel(model_file(p.step), annotate(*p.model, p, p.seed));
    if (!hw.empty()) {
      const Cost c = simulate_cost(model_file(p.step), hw, workload, sim_limit);
      costs[p.step] = c;
      cb.log(fmt::format("  on {}: {:.3f} nJ/token, {:.3f} us/token, {:.3f} mm2, bit_exact {}", hw, c.nj, c.us, c.area,
                         c.bit_exact));
    }
  };
  std::string ratios;
  for (double x : so.ratios) ratios += fmt::format("{}{}x", ratios.empty() ? "" : ", ", x);
  inv.err << fmt::format(
      "search from '{}' on {}: {} validation sequences score the moves; the path stops at {}x; QAT of {} epoch(s){} "
      "at the first point at or above {}; budget {:.2f} points\n",
      base.name(), path, so.val ? std::min(so.val, w.val.n) : w.val.n, so.max_ratio, tc.epochs,
      so.qat_stable_a && !ptq.stable_a ? " with quantize.stable_a" : "", ratios.empty() ? "no ratio" : ratios,
      100 * so.budget);
  const core::SearchResult r = core::mixed_precision_search(ck, base, w, tc, ptq, so, cb, test_limit, qo);

  for (const auto& p : r.path) {
    std::ofstream y(dir / "precision" / fmt::format("step{:02}.yaml", p.step));
    y << "# " << p.precision.description() << (p.move.empty() ? "" : ": the last move " + p.move) << "\n"
      << p.precision.to_yaml_string();
  }
  if (r.stopped_in_path) {
    inv.err << fmt::format("stopped while computing the path ({}); no QAT run had begun: run the same command again\n",
                           stop.reason());
    return stop.exit_code();
  }
  if (r.stopped) {
    const auto& s = *r.stopped;
    const fs::path st = state_file(s.step, s.seed);
    core::save_qat_state(st, model, s.state, run_key(r.path[s.step], s.seed));
    return report_stopped(inv, "search", s.state.weights, st.string(), stop);
  }
  std::ofstream csv(dir / "search.csv");
  csv << "step,move,weight_bits,reduction,ptq_val_loss,ptq_val_accuracy,qat,qat_val_accuracy,test_accuracy,"
         "on_front,chosen,nj_per_token,us_per_token,area_mm2,bit_exact,qat_seed\n";
  std::ofstream md(dir / "search.md");
  md << fmt::format(
      "# Mixed-precision search from `{}`\n\nFloat checkpoint `{}`: validation {} ({} sequences), "
      "test {} ({}). Budget: {:.2f} points below float on validation.\n\n",
      base.name(), path, pct(r.float_val_accuracy), w.val.n, pct(r.float_test_accuracy), r.test_count, 100 * so.budget);
  const size_t cols = hw.empty() ? 9 : 13;
  md << "| step | move | weight bits | vs float32 | PTQ val loss | PTQ val acc | QAT val | QAT test | front |"
     << (hw.empty() ? "" : " nJ/token | µs/token | mm² | bit_exact |") << "\n|";
  for (size_t k = 0; k < cols; ++k) md << "---|";
  md << "\n";
  for (const auto& p : r.path) {
    const bool front = std::find(r.front.begin(), r.front.end(), p.step) != r.front.end();
    const bool chosen = r.chosen && *r.chosen == p.step;
    const auto c = costs.find(p.step);
    const bool priced = c != costs.end();
    csv << fmt::format(
        "{},{},{},{:.4f},{:.6f},{:.6f},{},{},{},{},{},{},{},{},{},{}\n", p.step, p.move, p.footprint.bits,
        p.footprint.reduction(), p.ptq_loss, p.ptq_accuracy, p.qat ? 1 : 0,
        p.qat ? fmt::format("{:.6f}", p.qat_val_accuracy) : "", p.qat ? fmt::format("{:.6f}", p.test_accuracy) : "",
        front ? 1 : 0, chosen ? 1 : 0, priced ? fmt::format("{:.4f}", c->second.nj) : "",
        priced ? fmt::format("{:.4f}", c->second.us) : "", priced ? fmt::format("{:.4f}", c->second.area) : "",
        priced ? (c->second.bit_exact ? "true" : "false") : "", p.qat ? std::to_string(p.seed) : "");
    md << fmt::format("| {} | {} | {} | {:.2f}x | {:.4f} | {} | {} | {} | {} |", p.step,
                      p.move.empty() ? "(base)" : p.move, p.footprint.bits, p.footprint.reduction(), p.ptq_loss,
                      pct(p.ptq_accuracy), p.qat ? pct(p.qat_val_accuracy) : "", p.qat ? pct(p.test_accuracy) : "",
                      chosen  ? "**chosen**"
                      : front ? "yes"
                              : "");
    if (!hw.empty())
      md << (priced ? fmt::format(" {:.3f} | {:.3f} | {:.3f} | {} |", c->second.nj, c->second.us, c->second.area,
                                  c->second.bit_exact)
                    : " | | | |");
    md << "\n";
  }
  // ", seed 3 of 6" where the point ran under several seeds
  auto seed_text = [](const core::SearchPoint& p) {
    return p.runs.size() > 1 ? fmt::format(", seed {} of {}", p.seed, p.runs.size()) : std::string();
  };
  if (r.chosen) {
    const auto& p = r.path[*r.chosen];
    md << fmt::format(
        "\nChosen: step {}{} ({:.2f}x smaller than float32, {} weight bits), QAT validation {} against "
        "float {}, test {} against float {}: `{}`, precision `{}`.\n",
        p.step, seed_text(p), p.footprint.reduction(), p.footprint.bits, pct(p.qat_val_accuracy),
        pct(r.float_val_accuracy), pct(p.test_accuracy), pct(r.float_test_accuracy), model_file(p.step).string(),
        (dir / "precision" / fmt::format("step{:02}.yaml", p.step)).string());
    inv.out << fmt::format(
        "chosen: step {}{} at {:.2f}x smaller than float32, QAT val {} (float {}), test {} (float {}) "
        "-> {}\n",
        p.step, seed_text(p), p.footprint.reduction(), pct(p.qat_val_accuracy), pct(r.float_val_accuracy),
        pct(p.test_accuracy), pct(r.float_test_accuracy), model_file(p.step).string());
  } else {
    md << "\nNo QAT point is within the budget.\n";
    inv.out << fmt::format("no QAT point within {:.2f} points of float (val {}); the path and front are in {}\n",
                           100 * so.budget, pct(r.float_val_accuracy), (dir / "search.md").string());
  }
  // every QAT run: a point's model is its run of the highest validation (a tie to the lower seed)
  md << "\n## QAT runs\n\n| step | seed | best epoch | validation | test | the point's model |\n";
  md << "|---|---|---|---|---|---|\n";
  for (const auto& p : r.path)
    for (const auto& run : p.runs)
      md << fmt::format("| {} | {} | {} | {} | {} | {} |\n", p.step, run.seed, run.best_epoch, pct(run.val_accuracy),
                        pct(run.test_accuracy), run.seed == p.seed ? "yes" : "");
  inv.out << fmt::format("search: {} path steps, {} QAT points, {} on the front -> {}\n", r.path.size(),
                         std::count_if(r.path.begin(), r.path.end(), [](const auto& p) { return p.qat; }),
                         r.front.size(), (dir / "search.md").string());
  return 0;
}

}  // namespace ssmsim::sim
