
/*
 * Role-to-route policy matching (see audit_policy.h).
 */


#include <string.h>

#include "audit_policy.h"


typedef struct {
    const char   *name;
    size_t        len;
    unsigned      bit;
} audit_method_name_t;


static const audit_method_name_t  audit_methods[] = {
    { "GET",     3, AUDIT_METHOD_GET },
    { "HEAD",    4, AUDIT_METHOD_HEAD },
    { "POST",    4, AUDIT_METHOD_POST },
    { "PUT",     3, AUDIT_METHOD_PUT },
    { "DELETE",  6, AUDIT_METHOD_DELETE },
    { "PATCH",   5, AUDIT_METHOD_PATCH },
    { "OPTIONS", 7, AUDIT_METHOD_OPTIONS },
    { "TRACE",   5, AUDIT_METHOD_TRACE },
    { "CONNECT", 7, AUDIT_METHOD_CONNECT },
    { "PROPFIND", 8, AUDIT_METHOD_PROPFIND },
    { "PROPPATCH", 9, AUDIT_METHOD_PROPPATCH },
    { "MKCOL",   5, AUDIT_METHOD_MKCOL },
    { "COPY",    4, AUDIT_METHOD_COPY },
    { "MOVE",    4, AUDIT_METHOD_MOVE },
    { "LOCK",    4, AUDIT_METHOD_LOCK },
    { "UNLOCK",  6, AUDIT_METHOD_UNLOCK },
    { "PURGE",   5, AUDIT_METHOD_PURGE },
};

#define AUDIT_METHOD_NAME_MAX  32


static unsigned audit_method_known(const char *name, size_t len);
static int audit_rule_satisfied(const audit_policy_rule_t *rule,
    const char *const *roles, size_t nroles);


unsigned
audit_method_bit(const char *name, size_t len)
{
    unsigned  bit;

    if (name == NULL || len == 0 || len > AUDIT_METHOD_NAME_MAX) {
        return 0;
    }

    bit = audit_method_known(name, len);

    return bit ? bit : AUDIT_METHOD_OTHER;
}


unsigned
audit_method_list_parse(const char *list, size_t len)
{
    size_t       start, i;
    unsigned     mask, bit;

    if (list == NULL || len == 0) {
        return 0;
    }

    mask = 0;
    start = 0;

    for (i = 0; i <= len; i++) {

        if (i < len && list[i] != ',') {
            continue;
        }

        bit = audit_method_known(list + start, i - start);
        if (bit == 0) {
            return 0;
        }

        /*
         * GET covers HEAD, as in nginx's limit_except: a portal runs HEAD
         * as GET (and proxy_cache sends it upstream as GET), so a rule
         * for GET that let HEAD through would show what GET refuses
         */

        if (bit == AUDIT_METHOD_GET) {
            bit |= AUDIT_METHOD_HEAD;
        }

        mask |= bit;
        start = i + 1;
    }

    return mask;
}


audit_policy_decision_t
audit_policy_check(const audit_policy_rule_t *rules, size_t nrules,
    unsigned method, const char *const *roles, size_t nroles,
    size_t *deciding)
{
    size_t  i, last;

    last = nrules;

    for (i = 0; i < nrules; i++) {

        if (rules[i].methods != 0 && (rules[i].methods & method) == 0) {
            continue;
        }

        if (!audit_rule_satisfied(&rules[i], roles, nroles)) {
            if (deciding) {
                *deciding = i;
            }

            return AUDIT_POLICY_DENY;
        }

        last = i;
    }

    if (deciding) {
        *deciding = last;
    }

    return AUDIT_POLICY_PERMIT;
}


static unsigned
audit_method_known(const char *name, size_t len)
{
    size_t  i;

    for (i = 0; i < sizeof(audit_methods) / sizeof(audit_methods[0]); i++) {
        if (audit_methods[i].len == len
            && memcmp(audit_methods[i].name, name, len) == 0)
        {
            return audit_methods[i].bit;
        }
    }

    return 0;
}


static int
audit_rule_satisfied(const audit_policy_rule_t *rule,
    const char *const *roles, size_t nroles)
{
    size_t  i, j;

    for (i = 0; i < rule->nroles; i++) {
        for (j = 0; j < nroles; j++) {
            if (roles[j] != NULL && strcmp(rule->roles[i], roles[j]) == 0) {
                return 1;
            }
        }
    }

    return 0;
}
