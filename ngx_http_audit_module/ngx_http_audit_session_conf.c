
/*
 * ngx_http_audit_module: which tokens a location accepts.
 *
 * The session directives that need more than a slot: the algorithms
 * allowed, the claims that name the user, roles and session, and the
 * deny-list of revoked sessions.  The list is read at configuration time,
 * so a reload re-reads it and a file that fails to parse leaves the
 * running configuration in place.  The keys are ngx_http_audit_keys.c's;
 * the cookie, leeway, issuer and audience are plain slots.
 */


#include "ngx_http_audit_module.h"


static void ngx_http_audit_session_free_revoked(void *data);


char *
ngx_http_audit_session_algorithms(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_audit_loc_conf_t *alcf = conf;

    ngx_str_t   *value;
    ngx_uint_t   i, algs;

    if (alcf->algs != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;
    algs = 0;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strcmp(value[i].data, "HS256") == 0) {
            algs |= AUDIT_ALG_HS256;

        } else if (ngx_strcmp(value[i].data, "RS256") == 0) {
            algs |= AUDIT_ALG_RS256;

        } else if (ngx_strcmp(value[i].data, "ES256") == 0) {
            algs |= AUDIT_ALG_ES256;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unsupported algorithm \"%V\" in "
                               "\"audit_session_algorithms\", "
                               "expected HS256, RS256 or ES256", &value[i]);
            return NGX_CONF_ERROR;
        }
    }

    alcf->algs = algs;
    ngx_http_audit_conf_line(cf, &alcf->algs_at);

    return NGX_CONF_OK;
}


char *
ngx_http_audit_session_claims(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_audit_loc_conf_t *alcf = conf;

    ngx_str_t   *value, *target, name;
    ngx_uint_t   i;

    if (alcf->user_claim.data != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    alcf->user_claim.len = 0;
    alcf->user_claim.data = (u_char *) "sub";
    alcf->role_claim.len = 0;
    alcf->role_claim.data = (u_char *) "role";
    alcf->session_claim.len = 0;
    alcf->session_claim.data = (u_char *) "sid";

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "user=", 5) == 0) {
            target = &alcf->user_claim;
            name.data = value[i].data + 5;

        } else if (ngx_strncmp(value[i].data, "role=", 5) == 0) {
            target = &alcf->role_claim;
            name.data = value[i].data + 5;

        } else if (ngx_strncmp(value[i].data, "session=", 8) == 0) {
            target = &alcf->session_claim;
            name.data = value[i].data + 8;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" in "
                               "\"audit_session_claims\", expected "
                               "user=, role= or session=", &value[i]);
            return NGX_CONF_ERROR;
        }

        name.len = value[i].data + value[i].len - name.data;

        if (name.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "empty claim name in \"%V\" of "
                               "\"audit_session_claims\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        *target = name;
    }

    /* claims left at their default get their length now */

    if (alcf->user_claim.len == 0) {
        ngx_str_set(&alcf->user_claim, "sub");
    }

    if (alcf->role_claim.len == 0) {
        ngx_str_set(&alcf->role_claim, "role");
    }

    if (alcf->session_claim.len == 0) {
        ngx_str_set(&alcf->session_claim, "sid");
    }

    return NGX_CONF_OK;
}


char *
ngx_http_audit_session_load_revoked(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_audit_loc_conf_t *alcf = conf;

    char                 err[NGX_HTTP_AUDIT_ERRLEN];
    ngx_str_t           *value, full;
    audit_idset_t       *set;
    ngx_pool_cleanup_t  *cln;

    if (alcf->revoked != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;
    full = value[1];

    if (ngx_conf_full_name(cf->cycle, &full, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    set = audit_idset_load((const char *) full.data, err, sizeof(err));
    if (set == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"audit_session_revoked\" cannot use \"%V\": %s",
                           &full, err);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_audit_session_free_revoked;
    cln->data = set;

    alcf->revoked = set;

    return NGX_CONF_OK;
}


static void
ngx_http_audit_session_free_revoked(void *data)
{
    audit_idset_free(data);
}
