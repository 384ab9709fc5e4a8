
/*
 * ngx_http_audit_module: the alert sink's types, shared by its module
 * (sinks/ngx_http_audit_alert_module.c), its directives
 * (ngx_http_audit_alert_conf.c), the engine (ngx_http_audit_alert.c:
 * grouping, rules, delivery), the health verdict
 * (ngx_http_audit_health.c) and the test endpoint
 * (ngx_http_audit_alert_test.c).
 */


#ifndef _NGX_HTTP_AUDIT_ALERT_H_INCLUDED_
#define _NGX_HTTP_AUDIT_ALERT_H_INCLUDED_


#include "ngx_http_audit_module.h"
#include "ngx_http_audit_deliver.h"
#include "audit_alert.h"


#define NGX_HTTP_AUDIT_ALERT_ROUTES    16
#define NGX_HTTP_AUDIT_ALERT_RULES     16
#define NGX_HTTP_AUDIT_ALERT_GROUPS    64
#define NGX_HTTP_AUDIT_ALERT_SAMPLES   13          /* 12 steps a window */
#define NGX_HTTP_AUDIT_ALERT_FP        128
#define NGX_HTTP_AUDIT_ALERT_TESTS     8           /* audit_test at once */
#define NGX_HTTP_AUDIT_ALERT_TICK      1000        /* rules, ms */


/* what a rule watches */
typedef enum {
    NGX_HTTP_AUDIT_RULE_UPSTREAM_5XX = 0,
    NGX_HTTP_AUDIT_RULE_LOGIN_FAILURE,
    NGX_HTTP_AUDIT_RULE_NO_EVENTS,
    NGX_HTTP_AUDIT_RULE_PG_DOWN
} ngx_http_audit_rule_e;


/* audit_alert KIND TARGET [severity=] [url=] [timeout=] */
typedef struct {
    audit_alert_kind_t           kind;
    ngx_uint_t                   index;
    u_char                       name[32];         /* "slack-2" */
    ngx_str_t                    key;              /* PagerDuty's, NUL */
    ngx_str_t                    host;             /* for Host: */
    ngx_str_t                    sni;              /* certificate, NUL */
    ngx_str_t                    path;             /* request target */
    ngx_addr_t                   addr;             /* resolved at start */
    ngx_uint_t                   https;
    ngx_uint_t                   severity;         /* audit_severity_t */
    ngx_msec_t                   timeout;
#if (NGX_SSL)
    ngx_ssl_t                   *ssl;
#endif
} ngx_http_audit_alert_route_t;


/* audit_alert_rule WHAT [> N[%|s|m|h]] [window=] [severity=] */
typedef struct {
    ngx_http_audit_rule_e        what;
    ngx_uint_t                   threshold;        /* count, % or s */
    ngx_uint_t                   percent;
    time_t                       window;
    ngx_uint_t                   severity;
    ngx_str_t                    text;             /* as written */
} ngx_http_audit_alert_rule_t;


/* a ring of samples of two counters, a window long */
typedef struct {
    time_t                       next;             /* next sample */
    ngx_uint_t                   head;
    ngx_uint_t                   n;
    ngx_atomic_uint_t            a[NGX_HTTP_AUDIT_ALERT_SAMPLES];
    ngx_atomic_uint_t            b[NGX_HTTP_AUDIT_ALERT_SAMPLES];
} ngx_http_audit_alert_ring_t;


/* one fingerprint's window, in the alert zone */
typedef struct {
    u_char                       fp[NGX_HTTP_AUDIT_ALERT_FP];
    time_t                       start;            /* its window */
    time_t                       last;
    ngx_uint_t                   count;            /* since its last alert */
    ngx_uint_t                   firing;           /* resolvable, unresolved */
    unsigned long long           started_ms;
} ngx_http_audit_alert_group_t;


typedef struct {
    ngx_uint_t                   firing;
    time_t                       since;            /* condition true since */
    unsigned long long           started_ms;
    ngx_http_audit_alert_ring_t  ring;
} ngx_http_audit_alert_rule_state_t;


typedef struct {
    ngx_atomic_t                 sent;
    ngx_atomic_t                 failed;
    ngx_atomic_t                 dropped;
    ngx_atomic_uint_t            breaker[NGX_HTTP_AUDIT_MAX_WORKERS];
    ngx_atomic_uint_t            queued[NGX_HTTP_AUDIT_MAX_WORKERS];
} ngx_http_audit_alert_counters_t;


/*
 * The alert zone: one per nginx, shared by all workers.  A reload keeps
 * it as it is; a module built with another layout must not read it.
 */
#define NGX_HTTP_AUDIT_ALERT_MAGIC  0x414c5254            /* "ALRT" */

typedef struct {
    uint32_t                           magic;      /* first: the layout */
    uint32_t                           size;
    ngx_http_audit_alert_counters_t    routes[NGX_HTTP_AUDIT_ALERT_ROUTES];
    ngx_http_audit_alert_group_t       groups[NGX_HTTP_AUDIT_ALERT_GROUPS];
    ngx_http_audit_alert_rule_state_t  rules[NGX_HTTP_AUDIT_ALERT_RULES];
    ngx_http_audit_alert_ring_t        hour;       /* 5xx over an hour */
    ngx_atomic_t                       upstream;   /* upstream answers */
    ngx_atomic_t                       upstream_5xx;
    ngx_atomic_t                       last_event; /* time of the last */
    ngx_atomic_t                       tick;       /* the last evaluation */
    ngx_atomic_t                       lost;       /* events_lost seen */
    ngx_atomic_t                       lost_at;    /* ... and when */
    ngx_atomic_t                       keys_failed;    /* re-reads failed */
    ngx_atomic_t                       keys_failed_at; /* the last one */
} ngx_http_audit_alert_sh_t;


typedef struct ngx_http_audit_alert_s  ngx_http_audit_alert_t;


/* audit_health's thresholds */
typedef struct {
    ngx_flag_t                   enable;
    off_t                        spool;            /* unhealthy above */
    ngx_uint_t                   error_rate;       /* %, degraded above */
    time_t                       activity;         /* degraded when quiet */
    time_t                       keys;             /* degraded when keys
                                                      kept past a failed
                                                      read are this old */
} ngx_http_audit_health_conf_t;


typedef struct {
    ngx_array_t                 *routes;           /* audit_alert */
    ngx_array_t                 *rules;            /* audit_alert_rule */
    time_t                       window;           /* audit_alert_window */
    ngx_str_t                    trusted;          /* ..._trusted_cert... */
    ngx_shm_zone_t              *shm_zone;
    ngx_uint_t                   used;             /* anything to watch */
    ngx_http_audit_alert_t      *state;            /* per worker */
} ngx_http_audit_alert_main_conf_t;


typedef struct {
    ngx_http_audit_health_conf_t health;           /* audit_health */
    ngx_flag_t                   test;             /* audit_test */
} ngx_http_audit_alert_loc_conf_t;


/* the result of one destination of audit_test */
typedef struct {
    ngx_uint_t                   done;
    ngx_int_t                    rc;               /* as deliver's ended */
    ngx_uint_t                   status;
    const char                  *what;
} ngx_http_audit_alert_result_t;


extern ngx_module_t  ngx_http_audit_alert_module;


typedef struct {
    ngx_http_audit_alert_t        *alert;
    ngx_http_audit_alert_route_t  *route;
    ngx_http_audit_deliver_t      *deliver;
} ngx_http_audit_alert_dest_t;


/* a worker's alert state (ngx_http_audit_alert.c) */
struct ngx_http_audit_alert_s {
    ngx_http_audit_alert_main_conf_t  *mcf;
    ngx_log_t                         *log;
    ngx_http_audit_alert_sh_t         *sh;
    ngx_slab_pool_t                   *shpool;
    ngx_http_audit_shctx_t            *audit;        /* audit_zone, or NULL */
    const audit_scrub_t               *scrub;
    u_char                            *host;         /* NUL-terminated */
    ngx_uint_t                         pg;           /* audit_pg is set */

    ngx_http_audit_alert_dest_t        dests[NGX_HTTP_AUDIT_ALERT_ROUTES];
    ngx_uint_t                         ndests;

    ngx_event_t                        tick;

    /* audit_test: one slot per request waiting, a result per route */
    ngx_uint_t                         test_gen[NGX_HTTP_AUDIT_ALERT_TESTS];
    ngx_http_audit_alert_result_t      results[NGX_HTTP_AUDIT_ALERT_TESTS]
                                           [NGX_HTTP_AUDIT_ALERT_ROUTES + 1];
};


extern const char  *const ngx_http_audit_alert_severities[];
extern ngx_http_audit_status_section_pt  ngx_http_audit_alert_next_status;


/* directives (ngx_http_audit_alert_conf.c) */
char *ngx_http_audit_alert_route_conf(ngx_conf_t *cf,
    ngx_http_audit_alert_main_conf_t *mcf);
char *ngx_http_audit_alert_rule_conf(ngx_conf_t *cf,
    ngx_http_audit_alert_main_conf_t *mcf);
char *ngx_http_audit_alert_init_conf(ngx_conf_t *cf,
    ngx_http_audit_alert_main_conf_t *mcf);
char *ngx_http_audit_health_conf(ngx_conf_t *cf,
    ngx_http_audit_alert_loc_conf_t *lcf);

/* the engine (ngx_http_audit_alert.c) */
ngx_int_t ngx_http_audit_alert_init_process(ngx_cycle_t *cycle,
    ngx_http_audit_alert_main_conf_t *mcf);
void ngx_http_audit_alert_exit_process(
    ngx_http_audit_alert_main_conf_t *mcf);
void ngx_http_audit_alert_sink(void);
ngx_int_t ngx_http_audit_alert_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
ngx_int_t ngx_http_audit_alert_log_handler(ngx_http_request_t *r);
ngx_http_audit_alert_sh_t *ngx_http_audit_alert_shared(void);
void ngx_http_audit_alert_window(ngx_http_audit_alert_ring_t *ring,
    time_t window, ngx_atomic_uint_t *a, ngx_atomic_uint_t *b);
void ngx_http_audit_alert_ring_delta(ngx_http_audit_alert_ring_t *ring,
    ngx_atomic_uint_t *a, ngx_atomic_uint_t *b);

ngx_http_audit_alert_t *ngx_http_audit_alert_worker(void);
unsigned long long ngx_http_audit_alert_now_ms(void);
void ngx_http_audit_alert_raise(ngx_http_audit_alert_t *a,
    audit_alert_t *al, ngx_uint_t severity, ngx_uint_t resolvable);
void ngx_http_audit_alert_resolve(ngx_http_audit_alert_t *a,
    const char *fp, audit_alert_t *al, ngx_uint_t severity);
void ngx_http_audit_alert_send(ngx_http_audit_alert_t *a,
    audit_alert_t *al, ngx_uint_t severity, void *tag, ngx_uint_t only);

/* rules (ngx_http_audit_alert_rules.c) */
void ngx_http_audit_alert_tick(ngx_event_t *ev);
ngx_uint_t ngx_http_audit_alert_pg_up(ngx_http_audit_alert_t *a);

/* audit_test: a labelled alert to every route; results by slot */
ngx_int_t ngx_http_audit_alert_test_send(ngx_http_request_t *r,
    ngx_uint_t slot, ngx_uint_t gen);
ngx_http_audit_alert_result_t *ngx_http_audit_alert_test_results(
    ngx_uint_t slot, ngx_uint_t gen);
ngx_int_t ngx_http_audit_alert_test_slot(ngx_uint_t *slot, ngx_uint_t *gen);
void ngx_http_audit_alert_test_free(ngx_uint_t slot);
ngx_http_audit_alert_route_t *ngx_http_audit_alert_routes(ngx_uint_t *n);
void ngx_http_audit_alert_test_tracker(void *tag, ngx_int_t rc,
    ngx_uint_t status, const char *what);
void ngx_http_audit_alert_test_result(ngx_http_audit_alert_t *a, void *tag,
    ngx_uint_t i, ngx_int_t rc, ngx_uint_t status, const char *what);

#define ngx_http_audit_alert_test_tag(slot, gen)                             \
    ((void *) (uintptr_t) (((gen) << 8) | ((slot) + 1)))

/* the routes' section of audit_status (ngx_http_audit_health.c) */
u_char *ngx_http_audit_alert_status_section(u_char *p, u_char *last,
    ngx_uint_t prometheus);

/* the handlers (ngx_http_audit_health.c, ngx_http_audit_alert_test.c) */
ngx_int_t ngx_http_audit_health_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_audit_alert_test_handler(ngx_http_request_t *r);


#endif /* _NGX_HTTP_AUDIT_ALERT_H_INCLUDED_ */
