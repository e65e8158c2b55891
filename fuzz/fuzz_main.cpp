// One libFuzzer program per target (fuzz/CMakeLists.txt defines SSMSIM_FUZZ_TARGET): the bytes go
// to the target's entry function (fuzz/entries.hpp), which lets every non-typed failure escape.
#include <cstddef>
#include <cstdint>

#include "fuzz/entries.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const ssmsim::fuzz::Entry entry = ssmsim::fuzz::target(SSMSIM_FUZZ_TARGET).run;
  entry(data, size);
  return 0;
}
