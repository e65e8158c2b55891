#include "hw_models/unit.hpp"

#include <algorithm>
#include <vector>

#include "hw_models/hw_unit.hpp"
#include "ssm_core/qmodel.hpp"

namespace ssmsim::hw {

int rescale_bits(const CostContext& c) { return c.engine.model().precision.rescale_bits(); }

PipelinedUnit::PipelinedUnit(sc_core::sc_module_name name, unsigned depth, bool clocked, const sc_core::sc_clock* clk)
    : sc_module(name), depth_(depth), clocked_(clocked), clk_(clk), busy_sig_("busy") {
  if (clocked_) SC_THREAD(clocked_thread);
}

uint64_t PipelinedUnit::run_lt(const Op& op) {
  if (op.items == 0) return 0;
  const auto key = std::make_tuple(op.name, op.site, op.offset, op.items);
  auto it = schedules_.find(key);
  if (it == schedules_.end()) {
    Schedule s;
    std::vector<BankedSram::Counters> before;
    for (const BankedSram* m : watched_) before.push_back(m->counters());
    for (size_t b = 0; b < op.items; b += op.per_cycle) {
      const unsigned c = op.issue(b, std::min(op.items, b + op.per_cycle));
      s.issue_cycles += c;
      s.stalls += c - 1;
    }
    for (size_t k = 0; k < watched_.size(); ++k)
      s.accesses.push_back(BankedSram::difference(watched_[k]->counters(), before[k]));
    it = schedules_.emplace(key, std::move(s)).first;
  } else {
    for (size_t k = 0; k < watched_.size(); ++k) watched_[k]->add(it->second.accesses[k]);
  }
  op.retire(0, op.items);
  stalls_ += it->second.stalls;
  uint64_t cycles = it->second.issue_cycles + op.extra + depth_;
  busy_ += cycles;
  ++ops_;
  items_ += op.items;
  return cycles;
}

uint64_t PipelinedUnit::run_cycle(const Op& op) {
  if (op.items == 0) return 0;
  pending_ = &op;
  start_.notify();
  sc_core::wait(done_);
  return last_cycles_;
}

void PipelinedUnit::clocked_thread() {
  // stage k holds the group that left issue k + 1 cycles ago; stage depth - 1 retires (members, not
  // locals: this thread never returns, so its locals would never be destroyed)
  auto& stage = stage_;
  auto& valid = valid_;
  stage.assign(depth_, InFlight{0, 0});
  valid.assign(depth_, 0);
  for (;;) {
    sc_core::wait(start_);
    const Op& op = *pending_;
    busy_sig_.write(true);
    uint64_t cycles = 0;
    size_t next = 0;          // first item not issued
    unsigned issuing = 0;     // cycles left of the group being issued
    InFlight group{0, 0};
    size_t in_flight = 0;
    // one iteration = one clock cycle
    for (;;) {
      if (issuing == 0 && next < op.items) {
        group = {next, std::min(op.items, next + op.per_cycle)};
        issuing = op.issue(group.b, group.e);
        stalls_ += issuing - 1;
        next = group.e;
      }
      sc_core::wait(clk_->posedge_event());
      ++cycles;
      // the pipeline shifts: the last stage retires, the issued group enters stage 0
      if (valid[depth_ - 1]) {
        op.retire(stage[depth_ - 1].b, stage[depth_ - 1].e);
        --in_flight;
      }
      for (size_t k = depth_ - 1; k > 0; --k) {
        stage[k] = stage[k - 1];
        valid[k] = valid[k - 1];
      }
      valid[0] = 0;
      bool entered = false;
      if (issuing > 0 && --issuing == 0) {
        stage[0] = group;
        valid[0] = 1;
        ++in_flight;
        entered = true;
      }
      if (next >= op.items && issuing == 0 && in_flight == 0 && !entered) break;
    }
    // then the op's fixed cycles (a square root after the sums), with the pipeline empty
    for (unsigned k = 0; k < op.extra; ++k) {
      sc_core::wait(clk_->posedge_event());
      ++cycles;
    }
    busy_ += cycles;
    ++ops_;
    items_ += op.items;
    last_cycles_ = cycles;
    busy_sig_.write(false);
    done_.notify();
  }
}

void PipelinedUnit::trace_busy(sc_core::sc_trace_file* f) const {
  sc_core::sc_trace(f, busy_sig_, std::string(basename()) + "_busy");
}

StatList PipelinedUnit::stats() const {
  const std::string p = basename();
  return {{p + ".busy_cycles", "cycles", "cycles with an op in progress", static_cast<double>(busy_)},
          {p + ".issue_stall_cycles", "cycles", "issue cycles lost to memory bank conflicts", static_cast<double>(stalls_)},
          {p + ".ops", "ops", "ops run", static_cast<double>(ops_)},
          {p + ".items", "items", "work items (state updates, MACs, elements) done", static_cast<double>(items_)}};
}

}  // namespace ssmsim::hw
