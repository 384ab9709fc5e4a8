
/*
 * ngx_http_audit_module: the alert engine.
 *
 * What fires: a bruteforce_suspected event and the module's own faults
 * (PostgreSQL down, spool full, keys unreadable, events lost), and the
 * audit_alert_rule conditions evaluated once a second over windows of
 * the shared counters.  Each goes to every route whose severity it
 * reaches, grouped by fingerprint in the alert zone (shared by the
 * workers): one alert per fingerprint per audit_alert_window, carrying
 * how often it happened since the last one; a condition that can clear
 * (a rule, PostgreSQL down) fires once and is resolved once.
 *
 * Nothing here may slow a request: on the request path an alert is only
 * encoded (core/audit_alert.c) and queued; each route has its own
 * non-blocking client per worker (ngx_http_audit_deliver.c: bounded
 * queue, circuit breaker, 429/5xx retried after Retry-After).
 */


#include "ngx_http_audit_alert.h"
#include "ngx_http_audit_pg.h"


#define NGX_HTTP_AUDIT_ALERT_BUF    (AUDIT_ALERT_MAX + 1024)


static void ngx_http_audit_alert_record(ngx_http_audit_record_t *rec);
static void ngx_http_audit_alert_fault_sink(ngx_http_audit_fault_t *f);
static ngx_http_audit_alert_group_t *ngx_http_audit_alert_group(
    ngx_http_audit_alert_t *a, const char *fp);
static u_char *ngx_http_audit_alert_build(void *data,
    ngx_http_audit_deliver_item_t *it, u_char *buf, size_t size);
static ngx_int_t ngx_http_audit_alert_judge(void *data,
    ngx_http_audit_deliver_item_t *it, ngx_http_audit_http_response_t *resp);
static void ngx_http_audit_alert_ended(void *data,
    ngx_http_audit_deliver_item_t *it, ngx_int_t rc, ngx_uint_t status,
    const char *what);


const char  *const ngx_http_audit_alert_severities[] = {
    "info", "warning", "critical"
};


static ngx_http_audit_event_sink_pt      ngx_http_audit_alert_next_sink;
static ngx_http_audit_fault_sink_pt      ngx_http_audit_alert_next_fault;
ngx_http_audit_status_section_pt  ngx_http_audit_alert_next_status;


void
ngx_http_audit_alert_sink(void)
{
    ngx_http_audit_alert_next_sink = ngx_http_audit_top_event_sink;
    ngx_http_audit_top_event_sink = ngx_http_audit_alert_record;

    ngx_http_audit_alert_next_fault = ngx_http_audit_top_fault_sink;
    ngx_http_audit_top_fault_sink = ngx_http_audit_alert_fault_sink;

    ngx_http_audit_alert_next_status = ngx_http_audit_top_status_section;
    ngx_http_audit_top_status_section = ngx_http_audit_alert_status_section;
}


/* a zone kept over a reload keeps its windows, counters and alerts */

ngx_int_t
ngx_http_audit_alert_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_slab_pool_t            *shpool;
    ngx_http_audit_alert_sh_t  *sh;

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (data || shm_zone->shm.exists) {
        sh = data ? data : shpool->data;

        if (sh->magic != NGX_HTTP_AUDIT_ALERT_MAGIC
            || sh->size != sizeof(ngx_http_audit_alert_sh_t))
        {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "shared zone \"audit_alert\" was made by a module "
                          "with another layout; restart nginx instead of "
                          "reloading");
            return NGX_ERROR;
        }

        shm_zone->data = sh;
        return NGX_OK;
    }

    sh = ngx_slab_calloc(shpool, sizeof(ngx_http_audit_alert_sh_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    sh->magic = NGX_HTTP_AUDIT_ALERT_MAGIC;
    sh->size = sizeof(ngx_http_audit_alert_sh_t);
    sh->last_event = ngx_time();
    shpool->data = sh;
    shm_zone->data = sh;

    return NGX_OK;
}


ngx_int_t
ngx_http_audit_alert_init_process(ngx_cycle_t *cycle,
    ngx_http_audit_alert_main_conf_t *mcf)
{
    ngx_uint_t                      i;
    ngx_http_audit_alert_t         *a;
    ngx_http_audit_http_conf_t      hcf;
    ngx_http_audit_main_conf_t     *amcf;
    ngx_http_audit_alert_dest_t    *d;
    ngx_http_audit_alert_route_t   *rt;
    ngx_http_audit_pg_main_conf_t  *pmcf;
    ngx_http_audit_deliver_conf_t   dcf;

    if (mcf->shm_zone == NULL) {
        return NGX_OK;
    }

    a = ngx_pcalloc(cycle->pool, sizeof(ngx_http_audit_alert_t));
    if (a == NULL) {
        return NGX_ERROR;
    }

    a->mcf = mcf;
    a->log = cycle->log;
    a->shpool = (ngx_slab_pool_t *) mcf->shm_zone->shm.addr;
    a->sh = mcf->shm_zone->data;

    amcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_audit_module);
    a->audit = amcf->shm_zone ? amcf->shm_zone->data : NULL;
    a->scrub = amcf->scrub;

    pmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_audit_pg_module);
    a->pg = (pmcf && pmcf->pg);

    a->host = ngx_pnalloc(cycle->pool, cycle->hostname.len + 1);
    if (a->host == NULL) {
        return NGX_ERROR;
    }

    (void) ngx_cpystrn(a->host, cycle->hostname.data,
                       cycle->hostname.len + 1);

    rt = mcf->routes ? mcf->routes->elts : NULL;
    a->ndests = mcf->routes ? mcf->routes->nelts : 0;

    for (i = 0; i < a->ndests; i++) {
        d = &a->dests[i];
        d->alert = a;
        d->route = &rt[i];

        ngx_memzero(&hcf, sizeof(ngx_http_audit_http_conf_t));
        hcf.addr = &rt[i].addr;
        hcf.host = &rt[i].host;
        hcf.name = &rt[i].sni;
        hcf.peer = (const char *) rt[i].name;
#if (NGX_SSL)
        hcf.ssl = rt[i].ssl;
#endif
        hcf.timeout = rt[i].timeout;

        dcf.peer = (const char *) rt[i].name;
        dcf.out_size = NGX_HTTP_AUDIT_ALERT_BUF;
        dcf.build = ngx_http_audit_alert_build;
        dcf.judge = ngx_http_audit_alert_judge;
        dcf.ended = ngx_http_audit_alert_ended;
        dcf.data = d;
        dcf.error_fails = 1;
        dcf.queued = NULL;
        dcf.breaker = NULL;

        if (ngx_worker < NGX_HTTP_AUDIT_MAX_WORKERS) {
            dcf.queued = &a->sh->routes[i].queued[ngx_worker];
            dcf.breaker = &a->sh->routes[i].breaker[ngx_worker];
        }

        d->deliver = ngx_http_audit_deliver_create(cycle, &dcf, &hcf);
        if (d->deliver == NULL) {
            return NGX_ERROR;
        }
    }

    a->tick.handler = ngx_http_audit_alert_tick;
    a->tick.data = a;
    a->tick.log = cycle->log;
    a->tick.cancelable = 1;

    ngx_add_timer(&a->tick, NGX_HTTP_AUDIT_ALERT_TICK);

    mcf->state = a;

    return NGX_OK;
}


void
ngx_http_audit_alert_exit_process(ngx_http_audit_alert_main_conf_t *mcf)
{
    ngx_uint_t               i;
    ngx_http_audit_alert_t  *a;

    a = mcf->state;

    if (a == NULL) {
        return;
    }

    for (i = 0; i < a->ndests; i++) {
        ngx_http_audit_deliver_close(a->dests[i].deliver);
    }

    a->ndests = 0;
    mcf->state = NULL;
}


ngx_http_audit_alert_t *
ngx_http_audit_alert_worker(void)
{
    ngx_http_audit_alert_main_conf_t  *mcf;

    mcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                              ngx_http_audit_alert_module);

    return mcf ? mcf->state : NULL;
}


ngx_http_audit_alert_sh_t *
ngx_http_audit_alert_shared(void)
{
    ngx_http_audit_alert_t  *a;

    a = ngx_http_audit_alert_worker();

    return a ? a->sh : NULL;
}


/* the log phase: upstream answers and their 5xx, for the rules */

ngx_int_t
ngx_http_audit_alert_log_handler(ngx_http_request_t *r)
{
    ngx_http_audit_alert_t  *a;

    if (r->upstream == NULL || r != r->main) {
        return NGX_OK;
    }

    a = ngx_http_audit_alert_worker();
    if (a == NULL) {
        return NGX_OK;
    }

    (void) ngx_atomic_fetch_add(&a->sh->upstream, 1);

    if (r->headers_out.status >= NGX_HTTP_INTERNAL_SERVER_ERROR) {
        (void) ngx_atomic_fetch_add(&a->sh->upstream_5xx, 1);
    }

    return NGX_OK;
}


/*
 * On the request path: every event is activity; a brute force is an
 * alert.  The failures it counts reach people through rules
 * (login_failure > N), never one by one.
 */

static void
ngx_http_audit_alert_record(ngx_http_audit_record_t *rec)
{
    u_char                   route[512], summary[128], detail[128];
    u_char                   rid[64], *p;
    size_t                   n;
    audit_event_t           *ev;
    audit_alert_t            al;
    ngx_http_audit_alert_t  *a;

    a = ngx_http_audit_alert_worker();
    ev = rec->ev;

    if (a == NULL || ev == NULL) {
        goto next;
    }

    a->sh->last_event = ngx_time();

    if (ev->action != AUDIT_BRUTEFORCE_SUSPECTED || a->ndests == 0) {
        goto next;
    }

    ngx_memzero(&al, sizeof(audit_alert_t));

    al.fingerprint = "bruteforce_suspected";
    al.name = "bruteforce_suspected";
    al.group = "login";
    al.count = ev->count > 0 ? (unsigned long long) ev->count : 1;

    *ngx_snprintf(summary, sizeof(summary) - 1,
                  "Brute force suspected: %L failed logins in %L s",
                  ev->count, ev->window) = '\0';
    al.summary = (const char *) summary;

    *ngx_snprintf(detail, sizeof(detail) - 1,
                  "%L failed logins within %L s from one address or for "
                  "one account", ev->count, ev->window) = '\0';
    al.detail = (const char *) detail;

    /* the route, scrubbed and without its query; the request id */

    if (ev->uri.len) {
        n = audit_scrub_uri(a->scrub, ev->uri.data, ev->uri.len,
                            (char *) route, sizeof(route));
        route[n] = '\0';
        p = ngx_strlchr(route, route + n, '?');
        if (p) {
            *p = '\0';
        }

        al.route = (const char *) route;
    }

    if (ev->request_id.len && ev->request_id.len < sizeof(rid)) {
        *ngx_cpymem(rid, ev->request_id.data, ev->request_id.len) = '\0';
        al.request_id = (const char *) rid;
    }

    ngx_http_audit_alert_raise(a, &al, AUDIT_SEV_CRITICAL, 0);

next:

    ngx_http_audit_alert_next_sink(rec);
}


/* the module's faults; an upstream's 5xx counts for upstream_5xx only */

static void
ngx_http_audit_alert_fault_sink(ngx_http_audit_fault_t *f)
{
    u_char                   fp[NGX_HTTP_AUDIT_ALERT_FP];
    audit_alert_t            al;
    ngx_uint_t               pg;
    ngx_http_audit_alert_t  *a;

    a = ngx_http_audit_alert_worker();

    /* for audit_health: the key file could not be re-read */
    if (a && ngx_strcmp(f->detail, "keys_unreadable") == 0) {
        (void) ngx_atomic_fetch_add(&a->sh->keys_failed, 1);
        a->sh->keys_failed_at = ngx_time();
    }

    if (a && a->ndests && ngx_strcmp(f->kind, "module_fault") == 0) {
        *ngx_snprintf(fp, sizeof(fp) - 1, "%s:%s", f->kind, f->detail)
            = '\0';

        pg = (ngx_strcmp(f->detail, "pg_down") == 0);

        ngx_memzero(&al, sizeof(audit_alert_t));
        al.fingerprint = (const char *) fp;
        al.name = f->detail;
        al.summary = f->title;
        al.group = (pg || ngx_strcmp(f->detail, "spool_full") == 0)
                   ? "postgresql" : "module";
        al.count = 1;

        /* PostgreSQL down clears when every worker is connected again */
        ngx_http_audit_alert_raise(a, &al, AUDIT_SEV_CRITICAL, pg);
    }

    ngx_http_audit_alert_next_fault(f);
}


/* one alert per fingerprint per window; a resolvable one once firing */

void
ngx_http_audit_alert_raise(ngx_http_audit_alert_t *a, audit_alert_t *al,
    ngx_uint_t severity, ngx_uint_t resolvable)
{
    time_t                         now;
    ngx_uint_t                     send, count;
    ngx_http_audit_alert_group_t  *g;

    now = ngx_time();
    send = 1;
    count = 0;

    ngx_shmtx_lock(&a->shpool->mutex);

    g = ngx_http_audit_alert_group(a, al->fingerprint);

    if (g) {
        if (resolvable ? g->firing
                       : (g->start && now - g->start < a->mcf->window))
        {
            g->count++;
            send = 0;

        } else {
            count = g->count;
            g->count = 0;
            g->start = now;
            g->started_ms = ngx_http_audit_alert_now_ms();
            g->firing = resolvable;
        }

        al->starts_ms = g->started_ms;
    }

    ngx_shmtx_unlock(&a->shpool->mutex);

    if (!send) {
        return;
    }

    if (al->starts_ms == 0) {
        al->starts_ms = ngx_http_audit_alert_now_ms();
    }

    /* what the window held back is in the next alert's count */
    al->count += count;

    ngx_http_audit_alert_send(a, al, severity, NULL, NGX_CONF_UNSET_UINT);
}


void
ngx_http_audit_alert_resolve(ngx_http_audit_alert_t *a, const char *fp,
    audit_alert_t *al, ngx_uint_t severity)
{
    ngx_uint_t                     send;
    ngx_http_audit_alert_group_t  *g;

    send = 0;

    ngx_shmtx_lock(&a->shpool->mutex);

    g = ngx_http_audit_alert_group(a, fp);

    if (g && g->firing) {
        g->firing = 0;
        g->start = 0;
        al->starts_ms = g->started_ms;
        send = 1;
    }

    ngx_shmtx_unlock(&a->shpool->mutex);

    if (send) {
        al->resolved = 1;
        al->ends_ms = ngx_http_audit_alert_now_ms();
        ngx_http_audit_alert_send(a, al, severity, NULL,
                                  NGX_CONF_UNSET_UINT);
    }
}


/* under the zone's lock: the fingerprint's slot, or the oldest one */

static ngx_http_audit_alert_group_t *
ngx_http_audit_alert_group(ngx_http_audit_alert_t *a, const char *fp)
{
    size_t                         len;
    ngx_uint_t                     i;
    ngx_http_audit_alert_group_t  *g, *old;

    len = ngx_strlen(fp);
    if (len >= NGX_HTTP_AUDIT_ALERT_FP) {
        return NULL;
    }

    old = NULL;

    for (i = 0; i < NGX_HTTP_AUDIT_ALERT_GROUPS; i++) {
        g = &a->sh->groups[i];

        if (ngx_strcmp(g->fp, fp) == 0) {
            g->last = ngx_time();
            return g;
        }

        if (!g->firing && (old == NULL || g->last < old->last)) {
            old = g;
        }
    }

    if (old == NULL) {
        return NULL;
    }

    ngx_memzero(old, sizeof(ngx_http_audit_alert_group_t));
    ngx_memcpy(old->fp, fp, len + 1);
    old->last = ngx_time();

    return old;
}


/* encoded once per kind, queued on each route it reaches */

void
ngx_http_audit_alert_send(ngx_http_audit_alert_t *a, audit_alert_t *al,
    ngx_uint_t severity, void *tag, ngx_uint_t only)
{
    long                           n;
    u_char                        *p;
    ngx_uint_t                     i;
    ngx_http_audit_alert_dest_t   *d;
    ngx_http_audit_alert_route_t  *rt;

    al->severity = ngx_http_audit_alert_severities[severity];
    al->source = (const char *) a->host;

    for (i = 0; i < a->ndests; i++) {
        d = &a->dests[i];
        rt = d->route;

        if (only != NGX_CONF_UNSET_UINT ? i != only : severity < rt->severity)
        {
            continue;
        }

        if (ngx_http_audit_deliver_room(d->deliver) != NGX_OK) {
            (void) ngx_atomic_fetch_add(&a->sh->routes[i].dropped, 1);
            ngx_log_error(NGX_LOG_WARN, a->log, 0,
                          "audit: alert route %s: queue full or breaker "
                          "open, alert \"%s\" dropped", rt->name,
                          al->fingerprint);
            continue;
        }

        p = ngx_alloc(AUDIT_ALERT_MAX, a->log);
        if (p == NULL) {
            (void) ngx_atomic_fetch_add(&a->sh->routes[i].dropped, 1);
            continue;
        }

        n = audit_alert_encode(rt->kind, al, (const char *) rt->key.data,
                               (char *) p, AUDIT_ALERT_MAX);
        if (n <= 0) {
            ngx_free(p);
            (void) ngx_atomic_fetch_add(&a->sh->routes[i].dropped, 1);
            continue;
        }

        ngx_http_audit_deliver_push(d->deliver, p, n, 0, tag);
    }
}


static u_char *
ngx_http_audit_alert_build(void *data, ngx_http_audit_deliver_item_t *it,
    u_char *buf, size_t size)
{
    u_char                       *p;
    ngx_http_audit_alert_dest_t  *d = data;

    p = ngx_snprintf(buf, size,
                     "POST %V HTTP/1.1" CRLF
                     "Host: %V" CRLF
                     "User-Agent: ngx_http_audit/" NGX_HTTP_AUDIT_VERSION CRLF
                     "Content-Type: application/json" CRLF
                     "Content-Length: %uz" CRLF CRLF,
                     &d->route->path, &d->route->host, it->len);

    if ((size_t) (buf + size - p) < it->len) {
        return NULL;
    }

    return ngx_cpymem(p, it->data, it->len);
}


/* 2xx accepted (PagerDuty 202, Slack 200); 429 and 5xx tried again */

static ngx_int_t
ngx_http_audit_alert_judge(void *data, ngx_http_audit_deliver_item_t *it,
    ngx_http_audit_http_response_t *resp)
{
    ngx_http_audit_alert_dest_t  *d = data;

    if (resp->status >= 200 && resp->status < 300) {
        return NGX_OK;
    }

    if (resp->status == 429 || resp->status >= 500) {

        /* audit_test wants to know what the service answers now */
        if (it->tag) {
            return NGX_ERROR;
        }

        ngx_http_audit_deliver_retry_in(d->deliver,
                                    ngx_http_audit_deliver_retry_after(resp));
        return NGX_AGAIN;
    }

    ngx_log_error(NGX_LOG_WARN, d->alert->log, 0,
                  "audit: alert route %s refused an alert: %ui",
                  d->route->name, resp->status);

    return NGX_DECLINED;
}


static void
ngx_http_audit_alert_ended(void *data, ngx_http_audit_deliver_item_t *it,
    ngx_int_t rc, ngx_uint_t status, const char *what)
{
    ngx_http_audit_alert_dest_t    *d = data;
    ngx_http_audit_alert_t         *a;

    a = d->alert;

    switch (rc) {

    case NGX_OK:
        (void) ngx_atomic_fetch_add(&a->sh->routes[d->route->index].sent, 1);
        break;

    case NGX_ABORT:
        if (what && ngx_strcmp(what, "breaker") == 0) {
            (void) ngx_atomic_fetch_add(
                          &a->sh->routes[d->route->index].dropped, 1);
            break;
        }

        /* fall through */

    default:
        (void) ngx_atomic_fetch_add(&a->sh->routes[d->route->index].failed,
                                    1);
    }

    if (it->tag) {
        ngx_http_audit_alert_test_result(a, it->tag, d->route->index, rc,
                                         status, what);
    }
}


unsigned long long
ngx_http_audit_alert_now_ms(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (unsigned long long) tp->sec * 1000 + tp->msec;
}
