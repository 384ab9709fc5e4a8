/*
 * libFuzzer target: audit_alert_encode().
 *
 * Input: one byte of flags (kind, resolved, test, the size of buf), then
 * the alert's strings separated by NUL bytes (fingerprint, name, summary,
 * severity, source, group, detail, request id, route).  Whatever they hold,
 * each payload must be one valid JSON object that jansson reads back with
 * the same dedup key (when it is ASCII: other bytes are made valid UTF-8,
 * the same way for a trigger and its resolve), a PagerDuty summary of at
 * most 1024 characters, and a Slack text without a raw '<' or '>'
 * (Slack's markup).
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "audit_alert.h"


#define AUDIT_FUZZ_KEY  "R0UT1NGKEY0123456789abcdefABCDEF"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
static int audit_fuzz_ascii(const char *s);


static int
audit_fuzz_ascii(const char *s)
{
    for ( /* void */ ; *s; s++) {
        if ((unsigned char) *s >= 0x80) {
            return 0;
        }
    }

    return 1;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    long            n;
    char           *copy, *p, *end, *buf, *fields[9];
    size_t          i, bsize;
    json_t         *root, *v;
    json_error_t    err;
    audit_alert_t   a;

    if (size == 0) {
        return 0;
    }

    copy = malloc(size);
    if (copy == NULL) {
        return 0;
    }

    memcpy(copy, data + 1, size - 1);
    copy[size - 1] = '\0';

    p = copy;
    end = copy + size - 1;

    for (i = 0; i < 9; i++) {
        fields[i] = p;
        p += strlen(p);
        if (p < end) {
            p++;
        }
    }

    memset(&a, 0, sizeof(a));
    a.fingerprint = fields[0];
    a.name = fields[1];
    a.summary = fields[2];
    a.severity = fields[3];
    a.source = fields[4];
    a.group = fields[5][0] ? fields[5] : NULL;
    a.detail = fields[6][0] ? fields[6] : NULL;
    a.request_id = fields[7][0] ? fields[7] : NULL;
    a.route = fields[8][0] ? fields[8] : NULL;
    a.count = size;
    a.starts_ms = 1795404363123ULL;
    a.ends_ms = a.starts_ms + size;
    a.resolved = (data[0] >> 2) & 1;
    a.test = (data[0] >> 3) & 1;

    bsize = (data[0] >> 4) ? (size_t) (data[0] >> 4) * 512 : AUDIT_ALERT_MAX;

    buf = malloc(bsize);
    if (buf == NULL) {
        free(copy);
        return 0;
    }

    n = audit_alert_encode((audit_alert_kind_t) ((data[0] & 3) % 3), &a,
                           AUDIT_FUZZ_KEY, buf, bsize);

    if (n >= 0) {
        if ((size_t) n >= bsize || buf[n] != '\0') {
            abort();
        }

        root = json_loadb(buf, (size_t) n, JSON_REJECT_DUPLICATES, &err);
        if (!json_is_object(root)) {
            abort();                     /* not one valid JSON object */
        }

        switch ((data[0] & 3) % 3) {

        case AUDIT_ALERT_PAGERDUTY:
            v = json_object_get(root, "dedup_key");
            if (!json_is_string(v)
                || (audit_fuzz_ascii(a.fingerprint)
                    && strcmp(json_string_value(v), a.fingerprint) != 0))
            {
                abort();
            }

            v = json_object_get(json_object_get(root, "payload"), "summary");
            if (v && json_string_length(v) > 4 * 1024) {
                abort();                 /* 1024 characters, in bytes */
            }

            break;

        case AUDIT_ALERT_SLACK:
            v = json_object_get(root, "text");
            if (!json_is_string(v) || strchr(json_string_value(v), '<')
                || strchr(json_string_value(v), '>'))
            {
                abort();
            }

            break;

        default:
            v = json_object_get(root, "groupKey");
            if (!json_is_string(v)
                || (audit_fuzz_ascii(a.fingerprint)
                    && strcmp(json_string_value(v), a.fingerprint) != 0))
            {
                abort();
            }
        }

        json_decref(root);
    }

    free(buf);
    free(copy);

    return 0;
}
