/*
 * libFuzzer target: canonical request targets and method overrides.
 *
 * Input: one flags byte (bit 0: encoded slashes allowed; bit 1: no uri to
 * compare with; bits 2-3: the body's content type), then the raw target,
 * a '\n', and the decoded path nginx matched.  The target and the uri
 * reach the core in exactly sized buffers, without a NUL, so that ASan
 * sees a read past their length.
 *
 * A target audit_target_check() lets through must be what a plain reading
 * of its contract says is canonical: no '#', no raw '\', ';', control
 * byte or space in the path, no encoded slash unless allowed, every '%'
 * followed by two hex digits, no segment "." or ".." or ending in '.' or
 * ' ' once decoded, and, with a uri, a decoding equal to it byte for
 * byte.  An override the core accepts is a method token of at most
 * AUDIT_OVERRIDE_MAX uppercase letters, digits, '-' and '_'.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit_target.h"


#define AUDIT_FUZZ_TRAP(cond)                                               \
    do { if (cond) { __builtin_trap(); } } while (0)


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void audit_fuzz_canonical(const char *t, size_t len, const char *uri,
    size_t uri_len, unsigned flags);
static int audit_fuzz_hex(int c);
static void audit_fuzz_segment(const unsigned char *s, size_t len);
static void audit_fuzz_override(const audit_override_t *o);
static char *audit_fuzz_exact(const uint8_t *p, size_t len);


static const char  *audit_fuzz_types[] = {
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=B",
    "application/json",
    "text/plain",
};


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                  *target, *uri;
    size_t                 tlen, ulen;
    unsigned               flags;
    const uint8_t         *nl;
    audit_override_t       o;
    audit_target_class_t   c;

    if (size < 1) {
        return 0;
    }

    flags = data[0];
    data++;
    size--;

    nl = memchr(data, '\n', size);
    tlen = nl ? (size_t) (nl - data) : size;
    ulen = nl ? size - tlen - 1 : 0;

    target = audit_fuzz_exact(data, tlen);
    uri = audit_fuzz_exact(nl ? nl + 1 : data, ulen);

    if (target == NULL || uri == NULL) {
        free(target);
        free(uri);
        return 0;
    }

    c = audit_target_check(target, tlen, (flags & 2) ? NULL : uri, ulen,
                           flags & AUDIT_TARGET_ALLOW_ENCODED_SLASH);

    AUDIT_FUZZ_TRAP((unsigned) c >= AUDIT_TARGET_MAX);
    AUDIT_FUZZ_TRAP(c != AUDIT_TARGET_OK && audit_target_reason(c) == NULL);

    if (c == AUDIT_TARGET_OK) {
        audit_fuzz_canonical(target, tlen, (flags & 2) ? NULL : uri, ulen,
                             flags & AUDIT_TARGET_ALLOW_ENCODED_SLASH);
    }

    memset(&o, 0, sizeof(o));
    audit_override_form(&o, target, tlen);
    audit_fuzz_override(&o);

    memset(&o, 0, sizeof(o));
    audit_override_add(&o, target, tlen);
    audit_fuzz_override(&o);

    memset(&o, 0, sizeof(o));
    audit_override_body(&o, audit_fuzz_types[(flags >> 2) & 3],
                        strlen(audit_fuzz_types[(flags >> 2) & 3]), uri,
                        ulen);
    audit_fuzz_override(&o);

    free(target);
    free(uri);

    return 0;
}


static void
audit_fuzz_canonical(const char *t, size_t len, const char *uri,
    size_t uri_len, unsigned flags)
{
    int             c, hi, lo;
    size_t          i, n, path, seg;
    unsigned char  *dec;

    AUDIT_FUZZ_TRAP(len == 0 || t[0] != '/');
    AUDIT_FUZZ_TRAP(memchr(t, '#', len) != NULL);

    for (path = 0; path < len && t[path] != '?'; path++) {
        /* void */
    }

    dec = malloc(path + 1);
    if (dec == NULL) {
        return;
    }

    n = 0;

    for (i = 0; i < path; i++) {
        c = (unsigned char) t[i];

        AUDIT_FUZZ_TRAP(c == '\\' || c == ';' || c <= 0x20 || c == 0x7f);

        if (c == '%') {
            AUDIT_FUZZ_TRAP(i + 2 >= path);
            hi = audit_fuzz_hex((unsigned char) t[i + 1]);
            lo = audit_fuzz_hex((unsigned char) t[i + 2]);
            AUDIT_FUZZ_TRAP(hi < 0 || lo < 0);
            c = hi * 16 + lo;
            i += 2;

            AUDIT_FUZZ_TRAP(!flags && (c == '/' || c == '\\'));
            AUDIT_FUZZ_TRAP(c < 0x20 || c == 0x7f || c == 0xc0 || c == 0xc1);

            /* in the decoded bytes, an allowed encoded '\' separates */
            if (c == '\\') {
                c = '/';
            }
        }

        dec[n++] = (unsigned char) c;
    }

    if (uri) {
        /* the comparison is with what nginx decoded: '\' stays '\' */
        for (i = 0, seg = 0; i < path; i++, seg++) {
            c = (unsigned char) t[i];

            if (c == '%') {
                c = audit_fuzz_hex((unsigned char) t[i + 1]) * 16
                    + audit_fuzz_hex((unsigned char) t[i + 2]);
                i += 2;
            }

            AUDIT_FUZZ_TRAP(seg >= uri_len
                            || (unsigned char) uri[seg] != c);
        }

        AUDIT_FUZZ_TRAP(seg != uri_len);
    }

    for (i = 1, seg = 1; i <= n; i++) {
        if (i == n || dec[i] == '/') {
            audit_fuzz_segment(dec + seg, i - seg);
            seg = i + 1;
        }
    }

    free(dec);
}


static void
audit_fuzz_segment(const unsigned char *s, size_t len)
{
    AUDIT_FUZZ_TRAP(len == 1 && s[0] == '.');
    AUDIT_FUZZ_TRAP(len == 2 && s[0] == '.' && s[1] == '.');
    AUDIT_FUZZ_TRAP(len > 0 && (s[len - 1] == '.' || s[len - 1] == ' '));
}


static void
audit_fuzz_override(const audit_override_t *o)
{
    size_t  i;
    int     c;

    AUDIT_FUZZ_TRAP(o->len > AUDIT_OVERRIDE_MAX);

    for (i = 0; i < o->len; i++) {
        c = (unsigned char) o->method[i];
        AUDIT_FUZZ_TRAP(!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                          || c == '-' || c == '_'));
    }

    AUDIT_FUZZ_TRAP(o->method[o->len] != '\0');
}


static int
audit_fuzz_hex(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }

    return -1;
}


static char *
audit_fuzz_exact(const uint8_t *p, size_t len)
{
    char  *s;

    s = malloc(len ? len : 1);
    if (s != NULL && len) {
        memcpy(s, p, len);
    }

    return s;
}
