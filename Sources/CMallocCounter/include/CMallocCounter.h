#ifndef CLOUDBUS_CMALLOC_COUNTER_H
#define CLOUDBUS_CMALLOC_COUNTER_H

// libCloudBusMallocCounter.so: counts a whole process's heap allocations when preloaded (LD_PRELOAD) into it, for the
// allocation budget test (Tests/AllocationBudgetTests). Nothing links it: it only ever enters a process through
// LD_PRELOAD. malloc_counter.c explains how it works and why interposing glibc this way is safe.
//
// Protocol: set CLOUDBUS_MALLOC_COUNT_FILE in the process's environment; each SIGUSR2 sent to the process then appends
// one line to that file (created if missing):
//
//     <snapshot number> <allocations> <bytes allocated> <frees>\n
//
// counted since the process started. Allocations are calls of malloc, calloc, realloc, posix_memalign, aligned_alloc
// and memalign that returned memory (a realloc that moves or resizes a block counts as one allocation and one free,
// as swift-nio's allocation counter counts it); bytes are the sizes asked for.

/// The environment variable naming the file snapshots are appended to.
#define CLOUDBUS_MALLOC_COUNT_FILE_ENV "CLOUDBUS_MALLOC_COUNT_FILE"

#endif
