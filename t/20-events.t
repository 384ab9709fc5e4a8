# Audit events: one JSON line per auth fact, exactly once per request,
# chained, scrubbed, and valid JSON whatever the client sends.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Digest::SHA qw(sha256_hex);
use Audit::Test;
use Audit::Token;

my $t = Audit::Test->new;

my $secret = 'events test secret, long enough to be accepted';
$t->file('hmac.key', $secret);

my $now = time;
sub token {
    my (%c) = @_;
    return Audit::Token::hs256($secret, { sub => 'u-ann', role => 'doctor',
                                          sid => 'sess-ann', exp => $now + 3600, %c });
}

$t->write_nginx_conf(<<'CONF');
    audit_session_keys %%DIR%%/hmac.key;
    audit_login_url /login;
    audit_log %%DIR%%/audit.jsonl flush=100ms;
    audit_scrub mrn;
    log_format rid '$request_id $uri';

    server {
        listen 127.0.0.1:%%PORT%%;
        access_log %%DIR%%/rid.log rid;

        location / { proxy_pass http://%%PORTAL%%; }
        location ~ ^/patients/(\d+) {
            audit_require_role doctor nurse;
            audit_record patient $1;
            proxy_pass http://%%PORTAL%%;
        }
        location ~ ^/status/(\d+) {
            audit_record patient $1;
            proxy_pass http://%%PORTAL%%;
        }
        location /admin/ {
            audit_require_role admin;
            proxy_pass http://%%PORTAL%%;
        }
        location /friendly/ {
            error_page 401 = @signin;
            proxy_pass http://%%PORTAL%%;
        }
        location @signin { return 200 "sign in\n"; }
        location /tf/ {
            root %%DIR%%;
            try_files /nonexistent /patients/7;
        }
        location /quiet/ {
            audit_authz_log denied;
            proxy_pass http://%%PORTAL%%;
        }
        location /login { audit_public on; proxy_pass http://%%PORTAL%%; }
    }
CONF
$t->start_portal;
$t->start_nginx;

my $log = $t->dir . '/audit.jsonl';
my $api = { Accept => 'application/json' };
my @expect;           # [ action, checks ] in order
my $n = 0;

sub req {
    my ($method, $path, %o) = @_;
    return $t->request($method, $path, headers => { %$api, %{ $o{headers} || {} } },
                       %o{grep { $_ ne 'headers' } keys %o});
}

# 1. a permitted view of a patient record
my $r = req(GET => '/patients/42', cookie => 'session=' . token());
is($r->{status}, 200, 'patient page: 200');
my $rid = $r->{headers}{'x-request-id'};
like($rid // '', qr/^[0-9a-f]{32}$/, 'X-Request-Id returned to the client');

# 2. expired session
req(GET => '/patients/42', cookie => 'session=' . token(exp => $now - 600));
# 3. wrong role
req(GET => '/admin/users', cookie => 'session=' . token());
# 4. no session
req(GET => '/patients/42');
# 5. created, and a 404 that records nothing
req(POST => '/patients/43', cookie => 'session=' . token(), body => 'x=1');
req(GET => '/status/404', cookie => 'session=' . token());
# 6. internal redirects: error_page, try_files
$r = req(GET => '/friendly/x');
is($r->{status}, 200, 'error_page 401 = @signin served');
$r = req(GET => '/tf/x', cookie => 'session=' . token());
is($r->{status}, 200, 'try_files fallback served');
# 7. scrubbing: secrets and PHI in the query
req(GET => '/patients/42?token=abc123&mrn=998877&email=ann%40clinic.example&page=2',
    cookie => 'session=' . token());
# 8. audit_authz_log denied: a permitted request makes no event
req(GET => '/quiet/x', cookie => 'session=' . token());
# 9. public page, no session: no event
req(GET => '/login');

my @ev = $t->wait_events($log, 11, timeout => 5);
sleep 0.3;
@ev = $t->log_events($log);

my @actions = map { $_->{action} } @ev;
is_deeply(\@actions, [qw(
    authz_check record_access
    session_invalid
    authz_check
    session_invalid
    authz_check record_access
    authz_check
    session_invalid
    authz_check record_access
    authz_check record_access
)], 'exactly the expected events, once each, in order')
    or diag explain \@actions;

my ($view, $rec) = @ev[0, 1];
is($view->{decision}, 'permitted', 'authz_check permitted');
is($view->{user_id}, 'u-ann', '... user_id');
is($view->{role}, 'doctor', '... role');
is($view->{session_id}, 'sess-ann', '... session_id');
like($view->{rule}, qr/require_role doctor,nurse/, '... rule that decided');
is($view->{status}, 200, '... final status');
is($view->{severity}, 'info', '... severity info');
is($view->{request_id}, $rid, '... request_id equals the X-Request-Id the client got');
my @rids = map { (split / /)[0] } $t->log_lines($t->dir . '/rid.log');
is($rids[0], $rid, '... and the $request_id of the access log');
cmp_ok(scalar @rids, '>=', 10, 'the access log has a line per request');
my %seen;
is(scalar(grep { /^[0-9a-f]{32}$/ && !$seen{$_}++ } @rids), scalar(@rids),
   'every request has its own $request_id, 32 hex digits (' . scalar(@rids) . ' requests)');
is($view->{ip}, '127.0.0.1', '... ip');
is($view->{method}, 'GET', '... method');
is($view->{route}, '/patients/42', '... route');
like($view->{id}, qr/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
     '... id is a UUIDv7');
like($view->{ts}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, '... ts RFC 3339 with ms');

is($rec->{resource_type}, 'patient', 'record_access resource_type');
is($rec->{resource_id}, '42', '... resource_id from the regex capture');
is($rec->{access}, 'viewed', '... viewed');
is($rec->{user_id}, 'u-ann', '... user');

is($ev[2]{reason}, 'expired', 'session_invalid reason expired');
is($ev[2]{user_id}, 'u-ann', '... names who it was');
is($ev[2]{status}, 401, '... status 401');
is($ev[2]{severity}, 'warning', '... severity warning');

is($ev[3]{decision}, 'denied', 'wrong role: authz_check denied');
is($ev[3]{status}, 403, '... 403');
like($ev[3]{rule}, qr{location /admin/ require_role admin}, '... rule names the location');
is($ev[3]{severity}, 'warning', '... warning');

is($ev[4]{reason}, 'missing', 'no cookie: session_invalid missing');
ok(!exists $ev[4]{user_id}, '... no user');

is($ev[6]{access}, 'created', 'POST: record_access created');
is($ev[6]{resource_id}, '43', '... 43');
is($ev[7]{status}, 404, 'a 404 gets authz_check ...');
is($ev[8]{reason}, 'missing', 'error_page: one session_invalid, not two');
is($ev[10]{resource_id}, '7', 'try_files: the record of the final location');

my $scrubbed = $ev[11]{route};
unlike($scrubbed, qr/abc123|998877|ann%40clinic/, 'secrets and PHI scrubbed from route');
like($scrubbed, qr/page=2/, 'harmless parameters kept');

# the chain: seq without gaps, prev = SHA-256 of the previous line
my @lines = $t->log_lines($log);
my $chain_ok = 1;
for my $i (1 .. $#ev) {
    $chain_ok &&= $ev[$i]{producer} eq $ev[0]{producer};
    $chain_ok &&= $ev[$i]{seq} == $ev[$i - 1]{seq} + 1;
    $chain_ok &&= $ev[$i]{prev} eq sha256_hex($lines[$i - 1]);
}
ok($chain_ok, 'one producer, seq without gaps, prev = SHA-256 of the previous line');
like($ev[0]{producer}, qr{^[^/]+/\d+-\d+/\d+$}, 'producer is host/start-ms-pid/slot');

my $all = join "\n", @lines;
my $tok = token();
unlike($all, qr/\Q$secret\E/, 'the key never appears in the log');
unlike($all, qr/eyJ/, 'no token (or any part of one) in the log');

# log injection: every line stays one valid JSON object
my $before = @lines;
# (nginx itself refuses NUL and bare CR/LF in headers with a 400, before
# any module runs; what reaches us is invalid UTF-8, quotes, and claims;
# an encoded CR/LF in the path is refused as request_rejected)
my $evil_ua = "curl \"}{\"action\":\"login_success\"\xff\xfe\xc0\xaf" . ('A' x 6000);
my $raw = "GET /patients/1%0a%0d?q=%ff HTTP/1.1\r\nHost: x\r\n"
        . "User-Agent: $evil_ua\r\nCookie: session=" . token(sub => "u-\"quote\\") . "\r\n"
        . "Connection: close\r\n\r\n";
$t->raw_request($raw);
$raw = "GET /admin/\xc0\xaf HTTP/1.1\r\nHost: x\r\nCookie: session=" . ('x' x 6000)
     . "\r\nConnection: close\r\n\r\n";
$t->raw_request($raw);
# a signed claim with a line break: refused, and still one line in the log
$r = req(GET => '/patients/1',
         cookie => 'session=' . token(sub => "u-evil\n{\"action\":\"login_success\"}"));
is($r->{status}, 401, 'identity claim with a line break: refused');
is($r->{json}{error}, 'session_malformed', '... as malformed');
@ev = $t->wait_events($log, $before + 3, timeout => 5);
sleep 0.3;
my @after = $t->log_lines($log);
my @parsed = eval { $t->log_events($log) };
is(scalar @parsed, scalar @after, 'hostile input: every line is one valid JSON object');
is(scalar @after, $before + 3, '... and no extra line was injected');
is(scalar(grep { $_->{action} eq 'request_rejected'
                 && ($_->{reason} // '') eq 'bad_encoding' } @parsed), 2,
   '... the encoded CR LF path and the raw overlong "/admin/\\xc0\\xaf": one request_rejected each');
ok(!grep({ $_->{action} eq 'login_success' } @parsed), '... no forged event');

unlike($t->error_log, qr/\[(alert|crit|emerg)\]|exited on signal/, 'no alert or crash');

$t->stop_all_and_check;
done_testing;
