#include <stddef.h>
#include <stdint.h>

// libFuzzer's driver entry (compiler-rt, LLVM 11+). SwiftPM gives each executable target its own
// entry symbol, so libFuzzer's `main` is not used; each target's entry calls this instead.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
