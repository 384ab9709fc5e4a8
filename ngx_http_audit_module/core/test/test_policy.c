/*
 * Unit tests of role-to-route policy matching and the revoked-id set.
 */

#include <stdlib.h>

#include "../audit_policy.h"
#include "../audit_idset.h"
#include "tap.h"


static audit_policy_decision_t
check(const audit_policy_rule_t *rules, size_t n, const char *method,
    const char *r1, const char *r2, size_t *deciding)
{
    const char  *roles[2];
    size_t       nroles;

    nroles = 0;
    if (r1) {
        roles[nroles++] = r1;
    }
    if (r2) {
        roles[nroles++] = r2;
    }

    return audit_policy_check(rules, n, audit_method_bit(method,
                              strlen(method)), roles, nroles, deciding);
}


static void
test_methods(void)
{
    is_int(audit_method_bit("GET", 3), AUDIT_METHOD_GET, "GET");
    is_int(audit_method_bit("DELETE", 6), AUDIT_METHOD_DELETE, "DELETE");
    is_int(audit_method_bit("PROPFIND", 8), AUDIT_METHOD_PROPFIND,
           "WebDAV method has its bit");
    is_int(audit_method_bit("PURGE", 5), AUDIT_METHOD_PURGE, "PURGE");
    is_int(audit_method_bit("FETCH", 5), AUDIT_METHOD_OTHER,
           "another method is OTHER");
    is_int(audit_method_list_parse("DELETE,PURGE", 12),
           AUDIT_METHOD_DELETE | AUDIT_METHOD_PURGE, "a rule names PURGE");
    is_int(audit_method_bit("get", 3), AUDIT_METHOD_OTHER,
           "methods are case-sensitive (RFC 9110)");
    is_int(audit_method_bit("", 0), 0, "empty method");
    is_int(audit_method_bit(NULL, 5), 0, "NULL method");

    is_int(audit_method_list_parse("GET,PUT", 7),
           AUDIT_METHOD_GET | AUDIT_METHOD_HEAD | AUDIT_METHOD_PUT,
           "list GET,PUT (GET covers HEAD, as limit_except does)");
    is_int(audit_method_list_parse("HEAD", 4), AUDIT_METHOD_HEAD,
           "HEAD alone is only HEAD");
    {
        audit_policy_rule_t  r;
        const char          *nurse[] = { "nurse" };

        memset(&r, 0, sizeof(r));
        r.methods = audit_method_list_parse("GET,POST", 8);
        r.roles[0] = "admin";
        r.nroles = 1;
        is_int(audit_policy_check(&r, 1, AUDIT_METHOD_HEAD, nurse, 1, NULL),
               AUDIT_POLICY_DENY,
               "a GET rule judges HEAD: a nurse's HEAD of an admin report denied");
    }
    is_int(audit_method_list_parse("DELETE", 6), AUDIT_METHOD_DELETE,
           "list of one");
    is_int(audit_method_list_parse("GET,,PUT", 8), 0, "empty item refused");
    is_int(audit_method_list_parse("GET,", 4), 0, "trailing comma refused");
    is_int(audit_method_list_parse("GET,FETCH", 9), 0,
           "unknown method refused");
    is_int(audit_method_list_parse("", 0), 0, "empty list refused");
    /* a prefix of a longer name must not match */
    is_int(audit_method_list_parse("GETX", 4), 0, "GETX refused");
    is_int(audit_method_list_parse("GET", 2), 0, "short length honoured");
}


static void
test_rules(void)
{
    size_t               d;
    audit_policy_rule_t  rules[2];

    memset(rules, 0, sizeof(rules));
    rules[0].roles[0] = "doctor";
    rules[0].roles[1] = "nurse";
    rules[0].roles[2] = "admin";
    rules[0].nroles = 3;
    rules[0].name = "all";
    rules[1].roles[0] = "admin";
    rules[1].nroles = 1;
    rules[1].methods = AUDIT_METHOD_DELETE;
    rules[1].name = "delete";

    is_int(check(rules, 2, "GET", "doctor", NULL, &d), AUDIT_POLICY_PERMIT,
           "doctor may GET");
    is_int(d, 0, "... decided by the rule that applied");
    is_int(check(rules, 2, "DELETE", "doctor", NULL, &d), AUDIT_POLICY_DENY,
           "doctor may not DELETE");
    is_int(d, 1, "... denied by the methods= rule");
    is_int(check(rules, 2, "DELETE", "admin", NULL, &d), AUDIT_POLICY_PERMIT,
           "admin may DELETE");
    is_int(d, 1, "... last applying rule decides");
    is_int(check(rules, 2, "GET", "patient", NULL, &d), AUDIT_POLICY_DENY,
           "unknown role denied");
    is_int(d, 0, "... by the first rule");
    is_int(check(rules, 2, "GET", NULL, NULL, &d), AUDIT_POLICY_DENY,
           "no roles denied");
    is_int(check(rules, 2, "DELETE", "doctor", "admin", &d),
           AUDIT_POLICY_PERMIT, "either of several roles counts");
    is_int(check(rules, 2, "FETCH", "nurse", NULL, &d),
           AUDIT_POLICY_PERMIT, "unknown method: rules without methods=");
    is_int(check(rules, 0, "GET", NULL, NULL, &d), AUDIT_POLICY_PERMIT,
           "no rules: permit");
    is_int(d, 0, "... deciding is nrules");
    is_int(check(rules, 2, "GET", "Doctor", NULL, NULL), AUDIT_POLICY_DENY,
           "roles are case-sensitive; NULL deciding accepted");
}


static void
test_idset(void)
{
    char            err[128];
    const char     *text;
    audit_idset_t  *set;

    text = "# revoked\n  s1 \r\n\n s-22\ts3\n#s4\n";
    set = audit_idset_parse(text, strlen(text), err, sizeof(err));
    ok(set != NULL, "idset parses");
    is_int(audit_idset_size(set), 2, "comments and blank lines skipped");
    ok(audit_idset_contains(set, "s1", 2), "contains trimmed s1");
    ok(audit_idset_contains(set, "s-22\ts3", 7), "inner tab kept");
    ok(!audit_idset_contains(set, "s4", 2), "commented id absent");
    ok(!audit_idset_contains(set, "s", 1), "prefix absent");
    ok(!audit_idset_contains(set, "s1 ", 3), "longer absent");
    ok(!audit_idset_contains(set, NULL, 0), "NULL absent");
    audit_idset_free(set);

    set = audit_idset_parse("", 0, err, sizeof(err));
    ok(set != NULL && audit_idset_size(set) == 0, "empty text: empty set");
    ok(!audit_idset_contains(set, "x", 1), "empty set contains nothing");
    audit_idset_free(set);

    {
        char  long_id[300];

        memset(long_id, 'a', sizeof(long_id));
        set = audit_idset_parse(long_id, sizeof(long_id), err, sizeof(err));
        ok(set == NULL, "an id over 256 bytes is refused");
        ok(strstr(err, "256") != NULL, "... saying why");
    }

    set = audit_idset_load("/nonexistent/revoked", err, sizeof(err));
    ok(set == NULL && strstr(err, "/nonexistent/revoked") != NULL,
       "missing file refused, naming it");

    audit_idset_free(NULL);
    ok(1, "free(NULL) is fine");
}


int
main(void)
{
    test_methods();
    test_rules();
    test_idset();

    return done_testing();
}
