/*
 * ring_consumer.c: opens the named ring NAME (retrying while it does not
 * exist yet), receives and checks messages until "end", then removes the
 * name. Pair it with ring_producer.c.
 */
#define _POSIX_C_SOURCE 200809L
#include "kipc.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv)
{
    kipc_ring *ring = NULL;
    const struct timespec pause = {0, 10 * 1000 * 1000};
    char buf[64], want[32];
    size_t len = 0;
    long received = 0;
    int rc, tries;

    if (argc != 2) {
        fprintf(stderr, "usage: %s NAME\n", argv[0]);
        return 2;
    }
    for (tries = 0; (rc = kipc_ring_open(argv[1], &ring)) != 0 && tries < 500; tries++)
        nanosleep(&pause, NULL); /* the producer has not created it yet */
    if (rc != 0) {
        fprintf(stderr, "ring_consumer: open %s: %s\n", argv[1], kipc_strerror(rc));
        return 1;
    }
    for (;;) {
        rc = kipc_ring_recv(ring, buf, sizeof buf - 1, &len, 5000000000LL);
        if (rc != 0) {
            fprintf(stderr, "ring_consumer: recv: %s\n", kipc_strerror(rc));
            kipc_ring_close(ring);
            return 1;
        }
        buf[len] = '\0';
        if (strcmp(buf, "end") == 0)
            break;
        snprintf(want, sizeof want, "msg %ld", received);
        if (strcmp(buf, want) != 0) {
            fprintf(stderr, "ring_consumer: got \"%s\", want \"%s\"\n", buf, want);
            kipc_ring_close(ring);
            return 1;
        }
        received++;
    }
    printf("ring_consumer: received %ld messages in order\n", received);
    kipc_ring_close(ring);
    return kipc_ring_unlink(argv[1]) == 0 ? 0 : 1;
}
