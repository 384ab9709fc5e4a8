#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "audit_b64url_int.h"
#include "audit_jws.h"
#include "audit_jws_int.h"


/* all three decoded segments of the longest token fit in this */
#define AUDIT_JWS_BUF_LEN  (AUDIT_B64URL_DECODED_MAX(AUDIT_TOKEN_MAX_LEN) + 8)

/*
 * Times are clamped to +-2^62 so that adding a leeway can never overflow
 * whatever a token or a caller says.
 */
#define AUDIT_JWS_TIME_MAX  ((long long) 1 << 62)

/* 9999-12-31T23:59:59Z: the last second RFC 3339 can write */
#define AUDIT_JWS_TIME_LAST  253402300799LL


typedef struct {
    const char  *start[3];       /* header, payload, signature */
    size_t       len[3];
} audit_jws_segments_t;


static int audit_jws_split(const char *token, size_t len,
    audit_jws_segments_t *seg);
static json_t *audit_jws_decode_json(const char *s, size_t len,
    unsigned char *buf, size_t size, size_t *used);
static audit_token_status_t audit_jws_header(json_t *header,
    const audit_verify_opts_t *opts, audit_token_t *tok, unsigned *alg,
    const char **kid, size_t *kid_len);
static int audit_jws_typ_ok(json_t *typ);
static int audit_jws_caseeq(const char *s, size_t len, const char *lower);
static audit_token_status_t audit_jws_key_status(audit_key_status_t ks);
static int audit_jws_header_safe(json_t *v, int role);
static int audit_jws_identity(json_t *claims,
    const audit_verify_opts_t *opts, audit_token_t *tok);
static audit_token_status_t audit_jws_claims(json_t *claims,
    const audit_verify_opts_t *opts, audit_token_t *tok);
static int audit_jws_time(json_t *claims, const char *name, int round_up,
    long long *t);
static long long audit_jws_clamp(long long t);
static int audit_jws_string_eq(json_t *v, const char *s);
static int audit_jws_audience(json_t *aud, const char *want);
static int audit_jws_append(char *buf, size_t size, size_t *pos,
    const char *s, size_t len);


static const char  *audit_jws_reasons[] = {
    "ok",
    "malformed",
    "bad_algorithm",
    "unknown_key",
    "bad_signature",
    "expired",
    "not_yet_valid",
    "bad_issuer",
    "bad_audience",
    "missing_claim"
};

/* header parameters that would let the token choose its own key or rules */
static const char  *audit_jws_forbidden[] = {
    "jwk", "jku", "x5u", "x5c", "crit"
};


const char *
audit_token_reason(audit_token_status_t st)
{
    if ((unsigned) st >= sizeof(audit_jws_reasons) / sizeof(char *)) {
        return "unknown";
    }

    return audit_jws_reasons[st];
}


audit_token_status_t
audit_jws_verify(const audit_keyset_t *ks, const char *token, size_t len,
    const audit_verify_opts_t *opts, audit_token_t *tok)
{
    size_t                 used, hlen, plen, slen, kid_len;
    json_t                *header, *payload;
    unsigned               alg;
    const char            *kid;
    unsigned char          buf[AUDIT_JWS_BUF_LEN];
    audit_key_status_t     kst;
    audit_token_status_t   st;
    audit_jws_segments_t   seg;

    if (tok == NULL) {
        return AUDIT_TOKEN_MALFORMED;
    }

    memset(tok, 0, sizeof(audit_token_t));

    if (token == NULL || opts == NULL
        || audit_jws_split(token, len, &seg) != 0)
    {
        return AUDIT_TOKEN_MALFORMED;
    }

    header = audit_jws_decode_json(seg.start[0], seg.len[0], buf,
                                   sizeof(buf), &hlen);
    if (header == NULL) {
        return AUDIT_TOKEN_MALFORMED;
    }

    payload = audit_jws_decode_json(seg.start[1], seg.len[1], buf + hlen,
                                    sizeof(buf) - hlen, &plen);
    if (payload == NULL) {
        json_decref(header);
        return AUDIT_TOKEN_MALFORMED;
    }

    used = hlen + plen;

    if (audit_b64url_decode((const unsigned char *) seg.start[2], seg.len[2],
                            buf + used, sizeof(buf) - used, &slen)
        != 0)
    {
        json_decref(header);
        json_decref(payload);
        return AUDIT_TOKEN_MALFORMED;
    }

    kid = NULL;
    kid_len = 0;
    alg = 0;

    st = audit_jws_header(header, opts, tok, &alg, &kid, &kid_len);

    if (st == AUDIT_TOKEN_OK) {
        /* the signing input is "header.payload" as sent */
        kst = opts->trusted_signature
              ? audit_keyset_select(ks, alg, kid, kid_len)
              : audit_keyset_verify(ks, alg, kid, kid_len,
                                    (const unsigned char *) token,
                                    seg.len[0] + 1 + seg.len[1],
                                    buf + used, slen);
        st = audit_jws_key_status(kst);
    }

    /* kid points into the header */
    json_decref(header);

    if (st != AUDIT_TOKEN_OK) {
        json_decref(payload);
        return st;
    }

    tok->claims = AUDIT_CLAIMS(payload);

    return audit_jws_claims(payload, opts, tok);
}


audit_claims_t *
audit_jws_payload(const char *token, size_t len)
{
    size_t                 used;
    unsigned char          buf[AUDIT_JWS_BUF_LEN];
    audit_jws_segments_t   seg;

    if (token == NULL || audit_jws_split(token, len, &seg) != 0) {
        return NULL;
    }

    return AUDIT_CLAIMS(audit_jws_decode_json(seg.start[1], seg.len[1], buf,
                                              sizeof(buf), &used));
}


void
audit_claims_free(audit_claims_t *claims)
{
    json_decref(AUDIT_CLAIMS_JSON(claims));
}


void
audit_token_clear(audit_token_t *tok)
{
    if (tok == NULL) {
        return;
    }

    audit_claims_free(tok->claims);
    memset(tok, 0, sizeof(audit_token_t));
}


int
audit_token_claim(const audit_token_t *tok, const char *name, char *buf,
    size_t size)
{
    int          n;
    size_t       pos, i;
    json_t      *v, *item;
    const char  *s;

    if (buf == NULL || size == 0) {
        return -1;
    }

    buf[0] = '\0';

    if (tok == NULL || tok->claims == NULL || name == NULL) {
        return -1;
    }

    v = json_object_get(AUDIT_CLAIMS_JSON(tok->claims), name);
    pos = 0;

    if (json_is_string(v)) {
        if (audit_jws_append(buf, size, &pos, json_string_value(v),
                             json_string_length(v))
            != 0)
        {
            return -1;
        }

    } else if (json_is_integer(v)) {
        n = snprintf(buf, size, "%lld", (long long) json_integer_value(v));

        if (n < 0 || (size_t) n >= size) {
            buf[0] = '\0';
            return -1;
        }

        pos = (size_t) n;

    } else if (json_is_boolean(v)) {
        s = json_is_true(v) ? "true" : "false";

        if (audit_jws_append(buf, size, &pos, s, strlen(s)) != 0) {
            return -1;
        }

    } else if (json_is_array(v)) {
        json_array_foreach(v, i, item) {
            if (!json_is_string(item)
                || (i > 0 && audit_jws_append(buf, size, &pos, ",", 1) != 0)
                || audit_jws_append(buf, size, &pos, json_string_value(item),
                                    json_string_length(item))
                   != 0)
            {
                buf[0] = '\0';
                return -1;
            }
        }

    } else {
        return -1;
    }

    if (pos > (size_t) 0x7fffffff) {
        buf[0] = '\0';
        return -1;
    }

    return (int) pos;
}


static int
audit_jws_split(const char *token, size_t len, audit_jws_segments_t *seg)
{
    size_t       i;
    const char  *last, *dot1, *dot2;

    if (len == 0 || len > AUDIT_TOKEN_MAX_LEN) {
        return -1;
    }

    last = token + len;

    dot1 = memchr(token, '.', len);
    if (dot1 == NULL) {
        return -1;
    }

    dot2 = memchr(dot1 + 1, '.', (size_t) (last - dot1 - 1));
    if (dot2 == NULL) {
        return -1;
    }

    /* a fourth segment: JWE or garbage */
    if (memchr(dot2 + 1, '.', (size_t) (last - dot2 - 1)) != NULL) {
        return -1;
    }

    seg->start[0] = token;
    seg->len[0] = (size_t) (dot1 - token);
    seg->start[1] = dot1 + 1;
    seg->len[1] = (size_t) (dot2 - dot1 - 1);
    seg->start[2] = dot2 + 1;
    seg->len[2] = (size_t) (last - dot2 - 1);

    /*
     * An empty signature is left to the later checks: "alg":"none" with
     * one is an algorithm attack and is reported as such (bad_algorithm),
     * any other alg fails its signature check.
     */

    for (i = 0; i < 2; i++) {
        if (seg->len[i] == 0) {
            return -1;
        }
    }

    return 0;
}


/* decodes a segment into buf and parses it as a JSON object */
static json_t *
audit_jws_decode_json(const char *s, size_t len, unsigned char *buf,
    size_t size, size_t *used)
{
    json_t  *json;

    if (audit_b64url_decode((const unsigned char *) s, len, buf, size, used)
        != 0)
    {
        return NULL;
    }

    /*
     * Duplicate names are refused: two parsers reading the same token
     * differently is how checks get bypassed.  jansson also bounds nesting
     * depth and refuses invalid UTF-8 and \u0000.
     */
    json = json_loadb((const char *) buf, *used, JSON_REJECT_DUPLICATES,
                      NULL);

    if (json != NULL && !json_is_object(json)) {
        json_decref(json);
        return NULL;
    }

    return json;
}


static audit_token_status_t
audit_jws_header(json_t *header, const audit_verify_opts_t *opts,
    audit_token_t *tok, unsigned *alg, const char **kid, size_t *kid_len)
{
    size_t       i, n, len;
    json_t      *v;
    const char  *name;

    v = json_object_get(header, "typ");
    if (v != NULL && !audit_jws_typ_ok(v)) {
        return AUDIT_TOKEN_MALFORMED;
    }

    v = json_object_get(header, "kid");
    if (v != NULL) {
        if (!json_is_string(v)) {
            return AUDIT_TOKEN_MALFORMED;
        }

        *kid = json_string_value(v);
        *kid_len = json_string_length(v);

        /* a longer kid matches no key; the prefix is still worth logging */
        n = *kid_len < sizeof(tok->kid) ? *kid_len : sizeof(tok->kid) - 1;
        memcpy(tok->kid, *kid, n);
        tok->kid[n] = '\0';
    }

    v = json_object_get(header, "alg");
    if (!json_is_string(v)) {
        return AUDIT_TOKEN_MALFORMED;
    }

    name = json_string_value(v);
    len = json_string_length(v);

    if (audit_jws_caseeq(name, len, "none")) {
        return AUDIT_TOKEN_BAD_ALGORITHM;
    }

    *alg = audit_alg_from_name(name, len);

    if (*alg == 0 || (opts->algs & *alg) == 0) {
        return AUDIT_TOKEN_BAD_ALGORITHM;
    }

    for (i = 0; i < sizeof(audit_jws_forbidden) / sizeof(char *); i++) {
        if (json_object_get(header, audit_jws_forbidden[i]) != NULL) {
            return AUDIT_TOKEN_BAD_ALGORITHM;
        }
    }

    tok->alg = *alg;

    return AUDIT_TOKEN_OK;
}


/* RFC 7515 section 4.1.9: a media type, "application/" may be left out */
static int
audit_jws_typ_ok(json_t *typ)
{
    if (!json_is_string(typ)) {
        return 0;
    }

    return audit_jws_caseeq(json_string_value(typ), json_string_length(typ),
                            "jwt")
           || audit_jws_caseeq(json_string_value(typ),
                               json_string_length(typ), "application/jwt");
}


/* ASCII case-insensitive s == lower, without the locale's opinion */
static int
audit_jws_caseeq(const char *s, size_t len, const char *lower)
{
    size_t         i;
    unsigned char  c;

    for (i = 0; i < len; i++) {
        if (lower[i] == '\0') {
            return 0;
        }

        c = (unsigned char) s[i];

        if (c >= 'A' && c <= 'Z') {
            c = (unsigned char) (c - 'A' + 'a');
        }

        if (c != (unsigned char) lower[i]) {
            return 0;
        }
    }

    return lower[len] == '\0';
}


static audit_token_status_t
audit_jws_key_status(audit_key_status_t ks)
{
    switch (ks) {
    case AUDIT_KEY_VERIFIED:
        return AUDIT_TOKEN_OK;
    case AUDIT_KEY_NOT_FOUND:
        return AUDIT_TOKEN_UNKNOWN_KEY;
    case AUDIT_KEY_WRONG_ALG:
        return AUDIT_TOKEN_BAD_ALGORITHM;
    default:
        return AUDIT_TOKEN_BAD_SIGNATURE;
    }
}


/*
 * Who the token is for: read before the checks, so that it can be logged.
 * Returns 0 when a present identity claim could not be handed to the
 * portal unambiguously in a header (see audit_jws_header_safe()).
 */
static int
audit_jws_identity(json_t *claims, const audit_verify_opts_t *opts,
    audit_token_t *tok)
{
    int      safe;
    size_t   i;
    json_t  *v, *role;

    safe = 1;

    if (opts->user_claim != NULL) {
        v = json_object_get(claims, opts->user_claim);

        if (json_is_string(v) && json_string_length(v) > 0) {
            tok->user_id = json_string_value(v);
            safe &= audit_jws_header_safe(v, 0);

        } else if (json_is_integer(v)) {
            snprintf(tok->user_buf, sizeof(tok->user_buf), "%lld",
                     (long long) json_integer_value(v));
            tok->user_id = tok->user_buf;
        }
    }

    if (opts->session_claim != NULL) {
        v = json_object_get(claims, opts->session_claim);

        /*
         * an integer is its decimal, as for the user; any other type
         * (a real, true, an object) would leave the session unnamed and
         * so unrevocable by audit_session_revoked: refused
         */

        if (json_is_string(v)) {
            tok->session_id = json_string_value(v);
            safe &= audit_jws_header_safe(v, 0);

        } else if (json_is_integer(v)) {
            snprintf(tok->session_buf, sizeof(tok->session_buf), "%lld",
                     (long long) json_integer_value(v));
            tok->session_id = tok->session_buf;

        } else if (v != NULL && !json_is_null(v)) {
            safe = 0;
        }
    }

    if (opts->role_claim == NULL) {
        return safe;
    }

    v = json_object_get(claims, opts->role_claim);

    if (json_is_string(v)) {
        tok->roles[tok->nroles++] = json_string_value(v);
        return safe & audit_jws_header_safe(v, 1);
    }

    /* elements of other types are not roles: skipped, as is a role claim
     * of another type */

    json_array_foreach(v, i, role) {
        if (!json_is_string(role)) {
            continue;
        }

        safe &= audit_jws_header_safe(role, 1);

        if (tok->nroles < AUDIT_TOKEN_MAX_ROLES) {
            tok->roles[tok->nroles++] = json_string_value(role);
        }
    }

    return safe;
}


/*
 * The portal reads user, session and roles from request headers, roles
 * joined by ",".  A value it could read otherwise than the policy did is
 * refused: empty, padded with white space (a portal that trims would
 * read " admin" as admin), holding a control character (a header of its
 * own), a NUL (the C string ends early), and for a role a "," or a space
 * anywhere (a portal splitting roles as scopes would read "ward admin"
 * as admin).
 */
static int
audit_jws_header_safe(json_t *v, int role)
{
    size_t          i, len;
    unsigned char   c;
    const char     *s;

    s = json_string_value(v);
    len = json_string_length(v);

    if (len == 0 || s[0] == ' ' || s[len - 1] == ' ') {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];

        if (c < 0x20 || c == 0x7f || (role && (c == ',' || c == ' '))) {
            return 0;
        }
    }

    return 1;
}


static audit_token_status_t
audit_jws_claims(json_t *claims, const audit_verify_opts_t *opts,
    audit_token_t *tok)
{
    int        rc, safe;
    long long  t, now, leeway;

    safe = audit_jws_identity(claims, opts, tok);

    now = audit_jws_clamp(opts->now);
    leeway = opts->leeway < 0 ? 0 : audit_jws_clamp(opts->leeway);

    /* a token without exp would be valid forever */
    rc = audit_jws_time(claims, "exp", 0, &t);

    if (rc == -2) {
        return AUDIT_TOKEN_MALFORMED;
    }

    if (rc != 1) {
        return AUDIT_TOKEN_MISSING_CLAIM;
    }

    tok->exp = t;

    if (now - leeway > t) {
        return AUDIT_TOKEN_EXPIRED;
    }

    rc = audit_jws_time(claims, "nbf", 1, &t);
    if (rc < 0) {
        return AUDIT_TOKEN_MALFORMED;
    }

    if (rc == 1 && t - leeway > now) {
        return AUDIT_TOKEN_NOT_YET_VALID;
    }

    rc = audit_jws_time(claims, "iat", 1, &t);
    if (rc < 0) {
        return AUDIT_TOKEN_MALFORMED;
    }

    if (rc == 1 && t - leeway > now) {
        return AUDIT_TOKEN_NOT_YET_VALID;
    }

    if (opts->issuer != NULL
        && !audit_jws_string_eq(json_object_get(claims, "iss"), opts->issuer))
    {
        return AUDIT_TOKEN_BAD_ISSUER;
    }

    if (opts->audience != NULL
        && !audit_jws_audience(json_object_get(claims, "aud"),
                               opts->audience))
    {
        return AUDIT_TOKEN_BAD_AUDIENCE;
    }

    if (opts->user_claim != NULL && tok->user_id == NULL) {
        return AUDIT_TOKEN_MISSING_CLAIM;
    }

    if (!safe) {
        return AUDIT_TOKEN_MALFORMED;
    }

    return AUDIT_TOKEN_OK;
}


/*
 * NumericDate (RFC 7519 section 2) may have a fraction; it is rounded
 * towards the stricter side: down for exp, up for nbf and iat.
 * Returns 1 with *t set, 0 when absent, -1 when not a number.
 */
static int
audit_jws_time(json_t *claims, const char *name, int round_up, long long *t)
{
    double   d, max;
    json_t  *v;

    v = json_object_get(claims, name);
    if (v == NULL) {
        return 0;
    }

    /*
     * A time past the year 9999 either way is no date an identity provider
     * means: such a token is malformed (-2), not valid for ever.
     */

    if (json_is_integer(v)) {
        if (json_integer_value(v) > AUDIT_JWS_TIME_LAST
            || json_integer_value(v) < -AUDIT_JWS_TIME_LAST)
        {
            return -2;
        }

        *t = (long long) json_integer_value(v);
        return 1;
    }

    if (!json_is_real(v)) {
        return -1;
    }

    d = json_real_value(v);
    max = (double) AUDIT_JWS_TIME_LAST;

    if (!(d <= max && d >= -max)) {
        return -2;
    }

    /* the cast truncates towards zero */
    *t = (long long) d;

    if (round_up && (double) *t < d) {
        (*t)++;

    } else if (!round_up && (double) *t > d) {
        (*t)--;
    }

    return 1;
}


static long long
audit_jws_clamp(long long t)
{
    if (t > AUDIT_JWS_TIME_MAX) {
        return AUDIT_JWS_TIME_MAX;
    }

    if (t < -AUDIT_JWS_TIME_MAX) {
        return -AUDIT_JWS_TIME_MAX;
    }

    return t;
}


static int
audit_jws_string_eq(json_t *v, const char *s)
{
    size_t  len;

    if (!json_is_string(v)) {
        return 0;
    }

    len = strlen(s);

    return json_string_length(v) == len
           && memcmp(json_string_value(v), s, len) == 0;
}


/* RFC 7519 section 4.1.3: a string, or an array of strings */
static int
audit_jws_audience(json_t *aud, const char *want)
{
    size_t   i;
    json_t  *v;

    if (json_is_string(aud)) {
        return audit_jws_string_eq(aud, want);
    }

    json_array_foreach(aud, i, v) {
        if (audit_jws_string_eq(v, want)) {
            return 1;
        }
    }

    return 0;
}


static int
audit_jws_append(char *buf, size_t size, size_t *pos, const char *s,
    size_t len)
{
    /* room for the NUL too */
    if (len >= size - *pos) {
        buf[0] = '\0';
        return -1;
    }

    memcpy(buf + *pos, s, len);
    *pos += len;
    buf[*pos] = '\0';

    return 0;
}
