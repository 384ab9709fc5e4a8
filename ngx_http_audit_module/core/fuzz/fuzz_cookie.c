/*
 * libFuzzer target: the session cookie in a Cookie header line
 * (audit_cookie_scan()) and in a Set-Cookie line (audit_set_cookie_value()).
 *
 * Input: one byte n (the cookie name's length, 1..16), n bytes of name,
 * then the header line.  Checks: a value found lies inside the line and
 * holds no ';'; the name is compared exactly; the same line cut in two at
 * a ';' (two Cookie header lines, as HTTP/2 sends them) reads the same.
 */

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "audit_cookie.h"


#define AUDIT_FUZZ_TRAP(cond)                                               \
    do { if (cond) { __builtin_trap(); } } while (0)


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void audit_fuzz_inside(audit_str_t *v, const char *line, size_t len);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t           nlen, len;
    const char      *p, *name, *line, *semi;
    audit_str_t      v;
    audit_cookie_t   one, two;

    if (size < 1) {
        return 0;
    }

    nlen = data[0] % 16 + 1;

    if (size < 1 + nlen) {
        return 0;
    }

    name = (const char *) data + 1;
    line = name + nlen;
    len = size - 1 - nlen;

    memset(&one, 0, sizeof(one));
    audit_cookie_scan(&one, line, len, name, nlen);

    if (one.found) {
        audit_fuzz_inside(&one.value, line, len);
    }

    /* cut at the first ';': two header lines, the same cookies */

    semi = memchr(line, ';', len);

    if (semi) {
        memset(&two, 0, sizeof(two));
        audit_cookie_scan(&two, line, semi - line, name, nlen);
        audit_cookie_scan(&two, semi + 1, len - (semi + 1 - line), name, nlen);

        AUDIT_FUZZ_TRAP(one.found != two.found);
        AUDIT_FUZZ_TRAP(audit_cookie_is_ambiguous(&one)
                        != audit_cookie_is_ambiguous(&two));
        AUDIT_FUZZ_TRAP(one.found
                        && (one.value.data != two.value.data
                            || one.value.len != two.value.len));
    }

    if (audit_set_cookie_value(line, len, name, nlen, &v)) {
        audit_fuzz_inside(&v, line, semi ? (size_t) (semi - line) : len);

        /* the name is the line's first, exactly, after blanks */
        for (p = line; p < line + len && (*p == ' ' || *p == '\t'); p++) {
            /* void */
        }

        AUDIT_FUZZ_TRAP((size_t) (line + len - p) < nlen
                        || memcmp(p, name, nlen) != 0);
    }

    return 0;
}


static void
audit_fuzz_inside(audit_str_t *v, const char *line, size_t len)
{
    AUDIT_FUZZ_TRAP(v->data == NULL && v->len != 0);

    if (v->data == NULL) {
        return;
    }

    AUDIT_FUZZ_TRAP(v->data < line || v->data + v->len > line + len);
    AUDIT_FUZZ_TRAP(v->len && memchr(v->data, ';', v->len) != NULL);
}
