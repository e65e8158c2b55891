// The `ssmsim` executable: everything lives in the sim library so tests can drive it in-process.
//
// libsystemc.so brings its own main() that calls sc_main(). Which main() the linker keeps depends
// on link order and flags (sanitizer builds keep the library's), so both entry points run the same
// command line: the result is identical either way.
//
// Started by mpirun as one of several processes, the command runs on MPI ranks (a build with MPI)
// or is refused (a build without: every process would train alone and write the same files).
#include <iostream>

#include "sim/cli.hpp"
#include "sim/mpi_ranks.hpp"

namespace {

int run(int argc, char** argv) {
  const size_t launched = ssmsim::sim::launched_ranks();
#ifdef SSMSIM_WITH_MPI
  if (launched > 1) return ssmsim::sim::run_cli_under_mpi(argc, argv, std::cout, std::cerr);
#else
  if (launched > 1) {
    std::cerr << "ssmsim: started by an MPI launcher as one of " << launched
              << " processes, but this ssmsim was built without MPI, so each would run alone and write the "
                 "same files. Install OpenMPI and rebuild (make deps && cmake --preset release && make build), "
                 "or run ssmsim without mpirun\n";
    return 2;
  }
#endif
  return ssmsim::sim::run_cli(argc, argv, std::cout, std::cerr);
}

}  // namespace

int main(int argc, char** argv) { return run(argc, argv); }

extern "C" int sc_main(int argc, char** argv) { return run(argc, argv); }
