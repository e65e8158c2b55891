// The testbench host: a TLM-2.0 initiator that drives the accelerator as a CPU of a virtual
// platform would. It loads the weight image (packed as the weight memory stores it, at the bus
// addresses of Accelerator::weight_map()), then for each sequence quantizes the inputs (the
// model's one float operation), writes them to the input buffer, writes LENGTH and CTRL, waits for
// the done interrupt and reads CYCLES and the logits.
#pragma once

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>

#include <exception>
#include <functional>
#include <vector>

#include "hw_models/accelerator.hpp"
#include "ssm_core/qmodel.hpp"
#include "ssm_core/sequences.hpp"

namespace ssmsim::sim {

class Host : public sc_core::sc_module {
 public:
  SC_HAS_PROCESS(Host);
  struct Result {
    std::vector<int64_t> logits;                  // per sequence [classes]
    std::vector<std::vector<int32_t>> states;      // with record_states: per layer, [t][state codes]
    uint64_t cycles = 0;
  };
  tlm_utils::simple_initiator_socket<Host> socket;

  // `on_sequence(i, result)` receives each sequence's result as it finishes (the caller compares
  // and keeps what it needs); the simulation stops after the last one.
  Host(sc_core::sc_module_name name, hw::Accelerator& acc, const core::QEngine& engine, const core::SequenceSet& set,
       size_t count, bool record_states, std::function<void(size_t, Result&&)> on_sequence);
  // What stopped the simulation early (rethrow after sc_start), or null.
  std::exception_ptr error() const { return error_; }

 private:
  void thread();
  void run();
  void transport(tlm::tlm_command cmd, uint64_t address, uint8_t* data, size_t len);
  void write(uint64_t address, const uint8_t* data, size_t len);
  void read(uint64_t address, uint8_t* data, size_t len);
  hw::Accelerator& acc_;
  const core::QEngine& engine_;
  const core::SequenceSet& set_;
  size_t count_;
  bool record_;
  std::function<void(size_t, Result&&)> on_sequence_;
  std::exception_ptr error_;
};

}  // namespace ssmsim::sim
