/*
 * libFuzzer target: audit_scrub_uri(), audit_scrub_credentials() and
 * audit_scrub_is_secret_name().
 *
 * Input: one byte choosing the output size (0: a large buffer), then the
 * URI, also taken as a User-Agent.  The output must stay in its buffer,
 * carry no fragment (the URI), hold no credential (audit_fuzz_leak(): a
 * JWT-shaped run, or "Bearer"/"Basic" and a blank before a credential
 * byte), also when scrubbed again, and, when cut, be a prefix of the full
 * output followed by dots.  Scrubbing again may filter more (a segment
 * that reads differently once a credential in it is "[Filtered]": see
 * regress/scrub/fuzz-rescrub-filters-more), never reveal anything: it is
 * not required to change nothing.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit_b64url_int.h"
#include "audit_scrub.h"


/* "&pin=" becomes "&pin=[Filtered]": 3 times the input at most */
#define AUDIT_FUZZ_OUT  (4 * 10000 + 64)


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int audit_fuzz_leak(const char *p, size_t len);
static void audit_fuzz_cut(const char *full, size_t n, const char *out,
    size_t m, size_t small);
static int audit_fuzz_b64(int c);
static int audit_fuzz_alnum(int c);


static audit_scrub_t  *scrub;
static char            full[AUDIT_FUZZ_OUT];
static char            again[AUDIT_FUZZ_OUT];
static char            ua[AUDIT_FUZZ_OUT];


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
    size_t       len, n, m, un, small;
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

    if (m >= sizeof(again) - 1 || audit_fuzz_leak(again, m)) {
        __builtin_trap();
    }

    if (audit_fuzz_leak(full, n)) {
        __builtin_trap();
    }

    (void) audit_scrub_is_secret_name(scrub, uri, len);

    /* the same input as a User-Agent */
    un = audit_scrub_credentials(uri, len, ua, sizeof(ua));

    if (un >= sizeof(ua) - 1 || ua[un] != '\0' || audit_fuzz_leak(ua, un)) {
        __builtin_trap();
    }

    m = audit_scrub_credentials(ua, un, again, sizeof(again));

    if (m >= sizeof(again) - 1 || audit_fuzz_leak(again, m)) {
        __builtin_trap();
    }

    if (small == 0) {
        return 0;
    }

    /* exactly sized, so that ASan sees an overflow */
    out = malloc(small);
    if (out == NULL) {
        return 0;
    }

    m = audit_scrub_uri(scrub, uri, len, out, small);
    audit_fuzz_cut(full, n, out, m, small);

    m = audit_scrub_credentials(uri, len, out, small);
    audit_fuzz_cut(ua, un, out, m, small);

    free(out);

    return 0;
}


/* out[0..m) from a buffer of small bytes is full[0..n), or its cut. */

static void
audit_fuzz_cut(const char *full, size_t n, const char *out, size_t m,
    size_t small)
{
    size_t  cut;

    if (n < small) {
        if (m != n || memcmp(out, full, n + 1) != 0) {
            __builtin_trap();
        }

        return;
    }

    cut = m >= 3 ? m - 3 : 0;

    if (m != small - 1 || out[m] != '\0'
        || memcmp(out, full, cut) != 0
        || strspn(out + cut, ".") != m - cut)
    {
        __builtin_trap();
    }
}


/*
 * A credential left in p[0..len), found independently of the scrubber and
 * more narrowly than it (no %-escapes), so that a hit is always a miss of
 * the scrubber's:
 *
 *   - a maximal run of base64url characters and dots with two dots or
 *     more whose first segment, decoded (16 characters at most), is '{',
 *     blanks, then '"' or '}';
 *   - "bearer" or "basic" in any case, not after a letter or digit, then
 *     spaces, tabs or '+', then a letter, digit, '-', '.', '_' or '~'.
 */

static int
audit_fuzz_leak(const char *p, size_t len)
{
    size_t         i, j, k, w, first, dots, dlen;
    unsigned char  head[16];

    static const char *const  words[] = { "bearer", "basic" };

    for (i = 0; i < len; i++) {

        if (i > 0 && (audit_fuzz_b64(p[i - 1]) || p[i - 1] == '.')) {
            goto word;
        }

        first = 0;
        dots = 0;

        for (j = i; j < len && (audit_fuzz_b64(p[j]) || p[j] == '.'); j++) {
            if (p[j] == '.' && dots++ == 0) {
                first = j - i;
            }
        }

        if (dots >= 2
            && audit_b64url_decode((const unsigned char *) p + i,
                                   first < 16 ? first : 16, head,
                                   sizeof(head), &dlen) == 0
            && dlen >= 2 && head[0] == '{')
        {
            for (k = 1; k < dlen && (head[k] == ' ' || head[k] == '\t'
                                     || head[k] == '\n' || head[k] == '\r');
                 k++)
            {
                /* void */
            }

            if (k < dlen && (head[k] == '"' || head[k] == '}')) {
                return 1;
            }
        }

    word:

        if (i > 0 && audit_fuzz_alnum(p[i - 1])) {
            continue;
        }

        for (w = 0; w < 2; w++) {
            k = strlen(words[w]);

            if (len - i <= k) {
                continue;
            }

            for (j = 0; j < k && (p[i + j] | 0x20) == words[w][j]; j++) {
                /* void */
            }

            if (j < k) {
                continue;
            }

            for (j = i + k; j < len && (p[j] == ' ' || p[j] == '\t'
                                        || p[j] == '+'); j++)
            {
                /* void */
            }

            if (j > i + k && j < len
                && (audit_fuzz_alnum(p[j]) || p[j] == '-' || p[j] == '.'
                    || p[j] == '_' || p[j] == '~'))
            {
                return 1;
            }
        }
    }

    return 0;
}


static int
audit_fuzz_b64(int c)
{
    return audit_fuzz_alnum(c) || c == '-' || c == '_';
}


static int
audit_fuzz_alnum(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9');
}
