// Where one layer's tensors live in the accelerator's memories, and the operand widths its units
// count actions at; where the whole model lives (ModelMem). Filled by the Accelerator when it lays
// the model out.
#pragma once

#include <algorithm>
#include <vector>

#include "hw_models/datapath.hpp"
#include "hw_models/sram.hpp"

namespace ssmsim::hw {

using Region = BankedSram::Region;

struct LayerMem {
  // weight memory
  const Region *A = nullptr, *B = nullptr, *C = nullptr, *D = nullptr;
  const Region *gamma = nullptr, *beta = nullptr, *Wm = nullptr, *bm = nullptr;
  // state memory: S4D [H][N/2][re, im], S5 [P2][re, im]
  const Region* x = nullptr;
  // operand widths (bits)
  int wA = 0, wB = 0, wC = 0, wD = 0, wx = 0, wu = 0, wy = 0, wact = 0, wW = 0, wg = 0, wnorm = 0;
  uint64_t weight_bytes = 0;  // the layer's share of the weight memory (off-chip streaming unit)
};

// The words that elements [b, e) of a region occupy, appended to `out`.
inline void words_of(const Region& r, size_t b, size_t e, std::vector<uint64_t>& out) {
  if (b >= e) return;
  for (uint64_t w = r.word_of(b); w <= r.word_of(e - 1); ++w) out.push_back(w);
}

// The word range [first, last) of elements [b, e) of a region (b < e).
inline std::pair<uint64_t, uint64_t> word_range(const Region& r, size_t b, size_t e) {
  return {r.word_of(b), r.word_of(e - 1) + 1};
}

// Where the model lives: filled by the Accelerator when it lays the model out.
struct ModelMem {
  const Region *We = nullptr, *be = nullptr, *Wd = nullptr, *bd = nullptr, *input = nullptr;
  std::vector<LayerMem> layers;
  int w_enc = 0, w_dec = 0, w_in = 0, w_h0 = 0, w_pool = 0;
  bool streaming = false;        // weights come from off-chip every token
  uint64_t encoder_bytes = 0;    // streamed segments
  uint64_t decoder_bytes = 0;
};

}  // namespace ssmsim::hw
