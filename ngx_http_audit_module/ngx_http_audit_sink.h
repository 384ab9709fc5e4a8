
/*
 * ngx_http_audit_module: where events and faults go.
 *
 * Data flows one way: the event builders (ngx_http_audit_events.c)
 * encode an event once and hand the record to the top of a chain of
 * sinks; the module's own faults (PostgreSQL down, spool full, keys
 * unreadable, events lost) and upstream errors go to a chain of fault
 * sinks.  Nobody names its consumers: a sink registers itself in its
 * postconfiguration the way nginx's filters chain,
 *
 *     ngx_http_audit_next_event_sink = ngx_http_audit_top_event_sink;
 *     ngx_http_audit_top_event_sink = ngx_http_audit_log_event;
 *
 * and passes every record on to the next one.  A sink registers whether
 * or not it is configured (a failed reload leaves the chain as the new
 * configuration built it), and passes records on untouched when it has
 * nothing to do with them.
 */


#ifndef _NGX_HTTP_AUDIT_SINK_H_INCLUDED_
#define _NGX_HTTP_AUDIT_SINK_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "audit_event.h"


/* one event, encoded: the line with its "\n", and the event it encodes */
typedef struct {
    audit_event_t               *ev;
    u_char                      *line;
    size_t                       len;
    ngx_log_t                   *log;
    uint64_t                     ring_start;       /* in this worker's ring */
    uint64_t                     ring_end;         /* (ngx_http_audit_ring.h),
                                                      or _RING_NONE */
} ngx_http_audit_record_t;


/* a failure that is no audit event, e.g. module_fault:pg_down */
typedef struct {
    audit_event_t               *ev;               /* a request's context,
                                                      or NULL */
    const char                  *kind;             /* "module_fault" */
    const char                  *detail;           /* "pg_down" */
    const char                  *title;
    ngx_log_t                   *log;
} ngx_http_audit_fault_t;


typedef void (*ngx_http_audit_event_sink_pt)(ngx_http_audit_record_t *rec);
typedef void (*ngx_http_audit_fault_sink_pt)(ngx_http_audit_fault_t *f);

/*
 * A sink's own section of audit_status, chained the same way: JSON
 * members (",\"alerts\":{...}") or Prometheus lines appended at p.
 */
typedef u_char *(*ngx_http_audit_status_section_pt)(u_char *p,
    u_char *last, ngx_uint_t prometheus);


extern ngx_http_audit_event_sink_pt      ngx_http_audit_top_event_sink;
extern ngx_http_audit_fault_sink_pt      ngx_http_audit_top_fault_sink;
extern ngx_http_audit_status_section_pt  ngx_http_audit_top_status_section;


/* the chains' ends; run first, before any sink registers */
void ngx_http_audit_sink_init(void);

/* hands a fault to the fault sinks; ev may be NULL */
void ngx_http_audit_fault(ngx_log_t *log, audit_event_t *ev,
    const char *kind, const char *detail, const char *title);


#endif /* _NGX_HTTP_AUDIT_SINK_H_INCLUDED_ */
