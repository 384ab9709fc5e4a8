-- Failures grouped as an error tracker would, in PostgreSQL itself: every
-- stored failure counts in audit.error_groups under the same fingerprint
-- the module sends to Sentry/GlitchTip (login_failure,
-- session_invalid:<reason>, authz_denied:<rule>, bruteforce_suspected), so
-- a deployment without a DSN still sees "expired session: 47" as one group.
--
-- A row trigger: rows that ON CONFLICT DO NOTHING skips (a replay) fire
-- nothing, so a spool replayed twice counts once.

CREATE FUNCTION audit.group_failure()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, audit, pg_temp
AS $fn$
DECLARE
    fp     text;
    title  text;
BEGIN
    CASE NEW.action
    WHEN 'login_failure' THEN
        fp := 'login_failure';
        title := 'Failed login';
    WHEN 'session_invalid' THEN
        fp := 'session_invalid:' || coalesce(NEW.reason, 'unknown');
        title := 'Refused session: ' || coalesce(NEW.reason, 'unknown');
    WHEN 'authz_check' THEN
        fp := 'authz_denied:' || coalesce(NEW.rule, 'unknown');
        title := 'Authorization denied: ' || coalesce(NEW.rule, 'unknown');
    ELSE
        fp := 'bruteforce_suspected';
        title := 'Brute force suspected';
    END CASE;

    PERFORM audit.record_error(fp, title,
        jsonb_strip_nulls(jsonb_build_object(
            'ip', host(NEW.ip), 'route', NEW.route, 'role', NEW.role,
            'request_id', NEW.request_id, 'reason', NEW.reason)),
        NEW.ts, 1);

    RETURN NULL;
END
$fn$;

COMMENT ON FUNCTION audit.group_failure() IS
    'Trigger: counts each stored failure in audit.error_groups under its fingerprint';

CREATE TRIGGER group_failures
    AFTER INSERT ON audit.events
    FOR EACH ROW
    WHEN (NEW.action IN ('login_failure', 'session_invalid', 'bruteforce_suspected')
          OR (NEW.action = 'authz_check' AND NEW.decision = 'denied'))
    EXECUTE FUNCTION audit.group_failure();
