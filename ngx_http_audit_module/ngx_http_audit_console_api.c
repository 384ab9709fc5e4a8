
/*
 * ngx_http_audit_module: the audit console's handler ("audit_console;").
 *
 * Under its location it serves the page (ngx_http_audit_console_out.c)
 * and a JSON API read from the console's zone:
 *
 *     api/events   the newest events, newest first, after a cursor,
 *                  filtered (action, severity, user, ip, route, record)
 *     api/stats, api/failed (ngx_http_audit_console_stats.c)
 *     api/health   PostgreSQL, the error tracker, events lost, chains
 *     api/chain    audit.verify_chain() over the last day (PostgreSQL)
 *     api/record, api/user (and .csv): the history, from PostgreSQL
 *                  (ngx_http_audit_console_pg.c)
 *
 * Every answer needs a verified session whatever the location says
 * (audit_public, satisfy any), only GET and HEAD are answered, and each
 * carries a strict Content-Security-Policy, Cache-Control: no-store and
 * nosniff.
 */


#include "ngx_http_audit_console.h"
#include "ngx_http_audit_pg.h"

#include <jansson.h>


#define NGX_HTTP_AUDIT_CONSOLE_CHUNK   256        /* lines per lock */
#define NGX_HTTP_AUDIT_CONSOLE_BUF     65536      /* bytes of a chunk */
#define NGX_HTTP_AUDIT_CONSOLE_LIMIT   500

/* what api/events was asked for */
typedef struct {
    uint64_t                     after;
    ngx_uint_t                   limit;
    ngx_int_t                    action;           /* -1: any */
    ngx_uint_t                   severities;       /* bits; 0: any */
    uint64_t                     since;            /* ms; 0: any */
    uint64_t                     until;
    ngx_str_t                    user;
    ngx_str_t                    ip;
    ngx_str_t                    route;
    ngx_str_t                    record_type;
    ngx_str_t                    record_id;
    ngx_uint_t                   quick;            /* values a line holds
                                                      unescaped */
} ngx_http_audit_console_filter_t;


static ngx_int_t ngx_http_audit_console_events(ngx_http_request_t *r,
    ngx_http_audit_console_shctx_t *sh, ngx_slab_pool_t *shpool);
static ngx_int_t ngx_http_audit_console_filter(ngx_http_request_t *r,
    ngx_http_audit_console_filter_t *f);
static ngx_uint_t ngx_http_audit_console_match(
    ngx_http_audit_console_filter_t *f, u_char *line, size_t len);
static ngx_uint_t ngx_http_audit_console_contains(u_char *line, size_t len,
    ngx_str_t *value, ngx_uint_t caseless);
static ngx_int_t ngx_http_audit_console_health(ngx_http_request_t *r,
    ngx_http_audit_console_shctx_t *sh, ngx_slab_pool_t *shpool);


static ngx_str_t  ngx_http_audit_console_severity_names[] = {
    ngx_string("info"), ngx_string("warning"), ngx_string("critical")
};


ngx_int_t
ngx_http_audit_console_handler(ngx_http_request_t *r)
{
    ngx_int_t                            rc;
    ngx_str_t                            rel;
    ngx_slab_pool_t                     *shpool;
    ngx_http_audit_ctx_t                *ctx;
    ngx_http_core_loc_conf_t            *clcf;
    ngx_http_audit_console_shctx_t      *sh;
    ngx_http_audit_console_main_conf_t  *cmcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_audit_console_error(r, NGX_HTTP_NOT_ALLOWED,
                                            "method_not_allowed");
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    /*
     * Not as a subrequest (SSI, add_before_body, auth_request): nginx
     * skips the access phase for those, so no role was checked for it
     * and the context it finds is its parent's.  Nor as an error page:
     * the module decides nothing afresh there either.
     */

    if (r != r->main || r->error_page) {
        return ngx_http_audit_console_error(r, NGX_HTTP_FORBIDDEN,
                                            "subrequest");
    }

    /* a session, whatever the location lets through */

    ctx = ngx_http_audit_get_ctx(r);

    if (ctx == NULL || !ctx->token_valid || ctx->user_id.len == 0) {
        return ngx_http_audit_console_error(r, NGX_HTTP_UNAUTHORIZED,
                                            "session_required");
    }

    /*
     * and the module's own policy permitted it: under "satisfy any" an
     * "allow" would otherwise let in a session the role check refused
     */

    if (ctx->decision != NGX_HTTP_AUDIT_PERMITTED) {
        return ngx_http_audit_console_error(r, NGX_HTTP_FORBIDDEN,
                                            "role_required");
    }

    /* what follows the location's name */

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (!clcf->exact_match && r->uri.len >= clcf->name.len
        && ngx_strncmp(r->uri.data, clcf->name.data, clcf->name.len) == 0)
    {
        rel.data = r->uri.data + clcf->name.len;
        rel.len = r->uri.len - clcf->name.len;

    } else {
        /* a regex or exact location: the page, or what follows "/api/" */
        rel.data = ngx_strlcasestrn(r->uri.data, r->uri.data + r->uri.len,
                                    (u_char *) "/api/", 5 - 1);

        if (rel.data == NULL) {
            for (rel.data = r->uri.data + r->uri.len;
                 rel.data > r->uri.data && rel.data[-1] != '/';
                 rel.data--)
            {
                /* void */
            }
        }

        rel.len = r->uri.data + r->uri.len - rel.data;
    }

    while (rel.len && rel.data[0] == '/') {
        rel.data++;
        rel.len--;
    }

    if (rel.len < 4 || ngx_strncmp(rel.data, "api/", 4) != 0) {
        return ngx_http_audit_console_asset(r, &rel);
    }

    rel.data += 4;
    rel.len -= 4;

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_audit_console_module);
    shpool = (ngx_slab_pool_t *) cmcf->shm_zone->shm.addr;
    sh = cmcf->shm_zone->data;

#define ngx_http_audit_console_is(s)                                          \
    (rel.len == sizeof(s) - 1 && ngx_strncmp(rel.data, s, rel.len) == 0)

    if (ngx_http_audit_console_is("events")) {
        return ngx_http_audit_console_events(r, sh, shpool);
    }

    if (ngx_http_audit_console_is("stats")) {
        return ngx_http_audit_console_stats(r, sh, shpool);
    }

    if (ngx_http_audit_console_is("failed")) {
        return ngx_http_audit_console_failed(r, sh, shpool);
    }

    if (ngx_http_audit_console_is("health")) {
        return ngx_http_audit_console_health(r, sh, shpool);
    }

    if (ngx_http_audit_console_is("record")) {
        return ngx_http_audit_console_history(r,
                                              NGX_HTTP_AUDIT_CONSOLE_RECORD,
                                              0);
    }

    if (ngx_http_audit_console_is("record.csv")) {
        return ngx_http_audit_console_history(r,
                                              NGX_HTTP_AUDIT_CONSOLE_RECORD,
                                              1);
    }

    if (ngx_http_audit_console_is("user")) {
        return ngx_http_audit_console_history(r, NGX_HTTP_AUDIT_CONSOLE_USER,
                                              0);
    }

    if (ngx_http_audit_console_is("user.csv")) {
        return ngx_http_audit_console_history(r, NGX_HTTP_AUDIT_CONSOLE_USER,
                                              1);
    }

    if (ngx_http_audit_console_is("chain")) {
        return ngx_http_audit_console_history(r, NGX_HTTP_AUDIT_CONSOLE_CHAIN,
                                              0);
    }

#undef ngx_http_audit_console_is

    return ngx_http_audit_console_error(r, NGX_HTTP_NOT_FOUND, "not_found");
}


/* api/events: the newest lines first, after the cursor, those that match */

static ngx_int_t
ngx_http_audit_console_events(ngx_http_request_t *r,
    ngx_http_audit_console_shctx_t *sh, ngx_slab_pool_t *shpool)
{
    u_char                          *line;
    uint64_t                         seq, last, first, stop;
    u_char                          *buf;
    size_t                           cap, used, size;
    ngx_int_t                        rc;
    ngx_uint_t                       n, found, strings, i, chunk, failed;
    ngx_http_audit_console_out_t     o;
    ngx_http_audit_console_index_t  *ix;
    ngx_http_audit_console_filter_t  f;

    struct {
        size_t                       off;
        size_t                       len;
    } got[NGX_HTTP_AUDIT_CONSOLE_CHUNK];

    rc = ngx_http_audit_console_filter(r, &f);

    if (rc == NGX_DECLINED) {
        return ngx_http_audit_console_error(r, NGX_HTTP_BAD_REQUEST,
                                            "bad_filter");
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    strings = f.user.len || f.ip.len || f.route.len || f.record_type.len
              || f.record_id.len;

    ngx_memzero(&o, sizeof(o));
    o.pool = r->pool;

    ngx_shmtx_lock(&shpool->mutex);
    last = sh->next - 1;
    first = sh->first;
    ngx_shmtx_unlock(&shpool->mutex);

    ngx_http_audit_console_put(&o, "{\"cursor\":%uL,\"first\":%uL,"
                               "\"events\":[", last, first);

    stop = ngx_max(f.after + 1, first);
    found = 0;
    failed = 0;
    seq = last;

    /*
     * A chunk of lines copied under the lock into one buffer, then looked
     * into; only those that match go into the answer, and the buffer is
     * used again for the next chunk: what a request takes is the answer
     * and one chunk, not every line the ring holds.
     */

    cap = NGX_HTTP_AUDIT_CONSOLE_BUF;
    buf = ngx_pnalloc(r->pool, cap);
    if (buf == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    while (seq >= stop && seq > 0 && found < f.limit) {
        chunk = 0;
        used = 0;

        ngx_shmtx_lock(&shpool->mutex);

        while (seq >= stop && seq >= sh->first && seq > 0
               && chunk < NGX_HTTP_AUDIT_CONSOLE_CHUNK
               && (strings || found + chunk < f.limit))
        {
            ix = &sh->index[seq % sh->nindex];

            if ((f.action >= 0 && ix->action != (uint16_t) f.action)
                || (f.severities && !(f.severities & (1 << ix->severity)))
                || (f.since && ix->ts_ms < f.since)
                || (f.until && ix->ts_ms > f.until))
            {
                seq--;
                continue;
            }

            if (used + ix->len > cap) {
                if (chunk) {
                    break;             /* this line starts the next chunk */
                }

                /* a line longer than the buffer: a buffer that holds it */

                size = ngx_max(2 * cap, (size_t) ix->len);

                line = ngx_pnalloc(r->pool, size);
                if (line == NULL) {
                    failed = 1;
                    break;
                }

                ngx_pfree(r->pool, buf);
                buf = line;
                cap = size;
            }

            ngx_memcpy(buf + used, sh->ring + ix->off, ix->len);
            got[chunk].off = used;
            got[chunk].len = ix->len;
            used += ix->len;
            chunk++;
            seq--;
        }

        if (seq < sh->first) {
            seq = 0;                   /* the rest is gone meanwhile */
        }

        ngx_shmtx_unlock(&shpool->mutex);

        if (failed) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (chunk == 0 && seq >= stop && seq > 0) {
            continue;
        }

        for (i = 0; i < chunk && found < f.limit; i++) {
            line = buf + got[i].off;

            if (strings
                && !ngx_http_audit_console_match(&f, line, got[i].len))
            {
                continue;
            }

            if (found++) {
                ngx_http_audit_console_put(&o, ",");
            }

            ngx_http_audit_console_put_bytes(&o, line, got[i].len);
        }

        if (chunk == 0) {
            break;
        }
    }

    n = found;
    ngx_http_audit_console_put(&o, "],\"count\":%ui}\n", n);

    r->headers_out.status = NGX_HTTP_OK;

    return ngx_http_audit_console_send(r, &o);
}


/*
 * The query's filters; a value that is too long, has a NUL or a control
 * character, or names no action or severity is refused with 400: the
 * console never searches for what no event can hold.
 */

static ngx_int_t
ngx_http_audit_console_filter(ngx_http_request_t *r,
    ngx_http_audit_console_filter_t *f)
{
    ngx_int_t     n, rc;
    ngx_str_t     v, *dest;
    ngx_uint_t    i, a;

    static struct {
        const char   *name;
        size_t        off;
    } strs[] = {
        { "user", offsetof(ngx_http_audit_console_filter_t, user) },
        { "ip", offsetof(ngx_http_audit_console_filter_t, ip) },
        { "route", offsetof(ngx_http_audit_console_filter_t, route) },
        { "record_type",
          offsetof(ngx_http_audit_console_filter_t, record_type) },
        { "record_id", offsetof(ngx_http_audit_console_filter_t, record_id) },
        { "action", 0 }, { "severity", 0 }, { "after", 0 }, { "limit", 0 },
        { "since", 0 }, { "until", 0 }
    };

    ngx_memzero(f, sizeof(ngx_http_audit_console_filter_t));
    f->action = -1;
    f->limit = 100;

    for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {

        rc = ngx_http_audit_console_arg(r, strs[i].name, &v);

        if (rc == NGX_DECLINED) {
            continue;
        }

        if (rc != NGX_OK) {
            goto bad;
        }

        if (strs[i].off) {
            dest = (ngx_str_t *) ((u_char *) f + strs[i].off);
            *dest = v;
            continue;
        }

        switch (strs[i].name[0]) {

        case 'a':
            if (strs[i].name[1] == 'c') {
                for (a = 0; a < AUDIT_ACTION_MAX; a++) {
                    if (ngx_strlen(audit_action_name(a)) == v.len
                        && ngx_strncmp(audit_action_name(a), v.data, v.len)
                           == 0)
                    {
                        f->action = a;
                        break;
                    }
                }

                if (a == AUDIT_ACTION_MAX) {
                    goto bad;
                }

                break;
            }

            n = ngx_atoof(v.data, v.len);
            if (n == NGX_ERROR) {
                goto bad;
            }

            f->after = (uint64_t) n;
            break;

        case 's':
            if (strs[i].name[1] == 'i') {
                n = ngx_atoof(v.data, v.len);
                if (n == NGX_ERROR) {
                    goto bad;
                }

                f->since = (uint64_t) n;
                break;
            }

            if (v.len == 6 && ngx_strncmp(v.data, "errors", 6) == 0) {
                f->severities = (1 << AUDIT_SEV_WARNING)
                                | (1 << AUDIT_SEV_CRITICAL);
                break;
            }

            for (a = 0; a < 3; a++) {
                if (ngx_http_audit_console_severity_names[a].len == v.len
                    && ngx_strncmp(ngx_http_audit_console_severity_names[a]
                                   .data, v.data, v.len) == 0)
                {
                    f->severities = 1 << a;
                    break;
                }
            }

            if (a == 3) {
                goto bad;
            }

            break;

        case 'u':
            n = ngx_atoof(v.data, v.len);
            if (n == NGX_ERROR) {
                goto bad;
            }

            f->until = (uint64_t) n;
            break;

        default: /* limit */
            n = ngx_atoi(v.data, v.len);
            if (n <= 0) {
                goto bad;
            }

            f->limit = ngx_min((ngx_uint_t) n, NGX_HTTP_AUDIT_CONSOLE_LIMIT);
            break;
        }
    }

    f->quick = 1;

    for (i = 0; i < 5; i++) {
        dest = (ngx_str_t *) ((u_char *) f + strs[i].off);

        for (a = 0; a < dest->len; a++) {
            if (dest->data[a] < 0x20 || dest->data[a] > 0x7e
                || dest->data[a] == '"' || dest->data[a] == '\\')
            {
                f->quick = 0;
            }
        }
    }

    return NGX_OK;

bad:

    return NGX_DECLINED;
}


/* the string filters, on the line's members: exact, the route contains */

static ngx_uint_t
ngx_http_audit_console_match(ngx_http_audit_console_filter_t *f,
    u_char *line, size_t len)
{
    size_t         n;
    json_t        *ev;
    ngx_uint_t     ok;
    const char    *s, *u;

    /*
     * a value the JSON line holds as it is (printable ASCII, no quote or
     * backslash) must be in it somewhere: most lines are passed over
     * without a parse
     */

    if (f->quick
        && ((f->user.len
             && !ngx_http_audit_console_contains(line, len, &f->user, 0))
            || (f->ip.len
                && !ngx_http_audit_console_contains(line, len, &f->ip, 0))
            || (f->record_type.len
                && !ngx_http_audit_console_contains(line, len,
                                                    &f->record_type, 0))
            || (f->record_id.len
                && !ngx_http_audit_console_contains(line, len,
                                                    &f->record_id, 0))
            || (f->route.len
                && !ngx_http_audit_console_contains(line, len, &f->route,
                                                    1))))
    {
        return 0;
    }

    ev = json_loadb((const char *) line, len, 0, NULL);
    if (ev == NULL) {
        return 0;
    }

    ok = 1;

#define ngx_http_audit_console_is(name, want)                                 \
    ((s = json_string_value(json_object_get(ev, name))) != NULL               \
     && ngx_strlen(s) == (want)->len                                          \
     && ngx_strncmp(s, (want)->data, (want)->len) == 0)

    if (f->user.len) {
        u = json_string_value(json_object_get(ev, "user_id"));
        ok = ngx_http_audit_console_is("user_id", &f->user)
             || (u == NULL
                 && ngx_http_audit_console_is("attempted_user", &f->user));
    }

    if (ok && f->ip.len) {
        ok = ngx_http_audit_console_is("ip", &f->ip);
    }

    if (ok && f->record_type.len) {
        ok = ngx_http_audit_console_is("resource_type", &f->record_type);
    }

    if (ok && f->record_id.len) {
        ok = ngx_http_audit_console_is("resource_id", &f->record_id);
    }

#undef ngx_http_audit_console_is

    if (ok && f->route.len) {
        s = json_string_value(json_object_get(ev, "route"));
        n = s ? ngx_strlen(s) : 0;
        ok = s && ngx_strlcasestrn((u_char *) s, (u_char *) s + n,
                                   f->route.data, f->route.len - 1)
                  != NULL;
    }

    json_decref(ev);

    return ok;
}


static ngx_uint_t
ngx_http_audit_console_contains(u_char *line, size_t len, ngx_str_t *value,
    ngx_uint_t caseless)
{
    u_char  *p, *last;

    if (value->len > len) {
        return 0;
    }

    if (caseless) {
        return ngx_strlcasestrn(line, line + len, value->data,
                                value->len - 1)
               != NULL;
    }

    last = line + len - value->len;

    for (p = line; p <= last; p++) {
        p = ngx_strlchr(p, last + 1, value->data[0]);

        if (p == NULL) {
            return 0;
        }

        if (ngx_memcmp(p, value->data, value->len) == 0) {
            return 1;
        }
    }

    return 0;
}


/* api/health: what audit_status has, for people */

static ngx_int_t
ngx_http_audit_console_health(ngx_http_request_t *r,
    ngx_http_audit_console_shctx_t *sh, ngx_slab_pool_t *shpool)
{
    uint64_t                             first, next;
    ngx_uint_t                           i, chains;
    ngx_http_audit_shctx_t              *ash;
    ngx_http_audit_workers_t             ws;
    ngx_http_audit_main_conf_t          *amcf;
    ngx_http_audit_console_out_t         o;
    ngx_http_audit_console_main_conf_t  *cmcf;

    ngx_shmtx_lock(&shpool->mutex);
    first = sh->first;
    next = sh->next;
    ngx_shmtx_unlock(&shpool->mutex);

    amcf = ngx_http_get_module_main_conf(r, ngx_http_audit_module);
    cmcf = ngx_http_get_module_main_conf(r, ngx_http_audit_console_module);

    ngx_memzero(&o, sizeof(o));
    o.pool = r->pool;

    ngx_http_audit_console_put(&o, "{\"console\":{\"kept\":%uL,"
                               "\"seen\":%uL,\"history\":%s}",
                               next - first, next - 1,
                               cmcf->pg_conf ? "true" : "false");

    if (amcf->shm_zone == NULL) {
        ngx_http_audit_console_put(&o, ",\"zone\":false}\n");
        goto done;
    }

    ash = amcf->shm_zone->data;
    chains = 0;

    ngx_http_audit_zone_workers(ash, &ws);

    for (i = 0; i < NGX_HTTP_AUDIT_MAX_WORKERS; i++) {
        chains += ash->chains[i].used ? 1 : 0;
    }

    ngx_http_audit_console_put(&o, ",\"zone\":true,\"workers\":%ui,"
        "\"pg\":{\"connected\":%ui,\"queue_bytes\":%uA,"
        "\"spool_bytes\":%uA,\"rows_sent\":%uA,\"rows_inserted\":%uA,"
        "\"rows_behind\":%uA,\"failures\":%uA},"
        "\"tracker\":{\"sent\":%uA,\"dropped\":%uA,\"breaker_open\":%ui},"
        "\"events_lost\":%uA,\"chains\":%ui}\n",
        ws.alive, ws.pg_up, ws.sum.queue_bytes, ws.sum.spool_bytes,
        ash->pg_rows_sent, ash->pg_rows_inserted,
        ash->pg_rows_sent > ash->pg_rows_inserted
        ? ash->pg_rows_sent - ash->pg_rows_inserted : 0,
        ash->pg_failures, ash->sentry_sent, ash->sentry_dropped,
        ws.sum.sentry_breaker,
        ash->events_lost, chains);

done:

    r->headers_out.status = NGX_HTTP_OK;

    return ngx_http_audit_console_send(r, &o);
}


/*
 * Looking at the audit is audited: a history query is a record_access
 * of the audit trail itself, naming who asked and for what
 * ("patient/42", "user/u-ann").
 */

void
ngx_http_audit_console_audit(ngx_http_request_t *r, ngx_str_t *type,
    ngx_str_t *id)
{
    u_char                *p;
    audit_event_t          ev;
    ngx_http_audit_ctx_t  *ctx;

    ctx = ngx_http_audit_get_ctx(r);
    if (ctx == NULL) {
        return;
    }

    p = ngx_pnalloc(r->pool, type->len + 1 + id->len);
    if (p == NULL) {
        return;
    }

    ngx_memzero(&ev, sizeof(audit_event_t));

    ev.action = AUDIT_RECORD_ACCESS;
    ngx_http_audit_str(&ev.user_id, &ctx->user_id);
    ngx_http_audit_str(&ev.role, &ctx->role);
    ngx_http_audit_str(&ev.session_id, &ctx->session_id);
    ev.resource_type.data = "audit_trail";
    ev.resource_type.len = sizeof("audit_trail") - 1;
    ev.resource_id.data = (const char *) p;
    ev.resource_id.len = ngx_sprintf(p, "%V/%V", type, id) - p;
    ev.access.data = "searched";
    ev.access.len = sizeof("searched") - 1;

    ngx_http_audit_event_emit(r, &ev);
}


