/*
 * libFuzzer target: the policy configuration, as "audit_require_role"
 * hands it to the core, and the decisions made with it.
 *
 * Input: text lines.  Every line but the last is one directive's arguments
 * separated by blanks, "ROLE... [methods=M,M]"; the last line is the
 * request, "METHOD [ROLE...]".  As in ngx_http_audit_policy.c, a
 * "methods=" list the core refuses, a role with '=' or too many roles make
 * the directive refused, so the rule is left out.
 *
 * audit_method_list_parse() and audit_method_bit() must agree with a
 * plain reading of their contract (exact, case-sensitive names; no empty
 * item; OTHER never in a list), and audit_policy_check() with a plain
 * reading of "every rule that applies is satisfied".  A method name or
 * list reaches the core in an exactly sized buffer, without a NUL, so that
 * ASan sees a read past its length.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit_policy.h"


#define AUDIT_FUZZ_MAX_RULES  64
#define AUDIT_FUZZ_MAX_ROLES  32
#define AUDIT_FUZZ_MAX_WORDS  (AUDIT_POLICY_MAX_ROLES + 2)

#define AUDIT_FUZZ_TRAP(cond)                                               \
    do { if (cond) { __builtin_trap(); } } while (0)


typedef struct {
    const char   *data;
    size_t        len;
} audit_fuzz_word_t;


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t audit_fuzz_words(const char *p, size_t len,
    audit_fuzz_word_t *w, size_t max);
static unsigned audit_fuzz_list(const char *p, size_t len);
static unsigned audit_fuzz_bit(const char *p, size_t len);
static unsigned audit_fuzz_known(const char *p, size_t len);
static char *audit_fuzz_dup(const char *p, size_t len);
static char *audit_fuzz_exact(const char *p, size_t len);
static int audit_fuzz_rule(audit_policy_rule_t *rule, audit_fuzz_word_t *w,
    size_t n, char **strings, size_t *nstrings);
static void audit_fuzz_check(const audit_policy_rule_t *rules, size_t nrules,
    unsigned method, const char *const *roles, size_t nroles);


static const char  *audit_fuzz_names[] = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE",
    "CONNECT", "PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK",
    "UNLOCK", "PURGE"
};


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                 *method, *strings[AUDIT_FUZZ_MAX_RULES
                                           * AUDIT_FUZZ_MAX_WORDS
                                           + AUDIT_FUZZ_MAX_ROLES];
    size_t                i, n, nrules, nroles, nstrings, len;
    unsigned              bit;
    const char           *p, *end, *nl, *roles[AUDIT_FUZZ_MAX_ROLES];
    audit_fuzz_word_t     w[AUDIT_FUZZ_MAX_WORDS];
    audit_policy_rule_t   rules[AUDIT_FUZZ_MAX_RULES];

    p = (const char *) data;
    end = p + size;
    nrules = 0;
    nstrings = 0;

    /* the directives: every line that has one after it */

    while ((nl = memchr(p, '\n', end - p)) != NULL) {
        n = audit_fuzz_words(p, nl - p, w, AUDIT_FUZZ_MAX_WORDS);
        p = nl + 1;

        if (nrules == AUDIT_FUZZ_MAX_RULES || n == 0) {
            continue;
        }

        memset(&rules[nrules], 0, sizeof(audit_policy_rule_t));

        if (audit_fuzz_rule(&rules[nrules], w, n, strings, &nstrings) == 0) {
            nrules++;
        }
    }

    /* the request: a method, as r->method_name, and the caller's roles */

    n = audit_fuzz_words(p, end - p, w, AUDIT_FUZZ_MAX_WORDS);

    method = NULL;
    len = 0;

    if (n > 0) {
        len = w[0].len;
        method = audit_fuzz_exact(w[0].data, len);
        if (method == NULL) {
            goto done;
        }

        strings[nstrings++] = method;
    }

    bit = audit_method_bit(method, len);
    AUDIT_FUZZ_TRAP(bit != audit_fuzz_bit(method, len));

    /* as a list: a name without ',' gives its bit, unless it is unknown */
    bit = audit_method_list_parse(method, len);
    AUDIT_FUZZ_TRAP(bit != audit_fuzz_list(method, len));
    AUDIT_FUZZ_TRAP(memchr(method ? method : "", ',', len) == NULL
                    && bit != (audit_fuzz_known(method, len)
                               | (audit_fuzz_known(method, len) == 1u
                                  ? 2u : 0)));

    nroles = 0;

    for (i = 1; i < n && nroles < AUDIT_FUZZ_MAX_ROLES; i++) {
        roles[nroles] = audit_fuzz_dup(w[i].data, w[i].len);
        if (roles[nroles] == NULL) {
            goto done;
        }

        strings[nstrings++] = (char *) roles[nroles++];
    }

    audit_fuzz_check(rules, nrules, audit_method_bit(method, len), roles,
                     nroles);

    /* any method at all, as the access phase never sees one */
    audit_fuzz_check(rules, nrules, 0, roles, nroles);

done:

    for (i = 0; i < nstrings; i++) {
        free(strings[i]);
    }

    return 0;
}


/* Splits on blanks, as nginx splits a directive into cf->args. */

static size_t
audit_fuzz_words(const char *p, size_t len, audit_fuzz_word_t *w, size_t max)
{
    size_t       n;
    const char  *end, *start;

    end = p + len;
    n = 0;

    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\r')) {
            p++;
        }

        start = p;

        while (p < end && *p != ' ' && *p != '\t' && *p != '\r') {
            p++;
        }

        if (p == start) {
            break;
        }

        if (n == max) {
            /* more words than a rule can hold: refused anyway */
            return max;
        }

        w[n].data = start;
        w[n].len = p - start;
        n++;
    }

    return n;
}


/*
 * Builds a rule as ngx_http_audit_policy_add_rule() does; 0 when the
 * directive is accepted.  The method list is parsed from an exact copy.
 */

static int
audit_fuzz_rule(audit_policy_rule_t *rule, audit_fuzz_word_t *w, size_t n,
    char **strings, size_t *nstrings)
{
    char      *s;
    size_t     i;
    unsigned   mask;

    if (n > 0 && w[n - 1].len >= 8 && memcmp(w[n - 1].data, "methods=", 8)
                                      == 0)
    {
        s = audit_fuzz_exact(w[n - 1].data + 8, w[n - 1].len - 8);
        if (s == NULL) {
            return -1;
        }

        mask = audit_method_list_parse(s, w[n - 1].len - 8);
        free(s);

        AUDIT_FUZZ_TRAP(mask != audit_fuzz_list(w[n - 1].data + 8,
                                                w[n - 1].len - 8));
        AUDIT_FUZZ_TRAP(mask & AUDIT_METHOD_OTHER);

        if (mask == 0) {
            return -1;
        }

        rule->methods = mask;
        n--;
    }

    if (n == 0 || n > AUDIT_POLICY_MAX_ROLES) {
        return -1;
    }

    for (i = 0; i < n; i++) {
        if (memchr(w[i].data, '=', w[i].len) != NULL) {
            return -1;
        }
    }

    /* cf->args values are NUL-terminated: the core takes C strings */

    for (i = 0; i < n; i++) {
        s = audit_fuzz_dup(w[i].data, w[i].len);
        if (s == NULL) {
            return -1;
        }

        strings[(*nstrings)++] = s;
        rule->roles[rule->nroles++] = s;
    }

    rule->name = "fuzz";

    return 0;
}


/* The decision against a plain reading of the contract. */

static void
audit_fuzz_check(const audit_policy_rule_t *rules, size_t nrules,
    unsigned method, const char *const *roles, size_t nroles)
{
    int                      applies, satisfied;
    size_t                   i, j, k, deciding, first_unsatisfied, last;
    audit_policy_decision_t  d;

    first_unsatisfied = nrules;
    last = nrules;

    for (i = 0; i < nrules; i++) {
        applies = rules[i].methods == 0 || (rules[i].methods & method);
        if (!applies) {
            continue;
        }

        satisfied = 0;

        for (j = 0; j < rules[i].nroles && !satisfied; j++) {
            for (k = 0; k < nroles; k++) {
                if (strcmp(rules[i].roles[j], roles[k]) == 0) {
                    satisfied = 1;
                    break;
                }
            }
        }

        if (!satisfied) {
            first_unsatisfied = i;
            break;
        }

        last = i;
    }

    deciding = (size_t) -1;
    d = audit_policy_check(rules, nrules, method, roles, nroles, &deciding);

    if (first_unsatisfied < nrules) {
        AUDIT_FUZZ_TRAP(d != AUDIT_POLICY_DENY
                        || deciding != first_unsatisfied);

    } else {
        AUDIT_FUZZ_TRAP(d != AUDIT_POLICY_PERMIT || deciding != last);
    }

    /* deciding is optional */
    AUDIT_FUZZ_TRAP(audit_policy_check(rules, nrules, method, roles, nroles,
                                       NULL)
                    != d);

    /* no roles: only a request that no rule applies to passes */
    d = audit_policy_check(rules, nrules, method, NULL, 0, &deciding);
    for (i = 0; i < nrules; i++) {
        if (rules[i].methods == 0 || (rules[i].methods & method)) {
            break;
        }
    }

    AUDIT_FUZZ_TRAP(d != (i < nrules ? AUDIT_POLICY_DENY
                                     : AUDIT_POLICY_PERMIT));
}


static unsigned
audit_fuzz_list(const char *p, size_t len)
{
    size_t       i, start;
    unsigned     mask, bit;

    if (len == 0) {
        return 0;
    }

    mask = 0;
    start = 0;

    for (i = 0; i <= len; i++) {
        if (i < len && p[i] != ',') {
            continue;
        }

        bit = audit_fuzz_known(p + start, i - start);
        if (bit == 0) {
            return 0;
        }

        /* a list naming GET covers HEAD too (as limit_except) */
        mask |= bit | (bit == 1u ? 2u : 0);
        start = i + 1;
    }

    return mask;
}


static unsigned
audit_fuzz_bit(const char *p, size_t len)
{
    unsigned  bit;

    if (p == NULL || len == 0 || len > 32) {
        return 0;
    }

    bit = audit_fuzz_known(p, len);

    return bit ? bit : AUDIT_METHOD_OTHER;
}


static unsigned
audit_fuzz_known(const char *p, size_t len)
{
    size_t  i;

    for (i = 0;
         p != NULL && i < sizeof(audit_fuzz_names) / sizeof(char *);
         i++)
    {
        if (strlen(audit_fuzz_names[i]) == len
            && memcmp(audit_fuzz_names[i], p, len) == 0)
        {
            return 1u << i;
        }
    }

    return 0;
}


/* A C string, as the core wants roles. */

static char *
audit_fuzz_dup(const char *p, size_t len)
{
    char  *s;

    s = malloc(len + 1);
    if (s == NULL) {
        return NULL;
    }

    memcpy(s, p, len);
    s[len] = '\0';

    return s;
}


/* An exactly sized copy of a name passed with its length: no NUL after. */

static char *
audit_fuzz_exact(const char *p, size_t len)
{
    char  *s;

    s = malloc(len ? len : 1);
    if (s == NULL) {
        return NULL;
    }

    if (len) {
        memcpy(s, p, len);
    }

    return s;
}
