// The SSM accelerator: weight, state and io memories, the bus with its DMA, the complex MAC
// array, the matrix-vector engine, the special-function unit and the controller, behind one
// TLM-2.0 target socket through which a host (sim/host.hpp, or a user's virtual platform) loads
// the weights, streams a sequence's inputs, starts it and reads the logits. docs/hardware.md has
// the register map, the memory layout and the cost model.
//
// Register map (byte addresses, little-endian):
//   0x0000_0000 CTRL    write 1: run the sequence in the input buffer (done_event() at its end)
//   0x0000_0008 LENGTH  tokens of the next sequence
//   0x0000_0010 STATUS  read: bit 0 busy
//   0x0000_0018 CYCLES  read: cycles of the last sequence
//   0x1000_0000 WEIGHTS the weight memory's word image (weight_map() says where each tensor is)
//   0x2000_0000 INPUT   the input codes of the sequence, packed at the input width
//   0x3000_0000 OUTPUT  read: the logits, 8 bytes each
#pragma once

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_target_socket.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "hw_models/bus.hpp"
#include "hw_models/cmac.hpp"
#include "hw_models/controller.hpp"
#include "hw_models/energy.hpp"
#include "hw_models/hw_config.hpp"
#include "hw_models/hw_unit.hpp"
#include "hw_models/mve.hpp"
#include "hw_models/offchip.hpp"
#include "hw_models/sfu.hpp"
#include "hw_models/sram.hpp"
#include "ssm_core/qmodel.hpp"

namespace ssmsim::hw {

struct MapEntry {
  std::string tensor;
  uint64_t address = 0;  // bus address of its first word
  uint64_t bytes = 0;    // whole words
  int width = 0;
  bool is_signed = true;               // false: the unsigned codes of an asymmetric tensor
  std::vector<int32_t> zero_points;    // per tensor (one) or per channel; empty: symmetric
};

// The layout's pieces, also for tests that place one layer as the Accelerator does:
// a weight tensor at its codes' width (an asymmetric one unsigned, with its zero points, which the
// units subtract at operand fetch);
const Region& place_weight(BankedSram& mem, const std::string& name, const core::QTensor& t, int bank = -1);
// a layer's weight operand widths (b + 1 with zero points) and zero-point flags from its regions;
void weight_operands(LayerMem& L);
// layer i's stored state x and, when narrowed, its state operand xo (docs/fixed_point.md 9.3).
void place_state(BankedSram& states, LayerMem& L, const core::QModel& m, const core::QLayerConsts& Ly, size_t i);
// layer i's activation points as its units read and write them: operand widths (b + 1 for an
// asymmetric point), block floating point (u, act) and zero-point adders' widths (docs/hardware.md,
// "Zero points on activation points");
void activation_points(LayerMem& L, const core::QModel& m, const core::QLayerConsts& Ly, size_t i);
// the widths of an activation point of w bits that its component narrows (docs/fixed_point.md
// 9.3, "Activation operands"; empty when it does not)
ActOperand act_operand(const core::XOperandConsts& op, int w);

// What a run cost, priced once from the counts (docs/hardware.md).
struct Cost {
  double energy_pj = 0;
  std::map<std::string, double> energy_pj_by_module;  // dynamic + leakage per module
  double leakage_pj = 0;
  std::map<std::string, double> area_um2;
  double area_mm2 = 0;
  std::map<std::string, double> utilization;  // busy cycles / all cycles, per unit
  std::map<std::string, uint64_t> memory_bits;  // per stored tensor (weights and states)
  uint64_t weight_bits = 0, state_bits = 0;
};

class Accelerator : public sc_core::sc_module {
 public:
  static constexpr uint64_t kCtrl = 0x0, kLength = 0x8, kStatus = 0x10, kCycles = 0x18;
  static constexpr uint64_t kWeights = 0x1000'0000, kInput = 0x2000'0000, kOutput = 0x3000'0000;

  tlm_utils::simple_target_socket<Accelerator> host;

  // Lays the model out in the memories (InputError when it cannot fit: the message names the
  // memory, what it needs and the key to change). `max_len`: the longest sequence to run.
  Accelerator(sc_core::sc_module_name name, const HwConfig& config, const core::QEngine& engine,
              const EnergyTable& table, size_t max_len);

  const std::vector<MapEntry>& weight_map() const { return map_; }
  // the input codes as the io memory stores them (width, signedness; an asymmetric input holds
  // q = v + zp: input_image() packs the C-model's operands v so)
  int input_width() const { return mem_.input->width; }
  std::vector<uint8_t> input_image(const std::vector<int32_t>& operands) const;
  int word_bits() const { return config_.weight_mem.word_bits; }
  int io_word_bits() const { return io_mem_.config().word_bits; }
  const sc_core::sc_event& done_event() const { return ctrl_.done_event(); }
  Controller& controller() { return ctrl_; }
  CmacArray& cmac() { return cmac_; }
  const Controller& controller() const { return ctrl_; }
  bool streaming() const { return mem_.streaming; }
  const sc_core::sc_clock* clock() const { return clk_.get(); }
  const BankedSram& weight_memory() const { return weight_mem_; }
  const BankedSram& state_memory() const { return state_mem_; }
  // bus cycles of the host's transfers: weight loading, inputs and outputs
  uint64_t load_cycles() const { return load_cycles_; }
  uint64_t io_cycles() const { return io_cycles_; }

  // Every unit's cost (hw_models/hw_unit.hpp), summed with the leakage over the run's time.
  Cost cost() const;
  // Every unit's declared counters, then the host's transfers.
  StatList stats() const;
  // cycle mode: the clock and each unit's signals into a waveform file
  void trace(sc_core::sc_trace_file* f) const;

 private:
  void b_transport(tlm::tlm_generic_payload& p, sc_core::sc_time& delay);
  void layout(size_t max_len);

  // the io memory: the longest sequence's input codes in bus-width words, plus a word
  static SramConfig io_config(const HwConfig& c, const core::QEngine& e, size_t max_len);
  static std::unique_ptr<sc_core::sc_clock> make_clock(const HwConfig& c);  // cycle mode only

  HwConfig config_;
  const core::QEngine& engine_;
  EnergyTable table_;
  size_t max_len_;
  std::unique_ptr<sc_core::sc_clock> clk_{make_clock(config_)};
  ModelMem mem_;  // filled by layout()
  // The units, each constructed here from its config (adding a unit: one member here and one entry
  // in units_; docs/hardware.md, "Where to add a hardware unit").
  BankedSram weight_mem_{"weight_mem", config_.weight_mem};
  BankedSram state_mem_{"state_mem", config_.state_mem};
  BankedSram io_mem_{"io_mem", io_config(config_, engine_, max_len_)};
  Bus bus_{"bus", config_.bus, config_.offchip, clk_.get(), &weight_mem_};
  OffchipPath offchip_{bus_};
  CmacArray cmac_{"cmac", config_.cmac, weight_mem_, state_mem_, clk_.get()};
  MatVecEngine mve_{"mve", config_.mve, weight_mem_, state_mem_, clk_.get()};
  SpecialFunctionUnit sfu_{"sfu", config_.sfu, weight_mem_, clk_.get()};
  Controller ctrl_{"controller", config_, engine_, mem_, io_mem_, state_mem_, cmac_, mve_, sfu_, bus_, clk_.get()};
  // every unit, in the order of the record's stats and the waveform's signals: cost(), stats()
  // and trace() iterate over them
  std::vector<const HwUnit*> units_{&ctrl_, &cmac_, &mve_, &sfu_, &weight_mem_, &state_mem_, &io_mem_, &bus_, &offchip_};
  std::vector<MapEntry> map_;
  uint64_t length_ = 0, load_cycles_ = 0, io_cycles_ = 0;
};

}  // namespace ssmsim::hw
