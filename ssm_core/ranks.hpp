// The processes one data-parallel run is split across: MPI ranks under `mpirun`, or this process
// alone. The core library knows only this interface; the MPI build supplies an implementation in
// the executable (sim/mpi_ranks.cpp), so the library and its tests never link MPI.
//
// Bits do not depend on the number of ranks: a batch's chunks are dealt out by index (chunk c to
// rank c mod K), every rank computes its own chunks, then every rank receives every chunk's result
// and folds them in chunk order exactly as one process does (docs/cluster.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <type_traits>
#include <vector>

namespace ssmsim::core {

class Ranks {
 public:
  virtual ~Ranks() = default;
  virtual size_t rank() const { return 0; }
  virtual size_t size() const { return 1; }
  // The ranks on this machine (this process's share of its cores is 1 / this).
  virtual size_t on_this_host() const { return 1; }
  // Every rank passes its bytes; every rank gets all ranks' bytes, in rank order.
  virtual std::vector<std::string> gather_each(std::string mine) const { return {std::move(mine)}; }
  // Rank 0's flag, on every rank (a stop decision every rank must take together).
  virtual bool rank0_says(bool flag) const { return flag; }
  // A command calls this when its inputs are read and before the work starts: it returns when
  // every rank got there, and throws InputError (naming the rank and its error) on the ranks that
  // did when another failed on the way, so that a wrong input ends every rank with one message.
  virtual void all_set_up() const {}

  bool owns(size_t item) const { return item % size() == rank(); }
  bool is_root() const { return rank() == 0; }
};

// This process alone.
const Ranks& one_process();

// The cores this process may run on (its CPU affinity: taskset, cgroups, mpirun's binding).
size_t usable_cores();

// The threads one rank uses when `threads` is 0 (all cores): its share of the machine's cores
// (the cores over the ranks on this machine), at most the cores it may run on.
size_t rank_threads(const Ranks& ranks, size_t threads);

// Bytes of plain values and vectors of them, in order: one chunk's results on their way between
// ranks (all ranks run the same binary on the same kind of machine).
class Packer {
 public:
  template <class T>
  Packer& put(const T& v) {
    static_assert(std::is_trivially_copyable_v<T>, "Packer: plain values only");
    bytes_.append(reinterpret_cast<const char*>(&v), sizeof v);
    return *this;
  }
  template <class T>
  Packer& put(const std::vector<T>& v) {
    static_assert(std::is_trivially_copyable_v<T>, "Packer: vectors of plain values only");
    put(static_cast<uint64_t>(v.size()));
    bytes_.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
    return *this;
  }
  Packer& put(const std::string& v) {
    put(static_cast<uint64_t>(v.size()));
    bytes_.append(v);
    return *this;
  }
  std::string take() { return std::move(bytes_); }

 private:
  std::string bytes_;
};

// Reads back what a Packer wrote, in the same order; a short or long buffer is an internal error.
// It holds a reference to the bytes, which must outlive it.
class Unpacker {
 public:
  explicit Unpacker(const std::string& bytes) : bytes_(bytes) {}
  explicit Unpacker(std::string&&) = delete;  // it reads the bytes where they are: not a temporary
  template <class T>
  Unpacker& get(T& v) {
    static_assert(std::is_trivially_copyable_v<T>, "Unpacker: plain values only");
    std::memcpy(&v, take(sizeof v), sizeof v);
    return *this;
  }
  template <class T>
  Unpacker& get(std::vector<T>& v) {
    uint64_t n = 0;
    get(n);
    if (n > (bytes_.size() - pos_) / sizeof(T)) fail();
    v.resize(n);
    if (n) std::memcpy(v.data(), take(n * sizeof(T)), n * sizeof(T));
    return *this;
  }
  Unpacker& get(std::string& v) {
    uint64_t n = 0;
    get(n);
    if (n > bytes_.size() - pos_) fail();
    v.assign(take(n), n);
    return *this;
  }
  size_t position() const { return pos_; }
  // Every byte was read.
  void finish() const {
    if (pos_ != bytes_.size()) fail();
  }

 private:
  const char* take(size_t n);
  [[noreturn]] void fail() const;
  const std::string& bytes_;
  size_t pos_ = 0;
};

// Items [0, n) dealt out by index: on entry items[i] holds the bytes of the items this rank owns;
// on return every rank holds every item's bytes.
void all_gather(const Ranks& ranks, std::vector<std::string>& items);

// A chunked computation split across ranks: run(c, worker) for the chunks c in [0, n) this rank
// owns, on `threads` workers; then pack(c) on their owner and unpack(c) on every other rank, so
// that every rank ends with every chunk's result. One process: run() on all chunks, nothing else.
struct RankedChunks {
  std::function<void(size_t chunk, size_t worker)> run;
  std::function<void(size_t chunk, Packer&)> pack;
  std::function<void(size_t chunk, Unpacker&)> unpack;
};
void run_chunks(const Ranks& ranks, size_t n, size_t threads, const RankedChunks& work);

}  // namespace ssmsim::core
