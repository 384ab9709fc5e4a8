# Hostile input: every request gets a clear 4xx (never a 500, never a
# crashed worker), and every line of the audit log stays one JSON object.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Socket::IP;
use Time::HiRes qw(sleep time);
use Audit::Test;
use Audit::Token;

my $t = Audit::Test->new;
my $secret = 'hostile input secret, long enough to use';
$t->file('hmac.key', $secret);
my $now = time;
my %good = (sub => 'u-h', role => 'doctor', sid => 's-h', exp => int($now) + 3600);

$t->write_nginx_conf(<<'CONF');
    audit_zone audit:1m;
    audit_session_keys %%DIR%%/hmac.key;
    audit_log %%DIR%%/audit.jsonl flush=100ms;
    large_client_header_buffers 4 16k;
    client_body_timeout 2s;
    server {
        listen 127.0.0.1:%%PORT%%;
        location / { audit_require_role doctor; proxy_pass http://%%PORTAL%%; }
        location = /login { audit_public on; audit_login username_field=email;
                            proxy_pass http://%%PORTAL%%; }
    }
CONF
$t->start_portal(users => {}, token_cb => sub { '' });
$t->start_nginx;

my $api = { Accept => 'application/json' };
sub status_of { my ($cookie) = @_;
    $t->request(GET => '/x', headers => $api, cookie => $cookie)->{status} }
sub b64 { Audit::Token::b64url($_[0]) }
my $hdr = b64('{"alg":"HS256","typ":"JWT"}');
my $pay = b64(JSON::PP->new->canonical->encode(\%good));

my %cases = (
    'empty cookie'              => 'session=',
    'token of dots'             => 'session=....',
    'one segment'               => "session=$hdr",
    'two segments'              => "session=$hdr.$pay",
    'four segments'             => "session=$hdr.$pay.x.y",
    'segments of 1..5 chars'    => 'session=a.bb.ccccc',
    'padding'                   => "session=$hdr=.$pay.AAAA",
    'non-alphabet'              => "session=$hdr.\$\$\$.AAAA",
    'NUL as %00'                => "session=$hdr%00.$pay.AAAA",
    'header nesting bomb'       => 'session=' . b64('[' x 5000) . ".$pay.AAAA",
    'payload nesting bomb'      => "session=$hdr." . b64('{"a":' x 3000) . '.AAAA',
    'exp out of range'          => 'session=' . Audit::Token::hs256($secret, { %good, exp => 1e300 }),
    'exp negative huge'         => 'session=' . Audit::Token::hs256($secret, { %good, exp => -9.9e300 }),
    'exp a string'              => 'session=' . Audit::Token::hs256($secret, { %good, exp => 'never' }),
    'duplicate keys'            => "session=$hdr." . b64('{"sub":"u-h","sub":"admin","exp":4102444800}') . '.AAAA',
    'alg none'                  => 'session=' . b64('{"alg":"none"}') . ".$pay.",
    'alg HS512'                 => 'session=' . Audit::Token::hs256($secret, {%good}, { alg => 'HS512' }),
    'jwk in header'             => 'session=' . Audit::Token::hs256($secret, {%good}, { jwk => { kty => 'oct', k => 'AA' } }),
    'invalid UTF-8 claim'       => "session=$hdr." . b64("{\"sub\":\"\xff\xfe\",\"exp\":4102444800}") . '.AAAA',
    '12 KiB token'              => 'session=' . ('A' x 12000),
    '2000 cookies'              => join('; ', map { "c$_=v" } 1 .. 2000),
    'JSON serialization'        => 'session={"payload":"x","signatures":[]}',
);

my $refused = 0;
for my $name (sort keys %cases) {
    my $st = status_of($cases{$name});
    ok($st == 401 || $st == 400, "$name: $st");
    $refused++ if $st == 401;
}

# a 64 KiB cookie is over any header buffer: nginx's own 400
my $r = $t->raw_request("GET /x HTTP/1.1\r\nHost: x\r\nCookie: session=" . ('A' x 65536)
                        . "\r\nConnection: close\r\n\r\n");
like($r, qr{^HTTP/1\.1 (400|431|494)}, '64 KiB cookie: a 4xx from nginx');

# identity headers forged by the client never reach the portal
$r = $t->request(GET => '/x', headers => { %$api, 'X-Audit-User-Id' => 'admin',
                 'X-AUDIT-ROLE' => 'admin', 'x-audit-session-id' => 'forged' },
                 cookie => 'session=' . Audit::Token::hs256($secret, {%good}));
is($r->{status}, 200, 'a valid session with forged identity headers: 200');
is($r->{json}{headers}{'x-audit-user-id'}, 'u-h', '... the portal sees the real user');
is($r->{json}{headers}{'x-audit-role'}, 'doctor', '... and the real role');

# a huge login body (1 MiB) and a slow one: answered, never a 500
$r = $t->request(POST => '/login', form => { email => 'a' x (1 << 20), password => 'pw' });
ok($r->{status} >= 400 && $r->{status} < 500, "1 MiB login body: a 4xx ($r->{status})");
my $sock = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $t->port) or die;
print $sock "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
          . "Content-Length: 100\r\n\r\nemail=slow";
my $t0 = time;
my $reply = '';
while (sysread $sock, my $chunk, 4096) { $reply .= $chunk }
ok(time - $t0 < 10, 'a slowloris login body is cut off by client_body_timeout');
like($reply, qr{^HTTP/1\.1 408|^$}, '... with 408 (or a closed connection)');

# invalid UTF-8, NUL and control bytes in every field an event takes from
# the request: the path, the query, the User-Agent, the login name
my $bad = "\xff\xfe\xc0\xaf\x01\x1b[31m";
$r = $t->raw_request("GET /x/%FF%FE%01/\xff\xfe?mrn=%00%FF&q=\xc3\x28 HTTP/1.1\r\nHost: x\r\n"
                     . "User-Agent: $bad\r\nConnection: close\r\n\r\n");
like($r, qr{^HTTP/1\.1 (401|400)}, 'invalid UTF-8 and NUL in path, query and User-Agent: a 4xx');
sub raw_login {
    my ($type, $body) = @_;
    my $reply = $t->raw_request("POST /login HTTP/1.1\r\nHost: x\r\nUser-Agent: $bad\r\n"
                                . "Content-Type: $type\r\nContent-Length: " . length($body)
                                . "\r\nConnection: close\r\n\r\n$body");
    return $reply =~ m{^HTTP/1\.1 (\d+)} ? $1 : 0;
}
for my $body ('email=%FF%FE%00%1B&password=pw', "email=\xff\xfe\x00&password=pw") {
    my $st = raw_login('application/x-www-form-urlencoded', $body);
    ok($st >= 400 && $st < 500, "a login name of invalid UTF-8 and NUL (form): a 4xx ($st)");
}
for my $body (qq({"email":"\\u0000\\udc00\xff","password":"pw"}), qq({"email":"a","email":"b\xc0"})) {
    my $st = raw_login('application/json', $body);
    ok($st >= 400 && $st < 500, "a login name of invalid UTF-8 and NUL (JSON): a 4xx ($st)");
}

sleep 0.5;
my @lines = $t->log_lines($t->dir . '/audit.jsonl');
my @ev = eval { $t->log_events($t->dir . '/audit.jsonl') };
cmp_ok(scalar @lines, '>=', $refused, 'every 401 is logged (a 400 from nginx never reaches us)');
is(scalar @ev, scalar @lines, 'every log line is one JSON object (strict UTF-8)');
ok((grep { ($_->{user_agent} // '') =~ /\x{fffd}/ } @ev) >= 4,
   'a User-Agent of invalid UTF-8 is logged with U+FFFD in its place');
unlike(join('', @lines), qr/[\x00-\x1f]/, 'no raw control byte in any line');
my @hostile = grep { ($_->{user_agent} // '') =~ /\x{fffd}/ && $_->{action} eq 'login_failure' } @ev;
is(scalar @hostile, 4, 'the four hostile logins are logged as login failures');
is(scalar(grep { ($_->{attempted_user} // '') =~ /^\x{fffd}\x{fffd}/ } @hostile), 2,
   '... the form ones with the name tried, invalid bytes as U+FFFD (JSON that is not valid has no name)');
unlike(join("\n", @lines), qr/\Q$secret\E|eyJ/, 'no key and no token in the log');

unlike($t->error_log, qr/\[(alert|crit|emerg)\]|signal \d+|exited on/, 'no alert, no crashed worker');

$t->stop_all_and_check;
done_testing;
