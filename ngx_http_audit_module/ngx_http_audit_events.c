
/*
 * ngx_http_audit_module: audit events.
 *
 * What happened to a request is gathered in its context during the access
 * phase and the header filter, and turned into events once, when the
 * final status is known: as the response's last buffer passes the body
 * filter (ngx_http_audit_events_request(), before its last bytes reach
 * the client, so an answered request's events are in the chain, and the
 * ring, even if the worker dies right after), or else in the log phase
 * (a client gone before the end).  The context survives internal
 * redirects (ngx_http_audit_get_ctx()) and ctx->audited makes it once,
 * so each request yields exactly one set of events.
 *
 * The builders here (and in ngx_http_audit_events_login.c) set what is
 * particular to each event; ngx_http_audit_event_emit()
 * (ngx_http_audit_chain.c) completes, chains, encodes and hands it on.
 */


#include "ngx_http_audit_module.h"




static ngx_int_t ngx_http_audit_log_handler(ngx_http_request_t *r);
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
static void ngx_http_audit_event_upstream(ngx_http_request_t *r,
    ngx_http_audit_main_conf_t *amcf, ngx_http_audit_ctx_t *ctx);
static void ngx_http_audit_count_decision(ngx_http_audit_main_conf_t *amcf,
    ngx_http_audit_ctx_t *ctx);


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




static ngx_int_t
ngx_http_audit_log_handler(ngx_http_request_t *r)
{
    ngx_http_audit_events_request(r);

    return NGX_OK;
}


void
ngx_http_audit_events_request(ngx_http_request_t *r)
{
    ngx_http_audit_ctx_t        *ctx;
    ngx_http_audit_loc_conf_t   *alcf;
    ngx_http_audit_main_conf_t  *amcf;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_audit_module);

    ctx = ngx_http_audit_get_ctx(r);

    if (ctx == NULL || ctx->audited) {
        return;
    }

    ctx->audited = 1;

    ngx_http_audit_count_decision(amcf, ctx);

    if (amcf->producer == NULL) {
        return;
    }

    /*
     * The events are those of the location that judged the request, also
     * when an error_page or a named location without a key set answered it
     */

    alcf = ctx->alcf ? ctx->alcf
                     : ngx_http_get_module_loc_conf(r, ngx_http_audit_module);

    switch (ctx->decision) {

    case NGX_HTTP_AUDIT_UNAUTHENTICATED:
        ngx_http_audit_event_session_invalid(r, alcf, ctx);

        /* "satisfy any" served it all the same: the record was read */

        if (ctx->passed && alcf->record_type.len) {
            ngx_http_audit_event_record(r, alcf, ctx);
        }

        break;

    case NGX_HTTP_AUDIT_DENIED:
        ngx_http_audit_event_authz(r, alcf, ctx);

        if (ctx->passed && alcf->record_type.len) {
            ngx_http_audit_event_record(r, alcf, ctx);
        }

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

    /* the ID as the access phase saw it (see ngx_http_audit_access.c) */

    if (ctx->alcf == alcf) {
        id = ctx->record_id;

    } else if (ngx_http_complex_value(r, alcf->record_id, &id) != NGX_OK) {
        return;
    }

    if (id.len == 0) {
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
    if (ngx_http_audit_event_prepare(r, &ev) != NGX_OK) {
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
