/*
 * libFuzzer target: audit_login_username().
 *
 * Input: one byte choosing the content type and the size of out, then the
 * body.  Form bodies get "&password=<marker>" appended: the marker must
 * never reach out unless the input itself holds it.  A JSON result must be
 * what jansson itself finds in the body.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "audit_login.h"


#define AUDIT_FUZZ_MARK  "Pw\x01Marker\x02"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int audit_fuzz_has(const char *p, size_t len, const char *needle,
    size_t nlen);


static const char  *audit_fuzz_types[] = {
    "application/x-www-form-urlencoded",
    "application/json",
    "application/json; charset=utf-8",
    "Application/X-WWW-Form-Urlencoded ; charset=UTF-8",
    "application/vnd.api+json",
    "text/plain",
    "",
    "application/+json"
};


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    long         n;
    char        *body, *out;
    size_t       len, osize, mlen;
    json_t      *root, *v;
    const char  *ct;

    if (size == 0) {
        return 0;
    }

    ct = audit_fuzz_types[data[0] & 7];
    osize = (data[0] >> 3) ? (size_t) (data[0] >> 3) * 8 : 1;
    len = size - 1;
    mlen = sizeof(AUDIT_FUZZ_MARK) - 1;

    body = malloc(len + sizeof("&password=") - 1 + mlen);
    out = malloc(osize);
    if (body == NULL || out == NULL) {
        free(body);
        free(out);
        return 0;
    }

    memcpy(body, data + 1, len);

    if ((data[0] & 7) == 0 || (data[0] & 7) == 3) {
        memcpy(body + len, "&password=", 10);
        memcpy(body + len + 10, AUDIT_FUZZ_MARK, mlen);
        len += 10 + mlen;
    }

    n = audit_login_username(ct, strlen(ct), body, len, "email", out, osize);

    if (n < -1 || (n >= 0 && ((size_t) n >= osize || out[n] != '\0'))) {
        __builtin_trap();
    }

    if (n >= 0
        && audit_fuzz_has(out, n, AUDIT_FUZZ_MARK, mlen)
        && !audit_fuzz_has((const char *) data + 1, size - 1,
                           AUDIT_FUZZ_MARK, mlen))
    {
        __builtin_trap();
    }

    if ((data[0] & 7) == 1 && n >= 0) {
        root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
        v = json_object_get(root, "email");

        if (!json_is_string(v) || json_string_length(v) != (size_t) n
            || memcmp(json_string_value(v), out, n) != 0)
        {
            __builtin_trap();
        }

        json_decref(root);
    }

    free(body);
    free(out);

    return 0;
}


static int
audit_fuzz_has(const char *p, size_t len, const char *needle, size_t nlen)
{
    size_t  i;

    for (i = 0; i + nlen <= len; i++) {
        if (memcmp(p + i, needle, nlen) == 0) {
            return 1;
        }
    }

    return 0;
}
