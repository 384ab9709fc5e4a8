/*
 * audit-verify: checks JSON audit logs offline (docs/checkpoints.md).
 *
 *     audit-verify [-o] [--as-of TIME] -k PUBLIC_KEY[@FROM[,UNTIL]] [-k ...]
 *         FILE...
 *
 * Reads every FILE (plain or gzip; "-" is standard input), checks every
 * producer's hash chain and signed checkpoints with the public keys
 * given (one per key ever used: rotation; FROM and UNTIL, RFC 3339 UTC,
 * limit the checkpoint ts a key verifies), and prints one verdict per
 * producer.  -o accepts chains that do not end with their final
 * checkpoint (the log of a server still running) as long as their
 * unsigned events are recent enough (audit_verify_silent()); --as-of
 * also checks that they were still signing at TIME.  Exit status 0 when
 * every chain verified and no line was malformed, 1 otherwise (also for
 * no chain at all), 2 for a usage or I/O error.
 */

/* getopt_long(), dup() */
#define _GNU_SOURCE

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "audit_checkpoint.h"
#include "audit_int.h"
#include "audit_verify.h"


/* the longest line the module writes, and room to tell a longer one */
#define LINE_MAX_BYTES  (4 * AUDIT_EVENT_MAX)


static int read_file(audit_verify_t *v, const char *path);
static int add_key(audit_verify_t *v, char *arg);
static int parse_time(const char *s, size_t len, unsigned long long *ms);
static void report(const audit_verify_report_t *r, void *data);


static void
usage(void)
{
    fprintf(stderr, "usage: audit-verify [-o] [--as-of TIME] "
                    "-k PUBLIC_KEY[@FROM[,UNTIL]] [-k ...] FILE...\n"
                    "  TIME, FROM, UNTIL: RFC 3339 UTC, "
                    "2026-12-02T17:15:32Z or 2026-12-02T17:15:32.686Z\n");
    exit(2);
}


int
main(int argc, char **argv)
{
    int                      opt, allow_open, i, producers;
    long                     bad;
    unsigned long long       malformed, as_of;
    audit_verify_t          *v;

    static const struct option  longopts[] = {
        { "as-of", required_argument, NULL, 'a' },
        { NULL, 0, NULL, 0 }
    };

    v = audit_verify_new();
    if (v == NULL) {
        fprintf(stderr, "audit-verify: out of memory\n");
        return 2;
    }

    allow_open = 0;
    i = 0;

    while ((opt = getopt_long(argc, argv, "ok:", longopts, NULL)) != -1) {
        switch (opt) {

        case 'o':
            allow_open = 1;
            break;

        case 'a':
            if (parse_time(optarg, strlen(optarg), &as_of) != 0) {
                fprintf(stderr, "audit-verify: --as-of \"%s\": not an "
                        "RFC 3339 UTC time\n", optarg);
                return 2;
            }

            audit_verify_as_of(v, as_of);
            break;

        case 'k':
            if (add_key(v, optarg) != 0) {
                return 2;
            }

            i++;
            break;

        default:
            usage();
        }
    }

    if (i == 0 || optind >= argc) {
        usage();
    }

    for (i = optind; i < argc; i++) {
        if (read_file(v, argv[i]) != 0) {
            return 2;
        }
    }

    producers = 0;

    bad = audit_verify_finish(v, allow_open, report, &producers);
    if (bad < 0) {
        fprintf(stderr, "audit-verify: out of memory\n");
        return 2;
    }

    malformed = audit_verify_malformed(v);

    if (malformed) {
        printf("FAILED: %llu line%s not an audit event (edited?)\n",
               malformed, malformed == 1 ? "" : "s");
    }

    if (producers == 0) {
        printf("FAILED: no chain found\n");
    }

    audit_verify_free(v);

    return bad || malformed || producers == 0 ? 1 : 0;
}


/*
 * -k FILE[@FROM[,UNTIL]]: the window when the "@" part reads as one,
 * else the whole argument is the file name
 */

static int
add_key(audit_verify_t *v, char *arg)
{
    char                    *at, *comma, err[256];
    unsigned long long       from, until;
    audit_checkpoint_key_t  *key;

    from = 0;
    until = AUDIT_VERIFY_FOREVER;

    at = strrchr(arg, '@');

    if (at != NULL) {
        comma = strchr(at + 1, ',');

        if (parse_time(at + 1, comma ? (size_t) (comma - at - 1)
                                     : strlen(at + 1), &from) != 0
            || (comma && parse_time(comma + 1, strlen(comma + 1), &until)
                         != 0))
        {
            fprintf(stderr, "audit-verify: -k \"%s\": FROM and UNTIL "
                    "after \"@\" must be RFC 3339 UTC times\n", arg);
            return -1;
        }

        if (until <= from) {
            fprintf(stderr, "audit-verify: -k \"%s\": UNTIL is not after "
                    "FROM\n", arg);
            return -1;
        }

        *at = '\0';
    }

    key = audit_checkpoint_key_load(arg, 0, err, sizeof(err));

    if (key == NULL) {
        fprintf(stderr, "audit-verify: %s\n", err);
        return -1;
    }

    if (audit_verify_add_key_valid(v, key, from, until) != 0) {
        fprintf(stderr, "audit-verify: out of memory\n");
        return -1;
    }

    return 0;
}


/* "YYYY-MM-DDTHH:MM:SSZ" or with ".mmm" before the "Z" */

static int
parse_time(const char *s, size_t len, unsigned long long *ms)
{
    char  buf[25];

    if (len == 20 && s[19] == 'Z') {
        memcpy(buf, s, 19);
        memcpy(buf + 19, ".000Z", 6);

    } else if (len == 24) {
        memcpy(buf, s, 24);
        buf[24] = '\0';

    } else {
        return -1;
    }

    return audit_verify_ts(buf, ms);
}


static int
read_file(audit_verify_t *v, const char *path)
{
    int           errnum;
    char         *line;
    size_t        len;
    gzFile        gz;
    const char   *msg;

    gz = strcmp(path, "-") == 0 ? gzdopen(dup(0), "rb") : gzopen(path, "rb");
    if (gz == NULL) {
        fprintf(stderr, "audit-verify: %s: %s\n", path, strerror(errno));
        return -1;
    }

    line = malloc(LINE_MAX_BYTES + 1);
    if (line == NULL) {
        gzclose(gz);
        return -1;
    }

    while (gzgets(gz, line, LINE_MAX_BYTES + 1) != NULL) {
        len = strlen(line);

        if (len == LINE_MAX_BYTES && line[len - 1] != '\n') {
            /* longer than any event: malformed, and skipped whole */
            (void) audit_verify_line(v, "{", 1);

            while (gzgets(gz, line, LINE_MAX_BYTES + 1) != NULL
                   && line[strlen(line) - 1] != '\n')
            {
                /* void */
            }

            continue;
        }

        if (audit_verify_line(v, line, len) == -2) {
            fprintf(stderr, "audit-verify: out of memory\n");
            free(line);
            gzclose(gz);
            return -1;
        }
    }

    msg = gzerror(gz, &errnum);

    if (errnum != Z_OK && errnum != Z_STREAM_END) {
        fprintf(stderr, "audit-verify: %s: %s\n", path, msg);
        free(line);
        gzclose(gz);
        return -1;
    }

    free(line);
    gzclose(gz);

    return 0;
}


static void
report(const audit_verify_report_t *r, void *data)
{
    char  ts[32];

    (*(int *) data)++;

    printf("%s: %s: %llu events (seq %llu-%llu), %llu checkpoints",
           r->producer, r->ok ? "ok" : "FAILED", r->events, r->first_seq,
           r->last_seq, r->checkpoints);

    if (r->verified_seq >= 0) {
        audit_rfc3339_ms(r->verified_ts_ms, ts);
        printf(", verified up to seq %lld at %s", r->verified_seq, ts);

    } else {
        printf(", nothing verified");
    }

    printf(", %llu unsigned, %s", r->unsigned_tail,
           r->closed ? "closed" : "not closed");

#define SAY(field, what)                                                    \
    if (r->field) printf("; %llu " what, r->field)

    SAY(missing, "missing");
    SAY(broken_links, "broken links");
    SAY(conflicts, "conflicting duplicates");
    SAY(bad_signatures, "bad signatures");
    SAY(unknown_keys, "unknown keys");
    SAY(rewritten, "not matching a signed head (rewritten)");
    SAY(checkpoint_links, "checkpoints not naming the previous one");
    SAY(missing_intervals, "missing checkpoint intervals");

#undef SAY

    if (r->first_problem >= 0) {
        printf("; first at seq %lld", r->first_problem);
    }

    printf("\n");
}

