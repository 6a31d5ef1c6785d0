/* fuzz.h: the one entry point every fuzz target defines; libFuzzer calls it, and replay.c calls it for each file of
 * a corpus under `make check` (so corpora are regression tests even without clang). */
#ifndef MESHFLEET_FUZZ_H
#define MESHFLEET_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
