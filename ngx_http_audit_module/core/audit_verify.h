
/*
 * The offline verifier of JSON audit logs (build/audit-verify,
 * docs/checkpoints.md): every producer's hash chain and its signed
 * checkpoints, with no nginx and no PostgreSQL.
 *
 *     v = audit_verify_new();
 *     audit_verify_add_key(v, key);            one per key ever used
 *     audit_verify_line(v, line, len);         every line of every file,
 *                                              in any order
 *     audit_verify_finish(v, allow_open, report, data);
 *     audit_verify_free(v);
 *
 * A line's chain hash is the SHA-256 of its bytes without the "\n" (and
 * without a "\r" before it).  Memory: about 100 bytes per event.
 */

#ifndef AUDIT_VERIFY_H
#define AUDIT_VERIFY_H


#include <stddef.h>

#include "audit_checkpoint.h"


typedef struct audit_verify_s  audit_verify_t;


/* what is known of one producer's chain once every line is in */
typedef struct {
    const char          *producer;
    unsigned long long   events;          /* distinct seqs */
    unsigned long long   first_seq, last_seq;
    unsigned long long   checkpoints;
    long long            verified_seq;    /* the last event a valid
                                             checkpoint covers with
                                             nothing wrong before it;
                                             -1: none */
    unsigned long long   verified_ts_ms;  /* that checkpoint's ts */
    unsigned long long   unsigned_tail;   /* events after that
                                             checkpoint */
    int                  closed;          /* the chain ends with its
                                             verified final checkpoint */

    /* what is wrong: all 0 for an intact chain */
    unsigned long long   missing;         /* seqs absent (from 0 on) */
    unsigned long long   broken_links;    /* prev is not the SHA-256 of
                                             the line before */
    unsigned long long   conflicts;       /* a seq twice, other lines */
    unsigned long long   bad_signatures;  /* or a malformed checkpoint */
    unsigned long long   unknown_keys;    /* a kid no key given has */
    unsigned long long   rewritten;       /* a signed head, count or seq
                                             the lines do not match */
    unsigned long long   checkpoint_links; /* prev_sig is not the
                                             previous checkpoint's */
    unsigned long long   missing_intervals; /* checkpoints more than two
                                             intervals apart, or an open
                                             chain's unsigned events
                                             later than that */
    long long            first_problem;   /* its seq; -1: none */
    int                  ok;
} audit_verify_report_t;


typedef void (*audit_verify_report_pt)(const audit_verify_report_t *r,
    void *data);


/* NULL on OOM */
audit_verify_t *audit_verify_new(void);

void audit_verify_free(audit_verify_t *v);

#define AUDIT_VERIFY_FOREVER  0xffffffffffffffffULL

/* takes key (freed with v); 0, or -1 on OOM (then key is freed) */
int audit_verify_add_key(audit_verify_t *v, audit_checkpoint_key_t *key);

/*
 * The same, for checkpoints whose ts (unix ms) is in [from_ms, until_ms)
 * only: the key's validity, as audit.checkpoint_keys' valid_from and
 * valid_until.  A kid may be given again with another window.
 */
int audit_verify_add_key_valid(audit_verify_t *v, audit_checkpoint_key_t *key,
    unsigned long long from_ms, unsigned long long until_ms);

/*
 * Checks open chains as of that time (unix ms; 0, the default: as of
 * their own last events): their oldest unsigned event, or their last
 * checkpoint, must be younger than two intervals then.
 */
void audit_verify_as_of(audit_verify_t *v, unsigned long long as_of_ms);

/*
 * "2026-11-23T03:26:03.123Z" (exactly the module's form, UTC, 1970 on)
 * to unix ms: 0, or -1 for any other text.
 */
int audit_verify_ts(const char *s, unsigned long long *ms);

/*
 * One line (a trailing "\n" or "\r\n" is ignored).  0 for a chained
 * event, 1 for an empty line, -1 for a line that is no JSON object,
 * has no producer, or whose chain members or ts are malformed (counted:
 * audit_verify_malformed()), -2 on OOM.  A checkpoint line with a member
 * the module does not write is a bad checkpoint.
 */
int audit_verify_line(audit_verify_t *v, const char *line, size_t len);

unsigned long long audit_verify_malformed(const audit_verify_t *v);

/*
 * Checks every producer and calls report for each, in name order.  A
 * chain is ok when nothing is wrong and it is closed, or, with
 * allow_open (a log of a running server), not closed.  Returns the
 * number of producers not ok, or -1 on OOM.
 */
long audit_verify_finish(audit_verify_t *v, int allow_open,
    audit_verify_report_pt report, void *data);


#endif /* AUDIT_VERIFY_H */
