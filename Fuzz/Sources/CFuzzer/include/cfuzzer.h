#ifndef TDEFS_CFUZZER_H
#define TDEFS_CFUZZER_H
#include <stddef.h>
#include <stdint.h>

// libFuzzer's driver, exported by libclang_rt.fuzzer (linked by swiftc -sanitize=fuzzer).
// SwiftPM links an executable target's `main` to its module's Swift entry point, so libFuzzer's
// own main() is never used: each target's main.swift calls this instead.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
