
/*
 * Alert payloads for the places people are paged: PagerDuty Events API
 * v2, a Slack incoming webhook, and a generic webhook shaped like
 * Alertmanager's (docs/alerts.md).
 *
 * An alert says what happened, how often in its window, where (the host,
 * the scrubbed route, the request id) and nothing more: no user ids,
 * attempted usernames, passwords, tokens or record ids ever reach this
 * model.  Writes only into the caller's buffer.
 */


#ifndef AUDIT_ALERT_H
#define AUDIT_ALERT_H


#include <stddef.h>


/* a buffer this big holds any alert */
#define AUDIT_ALERT_MAX          8192
#define AUDIT_ALERT_DEDUP_MAX    255     /* PagerDuty's dedup_key */
#define AUDIT_ALERT_SUMMARY_MAX  1024    /* PagerDuty's payload.summary */
#define AUDIT_ALERT_KEY_LEN      32      /* a PagerDuty routing key */


typedef enum {
    AUDIT_ALERT_PAGERDUTY = 0,
    AUDIT_ALERT_SLACK,
    AUDIT_ALERT_WEBHOOK
} audit_alert_kind_t;


typedef struct {
    const char          *fingerprint;    /* the dedup key */
    const char          *name;           /* "bruteforce_suspected" */
    const char          *summary;        /* one line */
    const char          *severity;       /* critical, error, warning, info */
    const char          *source;         /* the nginx host */
    const char          *group;          /* "login", "postgresql", ... */
    const char          *detail;         /* a sentence, or NULL */
    const char          *request_id;     /* or NULL */
    const char          *route;          /* scrubbed, or NULL */
    unsigned long long   count;          /* occurrences in the window */
    unsigned long long   starts_ms;      /* unix ms */
    unsigned long long   ends_ms;        /* resolved: when; else 0 */
    int                  resolved;
    int                  test;           /* from audit_test */
} audit_alert_t;


/*
 * The JSON body for kind; routing_key only for PagerDuty.  Returns its
 * length, or -1 when a required member is missing or buf is too small.
 */
long audit_alert_encode(audit_alert_kind_t kind, const audit_alert_t *a,
    const char *routing_key, char *buf, size_t size);

/* whether key is a PagerDuty integration key: 32 letters and digits */
int audit_alert_routing_key_valid(const char *key, size_t len);


#endif /* AUDIT_ALERT_H */
