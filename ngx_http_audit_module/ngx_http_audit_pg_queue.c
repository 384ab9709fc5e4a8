
/*
 * ngx_http_audit_module: the PostgreSQL shipper's queue side: what a
 * worker holds for PostgreSQL, as COPY text rows, and its batches (the
 * libpq state machine that sends them is ngx_http_audit_pg.c).
 *
 * With audit_ring every event the worker holds is also in its ring in
 * shared memory, and the ring's PostgreSQL cursor stays at the first of
 * them until its batch is committed or spooled; an event that found the
 * ring full goes straight to the spool.
 */


#include "ngx_http_audit_pg.h"


/*
 * One event, as its JSON line without the "\n".  COPY's text format needs
 * only the backslash doubled: JSON has no raw tab, CR or LF in a line.  The
 * row is written straight into the queue when it fits there, else built
 * aside for the spool.
 */

void
ngx_http_audit_pg_enqueue(ngx_http_audit_pg_t *pg,
    ngx_http_audit_record_t *rec)
{
    u_char      *line, *end, row[2 * AUDIT_EVENT_MAX + 1];
    size_t       len;
    ngx_uint_t   spool;

    /* the line without its "\n" */
    line = rec->line;
    len = rec->len - 1;

    /*
     * Behind a backlog in the spool, events join the spool, so they reach
     * PostgreSQL in the order they happened.
     */

    spool = ngx_http_audit_spool_backlog(pg->spool)
            || pg->state == NGX_HTTP_AUDIT_PG_DOWN
            || pg->queued + 2 * len + 1 > pg->conf->queue
            || (rec->ring_start == NGX_HTTP_AUDIT_RING_NONE
                && ngx_http_audit_ring_worker());

    if (spool) {
        end = ngx_http_audit_pg_row(row, line, len);
        ngx_http_audit_spool_append(pg->spool, row, end - row, pg->log);

    } else {
        end = ngx_http_audit_pg_row(pg->queue + pg->queued, line, len);
        pg->queued = end - pg->queue;
        pg->nqueued++;
        ngx_http_audit_pg_hold(pg, 1);

        if (pg->queue_first == NGX_HTTP_AUDIT_RING_NONE) {
            pg->queue_first = rec->ring_start;
        }
    }

    if (rec->ring_end != NGX_HTTP_AUDIT_RING_NONE) {
        pg->ring_taken = rec->ring_end;

        if (spool) {
            ngx_http_audit_pg_ring(pg);
        }
    }

    if (pg->state != NGX_HTTP_AUDIT_PG_IDLE) {
        ngx_http_audit_pg_publish(pg);
        return;
    }

    if (pg->nqueued >= pg->conf->batch) {
        ngx_http_audit_pg_run(pg);
        return;
    }

    /*
     * flush= counts from the oldest queued event: a steady trickle of
     * events must not keep pushing the batch back
     */

    if (pg->timer.timer_set
        && (ngx_msec_int_t) (pg->timer.timer.key - ngx_current_msec)
           <= (ngx_msec_int_t) pg->conf->flush)
    {
        return;
    }

    ngx_http_audit_pg_arm(pg, pg->conf->flush);
}


/*
 * Idle: the next batch is the spool's backlog if there is one, else the
 * queue (when full enough or its time has come).
 */

ngx_int_t
ngx_http_audit_pg_start_batch(ngx_http_audit_pg_t *pg)
{
    u_char  *p;

    if (pg->batch_len == 0) {

        if (ngx_http_audit_spool_backlog(pg->spool)) {
            pg->batch_len = ngx_http_audit_spool_read(pg->spool, pg->batch,
                                                      pg->conf->queue,
                                                      pg->log);
            pg->batch_spooled = 1;

        } else if (pg->queued) {
            p = pg->batch;
            pg->batch = pg->queue;
            pg->queue = p;
            pg->batch_len = pg->queued;
            pg->batch_spooled = 0;
            pg->batch_events = pg->nqueued;
            pg->batch_first = pg->queue_first;
            pg->queued = 0;
            pg->nqueued = 0;
            pg->queue_first = NGX_HTTP_AUDIT_RING_NONE;
        }
    }

    if (pg->batch_len == 0) {

        /* idle and connected: time to adopt files of workers gone */
        ngx_http_audit_spool_scan(pg->spool, pg->log);

        if (ngx_http_audit_spool_backlog(pg->spool)) {
            return NGX_OK;
        }

        ngx_http_audit_pg_arm(pg, pg->queued ? pg->conf->flush : 2000);

        return NGX_AGAIN;
    }

    if (!PQsendQuery(pg->conn, "COPY audit_staging (line) FROM STDIN; "
                               "SELECT audit.ingest()"))
    {
        ngx_http_audit_pg_fail(pg, "sending a batch");
        return NGX_ERROR;
    }

    pg->batch_sent = 0;
    pg->state = NGX_HTTP_AUDIT_PG_COPY;

    ngx_http_audit_pg_arm(pg, NGX_HTTP_AUDIT_PG_TIMEOUT);

    return NGX_OK;
}


void
ngx_http_audit_pg_batch_done(ngx_http_audit_pg_t *pg)
{
    ngx_uint_t  rows;

    if (pg->sh) {
        rows = pg->batch_spooled
               ? ngx_http_audit_pg_rows(pg->batch, pg->batch_len)
               : pg->batch_events;

        (void) ngx_atomic_fetch_add(&pg->sh->pg_rows_sent, rows);
        (void) ngx_atomic_fetch_add(&pg->sh->pg_batches, 1);
    }

    if (pg->batch_spooled) {
        ngx_http_audit_spool_commit(pg->spool, pg->log);
    }

    ngx_http_audit_pg_hold(pg, - (ngx_int_t) pg->batch_events);

    if (!pg->batch_spooled) {
        pg->batch_first = NGX_HTTP_AUDIT_RING_NONE;
        ngx_http_audit_pg_ring(pg);
    }

    pg->batch_len = 0;
    pg->batch_events = 0;
    pg->batch_sent = 0;
    pg->batch_spooled = 0;
    pg->batch_failed = 0;
}


/* this worker's gauges for audit_status */

void
ngx_http_audit_pg_publish(ngx_http_audit_pg_t *pg)
{
    if (pg->stats) {
        pg->stats->pg_state = pg->state;
        pg->stats->queue_bytes = pg->queued + pg->batch_len;
        pg->stats->spool_bytes = ngx_http_audit_spool_size(pg->spool);
    }
}


/*
 * How many events exist only in this worker's memory, kept in its chain's
 * slot in the zone: if the worker dies without exiting, the next worker
 * of the slot counts them as lost (ngx_http_audit_chain_init_process).
 */

void
ngx_http_audit_pg_hold(ngx_http_audit_pg_t *pg, ngx_int_t n)
{
    /* in a ring, nothing dies with the worker */

    if (ngx_http_audit_ring_worker()) {
        return;
    }

    /* the chain's bookkeeping is the chain's (ngx_http_audit_chain.c) */
    ngx_http_audit_chain_hold(pg->amcf, n);
}


/*
 * The ring may let go of what is before the first event held in memory
 * (the batch's, then the queue's), or else of all handed to us so far.
 */

void
ngx_http_audit_pg_ring(ngx_http_audit_pg_t *pg)
{
    uint64_t  pos;

    if (pg->batch_first != NGX_HTTP_AUDIT_RING_NONE) {
        pos = pg->batch_first;

    } else if (pg->queue_first != NGX_HTTP_AUDIT_RING_NONE) {
        pos = pg->queue_first;

    } else {
        pos = pg->ring_taken;
    }

    ngx_http_audit_ring_taken(ngx_http_audit_ring_worker(),
                              NGX_HTTP_AUDIT_RING_PG, pos);
}


/*
 * An event of a dead worker's ring that PostgreSQL had not stored: to the
 * spool at once, without its limit (like the queue at exit), replayed
 * from there; an event stored twice is one row.
 */

void
ngx_http_audit_pg_take(ngx_http_audit_ring_line_t *l)
{
    u_char                         *end, row[2 * AUDIT_EVENT_MAX + 1];
    ngx_http_audit_pg_main_conf_t  *pmcf;

    pmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_audit_pg_module);

    if (pmcf == NULL || pmcf->spool_state == NULL || l->len < 2
        || l->len > AUDIT_EVENT_MAX)
    {
        return;
    }

    end = ngx_http_audit_pg_row(row, l->line, l->len - 1);

    (void) ngx_http_audit_spool_save(pmcf->spool_state, row, end - row,
                                     l->log);

    if (pmcf->pg_state) {
        ngx_http_audit_pg_publish(pmcf->pg_state);
    }
}


/* memchr() finds the rare backslash faster than a loop over every byte */

u_char *
ngx_http_audit_pg_row(u_char *dst, u_char *line, size_t len)
{
    u_char  *bs, *last;

    last = line + len;

    while ((bs = memchr(line, '\\', last - line)) != NULL) {
        dst = ngx_cpymem(dst, line, bs + 1 - line);
        *dst++ = '\\';
        line = bs + 1;
    }

    dst = ngx_cpymem(dst, line, last - line);
    *dst++ = '\n';

    return dst;
}


ngx_uint_t
ngx_http_audit_pg_rows(u_char *p, size_t len)
{
    u_char      *nl, *last;
    ngx_uint_t   rows;

    rows = 0;
    last = p + len;

    while ((nl = memchr(p, '\n', last - p)) != NULL) {
        rows++;
        p = nl + 1;
    }

    return rows;
}
