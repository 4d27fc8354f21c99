/*
 * sigstate_threads.c: one kipc_sigstate_t shared by four pthreads with no
 * lock of the program's own. Two threads raise through kipc_sigstate_raise
 * (the lock-free path an interrupt or signal handler uses): a real-time
 * signal with a distinct value each time, and now and then SIGUSR1. Two
 * threads, as state threads 0 and 1, block and unblock SIGUSR1, take
 * deliveries (running "handlers" and returning from them) and take SIGUSR1
 * by sigwait while they block it.
 *
 * Checks: every real-time instance is delivered exactly once, with its
 * sender and value, and each taker sees one raiser's instances in raise
 * order; SIGUSR1 is delivered at least once and at most as often as raised
 * (standard signals coalesce); no thread is handed a signal it blocks.
 *
 * Usage: sigstate_threads [instances per raiser]   (default 2000)
 * ffi/tests/c_programs.rs runs it directly and under valgrind memcheck.
 * helgrind and drd report every access under the state's lock as a race:
 * they know pthread locks, not a spin lock built on atomics. ThreadSanitizer
 * does, and finds no race here (and finds them when the lock is disabled);
 * a by-hand run (nightly Rust; gcc's libtsan lacks __tsan_memcpy & co., so
 * add a file defining them as memcpy/memset/memmove):
 *     CARGO_PROFILE_RELEASE_PANIC=abort RUSTFLAGS=-Zsanitizer=thread \
 *       cargo +nightly build -p kipc-ffi --no-default-features --release \
 *       -Zbuild-std=core --target x86_64-unknown-linux-gnu --target-dir target/tsan
 *     cc -fsanitize=thread -DKIPC_NO_HOST -I ffi/include sigstate_threads.c \
 *       tsan_shim.c target/tsan/x86_64-unknown-linux-gnu/release/libkipc_ffi.a -lpthread
 */
#define _POSIX_C_SOURCE 200809L
#include "kipc.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define SIGUSR1_ 10
#define RT_SIG (KIPC_SIGRTMIN + 1)
#define RAISERS 2
#define TAKERS 2
#define MAX_PER_RAISER 100000

static kipc_sigstate_t st;
static uint32_t per_raiser = 2000;

/* Written by the raisers before they finish. */
static uint32_t usr1_raised[RAISERS];
/* delivered[r][v]: how often raiser r's instance v came out. Each taker
 * writes only its own row of counts; summed after the joins. */
static uint8_t delivered[TAKERS][RAISERS][MAX_PER_RAISER];
static uint32_t usr1_delivered[TAKERS];
static atomic_int raisers_done;

static void fail(const char *what, int rc) {
    printf("sigstate_threads: FAIL %s (%d: %s)\n", what, rc, kipc_strerror(rc));
    fflush(stdout);
    exit(1); /* ends every thread: nothing can hang */
}

static void *raiser(void *arg) {
    uint32_t r = (uint32_t)(uintptr_t)arg;
    for (uint32_t v = 0; v < per_raiser; v++) {
        int rc;
        /* A full inbox is back-pressure: the takers drain it. */
        while ((rc = kipc_sigstate_raise(&st, RT_SIG, KIPC_SI_QUEUE, r, 0, v)) == -KIPC_EAGAIN)
            sched_yield();
        if (rc != 0)
            fail("raise real-time", rc);
        if (v % 4 == 0) {
            rc = kipc_sigstate_raise(&st, SIGUSR1_, KIPC_SI_USER, r, 0, 0);
            if (rc != 0)
                fail("raise SIGUSR1", rc);
            usr1_raised[r]++;
        }
    }
    atomic_fetch_add(&raisers_done, 1);
    return NULL;
}

/* Last value taker t saw from each raiser, to check the order. */
static int64_t last_seen[TAKERS][RAISERS];

static void record(uint32_t t, const kipc_siginfo_t *i, uint64_t blocked) {
    if (blocked & KIPC_SIGBIT(i->signo))
        fail("delivered a blocked signal", i->signo);
    if (i->signo == SIGUSR1_) {
        usr1_delivered[t]++;
        return;
    }
    if (i->signo != RT_SIG || i->code != KIPC_SI_QUEUE || i->pid >= RAISERS ||
        i->value >= per_raiser)
        fail("unexpected signal or info", i->signo);
    if ((int64_t)i->value <= last_seen[t][i->pid])
        fail("real-time instances out of order", (int)i->value);
    last_seen[t][i->pid] = (int64_t)i->value;
    delivered[t][i->pid][i->value]++;
}

/* Takes every delivery thread t can have under `blocked`. */
static void drain(uint32_t t, uint64_t blocked) {
    kipc_sigdelivery_t d;
    int rc;
    while ((rc = kipc_sigstate_next_delivery(&st, t, &d)) == 0) {
        record(t, &d.info, blocked);
        if (d.action == KIPC_SIGACT_RUN_HANDLER) {
            /* The "handler" ran; sigreturn. */
            rc = kipc_sigstate_handler_return(&st, t, d.saved_mask);
            if (rc != 0)
                fail("handler_return", rc);
        }
    }
    if (rc != -KIPC_EAGAIN)
        fail("next_delivery", rc);
}

static void *taker(void *arg) {
    uint32_t t = (uint32_t)(uintptr_t)arg;
    uint64_t usr1 = KIPC_SIGBIT(SIGUSR1_);
    int last;
    do {
        last = atomic_load(&raisers_done) == RAISERS;
        int rc = kipc_sigstate_sigprocmask(&st, t, KIPC_SIG_BLOCK, usr1, NULL);
        if (rc != 0)
            fail("sigprocmask block", rc);
        drain(t, usr1);
        kipc_siginfo_t info;
        if ((rc = kipc_sigstate_sigwait(&st, t, usr1, &info)) == 0)
            record(t, &info, 0);
        else if (rc != -KIPC_EAGAIN)
            fail("sigwait", rc);
        rc = kipc_sigstate_sigprocmask(&st, t, KIPC_SIG_UNBLOCK, usr1, NULL);
        if (rc != 0)
            fail("sigprocmask unblock", rc);
        drain(t, 0);
    } while (!last);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 1)
        per_raiser = (uint32_t)strtoul(argv[1], NULL, 10);
    if (per_raiser == 0 || per_raiser > MAX_PER_RAISER) {
        printf("usage: sigstate_threads [1..%d]\n", MAX_PER_RAISER);
        return 2;
    }
    /* A deadlock kills the process (SIGALRM) instead of hanging the test. */
    alarm(300);
    if (kipc_sigstate_init(&st) != 0)
        fail("init", -1);
    int rc = kipc_sigstate_set_action(&st, SIGUSR1_, KIPC_SIG_HANDLER, 1, KIPC_SA_SIGINFO, 0, NULL);
    if (rc != 0)
        fail("set_action", rc);
    for (int t = 0; t < TAKERS; t++)
        for (int r = 0; r < RAISERS; r++)
            last_seen[t][r] = -1;

    pthread_t threads[RAISERS + TAKERS];
    for (uintptr_t i = 0; i < TAKERS; i++)
        if (pthread_create(&threads[i], NULL, taker, (void *)i) != 0)
            fail("pthread_create", 0);
    for (uintptr_t i = 0; i < RAISERS; i++)
        if (pthread_create(&threads[TAKERS + i], NULL, raiser, (void *)i) != 0)
            fail("pthread_create", 0);
    for (int i = 0; i < RAISERS + TAKERS; i++)
        pthread_join(threads[i], NULL);

    uint32_t rt_total = 0;
    for (uint32_t r = 0; r < RAISERS; r++)
        for (uint32_t v = 0; v < per_raiser; v++) {
            int n = delivered[0][r][v] + delivered[1][r][v];
            if (n != 1) {
                printf("sigstate_threads: FAIL raiser %u value %u delivered %d times\n", r, v, n);
                return 1;
            }
            rt_total++;
        }
    uint32_t raised = usr1_raised[0] + usr1_raised[1];
    uint32_t got = usr1_delivered[0] + usr1_delivered[1];
    if (got < 1 || got > raised) {
        printf("sigstate_threads: FAIL SIGUSR1 raised %u times, delivered %u\n", raised, got);
        return 1;
    }
    uint64_t pending = 0;
    for (uint32_t t = 0; t < TAKERS; t++) {
        uint64_t p;
        kipc_sigstate_sigprocmask(&st, t, KIPC_SIG_SETMASK, ~(uint64_t)0, NULL);
        if ((rc = kipc_sigstate_sigpending(&st, t, &p)) != 0)
            fail("sigpending", rc);
        pending |= p;
    }
    if (pending != 0) {
        printf("sigstate_threads: FAIL left pending: %#llx\n", (unsigned long long)pending);
        return 1;
    }
    printf("sigstate_threads: %u real-time instances each delivered once, SIGUSR1 %u of %u "
           "raises (coalesced): ok\n",
           rt_total, got, raised);
    return 0;
}
