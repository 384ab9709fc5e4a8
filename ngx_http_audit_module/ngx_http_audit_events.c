
/*
 * ngx_http_audit_module: audit events.
 *
 * What happened to a request is gathered in its context during the access
 * phase and the header filter, and turned into events once, in the log
 * phase, when the final status is known.  The log phase runs once per
 * client request, after every internal redirect, and the context
 * survives those (ngx_http_audit_get_ctx()), so each request yields
 * exactly one set of events.
 *
 * Every event carries its place in this worker's chain: the producer
 * (host/start-ms-pid/slot), a sequence number without gaps, and the
 * SHA-256 of the producer's previous line, so a lost, edited or deleted
 * record can be detected downstream.
 */


#include "ngx_http_audit_module.h"

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


static ngx_int_t ngx_http_audit_log_handler(ngx_http_request_t *r);
static void ngx_http_audit_events_report_loss(ngx_event_t *ev);
static void ngx_http_audit_event_session_invalid(ngx_http_request_t *r,
    ngx_http_audit_loc_conf_t *alcf, ngx_http_audit_ctx_t *ctx);
static void ngx_http_audit_event_rejected(ngx_http_request_t *r,
    ngx_http_audit_ctx_t *ctx);
static void ngx_http_audit_event_authz(ngx_http_request_t *r,
    ngx_http_audit_loc_conf_t *alcf, ngx_http_audit_ctx_t *ctx);
static void ngx_http_audit_event_record(ngx_http_request_t *r,
    ngx_http_audit_loc_conf_t *alcf, ngx_http_audit_ctx_t *ctx);
static void ngx_http_audit_event_identity(audit_event_t *ev,
    ngx_http_audit_ctx_t *ctx);
static void ngx_http_audit_event_common(ngx_http_request_t *r,
    audit_event_t *ev);
static void ngx_http_audit_event_upstream(ngx_http_request_t *r,
    ngx_http_audit_main_conf_t *amcf, ngx_http_audit_ctx_t *ctx);
static ngx_int_t ngx_http_audit_event_id(audit_event_t *ev);
static ngx_int_t ngx_http_audit_events_chain(ngx_cycle_t *cycle,
    ngx_http_audit_main_conf_t *amcf, ngx_http_audit_producer_t *p);
static ngx_uint_t ngx_http_audit_events_died_with(
    ngx_http_audit_chain_t *chain);
static void ngx_http_audit_count_decision(ngx_http_audit_main_conf_t *amcf,
    ngx_http_audit_ctx_t *ctx);
static void ngx_http_audit_str(audit_str_t *dst, ngx_str_t *src);


ngx_int_t
ngx_http_audit_events_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_audit_log_handler;

    return NGX_OK;
}


/*
 * A sink that is configured says so while the configuration is read: with
 * no sink wanting them, no event is built at all.
 */

void
ngx_http_audit_events_want(ngx_conf_t *cf)
{
    ngx_http_audit_main_conf_t  *amcf;

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_audit_module);
    amcf->sinks++;
}


/*
 * A worker's chain is named after the node, the moment the worker
 * started (a restarted or reloaded worker starts a new chain) and its
 * slot, e.g. "web1/1763866800123/0".
 */

ngx_int_t
ngx_http_audit_events_init_process(ngx_cycle_t *cycle)
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

    if (ngx_http_audit_events_chain(cycle, amcf, p) != NGX_OK) {
        return NGX_ERROR;
    }

    amcf->producer = p;

    /* the fault sinks start after this module: the loss goes once they run */

    if (p->lost) {
        p->loss.handler = ngx_http_audit_events_report_loss;
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
ngx_http_audit_events_chain(ngx_cycle_t *cycle,
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

        p->lost = ngx_http_audit_events_died_with(chain);

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
ngx_http_audit_events_died_with(ngx_http_audit_chain_t *chain)
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
ngx_http_audit_events_report_loss(ngx_event_t *ev)
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
ngx_http_audit_events_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_audit_producer_t   *p;
    ngx_http_audit_main_conf_t  *amcf;

    amcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_audit_module);

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


static ngx_int_t
ngx_http_audit_log_handler(ngx_http_request_t *r)
{
    ngx_http_audit_ctx_t        *ctx;
    ngx_http_audit_loc_conf_t   *alcf;
    ngx_http_audit_main_conf_t  *amcf;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_audit_module);

    ctx = ngx_http_audit_get_ctx(r);

    if (ctx == NULL || ctx->audited) {
        return NGX_OK;
    }

    ctx->audited = 1;

    ngx_http_audit_count_decision(amcf, ctx);

    if (amcf->producer == NULL) {
        return NGX_OK;
    }

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_audit_module);

    switch (ctx->decision) {

    case NGX_HTTP_AUDIT_UNAUTHENTICATED:
        ngx_http_audit_event_session_invalid(r, alcf, ctx);
        break;

    case NGX_HTTP_AUDIT_DENIED:
        ngx_http_audit_event_authz(r, alcf, ctx);
        break;

    case NGX_HTTP_AUDIT_REJECTED:
        ngx_http_audit_event_rejected(r, ctx);
        break;

    case NGX_HTTP_AUDIT_PERMITTED:
        if (ctx->token_valid && !alcf->public) {
            ngx_http_audit_event_authz(r, alcf, ctx);
        }

        if (ctx->token_valid && alcf->record_type.len) {
            ngx_http_audit_event_record(r, alcf, ctx);
        }

        break;

    default:
        break;
    }

    ngx_http_audit_events_login(r, alcf, ctx);

    ngx_http_audit_event_upstream(r, amcf, ctx);

    return NGX_OK;
}


static void
ngx_http_audit_event_session_invalid(ngx_http_request_t *r,
    ngx_http_audit_loc_conf_t *alcf, ngx_http_audit_ctx_t *ctx)
{
    audit_event_t  ev;

    ngx_memzero(&ev, sizeof(audit_event_t));

    ev.action = AUDIT_SESSION_INVALID;
    ngx_http_audit_str(&ev.reason, &ctx->reason);

    /* who it was, when the signature verified (e.g. expired) */
    ngx_http_audit_str(&ev.user_id, &ctx->user_id);

    ngx_http_audit_event_emit(r, &ev);
}


/* a target or method refused before any policy: who, and which class */

static void
ngx_http_audit_event_rejected(ngx_http_request_t *r,
    ngx_http_audit_ctx_t *ctx)
{
    audit_event_t  ev;

    ngx_memzero(&ev, sizeof(audit_event_t));

    ev.action = AUDIT_REQUEST_REJECTED;
    ngx_http_audit_str(&ev.reason, &ctx->reason);

    if (ctx->token_valid) {
        ngx_http_audit_event_identity(&ev, ctx);

    } else {
        ngx_http_audit_str(&ev.user_id, &ctx->user_id);
    }

    ngx_http_audit_event_emit(r, &ev);
}


static void
ngx_http_audit_event_authz(ngx_http_request_t *r,
    ngx_http_audit_loc_conf_t *alcf, ngx_http_audit_ctx_t *ctx)
{
    ngx_uint_t     denied;
    audit_event_t  ev;

    denied = (ctx->decision == NGX_HTTP_AUDIT_DENIED);

    if (!denied && alcf->authz_log == NGX_HTTP_AUDIT_AUTHZ_DENIED) {
        return;
    }

    ngx_memzero(&ev, sizeof(audit_event_t));

    ev.action = AUDIT_AUTHZ_CHECK;
    ev.severity = audit_event_default_severity(AUDIT_AUTHZ_CHECK, denied);

    ngx_http_audit_event_identity(&ev, ctx);

    ev.decision.data = denied ? "denied" : "permitted";
    ev.decision.len = denied ? sizeof("denied") - 1
                             : sizeof("permitted") - 1;

    if (ctx->rule.len) {
        ngx_http_audit_str(&ev.rule, &ctx->rule);

    } else {
        ev.rule.data = "session";
        ev.rule.len = sizeof("session") - 1;
    }

    ngx_http_audit_event_emit(r, &ev);
}


/* emitted only when the portal served it: 2xx */

static void
ngx_http_audit_event_record(ngx_http_request_t *r,
    ngx_http_audit_loc_conf_t *alcf, ngx_http_audit_ctx_t *ctx)
{
    ngx_str_t      id, method;
    ngx_uint_t     other;
    audit_event_t  ev;

    if (r->headers_out.status < NGX_HTTP_OK
        || r->headers_out.status >= NGX_HTTP_SPECIAL_RESPONSE)
    {
        return;
    }

    if (ngx_http_complex_value(r, alcf->record_id, &id) != NGX_OK
        || id.len == 0)
    {
        return;
    }

    ngx_memzero(&ev, sizeof(audit_event_t));

    ev.action = AUDIT_RECORD_ACCESS;
    ngx_http_audit_event_identity(&ev, ctx);
    ngx_http_audit_str(&ev.resource_type, &alcf->record_type);
    ngx_http_audit_str(&ev.resource_id, &id);

    /* what the portal does: an override's method, if one was sent */

    ngx_http_audit_ctx_method(r, ctx, &method);
    other = 0;

    switch (audit_method_bit((const char *) method.data, method.len)) {

    case AUDIT_METHOD_GET:
    case AUDIT_METHOD_HEAD:
        ev.access.data = "viewed";
        break;

    case AUDIT_METHOD_POST:
        ev.access.data = "created";
        break;

    case AUDIT_METHOD_PUT:
    case AUDIT_METHOD_PATCH:
        ev.access.data = "updated";
        break;

    case AUDIT_METHOD_DELETE:
        ev.access.data = "deleted";
        break;

    default:
        ev.access.data = "";
        other = 1;
        break;
    }

    ev.access.len = ngx_strlen(ev.access.data);

    if (other) {
        /* PURGE, PROPFIND, ...: under its own name */
        ngx_http_audit_str(&ev.access, &method);
    }

    ngx_http_audit_event_emit(r, &ev);
}


/*
 * An upstream's 5xx is no audit event, but it is a failure the people
 * running the portal want as an issue: "upstream_error:502".
 */

static void
ngx_http_audit_event_upstream(ngx_http_request_t *r,
    ngx_http_audit_main_conf_t *amcf, ngx_http_audit_ctx_t *ctx)
{
    u_char         detail[NGX_INT_T_LEN + 1], title[64];
    audit_event_t  ev;

    if (r->upstream == NULL
        || r->headers_out.status < NGX_HTTP_INTERNAL_SERVER_ERROR)
    {
        return;
    }

    ngx_memzero(&ev, sizeof(audit_event_t));

    ev.severity = AUDIT_SEV_WARNING;
    ngx_http_audit_event_identity(&ev, ctx);
    ngx_http_audit_event_common(r, &ev);

    if (ngx_http_audit_event_id(&ev) != NGX_OK) {
        return;
    }

    *ngx_sprintf(detail, "%ui", r->headers_out.status) = '\0';
    *ngx_sprintf(title, "Upstream error %ui", r->headers_out.status) = '\0';

    ngx_http_audit_fault(r->connection->log, &ev, "upstream_error",
                         (const char *) detail, (const char *) title);
}


static void
ngx_http_audit_event_identity(audit_event_t *ev, ngx_http_audit_ctx_t *ctx)
{
    ngx_http_audit_str(&ev->user_id, &ctx->user_id);
    ngx_http_audit_str(&ev->role, &ctx->role);
    ngx_http_audit_str(&ev->session_id, &ctx->session_id);
}


/*
 * Fills what every event has, encodes it, chains it and writes it.  The
 * caller sets the action and its own fields; a severity left at 0 (info)
 * is replaced by the action's default.
 */

void
ngx_http_audit_event_emit(ngx_http_request_t *r, audit_event_t *ev)
{
    long                         n;
    char                         line[AUDIT_EVENT_MAX];
    ngx_http_audit_record_t      rec;
    ngx_http_audit_shctx_t      *sh;
    ngx_http_audit_producer_t   *p;
    ngx_http_audit_main_conf_t  *amcf;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_audit_module);
    p = amcf->producer;

    if (p == NULL) {
        return;
    }

    if (ev->severity == AUDIT_SEV_INFO) {
        ev->severity = audit_event_default_severity(ev->action, 0);
    }

    ngx_http_audit_event_common(r, ev);

    if (ngx_http_audit_event_id(ev) != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "audit: no random bytes for an event id");
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
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "audit: cannot encode a \"%s\" event",
                      audit_action_name(ev->action));
        return;
    }

    /* the next event names this line (without its "\n") */

    if (EVP_DigestInit_ex(p->md, ngx_http_audit_sha256(), NULL) != 1
        || EVP_DigestUpdate(p->md, line, n - 1) != 1
        || EVP_DigestFinal_ex(p->md, p->prev, NULL) != 1)
    {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "audit: SHA-256 of an event failed");
        return;
    }

    p->has_prev = 1;
    p->seq++;

    /* the slot's record, unless a newer worker has taken the slot */
    if (p->chain && p->chain->pid == ngx_pid) {
        p->chain->seq = ev->seq;
        p->chain->used = 1;
    }

    if (amcf->shm_zone) {
        sh = amcf->shm_zone->data;
        (void) ngx_atomic_fetch_add(&sh->events[ev->action], 1);
    }

    rec.ev = ev;
    rec.line = (u_char *) line;
    rec.len = n;
    rec.log = r->connection->log;

    ngx_http_audit_top_event_sink(&rec);
}


static void
ngx_http_audit_event_common(ngx_http_request_t *r, audit_event_t *ev)
{
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
}


static ngx_int_t
ngx_http_audit_event_id(audit_event_t *ev)
{
    u_char  rnd[10];

    if (ngx_http_audit_random(rnd, sizeof(rnd)) != NGX_OK) {
        return NGX_ERROR;
    }

    audit_uuid7(ev->id, ev->ts_ms, rnd);

    return NGX_OK;
}


static void
ngx_http_audit_count_decision(ngx_http_audit_main_conf_t *amcf,
    ngx_http_audit_ctx_t *ctx)
{
    ngx_atomic_t            *counter;
    ngx_http_audit_shctx_t  *sh;

    if (amcf->shm_zone == NULL) {
        return;
    }

    sh = amcf->shm_zone->data;

    switch (ctx->decision) {

    case NGX_HTTP_AUDIT_PERMITTED:
        counter = &sh->permitted;
        break;

    case NGX_HTTP_AUDIT_DENIED:
        counter = &sh->denied;
        break;

    case NGX_HTTP_AUDIT_UNAUTHENTICATED:
        counter = &sh->unauthenticated;
        break;

    default:
        return;
    }

    (void) ngx_atomic_fetch_add(counter, 1);

    if (ctx->decision != NGX_HTTP_AUDIT_PERMITTED) {
        (void) ngx_atomic_fetch_add(
                   &sh->reasons[ngx_http_audit_reason_index(&ctx->reason)], 1);
    }
}


static void
ngx_http_audit_str(audit_str_t *dst, ngx_str_t *src)
{
    dst->data = (const char *) src->data;
    dst->len = src->len;
}
