/*
 * ring_producer.c: creates the named ring NAME and sends COUNT messages
 * ("msg 0", "msg 1", ...) and then "end", waiting while the ring is full.
 * Pair it with ring_consumer.c:  ring_producer jobs 100 & ring_consumer jobs
 */
#include "kipc.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    kipc_ring *ring = NULL;
    const long long timeout_ns = 5000000000LL; /* 5 s per message */
    char msg[32];
    long i, count;
    int rc, n;

    if (argc != 3) {
        fprintf(stderr, "usage: %s NAME COUNT\n", argv[0]);
        return 2;
    }
    count = strtol(argv[2], NULL, 10);
    rc = kipc_ring_create(argv[1], 8, sizeof msg, 0, &ring);
    if (rc != 0) {
        fprintf(stderr, "ring_producer: create %s: %s\n", argv[1], kipc_strerror(rc));
        return 1;
    }
    for (i = 0; i <= count; i++) {
        n = i < count ? snprintf(msg, sizeof msg, "msg %ld", i) : snprintf(msg, sizeof msg, "end");
        rc = kipc_ring_send(ring, msg, (size_t)n, timeout_ns);
        if (rc != 0) {
            fprintf(stderr, "ring_producer: send %ld: %s\n", i, kipc_strerror(rc));
            kipc_ring_close(ring);
            return 1;
        }
    }
    printf("ring_producer: sent %ld messages\n", count);
    return kipc_ring_close(ring) == 0 ? 0 : 1;
}
