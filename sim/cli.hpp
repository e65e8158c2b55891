// The `ssmsim` command line: verb dispatch, options, config resolution, exit codes.
// Exit status: 0 success, 1 run failure (e.g. not bit-exact), 2 usage or input error.
#pragma once

#include <ostream>
#include <string>

#include "ssm_core/ranks.hpp"

namespace ssmsim::sim {

// One command line. Under several MPI ranks (sim/mpi_ranks.cpp) every rank runs it: only train
// and qat accept that, only rank 0 prints (and writes), and another rank's errors are printed
// with its number. `error`, when given, receives the text of an error that ended the command.
int run_cli(int argc, const char* const* argv, std::ostream& out, std::ostream& err,
            const core::Ranks& ranks = core::one_process(), std::string* error = nullptr);

}  // namespace ssmsim::sim
