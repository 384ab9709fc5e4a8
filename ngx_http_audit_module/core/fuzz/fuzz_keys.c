/*
 * libFuzzer target: audit_keyset_parse() on arbitrary key file contents
 * (JWKS, PEM, raw secret).  A parsed set is used once so that its keys
 * are touched too.
 */

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "audit_keys.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char             err[256];
    unsigned         alg;
    audit_keyset_t  *ks;

    ks = audit_keyset_parse(data, size, err, sizeof(err));

    if (ks == NULL) {
        /* a reason must be given, as a terminated string */
        if (memchr(err, '\0', sizeof(err)) == NULL || err[0] == '\0') {
            __builtin_trap();
        }

        return 0;
    }

    if (audit_keyset_size(ks) == 0 || audit_keyset_algs(ks) == 0) {
        __builtin_trap();
    }

    for (alg = AUDIT_ALG_HS256; alg <= AUDIT_ALG_ES256; alg <<= 1) {
        if (audit_keyset_verify(ks, alg, "k", 1, data, size, data,
                                size < 64 ? size : 64)
            == AUDIT_KEY_VERIFIED)
        {
            __builtin_trap();
        }
    }

    audit_keyset_free(ks);

    return 0;
}
