/*
 * libFuzzer target: the offline verifier (audit_verify.c) on arbitrary
 * log text, with the public key of test/vectors/ed25519.pub.
 *
 * Input: one flag byte (bit 0: allow open chains; bit 1: as of the
 * corpus log's last checkpoint), then lines separated
 * by "\n".  Whatever the lines, the verifier must not crash or leak, and
 * each report must be consistent: ok only without a problem, closed only
 * with the whole chain signed, an unsigned tail no longer than the chain,
 * a verified seq within it.  The corpus is a real log signed with that
 * key, so mutations start from valid chains and checkpoints.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit_verify.h"


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void audit_fuzz_report(const audit_verify_report_t *r, void *data);


static unsigned char  raw[32];


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char                     err[256];
    audit_checkpoint_key_t  *key;

    (void) argc;
    (void) argv;

    key = audit_checkpoint_key_load(AUDIT_TEST_VECTORS "/ed25519.pub", 0,
                                    err, sizeof(err));
    if (key == NULL) {
        return 1;
    }

    memcpy(raw, audit_checkpoint_key_public(key), sizeof(raw));
    audit_checkpoint_key_free(key);

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    long             bad, n;
    size_t           i, start;
    audit_verify_t  *v;

    if (size == 0) {
        return 0;
    }

    v = audit_verify_new();
    if (v == NULL || audit_verify_add_key(v, audit_checkpoint_key_raw(raw, 32))
                     != 0)
    {
        abort();
    }

    if (data[0] & 2) {
        audit_verify_as_of(v, 1796235812205ULL);
    }

    for (i = 1, start = 1; i <= size; i++) {
        if (i == size || data[i] == '\n') {
            if (audit_verify_line(v, (const char *) data + start, i - start)
                == -2)
            {
                abort();
            }

            start = i + 1;
        }
    }

    n = 0;
    bad = audit_verify_finish(v, data[0] & 1, audit_fuzz_report, &n);

    if (bad < 0 || bad > n) {
        abort();
    }

    audit_verify_free(v);

    return 0;
}


static void
audit_fuzz_report(const audit_verify_report_t *r, void *data)
{
    long  *n = data;

    (*n)++;

    if (r->producer == NULL || r->events == 0
        || r->unsigned_tail > r->events
        || r->last_seq < r->first_seq
        || (r->ok && r->first_problem >= 0)
        || (r->closed && (r->verified_seq < 0 || r->unsigned_tail != 0))
        || (r->verified_seq >= 0
            && ((unsigned long long) r->verified_seq >= r->last_seq
                || (unsigned long long) r->verified_seq < r->first_seq))
        || (r->checkpoints == 0 && r->verified_seq >= 0))
    {
        abort();
    }
}
