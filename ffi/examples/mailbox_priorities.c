/*
 * mailbox_priorities.c: creates a named mailbox, sends five messages with
 * different priorities and types, and receives them: highest priority
 * first, oldest first within a priority. Then takes one message by type
 * (SysV msgrcv style), and removes the mailbox.
 *
 *   mailbox_priorities [NAME]
 */
#define _POSIX_C_SOURCE 200809L
#include "kipc.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct msg {
    const char *text;
    uint32_t prio;
    uint64_t type;
};

static const struct msg msgs[] = {
    {"routine report", 1, 10},
    {"disk almost full", 5, 20},
    {"second routine report", 1, 10},
    {"fire in the server room", 9, 30},
    {"cache warmed", 0, 40},
};
/* The order the receives must give: prio 9, 5, 1 (FIFO), 1, 0. */
static const int want_order[] = {3, 1, 0, 2};

int main(int argc, char **argv)
{
    char name[64], buf[64];
    kipc_mailbox *mb = NULL;
    size_t i, len = 0;
    uint32_t prio = 0;
    uint64_t type = 0;
    int rc, ok = 1;

    if (argc > 1)
        snprintf(name, sizeof name, "%s", argv[1]);
    else
        snprintf(name, sizeof name, "mbox-prio-%ld", (long)getpid());
    rc = kipc_mbox_create(name, 8, sizeof buf, 0, &mb);
    if (rc != 0) {
        fprintf(stderr, "mailbox_priorities: create %s: %s\n", name, kipc_strerror(rc));
        return 1;
    }
    for (i = 0; i < sizeof msgs / sizeof msgs[0]; i++) {
        rc = kipc_mbox_send(mb, msgs[i].text, strlen(msgs[i].text), msgs[i].prio, msgs[i].type, 0);
        if (rc != 0) {
            fprintf(stderr, "mailbox_priorities: send: %s\n", kipc_strerror(rc));
            ok = 0;
        }
    }
    /* By type first: the one message of type 40, whatever its priority. */
    rc = kipc_mbox_recv(mb, KIPC_MBOX_EXACT, 40, buf, sizeof buf, &len, &prio, &type, 0);
    if (rc != 0 || len != strlen(msgs[4].text) || memcmp(buf, msgs[4].text, len) != 0)
        ok = 0;
    else
        printf("by type 40: prio %u \"%.*s\"\n", (unsigned)prio, (int)len, buf);
    /* Then everything else, highest priority first. */
    for (i = 0; i < sizeof want_order / sizeof want_order[0]; i++) {
        const struct msg *want = &msgs[want_order[i]];
        rc = kipc_mbox_recv(mb, KIPC_MBOX_ANY, 0, buf, sizeof buf, &len, &prio, &type, 1000000000LL);
        if (rc != 0) {
            fprintf(stderr, "mailbox_priorities: recv: %s\n", kipc_strerror(rc));
            ok = 0;
            break;
        }
        printf("prio %u type %llu: \"%.*s\"\n", (unsigned)prio, (unsigned long long)type, (int)len, buf);
        if (prio != want->prio || type != want->type || len != strlen(want->text) ||
            memcmp(buf, want->text, len) != 0)
            ok = 0;
    }
    /* Empty now: a short timeout expires. */
    rc = kipc_mbox_recv(mb, KIPC_MBOX_ANY, 0, buf, sizeof buf, &len, NULL, NULL, 1000000LL);
    if (rc != -KIPC_ETIMEDOUT)
        ok = 0;
    kipc_mbox_close(mb);
    if (kipc_mbox_unlink(name) != 0)
        ok = 0;
    printf("mailbox_priorities: highest priority first: %s\n", ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
