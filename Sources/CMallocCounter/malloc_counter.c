// A heap allocation counter for a whole process, entered through LD_PRELOAD (the allocation budget test preloads
// libCloudBusMallocCounter.so into the release `cloudbus-worker`). include/CMallocCounter.h has the protocol.
//
// How: this library defines malloc, calloc, realloc, free, posix_memalign, aligned_alloc and memalign. A preloaded
// library comes first in the dynamic linker's search order, so every call of these functions in the process — from
// the Swift runtime, Foundation, NIO, rabbitmq-c, and glibc itself (glibc calls them through the interposable symbols
// precisely so that a replacement malloc sees them) — lands here, on every thread. Each definition forwards to glibc's
// allocator under its other exported name (__libc_malloc, __libc_calloc, __libc_realloc, __libc_free,
// __libc_memalign: public GLIBC_2.2.5 symbols, the very functions `malloc` and friends resolve to without us) and adds
// to three relaxed atomic counters.
//
// Why that is safe:
// - There is still exactly one heap, glibc's: we allocate nothing ourselves and change no pointer, size or
//   alignment. A block may therefore come from any path (ours, or one we do not define, such as valloc, pvalloc or
//   reallocarray, which glibc serves itself and which go uncounted; nothing in this stack calls them) and be freed by
//   any other, and malloc_usable_size keeps working.
// - No recursion and no bootstrap problem: the usual way to find the next malloc, dlsym(RTLD_NEXT, "malloc"), can
//   itself allocate (calloc for dlerror's buffer) before it has an answer; __libc_* are ordinary symbols bound at load
//   time, so our malloc works from the first call, before any constructor has run, and needs no initialisation.
// - The counters are lock-free atomics (no lock to deadlock on across fork or in a signal handler); relaxed ordering
//   suffices because a snapshot is taken while the process is quiet, and each counter is exact on its own.
// - errno and return values follow glibc's: the forwarded call sets them; posix_memalign checks its alignment as
//   glibc does and leaves errno alone as POSIX asks.
//
// Reading the counts without touching the program: when CLOUDBUS_MALLOC_COUNT_FILE is set, the constructor installs
// a SIGUSR2 handler that appends a line to that file, blocks SIGUSR2 in the initial thread (every thread created
// afterwards inherits the mask: the constructor runs before the program or any other library starts a thread), and
// starts one thread that waits for SIGUSR2 with sigwait and writes the same line. So the program's working threads
// (NIO event loops, the rabbitmq-c owner, the cooperative pool) never take the signal and none of their system calls
// fails with EINTR. It lands on a thread that unblocks it on purpose: in the worker that is the main thread, which
// libdispatch parks in sigsuspend with an empty mask for exactly this (the handler runs there); elsewhere it is our
// sigwait thread. Everything the handler calls (atomics, open, write, close) is async-signal-safe, and numbers are
// formatted by hand.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "CMallocCounter.h"

// glibc's allocator under its own exported names (see above).
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void __libc_free(void *pointer);
extern void *__libc_memalign(size_t alignment, size_t size);

static atomic_uint_fast64_t allocations;
static atomic_uint_fast64_t allocated_bytes;
static atomic_uint_fast64_t frees;
static atomic_uint_fast64_t snapshots;

static inline void count_allocation(size_t size) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&allocated_bytes, size, memory_order_relaxed);
}

static inline void count_free(void) { atomic_fetch_add_explicit(&frees, 1, memory_order_relaxed); }

void *malloc(size_t size) {
    void *block = __libc_malloc(size);
    if (block) count_allocation(size);
    return block;
}

void *calloc(size_t count, size_t size) {
    void *block = __libc_calloc(count, size);
    if (block) count_allocation(count * size); // cannot overflow: calloc fails when it would
    return block;
}

void *realloc(void *pointer, size_t size) {
    void *block = __libc_realloc(pointer, size);
    if (pointer == NULL) {
        if (block) count_allocation(size); // realloc(NULL, n) is malloc(n)
    } else if (size == 0) {
        count_free(); // glibc frees the block and returns NULL
    } else if (block) {
        count_free(); // failure (NULL) leaves the old block alone: nothing to count
        count_allocation(size);
    }
    return block;
}

void free(void *pointer) {
    if (pointer) count_free();
    __libc_free(pointer);
}

static void *counted_memalign(size_t alignment, size_t size) {
    void *block = __libc_memalign(alignment, size);
    if (block) count_allocation(size);
    return block;
}

void *memalign(size_t alignment, size_t size) { return counted_memalign(alignment, size); }

// glibc 2.36 serves aligned_alloc as memalign.
void *aligned_alloc(size_t alignment, size_t size) { return counted_memalign(alignment, size); }

int posix_memalign(void **out, size_t alignment, size_t size) {
    // glibc's check: a power of two that is a multiple of sizeof(void *).
    if (alignment == 0 || alignment % sizeof(void *) != 0 || (alignment & (alignment - 1)) != 0) return EINVAL;
    int saved = errno;
    void *block = counted_memalign(alignment, size);
    errno = saved;
    if (!block) return ENOMEM;
    *out = block;
    return 0;
}

// ---- Snapshots --------------------------------------------------------------------------------------------------

static char count_file[4096]; // copied from the environment by the constructor, read-only afterwards

// Writes `value` in decimal just before `end`; returns where it starts.
static char *decimal_before(char *end, uint64_t value) {
    do {
        *--end = (char)('0' + value % 10);
        value /= 10;
    } while (value != 0);
    return end;
}

// Appends "<snapshot> <allocations> <bytes> <frees>\n" to count_file. Async-signal-safe.
static void write_snapshot(void) {
    uint64_t values[4] = {
        atomic_fetch_add_explicit(&snapshots, 1, memory_order_relaxed) + 1,
        atomic_load_explicit(&allocations, memory_order_relaxed),
        atomic_load_explicit(&allocated_bytes, memory_order_relaxed),
        atomic_load_explicit(&frees, memory_order_relaxed),
    };
    char line[4 * 21 + 1]; // four numbers of at most 20 digits, each followed by a space or the newline
    char *end = line + sizeof line;
    char *start = end;
    *--start = '\n';
    for (int index = 3; index >= 0; index--) {
        start = decimal_before(start, values[index]);
        if (index > 0) *--start = ' ';
    }
    int saved = errno;
    int fd = open(count_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
        // One short write with O_APPEND: the line lands whole; a reader waits for its newline.
        if (write(fd, start, (size_t)(end - start)) < 0) { /* nothing to do from here */ }
        close(fd);
    }
    errno = saved;
}

static void *snapshot_thread(void *unused) {
    (void)unused;
    sigset_t wanted;
    sigemptyset(&wanted);
    sigaddset(&wanted, SIGUSR2);
    for (;;) {
        int signal_number;
        if (sigwait(&wanted, &signal_number) == 0) write_snapshot();
    }
    return NULL;
}

static void snapshot_handler(int signal_number) {
    (void)signal_number;
    write_snapshot();
}

__attribute__((constructor)) static void start_snapshots(void) {
    const char *path = getenv(CLOUDBUS_MALLOC_COUNT_FILE_ENV);
    if (path == NULL || path[0] == '\0' || strlen(path) >= sizeof count_file) return; // count, report nothing
    memcpy(count_file, path, strlen(path) + 1);

    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = snapshot_handler;
    action.sa_flags = SA_RESTART;
    sigemptyset(&action.sa_mask);
    sigaction(SIGUSR2, &action, NULL);

    sigset_t blocked;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &blocked, NULL);
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    pthread_t thread;
    if (pthread_create(&thread, &attributes, snapshot_thread, NULL) == 0) {
        pthread_setname_np(thread, "malloc-counter");
    } else {
        pthread_sigmask(SIG_UNBLOCK, &blocked, NULL); // no waiting thread: let the handler take the signal
    }
    pthread_attr_destroy(&attributes);
}
