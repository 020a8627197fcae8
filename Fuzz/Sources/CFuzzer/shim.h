// libFuzzer's entry point for a program that has its own main (compiler-rt, FuzzerInterface.h).
// Linked in by `-sanitize=fuzzer`; the fuzz executables pick a target, then hand argv to it.
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*UserCb)(const uint8_t *Data, size_t Size));
