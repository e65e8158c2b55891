// A banked SRAM (weight memory, state memory): tensors are stored at their own width, packed
// little-end first into words (element i of a tensor at bit (i % per_word) * width of word
// word0 + i / per_word; per_word = floor(word_bits / width); sign-extended on read, or
// zero-extended for an unsigned region: the codes of an asymmetric weight tensor). Word w lives
// in bank w % banks; each bank serves `ports` accesses per cycle. The datapath reads the decoded
// codes of what the packed words hold (a mirror refreshed on every write), and accounts each
// cycle's accesses with `access`, which counts reads/writes per bank and returns the cycles the
// accesses take (more than one when a bank is asked for more words than it has ports).
#pragma once

#include <systemc>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <initializer_list>
#include <utility>
#include <map>
#include <string>
#include <vector>

#include "hw_models/hw_unit.hpp"
#include "hw_models/stats.hpp"
#include "quant/keys.hpp"

namespace ssmsim::hw {

// Keys of a banked SRAM (hw.weight_mem.*, hw.state_mem.*): capacity in bytes, word width, banks
// (word w lives in bank w % banks), and accesses per bank per cycle (each port serves one read or
// one write).
struct SramConfig {
  uint64_t capacity_bytes = 16384;  // bytes, [1, 2^40]
  int word_bits = 64;               // bits, a multiple of 8 in [8, 1024]
  int banks = 4;                    // [1, 1024]
  int ports = 1;                    // accesses per bank per cycle, [1, 16]

  static const keys::Table<SramConfig>& keys();
};

// Inventory: capacity x 8 bit cells (area and leakage per bit); an access of a word to a bank of
// capacity / banks bytes (the table's interpolation); words the DMA writes into it from off-chip.
class BankedSram : public sc_core::sc_module, public HwUnit {
 public:
  struct Region {
    std::string name;
    uint64_t word0 = 0, words = 0;
    int width = 0, per_word = 0;
    size_t elements = 0;
    size_t index = 0;  // position in the memory's region list
    int per_word_log2 = -1;  // when per_word is a power of two (a shift instead of a division)
    bool is_signed = true;   // false: unsigned codes (an asymmetric weight tensor, 0 .. 2^width - 1)
    // an asymmetric weight tensor's zero points, one per tensor or one per `zp_per` consecutive
    // elements (a channel); empty: none (the operand is the code). Subtracted at operand fetch
    // (hw_models/layer_mem.hpp, fetch()).
    std::vector<int32_t> zero_points;
    size_t zp_per = 1;
    // separate parts (A, B, C with `parts: separate`, docs/fixed_point.md 9.2): two quantizer
    // entries per group of `zp_per` elements (a channel, or the tensor), index 2 * group + part
    // (re, im), each with its zero point (when asymmetric) and the left shift of its products
    // (0 for the finer part); empty: one entry per group, no shift.
    std::vector<int> part_shifts;
    // the quantizer entry (zero point, part shift) of element i
    size_t entry_of(size_t i) const {
      if (!part_shifts.empty()) return 2 * (i / zp_per) + i % 2;
      return zero_points.size() == 1 ? 0 : i / zp_per;
    }
    // the largest part shift (0 without separate parts): the products' extra width
    int max_part_shift() const {
      int k = 0;
      for (const int s : part_shifts) k = std::max(k, s);
      return k;
    }
    uint64_t word_of(size_t i) const {
      return word0 + (per_word_log2 >= 0 ? i >> per_word_log2 : i / static_cast<size_t>(per_word));
    }
  };

  BankedSram(sc_core::sc_module_name name, const SramConfig& config);

  // Places a tensor of `elements` codes of `width` bits after the previous ones, starting in bank
  // `bank` (skipping up to banks - 1 words): tensors read in the same cycle start in different
  // banks, so that equal sizes do not line their words up in one bank. A region that would pass
  // the capacity is still placed (the caller decides: error or off-chip streaming).
  const Region& allocate(const std::string& name, size_t elements, int width, int bank = -1, bool is_signed = true);
  // The zero points of a region's codes (the operand fetch subtracts them), `per` elements each;
  // with separate parts two per group of `per` elements, and `part_shifts`, the left shift of each
  // entry's products (zero_points then empty when the tensor is symmetric).
  void set_zero_points(const Region& r, std::vector<int32_t> zero_points, size_t per,
                       std::vector<int> part_shifts = {});
  const Region& region(const std::string& name) const;  // InputError if absent
  bool has(const std::string& name) const { return index_.count(name) != 0; }
  uint64_t used_bytes() const { return used_words_ * static_cast<uint64_t>(config_.word_bits / 8); }
  uint64_t used_bits() const;  // bits of the stored elements (without the padding of words)
  bool fits() const { return used_bytes() <= config_.capacity_bytes; }
  void clear();

  // The bytes of the words that hold `codes` at `width` bits in `word_bits`-bit words (the
  // layout above; a word's bytes little-endian). What a host writes to load a tensor. Codes are
  // two's complement of `width` bits, or unsigned ones when !is_signed.
  static std::vector<uint8_t> pack(const std::vector<int32_t>& codes, int width, int word_bits, bool is_signed = true);
  // Writes bytes of the word image from byte `offset` (a whole number of words), counts one write
  // per word, and decodes the elements they hold.
  void write_image(uint64_t offset, const uint8_t* data, size_t len);
  // Stores codes (each must fit the region's width): pack() and write_image().
  void store(const Region& r, const std::vector<int32_t>& codes);
  // One element as the words hold it.
  int32_t load(const Region& r, size_t i) const { return mirror_[r.index][i]; }
  // Writes one element (read-modify-write of its word is not modelled: a word write with a byte
  // enable per element); accounting is separate (access()).
  void put(const Region& r, size_t i, int32_t code) {
    const int64_t half = int64_t{1} << (r.width - 1);
    if (code < -half || code >= half || limbs_ != 1) return put_wide(r, i, code);  // (throws when it does not fit)
    const size_t slot = r.per_word_log2 >= 0 ? i & ((size_t{1} << r.per_word_log2) - 1) : i % static_cast<size_t>(r.per_word);
    const uint64_t mask = (uint64_t{1} << r.width) - 1;
    const size_t off = slot * static_cast<size_t>(r.width);
    uint64_t& w = data_[r.word_of(i)];
    w = (w & ~(mask << off)) | ((static_cast<uint64_t>(static_cast<int64_t>(code)) & mask) << off);
    mirror_[r.index][i] = code;  // what decode() would read back: the code fits its width
  }
  // The words touched in one cycle, reads or writes: counts them per bank and returns the cycles
  // they need: max over banks of ceil(words in the bank / ports), at least 1.
  unsigned access(const uint64_t* words, size_t n, bool write);
  // The same for word ranges [first, last) (the words of contiguous elements).
  unsigned access_ranges(std::initializer_list<std::pair<uint64_t, uint64_t>> ranges, bool write);

  // The packed word image of a region (for vector export and checks): words as 64-bit limbs.
  std::vector<uint64_t> image(const Region& r) const;
  // Every allocated word as $readmemh text: one word per line, word_bits / 4 hex digits.
  void write_hex(std::ostream& out) const;
  uint64_t used_words() const { return used_words_; }

  const SramConfig& config() const { return config_; }
  uint64_t reads() const;
  uint64_t writes() const;
  const std::vector<uint64_t>& bank_reads() const { return bank_reads_; }
  const std::vector<uint64_t>& bank_writes() const { return bank_writes_; }
  uint64_t conflict_cycles() const { return conflict_cycles_; }
  // The access counters, to replay a memoized schedule's accesses (PipelinedUnit, lt mode).
  struct Counters {
    std::vector<uint64_t> reads, writes;
    uint64_t conflicts = 0;
  };
  Counters counters() const { return {bank_reads_, bank_writes_, conflict_cycles_}; }
  static Counters difference(const Counters& after, const Counters& before);
  void add(const Counters& delta);
  // Bits written into the memory by the DMA from off-chip (weight streaming; priced as word
  // writes, not part of the declared counters).
  void count_fill(uint64_t bits) { fill_bits_ += bits; }

  // the unit contract
  std::string unit_name() const override { return basename(); }
  std::optional<UnitCost> cost(const CostContext& c) const override;
  StatList stats() const override;

 private:
  void decode(const Region& r, size_t i);
  void put_wide(const Region& r, size_t i, int32_t code);
  SramConfig config_;
  std::deque<Region> regions_;  // stable addresses: units keep pointers to regions
  std::map<std::string, size_t> index_;
  std::vector<std::vector<int32_t>> mirror_;
  std::vector<uint64_t> data_;  // limbs: (word_bits + 63) / 64 per word
  size_t limbs_ = 1;
  uint64_t used_words_ = 0;
  std::vector<uint64_t> bank_reads_, bank_writes_;
  std::vector<unsigned> scratch_;
  int banks_log2_ = -1;  // when banks is a power of two
  uint64_t conflict_cycles_ = 0;
  uint64_t fill_bits_ = 0;
};

}  // namespace ssmsim::hw
