
/*
 * ngx_http_audit_module: the event and fault sink chains (see
 * ngx_http_audit_sink.h).
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_audit_sink.h"


static void ngx_http_audit_event_sink_end(ngx_http_audit_record_t *rec);
static void ngx_http_audit_fault_sink_end(ngx_http_audit_fault_t *f);
static u_char *ngx_http_audit_status_section_end(u_char *p, u_char *last,
    ngx_uint_t prometheus);


ngx_http_audit_event_sink_pt  ngx_http_audit_top_event_sink =
                                                ngx_http_audit_event_sink_end;
ngx_http_audit_fault_sink_pt  ngx_http_audit_top_fault_sink =
                                                ngx_http_audit_fault_sink_end;
ngx_http_audit_status_section_pt  ngx_http_audit_top_status_section =
                                            ngx_http_audit_status_section_end;


void
ngx_http_audit_sink_init(void)
{
    ngx_http_audit_top_event_sink = ngx_http_audit_event_sink_end;
    ngx_http_audit_top_fault_sink = ngx_http_audit_fault_sink_end;
    ngx_http_audit_top_status_section = ngx_http_audit_status_section_end;
}


void
ngx_http_audit_fault(ngx_log_t *log, audit_event_t *ev, const char *kind,
    const char *detail, const char *title)
{
    ngx_http_audit_fault_t  f;

    f.ev = ev;
    f.kind = kind;
    f.detail = detail;
    f.title = title;
    f.log = log;

    ngx_http_audit_top_fault_sink(&f);
}


static void
ngx_http_audit_event_sink_end(ngx_http_audit_record_t *rec)
{
}


static void
ngx_http_audit_fault_sink_end(ngx_http_audit_fault_t *f)
{
}


static u_char *
ngx_http_audit_status_section_end(u_char *p, u_char *last,
    ngx_uint_t prometheus)
{
    return p;
}
