/*
 * bare_metal_spsc.c: an SPSC ring over a static array, no OS calls.
 *
 * A producer and a consumer take turns in one loop: the producer pushes until
 * the ring is full, the consumer pops until it is empty, and every message is
 * checked. Nothing here allocates or calls the OS; run() is what firmware
 * would do.
 *
 * Two builds (see ffi/tests/c_programs.rs):
 *   hosted:       cc -std=c11 ... bare_metal_spsc.c libkipc_ffi.a   (prints)
 *   freestanding: cc -std=c11 -ffreestanding -nostdlib -static
 *                 -DKIPC_FREESTANDING ... against the no_std libkipc_ffi.a
 *                 (exit status = result; x86-64 Linux only for the exit call)
 */
#include "kipc.h"

#define SLOTS 8u
#define SLOT_SIZE 60u
#define MESSAGES 1000u

/* The ring's memory: 128-byte aligned, comfortably larger than the
 * 640 + 8 * 64 bytes this geometry needs (checked at run time). */
static _Alignas(128) unsigned char ring_mem[4096];

/* Handle storage: statics start zeroed. */
static kipc_spsc_producer_t tx;
static kipc_spsc_consumer_t rx;

/* Writes "msg " and the decimal digits of n into buf; returns the length. */
static size_t format_msg(unsigned char *buf, uint32_t n)
{
    unsigned char digits[10];
    size_t len = 0, k = 0;
    buf[len++] = 'm';
    buf[len++] = 's';
    buf[len++] = 'g';
    buf[len++] = ' ';
    do {
        digits[k++] = (unsigned char)('0' + n % 10u);
        n /= 10u;
    } while (n != 0u);
    while (k > 0u)
        buf[len++] = digits[--k];
    return len;
}

static int same(const unsigned char *a, const unsigned char *b, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (a[i] != b[i])
            return 0;
    return 1;
}

/* Returns 0 on success, or the number of the step that failed. */
static int run(uint32_t *received_out)
{
    size_t need = 0, len = 0;
    uint32_t sent = 0, received = 0, slots = 0, slot_size = 0;
    unsigned char msg[SLOT_SIZE], got[SLOT_SIZE], tiny[2];
    kipc_doorbells_t bells;
    bool wake = true;

    if (kipc_spsc_region_size(SLOTS, SLOT_SIZE, &need) != 0 || need > sizeof ring_mem)
        return 1;
    if (kipc_spsc_init(ring_mem, sizeof ring_mem, SLOTS, SLOT_SIZE) != 0)
        return 2;
    if (kipc_spsc_producer_attach(&tx, ring_mem, sizeof ring_mem) != 0)
        return 3;
    if (kipc_spsc_consumer_attach(&rx, ring_mem, sizeof ring_mem) != 0)
        return 4;
    if (kipc_spsc_consumer_capacity(&rx, &slots, &slot_size) != 0 || slots != SLOTS ||
        slot_size != SLOT_SIZE)
        return 5;

    while (received < MESSAGES) {
        /* Producer: fill the ring. */
        while (sent < MESSAGES) {
            size_t n = format_msg(msg, sent);
            int rc = kipc_spsc_try_push(&tx, msg, n);
            if (rc == -KIPC_EAGAIN)
                break; /* full: let the consumer run */
            if (rc != 0)
                return 6;
            sent++;
        }
        /* Consumer: drain it. */
        for (;;) {
            size_t n = format_msg(msg, received);
            int rc = kipc_spsc_try_pop(&rx, got, sizeof got, &len);
            if (rc == -KIPC_EAGAIN)
                break; /* empty: let the producer run */
            if (rc != 0 || len != n || !same(got, msg, n))
                return 7;
            received++;
        }
    }

    /* A too-small buffer reports the needed size and leaves the message. */
    if (kipc_spsc_try_push(&tx, "hello", 5) != 0)
        return 8;
    if (kipc_spsc_try_pop(&rx, tiny, sizeof tiny, &len) != -KIPC_EMSGSIZE || len != 5)
        return 9;
    if (kipc_spsc_try_pop(&rx, got, sizeof got, &len) != 0 || len != 5 ||
        !same(got, (const unsigned char *)"hello", 5))
        return 10;

    /* Nobody sleeps in this program, so ringing asks for no wake-up. */
    if (kipc_spsc_producer_doorbells(&tx, &bells) != 0 || kipc_doorbell_ring(bells.not_empty, &wake) != 0 ||
        wake)
        return 11;

    if (kipc_spsc_producer_detach(&tx) != 0 || kipc_spsc_consumer_detach(&rx) != 0)
        return 12;
    if (kipc_spsc_try_push(&tx, "x", 1) != -KIPC_EBADF)
        return 13;
    *received_out = received;
    return 0;
}

#ifdef KIPC_FREESTANDING
/* A freestanding program supplies what the compiler may call. */
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
int bcmp(const void *a, const void *b, size_t n);

void *memcpy(void *dst, const void *src, size_t n) { return memmove(dst, src, n); }
void *memmove(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    if (d < s)
        while (n--)
            *d++ = *s++;
    else
        while (n--)
            d[n] = s[n];
    return dst;
}
void *memset(void *dst, int c, size_t n)
{
    unsigned char *d = dst;
    while (n--)
        *d++ = (unsigned char)c;
    return dst;
}
int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    for (; n--; x++, y++)
        if (*x != *y)
            return *x - *y;
    return 0;
}
int bcmp(const void *a, const void *b, size_t n) { return memcmp(a, b, n); }

/* The entry point: no C runtime. The kernel enters with a 16-byte aligned
 * stack rather than a call's, hence the realignment. */
void _start(void);
#if defined(__x86_64__) || defined(__i386__)
__attribute__((force_align_arg_pointer))
#endif
void _start(void)
{
    uint32_t received = 0;
    long status = run(&received);
#if defined(__x86_64__) && defined(__linux__)
    /* exit_group(status): the one OS call, so the test can see the result. */
    __asm__ volatile("syscall" : : "a"(231L), "D"(status) : "rcx", "r11", "memory");
#endif
    (void)status;
    for (;;) {
    }
}
#else
#include <stdio.h>

int main(void)
{
    uint32_t received = 0;
    int step = run(&received);
    if (step != 0) {
        printf("bare_metal_spsc: FAILED at step %d\n", step);
        return 1;
    }
    printf("bare_metal_spsc: %u messages through %u slots: ok (kipc %s)\n", (unsigned)received,
           SLOTS, kipc_version());
    return 0;
}
#endif
