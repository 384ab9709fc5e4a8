
/*
 * ngx_http_audit_module: the events of logins and logouts, built in the
 * log phase from what login.c observed (it builds none) and from the
 * failed-login detector's verdict (bruteforce.c counts, it emits none).
 */


#include "ngx_http_audit_module.h"


static void ngx_http_audit_events_bruteforce(ngx_http_request_t *r,
    ngx_uint_t count, time_t window, ngx_str_t *account);
static void ngx_http_audit_events_who(audit_event_t *ev,
    ngx_http_audit_ctx_t *ctx);


void
ngx_http_audit_events_login(ngx_http_request_t *r,
    ngx_http_audit_loc_conf_t *alcf, ngx_http_audit_ctx_t *ctx)
{
    audit_event_t                ev;
    ngx_http_audit_bf_verdict_t  v;

    ngx_memzero(&ev, sizeof(audit_event_t));

    if (ctx->login && ctx->login_body) {

        if (ctx->login_success) {
            ev.action = AUDIT_LOGIN_SUCCESS;
            ngx_http_audit_events_who(&ev, ctx);
            ev.role.data = (const char *) ctx->role.data;
            ev.role.len = ctx->role.len;

            ngx_http_audit_event_emit(r, &ev);

            ev.action = AUDIT_SESSION_CREATE;
            ev.role.len = 0;
            ev.severity = AUDIT_SEV_INFO;
            ngx_http_audit_event_emit(r, &ev);

            return;
        }

        ev.action = AUDIT_LOGIN_FAILURE;
        ev.attempted_user.data = (const char *) ctx->attempted_user.data;
        ev.attempted_user.len = ctx->attempted_user.len;
        ev.reason.data = (const char *) ctx->login_reason.data;
        ev.reason.len = ctx->login_reason.len;

        ngx_http_audit_event_emit(r, &ev);

        /* one failure more for the detector; an event when it trips */

        ngx_http_audit_bruteforce_failure(r, ctx, &v);

        if (v.ip) {
            ngx_http_audit_events_bruteforce(r, v.ip, v.window, NULL);
        }

        if (v.user) {
            ngx_http_audit_events_bruteforce(r, v.user, v.window,
                                             &ctx->attempted_user);
        }

        if (v.first) {
            ngx_http_audit_events_bruteforce(r, v.first, v.window,
                                             &ctx->attempted_first);
        }

        return;
    }

    if (alcf->logout && ctx->token_valid
        && r->headers_out.status < NGX_HTTP_BAD_REQUEST)
    {
        /* the session was revoked in ngx_http_audit_login_response() */

        ev.action = AUDIT_SESSION_DESTROY;
        ngx_http_audit_events_who(&ev, ctx);

        ngx_http_audit_event_emit(r, &ev);
    }
}


/* account NULL: the count is the client address's */

static void
ngx_http_audit_events_bruteforce(ngx_http_request_t *r, ngx_uint_t count,
    time_t window, ngx_str_t *account)
{
    audit_event_t  ev;

    ngx_memzero(&ev, sizeof(audit_event_t));

    ev.action = AUDIT_BRUTEFORCE_SUSPECTED;
    ev.count = count;
    ev.window = window;

    /* the event is about the account when it is keyed by the account */

    if (account) {
        ev.attempted_user.data = (const char *) account->data;
        ev.attempted_user.len = account->len;
        ev.reason.data = "attempted_user";
        ev.reason.len = sizeof("attempted_user") - 1;

    } else {
        ev.reason.data = "ip";
        ev.reason.len = sizeof("ip") - 1;
    }

    ngx_http_audit_event_emit(r, &ev);
}


static void
ngx_http_audit_events_who(audit_event_t *ev, ngx_http_audit_ctx_t *ctx)
{
    ev->user_id.data = (const char *) ctx->user_id.data;
    ev->user_id.len = ctx->user_id.len;
    ev->session_id.data = (const char *) ctx->session_id.data;
    ev->session_id.len = ctx->session_id.len;
}
