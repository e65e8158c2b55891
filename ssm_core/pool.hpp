// The threads that parallel_for and parallel_ranges run on: one process-wide pool, its threads
// started once and kept, instead of a thread started and joined per call (tens of microseconds
// each: QAT on 16 threads opens several such regions per chunk and step).
#pragma once

#include <cstddef>
#include <functional>

namespace ssmsim::core {

// Runs fn(task, slot) for every task in [0, n) on up to `team` participants side by side: the
// calling thread and team - 1 threads of the pool, each claiming tasks in turn from a shared
// counter; `slot`, in [0, team), is the participant's own (two participants never share one, so a
// caller may index per-slot workspaces with it). Returns when every task has run; an exception of a
// task is rethrown here (the first one; the other tasks still run). Nested calls are safe: a caller
// never waits for a task that no thread has started, since it claims what is left itself.
void run_team(size_t n, size_t team, const std::function<void(size_t task, size_t slot)>& fn);

}  // namespace ssmsim::core
