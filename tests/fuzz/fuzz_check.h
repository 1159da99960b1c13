/* fuzz_check.h - what every kidou fuzz target shares: libFuzzer's entry
 * point, declared (no header of libFuzzer's declares it), and CHECK(), an
 * assertion that survives NDEBUG and names the failed condition before it
 * aborts, so that libFuzzer keeps the input as a crash. */
#ifndef KIDOU_FUZZ_CHECK_H
#define KIDOU_FUZZ_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                        \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "%s:%d: check failed: %s\n",       \
				__FILE__, __LINE__, #cond);                \
			abort();                                           \
		}                                                          \
	} while (0)

#endif
