
/*
 * ngx_http_audit_module: sessions.
 *
 * Finds the session cookie, verifies the token in it with the core
 * (audit_jws.c) against the location's key set, checks the deny-list of
 * revoked sessions, and copies the identity into the request context.
 * Key sets are read and re-read by ngx_http_audit_keys.c.  Deny-lists are
 * read at configuration time, so a reload re-reads them and a file that
 * fails to parse leaves the running configuration in place.
 */


#include "ngx_http_audit_module.h"
#include "audit_cookie.h"


static audit_token_status_t ngx_http_audit_session_check(
    ngx_http_request_t *r, ngx_http_audit_loc_conf_t *alcf, ngx_str_t *value,
    audit_token_t *token);
static ngx_int_t ngx_http_audit_session_cookie(ngx_http_request_t *r,
    ngx_str_t *name, ngx_str_t *value);
static ngx_int_t ngx_http_audit_session_identity(ngx_http_request_t *r,
    ngx_http_audit_ctx_t *ctx);
static ngx_int_t ngx_http_audit_session_full(ngx_http_request_t *r,
    ngx_http_audit_loc_conf_t *alcf, ngx_http_audit_ctx_t *ctx,
    ngx_str_t *value);
static ngx_int_t ngx_http_audit_session_cached(ngx_http_request_t *r,
    ngx_http_audit_ctx_t *ctx, const audit_tcache_identity_t *id);
static void ngx_http_audit_session_remember(
    ngx_http_audit_main_conf_t *amcf, ngx_http_audit_loc_conf_t *alcf,
    ngx_http_audit_ctx_t *ctx, ngx_str_t *value);
static size_t ngx_http_audit_session_roles_len(audit_token_t *tok);
static ngx_uint_t ngx_http_audit_session_revoked(ngx_http_request_t *r,
    ngx_http_audit_loc_conf_t *alcf, ngx_http_audit_ctx_t *ctx);
static ngx_int_t ngx_http_audit_session_revoke_key(ngx_http_request_t *r,
    ngx_http_audit_ctx_t *ctx, ngx_str_t *key);
static ngx_uint_t ngx_http_audit_session_header_safe(ngx_str_t *s);
static void ngx_http_audit_session_reason(ngx_http_audit_ctx_t *ctx,
    const char *reason);


ngx_int_t
ngx_http_audit_session_init_process(ngx_cycle_t *cycle)
{
    ngx_http_audit_main_conf_t  *amcf;

    amcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_audit_module);

    if (amcf == NULL || amcf->keys.nelts == 0) {
        return NGX_OK;
    }

    amcf->tcache = audit_tcache_create(NGX_HTTP_AUDIT_TCACHE_SIZE);
    if (amcf->tcache == NULL) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "audit: cannot allocate the session cache");
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the worker's session cache is calloc()ed, unknown to the cycle pool */

void
ngx_http_audit_session_exit_process(ngx_http_audit_main_conf_t *amcf)
{
    if (amcf->tcache) {
        audit_tcache_free(amcf->tcache);
        amcf->tcache = NULL;
    }
}


/*
 * Returns NGX_OK with ctx->token_valid set when the cookie holds a valid,
 * unrevoked session; NGX_DECLINED with ctx->reason set otherwise; NGX_ERROR
 * on allocation failure.  Reads the configuration, never writes it.
 */

ngx_int_t
ngx_http_audit_session_verify(ngx_http_request_t *r,
    ngx_http_audit_loc_conf_t *alcf, ngx_http_audit_ctx_t *ctx)
{
    ngx_int_t  rc;
    ngx_str_t  value;

    rc = ngx_http_audit_session_cookie(r, &alcf->cookie, &value);

    if (rc != NGX_OK) {
        ngx_http_audit_session_reason(ctx, rc == NGX_DECLINED ? "missing"
                                                              : "malformed");
        return NGX_DECLINED;
    }

    return ngx_http_audit_session_verify_value(r, alcf, ctx, &value);
}


/*
 * Verifies a token wherever it came from: the request's cookie, or the
 * Set-Cookie of a login response.  Same results as above.
 */

ngx_int_t
ngx_http_audit_session_verify_value(ngx_http_request_t *r,
    ngx_http_audit_loc_conf_t *alcf, ngx_http_audit_ctx_t *ctx,
    ngx_str_t *token)
{
    ngx_int_t                       rc;
    ngx_str_t                       value;
    ngx_http_audit_main_conf_t     *amcf;
    const audit_tcache_identity_t  *id;

    if (alcf->keys == NULL) {
        return NGX_DECLINED;
    }

    value = *token;
    ctx->raw = value;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_audit_module);

    /* the next requests of a session: the identity its token carried */

    id = audit_tcache_get(amcf->tcache, (uintptr_t) alcf,
                          alcf->keys->generation, ngx_time(), alcf->leeway,
                          (const char *) value.data, value.len);

    if (amcf->stats) {
        if (id) {
            amcf->stats->tcache_hits++;

        } else {
            amcf->stats->tcache_misses++;
        }
    }

    if (id != NULL) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "audit: session cache hit");

        rc = ngx_http_audit_session_cached(r, ctx, id);

    } else {
        rc = ngx_http_audit_session_full(r, alcf, ctx, &value);

        if (rc == NGX_OK) {
            ngx_http_audit_session_remember(amcf, alcf, ctx, &value);
        }
    }

    if (rc != NGX_OK) {
        return rc;
    }

    /* revocation takes effect at once, cached or not */

    if (ngx_http_audit_session_revoked(r, alcf, ctx)) {
        ngx_http_audit_session_reason(ctx, "revoked");
        return NGX_DECLINED;
    }

    ctx->token_valid = 1;

    return NGX_OK;
}


/* the whole verification: parse, signature, claims */

static ngx_int_t
ngx_http_audit_session_full(ngx_http_request_t *r,
    ngx_http_audit_loc_conf_t *alcf, ngx_http_audit_ctx_t *ctx,
    ngx_str_t *value)
{
    audit_token_status_t    st;
    ngx_http_audit_keys_t  *keys;

    /* the claims (jansson objects) go with the context's pool cleanup */

    st = ngx_http_audit_session_check(r, alcf, value, &ctx->token);

    /*
     * A kid we do not know may be a key the identity provider has just
     * rotated in: re-read the file (rate-limited) and try once more.
     */

    keys = alcf->keys;

    if (st == AUDIT_TOKEN_UNKNOWN_KEY && ctx->token.kid[0] != '\0'
        && ngx_time() - keys->reread >= NGX_HTTP_AUDIT_REREAD_MIN
        && ngx_http_audit_keys_reread(keys, r->connection->log) == NGX_OK)
    {
        audit_token_clear(&ctx->token);
        st = ngx_http_audit_session_check(r, alcf, value, &ctx->token);
    }

    if (ctx->token.user_id != NULL
        && ngx_http_audit_session_identity(r, ctx) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (st != AUDIT_TOKEN_OK) {
        ngx_http_audit_session_reason(ctx, audit_token_reason(st));
        return NGX_DECLINED;
    }

    /*
     * The identity goes into request headers, roles joined by ",": a claim
     * with a line break or another control character would let whoever
     * controls the claim add headers of its own, and a role with a comma
     * would read as two roles, so such a token is not accepted.
     */

    if (!ngx_http_audit_session_header_safe(&ctx->user_id)
        || !ngx_http_audit_session_header_safe(&ctx->role)
        || !ngx_http_audit_session_header_safe(&ctx->session_id)
        || ctx->role.len + 1 != ngx_http_audit_session_roles_len(&ctx->token))
    {
        ngx_http_audit_session_reason(ctx, "malformed");
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * Copies a cached identity into the request: the cache entry may be
 * evicted by another request of this worker while this one still runs.
 */

static ngx_int_t
ngx_http_audit_session_cached(ngx_http_request_t *r,
    ngx_http_audit_ctx_t *ctx, const audit_tcache_identity_t *id)
{
    u_char  *p, *last;
    size_t   ulen, rlen, slen;

    ulen = ngx_strlen(id->user_id);
    rlen = ngx_strlen(id->roles);
    slen = ngx_strlen(id->session_id);

    p = ngx_pnalloc(r->pool, ulen + rlen + slen + 3);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ctx->user_id.data = p;
    ctx->user_id.len = ulen;
    p = ngx_cpymem(p, id->user_id, ulen + 1);

    ctx->session_id.data = p;
    ctx->session_id.len = slen;
    p = ngx_cpymem(p, id->session_id, slen + 1);

    ctx->role.data = p;
    ctx->role.len = rlen;
    ngx_memcpy(p, id->roles, rlen + 1);

    /* the policy takes C strings: a second copy, split at the commas */

    if (rlen == 0) {
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, rlen + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(p, id->roles, rlen + 1);
    last = p + rlen;

    ctx->token.roles[ctx->token.nroles++] = (const char *) p;

    for ( /* void */ ; p < last; p++) {
        if (*p == ',' && ctx->token.nroles < AUDIT_TOKEN_MAX_ROLES) {
            *p = '\0';
            ctx->token.roles[ctx->token.nroles++] = (const char *) p + 1;
        }
    }

    ctx->token.exp = id->exp;

    return NGX_OK;
}


static void
ngx_http_audit_session_remember(ngx_http_audit_main_conf_t *amcf,
    ngx_http_audit_loc_conf_t *alcf, ngx_http_audit_ctx_t *ctx,
    ngx_str_t *value)
{
    audit_tcache_identity_t  id;

    /* ctx strings are NUL-terminated: they come from jansson or "" */

    id.exp = ctx->token.exp;
    id.user_id = (const char *) ctx->user_id.data;
    id.roles = ctx->role.len ? (const char *) ctx->role.data : "";
    id.session_id = ctx->session_id.len ? (const char *) ctx->session_id.data
                                        : "";

    (void) audit_tcache_put(amcf->tcache, (uintptr_t) alcf,
                            alcf->keys->generation,
                            (const char *) value->data, value->len, &id);
}


static size_t
ngx_http_audit_session_roles_len(audit_token_t *tok)
{
    size_t      len;
    ngx_uint_t  i;

    len = 0;

    for (i = 0; i < tok->nroles; i++) {
        if (ngx_strchr(tok->roles[i], ',') != NULL) {
            return 0;
        }

        len += ngx_strlen(tok->roles[i]) + 1;
    }

    return len ? len : 1;
}


/*
 * One verification, through the verified-token cache when the zone is
 * configured and the keys are asymmetric: an HMAC costs about what the
 * cache key's SHA-256 does, so HS256 goes straight to the core.
 */

static audit_token_status_t
ngx_http_audit_session_check(ngx_http_request_t *r,
    ngx_http_audit_loc_conf_t *alcf, ngx_str_t *value, audit_token_t *token)
{
    u_char                       hash[NGX_HTTP_AUDIT_CACHE_HASH];
    time_t                       now;
    ngx_uint_t                   cache;
    audit_verify_opts_t          opts;
    audit_token_status_t         st;
    ngx_http_audit_keys_t       *keys;
    ngx_http_audit_main_conf_t  *amcf;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_audit_module);
    keys = alcf->keys;
    now = ngx_time();

    opts.algs = alcf->algs;
    opts.now = now;
    opts.leeway = alcf->leeway;
    opts.issuer = alcf->issuer.len ? (const char *) alcf->issuer.data : NULL;
    opts.audience = alcf->audience.len ? (const char *) alcf->audience.data
                                       : NULL;
    opts.user_claim = (const char *) alcf->user_claim.data;
    opts.role_claim = (const char *) alcf->role_claim.data;
    opts.session_claim = (const char *) alcf->session_claim.data;
    opts.trusted_signature = 0;

    cache = amcf->shm_zone != NULL
            && (audit_keyset_algs(keys->keyset) & alcf->algs
                & (AUDIT_ALG_RS256|AUDIT_ALG_ES256))
            && ngx_http_audit_cache_key(keys, value, hash) == NGX_OK;

    if (cache) {
        opts.trusted_signature = ngx_http_audit_cache_lookup(amcf->shm_zone,
                                                             hash, now);

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "audit: verified-token cache %s",
                       opts.trusted_signature ? "hit" : "miss");
    }

    st = audit_jws_verify(keys->keyset, (const char *) value->data,
                          value->len, &opts, token);

    if (cache && !opts.trusted_signature && token->claims != NULL
        && (token->alg & (AUDIT_ALG_RS256|AUDIT_ALG_ES256)))
    {
        /* the signature verified, whatever the claims said */
        ngx_http_audit_cache_insert(amcf->shm_zone, hash,
                                    (time_t) token->exp, now);
    }

    return st;
}


/*
 * The session cookie, read by the core (audit_cookie.h) rather than by
 * ngx_http_parse_multi_header_lines(), which matches names regardless of
 * case and also splits at ',': nginx must read the same cookie as the
 * portal does.  NGX_DECLINED when absent or empty, NGX_ERROR when the
 * request names it twice with different values.
 */

static ngx_int_t
ngx_http_audit_session_cookie(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value)
{
    audit_cookie_t    c;
    ngx_table_elt_t  *h;
#if (nginx_version < 1023000)
    ngx_uint_t        i;
    ngx_table_elt_t **hh;
#endif

    ngx_memzero(&c, sizeof(audit_cookie_t));

#if (nginx_version >= 1023000)

    for (h = r->headers_in.cookie; h; h = h->next) {
        audit_cookie_scan(&c, (const char *) h->value.data, h->value.len,
                          (const char *) name->data, name->len);
    }

#else

    hh = r->headers_in.cookies.elts;

    for (i = 0; i < r->headers_in.cookies.nelts; i++) {
        h = hh[i];
        audit_cookie_scan(&c, (const char *) h->value.data, h->value.len,
                          (const char *) name->data, name->len);
    }

#endif

    if (audit_cookie_is_ambiguous(&c)) {
        return NGX_ERROR;
    }

    if (!c.found || c.value.len == 0) {
        return NGX_DECLINED;
    }

    value->data = (u_char *) c.value.data;
    value->len = c.value.len;

    return NGX_OK;
}


/* copies user, roles and session id into r->pool for variables/headers */

static ngx_int_t
ngx_http_audit_session_identity(ngx_http_request_t *r,
    ngx_http_audit_ctx_t *ctx)
{
    u_char         *p;
    size_t          len;
    ngx_uint_t      i;
    audit_token_t  *tok;

    tok = &ctx->token;

    ctx->user_id.len = ngx_strlen(tok->user_id);
    ctx->user_id.data = (u_char *) tok->user_id;

    if (tok->session_id) {
        ctx->session_id.len = ngx_strlen(tok->session_id);
        ctx->session_id.data = (u_char *) tok->session_id;
    }

    if (tok->nroles == 0) {
        return NGX_OK;
    }

    len = 0;
    for (i = 0; i < tok->nroles; i++) {
        len += ngx_strlen(tok->roles[i]) + 1;
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ctx->role.data = p;

    for (i = 0; i < tok->nroles; i++) {
        if (i) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, tok->roles[i], ngx_strlen(tok->roles[i]));
    }

    ctx->role.len = p - ctx->role.data;
    *p = '\0';

    return NGX_OK;
}


/*
 * Revoked: listed in audit_session_revoked, or logged out (a logout seen
 * by audit_logout ends the session's token for every worker, so a copy
 * of the cookie cannot be replayed until the token expires).
 */

static ngx_uint_t
ngx_http_audit_session_revoked(ngx_http_request_t *r,
    ngx_http_audit_loc_conf_t *alcf, ngx_http_audit_ctx_t *ctx)
{
    ngx_str_t                     key;
    ngx_uint_t                    found;
    ngx_slab_pool_t              *shpool;
    ngx_http_audit_shctx_t       *sh;
    ngx_http_audit_keyed_node_t  *kn;
    ngx_http_audit_main_conf_t   *amcf;

    if (ctx->session_id.len
        && alcf->revoked != NULL
        && audit_idset_contains(alcf->revoked,
                                (const char *) ctx->session_id.data,
                                ctx->session_id.len))
    {
        return 1;
    }

    amcf = ngx_http_get_module_main_conf(r, ngx_http_audit_module);

    if (amcf->shm_zone == NULL) {
        return 0;
    }

    sh = amcf->shm_zone->data;

    /* no logout seen yet: no lock to take (the usual case) */
    if (sh->nrevoked == 0) {
        return 0;
    }

    if (ngx_http_audit_session_revoke_key(r, ctx, &key) != NGX_OK) {
        return 1;   /* cannot tell: a logged-out session must not pass */
    }

    shpool = (ngx_slab_pool_t *) amcf->shm_zone->shm.addr;

    ngx_shmtx_lock(&shpool->mutex);

    kn = ngx_http_audit_keyed_find(&sh->revoked, &key);
    found = (kn != NULL && kn->expires > ngx_time());

    ngx_shmtx_unlock(&shpool->mutex);

    return found;
}


void
ngx_http_audit_session_revoke(ngx_http_request_t *r,
    ngx_http_audit_loc_conf_t *alcf, ngx_http_audit_ctx_t *ctx)
{
    time_t                        now;
    ngx_str_t                     key;
    ngx_slab_pool_t              *shpool;
    ngx_http_audit_shctx_t       *sh;
    ngx_http_audit_keyed_t       *room[3];
    ngx_http_audit_keyed_node_t  *kn;
    ngx_http_audit_main_conf_t   *amcf;
    ngx_log_t                     elog;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_audit_module);

    if (amcf->shm_zone == NULL) {
        return;
    }

    if (ngx_http_audit_session_revoke_key(r, ctx, &key) != NGX_OK) {
        ngx_http_audit_request_log(r, &elog);

        ngx_log_error(NGX_LOG_ALERT, &elog, 0,
                      "audit: a logged-out session could not be revoked");
        return;
    }

    sh = amcf->shm_zone->data;
    shpool = (ngx_slab_pool_t *) amcf->shm_zone->shm.addr;
    now = ngx_time();

    ngx_shmtx_lock(&shpool->mutex);

    ngx_http_audit_keyed_expire(&sh->revoked, shpool, now);

    kn = ngx_http_audit_keyed_find(&sh->revoked, &key);

    if (kn == NULL) {
        /*
         * A revocation still in force is never dropped to make room (a
         * flood of failed logins would bring a logged-out cookie back):
         * cached tokens and failed-login counters go instead
         */

        room[0] = &sh->cache;
        room[1] = &sh->bf;
        room[2] = NULL;

        kn = ngx_http_audit_keyed_add(&sh->revoked, shpool, &key, room);

        if (kn) {
            sh->nrevoked++;

        } else {
            sh->revocations_lost++;
            sh->revocation_lost_at = now;
        }
    }

    /* only as long as the token itself could still be used */

    if (kn) {
        kn->start = now;
        kn->expires = (ctx->token.exp > now ? ctx->token.exp : now)
                      + alcf->leeway + 1;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    if (kn == NULL) {
        ngx_http_audit_request_log(r, &elog);

        ngx_log_error(NGX_LOG_ALERT, &elog, 0,
                      "audit: audit_zone full, a logged-out session stays "
                      "valid until its token expires");

        ngx_http_audit_fault(r->connection->log, NULL, "module_fault",
                             "revocation_lost",
                             "audit_zone full: a logged-out session stays "
                             "valid until its token expires");
    }
}


/*
 * What a logout revokes: the session's id, or for a token without one the
 * token itself, as "token:" and its id below (an issuer's session id
 * cannot look like that by accident)
 */

static ngx_int_t
ngx_http_audit_session_revoke_key(ngx_http_request_t *r,
    ngx_http_audit_ctx_t *ctx, ngx_str_t *key)
{
    if (ctx->session_id.len) {
        *key = ctx->session_id;
        return NGX_OK;
    }

    return ngx_http_audit_session_token_id(r, &ctx->raw, "token:", key);
}


/*
 * A token without a session id stands for its session: prefix and the
 * first 16 bytes of the SHA-256 of what its signature signs (header and
 * payload, up to the last '.') in hex, never the token.  Not of the whole
 * token: the same claims verify under other signatures (an ECDSA
 * signature's s and n - s, base64url's unused low bits), and a logged-out
 * token re-signed that way must still be the revoked one.
 */

ngx_int_t
ngx_http_audit_session_token_id(ngx_http_request_t *r, ngx_str_t *token,
    const char *prefix, ngx_str_t *id)
{
    u_char  *p, md[32];
    size_t   n, len;

    n = ngx_strlen(prefix);

    for (len = token->len; len > 0 && token->data[len - 1] != '.'; len--) {
        /* void */
    }

    len = len ? len - 1 : token->len;

    if (len == 0
        || EVP_Digest(token->data, len, md, NULL, ngx_http_audit_sha256(),
                      NULL)
           != 1)
    {
        return NGX_ERROR;
    }

    p = ngx_pnalloc(r->pool, n + 32);
    if (p == NULL) {
        return NGX_ERROR;
    }

    id->data = p;
    p = ngx_cpymem(p, prefix, n);
    p = ngx_hex_dump(p, md, 16);
    id->len = p - id->data;

    return NGX_OK;
}


static ngx_uint_t
ngx_http_audit_session_header_safe(ngx_str_t *s)
{
    u_char  *p, *last;

    if (s->len == 0) {
        return 1;       /* and s->data may be NULL: no NULL + 0 */
    }

    last = s->data + s->len;

    for (p = s->data; p < last; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            return 0;
        }
    }

    return 1;
}


static void
ngx_http_audit_session_reason(ngx_http_audit_ctx_t *ctx, const char *reason)
{
    ctx->reason.len = ngx_strlen(reason);
    ctx->reason.data = (u_char *) reason;
}
