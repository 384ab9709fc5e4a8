
/*
 * ngx_http_audit_module: module glue.
 *
 * Directives, configuration create/merge, and the hooks that wire the other
 * files in: the access-phase handler and the deny-response filters
 * (ngx_http_audit_access.c) and the variables (ngx_http_audit_variables.c).
 */


#include "ngx_http_audit_module.h"


static ngx_int_t ngx_http_audit_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_audit_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_audit_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_audit_init_main_conf(ngx_conf_t *cf, void *conf);
static ngx_int_t ngx_http_audit_init_module(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_audit_init_process(ngx_cycle_t *cycle);
static void ngx_http_audit_exit_process(ngx_cycle_t *cycle);
static void *ngx_http_audit_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_audit_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);

static char *ngx_http_audit_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_audit_session_algorithms(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_audit_session_claims(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_audit_session_revoked(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_audit_require_role(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_audit_identity_headers(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_audit_authz_log(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_audit_record(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_audit_login(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_audit_logout(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_audit_bruteforce(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_audit_scrub(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_audit_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void ngx_http_audit_free_scrub(void *data);
static char *ngx_http_audit_check_uri(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_http_audit_check_name(ngx_conf_t *cf, void *post,
    void *data);


static ngx_conf_post_handler_pt  ngx_http_audit_login_url_post =
    ngx_http_audit_check_uri;

static ngx_conf_post_handler_pt  ngx_http_audit_cookie_post =
    ngx_http_audit_check_name;


static ngx_command_t  ngx_http_audit_commands[] = {

    { ngx_string("audit_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_audit_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("audit_session_cookie"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_audit_loc_conf_t, cookie),
      &ngx_http_audit_cookie_post },

    { ngx_string("audit_session_keys"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_audit_session_keys,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("audit_session_algorithms"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_audit_session_algorithms,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("audit_session_leeway"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_audit_loc_conf_t, leeway),
      NULL },

    { ngx_string("audit_session_issuer"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_audit_loc_conf_t, issuer),
      NULL },

    { ngx_string("audit_session_audience"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_audit_loc_conf_t, audience),
      NULL },

    { ngx_string("audit_session_claims"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_audit_session_claims,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("audit_session_revoked"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_audit_session_revoked,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("audit_login_url"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_audit_loc_conf_t, login_url),
      &ngx_http_audit_login_url_post },

    { ngx_string("audit_allow_encoded_slashes"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_audit_loc_conf_t, encoded_slashes),
      NULL },

    { ngx_string("audit_public"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_audit_loc_conf_t, public),
      NULL },

    { ngx_string("audit_require_role"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_audit_require_role,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("audit_authz_log"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_audit_authz_log,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("audit_login"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_http_audit_login,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("audit_logout"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_audit_logout,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("audit_bruteforce"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_audit_bruteforce,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("audit_record"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_http_audit_record,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("audit_scrub"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_audit_scrub,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("audit_identity_headers"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_audit_identity_headers,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("audit_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_audit_status,
      0,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_audit_module_ctx = {
    ngx_http_audit_preconfiguration,        /* preconfiguration */
    ngx_http_audit_postconfiguration,       /* postconfiguration */

    ngx_http_audit_create_main_conf,        /* create main configuration */
    ngx_http_audit_init_main_conf,          /* init main configuration */

    NULL,                                   /* create server configuration */
    NULL,                                   /* merge server configuration */

    ngx_http_audit_create_loc_conf,         /* create location configuration */
    ngx_http_audit_merge_loc_conf           /* merge location configuration */
};


ngx_module_t  ngx_http_audit_module = {
    NGX_MODULE_V1,
    &ngx_http_audit_module_ctx,             /* module context */
    ngx_http_audit_commands,                /* module directives */
    NGX_HTTP_MODULE,                        /* module type */
    NULL,                                   /* init master */
    ngx_http_audit_init_module,             /* init module */
    ngx_http_audit_init_process,            /* init process */
    NULL,                                   /* init thread */
    NULL,                                   /* exit thread */
    ngx_http_audit_exit_process,            /* exit process */
    NULL,                                   /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_str_t  ngx_http_audit_default_cookie = ngx_string("session");


static ngx_int_t
ngx_http_audit_preconfiguration(ngx_conf_t *cf)
{
    /* the sink chains' ends, before any sink registers (postconfiguration) */
    ngx_http_audit_sink_init();

    return ngx_http_audit_add_variables(cf);
}


static ngx_int_t
ngx_http_audit_postconfiguration(ngx_conf_t *cf)
{
    if (ngx_http_audit_access_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_audit_events_init(cf);
}


static void *
ngx_http_audit_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_audit_main_conf_t  *amcf;

    amcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_audit_main_conf_t));
    if (amcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     amcf->shm_zone = NULL;
     */

    if (ngx_array_init(&amcf->keys, cf->pool, 2,
                       sizeof(ngx_http_audit_keys_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return amcf;
}


/*
 * The scrubber exists even without "audit_scrub": secret-looking query
 * parameters and PHI are filtered from every route by default.
 */

static char *
ngx_http_audit_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_audit_main_conf_t *amcf = conf;

    size_t               n;
    ngx_str_t           *names;
    ngx_uint_t           i;
    const char         **extra;
    ngx_pool_cleanup_t  *cln;

    n = amcf->scrub_names ? amcf->scrub_names->nelts : 0;
    extra = NULL;

    if (n) {
        extra = ngx_palloc(cf->pool, n * sizeof(const char *));
        if (extra == NULL) {
            return NGX_CONF_ERROR;
        }

        names = amcf->scrub_names->elts;

        for (i = 0; i < n; i++) {
            extra[i] = (const char *) names[i].data;
        }
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    amcf->scrub = audit_scrub_create(extra, n);
    if (amcf->scrub == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"audit_scrub\": cannot use the names given");
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_audit_free_scrub;
    cln->data = amcf->scrub;

    return NGX_CONF_OK;
}


static void
ngx_http_audit_free_scrub(void *data)
{
    audit_scrub_free(data);
}


/* the configuration is whole here: worker_processes is known */

static ngx_int_t
ngx_http_audit_init_module(ngx_cycle_t *cycle)
{
    ngx_core_conf_t             *ccf;
    ngx_http_audit_main_conf_t  *amcf;

    amcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_audit_module);
    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    if (amcf && amcf->shm_zone
        && ccf->worker_processes > NGX_HTTP_AUDIT_MAX_WORKERS)
    {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "audit_zone: workers beyond the first %d of the %i "
                      "(worker_processes) audit all the same, but their "
                      "gauges are not in audit_status, their chains do "
                      "not name the chain before them and events lost "
                      "with them are not counted",
                      NGX_HTTP_AUDIT_MAX_WORKERS, ccf->worker_processes);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_audit_init_process(ngx_cycle_t *cycle)
{
    ngx_http_audit_main_conf_t     *amcf;
    ngx_http_audit_worker_stats_t  *stats;

    if (ngx_http_audit_session_init_process(cycle) != NGX_OK
        || ngx_http_audit_keys_init_process(cycle) != NGX_OK
        || ngx_http_audit_events_init_process(cycle) != NGX_OK)
    {
        return NGX_ERROR;
    }

    amcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_audit_module);

    if (amcf == NULL) {
        return NGX_OK;
    }

    stats = ngx_http_audit_stats(cycle);
    if (stats) {
        ngx_memzero(stats, sizeof(ngx_http_audit_worker_stats_t));
        stats->pid = ngx_pid;
        amcf->stats = stats;
    }

    return NGX_OK;
}


static void
ngx_http_audit_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_audit_main_conf_t  *amcf;

    amcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_audit_module);

    if (amcf) {
        ngx_http_audit_session_exit_process(amcf);
    }

    ngx_http_audit_events_exit_process(cycle);
}


static void *
ngx_http_audit_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_audit_loc_conf_t  *alcf;

    alcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_audit_loc_conf_t));
    if (alcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     alcf->cookie = { 0, NULL };
     *     alcf->issuer = { 0, NULL };
     *     alcf->audience = { 0, NULL };
     *     alcf->user_claim = { 0, NULL };
     *     alcf->role_claim = { 0, NULL };
     *     alcf->session_claim = { 0, NULL };
     *     alcf->login_url = { 0, NULL };
     */

    alcf->keys = NGX_CONF_UNSET_PTR;
    alcf->algs = NGX_CONF_UNSET_UINT;
    alcf->leeway = NGX_CONF_UNSET;
    alcf->revoked = NGX_CONF_UNSET_PTR;
    alcf->public = NGX_CONF_UNSET;
    alcf->encoded_slashes = NGX_CONF_UNSET;
    alcf->rules = NGX_CONF_UNSET_PTR;
    alcf->headers = NGX_CONF_UNSET_PTR;
    alcf->authz_log = NGX_CONF_UNSET_UINT;
    alcf->logout = NGX_CONF_UNSET;
    alcf->bf_threshold = NGX_CONF_UNSET_UINT;
    alcf->bf_window = NGX_CONF_UNSET;

    return alcf;
}


static char *
ngx_http_audit_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_audit_loc_conf_t  *prev = parent;
    ngx_http_audit_loc_conf_t  *conf = child;

    ngx_http_audit_main_conf_t  *amcf;

    static ngx_http_audit_headers_t  default_headers = {
        ngx_string("X-Audit-User-Id"),
        ngx_string("X-Audit-Role"),
        ngx_string("X-Audit-Session-Id"),
        ngx_string("X-Request-Id")
    };

    ngx_conf_merge_str_value(conf->cookie, prev->cookie,
                             ngx_http_audit_default_cookie.data);
    ngx_conf_merge_ptr_value(conf->keys, prev->keys, NULL);

    /* where each inherited value was set goes with it, for the errors below */

    if (conf->algs == NGX_CONF_UNSET_UINT) {
        conf->algs_at = prev->algs_at;
    }

    if (conf->rules == NGX_CONF_UNSET_PTR) {
        conf->rules_at = prev->rules_at;
    }

    if (conf->logout == NGX_CONF_UNSET) {
        conf->logout_at = prev->logout_at;
    }

    ngx_conf_merge_uint_value(conf->algs, prev->algs, AUDIT_ALG_ALL);
    ngx_conf_merge_value(conf->leeway, prev->leeway, 30);
    ngx_conf_merge_str_value(conf->issuer, prev->issuer, "");
    ngx_conf_merge_str_value(conf->audience, prev->audience, "");

    if (conf->user_claim.data == NULL) {
        conf->user_claim = prev->user_claim;
        conf->role_claim = prev->role_claim;
        conf->session_claim = prev->session_claim;
    }

    ngx_conf_merge_str_value(conf->user_claim, prev->user_claim, "sub");
    ngx_conf_merge_str_value(conf->role_claim, prev->role_claim, "role");
    ngx_conf_merge_str_value(conf->session_claim, prev->session_claim, "sid");

    ngx_conf_merge_ptr_value(conf->revoked, prev->revoked, NULL);
    ngx_conf_merge_str_value(conf->login_url, prev->login_url, "");
    ngx_conf_merge_value(conf->public, prev->public, 0);
    ngx_conf_merge_value(conf->encoded_slashes, prev->encoded_slashes, 0);
    ngx_conf_merge_ptr_value(conf->rules, prev->rules, NULL);
    ngx_conf_merge_ptr_value(conf->headers, prev->headers, &default_headers);
    ngx_conf_merge_uint_value(conf->authz_log, prev->authz_log,
                              NGX_HTTP_AUDIT_AUTHZ_ALL);

    ngx_conf_merge_value(conf->logout, prev->logout, 0);

    if (conf->bf_threshold == NGX_CONF_UNSET_UINT) {
        conf->bf_threshold = prev->bf_threshold;
        conf->bf_window = prev->bf_window;
        conf->bf_at = prev->bf_at;
    }

    ngx_conf_merge_uint_value(conf->bf_threshold, prev->bf_threshold, 0);
    ngx_conf_merge_value(conf->bf_window, prev->bf_window, 0);

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_audit_module);

    if (conf->bf_threshold && amcf->shm_zone == NULL) {
        ngx_http_audit_conf_error(cf, &conf->bf_at,
                                  "\"audit_bruteforce\" needs "
                                  "\"audit_zone\"");
        return NGX_CONF_ERROR;
    }

    if (conf->keys == NULL) {

        if (conf->login_field.len) {
            ngx_http_audit_conf_error(cf, &conf->login_at,
                                      "\"audit_login\" needs "
                                      "\"audit_session_keys\" in the same "
                                      "or an enclosing block");
            return NGX_CONF_ERROR;
        }

        if (conf->logout) {
            ngx_http_audit_conf_error(cf, &conf->logout_at,
                                      "\"audit_logout\" needs "
                                      "\"audit_session_keys\" in the same "
                                      "or an enclosing block");
            return NGX_CONF_ERROR;
        }

        if (conf->record_type.len) {
            ngx_http_audit_conf_error(cf, &conf->record_at,
                                      "\"audit_record\" needs "
                                      "\"audit_session_keys\" in the same "
                                      "or an enclosing block");
            return NGX_CONF_ERROR;
        }

        if (conf->rules != NULL) {
            ngx_http_audit_conf_error(cf, &conf->rules_at,
                                      "\"audit_require_role\" needs "
                                      "\"audit_session_keys\" in the same "
                                      "or an enclosing block");
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    if ((audit_keyset_algs(conf->keys->keyset) & conf->algs) == 0) {
        ngx_http_audit_conf_error(cf, &conf->algs_at,
                                  "\"audit_session_algorithms\" allows no "
                                  "algorithm that a key in \"%V\" can "
                                  "verify", &conf->keys->path);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_audit_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_audit_main_conf_t *amcf = conf;

    u_char     *p;
    ssize_t     size;
    ngx_str_t  *value, name, s;

    if (amcf->shm_zone) {
        return "is duplicate";
    }

    value = cf->args->elts;

    p = (u_char *) ngx_strchr(value[1].data, ':');
    if (p == NULL || p == value[1].data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone \"%V\" in \"audit_zone\", "
                           "expected NAME:SIZE", &value[1]);
        return NGX_CONF_ERROR;
    }

    name.data = value[1].data;
    name.len = p - value[1].data;

    s.data = p + 1;
    s.len = value[1].data + value[1].len - s.data;

    size = ngx_parse_size(&s);

    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\" in \"audit_zone\"",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    if (size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" in \"audit_zone\" is too small, "
                           "at least %uzk", &name, 8 * ngx_pagesize / 1024);
        return NGX_CONF_ERROR;
    }

    amcf->shm_zone = ngx_shared_memory_add(cf, &name, size,
                                           &ngx_http_audit_module);
    if (amcf->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (amcf->shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" in \"audit_zone\" is already used",
                           &name);
        return NGX_CONF_ERROR;
    }

    amcf->shm_zone->init = ngx_http_audit_zone_init;
    amcf->shm_zone->data = amcf;

    return NGX_CONF_OK;
}


static char *
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


static char *
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


static char *
ngx_http_audit_session_revoked(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_audit_loc_conf_t *alcf = conf;

    ngx_str_t  *value;

    if (alcf->revoked != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    return ngx_http_audit_session_load_revoked(cf, alcf, &value[1]);
}


static char *
ngx_http_audit_require_role(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return ngx_http_audit_policy_add_rule(cf, conf);
}


static char *
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


static char *
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


static char *
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


static char *
ngx_http_audit_login(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_audit_loc_conf_t *alcf = conf;

    ngx_str_t  *value;

    if (alcf->login_field.len) {
        return "is duplicate";
    }

    value = cf->args->elts;

    ngx_str_set(&alcf->login_field, "username");
    ngx_http_audit_conf_line(cf, &alcf->login_at);

    if (cf->args->nelts == 2) {

        if (ngx_strncmp(value[1].data, "username_field=", 15) != 0
            || value[1].len == 15)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" in "
                               "\"audit_login\", expected "
                               "username_field=NAME", &value[1]);
            return NGX_CONF_ERROR;
        }

        /* NUL-terminated, as cf->args are: the core takes a C string */
        alcf->login_field.data = value[1].data + 15;
        alcf->login_field.len = value[1].len - 15;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_audit_logout(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_audit_loc_conf_t *alcf = conf;

    if (alcf->logout != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    alcf->logout = 1;
    ngx_http_audit_conf_line(cf, &alcf->logout_at);

    return NGX_CONF_OK;
}


static char *
ngx_http_audit_bruteforce(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return ngx_http_audit_bruteforce_conf(cf, conf);
}


static char *
ngx_http_audit_scrub(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_audit_main_conf_t *amcf = conf;

    ngx_str_t   *value, *name;
    ngx_uint_t   i;

    value = cf->args->elts;

    if (amcf->scrub_names == NULL) {
        amcf->scrub_names = ngx_array_create(cf->pool, 4, sizeof(ngx_str_t));
        if (amcf->scrub_names == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    for (i = 1; i < cf->args->nelts; i++) {

        if (value[i].len == 0 || value[i].len > AUDIT_SCRUB_NAME_MAX) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter name \"%V\" in "
                               "\"audit_scrub\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        name = ngx_array_push(amcf->scrub_names);
        if (name == NULL) {
            return NGX_CONF_ERROR;
        }

        *name = value[i];
    }

    return NGX_CONF_OK;
}



static char *
ngx_http_audit_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return ngx_http_audit_status_conf(cf);
}






static char *
ngx_http_audit_check_uri(ngx_conf_t *cf, void *post, void *data)
{
    ngx_str_t  *uri = data;

    if (uri->len == 0 || uri->data[0] != '/'
        || (uri->len > 1 && uri->data[1] == '/'))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"audit_login_url\" must be a local path "
                           "starting with a single \"/\", not \"%V\"", uri);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


void
ngx_http_audit_conf_line(ngx_conf_t *cf, ngx_http_audit_conf_line_t *at)
{
    /* the name is NUL-terminated and lives as long as the cycle */
    at->file = cf->conf_file->file.name.data;
    at->line = cf->conf_file->line;
}


/*
 * An error found in merge or init_main_conf, where ngx_conf_log_error()
 * would name the closing "}" of the block: names the directive's own line.
 */

void ngx_cdecl
ngx_http_audit_conf_error(ngx_conf_t *cf, ngx_http_audit_conf_line_t *at,
    const char *fmt, ...)
{
    u_char   *p;
    va_list   args;
    u_char    errstr[NGX_MAX_CONF_ERRSTR];

    va_start(args, fmt);
    p = ngx_vslprintf(errstr, errstr + NGX_MAX_CONF_ERRSTR, fmt, args);
    va_end(args);

    if (at->file == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%*s", p - errstr, errstr);
        return;
    }

    ngx_log_error(NGX_LOG_EMERG, cf->log, 0, "%*s in %s:%ui",
                  p - errstr, errstr, at->file, at->line);
}


/* a cookie or header name: an RFC 7230 token */

static char *
ngx_http_audit_check_name(ngx_conf_t *cf, void *post, void *data)
{
    ngx_str_t  *name = data;

    u_char      c;
    ngx_str_t  *directive;
    ngx_uint_t  i;

    directive = cf->args->elts;

    for (i = 0; i < name->len; i++) {
        c = name->data[i];

        if (c <= ' ' || c >= 0x7f || ngx_strchr("()<>@,;:\\\"/[]?={}", c))
        {
            break;
        }
    }

    if (name->len == 0 || i < name->len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid name \"%V\" in \"%V\"", name,
                           &directive[0]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}
