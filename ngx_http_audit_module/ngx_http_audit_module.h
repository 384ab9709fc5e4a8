
/*
 * ngx_http_audit_module: types shared by the files of the nginx layer.
 *
 * The module is split by concern, each in its own ngx_http_audit_<concern>.c:
 * module glue (directives, conf create/merge, hooks), session (cookie,
 * token verification, key sets), policy (role-to-route rules), access (the
 * access-phase handler and the deny responses) and variables.  The pure C
 * core under core/ holds everything that needs no nginx.
 */


#ifndef _NGX_HTTP_AUDIT_MODULE_H_INCLUDED_
#define _NGX_HTTP_AUDIT_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "audit_jws.h"
#include "audit_policy.h"
#include "audit_idset.h"
#include "audit_tcache.h"
#include "audit_event.h"
#include "audit_scrub.h"
#include "audit_uuid.h"
#include "audit_login.h"
#include "audit_sentry.h"
#include "audit_target.h"

#include "ngx_http_audit_sink.h"
#include "ngx_http_audit_zone.h"


#define NGX_HTTP_AUDIT_VERSION  "0.1.0"

/* room for a message from the core (a key file, a list of ids) */
#define NGX_HTTP_AUDIT_ERRLEN   256


/*
 * Where a directive was read.  A check that needs more than the directive
 * (another directive, the whole block) runs in merge or init_main_conf,
 * when nginx's position is the block's closing "}": it names this line
 * instead, as nginx does for "listen ... ssl" without a certificate.
 */
typedef struct {
    u_char                      *file;
    ngx_uint_t                   line;
} ngx_http_audit_conf_line_t;


/*
 * A key file and the key set parsed from it.  The set is parsed at
 * configuration time; a worker may later swap in a newer one (timer with
 * "refresh=", or a token naming an unknown kid), never a broken one.  The
 * swap is worker-local runtime state, like an upstream keepalive cache:
 * the verification settings themselves are never written after
 * configuration.
 */
#define NGX_HTTP_AUDIT_CACHE_HASH  32


typedef struct {
    ngx_str_t                    path;
    audit_keyset_t              *keyset;
    u_char                       digest[NGX_HTTP_AUDIT_CACHE_HASH];
    time_t                       refresh;          /* 0: only on reload */
    time_t                       reread;           /* last re-read */
    time_t                       loaded;           /* the set in use read */
    time_t                       failed;           /* last failed read */
    ngx_uint_t                   failing;          /* the last read failed */
    ngx_uint_t                   generation;       /* bumped by re-reads */
    ngx_event_t                  timer;
} ngx_http_audit_keys_t;


/* an unknown kid re-reads the key file at most this often per worker */
#define NGX_HTTP_AUDIT_REREAD_MIN  10


typedef struct {
    ngx_str_t                    user;
    ngx_str_t                    role;
    ngx_str_t                    session;
    ngx_str_t                    request_id;
} ngx_http_audit_headers_t;


typedef struct ngx_http_audit_producer_s  ngx_http_audit_producer_t;
typedef struct ngx_http_audit_pg_s        ngx_http_audit_pg_t;
typedef struct ngx_http_audit_spool_s     ngx_http_audit_spool_t;
typedef struct ngx_http_audit_sentry_s    ngx_http_audit_sentry_t;






#define NGX_HTTP_AUDIT_AUTHZ_DENIED  1
#define NGX_HTTP_AUDIT_AUTHZ_ALL     2




typedef struct {
    ngx_shm_zone_t              *shm_zone;         /* audit_zone */
    ngx_array_t                  keys;             /* ngx_http_audit_keys_t * */
    audit_tcache_t              *tcache;           /* per worker */
    ngx_http_audit_worker_stats_t *stats;          /* this worker's slot */
    ngx_uint_t                   sinks;            /* configured sinks
                                                      that want events */
    ngx_array_t                 *scrub_names;      /* audit_scrub */
    audit_scrub_t               *scrub;
    ngx_http_audit_producer_t   *producer;         /* per worker */
    void                       (*closing)(ngx_cycle_t *cycle);
                                                   /* run as a worker's
                                                      chain ends: the final
                                                      checkpoint */
} ngx_http_audit_main_conf_t;


/* verified sessions remembered per worker (audit_tcache.h) */
#define NGX_HTTP_AUDIT_TCACHE_SIZE  4096


typedef struct {
    ngx_str_t                    cookie;           /* audit_session_cookie */
    ngx_http_audit_keys_t       *keys;             /* audit_session_keys */
    ngx_uint_t                   algs;             /* audit_session_algorithms */
    ngx_http_audit_conf_line_t   algs_at;
    time_t                       leeway;           /* audit_session_leeway */
    ngx_str_t                    issuer;           /* audit_session_issuer */
    ngx_str_t                    audience;         /* audit_session_audience */
    ngx_str_t                    user_claim;       /* audit_session_claims */
    ngx_str_t                    role_claim;
    ngx_str_t                    session_claim;
    audit_idset_t               *revoked;          /* audit_session_revoked */
    ngx_str_t                    login_url;        /* audit_login_url */
    ngx_flag_t                   public;           /* audit_public */
    ngx_flag_t                   encoded_slashes;  /* audit_allow_encoded_
                                                      slashes */
    ngx_array_t                 *rules;            /* audit_require_role */
    ngx_http_audit_conf_line_t   rules_at;
    ngx_http_audit_headers_t    *headers;          /* audit_identity_headers */
    ngx_uint_t                   authz_log;        /* audit_authz_log */
    ngx_str_t                    record_type;      /* audit_record */
    ngx_http_complex_value_t    *record_id;
    ngx_http_audit_conf_line_t   record_at;
    ngx_str_t                    login_field;      /* audit_login */
    ngx_http_audit_conf_line_t   login_at;
    ngx_flag_t                   logout;           /* audit_logout */
    ngx_http_audit_conf_line_t   logout_at;
    ngx_uint_t                   bf_threshold;     /* audit_bruteforce */
    time_t                       bf_window;
    ngx_http_audit_conf_line_t   bf_at;
} ngx_http_audit_loc_conf_t;


/* what the access phase concluded for this request */
typedef enum {
    NGX_HTTP_AUDIT_UNDECIDED = 0,
    NGX_HTTP_AUDIT_PERMITTED,
    NGX_HTTP_AUDIT_DENIED,
    NGX_HTTP_AUDIT_UNAUTHENTICATED,
    NGX_HTTP_AUDIT_REJECTED                        /* 400: target, method */
} ngx_http_audit_decision_e;


typedef struct {
    ngx_http_audit_loc_conf_t   *alcf;             /* the location that
                                                      judged the request */
    ngx_http_audit_decision_e    decision;
    ngx_str_t                    reason;           /* e.g. "expired" */
    ngx_str_t                    rule;             /* the rule that decided */

    ngx_uint_t                   status;           /* 401/403 we returned */
    ngx_str_t                    refused_uri;      /* the URI it was for */
    ngx_str_t                    location;         /* login redirect */
    ngx_str_t                    body;             /* replaces nginx's page */

    ngx_str_t                    raw;              /* the cookie's token */
    audit_token_t                token;            /* verified claims */
    unsigned                     token_valid:1;
    unsigned                     redirect:1;
    unsigned                     audited:1;
    unsigned                     login:1;          /* a login POST */
    unsigned                     login_body:1;     /* its body was read */
    unsigned                     login_success:1;
    unsigned                     body_pending:1;
    unsigned                     body_sent:1;
    unsigned                     target_checked:1;
    unsigned                     html:1;           /* a page, not JSON */
    unsigned                     override_unknown:1; /* a body too long to
                                                      look into */
    unsigned                     passed:1;         /* served in spite of
                                                      our refusal ("satisfy
                                                      any") */

    ngx_str_t                    record_id;        /* audit_record's ID,
                                                      as the location
                                                      matched it */
    ngx_str_t                    reject;           /* why 400, or empty */
    audit_override_t             override;         /* method overrides */

    ngx_str_t                    user_id;
    ngx_str_t                    role;             /* roles, comma-joined */
    ngx_str_t                    session_id;

    ngx_str_t                    attempted_user;   /* from a login body */
    ngx_str_t                    attempted_first;  /* its first value, when
                                                      the body names the
                                                      field twice */
    ngx_str_t                    login_reason;     /* why a login failed */
} ngx_http_audit_ctx_t;


extern ngx_module_t  ngx_http_audit_module;


/* an event's string from an nginx one */
#define ngx_http_audit_str(dst, src)                                          \
    do {                                                                      \
        (dst)->data = (const char *) (src)->data;                             \
        (dst)->len = (src)->len;                                              \
    } while (0)


/* module glue */
void ngx_http_audit_conf_line(ngx_conf_t *cf, ngx_http_audit_conf_line_t *at);
void ngx_cdecl ngx_http_audit_conf_error(ngx_conf_t *cf,
    ngx_http_audit_conf_line_t *at, const char *fmt, ...);
char *ngx_http_audit_check_name(ngx_conf_t *cf, void *post, void *data);
ngx_shm_zone_t *ngx_http_audit_conf_zone(ngx_conf_t *cf, ngx_str_t *arg,
    size_t min, void *tag);

/* session keys */
char *ngx_http_audit_session_keys(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_audit_keys_init_process(ngx_cycle_t *cycle);
void ngx_http_audit_keys_publish(ngx_cycle_t *cycle);
ngx_int_t ngx_http_audit_keys_reread(ngx_http_audit_keys_t *keys,
    ngx_log_t *log);

/* session directives */
char *ngx_http_audit_session_algorithms(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_audit_session_claims(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_audit_session_load_revoked(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* session */
ngx_int_t ngx_http_audit_session_init_process(ngx_cycle_t *cycle);
void ngx_http_audit_session_exit_process(ngx_http_audit_main_conf_t *amcf);
ngx_int_t ngx_http_audit_session_verify(ngx_http_request_t *r,
    ngx_http_audit_loc_conf_t *alcf, ngx_http_audit_ctx_t *ctx);
ngx_int_t ngx_http_audit_session_verify_value(ngx_http_request_t *r,
    ngx_http_audit_loc_conf_t *alcf, ngx_http_audit_ctx_t *ctx,
    ngx_str_t *token);
void ngx_http_audit_session_revoke(ngx_http_request_t *r,
    ngx_http_audit_loc_conf_t *alcf, ngx_http_audit_ctx_t *ctx);
ngx_int_t ngx_http_audit_session_token_id(ngx_http_request_t *r,
    ngx_str_t *token, const char *prefix, ngx_str_t *id);

/* login observation */
char *ngx_http_audit_login(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_audit_logout(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_audit_login_read(ngx_http_request_t *r,
    ngx_http_audit_loc_conf_t *alcf, ngx_http_audit_ctx_t *ctx);
void ngx_http_audit_login_response(ngx_http_request_t *r,
    ngx_http_audit_loc_conf_t *alcf, ngx_http_audit_ctx_t *ctx);

/* verified-token cache */
ngx_int_t ngx_http_audit_cache_key(ngx_http_audit_keys_t *keys,
    ngx_str_t *token, u_char *hash);
ngx_uint_t ngx_http_audit_cache_lookup(ngx_shm_zone_t *zone, u_char *hash,
    time_t now);
void ngx_http_audit_cache_insert(ngx_shm_zone_t *zone, u_char *hash,
    time_t exp, time_t now);

/* counters and status */
char *ngx_http_audit_status_conf(ngx_conf_t *cf);
ngx_uint_t ngx_http_audit_reason_index(ngx_str_t *reason);
ngx_http_audit_worker_stats_t *ngx_http_audit_stats(ngx_cycle_t *cycle);

/* failed-login detector */
char *ngx_http_audit_bruteforce_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
/* a failed login counted: where it reached the threshold, how many */
typedef struct {
    ngx_uint_t                   ip;               /* 0: not now */
    ngx_uint_t                   user;
    ngx_uint_t                   first;            /* attempted_first */
    time_t                       window;
} ngx_http_audit_bf_verdict_t;

void ngx_http_audit_bruteforce_failure(ngx_http_request_t *r,
    ngx_http_audit_ctx_t *ctx, ngx_http_audit_bf_verdict_t *v);
ngx_int_t ngx_http_audit_bruteforce_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);

/* policy */
char *ngx_http_audit_policy_add_rule(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_audit_authz_log(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_audit_record(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_audit_policy_check(ngx_http_request_t *r,
    ngx_http_audit_loc_conf_t *alcf, ngx_http_audit_ctx_t *ctx);

/* the request as the portal will act on it */
char *ngx_http_audit_identity_headers(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_audit_target_check(ngx_http_request_t *r,
    ngx_http_audit_loc_conf_t *alcf, ngx_http_audit_ctx_t *ctx);
ngx_uint_t ngx_http_audit_target_body_wanted(ngx_http_request_t *r,
    ngx_http_audit_loc_conf_t *alcf);
ngx_int_t ngx_http_audit_target_body(ngx_http_request_t *r,
    ngx_http_audit_ctx_t *ctx, ngx_str_t *body);
ngx_int_t ngx_http_audit_target_strip(ngx_http_request_t *r,
    ngx_http_audit_headers_t *names);

/* access */
ngx_int_t ngx_http_audit_access_init(ngx_conf_t *cf);

/* the request's context, $request_id, added response headers */
ngx_int_t ngx_http_audit_ctx_init(ngx_conf_t *cf);
ngx_http_audit_ctx_t *ngx_http_audit_get_ctx(ngx_http_request_t *r);
ngx_http_audit_ctx_t *ngx_http_audit_create_ctx(ngx_http_request_t *r);
ngx_int_t ngx_http_audit_request_id(ngx_http_request_t *r, ngx_str_t *id);
void ngx_http_audit_ctx_method(ngx_http_request_t *r,
    ngx_http_audit_ctx_t *ctx, ngx_str_t *method);
ngx_table_elt_t *ngx_http_audit_add_out_header(ngx_http_request_t *r,
    ngx_str_t *key, ngx_str_t *value);
/* the log for the module's own lines about r, made in log: nginx's
 * request context, scrubbed */
void ngx_http_audit_request_log(ngx_http_request_t *r, ngx_log_t *log);



/* events */
ngx_int_t ngx_http_audit_events_init(ngx_conf_t *cf);
void ngx_http_audit_events_login(ngx_http_request_t *r,
    ngx_http_audit_loc_conf_t *alcf, ngx_http_audit_ctx_t *ctx);
void ngx_http_audit_events_want(ngx_conf_t *cf);
void ngx_http_audit_events_request(ngx_http_request_t *r);

/* the chain: producer, seq, prev, what the sinks hold; emit */
ngx_int_t ngx_http_audit_chain_init_process(ngx_cycle_t *cycle);
void ngx_http_audit_chain_exit_process(ngx_cycle_t *cycle);
void ngx_http_audit_chain_hold(ngx_http_audit_main_conf_t *amcf,
    ngx_int_t n);
void ngx_http_audit_chain_after(ngx_cycle_t *cycle, ngx_str_t *producer,
    unsigned long long seq);
ngx_int_t ngx_http_audit_event_prepare(ngx_http_request_t *r,
    audit_event_t *ev);
void ngx_http_audit_chain_append(ngx_http_audit_main_conf_t *amcf,
    audit_event_t *ev, ngx_log_t *log);
ngx_int_t ngx_http_audit_chain_head(ngx_http_audit_main_conf_t *amcf,
    ngx_str_t *name, unsigned long long *next_seq, u_char *head,
    ngx_uint_t *has_head);

/* crypto: random bytes and SHA-256, per worker */
ngx_int_t ngx_http_audit_crypto_init_process(ngx_cycle_t *cycle);
void ngx_http_audit_crypto_exit_process(void);
ngx_int_t ngx_http_audit_random(u_char *buf, size_t n);
const EVP_MD *ngx_http_audit_sha256(void);
void ngx_http_audit_event_emit(ngx_http_request_t *r, audit_event_t *ev);

/* the scrubber */
char *ngx_http_audit_scrub(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_audit_scrub_init(ngx_conf_t *cf,
    ngx_http_audit_main_conf_t *amcf);

/* variables */
ngx_int_t ngx_http_audit_add_variables(ngx_conf_t *cf);


#endif /* _NGX_HTTP_AUDIT_MODULE_H_INCLUDED_ */
