/*
 * Unit tests of the worker-local verified-session cache.
 */

#include <stdio.h>
#include <stdlib.h>

#include "../audit_tcache.h"
#include "tap.h"


static audit_tcache_identity_t
ident(const char *user, const char *roles, const char *sid, long long exp)
{
    audit_tcache_identity_t  id;

    id.user_id = user;
    id.roles = roles;
    id.session_id = sid;
    id.exp = exp;

    return id;
}


static void
test_hit_and_miss(void)
{
    audit_tcache_t                 *c;
    audit_tcache_identity_t         id;
    const audit_tcache_identity_t  *got;
    const char                     *tok = "aaa.bbb.ccc";

    c = audit_tcache_create(4);
    ok(c != NULL, "created");

    ok(audit_tcache_get(c, 1, 0, 100, 0, tok, strlen(tok)) == NULL,
       "empty cache misses");

    id = ident("u1", "doctor,nurse", "s1", 1000);
    is_int(audit_tcache_put(c, 1, 0, tok, strlen(tok), &id), 0, "put");

    got = audit_tcache_get(c, 1, 0, 100, 0, tok, strlen(tok));
    ok(got != NULL, "same token, profile, generation: hit");
    is_str(got ? got->user_id : "", "u1", "user id kept");
    is_str(got ? got->roles : "", "doctor,nurse", "roles kept");
    is_str(got ? got->session_id : "", "s1", "session id kept");

    ok(audit_tcache_get(c, 2, 0, 100, 0, tok, strlen(tok)) == NULL,
       "other profile misses");
    ok(audit_tcache_get(c, 1, 0, 100, 0, "aaa.bbb.ccd", 11) == NULL,
       "one byte different misses");
    ok(audit_tcache_get(c, 1, 0, 100, 0, tok, strlen(tok) - 1) == NULL,
       "prefix misses");

    ok(audit_tcache_get(c, 1, 0, 1000, 0, tok, strlen(tok)) != NULL,
       "at exp: hit");
    ok(audit_tcache_get(c, 1, 0, 1001, 5, tok, strlen(tok)) != NULL,
       "within leeway: hit");
    ok(audit_tcache_get(c, 1, 0, 1006, 5, tok, strlen(tok)) == NULL,
       "past exp + leeway: miss");
    is_int(audit_tcache_size(c), 0, "... and the entry is gone");

    audit_tcache_put(c, 1, 0, tok, strlen(tok), &id);
    ok(audit_tcache_get(c, 1, 1, 100, 0, tok, strlen(tok)) == NULL,
       "new key generation: miss");
    is_int(audit_tcache_size(c), 0, "... and the entry is gone");

    audit_tcache_free(c);
}


static void
test_bounds(void)
{
    int                       i;
    char                      tok[64], big[AUDIT_TCACHE_MAX_TOKEN + 1];
    audit_tcache_t           *c;
    audit_tcache_identity_t   id;

    c = audit_tcache_create(3);
    id = ident("u", "", "", 1000);

    for (i = 0; i < 10; i++) {
        snprintf(tok, sizeof(tok), "h.p.sig%d", i);
        audit_tcache_put(c, 7, 0, tok, strlen(tok), &id);
    }

    is_int(audit_tcache_size(c), 3, "capacity bounds the size");
    ok(audit_tcache_get(c, 7, 0, 1, 0, "h.p.sig9", 8) != NULL,
       "newest kept");
    ok(audit_tcache_get(c, 7, 0, 1, 0, "h.p.sig0", 8) == NULL,
       "oldest evicted");

    /* touching sig7 makes sig8 the least recently used */
    ok(audit_tcache_get(c, 7, 0, 1, 0, "h.p.sig7", 8) != NULL, "sig7 hit");
    audit_tcache_put(c, 7, 0, "h.p.new", 7, &id);
    ok(audit_tcache_get(c, 7, 0, 1, 0, "h.p.sig8", 8) == NULL,
       "LRU entry evicted, not the recently used one");
    ok(audit_tcache_get(c, 7, 0, 1, 0, "h.p.sig7", 8) != NULL,
       "recently used survives");

    audit_tcache_put(c, 7, 0, "h.p.new", 7, &id);
    is_int(audit_tcache_size(c), 3, "putting twice replaces");

    memset(big, 'x', sizeof(big));
    is_int(audit_tcache_put(c, 7, 0, big, sizeof(big), &id), -1,
           "an over-long token is not cached");
    ok(audit_tcache_get(c, 7, 0, 1, 0, big, sizeof(big)) == NULL,
       "... nor found");
    ok(audit_tcache_get(c, 7, 0, 1, 0, big, 0) == NULL, "empty token");

    audit_tcache_free(c);
    audit_tcache_free(NULL);
    ok(audit_tcache_create(0) == NULL, "capacity 0 refused");
    ok(audit_tcache_get(NULL, 1, 0, 1, 0, "a", 1) == NULL, "NULL cache");
}


static void
test_many(void)
{
    int                       i, hits;
    char                      tok[64];
    audit_tcache_t           *c;
    audit_tcache_identity_t   id;

    c = audit_tcache_create(1000);
    id = ident("u", "r", "s", 1000);

    for (i = 0; i < 5000; i++) {
        snprintf(tok, sizeof(tok), "hdr.payload.%08d", i);
        audit_tcache_put(c, 1, 0, tok, strlen(tok), &id);
    }

    hits = 0;
    for (i = 0; i < 5000; i++) {
        snprintf(tok, sizeof(tok), "hdr.payload.%08d", i);
        hits += audit_tcache_get(c, 1, 0, 1, 0, tok, strlen(tok)) != NULL;
    }

    is_int(hits, 1000, "exactly the last 1000 of 5000 are found");
    is_int(audit_tcache_size(c), 1000, "size stays at capacity");

    audit_tcache_free(c);
}


int
main(void)
{
    test_hit_and_miss();
    test_bounds();
    test_many();

    return done_testing();
}
