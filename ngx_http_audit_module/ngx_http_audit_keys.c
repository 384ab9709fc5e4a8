
/*
 * ngx_http_audit_module: session key files.
 *
 * "audit_session_keys FILE [refresh=TIME]" reads and parses the key set at
 * configuration time, so a reload re-reads it and a file that fails to
 * parse leaves the running configuration (and its keys) in place.  A
 * worker may later swap in a newer set: on a timer with "refresh=", or
 * when a token names a kid the set lacks (ngx_http_audit_session.c),
 * never a set that failed to parse.  What audit_health says of the keys
 * (when the sets in use were read, whether the last read failed) is in
 * the worker's gauges in the audit zone, kept by
 * ngx_http_audit_keys_publish().
 */


#include "ngx_http_audit_module.h"
#include "audit_file.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>


static char *ngx_http_audit_keys_load(ngx_conf_t *cf,
    ngx_http_audit_loc_conf_t *alcf, ngx_str_t *path, time_t refresh);
static void ngx_http_audit_keys_free(void *data);
static void ngx_http_audit_keys_refresh(ngx_event_t *ev);
static audit_keyset_t *ngx_http_audit_keys_read(ngx_str_t *path,
    u_char *digest, char *err, size_t errlen);


char *
ngx_http_audit_session_keys(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_audit_loc_conf_t *alcf = conf;

    time_t      refresh;
    ngx_str_t  *value, s;

    if (alcf->keys != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;
    refresh = 0;

    if (cf->args->nelts == 3) {

        if (ngx_strncmp(value[2].data, "refresh=", 8) != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" in "
                               "\"audit_session_keys\"", &value[2]);
            return NGX_CONF_ERROR;
        }

        s.data = value[2].data + 8;
        s.len = value[2].len - 8;

        refresh = ngx_parse_time(&s, 1);
        if (refresh == (time_t) NGX_ERROR || refresh == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid refresh time \"%V\" in "
                               "\"audit_session_keys\"", &value[2]);
            return NGX_CONF_ERROR;
        }

    }

    return ngx_http_audit_keys_load(cf, alcf, &value[1], refresh);
}


static char *
ngx_http_audit_keys_load(ngx_conf_t *cf, ngx_http_audit_loc_conf_t *alcf,
    ngx_str_t *path, time_t refresh)
{
    char                         err[NGX_HTTP_AUDIT_ERRLEN];
    ngx_str_t                    full;
    ngx_pool_cleanup_t          *cln;
    ngx_http_audit_keys_t       *keys, **kp;
    ngx_http_audit_main_conf_t  *amcf;

    full = *path;

    if (ngx_conf_full_name(cf->cycle, &full, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    keys = ngx_pcalloc(cf->pool, sizeof(ngx_http_audit_keys_t));
    if (keys == NULL) {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    /* ngx_conf_full_name() leaves the name NUL-terminated */

    keys->path = full;
    keys->keyset = ngx_http_audit_keys_read(&full, keys->digest, err,
                                            sizeof(err));

    if (keys->keyset == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"audit_session_keys\" cannot use \"%V\": %s",
                           &full, err);
        return NGX_CONF_ERROR;
    }

    /* frees whichever set is current when the cycle goes */

    cln->handler = ngx_http_audit_keys_free;
    cln->data = keys;

    keys->refresh = refresh;
    keys->reread = ngx_time();
    keys->loaded = keys->reread;

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_audit_module);

    kp = ngx_array_push(&amcf->keys);
    if (kp == NULL) {
        return NGX_CONF_ERROR;
    }

    *kp = keys;

    alcf->keys = keys;

    return NGX_CONF_OK;
}


static void
ngx_http_audit_keys_free(void *data)
{
    ngx_http_audit_keys_t  *keys = data;

    audit_keyset_free(keys->keyset);
    keys->keyset = NULL;
}


ngx_int_t
ngx_http_audit_keys_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                   i;
    ngx_http_audit_keys_t      **keys;
    ngx_http_audit_main_conf_t  *amcf;

    amcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_audit_module);

    if (amcf == NULL) {
        return NGX_OK;
    }

    keys = amcf->keys.elts;

    for (i = 0; i < amcf->keys.nelts; i++) {

        if (keys[i]->refresh == 0) {
            continue;
        }

        keys[i]->timer.handler = ngx_http_audit_keys_refresh;
        keys[i]->timer.data = keys[i];
        keys[i]->timer.log = cycle->log;

        /* a pending re-read must not hold up a graceful shutdown */
        keys[i]->timer.cancelable = 1;

        ngx_add_timer(&keys[i]->timer, keys[i]->refresh * 1000);
    }

    return NGX_OK;
}


/*
 * This worker's key sets, in its gauges: the oldest read among the sets
 * in use, how many sets' last read failed and the oldest read among
 * those (what audit_health judges: a set never re-read is old but not
 * stale), and the last failure.
 */

void
ngx_http_audit_keys_publish(ngx_cycle_t *cycle)
{
    time_t                       loaded, stale, failed;
    ngx_uint_t                   i, failing;
    ngx_http_audit_keys_t      **keys;
    ngx_http_audit_main_conf_t  *amcf;

    amcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_audit_module);

    if (amcf == NULL || amcf->stats == NULL) {
        return;
    }

    keys = amcf->keys.elts;
    loaded = 0;
    stale = 0;
    failed = 0;
    failing = 0;

    for (i = 0; i < amcf->keys.nelts; i++) {

        if (loaded == 0 || keys[i]->loaded < loaded) {
            loaded = keys[i]->loaded;
        }

        if (keys[i]->failing && (stale == 0 || keys[i]->loaded < stale)) {
            stale = keys[i]->loaded;
        }

        failed = ngx_max(failed, keys[i]->failed);
        failing += keys[i]->failing;
    }

    amcf->stats->keys_loaded = (ngx_atomic_uint_t) loaded;
    amcf->stats->keys_failing = failing;
    amcf->stats->keys_stale = (ngx_atomic_uint_t) stale;
    amcf->stats->keys_failed_at = (ngx_atomic_uint_t) failed;
}


static void
ngx_http_audit_keys_refresh(ngx_event_t *ev)
{
    ngx_http_audit_keys_t  *keys = ev->data;

    (void) ngx_http_audit_keys_reread(keys, ev->log);

    if (!ngx_exiting) {
        ngx_add_timer(ev, keys->refresh * 1000);
    }
}


/*
 * Parses the key file again and swaps the new set in only when it parsed:
 * a half-written or broken file leaves the keys in use untouched.
 */

ngx_int_t
ngx_http_audit_keys_reread(ngx_http_audit_keys_t *keys, ngx_log_t *log)
{
    char             err[NGX_HTTP_AUDIT_ERRLEN];
    u_char           digest[NGX_HTTP_AUDIT_CACHE_HASH];
    audit_keyset_t  *fresh;

    keys->reread = ngx_time();

    fresh = ngx_http_audit_keys_read(&keys->path, digest, err, sizeof(err));

    if (fresh == NULL) {
        keys->failed = keys->reread;
        keys->failing = 1;
        ngx_http_audit_keys_publish((ngx_cycle_t *) ngx_cycle);

        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "audit: keeping the current keys, re-reading \"%V\" "
                      "failed: %s", &keys->path, err);

        ngx_http_audit_fault(log, NULL, "module_fault",
                             "keys_unreadable", "Session key file "
                             "unreadable: the previous keys are in use");

        return NGX_ERROR;
    }

    ngx_log_error(NGX_LOG_INFO, log, 0,
                  "audit: re-read %uz keys from \"%V\"",
                  audit_keyset_size(fresh), &keys->path);

    audit_keyset_free(keys->keyset);
    keys->keyset = fresh;
    keys->generation++;
    ngx_memcpy(keys->digest, digest, sizeof(digest));

    keys->loaded = keys->reread;
    keys->failing = 0;
    ngx_http_audit_keys_publish((ngx_cycle_t *) ngx_cycle);

    return NGX_OK;
}


/*
 * Reads and parses a key file, and digests its bytes: the digest is part
 * of every verified-token cache key, so a verdict reached with other keys
 * is never reused.
 */

static audit_keyset_t *
ngx_http_audit_keys_read(ngx_str_t *path, u_char *digest, char *err,
    size_t errlen)
{
    size_t           len;
    u_char          *data;
    audit_keyset_t  *keyset;

    data = audit_file_read((const char *) path->data, AUDIT_KEYS_FILE_MAX,
                           &len, err, errlen);
    if (data == NULL) {
        return NULL;
    }

    keyset = audit_keyset_parse(data, len, err, errlen);

    if (keyset
        && EVP_Digest(data, len, digest, NULL, ngx_http_audit_sha256(), NULL)
           != 1)
    {
        ngx_cpystrn((u_char *) err, (u_char *) "SHA-256 failed", errlen);
        audit_keyset_free(keyset);
        keyset = NULL;
    }

    OPENSSL_cleanse(data, len);
    free(data);

    return keyset;
}
