-- 0008_console: the audit console's history (docs/console.md).
--
-- nginx's console (audit_console_pg) asks these two, as a login role that
-- is a member of audit_reader and nothing else, with its parameters bound
-- ($1, $2, ...), never pasted into the SQL:
--
--     CREATE ROLE console_reader LOGIN PASSWORD '...' IN ROLE audit_reader;
--
-- Both answer newest first, a page at a time (lim rows after off), for the
-- console's "who accessed this record" and "what did this user do"; the
-- indexes of 0001 (record_access by resource, events by user_id) serve
-- them.  record_history() and user_activity() stay as they are (oldest
-- first, for psql and reports).

CREATE FUNCTION audit.console_record(type text, id text, lim integer, off integer)
RETURNS TABLE (ts timestamptz, user_id text, role text, access text, ip inet,
               request_id text, session_id text)
LANGUAGE sql STABLE
AS $fn$
    SELECT e.ts, e.user_id, e.role, e.access, e.ip, e.request_id, e.session_id
    FROM audit.events e
    WHERE e.action = 'record_access'
      AND e.resource_type = $1 AND e.resource_id = $2
    ORDER BY e.ts DESC, e.producer DESC, e.seq DESC
    LIMIT least(greatest($3, 1), 1000) OFFSET greatest($4, 0)
$fn$;
COMMENT ON FUNCTION audit.console_record(text, text, integer, integer) IS
    'Who accessed a record, newest first, a page at a time (lim rows, at most 1000, after off): '
    'the console''s "who accessed this record" (audit_console_pg).';

CREATE FUNCTION audit.console_user(user_id text, lim integer, off integer)
RETURNS TABLE (ts timestamptz, action text, severity text, route text, status integer,
               resource_type text, resource_id text, access text, reason text,
               ip inet, request_id text)
LANGUAGE sql STABLE
AS $fn$
    SELECT e.ts, e.action, e.severity, e.route, e.status, e.resource_type,
           e.resource_id, e.access, e.reason, e.ip, e.request_id
    FROM audit.events e
    WHERE e.user_id = $1
    ORDER BY e.ts DESC, e.producer DESC, e.seq DESC
    LIMIT least(greatest($2, 1), 1000) OFFSET greatest($3, 0)
$fn$;
COMMENT ON FUNCTION audit.console_user(text, integer, integer) IS
    'Everything one user did, newest first, a page at a time: the console''s "what did this user do".';

REVOKE ALL ON FUNCTION audit.console_record(text, text, integer, integer),
                       audit.console_user(text, integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.console_record(text, text, integer, integer),
                          audit.console_user(text, integer, integer) TO audit_reader;
