
/*
 * Role-to-route policy: which roles may use a location, per method.
 *
 * A location holds a list of rules.  A rule names the roles that satisfy it
 * and, optionally, the methods it applies to.  A request is permitted when
 * it satisfies every rule that applies to its method (AND across rules, OR
 * within a rule), so
 *
 *     audit_require_role doctor nurse admin;
 *     audit_require_role admin methods=DELETE;
 *
 * lets the three roles read and write, and only admins delete.
 *
 * The caller owns every string; nothing here allocates.
 */


#ifndef AUDIT_POLICY_H
#define AUDIT_POLICY_H


#include <stddef.h>


#define AUDIT_METHOD_GET      0x0001u
#define AUDIT_METHOD_HEAD     0x0002u
#define AUDIT_METHOD_POST     0x0004u
#define AUDIT_METHOD_PUT      0x0008u
#define AUDIT_METHOD_DELETE   0x0010u
#define AUDIT_METHOD_PATCH    0x0020u
#define AUDIT_METHOD_OPTIONS  0x0040u
#define AUDIT_METHOD_TRACE    0x0080u
#define AUDIT_METHOD_CONNECT  0x0100u
#define AUDIT_METHOD_PROPFIND 0x0200u
#define AUDIT_METHOD_PROPPATCH 0x0400u
#define AUDIT_METHOD_MKCOL    0x0800u
#define AUDIT_METHOD_COPY     0x1000u
#define AUDIT_METHOD_MOVE     0x2000u
#define AUDIT_METHOD_LOCK     0x4000u
#define AUDIT_METHOD_UNLOCK   0x8000u
#define AUDIT_METHOD_PURGE    0x10000u
#define AUDIT_METHOD_OTHER    0x80000000u

#define AUDIT_POLICY_MAX_ROLES  16


typedef struct {
    const char   *roles[AUDIT_POLICY_MAX_ROLES];
    size_t        nroles;
    unsigned      methods;      /* AUDIT_METHOD_* bits; 0: every method */
    const char   *name;         /* how logs name the rule */
} audit_policy_rule_t;


typedef enum {
    AUDIT_POLICY_PERMIT = 0,
    AUDIT_POLICY_DENY
} audit_policy_decision_t;


/* Maps a method name to its AUDIT_METHOD_* bit; other names map to
 * AUDIT_METHOD_OTHER, empty or too long ones to 0. */
unsigned audit_method_bit(const char *name, size_t len);

/* Parses "GET,PUT,DELETE" into a mask (GET includes HEAD, as nginx's
 * limit_except does); returns 0 on an unknown or empty name so the
 * configuration can refuse it. */
unsigned audit_method_list_parse(const char *list, size_t len);

/* Decides for a caller holding roles[0..nroles).  On a denial *deciding is
 * the index of the first rule not satisfied; on a permit it is the index of
 * the last rule that applied, or nrules when none applied. */
audit_policy_decision_t audit_policy_check(const audit_policy_rule_t *rules,
    size_t nrules, unsigned method, const char *const *roles, size_t nroles,
    size_t *deciding);


#endif /* AUDIT_POLICY_H */
