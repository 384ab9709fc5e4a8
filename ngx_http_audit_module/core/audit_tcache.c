
/*
 * A worker-local cache of verified sessions (see audit_tcache.h).
 *
 * Chained hash table plus an LRU list; each entry is one allocation
 * holding the token's bytes and the identity strings.
 */


#include <stdlib.h>
#include <string.h>

#include "audit_tcache.h"


typedef struct audit_tcache_entry_s  audit_tcache_entry_t;

struct audit_tcache_entry_s {
    audit_tcache_entry_t     *next;        /* bucket chain */
    audit_tcache_entry_t     *lru_prev;
    audit_tcache_entry_t     *lru_next;
    uint64_t                  hash;
    uintptr_t                 profile;
    unsigned                  generation;
    size_t                    len;
    audit_tcache_identity_t   id;
    char                     *token;
};


struct audit_tcache_s {
    audit_tcache_entry_t    **buckets;
    size_t                    mask;
    size_t                    n;
    size_t                    capacity;
    audit_tcache_entry_t     *lru_head;    /* most recently used */
    audit_tcache_entry_t     *lru_tail;
};


static uint64_t audit_tcache_hash(const char *token, size_t len);
static audit_tcache_entry_t **audit_tcache_slot(audit_tcache_t *c,
    uint64_t hash, uintptr_t profile, const char *token, size_t len);
static void audit_tcache_unlink(audit_tcache_t *c, audit_tcache_entry_t *e);
static void audit_tcache_push_head(audit_tcache_t *c,
    audit_tcache_entry_t *e);
static void audit_tcache_remove(audit_tcache_t *c, audit_tcache_entry_t *e);


audit_tcache_t *
audit_tcache_create(size_t capacity)
{
    size_t           nb;
    audit_tcache_t  *c;

    if (capacity == 0) {
        return NULL;
    }

    for (nb = 1; nb < capacity; nb <<= 1) {
        /* void */
    }

    c = calloc(1, sizeof(audit_tcache_t));
    if (c == NULL) {
        return NULL;
    }

    c->buckets = calloc(nb, sizeof(audit_tcache_entry_t *));
    if (c->buckets == NULL) {
        free(c);
        return NULL;
    }

    c->mask = nb - 1;
    c->capacity = capacity;

    return c;
}


void
audit_tcache_free(audit_tcache_t *c)
{
    if (c == NULL) {
        return;
    }

    while (c->lru_head) {
        audit_tcache_remove(c, c->lru_head);
    }

    free(c->buckets);
    free(c);
}


const audit_tcache_identity_t *
audit_tcache_get(audit_tcache_t *c, uintptr_t profile, unsigned generation,
    long long now, long long leeway, const char *token, size_t len)
{
    uint64_t               hash;
    audit_tcache_entry_t  *e, **slot;

    if (c == NULL || len == 0 || len > AUDIT_TCACHE_MAX_TOKEN) {
        return NULL;
    }

    hash = audit_tcache_hash(token, len);

    slot = audit_tcache_slot(c, hash, profile, token, len);
    e = *slot;

    if (e == NULL) {
        return NULL;
    }

    /* keys swapped or the session has run out: verify afresh */

    if (e->generation != generation || now > e->id.exp + leeway) {
        audit_tcache_remove(c, e);
        return NULL;
    }

    audit_tcache_unlink(c, e);
    audit_tcache_push_head(c, e);

    return &e->id;
}


int
audit_tcache_put(audit_tcache_t *c, uintptr_t profile, unsigned generation,
    const char *token, size_t len, const audit_tcache_identity_t *id)
{
    char                  *p;
    size_t                 ulen, rlen, slen;
    uint64_t               hash;
    audit_tcache_entry_t  *e, **slot;

    if (c == NULL || len == 0 || len > AUDIT_TCACHE_MAX_TOKEN) {
        return -1;
    }

    hash = audit_tcache_hash(token, len);

    slot = audit_tcache_slot(c, hash, profile, token, len);
    if (*slot) {
        audit_tcache_remove(c, *slot);
    }

    if (c->n >= c->capacity) {
        audit_tcache_remove(c, c->lru_tail);
    }

    ulen = strlen(id->user_id) + 1;
    rlen = strlen(id->roles) + 1;
    slen = strlen(id->session_id) + 1;

    e = malloc(sizeof(audit_tcache_entry_t) + len + ulen + rlen + slen);
    if (e == NULL) {
        return -1;
    }

    p = (char *) (e + 1);

    e->token = p;
    memcpy(p, token, len);
    p += len;

    e->id.user_id = memcpy(p, id->user_id, ulen);
    p += ulen;
    e->id.roles = memcpy(p, id->roles, rlen);
    p += rlen;
    e->id.session_id = memcpy(p, id->session_id, slen);

    e->id.exp = id->exp;
    e->hash = hash;
    e->profile = profile;
    e->generation = generation;
    e->len = len;

    /* the removals above may have emptied the slot's chain position */
    slot = &c->buckets[hash & c->mask];
    e->next = *slot;
    *slot = e;

    audit_tcache_push_head(c, e);
    c->n++;

    return 0;
}


size_t
audit_tcache_size(const audit_tcache_t *c)
{
    return c ? c->n : 0;
}


/*
 * FNV-1a over the token's last 64 bytes and its length: the tail is the
 * signature, which differs between any two tokens, and only verified
 * tokens get in, so nobody can choose colliding entries.
 */

static uint64_t
audit_tcache_hash(const char *token, size_t len)
{
    size_t    i, start;
    uint64_t  h;

    h = 14695981039346656037ULL ^ (uint64_t) len;
    start = len > 64 ? len - 64 : 0;

    for (i = start; i < len; i++) {
        h ^= (unsigned char) token[i];
        h *= 1099511628211ULL;
    }

    return h;
}


/* the chain link that points at the matching entry, or at the NULL end */

static audit_tcache_entry_t **
audit_tcache_slot(audit_tcache_t *c, uint64_t hash, uintptr_t profile,
    const char *token, size_t len)
{
    audit_tcache_entry_t  **slot;

    for (slot = &c->buckets[hash & c->mask]; *slot; slot = &(*slot)->next) {

        if ((*slot)->hash == hash && (*slot)->profile == profile
            && (*slot)->len == len
            && memcmp((*slot)->token, token, len) == 0)
        {
            break;
        }
    }

    return slot;
}


static void
audit_tcache_unlink(audit_tcache_t *c, audit_tcache_entry_t *e)
{
    if (e->lru_prev) {
        e->lru_prev->lru_next = e->lru_next;

    } else {
        c->lru_head = e->lru_next;
    }

    if (e->lru_next) {
        e->lru_next->lru_prev = e->lru_prev;

    } else {
        c->lru_tail = e->lru_prev;
    }

    e->lru_prev = NULL;
    e->lru_next = NULL;
}


static void
audit_tcache_push_head(audit_tcache_t *c, audit_tcache_entry_t *e)
{
    e->lru_prev = NULL;
    e->lru_next = c->lru_head;

    if (c->lru_head) {
        c->lru_head->lru_prev = e;

    } else {
        c->lru_tail = e;
    }

    c->lru_head = e;
}


static void
audit_tcache_remove(audit_tcache_t *c, audit_tcache_entry_t *e)
{
    audit_tcache_entry_t  **slot;

    for (slot = &c->buckets[e->hash & c->mask]; *slot != e;
         slot = &(*slot)->next)
    {
        /* void */
    }

    *slot = e->next;

    audit_tcache_unlink(c, e);
    c->n--;

    free(e);
}
