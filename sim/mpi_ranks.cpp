// MPI ranks for `mpirun -n K ssmsim train|qat`: the one file of ssmsim that includes mpi.h. It is
// built into the executable only, and only when CMake found MPI (SSMSIM_WITH_MPI); the libraries
// and their tests see core::Ranks alone.
#include "sim/mpi_ranks.hpp"

#include <mpi.h>

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "quant/errors.hpp"
#include "sim/cli.hpp"

namespace ssmsim::sim {

namespace {

void check(int rc, const char* what) {
  if (rc != MPI_SUCCESS) throw RunError(std::string("MPI: ") + what + " failed");
}

int as_int(size_t n, const char* what) {
  if (n > static_cast<size_t>(INT_MAX))
    throw RunError(std::string("MPI: ") + what + " over 2 GiB in one exchange (a smaller batch_size splits it)");
  return static_cast<int>(n);
}

class MpiRanks final : public core::Ranks {
 public:
  MpiRanks(int& argc, char**& argv) {
    int provided = 0;  // only the main thread calls MPI; worker threads compute
    check(MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    int r = 0, n = 0, local = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
    MPI_Comm_size(MPI_COMM_WORLD, &n);
    MPI_Comm host;  // the ranks that share this machine's memory
    check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, r, MPI_INFO_NULL, &host), "MPI_Comm_split_type");
    MPI_Comm_size(host, &local);
    MPI_Comm_free(&host);
    rank_ = static_cast<size_t>(r);
    size_ = static_cast<size_t>(n);
    local_ = static_cast<size_t>(local);
  }
  ~MpiRanks() override { MPI_Finalize(); }
  MpiRanks(const MpiRanks&) = delete;
  MpiRanks& operator=(const MpiRanks&) = delete;

  size_t rank() const override { return rank_; }
  size_t size() const override { return size_; }
  size_t on_this_host() const override { return local_; }

  std::vector<std::string> gather_each(std::string mine) const override {
    std::vector<uint64_t> sizes(size_);
    uint64_t own = mine.size();
    check(MPI_Allgather(&own, 1, MPI_UINT64_T, sizes.data(), 1, MPI_UINT64_T, MPI_COMM_WORLD), "MPI_Allgather");
    std::vector<int> counts(size_), offsets(size_);
    size_t total = 0;
    for (size_t k = 0; k < size_; ++k) {
      counts[k] = as_int(sizes[k], "a rank's results");
      offsets[k] = as_int(total, "the ranks' results");
      total += sizes[k];
    }
    as_int(total, "the ranks' results");
    std::string all(total, '\0');
    check(MPI_Allgatherv(mine.data(), counts[rank_], MPI_BYTE, all.data(), counts.data(), offsets.data(), MPI_BYTE,
                         MPI_COMM_WORLD),
          "MPI_Allgatherv");
    std::vector<std::string> out(size_);
    for (size_t k = 0; k < size_; ++k) out[k] = all.substr(static_cast<size_t>(offsets[k]), sizes[k]);
    return out;
  }

  bool rank0_says(bool flag) const override {
    int v = flag ? 1 : 0;
    check(MPI_Bcast(&v, 1, MPI_INT, 0, MPI_COMM_WORLD), "MPI_Bcast");
    return v != 0;
  }

  // Where the command stands: setting up (every rank reads its inputs), or past all_set_up.
  enum class Phase { SettingUp, Running, OtherRankFailed };
  Phase phase() const { return phase_; }

  void all_set_up() const override { agree(""); }

  // The set-up barrier: every rank sends "" (ready) or its error. The ready ranks throw the
  // others' errors; rank 0 has each different error once.
  void agree(const std::string& my_error) const {
    const std::vector<std::string> errors = gather_each(my_error);
    std::map<std::string, std::string> ranks_of;  // an error rank 0 did not print -> its ranks
    for (size_t k = 1; k < size_; ++k)
      if (!errors[k].empty() && errors[k] != errors[0])
        ranks_of[errors[k]] += fmt::format("{}{}", ranks_of[errors[k]].empty() ? "rank " : ", ", k);
    std::string lines;
    for (const auto& [text, who] : ranks_of) lines += fmt::format("{}{}: {}", lines.empty() ? "" : "\n  ", who, text);
    const bool failed = !errors[0].empty() || !ranks_of.empty();
    phase_ = failed ? Phase::OtherRankFailed : Phase::Running;
    if (failed && my_error.empty()) throw InputError("could not start on " + (lines.empty() ? "another rank" : lines));
    if (!lines.empty() && rank_ == 0) std::cerr << "ssmsim: and on " << lines << "\n";
  }

 private:
  size_t rank_ = 0, size_ = 1, local_ = 1;
  mutable Phase phase_ = Phase::SettingUp;
};

}  // namespace

int run_cli_under_mpi(int argc, char** argv, std::ostream& out, std::ostream& err) {
  const MpiRanks ranks(argc, argv);
  std::ostringstream held;  // a rank > 0's error line: printed only when that error ends the job
  std::string error;
  const int rc = run_cli(argc, argv, out, ranks.is_root() ? err : held, ranks, &error);
  // 128 + a signal: train stopped on a signal, every rank at the same step (rank 0 decided)
  if (rc == 0 || rc > 128 || ranks.phase() == MpiRanks::Phase::OtherRankFailed) return rc;
  if (ranks.phase() == MpiRanks::Phase::SettingUp) {  // the others wait in all_set_up or failed too
    ranks.agree(error.empty() ? "the command line is wrong (see the usage above)" : error);
    return rc;
  }
  // failed while the others compute: they may wait in an exchange, so end them all
  err << held.str() << std::flush;
  MPI_Abort(MPI_COMM_WORLD, rc);
  return rc;
}

}  // namespace ssmsim::sim
