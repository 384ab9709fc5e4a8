
/*
 * ngx_http_audit_module: the request as the portal will act on it.
 *
 * The policy must judge exactly what the upstream receives.  Three gaps
 * are closed here, before any decision:
 *
 *  - the raw request target, which proxy_pass without a URI part (and
 *    $request_uri in fastcgi_param) forwards as the client sent it, is
 *    refused when a portal could read it as another path than the one
 *    nginx matched (core/audit_target.h names the classes);
 *  - method overrides (X-HTTP-Method-Override, X-HTTP-Method,
 *    X-Method-Override, "_method" in the query or a form body) are
 *    collected, so that the policy judges the method the portal will
 *    perform as well as the request line's, and record_access records it;
 *  - headers the client must not choose for the portal are removed in
 *    every spelling nginx may pass on (any case, '_' for '-', duplicates,
 *    also as FastCGI/uwsgi/SCGI params): the identity headers the module
 *    sets (named by "audit_identity_headers", parsed here), and the
 *    path-override headers IIS, Symfony and Zend honour.
 */


#include "ngx_http_audit_module.h"
#include "audit_target.h"


static ngx_uint_t ngx_http_audit_target_name_is(ngx_str_t *key,
    ngx_str_t *name);
static ngx_uint_t ngx_http_audit_target_forbidden(ngx_table_elt_t *h,
    ngx_http_audit_headers_t *names);
static ngx_int_t ngx_http_audit_target_override(ngx_http_request_t *r,
    ngx_http_audit_ctx_t *ctx);
static ngx_uint_t ngx_http_audit_target_is_override(ngx_table_elt_t *h);


/* headers that make a framework route to another path than the target */
static ngx_str_t  ngx_http_audit_path_overrides[] = {
    ngx_string("X-Original-URL"),
    ngx_string("X-Rewrite-URL"),
    ngx_string("X-Override-URL"),
    ngx_string("X-Original-URI"),
    ngx_string("X-Forwarded-URI"),
    ngx_string("X-Forwarded-Path"),
    ngx_string("X-Forwarded-Prefix"),
    ngx_string("X-Envoy-Original-Path"),
    ngx_null_string
};


static ngx_str_t  ngx_http_audit_method_overrides[] = {
    ngx_string("X-HTTP-Method-Override"),
    ngx_string("X-HTTP-Method"),
    ngx_string("X-Method-Override"),
    ngx_null_string
};


char *
ngx_http_audit_identity_headers(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_audit_loc_conf_t *alcf = conf;

    ngx_str_t                 *value, *target, name;
    ngx_uint_t                 i, k;
    ngx_http_audit_headers_t  *h;

    static struct {
        ngx_str_t   prefix;
        size_t      offset;
    }  params[] = {
        { ngx_string("user="),
          offsetof(ngx_http_audit_headers_t, user) },
        { ngx_string("role="),
          offsetof(ngx_http_audit_headers_t, role) },
        { ngx_string("session="),
          offsetof(ngx_http_audit_headers_t, session) },
        { ngx_string("request_id="),
          offsetof(ngx_http_audit_headers_t, request_id) },
    };

    if (alcf->headers != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        alcf->headers = NULL;
        return NGX_CONF_OK;
    }

    h = ngx_pcalloc(cf->pool, sizeof(ngx_http_audit_headers_t));
    if (h == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_str_set(&h->user, "X-Audit-User-Id");
    ngx_str_set(&h->role, "X-Audit-Role");
    ngx_str_set(&h->session, "X-Audit-Session-Id");
    ngx_str_set(&h->request_id, "X-Request-Id");

    for (i = 1; i < cf->args->nelts; i++) {

        target = NULL;

        for (k = 0; k < sizeof(params) / sizeof(params[0]); k++) {
            if (ngx_strncmp(value[i].data, params[k].prefix.data,
                            params[k].prefix.len)
                == 0)
            {
                target = (ngx_str_t *) ((u_char *) h + params[k].offset);
                name.data = value[i].data + params[k].prefix.len;
                name.len = value[i].len - params[k].prefix.len;
                break;
            }
        }

        if (target == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" in "
                               "\"audit_identity_headers\", expected "
                               "user=, role=, session=, request_id= "
                               "or \"off\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        if (ngx_http_audit_check_name(cf, NULL, &name) != NGX_CONF_OK) {
            return NGX_CONF_ERROR;
        }

        *target = name;
    }

    alcf->headers = h;

    return NGX_CONF_OK;
}


/*
 * NGX_OK: the target and the method overrides seen so far are what the
 * portal will act on; NGX_DECLINED: refused, ctx->reject names the class.
 */

ngx_int_t
ngx_http_audit_target_check(ngx_http_request_t *r,
    ngx_http_audit_loc_conf_t *alcf, ngx_http_audit_ctx_t *ctx)
{
    unsigned              flags;
    ngx_str_t            *uri;
    audit_target_class_t  cls;

    flags = alcf->encoded_slashes ? AUDIT_TARGET_ALLOW_ENCODED_SLASH : 0;

    /*
     * After a rewrite or an internal redirect the upstream gets r->uri,
     * escaped, not the raw target: there is nothing to compare, but the
     * raw target's classes are still refused.
     */

    uri = r->valid_unparsed_uri ? &r->uri : NULL;

    cls = audit_target_check((const char *) r->unparsed_uri.data,
                             r->unparsed_uri.len,
                             uri ? (const char *) uri->data : NULL,
                             uri ? uri->len : 0, flags);

    if (cls != AUDIT_TARGET_OK) {
        ctx->reject.data = (u_char *) audit_target_reason(cls);
        ctx->reject.len = ngx_strlen(ctx->reject.data);
        return NGX_DECLINED;
    }

    if (ngx_http_audit_target_override(r, ctx) != NGX_OK) {
        ngx_str_set(&ctx->reject, "method_override");
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* a body was read: its "_method", if any, joins the overrides */

ngx_int_t
ngx_http_audit_target_body(ngx_http_request_t *r, ngx_http_audit_ctx_t *ctx,
    ngx_str_t *body)
{
    ngx_str_t   type;

    ngx_str_null(&type);

    if (r->headers_in.content_type) {
        type = r->headers_in.content_type->value;
    }

    audit_override_body(&ctx->override, (const char *) type.data, type.len,
                        (const char *) body->data, body->len);

    if (ctx->override.conflict) {
        ngx_str_set(&ctx->reject, "method_override");
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * Whether the body may carry a "_method" the portal acts on, so that it
 * must be read before the policy decides: a POST where a rule or
 * audit_record depends on the method, also one without a Content-Type.
 */

ngx_uint_t
ngx_http_audit_target_body_wanted(ngx_http_request_t *r,
    ngx_http_audit_loc_conf_t *alcf)
{
    if (r->method != NGX_HTTP_POST
        || (alcf->rules == NULL && alcf->record_type.len == 0))
    {
        return 0;
    }

    return 1;
}


static ngx_int_t
ngx_http_audit_target_override(ngx_http_request_t *r,
    ngx_http_audit_ctx_t *ctx)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            if (ngx_http_audit_target_is_override(&h[i])) {
                audit_override_add(&ctx->override,
                                   (const char *) h[i].value.data,
                                   h[i].value.len);
            }
        }
    }

    if (r->args.len) {
        audit_override_form(&ctx->override, (const char *) r->args.data,
                            r->args.len);
    }

    return ctx->override.conflict ? NGX_DECLINED : NGX_OK;
}


static ngx_uint_t
ngx_http_audit_target_is_override(ngx_table_elt_t *h)
{
    ngx_str_t  *name;

    for (name = ngx_http_audit_method_overrides; name->len; name++) {
        if (ngx_http_audit_target_name_is(&h->key, name)) {
            return 1;
        }
    }

    return 0;
}


/*
 * ngx_list_t has no delete, and r->headers_in keeps pointers into the
 * list (host, user_agent, ...).  When a forbidden header is present the
 * list is rebuilt without it: the old elements stay in r->pool, so those
 * pointers stay valid, and the proxy, FastCGI, uwsgi and SCGI modules,
 * which walk the list, no longer see it.
 */

ngx_int_t
ngx_http_audit_target_strip(ngx_http_request_t *r,
    ngx_http_audit_headers_t *names)
{
    ngx_uint_t        i, found;
    ngx_list_t        list;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *copy;

    found = 0;

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            found |= ngx_http_audit_target_forbidden(&h[i], names);
        }
    }

    if (!found) {
        return NGX_OK;
    }

    if (ngx_list_init(&list, r->pool, 20, sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {

            if (ngx_http_audit_target_forbidden(&h[i], names)) {
                ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                               "audit: removed client header \"%V\"",
                               &h[i].key);
                continue;
            }

            copy = ngx_list_push(&list);
            if (copy == NULL) {
                return NGX_ERROR;
            }

            *copy = h[i];
        }
    }

    /* the list's first part is embedded in it: "last" must follow it */

    r->headers_in.headers = list;

    if (list.last == &list.part) {
        r->headers_in.headers.last = &r->headers_in.headers.part;
    }

    return NGX_OK;
}


static ngx_uint_t
ngx_http_audit_target_forbidden(ngx_table_elt_t *h,
    ngx_http_audit_headers_t *names)
{
    ngx_str_t   *name;
    ngx_uint_t   i;

    if (names) {
        name = &names->user;

        for (i = 0; i < 4; i++) {
            if (ngx_http_audit_target_name_is(&h->key, &name[i])) {
                return 1;
            }
        }
    }

    for (name = ngx_http_audit_path_overrides; name->len; name++) {
        if (ngx_http_audit_target_name_is(&h->key, name)) {
            return 1;
        }
    }

    return 0;
}


/*
 * The same header to a portal: letters and digits compared without
 * case, and any other character matching any other ("X_Audit_User_Id"
 * and "x.audit-user.id" are "X-Audit-User-Id" once FastCGI, PHP or a
 * framework has normalized them).
 */

static ngx_uint_t
ngx_http_audit_target_name_is(ngx_str_t *key, ngx_str_t *name)
{
    u_char      a, b;
    ngx_uint_t  i;

    if (key->len != name->len) {
        return 0;
    }

    for (i = 0; i < key->len; i++) {
        a = ngx_tolower(key->data[i]);
        b = ngx_tolower(name->data[i]);

        if (a == b) {
            continue;
        }

        if ((a >= 'a' && a <= 'z') || (a >= '0' && a <= '9')
            || (b >= 'a' && b <= 'z') || (b >= '0' && b <= '9'))
        {
            return 0;
        }
    }

    return 1;
}
