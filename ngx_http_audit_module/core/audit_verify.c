
/*
 * The offline verifier (see audit_verify.h): lines are parsed with
 * jansson into a compact entry per event, grouped by producer; finish()
 * sorts each producer's entries by seq and walks them once.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "audit_int.h"
#include "audit_verify.h"
#include "audit_verify_json.h"


#define AUDIT_VERIFY_BUCKETS  256


typedef struct {
    unsigned long long   seq;
    unsigned long long   ts_ms;
    unsigned char        hash[32];
    unsigned char        prev[32];
    int                  has_prev;
    int                  bad_checkpoint;  /* a malformed member */
    audit_checkpoint_t  *checkpoint;
} audit_verify_entry_t;


typedef struct {
    char                  *name;
    size_t                 len;
    audit_verify_entry_t  *entries;
    size_t                 n;
    size_t                 room;
    unsigned long long     named_seq;     /* the last seq another chain's
                                             first event names ("after") */
    int                    named;
} audit_verify_producer_t;


typedef struct {
    audit_checkpoint_key_t  *key;
    unsigned long long       from_ms;         /* valid_from <= ts */
    unsigned long long       until_ms;        /* ts < valid_until */
} audit_verify_key_t;


struct audit_verify_s {
    audit_verify_producer_t  **producers;     /* open addressing */
    size_t                     buckets;
    size_t                     count;
    audit_verify_key_t        *keys;
    size_t                     nkeys;
    unsigned long long         malformed;
    unsigned long long         any_interval_ms; /* the longest any
                                                   checkpoint names */
    unsigned long long         as_of_ms;      /* 0: the log's own end */
};


static int audit_verify_after(audit_verify_t *v, const char *after,
    size_t len);
static audit_verify_producer_t *audit_verify_producer(audit_verify_t *v,
    const char *name, size_t len);
static int audit_verify_grow(audit_verify_t *v);
static size_t audit_verify_hash(const char *name, size_t len);
static int audit_verify_cmp_entry(const void *a, const void *b);
static int audit_verify_cmp_producer(const void *a, const void *b);
static void audit_verify_chain(audit_verify_t *v,
    audit_verify_producer_t *p, int allow_open, audit_verify_report_t *r);
static void audit_verify_problem(audit_verify_report_t *r,
    unsigned long long *counter, unsigned long long n,
    unsigned long long seq);
static void audit_verify_silent(audit_verify_t *v,
    audit_verify_producer_t *p, audit_verify_report_t *r, size_t from,
    unsigned long long interval_ms);
static const audit_checkpoint_key_t *audit_verify_key(audit_verify_t *v,
    const char *kid, unsigned long long ts_ms);


audit_verify_t *
audit_verify_new(void)
{
    audit_verify_t  *v;

    v = calloc(1, sizeof(audit_verify_t));
    if (v == NULL) {
        return NULL;
    }

    v->buckets = AUDIT_VERIFY_BUCKETS;
    v->producers = calloc(v->buckets, sizeof(audit_verify_producer_t *));

    if (v->producers == NULL) {
        free(v);
        return NULL;
    }

    return v;
}


void
audit_verify_free(audit_verify_t *v)
{
    size_t                    i, j;
    audit_verify_producer_t  *p;

    if (v == NULL) {
        return;
    }

    for (i = 0; i < v->buckets; i++) {
        p = v->producers[i];

        if (p == NULL) {
            continue;
        }

        for (j = 0; j < p->n; j++) {
            free(p->entries[j].checkpoint);
        }

        free(p->entries);
        free(p->name);
        free(p);
    }

    for (i = 0; i < v->nkeys; i++) {
        audit_checkpoint_key_free(v->keys[i].key);
    }

    free(v->keys);
    free(v->producers);
    free(v);
}


int
audit_verify_add_key(audit_verify_t *v, audit_checkpoint_key_t *key)
{
    return audit_verify_add_key_valid(v, key, 0, AUDIT_VERIFY_FOREVER);
}


int
audit_verify_add_key_valid(audit_verify_t *v, audit_checkpoint_key_t *key,
    unsigned long long from_ms, unsigned long long until_ms)
{
    audit_verify_key_t  *keys;

    if (key == NULL) {
        return -1;
    }

    keys = realloc(v->keys, (v->nkeys + 1) * sizeof(*keys));
    if (keys == NULL) {
        audit_checkpoint_key_free(key);
        return -1;
    }

    keys[v->nkeys].key = key;
    keys[v->nkeys].from_ms = from_ms;
    keys[v->nkeys].until_ms = until_ms;
    v->nkeys++;
    v->keys = keys;

    return 0;
}


void
audit_verify_as_of(audit_verify_t *v, unsigned long long as_of_ms)
{
    v->as_of_ms = as_of_ms;
}


unsigned long long
audit_verify_malformed(const audit_verify_t *v)
{
    return v->malformed;
}


int
audit_verify_line(audit_verify_t *v, const char *line, size_t len)
{
    int                       rc;
    json_t                   *root, *producer, *seq, *prev, *ts, *cp,
                             *after;
    json_int_t                s;
    unsigned long long        ts_ms;
    json_error_t              err;
    audit_verify_entry_t     *e, *entries;
    audit_verify_producer_t  *p;

    if (len && line[len - 1] == '\n') {
        len--;
    }

    if (len && line[len - 1] == '\r') {
        len--;
    }

    if (len == 0) {
        return 1;
    }

    root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &err);

    if (!json_is_object(root)) {
        json_decref(root);
        v->malformed++;
        return -1;
    }

    /*
     * Every event the module writes is chained: a line without a
     * producer (an event added by hand, or an "action" with the chain
     * members cut off) is no event of any chain
     */
    producer = json_object_get(root, "producer");

    seq = json_object_get(root, "seq");
    prev = json_object_get(root, "prev");
    ts = json_object_get(root, "ts");
    cp = json_object_get(root, "checkpoint");
    s = json_is_integer(seq) ? json_integer_value(seq) : -1;

    if (!json_is_string(producer) || json_string_length(producer) == 0
        || s < 0
        || !(json_is_null(prev)
             || (json_is_string(prev) && json_string_length(prev) == 64))
        || !json_is_string(ts)
        || audit_verify_ts(json_string_value(ts), &ts_ms) != 0)
    {
        json_decref(root);
        v->malformed++;
        return -1;
    }

    rc = -2;

    p = audit_verify_producer(v, json_string_value(producer),
                              json_string_length(producer));
    if (p == NULL) {
        goto done;
    }

    if (p->n == p->room) {
        p->room = p->room ? 2 * p->room : 64;
        entries = realloc(p->entries, p->room * sizeof(*entries));

        if (entries == NULL) {
            goto done;
        }

        p->entries = entries;
    }

    e = &p->entries[p->n];
    memset(e, 0, sizeof(*e));
    e->seq = (unsigned long long) s;
    e->ts_ms = ts_ms;

    if (json_is_string(prev)) {
        e->has_prev = 1;

        if (audit_verify_unhex(json_string_value(prev), e->prev, 32) != 0) {
            /* unlike any SHA-256 in hex: a broken link */
            memset(e->prev, 0, 32);
        }
    }

    if (EVP_Digest(line, len, e->hash, NULL, EVP_sha256(), NULL) != 1) {
        goto done;
    }

    if (cp != NULL || audit_verify_is(root, "action", "checkpoint")) {
        e->checkpoint = malloc(sizeof(audit_checkpoint_t));
        if (e->checkpoint == NULL) {
            goto done;
        }

        if (audit_verify_checkpoint(root, cp, ts_ms, e->checkpoint) != 0)
        {
            free(e->checkpoint);
            e->checkpoint = NULL;
            e->bad_checkpoint = 1;

        } else {
            e->checkpoint->producer.data = p->name;
            e->checkpoint->producer.len = p->len;

            if (e->checkpoint->interval_ms > v->any_interval_ms) {
                v->any_interval_ms = e->checkpoint->interval_ms;
            }
        }
    }

    p->n++;
    rc = 0;

    /*
     * the first event of a chain names the chain it follows, as
     * "producer:seq": that chain, up to that seq, must be here too, or a
     * whole chain (a worker's events before a reload) was deleted
     */

    after = json_object_get(root, "after");

    if (s == 0 && json_is_string(after)
        && audit_verify_after(v, json_string_value(after),
                              json_string_length(after))
           != 0)
    {
        rc = -2;
    }

done:

    json_decref(root);

    return rc;
}


/* "producer:seq" named by a chain's first event; -1 on OOM, 0 else (a
 * value of another shape is not checked) */

static int
audit_verify_after(audit_verify_t *v, const char *after, size_t len)
{
    size_t                    i, colon;
    unsigned long long        seq;
    audit_verify_producer_t  *q;

    for (colon = len; colon > 0 && after[colon - 1] != ':'; colon--) {
        /* void */
    }

    if (colon < 2 || colon == len || len - colon > 19) {
        return 0;
    }

    seq = 0;

    for (i = colon; i < len; i++) {
        if (after[i] < '0' || after[i] > '9') {
            return 0;
        }

        seq = seq * 10 + (unsigned long long) (after[i] - '0');
    }

    q = audit_verify_producer(v, after, colon - 1);
    if (q == NULL) {
        return -1;
    }

    if (!q->named || seq > q->named_seq) {
        q->named_seq = seq;
        q->named = 1;
    }

    return 0;
}


/* the producer's entry list, made at its first line */

static audit_verify_producer_t *
audit_verify_producer(audit_verify_t *v, const char *name, size_t len)
{
    size_t                    i, h;
    audit_verify_producer_t  *p;

    h = audit_verify_hash(name, len);

    for (i = h % v->buckets; v->producers[i]; i = (i + 1) % v->buckets) {
        p = v->producers[i];

        if (p->len == len && memcmp(p->name, name, len) == 0) {
            return p;
        }
    }

    if (2 * (v->count + 1) > v->buckets) {
        if (audit_verify_grow(v) != 0) {
            return NULL;
        }

        return audit_verify_producer(v, name, len);
    }

    p = calloc(1, sizeof(audit_verify_producer_t));
    if (p == NULL) {
        return NULL;
    }

    p->name = malloc(len + 1);
    if (p->name == NULL) {
        free(p);
        return NULL;
    }

    memcpy(p->name, name, len);
    p->name[len] = '\0';
    p->len = len;

    v->producers[i] = p;
    v->count++;

    return p;
}


static int
audit_verify_grow(audit_verify_t *v)
{
    size_t                     i, j, h, buckets;
    audit_verify_producer_t  **old, *p;

    buckets = 2 * v->buckets;
    old = v->producers;

    v->producers = calloc(buckets, sizeof(audit_verify_producer_t *));
    if (v->producers == NULL) {
        v->producers = old;
        return -1;
    }

    for (i = 0; i < v->buckets; i++) {
        p = old[i];

        if (p == NULL) {
            continue;
        }

        h = audit_verify_hash(p->name, p->len);

        for (j = h % buckets; v->producers[j]; j = (j + 1) % buckets) {
            /* void */
        }

        v->producers[j] = p;
    }

    v->buckets = buckets;
    free(old);

    return 0;
}


/* FNV-1a */

static size_t
audit_verify_hash(const char *name, size_t len)
{
    size_t  i, h;

    h = 2166136261u;

    for (i = 0; i < len; i++) {
        h = (h ^ (unsigned char) name[i]) * 16777619u;
    }

    return h;
}


long
audit_verify_finish(audit_verify_t *v, int allow_open,
    audit_verify_report_pt report, void *data)
{
    long                       bad;
    size_t                     i, n;
    audit_verify_report_t      r;
    audit_verify_producer_t  **list;

    list = malloc((v->count + 1) * sizeof(*list));
    if (list == NULL) {
        return -1;
    }

    for (i = 0, n = 0; i < v->buckets; i++) {
        if (v->producers[i]) {
            list[n++] = v->producers[i];
        }
    }

    qsort(list, n, sizeof(*list), audit_verify_cmp_producer);

    bad = 0;

    for (i = 0; i < n; i++) {
        audit_verify_chain(v, list[i], allow_open, &r);

        if (!r.ok) {
            bad++;
        }

        if (report) {
            report(&r, data);
        }
    }

    free(list);

    return bad;
}


static int
audit_verify_cmp_producer(const void *a, const void *b)
{
    const audit_verify_producer_t  *pa, *pb;

    pa = *(audit_verify_producer_t * const *) a;
    pb = *(audit_verify_producer_t * const *) b;

    return strcmp(pa->name, pb->name);
}


static int
audit_verify_cmp_entry(const void *a, const void *b)
{
    const audit_verify_entry_t  *ea = a, *eb = b;

    if (ea->seq != eb->seq) {
        return ea->seq < eb->seq ? -1 : 1;
    }

    return memcmp(ea->hash, eb->hash, 32);
}


/*
 * One walk in seq order.  "clean" stays set while nothing is wrong from
 * seq 0 on; a valid checkpoint then moves the verified mark to what it
 * covers.  Every checkpoint, valid or not, is what the next one must
 * name (prev_sig).
 */

static void
audit_verify_chain(audit_verify_t *v, audit_verify_producer_t *p,
    int allow_open, audit_verify_report_t *r)
{
    int                            clean, good;
    size_t                         i, verified_at;
    unsigned long long             expect, verified_at_seq, verified_ivl;
    audit_checkpoint_t            *c;
    audit_verify_entry_t          *e, *prev;
    const audit_checkpoint_t      *last;
    const audit_checkpoint_key_t  *key;

    if (p->n) {
        /* a chain only named by another has no entries */
        qsort(p->entries, p->n, sizeof(*p->entries), audit_verify_cmp_entry);
    }

    memset(r, 0, sizeof(*r));
    r->producer = p->name;
    r->verified_seq = -1;
    r->first_problem = -1;
    r->first_seq = p->n ? p->entries[0].seq : 0;

    clean = 1;
    expect = 0;
    prev = NULL;
    last = NULL;
    verified_at_seq = 0;
    verified_at = 0;
    verified_ivl = 0;

    for (i = 0; i < p->n; i++) {
        e = &p->entries[i];

        if (prev && e->seq == prev->seq) {
            if (memcmp(e->hash, prev->hash, 32) != 0) {
                audit_verify_problem(r, &r->conflicts, 1, e->seq);
                clean = 0;
            }

            /* the same line twice (two copies of a file): harmless */
            continue;
        }

        r->events++;

        if (e->seq != expect) {
            audit_verify_problem(r, &r->missing, e->seq - expect, expect);
            clean = 0;

        } else if (e->seq == 0 ? e->has_prev
                   : (!e->has_prev || memcmp(e->prev, prev->hash, 32) != 0))
        {
            audit_verify_problem(r, &r->broken_links, 1, e->seq);
            clean = 0;
        }

        if (e->bad_checkpoint) {
            r->checkpoints++;
            audit_verify_problem(r, &r->bad_signatures, 1, e->seq);
            clean = 0;

        } else if (e->checkpoint) {
            c = e->checkpoint;
            r->checkpoints++;
            good = 1;

            key = audit_verify_key(v, c->kid, c->ts_ms);

            if (key == NULL) {
                audit_verify_problem(r, &r->unknown_keys, 1, e->seq);
                good = 0;

            } else if (!audit_checkpoint_verify(key, c)) {
                audit_verify_problem(r, &r->bad_signatures, 1, e->seq);
                good = 0;
            }

            /* it covers the event just before it, whose line is its head */

            if (e->seq == 0 || c->seq != e->seq - 1 || !e->has_prev
                || memcmp(e->prev, c->head, 32) != 0
                || (prev && prev->seq == c->seq
                    && memcmp(prev->hash, c->head, 32) != 0))
            {
                audit_verify_problem(r, &r->rewritten, 1, c->seq);
                good = 0;
            }

            if (last) {
                if (!c->has_prev_sig
                    || memcmp(c->prev_sig, last->sig, sizeof(c->sig)) != 0)
                {
                    audit_verify_problem(r, &r->checkpoint_links, 1, e->seq);
                    good = 0;

                } else if (c->count != c->seq - (last->seq + 1)) {
                    audit_verify_problem(r, &r->rewritten, 1, e->seq);
                    good = 0;
                }

                if (c->ts_ms > last->ts_ms + 2 * last->interval_ms) {
                    audit_verify_problem(r, &r->missing_intervals, 1,
                                         e->seq);
                    good = 0;
                }

            } else if (c->has_prev_sig || c->count != c->seq + 1) {
                /* the chain's first checkpoint names one not here */
                audit_verify_problem(r, &r->checkpoint_links, 1, e->seq);
                good = 0;
            }

            if (!good) {
                clean = 0;

            } else if (clean) {
                r->verified_seq = (long long) c->seq;
                r->verified_ts_ms = c->ts_ms;
                verified_at_seq = e->seq;
                verified_at = i;
                verified_ivl = c->interval_ms;
            }

            last = c;
        }

        expect = e->seq + 1;
        prev = e;
    }

    r->last_seq = prev ? prev->seq : 0;

    /* a later chain names events of this one that are not here */

    if (p->named && (prev == NULL || p->named_seq > prev->seq)) {
        audit_verify_problem(r, &r->missing,
                             p->named_seq + 1 - (prev ? prev->seq + 1 : 0),
                             prev ? prev->seq + 1 : 0);
    }

    if (r->verified_seq < 0) {
        r->unsigned_tail = r->events;

    } else {
        r->unsigned_tail = r->last_seq - verified_at_seq;
    }

    r->closed = r->verified_seq >= 0 && r->unsigned_tail == 0
                && last != NULL && last->final;

    if (!r->closed) {
        if (r->verified_seq >= 0) {
            audit_verify_silent(v, p, r, verified_at + 1, verified_ivl);

        } else if (r->checkpoints == 0) {
            audit_verify_silent(v, p, r, 0, v->any_interval_ms);
        }

        /* else a checkpoint is there and failed: reported already */
    }

    r->ok = r->first_problem < 0 && (r->closed || allow_open);
}


/*
 * An open chain's unsigned events: signed at most one interval after the
 * checkpoint before them, and that one no later than two intervals after
 * it.  An unsigned event later than that, or (with no checkpoint at all:
 * from = 0) a chain spanning more than one interval, had its checkpoints
 * removed, or is forged.  With an as-of time (audit.verify_checkpoints()'s
 * as_of), the oldest unsigned event, or the checkpoint when there is
 * none, must be younger than two intervals then.  The interval of a chain
 * with no checkpoint is the longest any checkpoint names; none known: 0.
 */

static void
audit_verify_silent(audit_verify_t *v, audit_verify_producer_t *p,
    audit_verify_report_t *r, size_t from, unsigned long long interval_ms)
{
    size_t                 i;
    unsigned long long     base, limit;
    audit_verify_entry_t  *e;

    if (from == 0) {
        if (p->n == 0) {
            return;
        }

        for (i = 0, base = p->entries[0].ts_ms; i < p->n; i++) {
            if (p->entries[i].ts_ms < base) {
                base = p->entries[i].ts_ms;
            }
        }

        limit = base + interval_ms;

    } else {
        base = r->verified_ts_ms;
        limit = base + 2 * interval_ms;
    }

    for (i = from; i < p->n; i++) {
        e = &p->entries[i];

        if (e->ts_ms > limit) {
            audit_verify_problem(r, &r->missing_intervals, 1, e->seq);
            return;
        }
    }

    if (v->as_of_ms == 0) {
        return;
    }

    if (from != 0 && from < p->n) {
        for (i = from, base = p->entries[from].ts_ms; i < p->n; i++) {
            if (p->entries[i].ts_ms < base) {
                base = p->entries[i].ts_ms;
            }
        }
    }

    if (v->as_of_ms > base + 2 * interval_ms) {
        audit_verify_problem(r, &r->missing_intervals, 1,
                             from < p->n ? p->entries[from].seq
                                         : r->last_seq + 1);
    }
}


static void
audit_verify_problem(audit_verify_report_t *r, unsigned long long *counter,
    unsigned long long n, unsigned long long seq)
{
    *counter += n;

    if (r->first_problem < 0 || (long long) seq < r->first_problem) {
        r->first_problem = (long long) seq;
    }
}


/* the key of kid valid at ts_ms (from <= ts < until) */

static const audit_checkpoint_key_t *
audit_verify_key(audit_verify_t *v, const char *kid, unsigned long long ts_ms)
{
    size_t               i;
    audit_verify_key_t  *k;

    for (i = 0; i < v->nkeys; i++) {
        k = &v->keys[i];

        if (strcmp(audit_checkpoint_key_id(k->key), kid) == 0
            && k->from_ms <= ts_ms && ts_ms < k->until_ms)
        {
            return k->key;
        }
    }

    return NULL;
}
