// The verb implementations the CLI dispatches to. Each takes the parsed options and the resolved,
// validated config; it returns the exit status and throws typed errors (quant/errors.hpp).
#pragma once

#include <boost/program_options/variables_map.hpp>
#include <functional>
#include <ostream>

#include "sim/config.hpp"
#include "ssm_core/ranks.hpp"

namespace ssmsim::sim {

struct Invocation {
  const boost::program_options::variables_map& options;
  const Config& config;
  std::ostream& out;
  std::ostream& err;
  // The MPI ranks running this command (train and qat only; one process otherwise). Every rank
  // runs the verb; out and err reach the terminal on rank 0 only.
  const core::Ranks& ranks = core::one_process();
};

using VerbHandler = std::function<int(const Invocation&)>;

// `ssmsim info`: a precision config's per-component table, or a checkpoint's parameters.
int run_info(const Invocation& inv);
// `ssmsim train`: float training with progress, best checkpoint and --resume.
int run_train(const Invocation& inv);
// `ssmsim eval`: accuracy of a float checkpoint on a workload's test split.
int run_eval(const Invocation& inv);
int run_quantize(const Invocation& inv);
int run_qat(const Invocation& inv);
// `ssmsim search`: mixed-precision search (ssm_core/search.hpp), its files and costs.
int run_search(const Invocation& inv);
// `ssmsim simulate`: the SystemC accelerator on a quantized model, checked against the C-model.
int run_simulate(const Invocation& inv);
// `ssmsim report`: HTML page and Markdown summary of sweep folders (sim/verb_report.cpp).
int run_report(const Invocation& inv);
// `ssmsim sweep`: design points as child processes, results appended as they finish.
int run_sweep_verb(const Invocation& inv);
// `ssmsim vectors`: RTL test vectors of one sequence, or --check of a vector folder.
int run_vectors(const Invocation& inv);

}  // namespace ssmsim::sim
