// Starting ssmsim under an MPI launcher (docs/cluster.md, "Training with MPI").
#pragma once

#include <cstddef>
#include <cstdlib>
#include <ostream>
#include <string>

namespace ssmsim::sim {

// How many processes a launcher started this one among, from the environment it sets (OpenMPI's
// mpirun, or a PMI launcher such as MPICH's); 1 when started alone.
inline size_t launched_ranks() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"})
    if (const char* v = std::getenv(name)) {
      char* end = nullptr;
      const unsigned long n = std::strtoul(v, &end, 10);
      if (end != v && *end == '\0' && n > 0) return n;
    }
  return 1;
}

// run_cli on this process's MPI rank (MPI initialised for the call); a failure on any rank ends
// the whole job. Only in a build with MPI (sim/mpi_ranks.cpp).
int run_cli_under_mpi(int argc, char** argv, std::ostream& out, std::ostream& err);

}  // namespace ssmsim::sim
