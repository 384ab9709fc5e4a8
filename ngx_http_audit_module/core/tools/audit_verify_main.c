/*
 * audit-verify: checks JSON audit logs offline (docs/checkpoints.md).
 *
 *     audit-verify [-o] -k PUBLIC_KEY [-k ...] FILE...
 *
 * Reads every FILE (plain or gzip; "-" is standard input), checks every
 * producer's hash chain and signed checkpoints with the public keys
 * given (one per key ever used: rotation), and prints one verdict per
 * producer.  -o accepts chains that do not end with their final
 * checkpoint (the log of a server still running).  Exit status 0 when
 * every chain verified and no line was malformed, 1 otherwise, 2 for a
 * usage or I/O error.
 */

/* getopt(), dup() under -std=c99 */
#define _POSIX_C_SOURCE  200809L

#include <errno.h>
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
static void report(const audit_verify_report_t *r, void *data);


static void
usage(void)
{
    fprintf(stderr, "usage: audit-verify [-o] -k PUBLIC_KEY [-k ...] "
                    "FILE...\n");
    exit(2);
}


int
main(int argc, char **argv)
{
    int                      opt, allow_open, i;
    long                     bad;
    char                     err[256];
    unsigned long long       malformed;
    audit_verify_t          *v;
    audit_checkpoint_key_t  *key;

    v = audit_verify_new();
    if (v == NULL) {
        fprintf(stderr, "audit-verify: out of memory\n");
        return 2;
    }

    allow_open = 0;
    i = 0;

    while ((opt = getopt(argc, argv, "ok:")) != -1) {
        switch (opt) {

        case 'o':
            allow_open = 1;
            break;

        case 'k':
            key = audit_checkpoint_key_load(optarg, 0, err, sizeof(err));

            if (key == NULL) {
                fprintf(stderr, "audit-verify: %s\n", err);
                return 2;
            }

            if (audit_verify_add_key(v, key) != 0) {
                fprintf(stderr, "audit-verify: out of memory\n");
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

    bad = audit_verify_finish(v, allow_open, report, NULL);
    if (bad < 0) {
        fprintf(stderr, "audit-verify: out of memory\n");
        return 2;
    }

    malformed = audit_verify_malformed(v);

    if (malformed) {
        printf("FAILED: %llu line%s not an audit event (edited?)\n",
               malformed, malformed == 1 ? "" : "s");
    }

    audit_verify_free(v);

    return bad || malformed ? 1 : 0;
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

    (void) data;

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

