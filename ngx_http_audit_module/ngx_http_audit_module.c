
/*
 * ngx_http_audit_module: module glue.
 *
 * The directive table, configuration create/merge with the checks that
 * span directives, and the hooks that wire the other files in: the
 * access-phase handler and the deny-response filters
 * (ngx_http_audit_access.c) and the variables (ngx_http_audit_variables.c).
 * A directive that needs a parser has it in the file of its concern:
 * session keys (ngx_http_audit_keys.c), the other session settings
 * (ngx_http_audit_session_conf.c), policy, login, bruteforce, identity
 * headers (ngx_http_audit_target.c) and the scrubber; here stay only the
 * zone, the status page and the checks of slot values.
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
static char *ngx_http_audit_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_audit_check_uri(ngx_conf_t *cf, void *post,
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
      ngx_http_audit_session_load_revoked,
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
      ngx_http_audit_policy_add_rule,
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
      ngx_http_audit_bruteforce_conf,
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


static char *
ngx_http_audit_init_main_conf(ngx_conf_t *cf, void *conf)
{
    return ngx_http_audit_scrub_init(cf, conf);
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
        || ngx_http_audit_chain_init_process(cycle) != NGX_OK)
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
        ngx_http_audit_keys_publish(cycle);
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

    ngx_http_audit_chain_exit_process(cycle);
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

    ngx_uint_t                   own_rules, i;
    audit_policy_rule_t         *rule;
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

    own_rules = (conf->rules != NGX_CONF_UNSET_PTR);

    if (!own_rules) {
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

    /*
     * A public page lets anyone in and its roles decide nothing: roles
     * written for a block that "audit_public on" reaches (from an
     * enclosing block, say) would look like a policy and be none.  Roles
     * inherited into a public location (a login page) are what public
     * means.
     */

    /*
     * A block with roles of its own inherits none of its parent's (as
     * add_header): roles that all name methods would leave every other
     * method to any valid session, where the parent had required roles
     */

    if (own_rules && conf->rules && prev->rules
        && prev->rules != NGX_CONF_UNSET_PTR)
    {
        rule = conf->rules->elts;

        for (i = 0; i < conf->rules->nelts; i++) {
            if (rule[i].methods == 0) {
                break;
            }
        }

        if (i == conf->rules->nelts) {
            ngx_http_audit_conf_error(cf, &conf->rules_at,
                                      "\"audit_require_role\" with "
                                      "\"methods=\" only: a block with "
                                      "roles of its own inherits none of "
                                      "the enclosing block's, so every other "
                                      "method would be open to any valid "
                                      "session; add an \"audit_require_role\" "
                                      "without \"methods=\" here");
            return NGX_CONF_ERROR;
        }
    }

    if (own_rules && conf->rules && conf->public) {
        ngx_http_audit_conf_error(cf, &conf->rules_at,
                                  "\"audit_require_role\" has no effect "
                                  "where \"audit_public on\" applies (set "
                                  "here or in an enclosing block): add "
                                  "\"audit_public off;\" or remove the "
                                  "roles");
        return NGX_CONF_ERROR;
    }
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

    if (conf->logout && amcf->shm_zone == NULL) {
        ngx_http_audit_conf_error(cf, &conf->logout_at,
                                  "\"audit_logout\" needs \"audit_zone\": "
                                  "without it a logged-out session stays "
                                  "valid in every worker");
        return NGX_CONF_ERROR;
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

    ngx_str_t  *value;

    if (amcf->shm_zone) {
        return "is duplicate";
    }

    value = cf->args->elts;

    amcf->shm_zone = ngx_http_audit_conf_zone(cf, &value[1],
                                              8 * ngx_pagesize,
                                              &ngx_http_audit_module);
    if (amcf->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    amcf->shm_zone->init = ngx_http_audit_zone_init;
    amcf->shm_zone->data = amcf;

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

