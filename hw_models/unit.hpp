// The timing skeleton shared by the compute units (CMAC array, matrix-vector engine, SFU): an op is
// a number of work items issued `per_cycle` at a time in program order; a group's issue takes the
// cycles its memory accesses need (1 without bank conflicts), and its results are computed and
// written back `depth` cycles after its issue (the pipeline). After the drain, `extra` fixed
// cycles follow (e.g. a square root that needs the whole sum). Both timing modes run this schedule:
//   lt     run_lt() walks the groups in a loop and returns the op's cycles (the controller
//          annotates them as a delay under the quantum keeper);
//   cycle  run_cycle() hands the op to the unit's clocked thread, which issues one group per
//          issue cycle, shifts a pipeline of `depth` stages every clock edge and retires groups
//          from its last stage; the caller waits for the op's done event.
// Items are independent within an op (the controller orders dependent ops), so both modes compute
// the same values, and their cycle counts are equal by the same rules (a test checks it).
#pragma once

#include <systemc>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <tuple>
#include <vector>
#include <string>

#include "hw_models/hw_unit.hpp"
#include "hw_models/sram.hpp"
#include "hw_models/stats.hpp"

namespace ssmsim::hw {

struct Op {
  std::string name;
  // where the op's operands live (a region) and its offset there: with name and items, the key
  // under which the lt mode memoizes the issue schedule (it depends on nothing else)
  const void* site = nullptr;
  size_t offset = 0;
  size_t items = 0;
  size_t per_cycle = 1;
  unsigned extra = 0;
  // the cycles to issue items [b, e), >= 1 (memory accesses are accounted here)
  std::function<unsigned(size_t b, size_t e)> issue;
  // computes items [b, e) and writes their results back
  std::function<void(size_t b, size_t e)> retire;
};

class PipelinedUnit : public sc_core::sc_module {
 public:
  SC_HAS_PROCESS(PipelinedUnit);
  PipelinedUnit(sc_core::sc_module_name name, unsigned depth, bool clocked, const sc_core::sc_clock* clk);

  uint64_t run_lt(const Op& op);
  // Called from the controller's thread: runs `op` on the clocked thread and returns when it is done.
  uint64_t run_cycle(const Op& op);
  uint64_t run(const Op& op) { return clocked_ ? run_cycle(op) : run_lt(op); }
  // The memories whose access counters an op's issue changes (replayed with a memoized schedule).
  void watch(BankedSram& m) { watched_.push_back(&m); }

  unsigned depth() const { return depth_; }
  uint64_t busy_cycles() const { return busy_; }
  uint64_t issue_stalls() const { return stalls_; }
  uint64_t ops() const { return ops_; }
  uint64_t items() const { return items_; }
  // pipeline occupancy in the clocked mode: a signal per stage for waveforms (valid bits)
  const sc_core::sc_signal<bool>& busy_signal() const { return busy_sig_; }
  StatList stats() const;
  // for the unit contract (hw_models/hw_unit.hpp): busy cycles over the controller's cycles, and
  // the busy signal as "<name>_busy" in a waveform
  double unit_utilization(const CostContext& c) const {
    return static_cast<double>(busy_) / std::max(1.0, static_cast<double>(c.compute_cycles));
  }
  void trace_busy(sc_core::sc_trace_file* f) const;

 private:
  void clocked_thread();
  struct InFlight {
    size_t b, e;
  };
  std::vector<InFlight> stage_;  // the clocked pipeline's registers
  std::vector<uint8_t> valid_;
  // lt: an op's issue cycles, stalls and memory accesses are the same every time it runs with the
  // same key; the first run walks the groups, later runs replay the result, then retire all
  // items at once (they are independent within an op).
  struct Schedule {
    uint64_t issue_cycles = 0, stalls = 0;
    std::vector<BankedSram::Counters> accesses;
  };
  std::map<std::tuple<std::string, const void*, size_t, size_t>, Schedule> schedules_;
  std::vector<BankedSram*> watched_;
  unsigned depth_;
  bool clocked_;
  const sc_core::sc_clock* clk_;
  const Op* pending_ = nullptr;
  sc_core::sc_event start_, done_;
  uint64_t last_cycles_ = 0;
  uint64_t busy_ = 0, stalls_ = 0, ops_ = 0, items_ = 0;
  sc_core::sc_signal<bool> busy_sig_;
};

}  // namespace ssmsim::hw
