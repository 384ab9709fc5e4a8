/*
 * libFuzzer target: audit_scrub_uri() and audit_scrub_is_secret_name().
 *
 * Input: one byte choosing the output size (0: a large buffer), then the
 * URI.  The output must stay in its buffer, carry no fragment, be stable
 * (scrubbing it again changes nothing) and, when cut, be a prefix of the
 * full output followed by dots.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit_scrub.h"


/* "&pin=" becomes "&pin=[Filtered]": 3 times the input at most */
#define AUDIT_FUZZ_OUT  (4 * 10000 + 64)


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static audit_scrub_t  *scrub;
static char            full[AUDIT_FUZZ_OUT];
static char            again[AUDIT_FUZZ_OUT];


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const char *const  extra[] = { "mrn", "dob" };

    (void) argc;
    (void) argv;

    scrub = audit_scrub_create(extra, 2);

    return scrub ? 0 : 1;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char        *out;
    size_t       len, n, m, cut, small;
    const char  *uri;

    if (size == 0) {
        return 0;
    }

    small = data[0];
    uri = (const char *) data + 1;
    len = size - 1;

    n = audit_scrub_uri(scrub, uri, len, full, sizeof(full));

    if (n >= sizeof(full) - 1 || full[n] != '\0' || memchr(full, '#', n)) {
        __builtin_trap();
    }

    m = audit_scrub_uri(scrub, full, n, again, sizeof(again));

    if (m != n || memcmp(full, again, n) != 0) {
        __builtin_trap();
    }

    (void) audit_scrub_is_secret_name(scrub, uri, len);

    if (small == 0) {
        return 0;
    }

    /* exactly sized, so that ASan sees an overflow */
    out = malloc(small);
    if (out == NULL) {
        return 0;
    }

    m = audit_scrub_uri(scrub, uri, len, out, small);

    if (n < small) {
        if (m != n || memcmp(out, full, n + 1) != 0) {
            __builtin_trap();
        }

    } else {
        cut = m >= 3 ? m - 3 : 0;

        if (m != small - 1 || out[m] != '\0'
            || memcmp(out, full, cut) != 0
            || strspn(out + cut, ".") != m - cut)
        {
            __builtin_trap();
        }
    }

    free(out);

    return 0;
}
