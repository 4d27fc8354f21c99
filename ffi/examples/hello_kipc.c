#include <kipc.h>
#include <stdio.h>

int main(void)
{
    kipc_mailbox *mb;
    char buf[64];
    size_t len;
    uint32_t prio;
    int rc = kipc_mbox_create("hello-kipc", 8, sizeof buf, 0, &mb);
    if (rc != 0)
        return fprintf(stderr, "kipc: %s\n", kipc_strerror(rc)), 1;
    kipc_mbox_send(mb, "later", 5, 1, 0, 0);  /* priority 1 */
    kipc_mbox_send(mb, "first", 5, 9, 0, 0);  /* priority 9 */
    while (kipc_mbox_recv(mb, KIPC_MBOX_ANY, 0, buf, sizeof buf, &len, &prio, NULL, 0) == 0)
        printf("prio %u: %.*s\n", (unsigned)prio, (int)len, buf);
    kipc_mbox_close(mb);
    return kipc_mbox_unlink("hello-kipc");
}
