
/*
 * Alert payloads (see audit_alert.h): PagerDuty Events API v2 as
 * developer.pagerduty.com documents "Send an Alert Event", a Slack
 * message with text and blocks as api.slack.com documents incoming
 * webhooks and Block Kit, and the webhook's Alertmanager-like shape.
 */


#include <stdio.h>
#include <string.h>

#include "audit_alert.h"
#include "audit_int.h"
#include "audit_json_int.h"


#define AUDIT_ALERT_FIELD_CAP    255
#define AUDIT_ALERT_DETAIL_CAP   1024
#define AUDIT_ALERT_ROUTE_CAP    512
#define AUDIT_ALERT_SLACK_HEAD   150     /* a header block's text */
#define AUDIT_ALERT_SLACK_TEXT   3000    /* a section's text */


static void audit_alert_pagerduty(audit_json_t *o, const audit_alert_t *a,
    const char *routing_key);
static void audit_alert_slack(audit_json_t *o, const audit_alert_t *a);
static void audit_alert_webhook(audit_json_t *o, const audit_alert_t *a);
static void audit_alert_str(audit_json_t *o, int *first, const char *key,
    const char *s, size_t max);
static size_t audit_alert_slack_escape(const char *s, char *out,
    size_t size);
static void audit_alert_headline(const audit_alert_t *a, char *out,
    size_t size);


long
audit_alert_encode(audit_alert_kind_t kind, const audit_alert_t *a,
    const char *routing_key, char *buf, size_t size)
{
    audit_json_t  o;

    if (a->fingerprint == NULL || a->fingerprint[0] == '\0'
        || strlen(a->fingerprint) > AUDIT_ALERT_DEDUP_MAX
        || a->name == NULL || a->summary == NULL || a->severity == NULL
        || a->source == NULL || size == 0)
    {
        return -1;
    }

    audit_json_init(&o, buf, size - 1);

    switch (kind) {

    case AUDIT_ALERT_PAGERDUTY:
        if (routing_key == NULL
            || !audit_alert_routing_key_valid(routing_key,
                                              strlen(routing_key)))
        {
            return -1;
        }

        audit_alert_pagerduty(&o, a, routing_key);
        break;

    case AUDIT_ALERT_SLACK:
        audit_alert_slack(&o, a);
        break;

    default:
        audit_alert_webhook(&o, a);
        break;
    }

    if (o.error) {
        return -1;
    }

    buf[o.n] = '\0';

    return (long) o.n;
}


int
audit_alert_routing_key_valid(const char *key, size_t len)
{
    size_t  i;

    if (len != AUDIT_ALERT_KEY_LEN) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!((key[i] >= '0' && key[i] <= '9')
              || (key[i] >= 'a' && key[i] <= 'z')
              || (key[i] >= 'A' && key[i] <= 'Z')))
        {
            return 0;
        }
    }

    return 1;
}


/*
 * A trigger carries the payload; a resolve only the routing and dedup
 * keys, which is all the Events API reads from one.
 */

static void
audit_alert_pagerduty(audit_json_t *o, const audit_alert_t *a,
    const char *routing_key)
{
    int   first;
    char  ts[25];

    first = 1;
    AUDIT_JSON_LIT(o, "{");
    audit_alert_str(o, &first, "routing_key", routing_key,
                    AUDIT_ALERT_KEY_LEN);
    audit_alert_str(o, &first, "event_action",
                    a->resolved ? "resolve" : "trigger", 16);
    audit_alert_str(o, &first, "dedup_key", a->fingerprint,
                    AUDIT_ALERT_DEDUP_MAX);

    if (a->resolved) {
        AUDIT_JSON_LIT(o, "}");
        return;
    }

    audit_alert_str(o, NULL, "client", "ngx_http_audit", 32);

    audit_json_key(o, NULL, "payload");
    first = 1;
    AUDIT_JSON_LIT(o, "{");
    audit_alert_str(o, &first, "summary", a->summary,
                    AUDIT_ALERT_SUMMARY_MAX);
    audit_alert_str(o, &first, "source", a->source, AUDIT_ALERT_FIELD_CAP);
    audit_alert_str(o, &first, "severity", a->severity, 16);

    audit_rfc3339_ms(a->starts_ms, ts);
    audit_alert_str(o, &first, "timestamp", ts, sizeof(ts));
    audit_alert_str(o, &first, "component", "ngx_http_audit", 32);
    audit_alert_str(o, &first, "group", a->group ? a->group : "audit",
                    AUDIT_ALERT_FIELD_CAP);
    audit_alert_str(o, &first, "class", a->name, AUDIT_ALERT_FIELD_CAP);

    audit_json_key(o, NULL, "custom_details");
    first = 1;
    AUDIT_JSON_LIT(o, "{");
    audit_json_key(o, &first, "count");
    audit_json_uint(o, a->count, 0);
    audit_alert_str(o, &first, "detail", a->detail, AUDIT_ALERT_DETAIL_CAP);
    audit_alert_str(o, &first, "request_id", a->request_id,
                    AUDIT_ALERT_FIELD_CAP);
    audit_alert_str(o, &first, "route", a->route, AUDIT_ALERT_ROUTE_CAP);

    if (a->test) {
        audit_json_key(o, &first, "test");
        AUDIT_JSON_LIT(o, "true");
    }

    AUDIT_JSON_LIT(o, "}}}");
}


/*
 * text is what a phone's notification shows; the blocks are the message:
 * a header, a section with the facts, a context line with the host and
 * the fingerprint.  Plain text in the blocks, so nothing from a request
 * is read as Slack markup; the top-level text escapes &, < and >.
 */

static void
audit_alert_slack(audit_json_t *o, const audit_alert_t *a)
{
    char    head[AUDIT_ALERT_SLACK_HEAD * 4 + 1];
    char    esc[AUDIT_ALERT_SLACK_HEAD * 4 * 5 + 1];
    char    body[AUDIT_ALERT_SLACK_TEXT];
    size_t  n;

    audit_alert_headline(a, head, sizeof(head));
    n = audit_alert_slack_escape(head, esc, sizeof(esc));

    AUDIT_JSON_LIT(o, "{\"text\":");
    audit_json_string(o, esc, n, AUDIT_ALERT_SLACK_TEXT);

    AUDIT_JSON_LIT(o, ",\"blocks\":[{\"type\":\"header\",\"text\":"
                   "{\"type\":\"plain_text\",\"text\":");
    audit_json_string(o, head, strlen(head), AUDIT_ALERT_SLACK_HEAD);

    n = (size_t) snprintf(body, sizeof(body),
                          "%s\nSeverity: %s\nCount in window: %llu%s%s%s%s"
                          "%s%s",
                          a->summary, a->severity, a->count,
                          a->detail ? "\n" : "", a->detail ? a->detail : "",
                          a->route ? "\nRoute: " : "",
                          a->route ? a->route : "",
                          a->request_id ? "\nRequest id: " : "",
                          a->request_id ? a->request_id : "");
    if (n >= sizeof(body)) {
        n = sizeof(body) - 1;
    }

    AUDIT_JSON_LIT(o, "}},{\"type\":\"section\",\"text\":"
                   "{\"type\":\"plain_text\",\"text\":");
    audit_json_string(o, body, n, AUDIT_ALERT_SLACK_TEXT);

    AUDIT_JSON_LIT(o, "}},{\"type\":\"context\",\"elements\":[");
    AUDIT_JSON_LIT(o, "{\"type\":\"plain_text\",\"text\":");
    n = (size_t) snprintf(body, sizeof(body), "%s \xc2\xb7 %s%s",
                          a->source, a->fingerprint,
                          a->test ? " \xc2\xb7 test" : "");
    if (n >= sizeof(body)) {
        n = sizeof(body) - 1;
    }

    audit_json_string(o, body, n, AUDIT_ALERT_SLACK_TEXT);
    AUDIT_JSON_LIT(o, "}]}]}");
}


/* Alertmanager's webhook payload, version 4, one alert per message */

static void
audit_alert_webhook(audit_json_t *o, const audit_alert_t *a)
{
    int          first;
    char         ts[25], count[24];
    const char  *status;

    status = a->resolved ? "resolved" : "firing";

    AUDIT_JSON_LIT(o, "{\"version\":\"4\"");
    audit_alert_str(o, NULL, "status", status, 16);
    audit_alert_str(o, NULL, "receiver", "ngx_http_audit", 32);
    audit_alert_str(o, NULL, "groupKey", a->fingerprint,
                    AUDIT_ALERT_DEDUP_MAX);

    AUDIT_JSON_LIT(o, ",\"alerts\":[{");
    first = 1;
    audit_alert_str(o, &first, "status", status, 16);

    audit_json_key(o, NULL, "labels");
    first = 1;
    AUDIT_JSON_LIT(o, "{");
    audit_alert_str(o, &first, "alertname", a->name, AUDIT_ALERT_FIELD_CAP);
    audit_alert_str(o, &first, "severity", a->severity, 16);
    audit_alert_str(o, &first, "instance", a->source, AUDIT_ALERT_FIELD_CAP);
    audit_alert_str(o, &first, "group", a->group ? a->group : "audit",
                    AUDIT_ALERT_FIELD_CAP);
    if (a->test) {
        audit_alert_str(o, &first, "test", "true", 8);
    }

    AUDIT_JSON_LIT(o, "}");

    audit_json_key(o, NULL, "annotations");
    first = 1;
    AUDIT_JSON_LIT(o, "{");
    audit_alert_str(o, &first, "summary", a->summary,
                    AUDIT_ALERT_SUMMARY_MAX);
    audit_alert_str(o, &first, "description", a->detail,
                    AUDIT_ALERT_DETAIL_CAP);
    (void) snprintf(count, sizeof(count), "%llu", a->count);
    audit_alert_str(o, &first, "count", count, sizeof(count));
    audit_alert_str(o, &first, "request_id", a->request_id,
                    AUDIT_ALERT_FIELD_CAP);
    audit_alert_str(o, &first, "route", a->route, AUDIT_ALERT_ROUTE_CAP);
    AUDIT_JSON_LIT(o, "}");

    audit_rfc3339_ms(a->starts_ms, ts);
    audit_alert_str(o, NULL, "startsAt", ts, sizeof(ts));

    if (a->resolved) {
        audit_rfc3339_ms(a->ends_ms, ts);
        audit_alert_str(o, NULL, "endsAt", ts, sizeof(ts));

    } else {
        audit_alert_str(o, NULL, "endsAt", "0001-01-01T00:00:00Z", 32);
    }

    audit_alert_str(o, NULL, "fingerprint", a->fingerprint,
                    AUDIT_ALERT_DEDUP_MAX);
    AUDIT_JSON_LIT(o, "}]}");
}


/* "key":"value" when there is a value */

static void
audit_alert_str(audit_json_t *o, int *first, const char *key,
    const char *s, size_t max)
{
    if (s == NULL || s[0] == '\0') {
        return;
    }

    audit_json_member(o, first, key, s, strlen(s), max);
}


/* "[CRITICAL] summary (3x)" or "[RESOLVED] summary" */

static void
audit_alert_headline(const audit_alert_t *a, char *out, size_t size)
{
    char         sev[16];
    size_t       i;
    const char  *s;

    s = a->resolved ? "resolved" : a->severity;

    for (i = 0; s[i] && i < sizeof(sev) - 1; i++) {
        sev[i] = (s[i] >= 'a' && s[i] <= 'z') ? s[i] - 'a' + 'A' : s[i];
    }

    sev[i] = '\0';

    if (a->count > 1 && !a->resolved) {
        (void) snprintf(out, size, "%s[%s] %s (%llux)",
                        a->test ? "TEST " : "", sev, a->summary, a->count);

    } else {
        (void) snprintf(out, size, "%s[%s] %s", a->test ? "TEST " : "", sev,
                        a->summary);
    }
}


/* Slack's three control characters in text, as it asks */

static size_t
audit_alert_slack_escape(const char *s, char *out, size_t size)
{
    size_t       n, k;
    const char  *r;

    n = 0;

    for ( /* void */ ; *s; s++) {
        r = (*s == '&') ? "&amp;" : (*s == '<') ? "&lt;"
            : (*s == '>') ? "&gt;" : NULL;
        k = r ? strlen(r) : 1;

        if (n + k >= size) {
            break;
        }

        if (r) {
            memcpy(out + n, r, k);

        } else {
            out[n] = *s;
        }

        n += k;
    }

    out[n] = '\0';

    return n;
}
