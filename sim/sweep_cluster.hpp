// A sweep beyond one process: its state as a whole (`ssmsim sweep --status D`) and its submission
// to Slurm as a job array (`ssmsim sweep --slurm`), docs/cluster.md. Every array task runs
// `ssmsim sweep --shard i/N --resume` into the shared out-dir, so a resubmission skips finished
// points and the out-dir's per-folder lock keeps two tasks off one shard; `ssmsim report --in D`
// merges the shards.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "sim/sweep.hpp"

namespace ssmsim::sim {

// D/points.json: every point of the sweep (index, id, label) and the shard count it runs with,
// written by every run of the sweep (and by a submission) so that --status needs no spec.
void write_points(const std::filesystem::path& out_dir, const std::vector<SweepPoint>& points, size_t shards);

// The shard count D/points.json records for a Slurm submission into D (D/slurm/jobs.txt exists);
// 0 when there was none.
size_t submitted_shards(const std::filesystem::path& out_dir);

struct PointState {
  size_t index = 0;
  std::string id, label;
  std::string state;   // done, running, failed, waiting
  std::string where;   // the results folder (done), or the log of a failed point
};

// The state of every point of the sweep in `out_dir`: done (a record in a results.jsonl of D or of
// a shard folder), running (not done, its folder locked by a live sweep), failed (not done, not
// running, its log exists), waiting (none of these).
std::vector<PointState> sweep_status(const std::filesystem::path& out_dir);

struct SlurmOptions {
  size_t tasks = 0;            // array size; 0: one task per point, at most 64
  size_t cpus_per_task = 1;    // also the points each task runs in parallel (--jobs)
  std::string partition, time;  // sbatch --partition, --time (empty: the cluster's default)
  std::vector<std::string> sbatch_args;  // more sbatch flags, each one argument
  std::vector<std::string> forward;      // options every task passes on (--limit, --set ...)
};

// The sbatch script of the array: task i runs `BINARY sweep --spec SPEC --out-dir D --shard i/N
// --resume --jobs C` plus `forward`, its output in D/slurm/JOB_TASK.out.
std::string slurm_script(const std::filesystem::path& binary, const std::filesystem::path& spec,
                         const std::filesystem::path& out_dir, const std::string& name, size_t tasks,
                         const SlurmOptions& o);

// The array size for `points` points.
size_t slurm_tasks(const SlurmOptions& o, size_t points);

// Writes the script to D/slurm/sweep-N.sbatch and submits it with `sbatch --parsable`; returns the
// job id. Throws InputError when sbatch is missing or refuses the job (its message included).
std::string submit_slurm(const std::filesystem::path& out_dir, const std::string& script);

}  // namespace ssmsim::sim
