/*
 * abuse.c: feeds every kipc function NULLs, zero and huge lengths, misaligned
 * pointers, unattached, garbage, moved and detached handles, and memory a
 * hostile peer scribbled on, and checks that each returns the documented
 * error code (and that nothing crashes: ffi/tests/c_programs.rs also runs
 * this under valgrind).
 */
#include "kipc.h"

#include <limits.h>
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
 * hostile peer: slot_count at 16, tail at 128, head at 256, slot 0 at 640. */
#define OFF_SLOT_COUNT 16
#define OFF_TAIL 128
#define OFF_SLOT0 640

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
    CHECK(kipc_spsc_region_size(8, 60, &n), 0);
    TRUE(n == 640 + 8 * 64);
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

    /* A copied (moved) handle is refused; the original still works. */
    memcpy(&moved, &tx, sizeof tx);
    CHECK(kipc_spsc_try_push(&moved, "x", 1), -KIPC_EBADF);
    CHECK(kipc_spsc_producer_detach(&moved), -KIPC_EBADF);

    /* A hostile producer: a length word larger than the slot. */
    /* (4 slots of 16 bytes: stride 24; every queued message is 1 byte.) */
    for (len = 0; len < 4; len++)
        poke32(mem, OFF_SLOT0 + len * 24, 1u << 20);
    CHECK(kipc_spsc_try_pop(&rx, buf, sizeof buf, &len), -KIPC_EBADMSG);
    for (len = 0; len < 4; len++)
        poke32(mem, OFF_SLOT0 + len * 24, 1);
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
    CHECK(kipc_ring_create("abuse-flags", 8, 8, 1, &ring), -KIPC_EINVAL);
    CHECK(kipc_ring_open("abuse-does-not-exist", &ring), -2 /* ENOENT */);
    CHECK(kipc_ring_open(NULL, &ring), -KIPC_EFAULT);
    CHECK(kipc_ring_send(NULL, "x", 1, 0), -KIPC_EFAULT);
    CHECK(kipc_ring_recv(NULL, buf, sizeof buf, &len, 0), -KIPC_EFAULT);
    CHECK(kipc_ring_close(NULL), -KIPC_EFAULT);
    CHECK(kipc_ring_unlink(NULL), -KIPC_EFAULT);
    CHECK(kipc_ring_fd(NULL, &fd), -KIPC_EFAULT);
    TRUE(ring == NULL);
}

int main(void)
{
    strings();
    sizes();
    spsc_init_and_attach();
    spsc_handles();
    mpmc();
    rings();
    if (failures != 0) {
        printf("abuse: %d of %d checks FAILED\n", failures, checks);
        return 1;
    }
    printf("abuse: all %d checks passed\n", checks);
    return 0;
}
