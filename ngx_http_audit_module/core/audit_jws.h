/*
 * Compact JWS (RFC 7515) verification for JWTs (RFC 7519): HS256, RS256
 * and ES256 against an audit_keyset_t, then the time, issuer, audience
 * and user claims.  No global state; the key set is only read.
 */

#ifndef AUDIT_JWS_H
#define AUDIT_JWS_H


#include "audit_keys.h"


typedef enum {
    AUDIT_TOKEN_OK = 0,
    AUDIT_TOKEN_MALFORMED,      /* "malformed" */
    AUDIT_TOKEN_BAD_ALGORITHM,  /* "bad_algorithm": none, not allowed, not
                                   the key's, jwk/jku/x5u/x5c/crit given */
    AUDIT_TOKEN_UNKNOWN_KEY,    /* "unknown_key": kid not in the set, or
                                   no key for the alg */
    AUDIT_TOKEN_BAD_SIGNATURE,  /* "bad_signature" */
    AUDIT_TOKEN_EXPIRED,        /* "expired" */
    AUDIT_TOKEN_NOT_YET_VALID,  /* "not_yet_valid": nbf or iat in the
                                   future beyond leeway */
    AUDIT_TOKEN_BAD_ISSUER,     /* "bad_issuer" */
    AUDIT_TOKEN_BAD_AUDIENCE,   /* "bad_audience" */
    AUDIT_TOKEN_MISSING_CLAIM   /* "missing_claim": exp or the user claim
                                   absent or of the wrong type */
} audit_token_status_t;


/* the quoted names above; "unknown" for values outside the enum */
const char *audit_token_reason(audit_token_status_t st);


typedef struct {
    unsigned     algs;           /* allow-list of AUDIT_ALG_* */
    long long    now;            /* unix seconds, supplied by caller */
    long long    leeway;         /* seconds */
    const char  *issuer;         /* NULL: not checked */
    const char  *audience;       /* NULL: not checked; else `aud` string or
                                    array must contain it */
    const char  *user_claim;     /* e.g. "sub": required; string or
                                    integer; NULL: not read */
    const char  *role_claim;     /* e.g. "role": optional; string or array
                                    of strings; NULL: not read */
    const char  *session_claim;  /* e.g. "sid": optional; string */
    int          trusted_signature;  /* the caller has seen this very
                                    token verify against this key set (a
                                    cache keyed by its hash): the signature
                                    is not computed again, all else is
                                    checked, the key selection included */
} audit_verify_opts_t;


/*
 * The payload object of a verified token: opaque (jansson's inside, which
 * callers never see); read it with audit_token_claim().  Owned by the
 * token and released by audit_token_clear(), or, when it came from
 * audit_jws_payload(), by audit_claims_free().
 */
typedef struct audit_claims_s  audit_claims_t;


#define AUDIT_TOKEN_MAX_LEN    8192
#define AUDIT_TOKEN_MAX_ROLES  16


typedef struct {
    audit_claims_t  *claims;         /* verified payload object, owned;
                                        NULL unless the signature
                                        verified */
    const char      *user_id;        /* into claims or user_buf; NULL if
                                        unreadable */
    const char      *session_id;     /* into claims or session_buf; NULL
                                        when absent */
    const char      *roles[AUDIT_TOKEN_MAX_ROLES];
    size_t           nroles;
    long long        exp;
    unsigned         alg;            /* AUDIT_ALG_* used */
    char             kid[65];        /* "" when none */
    char             user_buf[24];
    char             session_buf[24];
} audit_token_t;


/*
 * Verifies a compact JWS of len bytes (no NUL needed).  In order:
 *
 *  - shape: 1..AUDIT_TOKEN_MAX_LEN bytes, exactly 3 non-empty segments of
 *    strict base64url; header and payload JSON objects without duplicate
 *    names; header "typ", when present, "JWT" (any case, "application/"
 *    prefix allowed); "alg" a string, "kid" a string when present;
 *    otherwise MALFORMED;
 *  - alg: "none" in any case, one not in opts->algs or not supported, or
 *    a jwk/jku/x5u/x5c/crit header: BAD_ALGORITHM;
 *  - key and signature, see audit_keyset_verify(): UNKNOWN_KEY,
 *    BAD_ALGORITHM (the kid names a key of another type) or BAD_SIGNATURE;
 *    with opts->trusted_signature only the key selection;
 *  - claims: "exp" a number (else MISSING_CLAIM), now > exp + leeway:
 *    EXPIRED; "nbf" or "iat" not a number: MALFORMED, beyond now + leeway:
 *    NOT_YET_VALID; "iss" must equal opts->issuer: BAD_ISSUER; "aud" must
 *    be or contain opts->audience: BAD_AUDIENCE; the user claim must be a
 *    non-empty string or an integer: MISSING_CLAIM;
 *  - identity: a user, session or role value the portal could read
 *    otherwise in a header (empty, leading or trailing space, a control
 *    character or NUL, a ',' in a role): MALFORMED.
 *
 * Roles are the role claim's string, or the strings of its array (the
 * first AUDIT_TOKEN_MAX_ROLES; further ones are checked, not kept).
 *
 * tok is always initialised and must be released with audit_token_clear().
 * kid and alg are filled as soon as the header is read; once the signature
 * verified, claims, user_id, session_id, roles and exp are filled too,
 * even when a claim check fails, so that the caller can log who it was.
 */
audit_token_status_t audit_jws_verify(const audit_keyset_t *ks,
    const char *token, size_t len, const audit_verify_opts_t *opts,
    audit_token_t *tok);

void audit_token_clear(audit_token_t *tok);

/*
 * The payload object of a token the caller already verified (e.g. found
 * in a cache of verified tokens), decoded without any check; NULL when it
 * does not decode.  The caller owns it: hand it to a token's claims (then
 * audit_token_clear() releases it) or release it by audit_claims_free().
 */
audit_claims_t *audit_jws_payload(const char *token, size_t len);

void audit_claims_free(audit_claims_t *claims);        /* NULL ok */

/*
 * Formats top-level claim name of a verified token into buf (always
 * NUL-terminated when size > 0): a string as is, an integer in decimal,
 * true/false, an array of strings joined by ","; returns its length, or
 * -1 when absent, of another type, or it does not fit.
 */
int audit_token_claim(const audit_token_t *tok, const char *name, char *buf,
    size_t size);


#endif /* AUDIT_JWS_H */
