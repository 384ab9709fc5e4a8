-- request_rejected: a request target or method override the module refused
-- before any policy (a raw path a portal could read as another one, an
-- ambiguous X-HTTP-Method-Override / _method).  It is a failure like the
-- others: grouped under the fingerprint the module sends to Sentry,
-- request_rejected:<reason> (encoded_slash, dot_segment, method_override,
-- ...), so "someone is probing the portal's paths" shows as one group with
-- a count.
--
-- CREATE OR REPLACE keeps the functions' owner and privileges; ingest()
-- calls them by name, so it needs no change.

CREATE OR REPLACE FUNCTION audit.failure_fingerprint(action text, decision text, reason text, rule text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $fn$
    SELECT CASE
        WHEN $1 = 'login_failure' THEN 'login_failure'
        WHEN $1 = 'session_invalid' THEN 'session_invalid:' || coalesce($3, 'unknown')
        WHEN $1 = 'authz_check' AND $2 = 'denied' THEN 'authz_denied:' || coalesce($4, 'unknown')
        WHEN $1 = 'bruteforce_suspected' THEN 'bruteforce_suspected'
        WHEN $1 = 'request_rejected' THEN 'request_rejected:' || coalesce($3, 'unknown')
    END
$fn$;
COMMENT ON FUNCTION audit.failure_fingerprint(text, text, text, text) IS
    'The error group of a failure event (action, decision, reason, rule): login_failure, session_invalid:<reason>, '
    'authz_denied:<rule>, bruteforce_suspected, request_rejected:<reason>; NULL for an event that is not a failure';

CREATE OR REPLACE FUNCTION audit.failure_title(action text, reason text, rule text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $fn$
    SELECT CASE $1
        WHEN 'login_failure' THEN 'Failed login'
        WHEN 'session_invalid' THEN 'Refused session: ' || coalesce($2, 'unknown')
        WHEN 'authz_check' THEN 'Authorization denied: ' || coalesce($3, 'unknown')
        WHEN 'request_rejected' THEN 'Rejected request: ' || coalesce($2, 'unknown')
        ELSE 'Brute force suspected'
    END
$fn$;
