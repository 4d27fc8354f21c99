/*
 * typed.c: a typed ring from C. The creator records the message struct's
 * size, alignment and a fingerprint it chooses; opening with any other
 * triple is -KIPC_ETYPE (nothing is opened), the right one succeeds and the
 * struct travels as bytes; an untyped open still moves bytes; an untyped
 * ring cannot be opened typed.
 */
#define _POSIX_C_SOURCE 200809L
#include "kipc.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct order {
    uint64_t id;
    uint32_t qty;
    uint32_t side;
};

/* Chosen for struct order; change it whenever the struct changes. */
#define ORDER_FINGERPRINT 0x6f72646572000001ULL

static int failures;

#define CHECK(expr, want)                                                                          \
    do {                                                                                           \
        int got_ = (expr);                                                                         \
        if (got_ != (want)) {                                                                      \
            printf("typed: line %d: %s = %d (%s), want %d\n", __LINE__, #expr, got_,              \
                   kipc_strerror(got_), (want));                                                   \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

int main(void)
{
    char name[64], plain[64];
    kipc_ring *creator = NULL, *peer = NULL, *raw = NULL;
    struct order sent = {42, 7, 1}, got;
    const uint32_t size = (uint32_t)sizeof(struct order);
    const uint32_t align = (uint32_t)_Alignof(struct order);
    uint32_t rec_size = 0, rec_align = 0;
    uint64_t rec_fp = 0;
    size_t len = 0;

    snprintf(name, sizeof name, "typed-c-%ld", (long)getpid());
    snprintf(plain, sizeof plain, "typed-c-plain-%ld", (long)getpid());

    CHECK(kipc_ring_create_typed(name, 4, 0, align, ORDER_FINGERPRINT, 0, &creator), -KIPC_EINVAL);
    CHECK(kipc_ring_create_typed(name, 4, size, 3, ORDER_FINGERPRINT, 0, &creator), -KIPC_EINVAL);
    CHECK(kipc_ring_create_typed(name, 4, size, align, ORDER_FINGERPRINT, 0, &creator), 0);

    /* Another fingerprint, size or alignment: refused, nothing opened. */
    CHECK(kipc_ring_open_typed(name, size, align, ORDER_FINGERPRINT + 1, &peer), -KIPC_ETYPE);
    CHECK(kipc_ring_open_typed(name, size - 4, align, ORDER_FINGERPRINT, &peer), -KIPC_ETYPE);
    CHECK(kipc_ring_open_typed(name, size, align / 2, ORDER_FINGERPRINT, &peer), -KIPC_ETYPE);
    CHECK(peer == NULL, 1);
    CHECK(strcmp(kipc_strerror(-KIPC_ETYPE), "unknown error") != 0, 1);

    CHECK(kipc_ring_open_typed(name, size, align, ORDER_FINGERPRINT, &peer), 0);
    CHECK(kipc_ring_message_type(peer, &rec_size, &rec_align, &rec_fp), 0);
    CHECK(rec_size == size && rec_align == align && rec_fp == ORDER_FINGERPRINT, 1);
    CHECK(kipc_ring_message_type(peer, NULL, NULL, NULL), 0);
    CHECK(kipc_ring_message_type(NULL, &rec_size, NULL, NULL), -KIPC_EFAULT);

    /* The struct travels as bytes; a message longer than one struct does not fit. */
    CHECK(kipc_ring_send(creator, &sent, sizeof sent, 0), 0);
    CHECK(kipc_ring_send(creator, name, sizeof sent + 1, 0), -KIPC_EMSGSIZE);
    memset(&got, 0, sizeof got);
    CHECK(kipc_ring_recv(peer, &got, sizeof got, &len, 1000000000LL), 0);
    CHECK(len == sizeof got && got.id == 42 && got.qty == 7 && got.side == 1, 1);

    /* An untyped open of a typed ring works with bytes and reports the type. */
    CHECK(kipc_ring_open(name, &raw), 0);
    CHECK(kipc_ring_message_type(raw, &rec_size, NULL, &rec_fp), 0);
    CHECK(rec_size == size && rec_fp == ORDER_FINGERPRINT, 1);
    CHECK(kipc_ring_close(raw), 0);

    CHECK(kipc_ring_close(peer), 0);
    CHECK(kipc_ring_close(creator), 0);
    CHECK(kipc_ring_unlink(name), 0);

    /* An untyped ring is not a typed one. */
    CHECK(kipc_ring_create(plain, 4, size, 0, &raw), 0);
    CHECK(kipc_ring_open_typed(plain, size, align, ORDER_FINGERPRINT, &peer), -KIPC_ETYPE);
    CHECK(kipc_ring_message_type(raw, &rec_size, &rec_align, &rec_fp), 0);
    CHECK(rec_size == 0 && rec_align == 0 && rec_fp == 0, 1);
    CHECK(kipc_ring_close(raw), 0);
    CHECK(kipc_ring_unlink(plain), 0);

    if (failures != 0) {
        printf("typed: %d failures\n", failures);
        return 1;
    }
    printf("typed: all checks passed\n");
    return 0;
}
