
/*
 * ngx_http_audit_module: reading a ring (ngx_http_audit_ring.c): the walk
 * over what its sinks have not taken, checked entry by entry, for the
 * adoption of a dead worker's ring and for the snapshots on disk.
 */


#include "ngx_http_audit_ring_int.h"


static ngx_http_audit_ring_entry_t *ngx_http_audit_ring_entry(
    ngx_http_audit_ring_sh_t *sh, ngx_http_audit_ring_shm_t *r,
    uint64_t pos);
static ngx_uint_t ngx_http_audit_ring_whole(ngx_http_audit_ring_sh_t *sh,
    ngx_http_audit_ring_shm_t *r, ngx_http_audit_ring_entry_t *e);
static void ngx_http_audit_ring_tally(void *data,
    ngx_http_audit_ring_shm_t *r, uint64_t pos, u_char *line, size_t len);


/* the lowest cursor of the sinks that take from the ring */

uint64_t
ngx_http_audit_ring_low(ngx_http_audit_ring_shm_t *r)
{
    uint64_t    low;
    ngx_uint_t  s;

    low = r->head;

    for (s = 0; s < NGX_HTTP_AUDIT_RING_SINKS; s++) {
        if ((r->want & ((ngx_uint_t) 1 << s)) && r->cursor[s] < low) {
            low = r->cursor[s];
        }
    }

    return low;
}


static ngx_http_audit_ring_entry_t *
ngx_http_audit_ring_entry(ngx_http_audit_ring_sh_t *sh,
    ngx_http_audit_ring_shm_t *r, uint64_t pos)
{
    return (ngx_http_audit_ring_entry_t *)
           (ngx_http_audit_ring_data(r) + (size_t) (pos % sh->size));
}


/* committed, and a line that fits where it is */

static ngx_uint_t
ngx_http_audit_ring_whole(ngx_http_audit_ring_sh_t *sh,
    ngx_http_audit_ring_shm_t *r, ngx_http_audit_ring_entry_t *e)
{
    size_t  off;

    off = (u_char *) e - ngx_http_audit_ring_data(r);

    return (e->tag & NGX_HTTP_AUDIT_RING_COMMIT) && e->len
           && off + sizeof(ngx_http_audit_ring_entry_t) + e->len <= sh->size;
}


/*
 * Walks from the lowest cursor to the head.  Every entry there was
 * committed before the head moved; anything else is damage and ends the
 * walk, counted.  The entry at the head is the one being written when
 * the owner died: committed (only the head had not moved), it is visited
 * and the head moves past it; else it is skipped, counted, and marked so
 * that it is never read as an event.
 */

uint64_t
ngx_http_audit_ring_walk(ngx_http_audit_ring_sh_t *sh,
    ngx_http_audit_ring_shm_t *r, ngx_http_audit_ring_visit_pt visit,
    void *data, ngx_uint_t *damaged)
{
    uint64_t                      pos;
    ngx_http_audit_ring_entry_t  *e;

    *damaged = 0;

    for (pos = ngx_http_audit_ring_low(r); pos < r->head; /* void */) {
        e = ngx_http_audit_ring_entry(sh, r, pos);

        if (e->len == NGX_HTTP_AUDIT_RING_WRAP) {
            pos += sh->size - (size_t) (pos % sh->size);
            continue;
        }

        if (!ngx_http_audit_ring_whole(sh, r, e)) {
            (*damaged)++;
            return pos;
        }

        visit(data, r, pos, (u_char *) (e + 1), e->len);

        pos += sizeof(ngx_http_audit_ring_entry_t) + ngx_align(e->len, 8);
    }

    return pos;
}


/* the entry at the head, when its owner is dead: see above */

void
ngx_http_audit_ring_head(ngx_http_audit_ring_sh_t *sh,
    ngx_http_audit_ring_shm_t *r, ngx_http_audit_ring_visit_pt visit,
    void *data, ngx_uint_t *damaged)
{
    ngx_http_audit_ring_entry_t  *e;

    /* sizes and offsets are multiples of 8: a header fits at any head */

    e = ngx_http_audit_ring_entry(sh, r, r->head);

    if ((e->tag & NGX_HTTP_AUDIT_RING_NUMBER)
        != ngx_http_audit_ring_number(r->entries)
        || e->len == NGX_HTTP_AUDIT_RING_WRAP)
    {
        return;
    }

    if (ngx_http_audit_ring_whole(sh, r, e)) {
        visit(data, r, r->head, (u_char *) (e + 1), e->len);
        r->head += sizeof(ngx_http_audit_ring_entry_t) + ngx_align(e->len, 8);
        r->entries++;
        return;
    }

    (*damaged)++;
    e->len = NGX_HTTP_AUDIT_RING_WRAP;
    e->tag = NGX_HTTP_AUDIT_RING_COMMIT;
    r->entries++;
}


/* for a snapshot: how many lines each sink lacks, which chain, which seqs */

void
ngx_http_audit_ring_count(ngx_http_audit_ring_sh_t *sh,
    ngx_http_audit_ring_shm_t *r, ngx_http_audit_ring_outstanding_t *o)
{
    ngx_uint_t  damaged;

    ngx_memzero(o, sizeof(ngx_http_audit_ring_outstanding_t));

    (void) ngx_http_audit_ring_walk(sh, r, ngx_http_audit_ring_tally, o,
                                    &damaged);
}


static void
ngx_http_audit_ring_tally(void *data, ngx_http_audit_ring_shm_t *r,
    uint64_t pos, u_char *line, size_t len)
{
    ngx_http_audit_ring_outstanding_t *o = data;

    u_char      *p, *last;
    ngx_uint_t   s;

    for (s = 0; s < NGX_HTTP_AUDIT_RING_SINKS; s++) {
        if ((r->want & ((ngx_uint_t) 1 << s)) && pos >= r->cursor[s]) {
            o->sink[s]++;
        }
    }

    /*
     * ,"seq": and "producer":" cannot occur inside a JSON string of the
     * line, where every quote is escaped
     */

    last = line + len;

    p = ngx_strlcasestrn(line, last, (u_char *) ",\"seq\":", 7 - 1);
    if (p) {
        p += 7;
        o->last = 0;

        while (p < last && *p >= '0' && *p <= '9') {
            o->last = o->last * 10 + (*p++ - '0');
        }
    }

    if (o->events++ == 0) {
        o->first = o->last;

        p = ngx_strlcasestrn(line, last, (u_char *) "\"producer\":\"",
                             12 - 1);
        if (p) {
            o->producer.data = p + 12;

            for (p += 12; p < last && *p != '"'; p++) { /* void */ }

            o->producer.len = p - o->producer.data;
        }
    }
}
