// The verb implementations the CLI dispatches to. Each takes the parsed options and the resolved,
// validated config; it returns the exit status and throws typed errors (quant/errors.hpp).
#pragma once

#include <boost/program_options/variables_map.hpp>
#include <functional>
#include <ostream>

#include "sim/config.hpp"

namespace ssmsim::sim {

struct Invocation {
  const boost::program_options::variables_map& options;
  const Config& config;
  std::ostream& out;
  std::ostream& err;
};

using VerbHandler = std::function<int(const Invocation&)>;

// `ssmsim info`: a precision config's per-component table (checkpoints with the model work).
int run_info(const Invocation& inv);

}  // namespace ssmsim::sim
