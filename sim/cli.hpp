// The `ssmsim` command line: verb dispatch, options, config resolution, exit codes.
// Exit status: 0 success, 1 run failure (e.g. not bit-exact), 2 usage or input error.
#pragma once

#include <ostream>

namespace ssmsim::sim {

int run_cli(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

}  // namespace ssmsim::sim
