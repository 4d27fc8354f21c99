/*
 * abuse.c: feeds every kipc function NULLs, zero and huge lengths, misaligned
 * pointers, unattached, garbage, moved and detached handles, and memory a
 * hostile peer scribbled on, and checks that each returns the documented
 * error code (and that nothing crashes: ffi/tests/c_programs.rs also runs
 * this under valgrind).
 */
#define _POSIX_C_SOURCE 200809L
#include "kipc.h"

#include <limits.h>
#include <signal.h>
#include <unistd.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int failures, checks;

#define CHECK(expr, want)                                                                          \
    do {                                                                                           \
        int got_ = (expr);                                                                         \
        checks++;                                                                                  \
        if (got_ != (want)) {                                                                      \
            failures++;                                                                            \
            printf("FAIL %s:%d: %s = %d (%s), want %d\n", __FILE__, __LINE__, #expr, got_,        \
                   kipc_strerror(got_), (want));                                                   \
        }                                                                                          \
    } while (0)

#define TRUE(cond) CHECK((cond) ? 1 : 0, 1)

static _Alignas(128) unsigned char mem[8192];
static _Alignas(128) unsigned char other[8192];

/* Layout facts of an SPSC region (core/src/spsc/region.rs), used to play a
 * hostile peer: slot_count at 32, tail at 128, head at 256, slot 0 at 640;
 * a slot is [stamp u32][len u32][payload], its stride a multiple of 64. */
#define OFF_SLOT_COUNT 32
#define OFF_TAIL 128
#define OFF_SLOT0 640
#define OFF_SLOT_LEN 4

static void poke32(unsigned char *base, size_t off, uint32_t v) { memcpy(base + off, &v, sizeof v); }

static void strings(void)
{
    TRUE(kipc_version() != NULL && kipc_version()[0] != '\0');
    TRUE(strcmp(kipc_strerror(0), "success") == 0);
    TRUE(strcmp(kipc_strerror(-KIPC_EAGAIN), kipc_strerror(KIPC_EAGAIN)) == 0);
    TRUE(strcmp(kipc_strerror(INT_MIN), "unknown error") == 0);
    TRUE(strcmp(kipc_strerror(INT_MAX), "unknown error") == 0);
}

static void sizes(void)
{
    size_t n = 0;
    unsigned char raw[16];
    CHECK(kipc_spsc_region_size(8, 8, NULL), -KIPC_EFAULT);
    CHECK(kipc_spsc_region_size(8, 8, (size_t *)(void *)(raw + 1)), -KIPC_EFAULT);
    CHECK(kipc_spsc_region_size(0, 8, &n), -KIPC_EINVAL);
    CHECK(kipc_spsc_region_size(3, 8, &n), -KIPC_EINVAL);
    CHECK(kipc_spsc_region_size(8, 0, &n), -KIPC_EINVAL);
    CHECK(kipc_spsc_region_size(8, UINT32_MAX, &n), -KIPC_EINVAL);
    CHECK(kipc_spsc_region_size(UINT32_MAX, 8, &n), -KIPC_EINVAL);
    CHECK(kipc_spsc_region_size(8, 56, &n), 0);
    TRUE(n == 640 + 8 * 64);
    CHECK(kipc_spsc_region_size(8, 57, &n), 0);
    TRUE(n == 640 + 8 * 128);
    CHECK(kipc_mpmc_region_size(0, 4, 8, &n), -KIPC_EINVAL);
    CHECK(kipc_mpmc_region_size(KIPC_MPMC_MAX_LANES + 1, 4, 8, &n), -KIPC_EINVAL);
    CHECK(kipc_mpmc_region_size(2, 3, 8, &n), -KIPC_EINVAL);
    CHECK(kipc_mpmc_region_size(2, 4, 8, NULL), -KIPC_EFAULT);
}

static void spsc_init_and_attach(void)
{
    kipc_spsc_producer_t tx;
    kipc_spsc_consumer_t rx;
    unsigned char raw[sizeof(kipc_spsc_producer_t) + 8];
    memset(&tx, 0, sizeof tx);
    memset(&rx, 0, sizeof rx);

    CHECK(kipc_spsc_init(NULL, sizeof mem, 8, 8), -KIPC_EFAULT);
    CHECK(kipc_spsc_init(mem + 8, sizeof mem - 8, 8, 8), -KIPC_EFAULT);
    CHECK(kipc_spsc_init(mem, 0, 8, 8), -KIPC_ENOBUFS);
    CHECK(kipc_spsc_init(mem, 700, 8, 8), -KIPC_ENOBUFS);
    CHECK(kipc_spsc_init(mem, sizeof mem, 6, 8), -KIPC_EINVAL);
    CHECK(kipc_spsc_init(mem, sizeof mem, 8, 0), -KIPC_EINVAL);

    /* Attach to zeroed memory: not initialised yet. */
    memset(mem, 0, sizeof mem);
    CHECK(kipc_spsc_producer_attach(&tx, mem, sizeof mem), -KIPC_EAGAIN);
    /* Garbage memory: not a kipc region. */
    memset(mem, 0xA5, sizeof mem);
    CHECK(kipc_spsc_producer_attach(&tx, mem, sizeof mem), -KIPC_EPROTO);
    CHECK(kipc_spsc_consumer_attach(&rx, mem, sizeof mem), -KIPC_EPROTO);
    /* Bad pointers and lengths. */
    CHECK(kipc_spsc_producer_attach(NULL, mem, sizeof mem), -KIPC_EFAULT);
    CHECK(kipc_spsc_producer_attach((kipc_spsc_producer_t *)(void *)(raw + 1), mem, sizeof mem), -KIPC_EFAULT);
    CHECK(kipc_spsc_producer_attach(&tx, NULL, sizeof mem), -KIPC_EFAULT);
    CHECK(kipc_spsc_producer_attach(&tx, mem + 1, sizeof mem), -KIPC_EFAULT);
    CHECK(kipc_spsc_producer_attach(&tx, mem, 0), -KIPC_ENOBUFS);

    CHECK(kipc_spsc_init(mem, sizeof mem, 8, 60), 0);
    /* Shorter than the recorded layout; shorter than a header. */
    CHECK(kipc_spsc_consumer_attach(&rx, mem, 700), -KIPC_ENOBUFS);
    CHECK(kipc_spsc_consumer_attach(&rx, mem, 16), -KIPC_ENOBUFS);
    /* An MPMC ring is not an SPSC ring, and vice versa. */
    CHECK(kipc_mpmc_init(other, sizeof other, 2, 4, 16), 0);
    CHECK(kipc_spsc_producer_attach(&tx, other, sizeof other), -KIPC_EPROTO);
    {
        kipc_mpmc_producer_t mtx;
        CHECK(kipc_mpmc_producer_attach(&mtx, mem, sizeof mem, 1), -KIPC_EPROTO);
    }
    /* A peer rewrote the geometry: refused at attach. */
    poke32(mem, OFF_SLOT_COUNT, 7);
    CHECK(kipc_spsc_producer_attach(&tx, mem, sizeof mem), -KIPC_EPROTO);
    poke32(mem, OFF_SLOT_COUNT, 8);
    /* A peer moved tail far past head: corrupt. */
    poke32(mem, OFF_TAIL, 1000);
    CHECK(kipc_spsc_producer_attach(&tx, mem, sizeof mem), -KIPC_EBADMSG);
    poke32(mem, OFF_TAIL, 0);
    CHECK(kipc_spsc_producer_attach(&tx, mem, sizeof mem), 0);
    CHECK(kipc_spsc_producer_detach(&tx), 0);
}

static void spsc_handles(void)
{
    kipc_spsc_producer_t tx, garbage, moved;
    kipc_spsc_consumer_t rx;
    unsigned char buf[64], raw[sizeof(kipc_spsc_consumer_t) + 8];
    size_t len = 0;
    uint32_t slots = 0, slot_size = 0;
    kipc_doorbells_t bells;

    memset(&tx, 0, sizeof tx);
    memset(&garbage, 0xAB, sizeof garbage);

    /* Never attached (zeroed), garbage, NULL, misaligned. */
    CHECK(kipc_spsc_try_push(&tx, "x", 1), -KIPC_EBADF);
    CHECK(kipc_spsc_try_push(&garbage, "x", 1), -KIPC_EBADF);
    CHECK(kipc_spsc_try_push(NULL, "x", 1), -KIPC_EFAULT);
    CHECK(kipc_spsc_try_pop(NULL, buf, sizeof buf, &len), -KIPC_EFAULT);
    CHECK(kipc_spsc_try_pop((kipc_spsc_consumer_t *)(void *)(raw + 4), buf, sizeof buf, &len), -KIPC_EFAULT);
    CHECK(kipc_spsc_producer_detach(&tx), -KIPC_EBADF);
    CHECK(kipc_spsc_producer_len(&garbage, &len), -KIPC_EBADF);
    CHECK(kipc_spsc_producer_capacity(NULL, &slots, &slot_size), -KIPC_EFAULT);
    CHECK(kipc_spsc_consumer_doorbells(NULL, &bells), -KIPC_EFAULT);

    CHECK(kipc_spsc_init(mem, sizeof mem, 4, 16), 0);
    CHECK(kipc_spsc_producer_attach(&tx, mem, sizeof mem), 0);
    CHECK(kipc_spsc_consumer_attach(&rx, mem, sizeof mem), 0);
    /* A producer handle is not a consumer handle. */
    CHECK(kipc_spsc_try_pop((kipc_spsc_consumer_t *)(void *)&tx, buf, sizeof buf, &len), -KIPC_EBADF);

    /* Push: NULL with a length, huge lengths, too long; NULL with 0 is fine. */
    CHECK(kipc_spsc_try_push(&tx, NULL, 5), -KIPC_EFAULT);
    CHECK(kipc_spsc_try_push(&tx, "x", SIZE_MAX), -KIPC_EMSGSIZE);
    CHECK(kipc_spsc_try_push(&tx, "x", (size_t)PTRDIFF_MAX + 1), -KIPC_EMSGSIZE);
    CHECK(kipc_spsc_try_push(&tx, buf, 17), -KIPC_EMSGSIZE);
    CHECK(kipc_spsc_try_push(&tx, NULL, 0), 0);
    CHECK(kipc_spsc_try_push(&tx, "0123456789abcdef", 16), 0);

    /* Pop: NULL len must not consume the message. */
    CHECK(kipc_spsc_try_pop(&rx, buf, sizeof buf, NULL), -KIPC_EFAULT);
    CHECK(kipc_spsc_try_pop(&rx, buf, sizeof buf, (size_t *)(void *)(raw + 1)), -KIPC_EFAULT);
    CHECK(kipc_spsc_try_pop(&rx, NULL, 10, &len), -KIPC_EFAULT);
    CHECK(kipc_spsc_consumer_len(&rx, &len), 0);
    TRUE(len == 2);
    /* The empty message fits a NULL, zero-capacity buffer. */
    len = 99;
    CHECK(kipc_spsc_try_pop(&rx, NULL, 0, &len), 0);
    TRUE(len == 0);
    /* Size query: NULL buffer, capacity 0 reports the size, keeps the message. */
    CHECK(kipc_spsc_try_pop(&rx, NULL, 0, &len), -KIPC_EMSGSIZE);
    TRUE(len == 16);
    /* A huge capacity is clamped to the slot size. */
    CHECK(kipc_spsc_try_pop(&rx, buf, SIZE_MAX, &len), 0);
    TRUE(len == 16 && memcmp(buf, "0123456789abcdef", 16) == 0);
    CHECK(kipc_spsc_try_pop(&rx, buf, sizeof buf, &len), -KIPC_EAGAIN);

    /* Full. */
    CHECK(kipc_spsc_try_push(&tx, "a", 1), 0);
    CHECK(kipc_spsc_try_push(&tx, "b", 1), 0);
    CHECK(kipc_spsc_try_push(&tx, "c", 1), 0);
    CHECK(kipc_spsc_try_push(&tx, "d", 1), 0);
    CHECK(kipc_spsc_try_push(&tx, "e", 1), -KIPC_EAGAIN);
    CHECK(kipc_spsc_producer_len(&tx, &len), 0);
    TRUE(len == 4);
    CHECK(kipc_spsc_producer_len(&tx, NULL), -KIPC_EFAULT);

    /* Geometry with optional out-pointers. */
    CHECK(kipc_spsc_producer_capacity(&tx, NULL, NULL), 0);
    CHECK(kipc_spsc_producer_capacity(&tx, &slots, NULL), 0);
    CHECK(kipc_spsc_consumer_capacity(&rx, NULL, &slot_size), 0);
    TRUE(slots == 4 && slot_size == 16);
    CHECK(kipc_spsc_producer_capacity(&tx, (uint32_t *)(void *)(raw + 1), NULL), -KIPC_EFAULT);

    /* The storage holds no pointer into itself: a moved handle works. */
    memcpy(&moved, &tx, sizeof tx);
    CHECK(kipc_spsc_try_push(&moved, "x", 1), -KIPC_EAGAIN); /* full, but attached */
    /* One producer at a time. */
    CHECK(kipc_spsc_producer_attach(&garbage, mem, sizeof mem), -KIPC_EBUSY);
    /* Detaching one copy ends the claim: the other copy is refused. */
    CHECK(kipc_spsc_producer_detach(&moved), 0);
    CHECK(kipc_spsc_try_push(&tx, "x", 1), -KIPC_EBUSY);

    /* A hostile producer: a length word larger than the slot. */
    /* (4 slots of 16 bytes: stride 64; every queued message is 1 byte.) */
    for (len = 0; len < 4; len++)
        poke32(mem, OFF_SLOT0 + len * 64 + OFF_SLOT_LEN, 1u << 20);
    CHECK(kipc_spsc_try_pop(&rx, buf, sizeof buf, &len), -KIPC_EBADMSG);
    for (len = 0; len < 4; len++)
        poke32(mem, OFF_SLOT0 + len * 64 + OFF_SLOT_LEN, 1);
    CHECK(kipc_spsc_try_pop(&rx, buf, sizeof buf, &len), 0);
    /* A hostile producer: tail far ahead of head. */
    poke32(mem, OFF_TAIL, 0x80000000u);
    CHECK(kipc_spsc_consumer_len(&rx, &len), -KIPC_EBADMSG);

    /* Doorbells. */
    {
        bool wake = true;
        uint32_t ticket = 0;
        CHECK(kipc_spsc_consumer_doorbells(&rx, &bells), 0);
        CHECK(kipc_spsc_consumer_doorbells(&rx, NULL), -KIPC_EFAULT);
        CHECK(kipc_doorbell_ring(NULL, &wake), -KIPC_EFAULT);
        CHECK(kipc_doorbell_ring((const uint32_t *)(const void *)((const unsigned char *)bells.not_empty + 1), &wake),
              -KIPC_EFAULT);
        CHECK(kipc_doorbell_ring(bells.not_empty, NULL), -KIPC_EFAULT);
        CHECK(kipc_doorbell_prepare_wait(NULL, &ticket), -KIPC_EFAULT);
        CHECK(kipc_doorbell_prepare_wait(bells.not_empty, NULL), -KIPC_EFAULT);
        CHECK(kipc_doorbell_ring(bells.not_empty, &wake), 0);
        TRUE(!wake);
        CHECK(kipc_doorbell_prepare_wait(bells.not_empty, &ticket), 0);
        TRUE(*bells.not_empty == ticket);
        CHECK(kipc_doorbell_ring(bells.not_empty, &wake), 0);
        TRUE(wake && *bells.not_empty != ticket);
    }

    /* Detach twice. */
    CHECK(kipc_spsc_producer_detach(&tx), 0);
    CHECK(kipc_spsc_producer_detach(&tx), -KIPC_EBADF);
    CHECK(kipc_spsc_try_push(&tx, "x", 1), -KIPC_EBADF);
    CHECK(kipc_spsc_consumer_detach(&rx), 0);
    CHECK(kipc_spsc_consumer_detach(&rx), -KIPC_EBADF);
}

static void mpmc(void)
{
    static kipc_mpmc_producer_t tx[3];
    static kipc_mpmc_consumer_t rx[KIPC_MPMC_MAX_CONSUMERS + 1];
    kipc_mpmc_consumer_t garbage;
    unsigned char buf[32];
    size_t len = 0;
    uint32_t lane = 99;
    unsigned i;

    memset(&garbage, 0x5A, sizeof garbage);
    CHECK(kipc_mpmc_init(NULL, sizeof other, 2, 4, 16), -KIPC_EFAULT);
    CHECK(kipc_mpmc_init(other + 64, sizeof other - 64, 2, 4, 16), -KIPC_EFAULT);
    CHECK(kipc_mpmc_init(other, 128, 2, 4, 16), -KIPC_ENOBUFS);
    CHECK(kipc_mpmc_init(other, sizeof other, 2, 4, 16), 0);

    CHECK(kipc_mpmc_producer_attach(&tx[0], other, sizeof other, 0), -KIPC_EINVAL);
    CHECK(kipc_mpmc_producer_attach(NULL, other, sizeof other, 1), -KIPC_EFAULT);
    CHECK(kipc_mpmc_producer_attach(&tx[0], other, sizeof other, 1), 0);
    CHECK(kipc_mpmc_producer_attach(&tx[1], other, sizeof other, 2), 0);
    CHECK(kipc_mpmc_producer_attach(&tx[2], other, sizeof other, 3), -KIPC_EUSERS);
    for (i = 0; i < KIPC_MPMC_MAX_CONSUMERS; i++)
        CHECK(kipc_mpmc_consumer_attach(&rx[i], other, sizeof other, 100 + i), 0);
    CHECK(kipc_mpmc_consumer_attach(&rx[i], other, sizeof other, 100 + i), -KIPC_EBUSY);

    CHECK(kipc_mpmc_try_push(&tx[0], NULL, 1), -KIPC_EFAULT);
    CHECK(kipc_mpmc_try_push(&tx[0], buf, SIZE_MAX), -KIPC_EMSGSIZE);
    CHECK(kipc_mpmc_try_push(&tx[2], "x", 1), -KIPC_EBADF);
    CHECK(kipc_mpmc_try_push(&tx[1], "from lane b", 11), 0);
    CHECK(kipc_mpmc_try_pop(&garbage, buf, sizeof buf, &len, NULL), -KIPC_EBADF);
    CHECK(kipc_mpmc_try_pop(&rx[0], buf, sizeof buf, NULL, NULL), -KIPC_EFAULT);
    CHECK(kipc_mpmc_try_pop(&rx[0], buf, 2, &len, &lane), -KIPC_EMSGSIZE);
    TRUE(len == 11 && lane == 99);
    CHECK(kipc_mpmc_consumer_len(&rx[0], &len), 0);
    TRUE(len == 1);
    CHECK(kipc_mpmc_try_pop(&rx[0], buf, sizeof buf, &len, &lane), 0);
    TRUE(len == 11 && memcmp(buf, "from lane b", 11) == 0 && lane < 2);
    CHECK(kipc_mpmc_try_pop(&rx[1], buf, sizeof buf, &len, NULL), -KIPC_EAGAIN);

    /* Detaching a producer frees its lane. */
    CHECK(kipc_mpmc_producer_detach(&tx[0]), 0);
    CHECK(kipc_mpmc_producer_detach(&tx[0]), -KIPC_EBADF);
    CHECK(kipc_mpmc_producer_attach(&tx[2], other, sizeof other, 3), 0);
    CHECK(kipc_mpmc_producer_detach(&tx[1]), 0);
    CHECK(kipc_mpmc_producer_detach(&tx[2]), 0);
    /* Every producer gone and nothing queued: the consumer sees EPIPE. */
    CHECK(kipc_mpmc_try_pop(&rx[0], buf, sizeof buf, &len, NULL), -KIPC_EPIPE);
    for (i = 0; i < KIPC_MPMC_MAX_CONSUMERS; i++)
        CHECK(kipc_mpmc_consumer_detach(&rx[i]), 0);
}

static void rings(void)
{
    kipc_ring *ring = NULL;
    char buf[8];
    size_t len = 0;
    int fd = -1;
    CHECK(kipc_ring_create(NULL, 8, 8, 0, &ring), -KIPC_EFAULT);
    CHECK(kipc_ring_create("abuse", 8, 8, 0, NULL), -KIPC_EFAULT);
    CHECK(kipc_ring_create("a/b", 8, 8, 0, &ring), -KIPC_EINVAL);
    CHECK(kipc_ring_create("", 8, 8, 0, &ring), -KIPC_EINVAL);
    CHECK(kipc_ring_create("bad\xff", 8, 8, 0, &ring), -KIPC_EINVAL);
    CHECK(kipc_ring_create("abuse-flags", 8, 8, 0x4, &ring), -KIPC_EINVAL);
    CHECK(kipc_ring_create("abuse-flags", 8, 8, 2u << KIPC_RING_LANES_SHIFT, &ring), -KIPC_EINVAL);
    CHECK(kipc_ring_create("abuse-flags", 8, 8, KIPC_RING_MPMC | (65u << KIPC_RING_LANES_SHIFT), &ring),
          -KIPC_EINVAL);
    CHECK(kipc_ring_create("abuse-flags", 8, 8, UINT32_MAX, &ring), -KIPC_EINVAL);
    CHECK(kipc_ring_create("abuse-geometry", 3, 8, KIPC_RING_MPMC, &ring), -KIPC_EINVAL);
    CHECK(kipc_ring_open("abuse-does-not-exist", &ring), -2 /* ENOENT */);
    CHECK(kipc_ring_open(NULL, &ring), -KIPC_EFAULT);
    CHECK(kipc_ring_send(NULL, "x", 1, 0), -KIPC_EFAULT);
    CHECK(kipc_ring_recv(NULL, buf, sizeof buf, &len, 0), -KIPC_EFAULT);
    CHECK(kipc_ring_close(NULL), -KIPC_EFAULT);
    CHECK(kipc_ring_unlink(NULL), -KIPC_EFAULT);
    CHECK(kipc_ring_fd(NULL, &fd), -KIPC_EFAULT);
    CHECK(kipc_ring_create_anonymous(8, 8, 0, NULL), -KIPC_EFAULT);
    CHECK(kipc_ring_create_anonymous(0, 8, 0, &ring), -KIPC_EINVAL);
    CHECK(kipc_ring_create_anonymous(8, 0, KIPC_RING_MPMC, &ring), -KIPC_EINVAL);
    CHECK(kipc_ring_create_anonymous(UINT32_MAX, UINT32_MAX, 0, &ring), -KIPC_EINVAL);
    CHECK(kipc_ring_create_anonymous(8, 8, 0x80, &ring), -KIPC_EINVAL);
    CHECK(kipc_ring_from_fd(-1, &ring), -KIPC_EBADF);
    CHECK(kipc_ring_from_fd(INT_MIN, &ring), -KIPC_EBADF);
    CHECK(kipc_ring_from_fd(INT_MAX, &ring), -KIPC_EBADF);
    CHECK(kipc_ring_from_fd(0, NULL), -KIPC_EFAULT);
    CHECK(kipc_ring_memfd(NULL, &fd), -KIPC_EFAULT);
    TRUE(ring == NULL);
}

/* Anonymous MPMC ring passed by descriptor (here to a second handle). */
static void anonymous_rings(void)
{
    kipc_ring *a = NULL, *b = NULL, *named = NULL;
    char buf[16];
    size_t len = 0;
    int fd = -1, pipefd[2];
    CHECK(kipc_ring_create_anonymous(4, 16, KIPC_RING_MPMC | (2u << KIPC_RING_LANES_SHIFT), &a), 0);
    CHECK(kipc_ring_memfd(a, NULL), -KIPC_EFAULT);
    CHECK(kipc_ring_memfd(a, &fd), 0);
    TRUE(fd >= 0);
    CHECK(kipc_ring_from_fd(fd, &b), 0);
    CHECK(kipc_ring_send(a, "hello", 5, 0), 0);
    CHECK(kipc_ring_send(a, "x", 17, 0), -KIPC_EMSGSIZE);
    CHECK(kipc_ring_send(a, NULL, 3, 0), -KIPC_EFAULT);
    CHECK(kipc_ring_recv(b, buf, 2, &len, 0), -KIPC_EMSGSIZE);
    TRUE(len == 5);
    CHECK(kipc_ring_recv(b, buf, SIZE_MAX, &len, 0), 0);
    TRUE(len == 5 && memcmp(buf, "hello", 5) == 0);
    CHECK(kipc_ring_recv(b, buf, sizeof buf, &len, 0), -KIPC_EAGAIN);
    CHECK(kipc_ring_recv(b, buf, sizeof buf, &len, 1000000), -KIPC_ETIMEDOUT);
    /* The wake descriptor: NULL out-pointer, then the real one; an EAGAIN
     * after it exists arms it (a socket is bound), and close frees it. */
    CHECK(kipc_ring_fd(b, NULL), -KIPC_EFAULT);
    {
        int wfd = -1, again = -1;
        CHECK(kipc_ring_fd(b, &wfd), 0);
        CHECK(kipc_ring_fd(b, &again), 0);
        TRUE(wfd >= 0 && again == wfd);
        CHECK(kipc_ring_recv(b, buf, sizeof buf, &len, 0), -KIPC_EAGAIN);
    }
    CHECK(kipc_ring_close(b), 0);
    /* Not a sealed memfd: a pipe, and a named ring's segment. */
    if (pipe(pipefd) == 0) {
        TRUE(kipc_ring_from_fd(pipefd[0], &b) < 0);
        close(pipefd[0]);
        close(pipefd[1]);
    }
    CHECK(kipc_ring_create("abuse-named-memfd", 4, 8, KIPC_RING_MPMC, &named), 0);
    CHECK(kipc_ring_memfd(named, &fd), -KIPC_ENOTSUP);
    CHECK(kipc_ring_close(named), 0);
    CHECK(kipc_ring_unlink("abuse-named-memfd"), 0);
    CHECK(kipc_ring_close(a), 0);
}

/* Layout facts of a mailbox region (core/src/mailbox/mod.rs): the state
 * words start at 640; READY is 2, the length sits in bits 2..32. */
#define MBOX_OFF_STATE0 640

static int dead_owner_42(uint32_t owner, void *ctx)
{
    (void)ctx;
    return owner == 42;
}

static void mbox_core(void)
{
    kipc_mbox_t mb, garbage, moved;
    unsigned char buf[64], raw[sizeof(kipc_mbox_t) + 8];
    size_t n = 0, len = 0;
    uint32_t prio = 0, slots = 0, max_msg = 0;
    uint64_t type = 0;
    kipc_doorbells_t bells;
    memset(&mb, 0, sizeof mb);
    memset(&garbage, 0xC3, sizeof garbage);

    CHECK(kipc_mbox_region_size(4, 32, NULL), -KIPC_EFAULT);
    CHECK(kipc_mbox_region_size(0, 32, &n), -KIPC_EINVAL);
    CHECK(kipc_mbox_region_size(4, 0, &n), -KIPC_EINVAL);
    CHECK(kipc_mbox_region_size(KIPC_MBOX_MAX_SLOTS + 1, 32, &n), -KIPC_EINVAL);
    CHECK(kipc_mbox_region_size(4, KIPC_MBOX_MAX_MSG + 1, &n), -KIPC_EINVAL);
    CHECK(kipc_mbox_region_size(UINT32_MAX, UINT32_MAX, &n), -KIPC_EINVAL);
    CHECK(kipc_mbox_region_size(4, 32, &n), 0);
    TRUE(n > 0 && n <= sizeof mem);

    CHECK(kipc_mbox_init(NULL, sizeof mem, 4, 32, 0), -KIPC_EFAULT);
    CHECK(kipc_mbox_init(mem + 8, sizeof mem - 8, 4, 32, 0), -KIPC_EFAULT);
    CHECK(kipc_mbox_init(mem, 0, 4, 32, 0), -KIPC_ENOBUFS);
    CHECK(kipc_mbox_init(mem, n - 1, 4, 32, 0), -KIPC_ENOBUFS);
    CHECK(kipc_mbox_init(mem, sizeof mem, 0, 32, 0), -KIPC_EINVAL);
    CHECK(kipc_mbox_init(mem, sizeof mem, 4, 32, 4 * 32 + 1), -KIPC_EINVAL);
    CHECK(kipc_mbox_init(mem, sizeof mem, 4, 32, UINT64_MAX), -KIPC_EINVAL);

    /* Attach: zeroed, garbage, another kind of region, bad pointers. */
    memset(mem, 0, sizeof mem);
    CHECK(kipc_mbox_attach(&mb, mem, sizeof mem), -KIPC_EAGAIN);
    memset(mem, 0x5A, sizeof mem);
    CHECK(kipc_mbox_attach(&mb, mem, sizeof mem), -KIPC_EPROTO);
    CHECK(kipc_spsc_init(mem, sizeof mem, 8, 8), 0);
    CHECK(kipc_mbox_attach(&mb, mem, sizeof mem), -KIPC_EPROTO);
    CHECK(kipc_mbox_attach(NULL, mem, sizeof mem), -KIPC_EFAULT);
    CHECK(kipc_mbox_attach((kipc_mbox_t *)(void *)(raw + 1), mem, sizeof mem), -KIPC_EFAULT);
    CHECK(kipc_mbox_attach(&mb, NULL, sizeof mem), -KIPC_EFAULT);
    CHECK(kipc_mbox_attach(&mb, mem + 1, sizeof mem), -KIPC_EFAULT);
    CHECK(kipc_mbox_attach(&mb, mem, 0), -KIPC_ENOBUFS);

    /* Never attached, garbage, NULL handles. */
    CHECK(kipc_mbox_try_send(&mb, "x", 1, 0, 0, 1), -KIPC_EBADF);
    CHECK(kipc_mbox_try_send(&garbage, "x", 1, 0, 0, 1), -KIPC_EBADF);
    CHECK(kipc_mbox_try_send(NULL, "x", 1, 0, 0, 1), -KIPC_EFAULT);
    CHECK(kipc_mbox_try_recv(&garbage, KIPC_MBOX_ANY, 0, 1, buf, sizeof buf, &len, NULL, NULL), -KIPC_EBADF);
    CHECK(kipc_mbox_len(&garbage, &n), -KIPC_EBADF);
    CHECK(kipc_mbox_len(NULL, &n), -KIPC_EFAULT);
    CHECK(kipc_mbox_capacity(NULL, &slots, &max_msg), -KIPC_EFAULT);
    CHECK(kipc_mbox_doorbells(&garbage, &bells), -KIPC_EBADF);
    CHECK(kipc_mbox_recover(NULL, dead_owner_42, NULL, &n), -KIPC_EFAULT);
    CHECK(kipc_mbox_detach(&mb), -KIPC_EBADF);
    CHECK(kipc_mbox_detach(NULL), -KIPC_EFAULT);

    CHECK(kipc_mbox_init(mem, sizeof mem, 4, 32, 40), 0);
    CHECK(kipc_mbox_attach(&mb, mem, 700), -KIPC_ENOBUFS);
    CHECK(kipc_mbox_attach(&mb, mem, sizeof mem), 0);
    /* A ring handle is not a mailbox handle. */
    CHECK(kipc_mbox_len((const kipc_mbox_t *)(const void *)&garbage, &n), -KIPC_EBADF);

    /* Send: NULL with a length, huge lengths, bad priority and owner. */
    CHECK(kipc_mbox_try_send(&mb, NULL, 5, 0, 0, 1), -KIPC_EFAULT);
    CHECK(kipc_mbox_try_send(&mb, "x", SIZE_MAX, 0, 0, 1), -KIPC_EMSGSIZE);
    CHECK(kipc_mbox_try_send(&mb, buf, 33, 0, 0, 1), -KIPC_EMSGSIZE);
    CHECK(kipc_mbox_try_send(&mb, "x", 1, KIPC_MBOX_PRIO_MAX + 1, 0, 1), -KIPC_EINVAL);
    CHECK(kipc_mbox_try_send(&mb, "x", 1, UINT32_MAX, 0, 1), -KIPC_EINVAL);
    CHECK(kipc_mbox_try_send(&mb, "x", 1, 0, 0, 0), -KIPC_EINVAL);
    CHECK(kipc_mbox_try_send(&mb, NULL, 0, 3, 7, 1), 0);
    /* The byte budget (40): 32 + 8 fits, one more byte does not. */
    CHECK(kipc_mbox_try_send(&mb, "0123456789abcdef0123456789abcdef", 32, 1, 8, 1), 0);
    CHECK(kipc_mbox_try_send(&mb, "12345678", 8, 9, 9, 1), 0);
    CHECK(kipc_mbox_try_send(&mb, "z", 1, 0, 0, 1), -KIPC_EAGAIN);
    CHECK(kipc_mbox_len(&mb, &n), 0);
    TRUE(n == 3);
    CHECK(kipc_mbox_len(&mb, NULL), -KIPC_EFAULT);
    CHECK(kipc_mbox_capacity(&mb, NULL, NULL), 0);
    CHECK(kipc_mbox_capacity(&mb, &slots, &max_msg), 0);
    TRUE(slots == 4 && max_msg == 32);
    CHECK(kipc_mbox_capacity(&mb, (uint32_t *)(void *)(raw + 1), NULL), -KIPC_EFAULT);

    /* Receive: NULL len, bad selector and owner, size query, clamped cap. */
    CHECK(kipc_mbox_try_recv(&mb, KIPC_MBOX_ANY, 0, 1, buf, sizeof buf, NULL, NULL, NULL), -KIPC_EFAULT);
    CHECK(kipc_mbox_try_recv(&mb, KIPC_MBOX_ANY, 0, 1, buf, sizeof buf, (size_t *)(void *)(raw + 1), NULL, NULL),
          -KIPC_EFAULT);
    CHECK(kipc_mbox_try_recv(&mb, KIPC_MBOX_ANY, 0, 1, buf, sizeof buf, &len, (uint32_t *)(void *)(raw + 1), NULL),
          -KIPC_EFAULT);
    CHECK(kipc_mbox_try_recv(&mb, 3, 0, 1, buf, sizeof buf, &len, NULL, NULL), -KIPC_EINVAL);
    CHECK(kipc_mbox_try_recv(&mb, UINT32_MAX, 0, 1, buf, sizeof buf, &len, NULL, NULL), -KIPC_EINVAL);
    CHECK(kipc_mbox_try_recv(&mb, KIPC_MBOX_ANY, 0, 0, buf, sizeof buf, &len, NULL, NULL), -KIPC_EINVAL);
    CHECK(kipc_mbox_try_recv(&mb, KIPC_MBOX_ANY, 0, 1, NULL, 10, &len, NULL, NULL), -KIPC_EFAULT);
    CHECK(kipc_mbox_try_recv(&mb, KIPC_MBOX_ANY, 0, 1, NULL, 0, &len, NULL, NULL), -KIPC_EMSGSIZE);
    TRUE(len == 8);
    CHECK(kipc_mbox_try_recv(&mb, KIPC_MBOX_EXACT, 12345, 1, buf, sizeof buf, &len, NULL, NULL), -KIPC_EAGAIN);
    CHECK(kipc_mbox_try_recv(&mb, KIPC_MBOX_LOWEST_AT_MOST, 7, 1, buf, SIZE_MAX, &len, &prio, &type), 0);
    TRUE(len == 0 && prio == 3 && type == 7);
    CHECK(kipc_mbox_try_recv(&mb, KIPC_MBOX_ANY, 0, 1, buf, SIZE_MAX, &len, &prio, &type), 0);
    TRUE(len == 8 && prio == 9 && type == 9);

    /* The storage holds no pointer into itself: a moved handle works. */
    memcpy(&moved, &mb, sizeof mb);
    CHECK(kipc_mbox_try_send(&moved, "x", 1, 0, 0, 1), 0);
    CHECK(kipc_mbox_try_recv(&moved, KIPC_MBOX_ANY, 0, 1, buf, sizeof buf, &len, NULL, NULL), 0);
    CHECK(kipc_mbox_detach(&moved), 0);
    CHECK(kipc_mbox_detach(&moved), -KIPC_EBADF);

    /* A hostile peer: every slot READY with a length beyond max_msg. */
    {
        uint64_t word = 2u | ((uint64_t)1u << 22);
        unsigned i;
        for (i = 0; i < 4; i++)
            memcpy(mem + MBOX_OFF_STATE0 + 8 * i, &word, sizeof word);
        CHECK(kipc_mbox_try_recv(&mb, KIPC_MBOX_ANY, 0, 1, buf, sizeof buf, &len, NULL, NULL), -KIPC_EBADMSG);
        word = 0;
        for (i = 0; i < 4; i++)
            memcpy(mem + MBOX_OFF_STATE0 + 8 * i, &word, sizeof word);
    }

    /* Recovery: a slot left WRITING (state 1) by owner 42. */
    {
        uint64_t word = 1u | ((uint64_t)3u << 2) | ((uint64_t)42u << 32);
        memcpy(mem + MBOX_OFF_STATE0, &word, sizeof word);
        CHECK(kipc_mbox_recover(&mb, NULL, NULL, &n), -KIPC_EFAULT);
        CHECK(kipc_mbox_recover(&mb, dead_owner_42, NULL, (size_t *)(void *)(raw + 1)), -KIPC_EFAULT);
        CHECK(kipc_mbox_recover(&mb, dead_owner_42, NULL, NULL), 0);
        CHECK(kipc_mbox_recover(&mb, dead_owner_42, NULL, &n), 0);
        TRUE(n == 0);
        CHECK(kipc_mbox_try_send(&mb, "after", 5, 0, 0, 1), 0);
    }

    CHECK(kipc_mbox_doorbells(&mb, NULL), -KIPC_EFAULT);
    CHECK(kipc_mbox_doorbells(&mb, &bells), 0);
    TRUE(bells.not_empty != NULL && bells.not_full != NULL);
    CHECK(kipc_mbox_detach(&mb), 0);
    CHECK(kipc_mbox_detach(&mb), -KIPC_EBADF);
    CHECK(kipc_mbox_len(&mb, &n), -KIPC_EBADF);
}

static void sigstate(void)
{
    static kipc_sigstate_t st, zeroed, garbage, moved;
    unsigned char raw[64];
    kipc_sigaction_t act;
    kipc_sigdelivery_t d;
    kipc_siginfo_t info;
    uint64_t set = 0;
    uint32_t gen = 99;
    bool stopped = true;
    int i;

    TRUE(sizeof(kipc_sigstate_t) == KIPC_SIGSTATE_SIZE);
    TRUE(_Alignof(kipc_sigstate_t) == 128);
    memset(&garbage, 0x77, sizeof garbage);
    CHECK(kipc_sigstate_init(NULL), -KIPC_EFAULT);
    CHECK(kipc_sigstate_init((kipc_sigstate_t *)(void *)(raw + 8)), -KIPC_EFAULT);
    /* Never initialised (zeroed) and garbage storage. */
    CHECK(kipc_sigstate_kill(&zeroed, SIGUSR1, 1, 1, NULL), -KIPC_EBADF);
    CHECK(kipc_sigstate_kill(&garbage, SIGUSR1, 1, 1, NULL), -KIPC_EBADF);
    CHECK(kipc_sigstate_raise(&garbage, SIGUSR1, 0, 0, 0, 0), -KIPC_EBADF);
    CHECK(kipc_sigstate_next_delivery(&zeroed, 0, &d), -KIPC_EBADF);
    CHECK(kipc_sigstate_kill(NULL, SIGUSR1, 1, 1, NULL), -KIPC_EFAULT);
    CHECK(kipc_sigstate_raise(NULL, SIGUSR1, 0, 0, 0, 0), -KIPC_EFAULT);

    CHECK(kipc_sigstate_init(&st), 0);
    /* Bad signal numbers everywhere. */
    CHECK(kipc_sigstate_kill(&st, 0, 1, 1, NULL), -KIPC_EINVAL);
    CHECK(kipc_sigstate_kill(&st, KIPC_NSIG + 1, 1, 1, NULL), -KIPC_EINVAL);
    CHECK(kipc_sigstate_kill(&st, -1, 1, 1, NULL), -KIPC_EINVAL);
    CHECK(kipc_sigstate_sigqueue(&st, INT_MIN, 1, 1, 0, NULL), -KIPC_EINVAL);
    CHECK(kipc_sigstate_tgkill(&st, 0, INT_MAX, 1, 1, NULL), -KIPC_EINVAL);
    CHECK(kipc_sigstate_raise(&st, 0, 0, 0, 0, 0), -KIPC_EINVAL);
    CHECK(kipc_sigstate_get_action(&st, 0, &act), -KIPC_EINVAL);
    CHECK(kipc_sigstate_get_action(&st, SIGUSR1, NULL), -KIPC_EFAULT);
    /* sigaction: uncatchable signals, bad kinds and flags. */
    CHECK(kipc_sigstate_set_action(&st, SIGKILL, KIPC_SIG_IGN, 0, 0, 0, NULL), -KIPC_EINVAL);
    CHECK(kipc_sigstate_set_action(&st, SIGSTOP, KIPC_SIG_HANDLER, 1, 0, 0, NULL), -KIPC_EINVAL);
    CHECK(kipc_sigstate_set_action(&st, SIGUSR1, 3, 0, 0, 0, NULL), -KIPC_EINVAL);
    CHECK(kipc_sigstate_set_action(&st, SIGUSR1, KIPC_SIG_HANDLER, 1, 0x100, 0, NULL), -KIPC_EINVAL);
    CHECK(kipc_sigstate_set_action(&st, SIGUSR1, KIPC_SIG_HANDLER, 1, 0, 0, (kipc_sigaction_t *)(void *)(raw + 1)),
          -KIPC_EFAULT);
    CHECK(kipc_sigstate_set_action(&st, SIGUSR1, KIPC_SIG_HANDLER, 7, KIPC_SA_SIGINFO, UINT64_MAX, &act), 0);
    TRUE(act.kind == KIPC_SIG_DFL);
    CHECK(kipc_sigstate_get_action(&st, SIGUSR1, &act), 0);
    /* SIGKILL and SIGSTOP are dropped from a handler's mask. */
    TRUE(act.kind == KIPC_SIG_HANDLER && act.handler_id == 7 &&
         act.mask == (UINT64_MAX & ~(KIPC_SIGBIT(SIGKILL) | KIPC_SIGBIT(SIGSTOP))));
    /* sigprocmask: bad how and threads. */
    CHECK(kipc_sigstate_sigprocmask(&st, 0, 3, 0, NULL), -KIPC_EINVAL);
    CHECK(kipc_sigstate_sigprocmask(&st, KIPC_SIGSTATE_THREADS, KIPC_SIG_BLOCK, 0, NULL), -KIPC_ESRCH);
    CHECK(kipc_sigstate_sigprocmask(&st, UINT32_MAX, KIPC_SIG_BLOCK, 0, NULL), -KIPC_ESRCH);
    CHECK(kipc_sigstate_sigprocmask(&st, 0, KIPC_SIG_SETMASK, UINT64_MAX, &set), 0);
    CHECK(kipc_sigstate_sigprocmask(&st, 0, KIPC_SIG_BLOCK, 0, &set), 0);
    TRUE(set == (UINT64_MAX & ~(KIPC_SIGBIT(SIGKILL) | KIPC_SIGBIT(SIGSTOP))));
    CHECK(kipc_sigstate_tgkill(&st, KIPC_SIGSTATE_THREADS, SIGUSR1, 1, 1, NULL), -KIPC_ESRCH);
    CHECK(kipc_sigstate_next_delivery(&st, 99, &d), -KIPC_ESRCH);
    CHECK(kipc_sigstate_handler_return(&st, 99, 0), -KIPC_ESRCH);
    CHECK(kipc_sigstate_sigwait(&st, 99, 0, &info), -KIPC_ESRCH);
    CHECK(kipc_sigstate_sigpending(&st, 99, &set), -KIPC_ESRCH);
    /* NULL out-pointers. */
    CHECK(kipc_sigstate_next_delivery(&st, 0, NULL), -KIPC_EFAULT);
    CHECK(kipc_sigstate_sigwait(&st, 0, UINT64_MAX, NULL), -KIPC_EFAULT);
    CHECK(kipc_sigstate_sigpending(&st, 0, NULL), -KIPC_EFAULT);
    CHECK(kipc_sigstate_is_stopped(&st, NULL), -KIPC_EFAULT);
    CHECK(kipc_sigstate_kill(&st, SIGUSR1, 1, 1, (uint32_t *)(void *)(raw + 1)), -KIPC_EFAULT);
    /* Nothing pending: EAGAIN. */
    CHECK(kipc_sigstate_next_delivery(&st, 0, &d), -KIPC_EAGAIN);
    CHECK(kipc_sigstate_sigwait(&st, 0, UINT64_MAX, &info), -KIPC_EAGAIN);
    /* The real-time queue fills: sigqueue refuses, kill still pends. */
    for (i = 0; i < (int)KIPC_SIGSTATE_RTQ; i++)
        CHECK(kipc_sigstate_sigqueue(&st, KIPC_SIGRTMIN + 1, 1, 1, (uint64_t)i, &gen), 0);
    CHECK(kipc_sigstate_sigqueue(&st, KIPC_SIGRTMIN + 1, 1, 1, 0, &gen), -KIPC_EAGAIN);
    CHECK(kipc_sigstate_kill(&st, KIPC_SIGRTMIN + 2, 1, 1, &gen), 0);
    /* Standard signals coalesce. */
    CHECK(kipc_sigstate_kill(&st, SIGUSR2, 1, 1, &gen), 0);
    TRUE(gen == KIPC_SIGGEN_PENDING);
    CHECK(kipc_sigstate_kill(&st, SIGUSR2, 1, 1, &gen), 0);
    TRUE(gen == KIPC_SIGGEN_COALESCED);
    /* The raise inbox fills too. */
    for (i = 0; i < (int)KIPC_SIGSTATE_INBOX; i++)
        CHECK(kipc_sigstate_raise(&st, KIPC_SIGRTMIN + 3, KIPC_SI_QUEUE, 2, 2, (uint64_t)i), 0);
    CHECK(kipc_sigstate_raise(&st, KIPC_SIGRTMIN + 3, KIPC_SI_QUEUE, 2, 2, 0), -KIPC_EAGAIN);
    CHECK(kipc_sigstate_raise(&st, SIGHUP, 0, 0, 0, 0), 0); /* standard: never full */
    CHECK(kipc_sigstate_sigpending(&st, 0, &set), 0);
    TRUE((set & KIPC_SIGBIT(SIGUSR2)) && (set & KIPC_SIGBIT(KIPC_SIGRTMIN + 1)) &&
         (set & KIPC_SIGBIT(SIGHUP)));
    CHECK(kipc_sigstate_sigwait(&st, 0, KIPC_SIGBIT(KIPC_SIGRTMIN + 1), &info), 0);
    TRUE(info.signo == KIPC_SIGRTMIN + 1 && info.code == KIPC_SI_QUEUE && info.value == 0);
    CHECK(kipc_sigstate_is_stopped(&st, &stopped), 0);
    TRUE(!stopped);
    /* The state holds no pointer into itself: a moved state works; re-init
       resets. */
    memcpy(&moved, &st, sizeof st);
    CHECK(kipc_sigstate_kill(&moved, SIGUSR1, 1, 1, NULL), 0);
    CHECK(kipc_sigstate_sigpending(&moved, 0, &set), 0);
    TRUE(set & KIPC_SIGBIT(SIGUSR1));
    CHECK(kipc_sigstate_init(&st), 0);
    CHECK(kipc_sigstate_sigpending(&st, 0, &set), 0);
    TRUE(set == 0);
}

static void host_mailboxes(void)
{
    kipc_mailbox *mb = NULL, *other = NULL;
    kipc_ring *ring = NULL;
    char name[64], buf[16];
    size_t len = 0;
    uint32_t prio = 0;
    uint64_t type = 0;
    snprintf(name, sizeof name, "abuse-mbox-%ld", (long)getpid());

    CHECK(kipc_mbox_create(NULL, 4, 16, 0, &mb), -KIPC_EFAULT);
    CHECK(kipc_mbox_create(name, 4, 16, 0, NULL), -KIPC_EFAULT);
    CHECK(kipc_mbox_create("a/b", 4, 16, 0, &mb), -KIPC_EINVAL);
    CHECK(kipc_mbox_create("", 4, 16, 0, &mb), -KIPC_EINVAL);
    CHECK(kipc_mbox_create("bad\xff", 4, 16, 0, &mb), -KIPC_EINVAL);
    CHECK(kipc_mbox_create(name, 0, 16, 0, &mb), -KIPC_EINVAL);
    CHECK(kipc_mbox_create(name, 4, 0, 0, &mb), -KIPC_EINVAL);
    CHECK(kipc_mbox_create(name, UINT32_MAX, UINT32_MAX, 0, &mb), -KIPC_EINVAL);
    CHECK(kipc_mbox_create(name, 4, 16, 65, &mb), -KIPC_EINVAL);
    CHECK(kipc_mbox_open("abuse-mbox-does-not-exist", &mb), -KIPC_ENOENT);
    CHECK(kipc_mbox_open(NULL, &mb), -KIPC_EFAULT);
    CHECK(kipc_mbox_open(name, NULL), -KIPC_EFAULT);
    CHECK(kipc_mbox_send(NULL, "x", 1, 0, 0, 0), -KIPC_EFAULT);
    CHECK(kipc_mbox_recv(NULL, KIPC_MBOX_ANY, 0, buf, sizeof buf, &len, NULL, NULL, 0), -KIPC_EFAULT);
    CHECK(kipc_mbox_close(NULL), -KIPC_EFAULT);
    {
        int mfd = -1;
        CHECK(kipc_mbox_fd(NULL, &mfd), -KIPC_EFAULT);
        TRUE(mfd == -1);
    }
    CHECK(kipc_mbox_unlink(NULL), -KIPC_EFAULT);
    CHECK(kipc_mbox_unlink("a/b"), -KIPC_EINVAL);
    TRUE(mb == NULL);

    CHECK(kipc_mbox_create(name, 4, 16, 0, &mb), 0);
    CHECK(kipc_mbox_create(name, 4, 16, 0, &other), -KIPC_EEXIST);
    CHECK(kipc_mbox_open(name, &other), 0);
    CHECK(kipc_mbox_send(mb, NULL, 1, 0, 0, 0), -KIPC_EFAULT);
    CHECK(kipc_mbox_send(mb, "x", SIZE_MAX, 0, 0, 0), -KIPC_EMSGSIZE);
    CHECK(kipc_mbox_send(mb, buf, 17, 0, 0, -1), -KIPC_EMSGSIZE);
    CHECK(kipc_mbox_send(mb, "x", 1, 256, 0, 0), -KIPC_EINVAL);
    CHECK(kipc_mbox_send(mb, "low", 3, 1, 5, 0), 0);
    CHECK(kipc_mbox_send(mb, "high", 4, 200, 6, 0), 0);
    CHECK(kipc_mbox_send(mb, "c", 1, 0, 0, 0), 0);
    CHECK(kipc_mbox_send(mb, "d", 1, 0, 0, -1), 0);
    CHECK(kipc_mbox_send(mb, "full", 4, 0, 0, 0), -KIPC_EAGAIN);
    CHECK(kipc_mbox_send(mb, "full", 4, 0, 0, 1000000), -KIPC_ETIMEDOUT);
    CHECK(kipc_mbox_recv(other, KIPC_MBOX_ANY, 0, buf, sizeof buf, NULL, NULL, NULL, 0), -KIPC_EFAULT);
    CHECK(kipc_mbox_recv(other, 7, 0, buf, sizeof buf, &len, NULL, NULL, 0), -KIPC_EINVAL);
    CHECK(kipc_mbox_recv(other, KIPC_MBOX_ANY, 0, NULL, 8, &len, NULL, NULL, 0), -KIPC_EFAULT);
    CHECK(kipc_mbox_recv(other, KIPC_MBOX_ANY, 0, buf, 1, &len, &prio, &type, 0), -KIPC_EMSGSIZE);
    TRUE(len == 4);
    CHECK(kipc_mbox_recv(other, KIPC_MBOX_ANY, 0, buf, SIZE_MAX, &len, &prio, &type, -1), 0);
    TRUE(len == 4 && prio == 200 && type == 6 && memcmp(buf, "high", 4) == 0);
    CHECK(kipc_mbox_recv(other, KIPC_MBOX_EXACT, 99, buf, sizeof buf, &len, NULL, NULL, 0), -KIPC_EAGAIN);
    CHECK(kipc_mbox_recv(other, KIPC_MBOX_EXACT, 99, buf, sizeof buf, &len, NULL, NULL, 1000000), -KIPC_ETIMEDOUT);
    CHECK(kipc_mbox_recv(other, KIPC_MBOX_EXACT, 5, buf, sizeof buf, &len, NULL, NULL, 1000000000), 0);
    TRUE(len == 3 && memcmp(buf, "low", 3) == 0);
    /* A ring is not a mailbox, and the other way round. */
    CHECK(kipc_ring_open(name, &ring), -KIPC_EPROTO);
    TRUE(ring == NULL);
    CHECK(kipc_mbox_close(other), 0);
    CHECK(kipc_mbox_close(mb), 0);
    CHECK(kipc_mbox_unlink(name), 0);
    CHECK(kipc_mbox_unlink(name), -KIPC_ENOENT);
}

static void host_signals(void)
{
    kipc_signals *sigs = NULL, *again = NULL;
    kipc_siginfo_t info;
    int fd = -1;
    CHECK(kipc_signals_open(KIPC_SIGBIT(SIGUSR2), NULL), -KIPC_EFAULT);
    CHECK(kipc_signals_open(0, &sigs), -KIPC_EINVAL);
    CHECK(kipc_signals_open(KIPC_SIGBIT(SIGKILL), &sigs), -KIPC_EINVAL);
    CHECK(kipc_signals_open(KIPC_SIGBIT(SIGSTOP), &sigs), -KIPC_EINVAL);
    CHECK(kipc_signals_open(KIPC_SIGBIT(SIGSEGV), &sigs), -KIPC_EINVAL);
    CHECK(kipc_signals_open(KIPC_SIGBIT(KIPC_SIGRTMIN), &sigs), -KIPC_EINVAL); /* libc's own */
    CHECK(kipc_signals_open(UINT64_MAX, &sigs), -KIPC_EINVAL);
    CHECK(kipc_signals_wait(NULL, 0, &info), -KIPC_EFAULT);
    CHECK(kipc_signals_fd(NULL, &fd), -KIPC_EFAULT);
    CHECK(kipc_signals_close(NULL), -KIPC_EFAULT);
    CHECK(kipc_signals_send(0, SIGUSR2, 0), -KIPC_EINVAL);
    CHECK(kipc_signals_send(-1, SIGUSR2, 0), -KIPC_EINVAL);
    CHECK(kipc_signals_send(INT32_MIN, SIGUSR2, 0), -KIPC_EINVAL);
    CHECK(kipc_signals_send((int32_t)getpid(), 0, 0), -KIPC_EINVAL);
    CHECK(kipc_signals_send((int32_t)getpid(), 65, 0), -KIPC_EINVAL);
    CHECK(kipc_signals_send((int32_t)getpid(), -3, 0), -KIPC_EINVAL);
    TRUE(sigs == NULL);

    CHECK(kipc_signals_open(KIPC_SIGBIT(SIGUSR2), &sigs), 0);
    CHECK(kipc_signals_open(KIPC_SIGBIT(SIGUSR2), &again), -KIPC_EBUSY);
    CHECK(kipc_signals_wait(sigs, 0, NULL), -KIPC_EFAULT);
    CHECK(kipc_signals_wait(sigs, 0, (kipc_siginfo_t *)(void *)((unsigned char *)&info + 1)), -KIPC_EFAULT);
    CHECK(kipc_signals_fd(sigs, NULL), -KIPC_EFAULT);
    CHECK(kipc_signals_fd(sigs, &fd), 0);
    TRUE(fd >= 0);
    CHECK(kipc_signals_wait(sigs, 0, &info), -KIPC_EAGAIN);
    CHECK(kipc_signals_wait(sigs, 1000000, &info), -KIPC_ETIMEDOUT);
    CHECK(kipc_signals_send((int32_t)getpid(), SIGUSR2, 5), 0);
    CHECK(kipc_signals_wait(sigs, -1, &info), 0);
    TRUE(info.signo == SIGUSR2 && info.value == 5 && info.code == KIPC_SI_QUEUE);
    CHECK(kipc_signals_close(sigs), 0);
    /* Closed: the handle can be opened again. */
    CHECK(kipc_signals_open(KIPC_SIGBIT(SIGUSR2), &sigs), 0);
    CHECK(kipc_signals_close(sigs), 0);
}

int main(void)
{
    strings();
    sizes();
    spsc_init_and_attach();
    spsc_handles();
    mpmc();
    mbox_core();
    sigstate();
    rings();
    anonymous_rings();
    host_mailboxes();
    host_signals();
    if (failures != 0) {
        printf("abuse: %d of %d checks FAILED\n", failures, checks);
        return 1;
    }
    printf("abuse: all %d checks passed\n", checks);
    return 0;
}
