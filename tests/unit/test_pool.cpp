// The thread pool behind parallel_for and parallel_ranges (ssm_core/pool.hpp).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "ssm_core/pool.hpp"
#include "ssm_core/seq.hpp"

using ssmsim::core::parallel_ranges;
using ssmsim::core::run_team;

// Every task runs once, and no two participants that run at the same time hold the same slot.
TEST(Pool, EveryTaskRunsOnceAndNoSlotIsSharedAtATime) {
  constexpr size_t n = 200, team = 6;
  std::vector<std::atomic<int>> runs(n);
  std::vector<std::atomic<int>> in_slot(team);
  std::atomic<bool> clash{false}, bad_slot{false};
  for (int round = 0; round < 20; ++round) {
    for (auto& r : runs) r = 0;
    run_team(n, team, [&](size_t task, size_t slot) {
      if (slot >= team) {
        bad_slot = true;
        return;
      }
      if (in_slot[slot]++ != 0) clash = true;
      ++runs[task];
      std::this_thread::sleep_for(std::chrono::microseconds(task % 7));
      --in_slot[slot];
    });
    for (size_t i = 0; i < n; ++i) ASSERT_EQ(runs[i].load(), 1) << "task " << i << ", round " << round;
  }
  EXPECT_FALSE(clash);
  EXPECT_FALSE(bad_slot);
}

// A team of one, or of more than the tasks, runs on the caller / on at most n participants.
TEST(Pool, SmallTeamsRunOnTheCallerAndTeamsAreCappedAtTheTasks) {
  const std::thread::id me = std::this_thread::get_id();
  bool others = false;
  run_team(5, 1, [&](size_t, size_t slot) { others = others || std::this_thread::get_id() != me || slot != 0; });
  EXPECT_FALSE(others);
  std::mutex m;
  std::set<size_t> slots;
  run_team(2, 16, [&](size_t, size_t slot) {
    std::lock_guard<std::mutex> l(m);
    slots.insert(slot);
  });
  for (size_t s : slots) EXPECT_LT(s, 2u);
  run_team(0, 4, [&](size_t, size_t) { FAIL() << "no task to run"; });
}

// Teams inside teams (a chunk's channel split inside the batch's chunks) all finish, with every
// part of every inner range written once.
TEST(Pool, NestedTeamsFinishAndCoverEveryRange) {
  constexpr size_t outer = 8, inner = 1000;
  std::vector<int> hits(outer * inner, 0);
  for (int round = 0; round < 10; ++round) {
    std::fill(hits.begin(), hits.end(), 0);
    run_team(outer, 8, [&](size_t o, size_t) {
      parallel_ranges(inner, 3, [&](size_t, size_t b, size_t e) {
        for (size_t i = b; i < e; ++i) ++hits[o * inner + i];
      });
    });
    for (size_t i = 0; i < hits.size(); ++i) ASSERT_EQ(hits[i], 1) << i;
  }
}

// A task's exception reaches the caller, after the other tasks ran.
TEST(Pool, ATasksExceptionIsRethrownToTheCaller) {
  std::atomic<int> ran{0};
  EXPECT_THROW(run_team(50, 4,
                        [&](size_t task, size_t) {
                          ++ran;
                          if (task == 17) throw std::runtime_error("task 17");
                        }),
               std::runtime_error);
  EXPECT_EQ(ran.load(), 50);
  // the pool still works afterwards
  std::atomic<int> after{0};
  run_team(10, 4, [&](size_t, size_t) { ++after; });
  EXPECT_EQ(after.load(), 10);
}
