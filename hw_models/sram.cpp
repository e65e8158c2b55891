#include "hw_models/sram.hpp"

#include <algorithm>
#include <ostream>

#include "quant/errors.hpp"

namespace ssmsim::hw {

BankedSram::BankedSram(sc_core::sc_module_name name, const SramConfig& config)
    : sc_module(name),
      config_(config),
      limbs_(static_cast<size_t>((config.word_bits + 63) / 64)),
      bank_reads_(static_cast<size_t>(config.banks), 0),
      bank_writes_(static_cast<size_t>(config.banks), 0),
      scratch_(static_cast<size_t>(config.banks), 0) {
  for (int k = 0; k < 31; ++k)
    if (config.banks == 1 << k) banks_log2_ = k;
}

const BankedSram::Region& BankedSram::allocate(const std::string& name, size_t elements, int width, int bank,
                                               bool is_signed) {
  if (width < 1 || width > 32 || width > config_.word_bits)
    throw InputError(std::string(basename()) + ": tensor '" + name + "' of " + std::to_string(width) +
                     "-bit elements does not fit a " + std::to_string(config_.word_bits) + "-bit word");
  if (bank >= 0) {
    const auto banks = static_cast<uint64_t>(config_.banks);
    used_words_ += (static_cast<uint64_t>(bank) % banks + banks - used_words_ % banks) % banks;
  }
  Region r;
  r.name = name;
  r.width = width;
  r.per_word = config_.word_bits / width;
  for (int k = 0; k < 31; ++k)
    if (r.per_word == 1 << k) r.per_word_log2 = k;
  r.elements = elements;
  r.is_signed = is_signed;
  r.word0 = used_words_;
  r.words = (elements + static_cast<size_t>(r.per_word) - 1) / static_cast<size_t>(r.per_word);
  r.index = regions_.size();
  used_words_ += r.words;
  data_.resize(used_words_ * limbs_, 0);
  regions_.push_back(r);
  mirror_.emplace_back(elements, 0);
  index_[name] = r.index;
  return regions_.back();
}

void BankedSram::set_zero_points(const Region& r, std::vector<int32_t> zero_points, size_t per,
                                 std::vector<int> part_shifts) {
  Region& w = regions_[r.index];
  w.zero_points = std::move(zero_points);
  w.zp_per = std::max<size_t>(per, 1);
  w.part_shifts = std::move(part_shifts);
}

const BankedSram::Region& BankedSram::region(const std::string& name) const {
  const auto it = index_.find(name);
  if (it == index_.end()) throw InputError(std::string(basename()) + ": no tensor '" + name + "' is stored");
  return regions_[it->second];
}

uint64_t BankedSram::used_bits() const {
  uint64_t b = 0;
  for (const auto& r : regions_) b += static_cast<uint64_t>(r.elements) * static_cast<uint64_t>(r.width);
  return b;
}

void BankedSram::clear() {
  regions_.clear();
  index_.clear();
  mirror_.clear();
  data_.clear();
  used_words_ = 0;
}

namespace {

// bit `bit` of a word held as 64-bit limbs
void place(uint64_t* w, size_t bit, int width, uint64_t v) {
  const uint64_t mask = (uint64_t{1} << width) - 1;  // width <= 32
  const size_t limb = bit / 64, off = bit % 64;
  v &= mask;
  w[limb] = (w[limb] & ~(mask << off)) | (v << off);
  if (off + static_cast<size_t>(width) > 64) {
    const uint64_t hmask = (uint64_t{1} << (off + static_cast<size_t>(width) - 64)) - 1;
    w[limb + 1] = (w[limb + 1] & ~hmask) | (v >> (64 - off));
  }
}

int32_t extract(const uint64_t* w, size_t bit, int width, bool is_signed) {
  const uint64_t mask = (uint64_t{1} << width) - 1;
  const size_t limb = bit / 64, off = bit % 64;
  uint64_t v = w[limb] >> off;
  if (off + static_cast<size_t>(width) > 64) v |= w[limb + 1] << (64 - off);
  if (!is_signed) return static_cast<int32_t>(v & mask);
  const uint64_t sign = uint64_t{1} << (width - 1);
  return static_cast<int32_t>(static_cast<int64_t>(((v & mask) ^ sign) - sign));
}

void check_code(const std::string& mem, const std::string& tensor, size_t i, int32_t code, int width,
                bool is_signed = true) {
  const int64_t lo = is_signed ? -(int64_t{1} << (width - 1)) : 0;
  const int64_t hi = is_signed ? (int64_t{1} << (width - 1)) - 1 : (int64_t{1} << width) - 1;
  if (code < lo || code > hi)
    throw RunError(mem + ": code " + std::to_string(code) + " of '" + tensor + "' element " + std::to_string(i) +
                   " does not fit its " + std::to_string(width) + (is_signed ? "" : " unsigned") + " bits");
}

}  // namespace

std::vector<uint8_t> BankedSram::pack(const std::vector<int32_t>& codes, int width, int word_bits, bool is_signed) {
  const size_t per_word = static_cast<size_t>(word_bits / width), limbs = static_cast<size_t>((word_bits + 63) / 64);
  const size_t words = (codes.size() + per_word - 1) / per_word, wbytes = static_cast<size_t>(word_bits / 8);
  std::vector<uint8_t> out(words * wbytes, 0);
  std::vector<uint64_t> w(limbs);
  for (size_t k = 0; k < words; ++k) {
    std::fill(w.begin(), w.end(), 0);
    for (size_t j = 0; j < per_word && k * per_word + j < codes.size(); ++j) {
      check_code("pack", "codes", k * per_word + j, codes[k * per_word + j], width, is_signed);
      place(w.data(), j * static_cast<size_t>(width), width, static_cast<uint64_t>(static_cast<int64_t>(codes[k * per_word + j])));
    }
    for (size_t by = 0; by < wbytes; ++by) out[k * wbytes + by] = static_cast<uint8_t>(w[by / 8] >> (8 * (by % 8)));
  }
  return out;
}

void BankedSram::write_image(uint64_t offset, const uint8_t* data, size_t len) {
  const auto wbytes = static_cast<uint64_t>(config_.word_bits / 8);
  if (offset % wbytes || len % wbytes)
    throw RunError(std::string(basename()) + ": image writes are whole " + std::to_string(wbytes) + "-byte words");
  const uint64_t w0 = offset / wbytes, nw = len / wbytes;
  if (w0 + nw > used_words_)
    throw RunError(std::string(basename()) + ": write of " + std::to_string(nw) + " words at word " + std::to_string(w0) +
                   " passes the " + std::to_string(used_words_) + " allocated words");
  for (uint64_t k = 0; k < nw; ++k) {
    uint64_t* w = &data_[(w0 + k) * limbs_];
    std::fill(w, w + limbs_, 0);
    for (uint64_t by = 0; by < wbytes; ++by) w[by / 8] |= static_cast<uint64_t>(data[k * wbytes + by]) << (8 * (by % 8));
    ++bank_writes_[(w0 + k) % static_cast<uint64_t>(config_.banks)];
  }
  for (const auto& r : regions_) {
    if (r.word0 + r.words <= w0 || r.word0 >= w0 + nw) continue;
    for (size_t i = 0; i < r.elements; ++i)
      if (r.word_of(i) >= w0 && r.word_of(i) < w0 + nw) decode(r, i);
  }
}

void BankedSram::decode(const Region& r, size_t i) {
  mirror_[r.index][i] = extract(&data_[r.word_of(i) * limbs_], (i % static_cast<size_t>(r.per_word)) * static_cast<size_t>(r.width), r.width,
                                r.is_signed);
}

void BankedSram::store(const Region& r, const std::vector<int32_t>& codes) {
  if (codes.size() != r.elements)
    throw RunError(std::string(basename()) + ": '" + r.name + "' holds " + std::to_string(r.elements) +
                   " elements, given " + std::to_string(codes.size()));
  const auto bytes = pack(codes, r.width, config_.word_bits, r.is_signed);
  write_image(r.word0 * static_cast<uint64_t>(config_.word_bits / 8), bytes.data(), bytes.size());
}

void BankedSram::put_wide(const Region& r, size_t i, int32_t code) {
  const int64_t half = int64_t{1} << (r.width - 1);
  if (code < -half || code >= half) check_code(basename(), r.name, i, code, r.width);  // throws
  const size_t slot = r.per_word_log2 >= 0 ? i & ((size_t{1} << r.per_word_log2) - 1) : i % static_cast<size_t>(r.per_word);
  place(&data_[r.word_of(i) * limbs_], slot * static_cast<size_t>(r.width), r.width,
        static_cast<uint64_t>(static_cast<int64_t>(code)));
  mirror_[r.index][i] = code;  // what decode() would read back: the code fits its width
}

unsigned BankedSram::access_ranges(std::initializer_list<std::pair<uint64_t, uint64_t>> ranges, bool write) {
  const auto banks = static_cast<size_t>(config_.banks);
  auto& counter = write ? bank_writes_ : bank_reads_;
  for (const auto& [w0, w1] : ranges) {
    const uint64_t n = w1 - w0, rounds = banks_log2_ >= 0 ? n >> banks_log2_ : n / banks;
    if (rounds)  // whole rounds touch every bank equally
      for (size_t k = 0; k < banks; ++k) scratch_[k] += static_cast<unsigned>(rounds);
    size_t b = static_cast<size_t>(banks_log2_ >= 0 ? w0 & (banks - 1) : w0 % banks);
    for (uint64_t j = 0; j < n - rounds * banks; ++j) {
      ++scratch_[b];
      b = b + 1 == banks ? 0 : b + 1;
    }
  }
  unsigned worst = 0;
  for (size_t k = 0; k < banks; ++k) {
    counter[k] += scratch_[k];
    worst = std::max(worst, scratch_[k]);
    scratch_[k] = 0;
  }
  const unsigned cycles = std::max(1u, (worst + static_cast<unsigned>(config_.ports) - 1) / static_cast<unsigned>(config_.ports));
  conflict_cycles_ += cycles - 1;
  return cycles;
}

unsigned BankedSram::access(const uint64_t* words, size_t n, bool write) {
  const auto banks = static_cast<uint64_t>(config_.banks);
  auto& counter = write ? bank_writes_ : bank_reads_;
  unsigned worst = 0;
  for (size_t k = 0; k < n; ++k) {
    const size_t b = static_cast<size_t>(words[k] % banks);
    ++counter[b];
    worst = std::max(worst, ++scratch_[b]);
  }
  for (size_t k = 0; k < n; ++k) scratch_[static_cast<size_t>(words[k] % banks)] = 0;
  const unsigned cycles = std::max(1u, (worst + static_cast<unsigned>(config_.ports) - 1) / static_cast<unsigned>(config_.ports));
  conflict_cycles_ += cycles - 1;
  return cycles;
}

std::vector<uint64_t> BankedSram::image(const Region& r) const {
  return {data_.begin() + static_cast<std::ptrdiff_t>(r.word0 * limbs_),
          data_.begin() + static_cast<std::ptrdiff_t>((r.word0 + r.words) * limbs_)};
}

void BankedSram::write_hex(std::ostream& out) const {
  const int digits = config_.word_bits / 4;
  static const char* hex = "0123456789abcdef";
  std::string line(static_cast<size_t>(digits), '0');
  for (uint64_t w = 0; w < used_words_; ++w) {
    const uint64_t* limb = &data_[w * limbs_];
    for (int d = 0; d < digits; ++d) {  // digit 0 is the most significant
      const int bit = 4 * (digits - 1 - d);
      line[static_cast<size_t>(d)] = hex[(limb[bit / 64] >> (bit % 64)) & 15];
    }
    out << line << '\n';
  }
}

uint64_t BankedSram::reads() const {
  uint64_t n = 0;
  for (auto v : bank_reads_) n += v;
  return n;
}

uint64_t BankedSram::writes() const {
  uint64_t n = 0;
  for (auto v : bank_writes_) n += v;
  return n;
}

BankedSram::Counters BankedSram::difference(const Counters& after, const Counters& before) {
  Counters d = after;
  for (size_t b = 0; b < d.reads.size(); ++b) {
    d.reads[b] -= before.reads[b];
    d.writes[b] -= before.writes[b];
  }
  d.conflicts -= before.conflicts;
  return d;
}

void BankedSram::add(const Counters& delta) {
  for (size_t b = 0; b < delta.reads.size(); ++b) {
    bank_reads_[b] += delta.reads[b];
    bank_writes_[b] += delta.writes[b];
  }
  conflict_cycles_ += delta.conflicts;
}

std::optional<UnitCost> BankedSram::cost(const CostContext& c) const {
  const EnergyTable& t = c.table;
  const double bank = static_cast<double>(config_.capacity_bytes) / config_.banks;
  const double cap = static_cast<double>(config_.capacity_bytes);
  UnitCost u;
  u.dynamic_pj = t.sram_pj(bank, config_.word_bits) * static_cast<double>(reads() + writes());
  if (fill_bits_)  // streamed weights are written into the buffer word by word
    u.dynamic_pj += t.sram_pj(bank, config_.word_bits) * static_cast<double>(fill_bits_) / config_.word_bits;
  u.area_um2 = t.sram_um2_per_bit * 8.0 * cap;
  u.leakage_w = t.scale * t.sram_leak_pw_per_bit * 1e-12 * 8.0 * cap;
  return u;
}

StatList BankedSram::stats() const {
  const std::string p = basename();
  StatList s{{p + ".reads", "words", "word reads, all banks", static_cast<double>(reads())},
             {p + ".writes", "words", "word writes, all banks", static_cast<double>(writes())},
             {p + ".conflict_cycles", "cycles", "extra cycles of accesses that asked a bank for more words than ports",
              static_cast<double>(conflict_cycles_)},
             {p + ".used_bytes", "bytes", "words allocated to tensors", static_cast<double>(used_bytes())},
             {p + ".capacity_bytes", "bytes", "configured capacity", static_cast<double>(config_.capacity_bytes)}};
  for (size_t b = 0; b < bank_reads_.size(); ++b)
    s.push_back({p + ".bank" + std::to_string(b) + ".accesses", "words", "reads + writes of this bank",
                 static_cast<double>(bank_reads_[b] + bank_writes_[b])});
  return s;
}

const keys::Table<SramConfig>& SramConfig::keys() {
  using M = SramConfig;
  static const auto t =
      keys::Table<M>("memory")
          .integer("capacity_bytes", &M::capacity_bytes, 1, 1LL << 40, "bytes", "capacity")
          .integer("word_bits", &M::word_bits, 8, 1024, "bits", "word width (whole bytes)",
                   [](int w) { return w % 8 ? std::string("a word is whole bytes: a multiple of 8 in [8, 1024]") : std::string(); })
          .integer("banks", &M::banks, 1, 1024, "banks", "word w lives in bank w % banks")
          .integer("ports", &M::ports, 1, 16, "accesses/cycle", "accesses per bank per cycle (a read or a write each)");
  return t;
}

}  // namespace ssmsim::hw
