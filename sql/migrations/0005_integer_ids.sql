-- 0005_integer_ids: the query functions take the ids an admin types.
--
-- record_history(type text, id text, ...) and user_activity(user_id text,
-- ...) answered audit.record_history('patient', 42) with "function does
-- not exist": PostgreSQL casts an integer to text only on assignment, not
-- to pick a function.  An overload with a bigint id takes it and asks the
-- text one, so the answer is the same rows whichever way it is typed.  A
-- quoted id ('42', or a placeholder sent untyped) still picks the text
-- function: for an unknown literal PostgreSQL prefers the string category.
-- A resource or user id is the text the module logged: 42, not 042.

CREATE FUNCTION audit.record_history(type text, id bigint, since timestamptz DEFAULT NULL)
RETURNS TABLE (user_id text, role text, ts timestamptz, access text, request_id text,
               session_id text, ip inet)
LANGUAGE sql STABLE
AS $fn$
    SELECT * FROM audit.record_history($1, $2::text, $3)
$fn$;

COMMENT ON FUNCTION audit.record_history(text, bigint, timestamptz) IS
    'audit.record_history(type, id::text, since), for an id typed as a number. '
    'Example: SELECT * FROM audit.record_history(''patient'', 42, now() - interval ''7 days'')';

CREATE FUNCTION audit.user_activity(user_id bigint, since timestamptz DEFAULT NULL)
RETURNS TABLE (ts timestamptz, action text, route text, status integer,
               resource_type text, resource_id text, decision text, reason text,
               request_id text, ip inet)
LANGUAGE sql STABLE
AS $fn$
    SELECT * FROM audit.user_activity($1::text, $2)
$fn$;

COMMENT ON FUNCTION audit.user_activity(bigint, timestamptz) IS
    'audit.user_activity(user_id::text, since), for a user id typed as a number.';

REVOKE ALL ON FUNCTION audit.record_history(text, bigint, timestamptz),
                       audit.user_activity(bigint, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.record_history(text, bigint, timestamptz),
                          audit.user_activity(bigint, timestamptz) TO audit_reader;
