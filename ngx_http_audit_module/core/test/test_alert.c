/*
 * Unit tests of the alert payloads: each parsed back with jansson and
 * held to what PagerDuty Events API v2, Slack's incoming webhooks and
 * Block Kit, and docs/alerts.md's webhook shape document.
 */

#include <string.h>

#include <jansson.h>

#include "../audit_alert.h"
#include "tap.h"


#define KEY   "R0UT1NGKEY0123456789abcdefABCDEF"
#define NOW   1795404363123ULL          /* 2026-11-23T03:26:03.123Z */


static char  buf[AUDIT_ALERT_MAX];


static audit_alert_t
alert(void)
{
    audit_alert_t  a;

    memset(&a, 0, sizeof(a));
    a.fingerprint = "bruteforce_suspected";
    a.name = "bruteforce_suspected";
    a.summary = "Brute force suspected: 12 failed logins in 300 s";
    a.severity = "critical";
    a.source = "web-1";
    a.group = "login";
    a.detail = "12 failed logins from one address in 300 s";
    a.request_id = "0123456789abcdef0123456789abcdef";
    a.route = "/login?user=[Filtered]";
    a.count = 3;
    a.starts_ms = NOW;

    return a;
}


static json_t *
encode(audit_alert_kind_t kind, const audit_alert_t *a, const char *key)
{
    long          n;
    json_t       *j;
    json_error_t  err;

    n = audit_alert_encode(kind, a, key, buf, sizeof(buf));
    if (n <= 0) {
        return NULL;
    }

    j = json_loadb(buf, (size_t) n, JSON_REJECT_DUPLICATES, &err);
    ok(j != NULL, "kind %d parses as JSON (%s)", kind, j ? "" : err.text);

    return j;
}


static const char *
str(json_t *j, const char *path)
{
    char         part[64];
    const char  *p, *dot;
    size_t       n;

    for (p = path; j && *p; p = dot ? dot + 1 : p + strlen(p)) {
        dot = strchr(p, '.');
        n = dot ? (size_t) (dot - p) : strlen(p);
        memcpy(part, p, n);
        part[n] = '\0';

        if (part[0] >= '0' && part[0] <= '9') {
            j = json_array_get(j, (size_t) (part[0] - '0'));

        } else {
            j = json_object_get(j, part);
        }
    }

    return json_is_string(j) ? json_string_value(j) : NULL;
}


static void
test_pagerduty(void)
{
    json_t         *j, *d;
    audit_alert_t   a;

    a = alert();
    j = encode(AUDIT_ALERT_PAGERDUTY, &a, KEY);
    ok(j != NULL, "pagerduty trigger");
    is_str(str(j, "routing_key"), KEY, "routing_key");
    is_str(str(j, "event_action"), "trigger", "event_action");
    is_str(str(j, "dedup_key"), "bruteforce_suspected", "dedup_key");
    is_str(str(j, "payload.summary"), a.summary, "summary");
    is_str(str(j, "payload.source"), "web-1", "source");
    is_str(str(j, "payload.severity"), "critical", "severity");
    is_str(str(j, "payload.timestamp"), "2026-11-23T03:26:03.123Z",
           "timestamp");
    is_str(str(j, "payload.component"), "ngx_http_audit", "component");
    is_str(str(j, "payload.group"), "login", "group");
    is_str(str(j, "payload.class"), "bruteforce_suspected", "class");
    d = json_object_get(json_object_get(j, "payload"), "custom_details");
    is_int(json_integer_value(json_object_get(d, "count")), 3, "count");
    is_str(str(j, "payload.custom_details.route"), a.route, "route");
    json_decref(j);

    a.resolved = 1;
    a.ends_ms = NOW + 60000;
    j = encode(AUDIT_ALERT_PAGERDUTY, &a, KEY);
    is_str(str(j, "event_action"), "resolve", "resolve");
    is_str(str(j, "dedup_key"), "bruteforce_suspected", "same dedup_key");
    ok(json_object_get(j, "payload") == NULL, "a resolve has no payload");
    json_decref(j);

    a = alert();
    ok(audit_alert_encode(AUDIT_ALERT_PAGERDUTY, &a, "short", buf,
                          sizeof(buf)) == -1,
       "a routing key of another length is refused");
    ok(audit_alert_routing_key_valid(KEY, 32), "32 letters and digits");
    ok(!audit_alert_routing_key_valid("R0UT1NGKEY0123456789abcdefABCDE-",
                                      32), "not a dash");
}


static void
test_pagerduty_limits(void)
{
    static char     longer[4096], fp[300];
    json_t         *j;
    audit_alert_t   a;

    memset(longer, 'x', sizeof(longer) - 1);
    a = alert();
    a.summary = longer;
    j = encode(AUDIT_ALERT_PAGERDUTY, &a, KEY);
    ok(j != NULL, "a long summary is cut");
    ok(str(j, "payload.summary") != NULL
       && strlen(str(j, "payload.summary")) <= 1024, "summary <= 1024");
    json_decref(j);

    memset(fp, 'f', 256);
    fp[256] = '\0';
    a = alert();
    a.fingerprint = fp;
    ok(audit_alert_encode(AUDIT_ALERT_PAGERDUTY, &a, KEY, buf, sizeof(buf))
       == -1, "a dedup key over 255 is refused, never cut");

    a = alert();
    ok(audit_alert_encode(AUDIT_ALERT_SLACK, &a, NULL, buf, 40) == -1,
       "a buffer too small is an error");
}


static void
test_slack(void)
{
    json_t         *j, *blocks;
    audit_alert_t   a;

    a = alert();
    a.summary = "5xx <b>&</b> rate";
    j = encode(AUDIT_ALERT_SLACK, &a, NULL);
    ok(j != NULL, "slack");
    is_str(str(j, "text"), "[CRITICAL] 5xx &lt;b&gt;&amp;&lt;/b&gt; rate (3x)",
           "text escapes Slack's control characters, shows the count");
    blocks = json_object_get(j, "blocks");
    ok(json_is_array(blocks) && json_array_size(blocks) == 3, "3 blocks");
    is_str(str(j, "blocks.0.type"), "header", "header block");
    is_str(str(j, "blocks.0.text.type"), "plain_text", "header plain_text");
    ok(strlen(str(j, "blocks.0.text.text")) <= 150, "header <= 150");
    is_str(str(j, "blocks.1.type"), "section", "section block");
    ok(strstr(str(j, "blocks.1.text.text"), "Count in window: 3") != NULL,
       "section has the count");
    is_str(str(j, "blocks.2.type"), "context", "context block");
    json_decref(j);
}


static void
test_webhook(void)
{
    json_t         *j;
    audit_alert_t   a;

    a = alert();
    j = encode(AUDIT_ALERT_WEBHOOK, &a, NULL);
    is_str(str(j, "version"), "4", "version");
    is_str(str(j, "status"), "firing", "status");
    is_str(str(j, "groupKey"), a.fingerprint, "groupKey");
    is_str(str(j, "alerts.0.status"), "firing", "alert status");
    is_str(str(j, "alerts.0.labels.alertname"), a.name, "alertname");
    is_str(str(j, "alerts.0.labels.severity"), "critical", "severity");
    is_str(str(j, "alerts.0.annotations.count"), "3", "count");
    is_str(str(j, "alerts.0.startsAt"), "2026-11-23T03:26:03.123Z",
           "startsAt");
    is_str(str(j, "alerts.0.endsAt"), "0001-01-01T00:00:00Z",
           "endsAt zero while firing");
    is_str(str(j, "alerts.0.fingerprint"), a.fingerprint, "fingerprint");
    json_decref(j);

    a.resolved = 1;
    a.ends_ms = NOW + 1000;
    j = encode(AUDIT_ALERT_WEBHOOK, &a, NULL);
    is_str(str(j, "status"), "resolved", "resolved");
    is_str(str(j, "alerts.0.endsAt"), "2026-11-23T03:26:04.123Z", "endsAt");
    json_decref(j);
}


int
main(void)
{
    test_pagerduty();
    test_pagerduty_limits();
    test_slack();
    test_webhook();

    return done_testing();
}
