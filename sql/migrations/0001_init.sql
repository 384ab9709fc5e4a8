-- 0001_init: the audit schema.
--
-- Applied by sql/migrate, in one transaction, as a superuser or as the
-- database's owner (see "Roles" below for what the owner then needs).  Every
-- object here is owned by the role that runs it: "the schema owner".  Run
-- every later migration as that same role.
--
-- What nginx does (the contract with the shipper, ngx_http_audit_pg.c), on
-- each connection, as audit_writer:
--
--     CREATE TEMP TABLE IF NOT EXISTS audit_staging (line text) ON COMMIT DELETE ROWS;
--
-- and per batch, in one transaction (explicit, or the implicit one of a
-- multi-statement simple query):
--
--     COPY audit_staging (line) FROM STDIN;     -- one JSON event line per row
--     SELECT audit.ingest();                    -- rows inserted, bigint
--
-- Each COPY row is one event exactly as written to the JSON log, without its
-- newline, in COPY text format (backslashes doubled), client_encoding UTF8.
-- audit.ingest() never fails because of a bad line: such lines go to
-- audit.rejected_lines, so one poison line cannot block a spool forever.

SET LOCAL client_min_messages = warning;

DO $$
BEGIN
    IF current_setting('server_encoding') <> 'UTF8' THEN
        RAISE EXCEPTION 'the audit database must be UTF8 (it is %)',
            current_setting('server_encoding')
            USING HINT = 'createdb -E UTF8 -T template0 ...; the hash chain is over the UTF-8 bytes of each line';
    END IF;
END
$$;

CREATE SCHEMA IF NOT EXISTS audit;
REVOKE ALL ON SCHEMA audit FROM PUBLIC;
COMMENT ON SCHEMA audit IS
    'ngx_http_audit_module: audit events (audit.events), their query functions, error groups';


-- ---------------------------------------------------------------------------
-- Roles (cluster-wide: created once, reused by every audit database)
-- ---------------------------------------------------------------------------

DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['audit_writer', 'audit_reader'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', r);
                EXECUTE format('COMMENT ON ROLE %I IS %L', r, CASE r
                    WHEN 'audit_writer' THEN 'nginx (audit_pg): may only create its temporary staging table and call audit.ingest() and audit.record_error()'
                    ELSE 'auditors, reports: may only read the audit schema and call its query functions' END);
            EXCEPTION WHEN insufficient_privilege THEN
                RAISE EXCEPTION 'role % does not exist and % may not create it', r, current_user
                    USING HINT = format('as a superuser: CREATE ROLE %I NOLOGIN; GRANT audit_writer TO %I', r, current_user);
            END;
        END IF;
    END LOOP;

    -- audit.ingest() runs as the schema owner and reads the caller's
    -- temporary table pg_temp.audit_staging, which audit_writer owns.  A
    -- superuser may; any other owner needs audit_writer's privileges.
    IF NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user)
       AND NOT pg_catalog.pg_has_role(current_user, 'audit_writer', 'USAGE')
    THEN
        BEGIN
            EXECUTE format('GRANT audit_writer TO %I', current_user);
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE EXCEPTION 'audit.ingest() (owned by %) must be able to read audit_writer''s staging table', current_user
                USING HINT = format('as a superuser: GRANT audit_writer TO %I', current_user);
        END;
    END IF;
END
$$;

-- Functions are executable by PUBLIC by default: not here.
ALTER DEFAULT PRIVILEGES IN SCHEMA audit REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
-- Partitions made later (by audit.ensure_partitions) are readable like their parent.
ALTER DEFAULT PRIVILEGES IN SCHEMA audit GRANT SELECT ON TABLES TO audit_reader;


-- ---------------------------------------------------------------------------
-- The events
-- ---------------------------------------------------------------------------

CREATE TABLE audit.events (
    id              uuid        NOT NULL,
    ts              timestamptz NOT NULL,
    action          text        NOT NULL,
    severity        text,
    user_id         text,
    role            text,
    session_id      text,
    attempted_user  text,
    ip              inet,
    method          text,
    route           text,
    status          integer,
    resource_type   text,
    resource_id     text,
    access          text,
    reason          text,
    decision        text,
    rule            text,
    request_id      text,
    producer        text,
    seq             bigint,
    prev            text,
    line            text        NOT NULL,
    extra           jsonb,
    PRIMARY KEY (id, ts)
) PARTITION BY RANGE (ts);

COMMENT ON TABLE audit.events IS
    'One row per audit event (docs/directives.md, "Audit events"), range-partitioned by UTC month on ts '
    '(partitions audit.events_YYYY_MM, no DEFAULT partition: audit.ingest() creates a missing month). '
    'Every column is derived from line by audit.event_from_line(); line is authoritative.';
COMMENT ON COLUMN audit.events.id IS 'the event id (UUIDv7): with ts the primary key, so a replay adds nothing';
COMMENT ON COLUMN audit.events.ts IS 'when it happened (the line''s RFC 3339 UTC timestamp)';
COMMENT ON COLUMN audit.events.role IS 'the session''s roles, joined by ","';
COMMENT ON COLUMN audit.events.ip IS 'the client address; NULL when the line''s "ip" is not a plain IPv4/IPv6 address (then it is in extra)';
COMMENT ON COLUMN audit.events.producer IS 'the chain: host/worker-start-ms/worker';
COMMENT ON COLUMN audit.events.seq IS 'the chain: 0, 1, 2... per producer';
COMMENT ON COLUMN audit.events.prev IS 'the chain: hex SHA-256 of the producer''s previous line; NULL for seq 0';
COMMENT ON COLUMN audit.events.line IS 'the exact JSON line as logged (without its newline): the hash chain is over its UTF-8 bytes';
COMMENT ON COLUMN audit.events.extra IS 'every other member of the line (user_agent, count, window, ...); NULL when none';

CREATE INDEX events_resource_idx ON audit.events (resource_type, resource_id, ts);
CREATE INDEX events_user_idx     ON audit.events (user_id, ts);
CREATE INDEX events_action_idx   ON audit.events (action, ts);
CREATE INDEX events_failed_login_ip_idx ON audit.events (ip, ts) WHERE action = 'login_failure';
CREATE INDEX events_chain_idx    ON audit.events (producer, seq);


-- The members of a line that have a column, as jsonb_populate_record() reads
-- them (ip stays text here: it becomes inet only when it is a plain address).
CREATE TYPE audit.event_fields AS (
    id              uuid,
    ts              timestamptz,
    action          text,
    severity        text,
    user_id         text,
    role            text,
    session_id      text,
    attempted_user  text,
    ip              text,
    method          text,
    route           text,
    status          integer,
    resource_type   text,
    resource_id     text,
    access          text,
    reason          text,
    decision        text,
    rule            text,
    request_id      text,
    producer        text,
    seq             bigint,
    prev            text
);
COMMENT ON TYPE audit.event_fields IS 'the members of an event line that have a column in audit.events';


-- Lines that could not be stored (not JSON, no id/ts/action, a value of the
-- wrong type): kept, never retried, so one bad line cannot block a batch.
CREATE TABLE audit.rejected_lines (
    line_sha256     text        PRIMARY KEY,
    line            text        NOT NULL,
    sqlstate        text,
    error           text,
    first_seen      timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE audit.rejected_lines IS
    'staging lines audit.ingest() could not turn into an audit.events row, with the error; should stay empty';


-- ---------------------------------------------------------------------------
-- Parsing a line
-- ---------------------------------------------------------------------------

-- An inlinable SQL function: one jsonb parse per line.  The ip regex accepts
-- only what inet also accepts (dotted-quad IPv4 without leading zeros, IPv6
-- without zone or prefix), so a line never fails on its ip.
CREATE FUNCTION audit.event_from_line(line text)
RETURNS SETOF audit.events
LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
AS $fn$
    SELECT f.id, f.ts, f.action, f.severity, f.user_id, f.role, f.session_id,
           f.attempted_user,
           CASE WHEN l.ip_ok THEN f.ip::inet END,
           f.method, f.route, f.status, f.resource_type, f.resource_id,
           f.access, f.reason, f.decision, f.rule, f.request_id, f.producer,
           f.seq, f.prev, l.line,
           NULLIF((l.j - '{id,ts,action,severity,user_id,role,session_id,attempted_user,ip,method,route,status,resource_type,resource_id,access,reason,decision,rule,request_id,producer,seq,prev}'::text[])
                  || CASE WHEN f.ip IS NOT NULL AND NOT l.ip_ok
                          THEN jsonb_build_object('ip', l.j -> 'ip')
                          ELSE '{}'::jsonb END,
                  '{}'::jsonb)
    FROM (SELECT p.line, p.j,
                 CASE WHEN strpos(p.j ->> 'ip', ':') = 0 THEN
                      p.j ->> 'ip' ~ '^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$'
                 ELSE p.j ->> 'ip' ~ ('^('
                      '([0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}'
                      '|([0-9A-Fa-f]{1,4}:){1,7}:'
                      '|([0-9A-Fa-f]{1,4}:){1,6}:[0-9A-Fa-f]{1,4}'
                      '|([0-9A-Fa-f]{1,4}:){1,5}(:[0-9A-Fa-f]{1,4}){1,2}'
                      '|([0-9A-Fa-f]{1,4}:){1,4}(:[0-9A-Fa-f]{1,4}){1,3}'
                      '|([0-9A-Fa-f]{1,4}:){1,3}(:[0-9A-Fa-f]{1,4}){1,4}'
                      '|([0-9A-Fa-f]{1,4}:){1,2}(:[0-9A-Fa-f]{1,4}){1,5}'
                      '|[0-9A-Fa-f]{1,4}:(:[0-9A-Fa-f]{1,4}){1,6}'
                      '|:((:[0-9A-Fa-f]{1,4}){1,7}|:)'
                      '|::([Ff]{4}(:0{1,4})?:)?(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}'
                      '|([0-9A-Fa-f]{1,4}:){1,4}:(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}'
                      '|([0-9A-Fa-f]{1,4}:){6}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}'
                      ')$')
                 END AS ip_ok
          FROM (SELECT line,
                       -- jsonb cannot hold U+0000: it is read as U+FFFD
                       replace(line, '\u0000', '\ufffd')::jsonb AS j
                OFFSET 0) p                 -- OFFSET 0: parse once, not per column
          OFFSET 0) l
    CROSS JOIN LATERAL jsonb_populate_record(NULL::audit.event_fields, l.j) f
$fn$;
COMMENT ON FUNCTION audit.event_from_line(text) IS
    'The audit.events row an event line stands for (errors on a line that is not a JSON object or has a value of the wrong type). '
    'audit.ingest() stores exactly this; audit.verify_chain() compares every row with it.';

CREATE FUNCTION audit.try_event_from_line(line text)
RETURNS audit.events
LANGUAGE plpgsql STABLE            -- not PARALLEL SAFE: a subtransaction per call
AS $fn$
DECLARE
    e audit.events;
BEGIN
    SELECT * INTO e FROM audit.event_from_line(line);
    RETURN e;
EXCEPTION WHEN OTHERS THEN
    RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION audit.try_event_from_line(text) IS
    'audit.event_from_line(), or NULL for a line it cannot parse';


-- ---------------------------------------------------------------------------
-- Partitions and retention
-- ---------------------------------------------------------------------------

CREATE FUNCTION audit.ensure_partitions(start date, months integer DEFAULT 1)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, audit, pg_temp
AS $fn$
DECLARE
    m       date;
    name    text;
    created integer := 0;
BEGIN
    IF start IS NULL OR months IS NULL OR months < 0 THEN
        RAISE EXCEPTION 'audit.ensure_partitions(%, %): need a date and months >= 0', start, months;
    END IF;
    m := make_date(extract(year FROM start)::int, extract(month FROM start)::int, 1);
    FOR i IN 1 .. months LOOP
        name := 'events_' || to_char(m, 'YYYY_MM');
        IF to_regclass(format('audit.%I', name)) IS NULL THEN
            -- concurrent ingest() calls meeting the same new month
            PERFORM pg_advisory_xact_lock(hashtextextended('audit.ensure_partitions', 0));
            IF to_regclass(format('audit.%I', name)) IS NULL THEN
                EXECUTE format('CREATE TABLE audit.%I PARTITION OF audit.events FOR VALUES FROM (%L) TO (%L)',
                               name, to_char(m, 'YYYY-MM-DD') || ' 00:00:00+00',
                               to_char(m + interval '1 month', 'YYYY-MM-DD') || ' 00:00:00+00');
                created := created + 1;
            END IF;
        END IF;
        m := (m + interval '1 month')::date;
    END LOOP;
    RETURN created;
END
$fn$;
COMMENT ON FUNCTION audit.ensure_partitions(date, integer) IS
    'Creates the missing monthly partitions audit.events_YYYY_MM for months UTC months from the month of start; '
    'returns how many it created. audit.ingest() calls it for a month it meets without a partition; creating one '
    'locks audit.events briefly (ACCESS EXCLUSIVE), so run it ahead from cron, e.g. '
    'SELECT audit.ensure_partitions(current_date, 3) monthly.';

-- Retention: a whole month at a time, DROP TABLE of the partition (no DELETE,
-- no vacuum debt).  A month is dropped only when it ends on or before cutoff
-- (UTC midnight).  The chains then start after the cut: check them with
-- audit.verify_chain(<cutoff>) rather than verify_chain(NULL), which also
-- expects every chain to start at seq 0.  Owner only (not granted).
CREATE FUNCTION audit.drop_partitions_before(cutoff date)
RETURNS SETOF text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, audit, pg_temp
AS $fn$
DECLARE
    p record;
BEGIN
    IF cutoff IS NULL THEN
        RAISE EXCEPTION 'audit.drop_partitions_before(NULL): need a date';
    END IF;
    FOR p IN
        SELECT c.relname, to_date(substr(c.relname, 8), 'YYYY_MM') AS month
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'audit.events'::regclass
          AND c.relname ~ '^events_[0-9]{4}_[0-9]{2}$'
        ORDER BY 2
    LOOP
        EXIT WHEN (p.month + interval '1 month')::date > cutoff;
        EXECUTE format('DROP TABLE audit.%I', p.relname);
        RETURN NEXT 'audit.' || p.relname;
    END LOOP;
END
$fn$;
COMMENT ON FUNCTION audit.drop_partitions_before(date) IS
    'Retention: drops every monthly partition of audit.events that ends on or before cutoff (DROP TABLE, whole months only); '
    'returns the partitions dropped. Verify chains afterwards with audit.verify_chain(cutoff).';


-- ---------------------------------------------------------------------------
-- Ingest
-- ---------------------------------------------------------------------------

CREATE FUNCTION audit.ingest()
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, audit, pg_temp
SET TimeZone = 'UTC'
AS $fn$
DECLARE
    staging   regclass := to_regclass('pg_temp.audit_staging');
    inserted  bigint := 0;
    k         bigint;
    rejected  bigint := 0;
    m         date;
    months    date[] := '{}';
    r         record;
    e         audit.events;
    state     text;
    msg       text;
BEGIN
    IF staging IS NULL THEN
        RAISE EXCEPTION 'audit.ingest(): no temporary table audit_staging in this session'
            USING ERRCODE = 'undefined_table',
                  HINT = 'CREATE TEMP TABLE audit_staging (line text) ON COMMIT DELETE ROWS';
    END IF;
    -- This runs as the schema owner and reads a table the caller made: only
    -- a plain temporary table of this session, without row security, with a
    -- text column "line" (a view or policy there could run the caller's code
    -- with the owner's rights).
    IF NOT EXISTS (
        SELECT 1
        FROM pg_class c
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'line'
                           AND NOT a.attisdropped AND a.atttypid = 'text'::regtype
        WHERE c.oid = staging AND c.relkind = 'r' AND c.relpersistence = 't'
          AND c.relnamespace = pg_my_temp_schema() AND NOT c.relrowsecurity)
    THEN
        RAISE EXCEPTION 'audit.ingest(): pg_temp.audit_staging must be a plain temporary table with a text column "line"'
            USING ERRCODE = 'wrong_object_type';
    END IF;

    -- 1. the whole batch at once: the usual case; 2. when that fails, a
    --    month may have no partition yet: make the months the lines name
    --    (a cheap look at "ts", which is never inside a string: quotes
    --    there are escaped), then the whole batch again
    FOR attempt IN 1 .. 2 LOOP
        IF attempt = 2 THEN
            FOR m IN
                SELECT DISTINCT to_date(x[1], 'YYYY-MM')
                FROM ONLY pg_temp.audit_staging s,
                     regexp_match(s.line, '"ts":"([1-9][0-9]{3}-(0[1-9]|1[0-2]))-') x
                WHERE x IS NOT NULL
            LOOP
                PERFORM audit.ensure_partitions(m, 1);
                months := months || m;
            END LOOP;
        END IF;

        BEGIN
            INSERT INTO audit.events
            SELECT e.* FROM ONLY pg_temp.audit_staging s
            CROSS JOIN LATERAL audit.event_from_line(s.line) e
            ON CONFLICT DO NOTHING;
            GET DIAGNOSTICS inserted = ROW_COUNT;
            RETURN inserted;
        EXCEPTION WHEN OTHERS THEN
            NULL;
        END;
    END LOOP;

    -- 3. a bad line in the batch: line by line, the bad ones set aside
    inserted := 0;
    FOR r IN SELECT s.line FROM ONLY pg_temp.audit_staging s LOOP
        BEGIN
            SELECT * INTO STRICT e FROM audit.event_from_line(r.line);
            m := date_trunc('month', e.ts AT TIME ZONE 'UTC')::date;
            IF m IS NOT NULL AND NOT m = ANY (months) THEN
                PERFORM audit.ensure_partitions(m, 1);
            END IF;
            INSERT INTO audit.events SELECT (e).* ON CONFLICT DO NOTHING;
            GET DIAGNOSTICS k = ROW_COUNT;
            inserted := inserted + k;
            IF m IS NOT NULL AND NOT m = ANY (months) THEN
                months := months || m;
            END IF;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
            -- only what is wrong with the line itself (a data exception,
            -- a missing id/ts/action); anything else (a deadlock, a lock
            -- timeout, a full disk) fails the batch, to be sent again
            IF left(state, 2) NOT IN ('22', '23') THEN
                RAISE;
            END IF;
            INSERT INTO audit.rejected_lines (line_sha256, line, sqlstate, error)
            VALUES (encode(sha256(convert_to(r.line, 'UTF8')), 'hex'), r.line, state, msg)
            ON CONFLICT DO NOTHING;
            rejected := rejected + 1;
        END;
    END LOOP;
    IF rejected > 0 THEN
        RAISE WARNING 'audit.ingest(): % line(s) rejected, kept in audit.rejected_lines', rejected;
    END IF;
    RETURN inserted;
END
$fn$;
COMMENT ON FUNCTION audit.ingest() IS
    'Inserts every line of the caller''s pg_temp.audit_staging (line text) into audit.events with ON CONFLICT DO NOTHING; '
    'returns the number of rows inserted (0 for a replayed batch). Creates a missing monthly partition. '
    'A line that cannot be stored goes to audit.rejected_lines (with a WARNING) instead of failing the batch. '
    'Per batch: COPY audit_staging (line) FROM STDIN; SELECT audit.ingest(); in one transaction.';


-- ---------------------------------------------------------------------------
-- Error groups (failures, when no Sentry DSN is set)
-- ---------------------------------------------------------------------------

CREATE TABLE audit.error_groups (
    fingerprint     text        PRIMARY KEY,
    title           text,
    count           bigint      NOT NULL DEFAULT 0,
    first_seen      timestamptz NOT NULL,
    last_seen       timestamptz NOT NULL,
    last_tags       jsonb
);
COMMENT ON TABLE audit.error_groups IS
    'Failures grouped by fingerprint when no Sentry DSN is set: one row per kind of failure, with a count';

CREATE FUNCTION audit.record_error(fingerprint text, title text, tags jsonb,
                                   seen_at timestamptz DEFAULT now(),
                                   occurrences bigint DEFAULT 1)
RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, audit, pg_temp
AS $fn$
    INSERT INTO audit.error_groups AS g
           (fingerprint, title, count, first_seen, last_seen, last_tags)
    VALUES ($1, $2, greatest(coalesce($5, 1), 1), coalesce($4, now()), coalesce($4, now()), $3)
    ON CONFLICT (fingerprint) DO UPDATE
       SET count      = g.count + EXCLUDED.count,
           title      = coalesce(EXCLUDED.title, g.title),
           first_seen = least(g.first_seen, EXCLUDED.first_seen),
           last_seen  = greatest(g.last_seen, EXCLUDED.last_seen),
           last_tags  = CASE WHEN EXCLUDED.last_seen >= g.last_seen
                             THEN EXCLUDED.last_tags ELSE g.last_tags END
    RETURNING count
$fn$;
COMMENT ON FUNCTION audit.record_error(text, text, jsonb, timestamptz, bigint) IS
    'Counts one failure (or occurrences of it) in its group: inserts or updates audit.error_groups '
    '(count + occurrences, last_seen, last_tags when newer); returns the group''s new count.';


-- ---------------------------------------------------------------------------
-- Query functions (audit_reader)
-- ---------------------------------------------------------------------------

CREATE FUNCTION audit.record_history(type text, id text, since timestamptz DEFAULT NULL)
RETURNS TABLE (user_id text, role text, ts timestamptz, access text, request_id text,
               session_id text, ip inet)
LANGUAGE sql STABLE
AS $fn$
    SELECT e.user_id, e.role, e.ts, e.access, e.request_id, e.session_id, e.ip
    FROM audit.events e
    WHERE e.action = 'record_access'
      AND e.resource_type = $1 AND e.resource_id = $2
      AND e.ts >= coalesce($3, '-infinity')
    ORDER BY e.ts, e.producer, e.seq, e.id
$fn$;
COMMENT ON FUNCTION audit.record_history(text, text, timestamptz) IS
    'Who accessed a record, and when: every record_access event of resource (type, id) since since (NULL: ever), oldest first (ties in chain order). '
    'Example: SELECT * FROM audit.record_history(''patient'', ''42'', now() - interval ''7 days'')';

CREATE FUNCTION audit.user_activity(user_id text, since timestamptz DEFAULT NULL)
RETURNS TABLE (ts timestamptz, action text, route text, status integer,
               resource_type text, resource_id text, decision text, reason text,
               request_id text, ip inet)
LANGUAGE sql STABLE
AS $fn$
    SELECT e.ts, e.action, e.route, e.status, e.resource_type, e.resource_id,
           e.decision, e.reason, e.request_id, e.ip
    FROM audit.events e
    WHERE e.user_id = $1 AND e.ts >= coalesce($2, '-infinity')
    ORDER BY e.ts, e.producer, e.seq, e.id
$fn$;
COMMENT ON FUNCTION audit.user_activity(text, timestamptz) IS
    'Everything one user (the session''s user id) did since since (NULL: ever), oldest first (ties in chain order). '
    'Failed logins name the account tried (attempted_user), not a user id: see audit.failed_logins().';

CREATE FUNCTION audit.failed_logins(since timestamptz, min_count integer DEFAULT 1)
RETURNS TABLE (kind text, key text, count bigint, first timestamptz, last timestamptz)
LANGUAGE sql STABLE
AS $fn$
    SELECT * FROM (
        SELECT 'ip'::text, host(e.ip), count(*), min(e.ts), max(e.ts)
        FROM audit.events e
        WHERE e.action = 'login_failure' AND e.ts >= coalesce($1, '-infinity')
          AND e.ip IS NOT NULL
        GROUP BY e.ip
        HAVING count(*) >= coalesce($2, 1)
        UNION ALL
        SELECT 'attempted_user'::text, e.attempted_user, count(*), min(e.ts), max(e.ts)
        FROM audit.events e
        WHERE e.action = 'login_failure' AND e.ts >= coalesce($1, '-infinity')
          AND e.attempted_user IS NOT NULL
        GROUP BY e.attempted_user
        HAVING count(*) >= coalesce($2, 1)
    ) f (kind, key, count, first, last)
    ORDER BY f.count DESC, f.kind, f.key
$fn$;
COMMENT ON FUNCTION audit.failed_logins(timestamptz, integer) IS
    'login_failure events since since, grouped per client address (kind ''ip'') and per account tried '
    '(kind ''attempted_user''), groups of at least min_count; most failures first.';


-- verify_chain: one row per producer
CREATE TYPE audit.chain_report AS (
    producer        text,
    events          bigint,
    first_seq       bigint,
    last_seq        bigint,
    missing         bigint,
    gaps            text[],
    reordered       bigint[],
    broken_links    bigint[],
    tampered        bigint[],
    ok              boolean
);
COMMENT ON TYPE audit.chain_report IS
    'audit.verify_chain(): per producer, rows checked (events) from first_seq to last_seq; missing: how many seq are absent, '
    'gaps: the absent ranges (''5'', ''7-9''); reordered: seq of rows older (ts) than an earlier seq (clock steps, informational); '
    'broken_links: seq of rows whose line''s prev is not the SHA-256 of the line of seq - 1 (or seq 0 with a prev); '
    'tampered: seq of rows whose columns differ from their line, whose line no longer parses, whose seq appears twice, '
    'or whose line no longer hashes to the next row''s prev; ok: no gap, broken link or tampered row.';

CREATE FUNCTION audit._verify_chain(since timestamptz, safe boolean)
RETURNS SETOF audit.chain_report
LANGUAGE sql STABLE
AS $fn$
    WITH start AS (
        -- each chain is checked from its first row at or after since
        SELECT e.producer, min(e.seq) AS first_seq
        FROM audit.events e
        WHERE e.producer IS NOT NULL AND e.seq IS NOT NULL
          AND e.ts >= coalesce($1, '-infinity')
        GROUP BY e.producer
    ), r AS (
        SELECT e.producer, e.seq, e.id, e.ts,
               p.line IS NOT NULL AND p IS NOT DISTINCT FROM e AS matches,
               CASE WHEN p.line IS NOT NULL THEN p.prev ELSE e.prev END AS line_prev,
               encode(sha256(convert_to(e.line, 'UTF8')), 'hex') AS hash
        FROM start s
        JOIN audit.events e ON e.producer = s.producer AND e.seq >= s.first_seq
        CROSS JOIN LATERAL (
            SELECT x.* FROM audit.event_from_line(e.line) x WHERE NOT $2
            UNION ALL
            SELECT y.* FROM audit.try_event_from_line(e.line) y WHERE $2
        ) p
    ), w AS (
        SELECT r.*,
               lag(r.seq)  OVER c AS pseq,
               lag(r.hash) OVER c AS phash,
               lead(r.seq) OVER c AS nseq,
               max(r.ts)   OVER (c ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS pmax_ts
        FROM r
        WINDOW c AS (PARTITION BY r.producer ORDER BY r.seq, r.id)
    ), v AS (
        SELECT w.*,
               CASE WHEN w.pseq IS NULL AND $1 IS NULL AND w.seq > 0 THEN 0
                    WHEN w.seq > w.pseq + 1 THEN w.pseq + 1 END AS gap_from,
               coalesce((w.pseq = w.seq - 1 AND w.line_prev IS DISTINCT FROM w.phash)
                        OR (w.seq = 0 AND w.line_prev IS NOT NULL), false) AS broken
        FROM w
    ), t AS (
        SELECT v.*,
               coalesce(lead(v.broken) OVER (PARTITION BY v.producer ORDER BY v.seq, v.id), false)
                 AND v.nseq = v.seq + 1 AS next_broken
        FROM v
    )
    SELECT t.producer,
           count(*),
           min(t.seq),
           max(t.seq),
           coalesce(sum(t.seq - t.gap_from), 0)::bigint,
           coalesce(array_agg(CASE WHEN t.gap_from = t.seq - 1 THEN t.gap_from::text
                                   ELSE t.gap_from || '-' || (t.seq - 1) END ORDER BY t.seq)
                    FILTER (WHERE t.gap_from IS NOT NULL), '{}'),
           coalesce(array_agg(t.seq ORDER BY t.seq) FILTER (WHERE t.ts < t.pmax_ts), '{}'),
           coalesce(array_agg(t.seq ORDER BY t.seq) FILTER (WHERE t.broken), '{}'),
           coalesce(array_agg(DISTINCT t.seq)
                    FILTER (WHERE NOT t.matches OR t.next_broken
                                  OR t.seq = t.pseq OR t.seq = t.nseq), '{}'),
           coalesce(sum(t.seq - t.gap_from), 0) = 0
             AND NOT bool_or(t.broken)
             AND bool_and(t.matches AND NOT t.next_broken
                          AND t.seq IS DISTINCT FROM t.pseq AND t.seq IS DISTINCT FROM t.nseq)
    FROM t
    GROUP BY t.producer
    ORDER BY t.producer
$fn$;
COMMENT ON FUNCTION audit._verify_chain(timestamptz, boolean) IS
    'audit.verify_chain()''s query; safe: parse lines with audit.try_event_from_line() (a line no longer parses)';

CREATE FUNCTION audit.verify_chain(since timestamptz DEFAULT NULL)
RETURNS SETOF audit.chain_report
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, audit, pg_temp
SET TimeZone = 'UTC'
AS $fn$
DECLARE
    res audit.chain_report[];
BEGIN
    BEGIN
        SELECT array_agg(c ORDER BY c.producer) INTO res FROM audit._verify_chain(since, false) c;
    EXCEPTION WHEN OTHERS THEN
        -- some line no longer parses: again, one subtransaction per line
        SELECT array_agg(c ORDER BY c.producer) INTO res FROM audit._verify_chain(since, true) c;
    END;
    RETURN QUERY SELECT * FROM unnest(res);
END
$fn$;
COMMENT ON FUNCTION audit.verify_chain(timestamptz) IS
    'Checks the tamper-evident chains: per producer, from its first row at or after since (NULL: every row, and each chain '
    'must then start at seq 0), gaps in seq (lost or deleted rows), reordered rows (informational), broken links '
    '(prev is not the SHA-256 of the previous line: an edited line) and tampered rows (columns edited, or a line edited). '
    'A deleted or lost tail of a chain leaves no trace here. See audit.chain_report for the columns.';


-- ---------------------------------------------------------------------------
-- Privileges
-- ---------------------------------------------------------------------------

DO $$
BEGIN
    EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO audit_writer', current_database());
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO audit_reader', current_database());
END
$$;

GRANT USAGE ON SCHEMA audit TO audit_writer, audit_reader;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA audit FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.ingest() TO audit_writer;
GRANT EXECUTE ON FUNCTION audit.record_error(text, text, jsonb, timestamptz, bigint) TO audit_writer;

GRANT SELECT ON ALL TABLES IN SCHEMA audit TO audit_reader;
GRANT EXECUTE ON FUNCTION
    audit.record_history(text, text, timestamptz),
    audit.user_activity(text, timestamptz),
    audit.failed_logins(timestamptz, integer),
    audit.verify_chain(timestamptz),
    audit._verify_chain(timestamptz, boolean),
    audit.event_from_line(text),
    audit.try_event_from_line(text)
TO audit_reader;


-- the months around now; ingest() makes any other month it meets
SELECT audit.ensure_partitions(((now() AT TIME ZONE 'UTC') - interval '3 months')::date, 7) AS "partitions created";
