
/*
 * ngx_http_audit_module: each worker's hash chain, and the one place an
 * event is completed, encoded and handed to the sinks.
 *
 * Every event carries its place in this worker's chain: the producer
 * (host/start-ms-pid/slot), a sequence number without gaps, and the
 * SHA-256 of the producer's previous line, so a lost, edited or deleted
 * record can be detected downstream.  The zone keeps, per worker slot,
 * the chain last produced there, what the sinks still hold of it, and
 * whether its worker exited gracefully: the next worker of the slot
 * names it ("after") and counts what died with it.
 */


#include "ngx_http_audit_module.h"
#include "ngx_http_audit_ring.h"

#include <openssl/evp.h>


/* per worker: the chain */
struct ngx_http_audit_producer_s {
    ngx_str_t                    name;
    ngx_str_t                    after;            /* the slot's last chain */
    ngx_http_audit_chain_t      *chain;            /* in the zone, or NULL */
    ngx_uint_t                   lost;             /* died with the last one */
    unsigned long long           seq;
    u_char                       prev[32];
    ngx_uint_t                   has_prev;
    EVP_MD_CTX                  *md;
    ngx_event_t                  loss;             /* reports p->lost */
};


static ngx_int_t ngx_http_audit_chain_slot(ngx_cycle_t *cycle,
    ngx_http_audit_main_conf_t *amcf, ngx_http_audit_producer_t *p);
static ngx_uint_t ngx_http_audit_chain_died_with(
    ngx_http_audit_chain_t *chain);
static void ngx_http_audit_chain_report_loss(ngx_event_t *ev);



/*
 * A worker's chain is named after the node, the moment the worker
 * started (a restarted or reloaded worker starts a new chain) and its
 * slot, e.g. "web1/1763866800123/0".
 */

ngx_int_t
ngx_http_audit_chain_init_process(ngx_cycle_t *cycle)
{
    ngx_time_t                  *tp;
    ngx_http_audit_producer_t   *p;
    ngx_http_audit_main_conf_t  *amcf;

    amcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_audit_module);

    if (ngx_http_audit_crypto_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    if (amcf == NULL || amcf->sinks == 0) {
        return NGX_OK;
    }

    p = ngx_pcalloc(cycle->pool, sizeof(ngx_http_audit_producer_t));
    if (p == NULL) {
        return NGX_ERROR;
    }

    /*
     * host/start-ms-pid/slot: the pid tells apart two nginx instances on
     * one host whose workers of the same slot start in the same
     * millisecond, which would otherwise interleave one chain
     */

    p->name.data = ngx_pnalloc(cycle->pool, cycle->hostname.len
                                            + 3 * NGX_INT64_LEN + 4);
    if (p->name.data == NULL) {
        return NGX_ERROR;
    }

    tp = ngx_timeofday();

    p->name.len = ngx_sprintf(p->name.data, "%V/%T%03M-%P/%ui",
                              &cycle->hostname, tp->sec, tp->msec, ngx_pid,
                              (ngx_uint_t) ngx_worker)
                  - p->name.data;

    p->md = EVP_MD_CTX_new();
    if (p->md == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_audit_chain_slot(cycle, amcf, p) != NGX_OK) {
        return NGX_ERROR;
    }

    amcf->producer = p;

    /* the fault sinks start after this module: the loss goes once they run */

    if (p->lost) {
        p->loss.handler = ngx_http_audit_chain_report_loss;
        p->loss.data = p;
        p->loss.log = cycle->log;
        p->loss.cancelable = 1;
        ngx_add_timer(&p->loss, 1);
    }

    return NGX_OK;
}



/*
 * "Restarts start a new chain that names the previous one": the zone keeps,
 * per worker slot, the chain last produced there and its last seq; the
 * first event of the new chain carries it as "after".  (After a reload the
 * old worker may still add a few events to its chain: "after" names the
 * seq seen when the new worker started.)  Without a zone, or after a
 * restart of nginx itself, there is nothing to name.
 */

static ngx_int_t
ngx_http_audit_chain_slot(ngx_cycle_t *cycle,
    ngx_http_audit_main_conf_t *amcf, ngx_http_audit_producer_t *p)
{
    ngx_http_audit_chain_t  *chain;
    ngx_http_audit_shctx_t  *sh;

    if (amcf->shm_zone == NULL || ngx_worker >= NGX_HTTP_AUDIT_MAX_WORKERS) {
        return NGX_OK;
    }

    sh = amcf->shm_zone->data;
    chain = &sh->chains[ngx_worker];

    if (chain->used && chain->len) {
        p->after.data = ngx_pnalloc(cycle->pool,
                                    chain->len + NGX_INT64_LEN + 1);
        if (p->after.data == NULL) {
            return NGX_ERROR;
        }

        p->after.len = ngx_sprintf(p->after.data, "%*s:%uA", chain->len,
                                   chain->producer, chain->seq)
                       - p->after.data;

        p->lost = ngx_http_audit_chain_died_with(chain);

        if (p->lost) {
            (void) ngx_atomic_fetch_add(&sh->events_lost, p->lost);

            ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                          "audit: worker process %P died with %ui audit "
                          "events not yet stored: they are lost; its chain "
                          "\"%*s\" ended at seq %uA", chain->pid, p->lost,
                          chain->len, chain->producer, chain->seq);
        }
    }

    chain->pid = ngx_pid;
    chain->len = ngx_min(p->name.len, sizeof(chain->producer));
    ngx_memcpy(chain->producer, p->name.data, chain->len);
    chain->seq = 0;
    chain->used = 0;
    chain->held = 0;
    chain->exited = 0;

    p->chain = chain;

    return NGX_OK;
}



/*
 * The events the previous worker of this slot still held in memory (its
 * PostgreSQL queue and the batch on the wire) when it died: a worker that
 * exits gracefully spools them first and says so; one that still runs
 * (the old generation after a reload) may yet store them.  Only a dead
 * worker that did not exit has lost them, e.g. after a kill -9 or a crash.
 */

static ngx_uint_t
ngx_http_audit_chain_died_with(ngx_http_audit_chain_t *chain)
{
    if (chain->pid == 0 || chain->pid == ngx_pid || chain->exited
        || chain->held == 0)
    {
        return 0;
    }

    if (kill(chain->pid, 0) == 0 || ngx_errno != NGX_ESRCH) {
        return 0;
    }

    return chain->held;
}



/*
 * Run by a timer once every module's worker has started: the loss
 * counted at start-up is one more fault, "module_fault:events_lost".
 */

static void
ngx_http_audit_chain_report_loss(ngx_event_t *ev)
{
    u_char                      title[128];
    ngx_http_audit_producer_t  *p;

    p = ev->data;

    *ngx_snprintf(title, sizeof(title) - 1,
                  "Audit events lost: a worker died with %ui not yet stored",
                  p->lost) = '\0';

    ngx_http_audit_fault(ngx_cycle->log, NULL, "module_fault", "events_lost",
                         (const char *) title);
}



void
ngx_http_audit_chain_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_audit_producer_t   *p;
    ngx_http_audit_main_conf_t  *amcf;

    amcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_audit_module);

    /* the chain's last event, while it can still be chained */
    if (amcf && amcf->closing) {
        amcf->closing(cycle);
    }

    ngx_http_audit_crypto_exit_process();

    if (amcf == NULL || amcf->producer == NULL) {
        return;
    }

    p = amcf->producer;

    /* what was held is in the spool now (ngx_http_audit_pg_exit_process) */

    if (p->chain && p->chain->pid == ngx_pid) {
        p->chain->exited = 1;
    }

    EVP_MD_CTX_free(p->md);
    p->md = NULL;
}


/*
 * A chain lost with the shared memory of an earlier nginx, named by its
 * snapshot on disk (ngx_http_audit_ring_state.c): this worker's first
 * event names it unless it names its slot's predecessor already, so that
 * audit.verify_chain sees the lost tail.
 */

void
ngx_http_audit_chain_after(ngx_cycle_t *cycle, ngx_str_t *producer,
    unsigned long long seq)
{
    ngx_http_audit_producer_t   *p;
    ngx_http_audit_main_conf_t  *amcf;

    amcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_audit_module);

    if (amcf == NULL || amcf->producer == NULL || producer->len == 0) {
        return;
    }

    p = amcf->producer;

    if (p->seq != 0 || p->after.len) {
        return;
    }

    p->after.data = ngx_pnalloc(cycle->pool,
                                producer->len + NGX_INT64_LEN + 1);
    if (p->after.data == NULL) {
        return;
    }

    p->after.len = ngx_sprintf(p->after.data, "%V:%uL", producer, seq)
                   - p->after.data;
}


/*
 * A sink still holds n more (or, negative, fewer) of this worker's events
 * only in memory: what would die with the worker.
 */

void
ngx_http_audit_chain_hold(ngx_http_audit_main_conf_t *amcf, ngx_int_t n)
{
    ngx_http_audit_chain_t  *chain;
    ngx_http_audit_shctx_t  *sh;

    if (amcf == NULL || amcf->shm_zone == NULL
        || ngx_worker >= NGX_HTTP_AUDIT_MAX_WORKERS || n == 0)
    {
        return;
    }

    sh = amcf->shm_zone->data;
    chain = &sh->chains[ngx_worker];

    /* after a reload the slot belongs to the new worker */

    if (chain->pid == ngx_pid) {
        chain->held += n;
    }
}



/*
 * Fills what every event has, encodes it, chains it and writes it.  The
 * caller sets the action and its own fields; a severity left at 0 (info)
 * is replaced by the action's default.
 */

void
ngx_http_audit_event_emit(ngx_http_request_t *r, audit_event_t *ev)
{
    ngx_http_audit_main_conf_t  *amcf;
    ngx_log_t                   elog;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_audit_module);

    if (amcf->producer == NULL) {
        return;
    }

    if (ev->severity == AUDIT_SEV_INFO) {
        ev->severity = audit_event_default_severity(ev->action, 0);
    }

    if (ngx_http_audit_event_prepare(r, ev) != NGX_OK) {
        ngx_http_audit_request_log(r, &elog);

        ngx_log_error(NGX_LOG_ALERT, &elog, 0,
                      "audit: no random bytes for an event id");
        return;
    }

    ngx_http_audit_chain_append(amcf, ev, r->connection->log);
}


/*
 * Chains a prepared event (time and id set), encodes it and hands it to
 * the sinks; also for events of no request (ngx_http_audit_checkpoint.c).
 */

void
ngx_http_audit_chain_append(ngx_http_audit_main_conf_t *amcf,
    audit_event_t *ev, ngx_log_t *log)
{
    long                         n;
    char                         line[AUDIT_EVENT_MAX];
    ngx_http_audit_record_t      rec;
    ngx_http_audit_ring_t       *ring;
    ngx_http_audit_shctx_t      *sh;
    ngx_http_audit_producer_t   *p;

    p = amcf->producer;

    if (p == NULL) {
        return;
    }

    ev->producer.data = (const char *) p->name.data;
    ev->producer.len = p->name.len;
    ev->seq = p->seq;
    ev->has_prev = p->has_prev;
    ngx_memcpy(ev->prev, p->prev, sizeof(p->prev));

    if (p->seq == 0 && p->after.len) {
        ev->after.data = (const char *) p->after.data;
        ev->after.len = p->after.len;
    }

    n = audit_event_encode(ev, amcf->scrub, line, sizeof(line));

    if (n <= 0) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "audit: cannot encode a \"%s\" event",
                      audit_action_name(ev->action));
        return;
    }

    /* the next event names this line (without its "\n") */

    if (EVP_DigestInit_ex(p->md, ngx_http_audit_sha256(), NULL) != 1
        || EVP_DigestUpdate(p->md, line, n - 1) != 1
        || EVP_DigestFinal_ex(p->md, p->prev, NULL) != 1)
    {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "audit: SHA-256 of an event failed");
        return;
    }

    p->has_prev = 1;
    p->seq++;

    if (amcf->shm_zone) {
        sh = amcf->shm_zone->data;
        (void) ngx_atomic_fetch_add(&sh->events[ev->action], 1);
    }

    rec.ev = ev;
    rec.line = (u_char *) line;
    rec.len = n;
    rec.log = log;
    rec.ring_start = NGX_HTTP_AUDIT_RING_NONE;
    rec.ring_end = NGX_HTTP_AUDIT_RING_NONE;

    /*
     * in shared memory until the sinks have stored it; if the ring is
     * full, the sinks store it at once
     */

    ring = ngx_http_audit_ring_worker();

    if (ring) {
        (void) ngx_http_audit_ring_append(ring, rec.line, rec.len,
                                          &rec.ring_start, &rec.ring_end);
    }

    /*
     * The slot's record (unless a newer worker has taken the slot), once
     * the line is in the ring: the next chain's "after" must not name a
     * seq that a kill -9 just here left without a line
     */

    if (p->chain && p->chain->pid == ngx_pid) {
        p->chain->seq = ev->seq;
        p->chain->used = 1;
    }

    ngx_http_audit_top_event_sink(&rec);
}


/*
 * Where this worker's chain stands: its name, the seq of its next event
 * and the SHA-256 of its last line (head, 32 bytes; *has_head 0 before
 * the first event).  NGX_DECLINED when the worker has no chain.
 */

ngx_int_t
ngx_http_audit_chain_head(ngx_http_audit_main_conf_t *amcf, ngx_str_t *name,
    unsigned long long *next_seq, u_char *head, ngx_uint_t *has_head)
{
    ngx_http_audit_producer_t  *p;

    p = amcf->producer;

    if (p == NULL) {
        return NGX_DECLINED;
    }

    *name = p->name;
    *next_seq = p->seq;
    *has_head = p->has_prev;
    ngx_memcpy(head, p->prev, sizeof(p->prev));

    return NGX_OK;
}


/*
 * What every event has (time, a fresh id, request id, address, method,
 * route, User-Agent, status); for the tracker's faults too, which are not
 * chained.
 */

ngx_int_t
ngx_http_audit_event_prepare(ngx_http_request_t *r, audit_event_t *ev)
{
    u_char       rnd[10];
    ngx_str_t    id;
    ngx_time_t  *tp;

    tp = ngx_timeofday();
    ev->ts_ms = (unsigned long long) tp->sec * 1000 + tp->msec;

    if (ngx_http_audit_request_id(r, &id) == NGX_OK) {
        ngx_http_audit_str(&ev->request_id, &id);
    }

    /* the client's address, as the realip module has it when configured */
    ngx_http_audit_str(&ev->ip, &r->connection->addr_text);
    ngx_http_audit_str(&ev->method, &r->method_name);
    ngx_http_audit_str(&ev->uri, &r->unparsed_uri);

    if (r->headers_in.user_agent) {
        ngx_http_audit_str(&ev->user_agent, &r->headers_in.user_agent->value);
    }

    ev->status = (int) r->headers_out.status;

    if (ngx_http_audit_random(rnd, sizeof(rnd)) != NGX_OK) {
        return NGX_ERROR;
    }

    audit_uuid7(ev->id, ev->ts_ms, rnd);

    return NGX_OK;
}
