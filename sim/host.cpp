#include "sim/host.hpp"

#include <cstring>

#include "quant/errors.hpp"
#include "ssm_core/qsteps.hpp"

namespace ssmsim::sim {

Host::Host(sc_core::sc_module_name name, hw::Accelerator& acc, const core::QEngine& engine,
           const core::SequenceSet& set, size_t count, bool record_states,
           std::function<void(size_t, Result&&)> on_sequence)
    : sc_module(name),
      socket("socket"),
      acc_(acc),
      engine_(engine),
      set_(set),
      count_(count),
      record_(record_states),
      on_sequence_(std::move(on_sequence)) {
  socket.bind(acc.host);
  SC_THREAD(thread);
}

void Host::transport(tlm::tlm_command cmd, uint64_t address, uint8_t* data, size_t len) {
  tlm::tlm_generic_payload p;
  sc_core::sc_time delay = sc_core::SC_ZERO_TIME;
  p.set_command(cmd);
  p.set_address(address);
  p.set_data_ptr(data);
  p.set_data_length(static_cast<unsigned>(len));
  p.set_streaming_width(static_cast<unsigned>(len));
  p.set_byte_enable_ptr(nullptr);
  p.set_dmi_allowed(false);
  p.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
  socket->b_transport(p, delay);
  if (p.is_response_error())
    throw RunError(std::string("host: ") + (cmd == tlm::TLM_WRITE_COMMAND ? "write to " : "read of ") + "address " +
                   std::to_string(address) + " failed: " + p.get_response_string());
  sc_core::wait(delay);  // the host does not decouple: it waits out each transaction's delay
}

void Host::write(uint64_t address, const uint8_t* data, size_t len) {
  transport(tlm::TLM_WRITE_COMMAND, address, const_cast<uint8_t*>(data), len);
}

void Host::read(uint64_t address, uint8_t* data, size_t len) { transport(tlm::TLM_READ_COMMAND, address, data, len); }

void Host::thread() {
  try {
    run();
  } catch (...) {
    error_ = std::current_exception();
  }
  sc_core::sc_stop();
}

void Host::run() {
  const core::QModel& m = engine_.model();
  for (const auto& e : acc_.weight_map()) {
    // the stored codes (unsigned for an asymmetric tensor: its zero points stay in the accelerator)
    const auto bytes = hw::BankedSram::pack(m.tensor(e.tensor).q, e.width, acc_.word_bits(), e.is_signed);
    write(e.address, bytes.data(), bytes.size());
  }
  const size_t L = set_.length, Din = set_.d_input, classes = m.config.d_output;
  std::vector<int32_t> codes(L * Din);
  for (size_t i = 0; i < count_; ++i) {
    const float* x = set_.input(i);
    for (size_t k = 0; k < L * Din; ++k) codes[k] = core::qstep::input(engine_.consts(), x[k], nullptr);
    const auto in = acc_.input_image(codes);  // as stored (an asymmetric input: q = v + zp)
    write(hw::Accelerator::kInput, in.data(), in.size());
    const uint64_t len = L, go = 1;
    acc_.controller().record_states = record_;
    write(hw::Accelerator::kLength, reinterpret_cast<const uint8_t*>(&len), 8);
    write(hw::Accelerator::kCtrl, reinterpret_cast<const uint8_t*>(&go), 8);
    sc_core::wait(acc_.done_event());
    if (acc_.controller().error()) std::rethrow_exception(acc_.controller().error());
    Result r;
    read(hw::Accelerator::kCycles, reinterpret_cast<uint8_t*>(&r.cycles), 8);
    r.logits.resize(classes);
    read(hw::Accelerator::kOutput, reinterpret_cast<uint8_t*>(r.logits.data()), classes * 8);
    if (record_) r.states = acc_.controller().states();
    on_sequence_(i, std::move(r));
  }
}

}  // namespace ssmsim::sim
