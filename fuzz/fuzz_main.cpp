// One libFuzzer program per target (fuzz/CMakeLists.txt defines SSMSIM_FUZZ_TARGET): the bytes go
// to the target's entry function (fuzz/entries.hpp), which lets every non-typed failure escape.
#include <cstddef>
#include <cstdint>

#include <systemc>  // declares sc_main with C linkage

#include "fuzz/entries.hpp"

// libsystemc.so references sc_main; libFuzzer's main() runs instead, so it is never called.
int sc_main(int, char**) { return 1; }

// SystemC's warnings (the vectors check builds an accelerator per input, and the kernel renames the
// repeated process names) would drown libFuzzer's output.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  sc_core::sc_report_handler::set_actions(sc_core::SC_WARNING, sc_core::SC_DO_NOTHING);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const ssmsim::fuzz::Entry entry = ssmsim::fuzz::target(SSMSIM_FUZZ_TARGET).run;
  entry(data, size);
  return 0;
}
