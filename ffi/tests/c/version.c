/*
 * version.c: the version kipc.h was generated for (KIPC_VERSION_MAJOR,
 * _MINOR, _PATCH) is the version of the library it runs against
 * (kipc_version()), as a C program checks it at start-up. Prints the
 * version it compiled with, so the Rust test can compare it with Cargo's.
 */
#include "kipc.h"

#include <stdio.h>
#include <string.h>

/* The macros are integer constant expressions usable in #if. */
#if KIPC_VERSION_MAJOR < 0 || KIPC_VERSION_MINOR < 0 || KIPC_VERSION_PATCH < 0
#error "kipc version macros must be non-negative integers"
#endif

int main(void)
{
    char compiled[64];
    const char *loaded = kipc_version();
    snprintf(compiled, sizeof compiled, "%d.%d.%d", KIPC_VERSION_MAJOR, KIPC_VERSION_MINOR,
             KIPC_VERSION_PATCH);
    if (loaded == NULL || strcmp(compiled, loaded) != 0) {
        printf("version: kipc.h says %s, the library says %s\n", compiled,
               loaded ? loaded : "(null)");
        return 1;
    }
    printf("version: kipc.h and library agree: %s\n", compiled);
    return 0;
}
