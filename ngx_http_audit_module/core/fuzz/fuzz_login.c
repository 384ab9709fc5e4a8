/*
 * libFuzzer target: audit_login_username() and audit_login_username_last().
 *
 * Input: one byte choosing the content type and the size of out, then the
 * body.  Form bodies get "&password=<marker>" appended, multipart bodies a
 * part named "password" holding the marker, once with one marker and once
 * with another of the same length: the result must be the same both times,
 * so nothing of the password reaches out.  (Comparing out
 * with the raw input is wrong: a field such as email=%50w%01Marker%02
 * %-decodes to the marker without the input holding it.)  A JSON result
 * must be what jansson itself finds in the body.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "audit_login.h"


#define AUDIT_FUZZ_MARK   "Pw\x01Marker\x02"
#define AUDIT_FUZZ_MARK2  "qX\x03oTHER!\x04"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);



static const char  *audit_fuzz_types[] = {
    "application/x-www-form-urlencoded",
    "application/json",
    "application/json; charset=utf-8",
    "Application/X-WWW-Form-Urlencoded ; charset=UTF-8",
    "application/vnd.api+json",
    "text/plain",
    "",
    "application/+json",
    "multipart/form-data; boundary=B",
    "multipart/form-data; boundary=\"B\"; charset=utf-8",
    "text/json",
    "multipart/form-data",
    "multipart/form-data; boundary=",
    "application/x-json",
    "Multipart/Form-Data; BOUNDARY=B",
    "text/x-json; charset=utf-8"
};


#define AUDIT_FUZZ_PART  "\r\n--B\r\nContent-Disposition: form-data; " \
                         "name=\"password\"\r\n\r\n"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int          last;
    long         n, n2;
    long       (*read)(const char *, size_t, const char *, size_t,
                       const char *, char *, size_t);
    char        *body, *out, *out2;
    size_t       len, osize, mlen;
    json_t      *root, *v;
    const char  *ct;

    if (size == 0) {
        return 0;
    }

    ct = audit_fuzz_types[data[0] & 15];
    osize = (data[0] >> 4) ? (size_t) (data[0] >> 4) * 16 : 1;
    len = size - 1;
    mlen = sizeof(AUDIT_FUZZ_MARK) - 1;

    body = malloc(len + sizeof(AUDIT_FUZZ_PART) - 1 + mlen
                  + sizeof("\r\n--B--") - 1);
    out = malloc(osize);
    out2 = malloc(osize);
    if (body == NULL || out == NULL || out2 == NULL) {
        free(body);
        free(out);
        free(out2);
        return 0;
    }

    memcpy(body, data + 1, len);

    if ((data[0] & 15) == 0 || (data[0] & 15) == 3) {
        memcpy(body + len, "&password=", 10);
        memcpy(body + len + 10, AUDIT_FUZZ_MARK, mlen);
        len += 10 + mlen;
    }

    if ((data[0] & 15) == 8 || (data[0] & 15) == 9 || (data[0] & 15) == 14) {
        memcpy(body + len, AUDIT_FUZZ_PART, sizeof(AUDIT_FUZZ_PART) - 1);
        len += sizeof(AUDIT_FUZZ_PART) - 1;
        memcpy(body + len, AUDIT_FUZZ_MARK, mlen);
        len += mlen;
        memcpy(body + len, "\r\n--B--", 7);
        len += 7;
    }

    for (last = 0; last < 2; last++) {
        read = last ? audit_login_username_last : audit_login_username;

        if (len > size - 1) {
            memcpy(body + len - mlen - ((data[0] & 15) >= 8 ? 7 : 0),
                   AUDIT_FUZZ_MARK, mlen);
        }

        n = read(ct, strlen(ct), body, len, "email", out, osize);

        if (n < -1 || (n >= 0 && ((size_t) n >= osize || out[n] != '\0'))) {
            __builtin_trap();
        }

        if (len > size - 1) {
            /* the same body with the other password */
            memcpy(body + len - mlen - ((data[0] & 15) >= 8 ? 7 : 0),
                   AUDIT_FUZZ_MARK2, mlen);

            n2 = read(ct, strlen(ct), body, len, "email", out2, osize);

            if (n2 != n || (n >= 0 && memcmp(out, out2, n) != 0)) {
                __builtin_trap();
            }
        }

        if (((data[0] & 15) == 1 || (data[0] & 15) == 10) && n >= 0) {
            root = json_loadb(body, len, last ? 0 : JSON_REJECT_DUPLICATES,
                              NULL);
            v = json_object_get(root, "email");

            if (!json_is_string(v) || json_string_length(v) != (size_t) n
                || memcmp(json_string_value(v), out, n) != 0)
            {
                __builtin_trap();
            }

            json_decref(root);
        }
    }

    free(body);
    free(out);
    free(out2);

    return 0;
}

