/*
 * libFuzzer target: audit_idset_parse(), the revoked-session file
 * (audit_session_revoked), and lookups in the set it builds.
 *
 * The set must hold exactly the lines a plain reading of audit_idset.h
 * gives (trimmed of spaces, tabs and CRs; blank and '#' lines skipped), be
 * refused with a reason exactly when one is over 256 bytes, find every one
 * of them, and not find a line cut short or one more byte long.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit_idset.h"


#define AUDIT_FUZZ_MAX_ID  256

#define AUDIT_FUZZ_TRAP(cond)                                               \
    do { if (cond) { __builtin_trap(); } } while (0)


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int audit_fuzz_blank(char c);
static int audit_fuzz_next_id(const char *text, size_t size, size_t *pos,
    size_t *start, size_t *end);
static int audit_fuzz_listed(const char *text, size_t size, const char *id,
    size_t len);
static int audit_fuzz_contains(const audit_idset_t *set, const char *id,
    size_t len);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int             too_long;
    char            err[128];
    size_t          n, pos, start, i;
    const char     *text;
    audit_idset_t  *set;

    text = (const char *) data;

    err[0] = '\0';
    set = audit_idset_parse(text, size, err, sizeof(err));

    /* the ids, as the contract reads */

    too_long = 0;
    n = 0;
    pos = 0;

    while (audit_fuzz_next_id(text, size, &pos, &start, &i)) {

        if (i - start > AUDIT_FUZZ_MAX_ID) {
            too_long = 1;
            break;
        }

        n++;

        if (set == NULL) {
            continue;
        }

        AUDIT_FUZZ_TRAP(!audit_fuzz_contains(set, text + start, i - start));

        /* the linear scans below are for the first lines only */
        if (n > 64) {
            continue;
        }

        /* a prefix is another id: found only if listed itself */
        AUDIT_FUZZ_TRAP(audit_fuzz_contains(set, text + start, i - start - 1)
                        != audit_fuzz_listed(text, size, text + start,
                                             i - start - 1));

        /* and so is the line with the next byte, when there is one */
        if (i < size) {
            AUDIT_FUZZ_TRAP(audit_fuzz_contains(set, text + start,
                                                i - start + 1)
                            != audit_fuzz_listed(text, size, text + start,
                                                 i - start + 1));
        }
    }

    if (too_long) {
        AUDIT_FUZZ_TRAP(set != NULL || memchr(err, '\0', sizeof(err)) == NULL
                        || err[0] == '\0');
        return 0;
    }

    if (set == NULL) {
        /* only memory may run out */
        AUDIT_FUZZ_TRAP(strcmp(err, "out of memory") != 0);
        return 0;
    }

    /* duplicates are kept: the size counts lines, not distinct ids */
    AUDIT_FUZZ_TRAP(audit_idset_size(set) != n);

    AUDIT_FUZZ_TRAP(audit_idset_contains(set, NULL, 0)
                    || audit_idset_contains(NULL, text, size));

    audit_idset_free(set);

    return 0;
}


static int
audit_fuzz_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}


/* An exactly sized copy, so that ASan sees a read past len. */

static int
audit_fuzz_contains(const audit_idset_t *set, const char *id, size_t len)
{
    int    rc;
    char  *copy;

    copy = malloc(len ? len : 1);
    if (copy == NULL) {
        return 0;
    }

    if (len) {
        memcpy(copy, id, len);
    }

    rc = audit_idset_contains(set, copy, len);
    free(copy);

    return rc;
}


/* Whether id[0..len) is one of the set's lines, by a linear scan. */

static int
audit_fuzz_listed(const char *text, size_t size, const char *id, size_t len)
{
    size_t  pos, start, end;

    pos = 0;

    while (audit_fuzz_next_id(text, size, &pos, &start, &end)) {
        if (end - start == len && memcmp(text + start, id, len) == 0) {
            return 1;
        }
    }

    return 0;
}


/*
 * The next id line from *pos on, as the contract reads it: text[*start ..
 * *end) trimmed of blanks; blank and '#' lines skipped.  0 at the end.
 */

static int
audit_fuzz_next_id(const char *text, size_t size, size_t *pos, size_t *start,
    size_t *end)
{
    size_t  s, e, eol;

    while (*pos < size) {
        eol = *pos;
        while (eol < size && text[eol] != '\n') {
            eol++;
        }

        s = *pos;
        e = eol;
        *pos = eol + 1;

        while (s < e && audit_fuzz_blank(text[s])) {
            s++;
        }
        while (e > s && audit_fuzz_blank(text[e - 1])) {
            e--;
        }

        if (e == s || text[s] == '#') {
            continue;
        }

        *start = s;
        *end = e;

        return 1;
    }

    return 0;
}
