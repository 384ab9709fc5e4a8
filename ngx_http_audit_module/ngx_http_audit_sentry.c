
/*
 * ngx_http_audit_module: the error tracker client.
 *
 * Failures (failed logins, refused sessions, denials, brute force) are
 * sent to an endpoint that speaks the Sentry protocol (Sentry, GlitchTip)
 * as envelopes encoded by the core (audit_sentry.c), one fingerprint per
 * category so each kind of failure is one issue with a count.
 *
 * Nothing here may slow a request: an envelope is encoded and queued
 * (bounded, per worker) on the request path; the worker-level HTTP/1.1
 * client (ngx_http_audit_http.c) sends the queue over one keep-alive
 * connection in the event loop, with a timeout on every request.
 * The address is resolved when the configuration is read.  Rate limits
 * sent by the server are honoured, a circuit breaker stops trying after
 * repeated failures, and whatever is dropped is counted and reported in a
 * client_report envelope later.
 */


#include "ngx_http_audit_sentry.h"
#include "ngx_http_audit_deliver.h"


#define NGX_HTTP_AUDIT_SENTRY_BUF       (AUDIT_SENTRY_ENVELOPE_MAX + 4096)
#define NGX_HTTP_AUDIT_SENTRY_REPORT    30000
#define NGX_HTTP_AUDIT_SENTRY_FPS       64

/* what a queued item is, besides an event's envelope */
#define NGX_HTTP_AUDIT_SENTRY_ITEM_REPORT  1
#define NGX_HTTP_AUDIT_SENTRY_ITEM_TEST    2


typedef struct {
    u_char                       fp[AUDIT_SENTRY_FINGERPRINT_MAX];
    time_t                       start;
    ngx_uint_t                   count;
} ngx_http_audit_sentry_fp_t;


struct ngx_http_audit_sentry_s {
    ngx_http_audit_sentry_conf_t  *conf;
    ngx_log_t                     *log;
    u_char                        *server_name;    /* NUL-terminated */

    ngx_http_audit_deliver_t      *deliver;         /* queue, breaker */

    ngx_event_t                    report;          /* client reports */

    unsigned long long             error_until;     /* rate limits, ms */
    unsigned long long             report_until;

    audit_sentry_discards_t        discards;

    ngx_http_audit_sentry_test_pt  test_done;       /* audit_test's */

    ngx_http_audit_shctx_t        *sh;              /* sent, dropped */
    ngx_http_audit_worker_stats_t *stats;           /* queued, breaker */
    const audit_scrub_t           *scrub;           /* the audit module's */

    ngx_http_audit_sentry_fp_t     fps[NGX_HTTP_AUDIT_SENTRY_FPS];
    ngx_uint_t                     nfps;
};


static ngx_http_audit_sentry_t *ngx_http_audit_sentry_worker(void);
static void ngx_http_audit_sentry_record(ngx_http_audit_record_t *rec);
static void ngx_http_audit_sentry_fault_sink(ngx_http_audit_fault_t *f);
static void ngx_http_audit_sentry_event(ngx_http_audit_sentry_t *s,
    audit_event_t *ev, const audit_scrub_t *scrub);
static void ngx_http_audit_sentry_fault(ngx_http_audit_sentry_t *s,
    audit_event_t *ev, const char *kind, const char *detail,
    const char *title, const audit_scrub_t *scrub);
static ngx_uint_t ngx_http_audit_sentry_category(audit_event_t *ev);
static u_char *ngx_http_audit_sentry_admit(ngx_http_audit_sentry_t *s,
    u_char *fp, size_t len, unsigned long long now);
static void ngx_http_audit_sentry_opts(ngx_http_audit_sentry_t *s,
    audit_sentry_opts_t *opts);
static ngx_uint_t ngx_http_audit_sentry_sampled(ngx_http_audit_sentry_t *s,
    u_char *fp, size_t len);
static u_char *ngx_http_audit_sentry_build(void *data,
    ngx_http_audit_deliver_item_t *it, u_char *buf, size_t size);
static ngx_int_t ngx_http_audit_sentry_judge(void *data,
    ngx_http_audit_deliver_item_t *it, ngx_http_audit_http_response_t *resp);
static void ngx_http_audit_sentry_ended(void *data,
    ngx_http_audit_deliver_item_t *it, ngx_int_t rc, ngx_uint_t status,
    const char *what);
static void ngx_http_audit_sentry_report(ngx_event_t *ev);
static unsigned long long ngx_http_audit_sentry_now(void);
static void ngx_http_audit_sentry_drop(ngx_http_audit_sentry_t *s,
    unsigned long long *reason);


ngx_int_t
ngx_http_audit_sentry_init_process(ngx_cycle_t *cycle,
    ngx_http_audit_sentry_main_conf_t *smcf)
{
    ngx_http_audit_sentry_t     *s;
    ngx_http_audit_http_conf_t     hcf;
    ngx_http_audit_main_conf_t    *amcf;
    ngx_http_audit_deliver_conf_t  dcf;

    if (smcf->sentry.dsn_text.len == 0) {
        return NGX_OK;
    }

    s = ngx_pcalloc(cycle->pool, sizeof(ngx_http_audit_sentry_t));
    if (s == NULL) {
        return NGX_ERROR;
    }

    s->conf = &smcf->sentry;
    s->log = cycle->log;
    /* the zone's counters and this worker's gauges: the audit module's */
    amcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_audit_module);
    s->sh = amcf->shm_zone ? amcf->shm_zone->data : NULL;
    s->stats = amcf->stats;
    s->scrub = amcf->scrub;

    /* cycle->hostname has no trailing NUL; the core wants a C string */

    s->server_name = ngx_pnalloc(cycle->pool, cycle->hostname.len + 1);
    if (s->server_name == NULL) {
        return NGX_ERROR;
    }

    (void) ngx_cpystrn(s->server_name, cycle->hostname.data,
                       cycle->hostname.len + 1);

    hcf.addr = &s->conf->addr;
    hcf.host = &s->conf->host;
    hcf.name = &s->conf->name;
    hcf.peer = "Sentry";
#if (NGX_SSL)
    hcf.ssl = s->conf->ssl;
#endif
    hcf.timeout = s->conf->timeout;

    dcf.peer = "Sentry";
    dcf.out_size = NGX_HTTP_AUDIT_SENTRY_BUF;
    dcf.build = ngx_http_audit_sentry_build;
    dcf.judge = ngx_http_audit_sentry_judge;
    dcf.ended = ngx_http_audit_sentry_ended;
    dcf.data = s;
    dcf.error_fails = 0;
    dcf.queued = s->stats ? &s->stats->sentry_queue : NULL;
    dcf.breaker = s->stats ? &s->stats->sentry_breaker : NULL;

    s->deliver = ngx_http_audit_deliver_create(cycle, &dcf, &hcf);
    if (s->deliver == NULL) {
        return NGX_ERROR;
    }

    s->report.handler = ngx_http_audit_sentry_report;
    s->report.data = s;
    s->report.log = cycle->log;
    s->report.cancelable = 1;

    ngx_add_timer(&s->report, NGX_HTTP_AUDIT_SENTRY_REPORT);

    smcf->sentry_state = s;

    return NGX_OK;
}


void
ngx_http_audit_sentry_exit_process(ngx_http_audit_sentry_main_conf_t *smcf)
{
    ngx_http_audit_sentry_t  *s;

    s = smcf->sentry_state;

    if (s == NULL) {
        return;
    }

    ngx_http_audit_deliver_close(s->deliver);
    s->deliver = NULL;
    smcf->sentry_state = NULL;
}


static ngx_http_audit_event_sink_pt  ngx_http_audit_sentry_next_sink;
static ngx_http_audit_fault_sink_pt  ngx_http_audit_sentry_next_fault;


void
ngx_http_audit_sentry_sink(void)
{
    ngx_http_audit_sentry_next_sink = ngx_http_audit_top_event_sink;
    ngx_http_audit_top_event_sink = ngx_http_audit_sentry_record;

    ngx_http_audit_sentry_next_fault = ngx_http_audit_top_fault_sink;
    ngx_http_audit_top_fault_sink = ngx_http_audit_sentry_fault_sink;
}


/* this worker's client, once it runs; NULL without a DSN */

static ngx_http_audit_sentry_t *
ngx_http_audit_sentry_worker(void)
{
    ngx_http_audit_sentry_main_conf_t  *smcf;

    smcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_audit_sentry_module);

    return smcf ? smcf->sentry_state : NULL;
}


static void
ngx_http_audit_sentry_record(ngx_http_audit_record_t *rec)
{
    ngx_http_audit_sentry_t  *s;

    s = ngx_http_audit_sentry_worker();

    if (s) {
        ngx_http_audit_sentry_event(s, rec->ev, s->scrub);
    }

    ngx_http_audit_sentry_next_sink(rec);
}


static void
ngx_http_audit_sentry_fault_sink(ngx_http_audit_fault_t *f)
{
    ngx_http_audit_sentry_t  *s;

    s = ngx_http_audit_sentry_worker();

    if (s) {
        ngx_http_audit_sentry_fault(s, f->ev, f->kind, f->detail, f->title,
                                    s->scrub);
    }

    ngx_http_audit_sentry_next_fault(f);
}


/*
 * On the request path: is this event a failure to report, and is there
 * room for it?  Encoding is the only work done here.
 */

static void
ngx_http_audit_sentry_event(ngx_http_audit_sentry_t *s, audit_event_t *ev,
    const audit_scrub_t *scrub)
{
    int                   fplen;
    long                  n;
    u_char                fp[AUDIT_SENTRY_FINGERPRINT_MAX], *p;
    audit_sentry_opts_t   opts;
    unsigned long long    now;

    fplen = audit_sentry_fingerprint(ev, (char *) fp, sizeof(fp));
    if (fplen <= 0) {
        return;
    }

    if (!(s->conf->events & ngx_http_audit_sentry_category(ev))) {
        return;
    }

    /*
     * No session at all is mostly someone who has not signed in yet (a
     * bookmark, a link in an e-mail): logged and stored, but an issue in
     * the tracker only when audit_sentry_events names it.
     */

    if (ev->action == AUDIT_SESSION_INVALID
        && !(s->conf->events & NGX_HTTP_AUDIT_SENTRY_MISSING)
        && ev->reason.len == sizeof("missing") - 1
        && ngx_strncmp(ev->reason.data, "missing", ev->reason.len) == 0)
    {
        return;
    }

    now = ngx_http_audit_sentry_now();

    p = ngx_http_audit_sentry_admit(s, fp, fplen, now);
    if (p == NULL) {
        return;
    }

    ngx_http_audit_sentry_opts(s, &opts);

    n = audit_sentry_envelope(ev, &s->conf->dsn,
                              (const char *) s->conf->dsn_text.data, &opts,
                              scrub, now, (char *) p,
                              NGX_HTTP_AUDIT_SENTRY_BUF);
    if (n <= 0) {
        ngx_free(p);
        ngx_http_audit_sentry_drop(s, &s->discards.send_error);
        return;
    }

    ngx_http_audit_deliver_push(s->deliver, p, n, 0, NULL);
}


static ngx_uint_t
ngx_http_audit_sentry_category(audit_event_t *ev)
{
    switch (ev->action) {

    case AUDIT_LOGIN_FAILURE:
        return NGX_HTTP_AUDIT_SENTRY_LOGIN;

    case AUDIT_SESSION_INVALID:
        return NGX_HTTP_AUDIT_SENTRY_SESSION;

    case AUDIT_AUTHZ_CHECK:
        return NGX_HTTP_AUDIT_SENTRY_AUTHZ;

    case AUDIT_BRUTEFORCE_SUSPECTED:
        return NGX_HTTP_AUDIT_SENTRY_BRUTEFORCE;

    case AUDIT_REQUEST_REJECTED:
        return NGX_HTTP_AUDIT_SENTRY_REJECTED;

    default:
        return 0;
    }
}


/*
 * A failure that is not an audit event: an upstream error (ev has the
 * request's context) or one of the module's own faults (ev NULL: only a
 * time and an id), e.g. "module_fault:pg_down".  Same queue and limits.
 */

static void
ngx_http_audit_sentry_fault(ngx_http_audit_sentry_t *s, audit_event_t *ev,
    const char *kind, const char *detail, const char *title,
    const audit_scrub_t *scrub)
{
    long                   n;
    u_char                *p, fp[AUDIT_SENTRY_FINGERPRINT_MAX];
    size_t                 len;
    ngx_uint_t             category;
    audit_event_t          own;
    audit_sentry_fault_t   fault;
    audit_sentry_opts_t    opts;
    unsigned long long     now;

    if (s == NULL) {
        return;
    }

    category = (ngx_strcmp(kind, "upstream_error") == 0)
               ? NGX_HTTP_AUDIT_SENTRY_UPSTREAM : NGX_HTTP_AUDIT_SENTRY_FAULT;

    if (!(s->conf->events & category)) {
        return;
    }

    now = ngx_http_audit_sentry_now();

    if (ev == NULL) {
        ngx_memzero(&own, sizeof(audit_event_t));

        if (ngx_http_audit_random(own.id, sizeof(own.id)) != NGX_OK) {
            return;
        }

        own.ts_ms = now;
        own.severity = AUDIT_SEV_CRITICAL;
        ev = &own;
    }

    len = ngx_snprintf(fp, sizeof(fp) - 1, "%s:%s", kind, detail) - fp;

    p = ngx_http_audit_sentry_admit(s, fp, len, now);
    if (p == NULL) {
        return;
    }

    fault.kind = kind;
    fault.detail = detail;
    fault.title = title;

    ngx_http_audit_sentry_opts(s, &opts);

    n = audit_sentry_envelope_fault(ev, &fault, &s->conf->dsn,
                                    (const char *) s->conf->dsn_text.data,
                                    &opts, scrub, now, (char *) p,
                                    NGX_HTTP_AUDIT_SENTRY_BUF);
    if (n <= 0) {
        ngx_free(p);
        ngx_http_audit_sentry_drop(s, &s->discards.send_error);
        return;
    }

    ngx_http_audit_deliver_push(s->deliver, p, n, 0, NULL);
}


/*
 * Whether one more event may go, by the server's rate limits, the breaker,
 * audit_sentry_rate and the queue's room: a buffer for its envelope, or
 * NULL with the reason counted for the next client report.
 */

static u_char *
ngx_http_audit_sentry_admit(ngx_http_audit_sentry_t *s, u_char *fp,
    size_t len, unsigned long long now)
{
    u_char  *p;

    if (now < s->error_until || ngx_http_audit_sentry_sampled(s, fp, len)) {
        ngx_http_audit_sentry_drop(s, &s->discards.ratelimit_backoff);
        return NULL;
    }

    switch (ngx_http_audit_deliver_room(s->deliver)) {

    case NGX_ABORT:
        ngx_http_audit_sentry_drop(s, &s->discards.network_error);
        return NULL;

    case NGX_BUSY:
        ngx_http_audit_sentry_drop(s, &s->discards.queue_overflow);
        return NULL;
    }

    p = ngx_alloc(NGX_HTTP_AUDIT_SENTRY_BUF, s->log);
    if (p == NULL) {
        ngx_http_audit_sentry_drop(s, &s->discards.queue_overflow);
    }

    return p;
}


static void
ngx_http_audit_sentry_opts(ngx_http_audit_sentry_t *s,
    audit_sentry_opts_t *opts)
{
    opts->environment = s->conf->environment.len
                        ? (const char *) s->conf->environment.data : NULL;
    opts->release = s->conf->release.len
                    ? (const char *) s->conf->release.data : NULL;
    opts->server_name = (const char *) s->server_name;
    opts->send_pii = 0;
}


/* audit_sentry_rate N/m: at most N events per fingerprint a minute */

static ngx_uint_t
ngx_http_audit_sentry_sampled(ngx_http_audit_sentry_t *s, u_char *fp,
    size_t len)
{
    time_t                       now;
    ngx_uint_t                   i;
    ngx_http_audit_sentry_fp_t  *f;

    if (s->conf->rate == 0 || len >= sizeof(s->fps[0].fp)) {
        return 0;
    }

    now = ngx_time();

    for (i = 0; i < s->nfps; i++) {
        if (ngx_strncmp(s->fps[i].fp, fp, len) == 0
            && s->fps[i].fp[len] == '\0')
        {
            break;
        }
    }

    if (i == s->nfps) {
        if (s->nfps == NGX_HTTP_AUDIT_SENTRY_FPS) {
            /* too many kinds to track: the oldest slot is reused */
            i = (ngx_uint_t) now % NGX_HTTP_AUDIT_SENTRY_FPS;

        } else {
            s->nfps++;
        }

        f = &s->fps[i];
        ngx_memcpy(f->fp, fp, len);
        f->fp[len] = '\0';
        f->start = now;
        f->count = 0;
    }

    f = &s->fps[i];

    if (now - f->start >= s->conf->rate_window) {
        f->start = now;
        f->count = 0;
    }

    return ++f->count > s->conf->rate;
}


/* the request for a queued envelope */

static u_char *
ngx_http_audit_sentry_build(void *data, ngx_http_audit_deliver_item_t *it,
    u_char *buf, size_t size)
{
    u_char                   *p;
    ngx_http_audit_sentry_t  *s = data;

    p = ngx_snprintf(buf, size,
                     "POST %s HTTP/1.1" CRLF
                     "Host: %V" CRLF
                     "User-Agent: ngx_http_audit/" NGX_HTTP_AUDIT_VERSION CRLF
                     "Content-Type: application/x-sentry-envelope" CRLF
                     "X-Sentry-Auth: %s" CRLF
                     "Content-Length: %uz" CRLF CRLF,
                     s->conf->dsn.envelope_path, &s->conf->host,
                     s->conf->auth, it->len);

    if ((size_t) (buf + size - p) < it->len) {
        s->discards.send_error++;
        return NULL;
    }

    return ngx_cpymem(p, it->data, it->len);
}


/*
 * The status line and headers are enough: rate limits are headers, and
 * the body is a small JSON we do not need.  Nothing is sent twice: the
 * protocol's rate limits pause what comes next instead.
 */

static ngx_int_t
ngx_http_audit_sentry_judge(void *data, ngx_http_audit_deliver_item_t *it,
    ngx_http_audit_http_response_t *resp)
{
    ngx_str_t                 rl, ra;
    ngx_uint_t                status;
    ngx_http_audit_sentry_t  *s = data;

    status = resp->status;

    ngx_str_null(&rl);
    ngx_str_null(&ra);

    (void) ngx_http_audit_http_header(resp, "X-Sentry-Rate-Limits", &rl);
    (void) ngx_http_audit_http_header(resp, "Retry-After", &ra);

    if (audit_sentry_rate_limits((int) status, (const char *) rl.data,
                                 rl.len, (const char *) ra.data, ra.len,
                                 ngx_http_audit_sentry_now(),
                                 &s->error_until, &s->report_until))
    {
        ngx_log_error(NGX_LOG_WARN, s->log, 0,
                      "audit: Sentry rate limit: sending paused for %uL ms",
                      s->error_until > ngx_http_audit_sentry_now()
                      ? s->error_until - ngx_http_audit_sentry_now() : 0);
    }

    if (status >= 200 && status < 300) {
        return NGX_OK;
    }

    if (status >= 500) {
        ngx_log_error(NGX_LOG_WARN, s->log, 0,
                      "audit: Sentry answered %ui", status);
        s->discards.send_error++;
        return NGX_ERROR;
    }

    if (status == 429) {
        s->discards.ratelimit_backoff++;

    } else if (status >= 400) {
        ngx_log_error(NGX_LOG_WARN, s->log, 0,
                      "audit: Sentry refused an envelope: %ui", status);
        s->discards.send_error++;
    }

    return NGX_DECLINED;
}


/* an event's envelope: the tracker has it, or it is lost */

static void
ngx_http_audit_sentry_ended(void *data, ngx_http_audit_deliver_item_t *it,
    ngx_int_t rc, ngx_uint_t status, const char *what)
{
    ngx_http_audit_sentry_t  *s = data;

    if (it->flag == NGX_HTTP_AUDIT_SENTRY_ITEM_TEST) {
        if (s->test_done) {
            s->test_done(it->tag, rc, status, what);
        }

        return;
    }

    if (it->flag) {
        return;                            /* a client report of our own */
    }

    if (rc == NGX_OK) {
        if (s->sh) {
            (void) ngx_atomic_fetch_add(&s->sh->sentry_sent, 1);
        }

        return;
    }

    ngx_http_audit_sentry_drop(s, rc == NGX_ABORT
                                  ? &s->discards.network_error : NULL);
}


/*
 * audit_test: a clearly labelled event, past the rate limits (it is
 * asked for), its result handed to done with tag.
 */

ngx_int_t
ngx_http_audit_sentry_test(ngx_str_t *request_id,
    ngx_http_audit_sentry_test_pt done, void *tag)
{
    long                       n;
    u_char                    *p;
    audit_event_t              ev;
    audit_sentry_opts_t        opts;
    audit_sentry_fault_t       fault;
    ngx_http_audit_sentry_t   *s;
    unsigned long long         now;

    s = ngx_http_audit_sentry_worker();
    if (s == NULL) {
        return NGX_DECLINED;
    }

    if (ngx_http_audit_deliver_room(s->deliver) != NGX_OK) {
        return NGX_BUSY;
    }

    now = ngx_http_audit_sentry_now();

    ngx_memzero(&ev, sizeof(audit_event_t));

    if (ngx_http_audit_random(ev.id, sizeof(ev.id)) != NGX_OK) {
        return NGX_ERROR;
    }

    ev.ts_ms = now;
    ev.severity = AUDIT_SEV_INFO;
    ev.request_id.data = (const char *) request_id->data;
    ev.request_id.len = request_id->len;

    fault.kind = "audit_test";
    fault.detail = "test";
    fault.title = "Test event from audit_test: the tracker receives "
                  "events, no action needed";

    p = ngx_alloc(NGX_HTTP_AUDIT_SENTRY_BUF, s->log);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_http_audit_sentry_opts(s, &opts);

    n = audit_sentry_envelope_fault(&ev, &fault, &s->conf->dsn,
                                    (const char *) s->conf->dsn_text.data,
                                    &opts, s->scrub, now, (char *) p,
                                    NGX_HTTP_AUDIT_SENTRY_BUF);
    if (n <= 0) {
        ngx_free(p);
        return NGX_ERROR;
    }

    s->test_done = done;
    ngx_http_audit_deliver_push(s->deliver, p, n,
                                NGX_HTTP_AUDIT_SENTRY_ITEM_TEST, tag);

    return NGX_OK;
}


/* what our own limits dropped, reported as the protocol asks */

static void
ngx_http_audit_sentry_report(ngx_event_t *ev)
{
    long                      n;
    u_char                   *p;
    ngx_http_audit_sentry_t  *s = ev->data;

    if (!ngx_exiting) {
        ngx_add_timer(ev, NGX_HTTP_AUDIT_SENTRY_REPORT);
    }

    if (ngx_http_audit_sentry_now() < s->report_until
        || ngx_http_audit_deliver_room(s->deliver) != NGX_OK)
    {
        return;
    }

    p = ngx_alloc(NGX_HTTP_AUDIT_SENTRY_BUF, s->log);
    if (p == NULL) {
        return;
    }

    n = audit_sentry_client_report(&s->discards,
                                   (const char *) s->conf->dsn_text.data,
                                   ngx_http_audit_sentry_now(), (char *) p,
                                   NGX_HTTP_AUDIT_SENTRY_BUF);
    if (n <= 0) {
        ngx_free(p);
        return;
    }

    ngx_memzero(&s->discards, sizeof(audit_sentry_discards_t));

    ngx_http_audit_deliver_push(s->deliver, p, n,
                                NGX_HTTP_AUDIT_SENTRY_ITEM_REPORT, NULL);
}


/*
 * An event's envelope given up: counted for the protocol's client report
 * (reason, when there is one to give) and in audit_status's
 * sentry.dropped.  A client report of our own is not an event.
 */

static void
ngx_http_audit_sentry_drop(ngx_http_audit_sentry_t *s,
    unsigned long long *reason)
{
    if (reason) {
        (*reason)++;
    }

    if (s->sh) {
        (void) ngx_atomic_fetch_add(&s->sh->sentry_dropped, 1);
    }
}


static unsigned long long
ngx_http_audit_sentry_now(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (unsigned long long) tp->sec * 1000 + tp->msec;
}
