-- 0007_fhir: audit events as HL7 FHIR R4 AuditEvent resources.
--
-- Health IT exchanges audit records as FHIR AuditEvents (IHE Basic Audit
-- Log Patterns, BALP): an accounting of who accessed a patient's record,
-- or an EHR that collects audit events, takes them in that form.  For the
-- reader role, as the other query functions:
--
--     audit.fhir_resource(e audit.events)        one row as an AuditEvent
--     audit.fhir_audit_event(id uuid)            one event, by its id
--     audit.fhir_record_history(type, id, since, bundle_type)
--                                                a record's history, a Bundle
--     audit.fhir_events(since, until, bundle_type)
--                                                every event of a time range
--
-- Codes (as BALP and DICOM use them; the table is in sql/README.md and
-- t/34-fhir.t checks it):
--
--     login_success, session_create   DCM 110114 User Authentication,
--                                     subtype 110122 Login, E, outcome 0
--     login_failure                   the same, outcome 4
--     session_destroy                 110114, subtype 110123 Logout, E, 0
--     session_invalid                 110114 (no subtype), E, 4
--     record_access                   rest, subtype read/create/update/delete
--                                     and action R/C/U/D from access (viewed,
--                                     created, updated, deleted); another
--                                     method (PURGE): no subtype, E; 0
--     authz_check permitted           rest, subtype and action from the
--                                     method (GET/HEAD read, POST create,
--                                     PUT/PATCH update, DELETE delete), 0
--     authz_check denied              DCM 110113 Security Alert, E, 4
--     bruteforce_suspected,           110113 Security Alert, E, 4
--     request_rejected
--     any other action                DCM 110100 Application Activity, E,
--                                     0 (status < 400 or none) or 4
--
-- agent: the user (requestor true; who.identifier the user id, altId the
-- account a login tried, role one text per role, network the client
-- address); source.observer: the nginx node (the host part of producer),
-- type 3 Web Server; entity: the record (a patient as a Patient reference,
-- type 1 Person, role 1 Patient; any other type as an identifier, type 2
-- System Object) and the request (BALP's XrequestId, with method, route,
-- status, decision, rule, reason, session and user agent as details);
-- recorded: the event's ts, always; outcomeDesc: the reason.

SET LOCAL client_min_messages = warning;

CREATE FUNCTION audit.fhir_instant(ts timestamptz)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $fn$
    SELECT to_char($1 AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$fn$;
COMMENT ON FUNCTION audit.fhir_instant(timestamptz) IS
    'A timestamptz as a FHIR instant in UTC with milliseconds: 2026-01-31T23:59:40.123Z';

-- the (type, subtype, action, outcome) of an event, per the table above
CREATE FUNCTION audit.fhir_codes(action text, decision text, access text, method text,
                                 status integer,
                                 OUT type_system text, OUT type_code text, OUT type_display text,
                                 OUT subtype_system text, OUT subtype_code text,
                                 OUT subtype_display text,
                                 OUT fhir_action text, OUT outcome text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $fn$
    WITH k AS (
        SELECT CASE
                   WHEN $1 IN ('login_success', 'session_create', 'login_failure',
                               'session_destroy', 'session_invalid') THEN 'authn'
                   WHEN $1 = 'record_access' THEN 'rest'
                   WHEN $1 = 'authz_check' AND $2 = 'permitted' THEN 'rest'
                   WHEN $1 IN ('authz_check', 'bruteforce_suspected', 'request_rejected')
                       THEN 'alert'
                   ELSE 'other'
               END AS kind,
               -- the RESTful interaction: record_access's access, or the method
               CASE WHEN $1 = 'record_access' THEN
                        CASE $3 WHEN 'viewed' THEN 'read' WHEN 'created' THEN 'create'
                                WHEN 'updated' THEN 'update' WHEN 'deleted' THEN 'delete' END
                    ELSE
                        CASE upper($4) WHEN 'GET' THEN 'read' WHEN 'HEAD' THEN 'read'
                                       WHEN 'POST' THEN 'create' WHEN 'PUT' THEN 'update'
                                       WHEN 'PATCH' THEN 'update' WHEN 'DELETE' THEN 'delete' END
               END AS interaction
    )
    SELECT CASE k.kind WHEN 'rest' THEN 'http://terminology.hl7.org/CodeSystem/audit-event-type'
                       ELSE 'http://dicom.nema.org/resources/ontology/DCM' END,
           CASE k.kind WHEN 'authn' THEN '110114' WHEN 'rest' THEN 'rest'
                       WHEN 'alert' THEN '110113' ELSE '110100' END,
           CASE k.kind WHEN 'authn' THEN 'User Authentication' WHEN 'rest' THEN 'RESTful Operation'
                       WHEN 'alert' THEN 'Security Alert' ELSE 'Application Activity' END,
           CASE WHEN k.kind = 'rest' AND k.interaction IS NOT NULL
                    THEN 'http://hl7.org/fhir/restful-interaction'
                WHEN $1 IN ('login_success', 'session_create', 'login_failure', 'session_destroy')
                    THEN 'http://dicom.nema.org/resources/ontology/DCM' END,
           CASE WHEN k.kind = 'rest' THEN k.interaction
                WHEN $1 = 'session_destroy' THEN '110123'
                WHEN $1 IN ('login_success', 'session_create', 'login_failure') THEN '110122' END,
           CASE WHEN k.kind = 'rest' THEN k.interaction
                WHEN $1 = 'session_destroy' THEN 'Logout'
                WHEN $1 IN ('login_success', 'session_create', 'login_failure') THEN 'Login' END,
           CASE WHEN k.kind = 'rest' THEN
                    CASE k.interaction WHEN 'read' THEN 'R' WHEN 'create' THEN 'C'
                                       WHEN 'update' THEN 'U' WHEN 'delete' THEN 'D' ELSE 'E' END
                ELSE 'E' END,
           CASE WHEN $1 IN ('login_failure', 'session_invalid', 'authz_check',
                            'bruteforce_suspected', 'request_rejected') AND k.kind <> 'rest'
                    THEN '4'
                WHEN k.kind = 'other' AND $5 >= 400 THEN '4'
                ELSE '0' END
    FROM k
$fn$;
COMMENT ON FUNCTION audit.fhir_codes(text, text, text, text, integer) IS
    'The FHIR AuditEvent type, subtype, action and outcome of an event (action, decision, access, method, status): '
    'the table in sql/migrations/0007_fhir.sql and sql/README.md';

CREATE FUNCTION audit.fhir_resource(e audit.events)
RETURNS jsonb
LANGUAGE sql STABLE
AS $fn$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'resourceType', 'AuditEvent',
        'id', e.id::text,
        'type', jsonb_build_object('system', c.type_system, 'code', c.type_code,
                                   'display', c.type_display),
        'subtype', CASE WHEN c.subtype_code IS NOT NULL THEN jsonb_build_array(
                       jsonb_build_object('system', c.subtype_system, 'code', c.subtype_code,
                                          'display', c.subtype_display)) END,
        'action', c.fhir_action,
        'recorded', audit.fhir_instant(e.ts),
        'outcome', c.outcome,
        'outcomeDesc', coalesce(NULLIF(e.reason, ''),
                                CASE WHEN e.decision = 'denied'
                                     THEN 'denied by ' || coalesce(NULLIF(e.rule, ''), 'policy') END),
        'agent', jsonb_build_array(jsonb_build_object(
            'type', jsonb_build_object('coding', jsonb_build_array(jsonb_build_object(
                'system', 'http://terminology.hl7.org/CodeSystem/extra-security-role-type',
                'code', 'humanuser', 'display', 'human user'))),
            'role', (SELECT jsonb_agg(jsonb_build_object('text', r) ORDER BY n)
                     FROM unnest(string_to_array(e.role, ',')) WITH ORDINALITY u (r, n)
                     WHERE r <> ''),
            'who', CASE WHEN e.user_id <> '' THEN
                       jsonb_build_object('identifier', jsonb_build_object('value', e.user_id)) END,
            'altId', NULLIF(e.attempted_user, ''),
            'requestor', true,
            'network', CASE WHEN a.address IS NOT NULL THEN
                           jsonb_build_object('address', a.address, 'type', '2') END)),
        'source', jsonb_build_object(
            'observer', jsonb_build_object('display', a.node),
            'type', jsonb_build_array(jsonb_build_object(
                'system', 'http://terminology.hl7.org/CodeSystem/security-source-type',
                'code', '3', 'display', 'Web Server'))),
        'entity', (SELECT jsonb_agg(x.entity ORDER BY x.n)
                   FROM (VALUES (1, a.record), (2, a.request)) x (n, entity)
                   WHERE x.entity IS NOT NULL)
    ))
    FROM audit.fhir_codes(e.action, e.decision, e.access, e.method, e.status) c
    CROSS JOIN LATERAL (
        SELECT coalesce(NULLIF(split_part(e.producer, '/', 1), ''), 'nginx') AS node,
               coalesce(host(e.ip), NULLIF(e.extra ->> 'ip', '')) AS address,
               CASE WHEN e.resource_type <> '' AND e.resource_id <> '' THEN
                   jsonb_build_object(
                       'what', CASE WHEN e.resource_type = 'patient'
                                         AND e.resource_id ~ '^[A-Za-z0-9.-]{1,64}$'
                                    THEN jsonb_build_object('reference', 'Patient/' || e.resource_id)
                                    ELSE jsonb_build_object(
                                        'identifier', jsonb_build_object('value', e.resource_id),
                                        'display', e.resource_type || ' ' || e.resource_id) END,
                       'type', CASE WHEN e.resource_type = 'patient'
                                    THEN jsonb_build_object(
                                        'system', 'http://terminology.hl7.org/CodeSystem/audit-entity-type',
                                        'code', '1', 'display', 'Person')
                                    ELSE jsonb_build_object(
                                        'system', 'http://terminology.hl7.org/CodeSystem/audit-entity-type',
                                        'code', '2', 'display', 'System Object') END,
                       'role', CASE WHEN e.resource_type = 'patient' THEN jsonb_build_object(
                                   'system', 'http://terminology.hl7.org/CodeSystem/object-role',
                                   'code', '1', 'display', 'Patient') END)
               END AS record,
               jsonb_build_object(
                   'what', CASE WHEN e.request_id <> '' THEN jsonb_build_object(
                               'identifier', jsonb_build_object('value', e.request_id)) END,
                   'type', jsonb_build_object(
                       'system', 'https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType',
                       'code', 'XrequestId', 'display', 'X-Request-Id'),
                   'detail', (SELECT jsonb_agg(jsonb_build_object('type', d.k, 'valueString', d.v)
                                               ORDER BY d.n)
                              FROM (VALUES (1, 'method', e.method), (2, 'route', e.route),
                                           (3, 'status', e.status::text),
                                           (4, 'decision', e.decision), (5, 'rule', e.rule),
                                           (6, 'reason', e.reason),
                                           (7, 'session_id', e.session_id),
                                           (8, 'user_agent', e.extra ->> 'user_agent'),
                                           (9, 'audit_action', e.action)) d (n, k, v)
                              WHERE d.v <> '')) AS request
    ) a
$fn$;
COMMENT ON FUNCTION audit.fhir_resource(audit.events) IS
    'One audit.events row as a FHIR R4 AuditEvent (jsonb); codes as in sql/README.md ("FHIR"). '
    'Example: SELECT audit.fhir_resource(e) FROM audit.events e WHERE e.request_id = ''...''';

CREATE FUNCTION audit.fhir_audit_event(id uuid)
RETURNS jsonb
LANGUAGE sql STABLE
AS $fn$
    SELECT audit.fhir_resource(e) FROM audit.events e WHERE e.id = $1
    ORDER BY e.ts LIMIT 1
$fn$;
COMMENT ON FUNCTION audit.fhir_audit_event(uuid) IS
    'The event of that id as a FHIR R4 AuditEvent; NULL when there is none.';

-- A Bundle of AuditEvents (a jsonb array, in order): searchset (total, and
-- search.mode match on each entry) or collection; no entry member when empty.
CREATE FUNCTION audit.fhir_bundle(resources jsonb, bundle_type text DEFAULT 'searchset')
RETURNS jsonb
LANGUAGE plpgsql STABLE
AS $fn$
BEGIN
    IF bundle_type IS NULL OR bundle_type NOT IN ('searchset', 'collection') THEN
        RAISE EXCEPTION 'audit.fhir_bundle: bundle type must be searchset or collection, not %',
            coalesce(quote_literal(bundle_type), 'NULL');
    END IF;
    resources := coalesce(resources, '[]');
    RETURN jsonb_strip_nulls(jsonb_build_object(
        'resourceType', 'Bundle',
        'type', bundle_type,
        'timestamp', audit.fhir_instant(now()),
        'total', CASE WHEN bundle_type = 'searchset' THEN jsonb_array_length(resources) END,
        'entry', (SELECT jsonb_agg(jsonb_build_object(
                             'fullUrl', 'urn:uuid:' || (r ->> 'id'),
                             'resource', r,
                             'search', CASE WHEN bundle_type = 'searchset'
                                            THEN '{"mode": "match"}'::jsonb END)
                         ORDER BY n)
                  FROM jsonb_array_elements(resources) WITH ORDINALITY x (r, n))));
END
$fn$;
COMMENT ON FUNCTION audit.fhir_bundle(jsonb, text) IS
    'A FHIR R4 Bundle (searchset or collection) of the AuditEvents in a jsonb array, in its order.';

CREATE FUNCTION audit.fhir_record_history(type text, id text, since timestamptz DEFAULT NULL,
                                          bundle_type text DEFAULT 'searchset')
RETURNS jsonb
LANGUAGE sql STABLE
AS $fn$
    SELECT audit.fhir_bundle(jsonb_agg(audit.fhir_resource(e)
                                       ORDER BY e.ts, e.producer, e.seq, e.id), $4)
    FROM audit.events e
    WHERE e.action = 'record_access'
      AND e.resource_type = $1 AND e.resource_id = $2
      AND e.ts >= coalesce($3, '-infinity')
$fn$;
COMMENT ON FUNCTION audit.fhir_record_history(text, text, timestamptz, text) IS
    'audit.record_history() as a FHIR R4 Bundle of AuditEvents (searchset or collection), oldest first. '
    'Example: SELECT audit.fhir_record_history(''patient'', ''42'', now() - interval ''1 year'')';

CREATE FUNCTION audit.fhir_record_history(type text, id bigint, since timestamptz DEFAULT NULL,
                                          bundle_type text DEFAULT 'searchset')
RETURNS jsonb
LANGUAGE sql STABLE
AS $fn$
    SELECT audit.fhir_record_history($1, $2::text, $3, $4)
$fn$;
COMMENT ON FUNCTION audit.fhir_record_history(text, bigint, timestamptz, text) IS
    'audit.fhir_record_history(type, id::text, since, bundle_type), for an id typed as a number.';

CREATE FUNCTION audit.fhir_events(since timestamptz, until timestamptz DEFAULT NULL,
                                  bundle_type text DEFAULT 'searchset')
RETURNS jsonb
LANGUAGE sql STABLE
AS $fn$
    SELECT audit.fhir_bundle(jsonb_agg(audit.fhir_resource(e)
                                       ORDER BY e.ts, e.producer, e.seq, e.id), $3)
    FROM audit.events e
    WHERE e.ts >= coalesce($1, '-infinity') AND e.ts < coalesce($2, 'infinity')
$fn$;
COMMENT ON FUNCTION audit.fhir_events(timestamptz, timestamptz, text) IS
    'Every event with since <= ts < until (NULL: unbounded) as a FHIR R4 Bundle of AuditEvents, oldest first. '
    'One jsonb value: keep the range to what a client can take (a day, a week).';

-- not PUBLIC's (as every function here); audit_reader's, as the other
-- query functions
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOREACH f IN ARRAY ARRAY[
        'audit.fhir_instant(timestamptz)',
        'audit.fhir_codes(text, text, text, text, integer)',
        'audit.fhir_resource(audit.events)',
        'audit.fhir_audit_event(uuid)',
        'audit.fhir_bundle(jsonb, text)',
        'audit.fhir_record_history(text, text, timestamptz, text)',
        'audit.fhir_record_history(text, bigint, timestamptz, text)',
        'audit.fhir_events(timestamptz, timestamptz, text)']::regprocedure[]
    LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO audit_reader', f);
    END LOOP;
END
$$;
