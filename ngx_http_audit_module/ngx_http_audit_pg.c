
/*
 * ngx_http_audit_module: the PostgreSQL shipper.
 *
 * Each worker holds one libpq connection driven by nginx's event loop:
 * PQconnectStart()/PQconnectPoll(), PQsetnonblocking(), the socket
 * registered as an nginx connection, every libpq call one that cannot
 * block.  Events are queued in memory as COPY text rows; a batch goes as
 * one simple query,
 *
 *     COPY audit_staging (line) FROM STDIN; SELECT audit.ingest()
 *
 * which PostgreSQL runs as one implicit transaction: the rows land
 * together or not at all, and audit.ingest() inserts with ON CONFLICT DO
 * NOTHING, so sending a batch again (after a lost connection, from the
 * spool) never duplicates a row.
 *
 * While PostgreSQL is unreachable, or slower than the events come (the
 * queue is full), events go to the spool (ngx_http_audit_spool.c) and are
 * replayed from it, in order, once the connection is back; on a graceful
 * exit whatever is still queued is spooled for the next workers.
 */


#include "ngx_http_audit_pg.h"
#include "ngx_http_audit_pg_socket.h"

#include <libpq-fe.h>


static void ngx_http_audit_pg_register(ngx_http_audit_pg_t *pg);
static void ngx_http_audit_pg_event_handler(ngx_event_t *ev);
static void ngx_http_audit_pg_timer_handler(ngx_event_t *ev);
static void ngx_http_audit_pg_step(ngx_http_audit_pg_t *pg);
static ngx_int_t ngx_http_audit_pg_poll_connect(ngx_http_audit_pg_t *pg);
static ngx_int_t ngx_http_audit_pg_results(ngx_http_audit_pg_t *pg);
static ngx_int_t ngx_http_audit_pg_copy(ngx_http_audit_pg_t *pg);


ngx_int_t
ngx_http_audit_pg_init_process(ngx_cycle_t *cycle,
    ngx_http_audit_pg_main_conf_t *pmcf)
{
    ngx_http_audit_pg_t         *pg;
    ngx_http_audit_main_conf_t  *amcf;

    /* the zone's counters and this worker's gauges: the audit module's */
    amcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_audit_module);

    pg = ngx_pcalloc(cycle->pool, sizeof(ngx_http_audit_pg_t));
    if (pg == NULL) {
        return NGX_ERROR;
    }

    pg->conf = pmcf->pg;
    pg->spool = pmcf->spool_state;
    pg->log = cycle->log;
    pg->stats = amcf->stats;

    if (amcf->shm_zone) {
        pg->sh = amcf->shm_zone->data;
    }

    pg->amcf = amcf;

    pg->queue = ngx_alloc(pg->conf->queue, cycle->log);
    pg->batch = ngx_alloc(pg->conf->queue, cycle->log);
    if (pg->queue == NULL || pg->batch == NULL) {
        return NGX_ERROR;
    }

    pg->timer.handler = ngx_http_audit_pg_timer_handler;
    pg->timer.data = pg;
    pg->timer.log = cycle->log;
    pg->timer.cancelable = 1;

    pg->backoff = NGX_HTTP_AUDIT_PG_BACKOFF_MIN;

    pg->batch_first = NGX_HTTP_AUDIT_RING_NONE;
    pg->queue_first = NGX_HTTP_AUDIT_RING_NONE;
    pg->ring_taken = NGX_HTTP_AUDIT_RING_NONE;

    pmcf->pg_state = pg;

    ngx_http_audit_pg_connect(pg);

    return NGX_OK;
}


/*
 * A graceful exit: nothing may be lost, and there is no time to wait for
 * PostgreSQL.  The batch on the wire (its commit unknown) and the queue go
 * to the spool; replaying a committed batch adds no row.
 */

void
ngx_http_audit_pg_exit_process(ngx_http_audit_pg_main_conf_t *pmcf)
{
    ngx_http_audit_pg_t  *pg;

    pg = pmcf->pg_state;

    if (pg == NULL) {
        return;
    }

    pg->exiting = 1;

    if (pg->batch_len && !pg->batch_spooled) {
        (void) ngx_http_audit_spool_save(pg->spool, pg->batch, pg->batch_len,
                                         pg->log);
    }

    if (pg->queued) {
        (void) ngx_http_audit_spool_save(pg->spool, pg->queue, pg->queued,
                                         pg->log);
    }

    pg->batch_len = 0;
    pg->queued = 0;

    /* all in the spool: the ring may let go of them */
    pg->batch_first = NGX_HTTP_AUDIT_RING_NONE;
    pg->queue_first = NGX_HTTP_AUDIT_RING_NONE;
    ngx_http_audit_pg_ring(pg);

    ngx_http_audit_pg_close(pg);
    ngx_http_audit_spool_close(pg->spool);

    /* ngx_alloc()ed: the cycle pool that goes next does not know them */

    ngx_free(pg->queue);
    ngx_free(pg->batch);
    pg->queue = NULL;
    pg->batch = NULL;
    pmcf->pg_state = NULL;
}


void
ngx_http_audit_pg_connect(ngx_http_audit_pg_t *pg)
{
    pg->conn = PQconnectStartParams(pg->conf->keywords, pg->conf->values, 0);

    if (pg->conn == NULL) {
        ngx_http_audit_pg_fail(pg, "PQconnectStartParams() failed");
        return;
    }

    if (PQstatus(pg->conn) == CONNECTION_BAD) {
        ngx_http_audit_pg_fail(pg, "connect");
        return;
    }

    pg->state = NGX_HTTP_AUDIT_PG_CONNECTING;

    ngx_http_audit_pg_register(pg);

    if (pg->c == NULL) {
        return;
    }

    ngx_http_audit_pg_arm(pg, NGX_HTTP_AUDIT_PG_TIMEOUT);

    ngx_http_audit_pg_run(pg);
}


/* (re)wraps libpq's socket, which may change while connecting */

static void
ngx_http_audit_pg_register(ngx_http_audit_pg_t *pg)
{
    const char  *failed;

    failed = ngx_http_audit_pg_socket_watch(pg->conn, &pg->c, pg,
                                            ngx_http_audit_pg_event_handler,
                                            pg->log);
    if (failed) {
        ngx_http_audit_pg_fail(pg, failed);
    }
}


static void
ngx_http_audit_pg_event_handler(ngx_event_t *ev)
{
    ngx_connection_t     *c = ev->data;
    ngx_http_audit_pg_t  *pg = c->data;

    ngx_http_audit_pg_run(pg);
}


/*
 * One timer, whose meaning follows the state: reconnect when down, give
 * up on a connect or a batch that takes too long, flush the queue when
 * idle.
 */

static void
ngx_http_audit_pg_timer_handler(ngx_event_t *ev)
{
    ngx_http_audit_pg_t  *pg = ev->data;

    switch (pg->state) {

    case NGX_HTTP_AUDIT_PG_DOWN:
        if (!ngx_exiting && !pg->exiting) {
            ngx_http_audit_pg_connect(pg);
        }
        return;

    case NGX_HTTP_AUDIT_PG_IDLE:
        ngx_http_audit_pg_run(pg);
        return;

    default:
        ngx_http_audit_pg_fail(pg, "timed out");
        return;
    }
}


/* drives the state machine as far as it goes without waiting */

void
ngx_http_audit_pg_run(ngx_http_audit_pg_t *pg)
{
    ngx_http_audit_pg_step(pg);
    ngx_http_audit_pg_publish(pg);
}


static void
ngx_http_audit_pg_step(ngx_http_audit_pg_t *pg)
{
    for ( ;; ) {

        switch (pg->state) {

        case NGX_HTTP_AUDIT_PG_DOWN:
            return;

        case NGX_HTTP_AUDIT_PG_CONNECTING:
            if (ngx_http_audit_pg_poll_connect(pg) != NGX_OK) {
                return;
            }
            break;

        case NGX_HTTP_AUDIT_PG_SETUP:
        case NGX_HTTP_AUDIT_PG_RESULT:
            if (ngx_http_audit_pg_results(pg) != NGX_OK) {
                return;
            }
            break;

        case NGX_HTTP_AUDIT_PG_IDLE:
            if (ngx_http_audit_pg_start_batch(pg) != NGX_OK) {
                return;
            }
            break;

        case NGX_HTTP_AUDIT_PG_COPY:
            if (ngx_http_audit_pg_copy(pg) != NGX_OK) {
                return;
            }
            break;
        }
    }
}


static ngx_int_t
ngx_http_audit_pg_poll_connect(ngx_http_audit_pg_t *pg)
{
    PostgresPollingStatusType  st;

    st = PQconnectPoll(pg->conn);

    switch (st) {

    case PGRES_POLLING_READING:
    case PGRES_POLLING_WRITING:
        ngx_http_audit_pg_register(pg);
        return NGX_AGAIN;

    case PGRES_POLLING_OK:
        break;

    default:
        ngx_http_audit_pg_fail(pg, "connect");
        return NGX_ERROR;
    }

    if (PQsetnonblocking(pg->conn, 1) != 0) {
        ngx_http_audit_pg_fail(pg, "PQsetnonblocking() failed");
        return NGX_ERROR;
    }

    ngx_http_audit_pg_register(pg);

    if (pg->c == NULL) {
        return NGX_ERROR;
    }

    /* the staging table lives as long as the connection */

    if (!PQsendQuery(pg->conn,
                     "CREATE TEMP TABLE IF NOT EXISTS audit_staging "
                     "(line text) ON COMMIT DELETE ROWS"))
    {
        ngx_http_audit_pg_fail(pg, "setting up");
        return NGX_ERROR;
    }

    pg->state = NGX_HTTP_AUDIT_PG_SETUP;

    return NGX_OK;
}


/* reads what the server answered; NGX_OK when a step completed */

static ngx_int_t
ngx_http_audit_pg_results(ngx_http_audit_pg_t *pg)
{
    char            *addr;
    PGresult        *res;
    ngx_uint_t       failed;
    ExecStatusType   st;

    switch (PQflush(pg->conn)) {
    case 0:
        break;
    case 1:
        return NGX_AGAIN;
    default:
        ngx_http_audit_pg_fail(pg, "sending");
        return NGX_ERROR;
    }

    if (!PQconsumeInput(pg->conn)) {
        ngx_http_audit_pg_fail(pg, "reading");
        return NGX_ERROR;
    }

    failed = 0;

    while (!PQisBusy(pg->conn)) {

        res = PQgetResult(pg->conn);

        if (res == NULL) {
            goto done;
        }

        st = PQresultStatus(res);

        if (st == PGRES_TUPLES_OK && pg->sh && PQntuples(res) == 1) {
            /* audit.ingest(): the rows it inserted */
            (void) ngx_atomic_fetch_add(&pg->sh->pg_rows_inserted,
                             ngx_atoi((u_char *) PQgetvalue(res, 0, 0),
                                      PQgetlength(res, 0, 0)));
        }

        if (st == PGRES_FATAL_ERROR) {
            ngx_log_error(NGX_LOG_ERR, pg->log, 0,
                          "audit: PostgreSQL: %s",
                          PQresultErrorMessage(res));
            failed = 1;
        }

        PQclear(res);
    }

    return NGX_AGAIN;

done:

    if (failed) {
        ngx_http_audit_pg_fail(pg, pg->state == NGX_HTTP_AUDIT_PG_SETUP
                                   ? "setting up" : "storing a batch");
        return NGX_ERROR;
    }

    if (pg->state == NGX_HTTP_AUDIT_PG_SETUP) {
        addr = PQhostaddr(pg->conn);

        ngx_log_error(NGX_LOG_INFO, pg->log, 0,
                      "audit: connected to PostgreSQL at \"%s\" port %s%s%s",
                      PQhost(pg->conn), PQport(pg->conn),
                      (addr && *addr) ? " address " : "",
                      (addr && *addr) ? addr : "");
        pg->backoff = NGX_HTTP_AUDIT_PG_BACKOFF_MIN;
        pg->outage = 0;

    } else {
        ngx_http_audit_pg_batch_done(pg);
    }

    pg->state = NGX_HTTP_AUDIT_PG_IDLE;

    if (pg->timer.timer_set) {
        ngx_del_timer(&pg->timer);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_audit_pg_copy(ngx_http_audit_pg_t *pg)
{
    int              rc;
    size_t           n;
    PGresult        *res;
    ExecStatusType   st;

    /* first the server's "go ahead": PGRES_COPY_IN */

    if (pg->batch_sent == 0) {

        if (!PQconsumeInput(pg->conn)) {
            ngx_http_audit_pg_fail(pg, "reading");
            return NGX_ERROR;
        }

        if (PQflush(pg->conn) < 0) {
            ngx_http_audit_pg_fail(pg, "sending");
            return NGX_ERROR;
        }

        if (PQisBusy(pg->conn)) {
            return NGX_AGAIN;
        }

        res = PQgetResult(pg->conn);
        st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

        if (st != PGRES_COPY_IN) {
            ngx_log_error(NGX_LOG_ERR, pg->log, 0,
                          "audit: PostgreSQL refused COPY: %s",
                          res ? PQresultErrorMessage(res) : "no result");
            PQclear(res);
            ngx_http_audit_pg_fail(pg, "starting COPY");
            return NGX_ERROR;
        }

        PQclear(res);
    }

    /* then the rows, in pieces the non-blocking connection takes */

    while (pg->batch_sent < pg->batch_len) {

        n = ngx_min(pg->batch_len - pg->batch_sent, 64 * 1024);

        rc = PQputCopyData(pg->conn, (const char *) pg->batch
                                     + pg->batch_sent, (int) n);
        if (rc == 0) {
            return NGX_AGAIN;
        }

        if (rc < 0) {
            ngx_http_audit_pg_fail(pg, "sending rows");
            return NGX_ERROR;
        }

        /* +1: 0 would read as "waiting for COPY_IN" above */
        pg->batch_sent += n;
    }

    rc = PQputCopyEnd(pg->conn, NULL);

    if (rc == 0) {
        return NGX_AGAIN;
    }

    if (rc < 0) {
        ngx_http_audit_pg_fail(pg, "ending COPY");
        return NGX_ERROR;
    }

    pg->state = NGX_HTTP_AUDIT_PG_RESULT;

    return NGX_OK;
}


/*
 * Any failure drops the connection; the batch stays and is sent again on
 * the next one.  Reconnects back off from 100 ms to 10 s.  Meanwhile the
 * queue fills and then spills into the spool.
 */

void
ngx_http_audit_pg_fail(ngx_http_audit_pg_t *pg, const char *what)
{
    ngx_uint_t  level;

    if (pg->sh) {
        (void) ngx_atomic_fetch_add(&pg->sh->pg_failures, 1);
    }

    /* one issue per outage, not one per reconnect attempt */

    if (!pg->outage && !pg->exiting) {
        pg->outage = 1;
        ngx_http_audit_fault(pg->log, NULL, "module_fault", "pg_down",
                             "PostgreSQL unreachable: audit events are "
                             "being spooled");
    }

    /* an unreachable server is expected news, a broken batch is not */

    level = (pg->state == NGX_HTTP_AUDIT_PG_DOWN
             || pg->state == NGX_HTTP_AUDIT_PG_CONNECTING)
            ? NGX_LOG_WARN : NGX_LOG_ERR;

    ngx_log_error(level, pg->log, 0,
                  "audit: PostgreSQL %s: %s, retrying in %M ms", what,
                  pg->conn ? PQerrorMessage(pg->conn) : "", pg->backoff);

    if (pg->batch_len && ++pg->batch_failed >= 3 && !pg->batch_spooled) {
        /* PostgreSQL keeps refusing this batch: keep it safe on disk */
        ngx_http_audit_spool_append(pg->spool, pg->batch, pg->batch_len,
                                    pg->log);
        ngx_http_audit_pg_hold(pg, - (ngx_int_t) pg->batch_events);
        pg->batch_len = 0;
        pg->batch_events = 0;
        pg->batch_failed = 0;
        pg->batch_first = NGX_HTTP_AUDIT_RING_NONE;
    }

    /* while down, events go to disk, behind what is queued */

    if (pg->queued) {
        ngx_http_audit_spool_append(pg->spool, pg->queue, pg->queued,
                                    pg->log);
        ngx_http_audit_pg_hold(pg, - (ngx_int_t) pg->nqueued);
        pg->queued = 0;
        pg->nqueued = 0;
        pg->queue_first = NGX_HTTP_AUDIT_RING_NONE;
    }

    ngx_http_audit_pg_ring(pg);

    ngx_http_audit_pg_close(pg);

    if (pg->exiting) {
        return;
    }

    ngx_http_audit_pg_arm(pg, pg->backoff);

    pg->backoff = ngx_min(pg->backoff * 2, NGX_HTTP_AUDIT_PG_BACKOFF_MAX);
}


void
ngx_http_audit_pg_close(ngx_http_audit_pg_t *pg)
{
    /* audit_status and audit_health read "connected" off the gauge */
    (void) sizeof(char[NGX_HTTP_AUDIT_PG_IDLE == NGX_HTTP_AUDIT_WORKER_PG_UP
                       ? 1 : -1]);

    ngx_http_audit_pg_socket_forget(&pg->c);

    if (pg->conn) {
        PQfinish(pg->conn);
        pg->conn = NULL;
    }

    pg->state = NGX_HTTP_AUDIT_PG_DOWN;
    pg->batch_sent = 0;

    if (pg->timer.timer_set) {
        ngx_del_timer(&pg->timer);
    }
}


void
ngx_http_audit_pg_arm(ngx_http_audit_pg_t *pg, ngx_msec_t ms)
{
    if (pg->timer.timer_set) {
        ngx_del_timer(&pg->timer);
    }

    ngx_add_timer(&pg->timer, ms);
}


