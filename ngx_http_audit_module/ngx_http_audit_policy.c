
/*
 * ngx_http_audit_module: policy.
 *
 * "audit_require_role ROLE... [methods=M,M]" builds core rules
 * (audit_policy.c) at configuration time; the access phase asks the core
 * for a decision with the caller's roles.  Rules are inherited as a whole
 * from the enclosing block when a location has none of its own, as nginx
 * does for array-valued directives.  "audit_authz_log" says which
 * decisions are recorded, "audit_record TYPE ID" which resource a
 * location's requests act on.
 */


#include "ngx_http_audit_module.h"


static ngx_int_t ngx_http_audit_policy_rule_name(ngx_conf_t *cf,
    audit_policy_rule_t *rule, ngx_str_t *value, ngx_uint_t n);


char *
ngx_http_audit_policy_add_rule(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_audit_loc_conf_t *alcf = conf;

    ngx_str_t            *value, list;
    ngx_uint_t            i, n;
    audit_policy_rule_t  *rule;

    value = cf->args->elts;

    if (alcf->rules == NGX_CONF_UNSET_PTR) {
        alcf->rules = ngx_array_create(cf->pool, 2,
                                       sizeof(audit_policy_rule_t));
        if (alcf->rules == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_http_audit_conf_line(cf, &alcf->rules_at);
    }

    rule = ngx_array_push(alcf->rules);
    if (rule == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(rule, sizeof(audit_policy_rule_t));

    n = cf->args->nelts;

    if (ngx_strncmp(value[n - 1].data, "methods=", 8) == 0) {
        list.data = value[n - 1].data + 8;
        list.len = value[n - 1].len - 8;

        rule->methods = audit_method_list_parse((const char *) list.data,
                                                list.len);
        if (rule->methods == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid \"%V\" in \"audit_require_role\", "
                               "expected a comma-separated list of GET, "
                               "HEAD, POST, PUT, DELETE, PATCH, OPTIONS, "
                               "TRACE, CONNECT, PROPFIND, PROPPATCH, MKCOL, "
                               "COPY, MOVE, LOCK, UNLOCK, PURGE",
                               &value[n - 1]);
            return NGX_CONF_ERROR;
        }

        n--;
    }

    if (n < 2) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"audit_require_role\" needs at least one role");
        return NGX_CONF_ERROR;
    }

    if (n - 1 > AUDIT_POLICY_MAX_ROLES) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "too many roles in \"audit_require_role\", "
                           "at most %d", AUDIT_POLICY_MAX_ROLES);
        return NGX_CONF_ERROR;
    }

    /* cf->args values are NUL-terminated: the core takes C strings */

    for (i = 1; i < n; i++) {

        if (ngx_strchr(value[i].data, '=') != NULL || value[i].len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid role \"%V\" in "
                               "\"audit_require_role\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        rule->roles[rule->nroles++] = (const char *) value[i].data;
    }

    if (ngx_http_audit_policy_rule_name(cf, rule, value, n) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


char *
ngx_http_audit_authz_log(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_audit_loc_conf_t *alcf = conf;

    ngx_str_t  *value;

    if (alcf->authz_log != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "all") == 0) {
        alcf->authz_log = NGX_HTTP_AUDIT_AUTHZ_ALL;

    } else if (ngx_strcmp(value[1].data, "denied") == 0) {
        alcf->authz_log = NGX_HTTP_AUDIT_AUTHZ_DENIED;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"audit_authz_log\", "
                           "expected \"all\" or \"denied\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


char *
ngx_http_audit_record(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_audit_loc_conf_t *alcf = conf;

    ngx_str_t                         *value;
    ngx_http_compile_complex_value_t   ccv;

    if (alcf->record_type.len) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0 || value[1].len > 64) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid resource type \"%V\" in "
                           "\"audit_record\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    alcf->record_id = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (alcf->record_id == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &value[2];
    ccv.complex_value = alcf->record_id;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    alcf->record_type = value[1];
    ngx_http_audit_conf_line(cf, &alcf->record_at);

    return NGX_CONF_OK;
}


/*
 * "location /patients require_role doctor,nurse methods=GET": what the
 * authz_check event names as the rule that decided, and what the error
 * tracker groups denials by.
 */

static ngx_int_t
ngx_http_audit_policy_rule_name(ngx_conf_t *cf, audit_policy_rule_t *rule,
    ngx_str_t *value, ngx_uint_t n)
{
    u_char                    *p;
    size_t                     len;
    ngx_str_t                 *where, methods;
    ngx_uint_t                 i;
    ngx_http_core_loc_conf_t  *clcf;

    static ngx_str_t  server = ngx_string("server");

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    where = clcf->name.len ? &clcf->name : &server;

    ngx_str_null(&methods);

    if (rule->methods) {
        methods = value[cf->args->nelts - 1];
    }

    len = sizeof("location  require_role ") + where->len + methods.len + 1;

    for (i = 1; i < n; i++) {
        len += value[i].len + 1;
    }

    p = ngx_pnalloc(cf->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    rule->name = (const char *) p;

    p = ngx_sprintf(p, "location %V require_role ", where);

    for (i = 1; i < n; i++) {
        p = ngx_sprintf(p, i > 1 ? ",%V" : "%V", &value[i]);
    }

    if (methods.len) {
        p = ngx_sprintf(p, " %V", &methods);
    }

    *p = '\0';

    return NGX_OK;
}


/*
 * NGX_OK: permitted; NGX_DECLINED: denied, with ctx->rule naming the rule.
 *
 * A method override is judged beside the request line's method, and both
 * must be permitted: the stricter wins.  A body too long to look into
 * for a "_method" might name any method, so every rule applies.
 */

ngx_int_t
ngx_http_audit_policy_check(ngx_http_request_t *r,
    ngx_http_audit_loc_conf_t *alcf, ngx_http_audit_ctx_t *ctx)
{
    size_t                    deciding;
    unsigned                  method;
    audit_policy_rule_t      *rules;
    audit_policy_decision_t   decision;

    if (alcf->rules == NULL) {
        return NGX_OK;
    }

    rules = alcf->rules->elts;

    method = audit_method_bit((const char *) r->method_name.data,
                              r->method_name.len);

    decision = audit_policy_check(rules, alcf->rules->nelts, method,
                                  (const char *const *) ctx->token.roles,
                                  ctx->token.nroles, &deciding);

    if (decision == AUDIT_POLICY_PERMIT
        && (ctx->override.len || ctx->override_unknown))
    {
        method = ctx->override_unknown
                 ? ~0u
                 : audit_method_bit(ctx->override.method, ctx->override.len);

        decision = audit_policy_check(rules, alcf->rules->nelts, method,
                                      (const char *const *) ctx->token.roles,
                                      ctx->token.nroles, &deciding);
    }

    if (deciding < alcf->rules->nelts) {
        ctx->rule.data = (u_char *) rules[deciding].name;
        ctx->rule.len = ngx_strlen(rules[deciding].name);
    }

    return decision == AUDIT_POLICY_PERMIT ? NGX_OK : NGX_DECLINED;
}
