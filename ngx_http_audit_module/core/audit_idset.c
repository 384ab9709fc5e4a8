
/*
 * A sorted, immutable set of identifiers (see audit_idset.h).
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_file.h"
#include "audit_idset.h"


#define AUDIT_IDSET_MAX_ID    256
#define AUDIT_IDSET_MAX_FILE  (16 * 1024 * 1024)


typedef struct {
    const char   *data;
    size_t        len;
} audit_id_t;


struct audit_idset_s {
    char         *text;        /* a private copy the ids point into */
    audit_id_t   *ids;
    size_t        n;
};


static int audit_id_cmp(const void *a, const void *b);
static int audit_is_blank(char c);


audit_idset_t *
audit_idset_parse(const char *text, size_t len, char *err, size_t errlen)
{
    size_t          i, start, end, cap;
    audit_idset_t  *set;

    set = calloc(1, sizeof(audit_idset_t));
    if (set == NULL) {
        goto nomem;
    }

    /* an id needs at least one byte and a line end: len / 2 + 1 bounds it */
    cap = len / 2 + 1;

    set->text = malloc(len + 1);
    set->ids = malloc(cap * sizeof(audit_id_t));
    if (set->text == NULL || set->ids == NULL) {
        goto nomem;
    }

    memcpy(set->text, text, len);
    set->text[len] = '\0';

    for (start = 0; start < len; start = end + 1) {

        for (end = start; end < len && set->text[end] != '\n'; end++) {
            /* void */
        }

        i = end;
        while (start < i && audit_is_blank(set->text[start])) {
            start++;
        }
        while (i > start && audit_is_blank(set->text[i - 1])) {
            i--;
        }

        if (i == start || set->text[start] == '#') {
            continue;
        }

        if (i - start > AUDIT_IDSET_MAX_ID) {
            snprintf(err, errlen, "an id is longer than %d bytes",
                     AUDIT_IDSET_MAX_ID);
            audit_idset_free(set);
            return NULL;
        }

        set->ids[set->n].data = set->text + start;
        set->ids[set->n].len = i - start;
        set->n++;
    }

    qsort(set->ids, set->n, sizeof(audit_id_t), audit_id_cmp);

    return set;

nomem:

    snprintf(err, errlen, "out of memory");
    audit_idset_free(set);
    return NULL;
}


audit_idset_t *
audit_idset_load(const char *path, char *err, size_t errlen)
{
    size_t          len;
    unsigned char  *text;
    audit_idset_t  *set;

    text = audit_file_read(path, AUDIT_IDSET_MAX_FILE, &len, err, errlen);
    if (text == NULL) {
        return NULL;
    }

    set = audit_idset_parse((const char *) text, len, err, errlen);

    free(text);

    return set;
}


void
audit_idset_free(audit_idset_t *set)
{
    if (set == NULL) {
        return;
    }

    free(set->text);
    free(set->ids);
    free(set);
}


size_t
audit_idset_size(const audit_idset_t *set)
{
    return set ? set->n : 0;
}


int
audit_idset_contains(const audit_idset_t *set, const char *id, size_t len)
{
    audit_id_t  key;

    if (set == NULL || set->n == 0 || id == NULL) {
        return 0;
    }

    key.data = id;
    key.len = len;

    return bsearch(&key, set->ids, set->n, sizeof(audit_id_t), audit_id_cmp)
           != NULL;
}


/* orders by length first: cheaper than a full compare and still total */

static int
audit_id_cmp(const void *a, const void *b)
{
    const audit_id_t  *x = a, *y = b;

    if (x->len != y->len) {
        return x->len < y->len ? -1 : 1;
    }

    return memcmp(x->data, y->data, x->len);
}


static int
audit_is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}
