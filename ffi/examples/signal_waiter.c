/*
 * signal_waiter.c: takes over SIGUSR1 through kipc and prints what arrives.
 *
 *   signal_waiter            sends itself SIGUSR1 with a value, then waits
 *   signal_waiter --wait MS  prints "ready PID", then waits up to MS ms for a
 *                            SIGUSR1 from another process (kill -USR1 PID)
 */
#define _POSIX_C_SOURCE 200809L
#include "kipc.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *code_name(int32_t code)
{
    switch (code) {
    case KIPC_SI_USER:
        return "SI_USER";
    case KIPC_SI_QUEUE:
        return "SI_QUEUE";
    case KIPC_SI_TKILL:
        return "SI_TKILL";
    default:
        return "other";
    }
}

int main(int argc, char **argv)
{
    kipc_signals *sigs = NULL;
    kipc_siginfo_t info;
    long long timeout_ns = 5000000000LL;
    int rc, fd = -1, self = 1;

    if (argc == 3 && strcmp(argv[1], "--wait") == 0) {
        self = 0;
        timeout_ns = strtoll(argv[2], NULL, 10) * 1000000LL;
    } else if (argc != 1) {
        fprintf(stderr, "usage: %s [--wait MS]\n", argv[0]);
        return 2;
    }
    rc = kipc_signals_open(KIPC_SIGBIT(SIGUSR1), &sigs);
    if (rc != 0) {
        fprintf(stderr, "signal_waiter: open: %s\n", kipc_strerror(rc));
        return 1;
    }
    if (kipc_signals_fd(sigs, &fd) != 0 || fd < 0) {
        fprintf(stderr, "signal_waiter: no descriptor\n");
        kipc_signals_close(sigs);
        return 1;
    }
    if (self) {
        rc = kipc_signals_send((int32_t)getpid(), SIGUSR1, 42);
        if (rc != 0) {
            fprintf(stderr, "signal_waiter: send: %s\n", kipc_strerror(rc));
            kipc_signals_close(sigs);
            return 1;
        }
    } else {
        printf("ready %ld\n", (long)getpid());
        fflush(stdout);
    }
    rc = kipc_signals_wait(sigs, timeout_ns, &info);
    if (rc != 0) {
        printf("signal_waiter: nothing arrived: %s\n", kipc_strerror(rc));
        kipc_signals_close(sigs);
        return 1;
    }
    printf("signal_waiter: got signal %d (%s) from pid %u uid %u, %s, value %llu\n", (int)info.signo,
           info.signo == SIGUSR1 ? "SIGUSR1" : "?", (unsigned)info.pid, (unsigned)info.uid,
           code_name(info.code), (unsigned long long)info.value);
    /* Nothing else is pending: a try returns EAGAIN, a short wait times out. */
    rc = kipc_signals_wait(sigs, 0, &info);
    if (rc == -KIPC_EAGAIN)
        rc = kipc_signals_wait(sigs, 10000000LL, &info);
    printf("signal_waiter: then: %s\n", kipc_strerror(rc));
    return kipc_signals_close(sigs) == 0 && rc == -KIPC_ETIMEDOUT ? 0 : 1;
}
