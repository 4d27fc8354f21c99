/*
 * epoll_consumer.c: one epoll loop, one thread, waiting on two named rings
 * and on signals at once, through the descriptors of kipc_ring_fd and
 * kipc_signals_fd.
 *
 *   epoll_consumer RING_A RING_B [MAX]
 *
 * Opens both rings (retrying while they do not exist yet), takes over
 * SIGUSR1 and SIGTERM, prints "ready PID", then prints every message as
 * "A msg 0", "B msg 0", ..., checking that each ring's messages come in
 * order. A ring is done when it delivers "end" (ring_producer.c's last
 * message). Exits 0 when both rings are done, after MAX messages in all, or
 * when a signal arrives (it prints the signal); exits 1 on an error,
 * including a producer that died before "end". Removes both names on exit.
 *
 * Try it:  ring_producer a 100 & ring_producer b 100 & epoll_consumer a b
 */
#define _POSIX_C_SOURCE 200809L
#include "kipc.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define NRINGS 2
#define SIGNALS_TAG NRINGS /* epoll data of the signal descriptor */
#define IDLE_MS 100        /* wake up now and then: a try notices a dead producer */

struct source {
    const char *name;
    char tag; /* 'A' or 'B' */
    kipc_ring *ring;
    long received;
    int done;
};

/*
 * Receives from one ring until it is empty (-KIPC_EAGAIN), which arms its
 * descriptor: a message that comes later makes it readable. Returns 0 to go
 * on, 1 when MAX messages came in, -1 on an error.
 */
static int drain(struct source *s, int ep, long *total, long max)
{
    char buf[64], want[32];
    size_t len = 0;
    int rc, fd;

    while (!s->done) {
        if (max > 0 && *total >= max)
            return 1;
        rc = kipc_ring_recv(s->ring, buf, sizeof buf - 1, &len, 0);
        if (rc == -KIPC_EAGAIN)
            return 0; /* armed */
        if (rc != 0) {
            printf("epoll_consumer: ring %c: %s after %ld messages\n", s->tag, kipc_strerror(rc),
                   s->received);
            return -1;
        }
        buf[len] = '\0';
        if (strcmp(buf, "end") == 0) {
            s->done = 1;
            printf("%c end after %ld messages\n", s->tag, s->received);
            /* Nothing more will come: stop watching it. */
            if (kipc_ring_fd(s->ring, &fd) == 0)
                epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
            return 0;
        }
        snprintf(want, sizeof want, "msg %ld", s->received);
        if (strcmp(buf, want) != 0) {
            printf("epoll_consumer: ring %c: got \"%s\", want \"%s\"\n", s->tag, buf, want);
            return -1;
        }
        printf("%c %s\n", s->tag, buf);
        s->received++;
        (*total)++;
    }
    return 0;
}

static int open_ring(struct source *s)
{
    const struct timespec pause = {0, 10 * 1000 * 1000};
    int rc, tries;

    /* The producer may not have created it yet. */
    for (tries = 0; (rc = kipc_ring_open(s->name, &s->ring)) != 0 && tries < 500; tries++)
        nanosleep(&pause, NULL);
    if (rc != 0)
        fprintf(stderr, "epoll_consumer: open %s: %s\n", s->name, kipc_strerror(rc));
    return rc;
}

static int watch(int ep, int fd, uint32_t tag)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.u32 = tag;
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

int main(int argc, char **argv)
{
    struct source src[NRINGS] = {{NULL, 'A', NULL, 0, 0}, {NULL, 'B', NULL, 0, 0}};
    struct epoll_event events[NRINGS + 1];
    kipc_signals *sigs = NULL;
    kipc_siginfo_t info;
    long total = 0, max = 0;
    int ep = -1, fd, i, n, r, status = 1, stop = 0;

    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: %s RING_A RING_B [MAX]\n", argv[0]);
        return 2;
    }
    src[0].name = argv[1];
    src[1].name = argv[2];
    if (argc == 4)
        max = strtol(argv[3], NULL, 10);

    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
        perror("epoll_consumer: epoll_create1");
        return 1;
    }
    if (kipc_signals_open(KIPC_SIGBIT(SIGUSR1) | KIPC_SIGBIT(SIGTERM), &sigs) != 0 ||
        kipc_signals_fd(sigs, &fd) != 0 || watch(ep, fd, SIGNALS_TAG) != 0) {
        fprintf(stderr, "epoll_consumer: cannot watch signals\n");
        goto out;
    }
    for (i = 0; i < NRINGS; i++) {
        if (open_ring(&src[i]) != 0)
            goto out;
        /* The ring's wake descriptor: owned by the handle, never closed here. */
        r = kipc_ring_fd(src[i].ring, &fd);
        if (r != 0 || watch(ep, fd, (uint32_t)i) != 0) {
            fprintf(stderr, "epoll_consumer: ring %c: no descriptor: %s\n", src[i].tag,
                    r != 0 ? kipc_strerror(r) : strerror(errno));
            goto out;
        }
    }
    printf("ready %ld\n", (long)getpid());

    /* Try every ring first: only a try that returns -KIPC_EAGAIN arms. */
    n = 0;
    for (;;) {
        for (i = 0; i < NRINGS; i++) {
            /* On a time-out, try every ring: that is when a dead producer
             * is noticed. Otherwise only the rings that woke up. */
            int woke = n == 0;
            int k;
            for (k = 0; k < n && !woke; k++)
                woke = events[k].data.u32 == (uint32_t)i;
            if (!woke)
                continue;
            r = drain(&src[i], ep, &total, max);
            if (r < 0)
                goto out;
            if (r > 0)
                stop = 1;
        }
        for (i = 0; i < n; i++) {
            if (events[i].data.u32 != SIGNALS_TAG)
                continue;
            /* Readable: take signals until none is left. */
            while (kipc_signals_wait(sigs, 0, &info) == 0) {
                printf("signal %s value %llu from pid %u\n", info.signo == SIGUSR1 ? "SIGUSR1" : "SIGTERM",
                       (unsigned long long)info.value, (unsigned)info.pid);
                stop = 1;
            }
        }
        if (stop || (src[0].done && src[1].done))
            break;
        fflush(stdout); /* a reader in another process sees each batch */
        n = epoll_wait(ep, events, NRINGS + 1, IDLE_MS);
        if (n < 0 && errno == EINTR)
            n = 0; /* a signal interrupted the wait: its descriptor is readable now */
        else if (n < 0) {
            perror("epoll_consumer: epoll_wait");
            goto out;
        }
    }
    printf("epoll_consumer: %ld messages (A %ld, B %ld)\n", total, src[0].received, src[1].received);
    status = 0;
out:
    for (i = 0; i < NRINGS; i++) {
        if (src[i].ring != NULL) {
            kipc_ring_close(src[i].ring); /* closes its descriptor too */
            kipc_ring_unlink(src[i].name);
        }
    }
    if (sigs != NULL)
        kipc_signals_close(sigs);
    if (ep >= 0)
        close(ep);
    return status;
}
