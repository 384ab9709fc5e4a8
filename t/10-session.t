# Session cookies verified, callers sent where they expect, identity passed
# to the portal and never spoofable.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Audit::Test;
use Audit::Token;

my $t = Audit::Test->new;

my $secret = 'correct horse battery staple, 32+';
$t->file('hmac.key', $secret);
$t->file('revoked.txt', "# revoked by the admin\nsess-revoked\n");

my $now = time;
sub token {
    my (%claims) = @_;
    my %payload = (sub => 'u-ann', role => 'doctor', sid => 'sess-1',
                   iat => $now, exp => $now + 3600, %claims);
    delete @payload{ grep { !defined $payload{$_} } keys %payload };
    return Audit::Token::hs256($secret, \%payload);
}

$t->write_nginx_conf(<<'CONF');
    audit_session_keys %%DIR%%/hmac.key;
    audit_session_revoked %%DIR%%/revoked.txt;
    audit_login_url /login;

    server {
        listen 127.0.0.1:%%PORT%%;

        location / {
            audit_require_role doctor nurse admin;
            audit_require_role admin methods=DELETE;
            proxy_pass http://%%PORTAL%%;
        }
        location /login {
            audit_public on;
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
        location @signin {
            return 200 "please sign in\n";
        }
        location /intranet/ {
            satisfy any;
            allow 127.0.0.1;
            deny all;
            proxy_pass http://%%PORTAL%%;
        }
        location /ward/ {
            audit_require_role nurse;
            location /ward/notes/ { proxy_pass http://%%PORTAL%%; }
            location /ward/open/ { audit_public on; proxy_pass http://%%PORTAL%%; }
        }
        location /claims/ {
            proxy_set_header X-User-Name $audit_claim_name;
            add_header X-Claim-Dept $audit_claim_dept always;
            add_header X-Decision $audit_decision always;
            add_header X-Reason $audit_reason always;
            proxy_pass http://%%PORTAL%%;
        }
    }
CONF

$t->start_portal;
$t->start_nginx;

my $api = { Accept => 'application/json' };

# a valid session reaches the portal with its identity
my $r = $t->request(GET => '/patients/42', cookie => 'session=' . token(),
                    headers => $api);
is($r->{status}, 200, 'valid HS256 session: 200');
my $h = $r->{json}{headers};
is($h->{'x-audit-user-id'}, 'u-ann', 'portal gets X-Audit-User-Id');
is($h->{'x-audit-role'}, 'doctor', 'portal gets X-Audit-Role');
is($h->{'x-audit-session-id'}, 'sess-1', 'portal gets X-Audit-Session-Id');
like($h->{'x-request-id'} // '', qr/^[0-9a-f]{32}$/, 'portal gets X-Request-Id');

# identity headers sent by the client never reach the portal
$r = $t->request(GET => '/patients/42', cookie => 'session=' . token(),
                 headers => { %$api, 'X-Audit-User-Id' => 'u-mallory',
                              'x-audit-role' => 'admin',
                              'X-Request-Id' => 'forged' });
$h = $r->{json}{headers};
is($h->{'x-audit-user-id'}, 'u-ann', 'spoofed X-Audit-User-Id replaced');
is($h->{'x-audit-role'}, 'doctor', 'spoofed X-Audit-Role replaced');
isnt($h->{'x-request-id'}, 'forged', 'spoofed X-Request-Id replaced');
unlike($h->{'x-request-id'}, qr/,/, 'exactly one X-Request-Id');

$r = $t->request(GET => '/login', headers => { 'X-Audit-User-Id' => 'u-mallory',
                                               'X-Audit-Role' => 'admin' });
is($r->{status}, 200, 'public page without a session: 200');
ok(!exists $r->{json}{headers}{'x-audit-user-id'}, 'spoofed identity stripped on a public page');
ok(!exists $r->{json}{headers}{'x-audit-role'}, '... role too');

# the session cookie as the portal reads it (RFC 6265): the pair named
# exactly "session"; ',' separates nothing; a second, different session
# cookie is ambiguous, never guessed at, and so is a look-alike other
# parsers read as the session cookie (another case: ASP.NET Core; a
# %-encoded name: PHP before 8.0.24; "session=" after a space or a ','
# in another value: Python's SimpleCookie, RFC 2109 parsers) unless it
# holds the same token
my $ann = token();
my $bob = token(sub => 'u-bob', sid => 'sess-bob');
my %jar = (
    'a=1; session=ANN; b=2'            => [200, 'u-ann'],
    'session="ANN"'                    => [200, 'u-ann'],
    'session=ANN; session=ANN'         => [200, 'u-ann'],
    'session=ANN; session=BOB'         => [401, 'session_malformed'],
    'SESSION=ANN'                      => [401, 'session_malformed'],
    'SESSION=BOB; session=ANN'         => [401, 'session_malformed'],
    'Session=ANN; session=ANN'         => [200, 'u-ann'],
    'sess%69on=BOB; session=ANN'       => [401, 'session_malformed'],
    'x=1 session=BOB; session=ANN'     => [401, 'session_malformed'],
    'x=1, session=BOB; session=ANN'    => [401, 'session_malformed'],
    'a=1, session=ANN'                 => [401, 'session_malformed'],
    'xsession=BOB; session=ANN'        => [200, 'u-ann'],
);
for my $jar (sort keys %jar) {
    (my $cookie = $jar) =~ s/ANN/$ann/g;
    $cookie =~ s/BOB/$bob/g;
    $r = $t->request(GET => '/patients/42', headers => $api, cookie => $cookie);
    my ($st, $what) = @{ $jar{$jar} };
    is($r->{status}, $st, "Cookie: $jar: $st");
    is($st == 200 ? $r->{json}{headers}{'x-audit-user-id'} : $r->{json}{error}, $what, "... $what");
}
my $two = $t->raw_request("GET /patients/42 HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\n"
                          . "Cookie: a=1\r\nCookie: session=$ann\r\nConnection: close\r\n\r\n");
like($two, qr{^HTTP/1\.1 200}, 'the session cookie in a second Cookie header line: 200');
$two = $t->raw_request("GET /patients/42 HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\n"
                       . "Cookie: session=$ann\r\nCookie: session=$bob\r\nConnection: close\r\n\r\n");
like($two, qr{^HTTP/1\.1 401.*session_malformed}s, 'two lines, two different sessions: 401 malformed');

# each invalid class: 401 JSON with the reason, for API callers
my $other = Audit::Token::hs256('another secret of 32 bytes or more', {
    sub => 'u-ann', role => 'doctor', exp => $now + 3600 });
my %invalid = (
    missing       => undef,
    expired       => token(exp => $now - 3600, iat => $now - 7200),
    not_yet_valid => token(nbf => $now + 3600),
    bad_signature => $other,
    malformed     => 'not.a.token',
    revoked       => token(sid => 'sess-revoked'),
    bad_algorithm => Audit::Token::raw('{"alg":"none","typ":"JWT"}',
                         qq({"sub":"u-ann","role":"admin","exp":@{[$now + 3600]}}), ''),
);
for my $reason (sort keys %invalid) {
    my $tok = $invalid{$reason};
    $r = $t->request(GET => '/patients/42', headers => $api,
                     defined $tok ? (cookie => "session=$tok") : ());
    is($r->{status}, 401, "$reason: 401");
    is($r->{headers}{'content-type'}, 'application/json', "$reason: JSON body");
    is($r->{json}{error}, "session_$reason", "$reason: body names the reason");
    like($r->{json}{request_id} // '', qr/^[0-9a-f]{32}$/, "$reason: body carries the request id");
    is($r->{headers}{'www-authenticate'}, 'Bearer error="invalid_token"',
       "$reason: WWW-Authenticate");
    ok(!defined $r->{json}{headers}, "$reason: the portal's page is not shown");
}

# a browser navigation is sent to the login page, with the page to return to
$r = $t->request(GET => '/patients/42?tab=notes&x=1',
                 headers => { Accept => 'text/html,application/xhtml+xml' });
is($r->{status}, 302, 'browser without a session: 302');
# nginx makes Location absolute unless "absolute_redirect off"
like($r->{headers}{location}, qr{^(http://127\.0\.0\.1:\d+)?/login\?next=/patients/42%3Ftab=notes%26x=1$},
     'redirected to the login URL with next=');
ok(!exists $r->{headers}{'www-authenticate'}, 'no WWW-Authenticate on the redirect');

# "//evil.example/x" would make next= protocol-relative; nginx merges the
# slashes for matching, so the target is refused before any redirect
$r = $t->request(GET => '//evil.example/x', headers => { Accept => 'text/html' });
is($r->{status}, 400, 'a protocol-relative target is refused');
ok(!defined $r->{headers}{location}, '... with no redirect to echo it');

$r = $t->request(POST => '/patients/42', headers => { Accept => 'text/html' },
                 body => 'a=1');
is($r->{status}, 401, 'a form POST without a session gets 401, not a redirect');

$r = $t->request(HEAD => '/patients/42', headers => { Accept => 'text/html' },
                 cookie => 'session=' . token(exp => $now - 3600));
is($r->{status}, 302, 'HEAD navigation with an expired session: 302');

# wrong role
$r = $t->request(GET => '/admin/users', cookie => 'session=' . token(), headers => $api);
is($r->{status}, 403, 'doctor on an admin page: 403');
is($r->{json}{error}, 'forbidden', '403 body is JSON');
ok(!defined $r->{json}{headers}, 'the portal was not asked');

$r = $t->request(DELETE => '/patients/42', cookie => 'session=' . token(), headers => $api);
is($r->{status}, 403, 'doctor may not DELETE (methods= rule)');
$r = $t->request(DELETE => '/patients/42', cookie => 'session=' . token(role => 'admin'),
                 headers => $api);
is($r->{status}, 200, 'admin may DELETE');
$r = $t->request(GET => '/admin/users',
                 cookie => 'session=' . token(role => ['nurse', 'admin']), headers => $api);
is($r->{status}, 200, 'role claim as an array');
is($r->{json}{headers}{'x-audit-role'}, 'nurse,admin', 'all roles passed on');

# rules are inherited by nested locations that have none of their own
$r = $t->request(GET => '/ward/notes/1', cookie => 'session=' . token(), headers => $api);
is($r->{status}, 403, 'nested location inherits audit_require_role nurse');
$r = $t->request(GET => '/ward/notes/1', cookie => 'session=' . token(role => 'nurse'),
                 headers => $api);
is($r->{status}, 200, '... and lets a nurse in');
$r = $t->request(GET => '/ward/open/1', headers => $api);
is($r->{status}, 200, 'a nested public location needs no session');

# an alg=none attempt changes nothing for the requests after it
$r = $t->request(GET => '/patients/42', headers => $api, cookie => 'session=' .
    Audit::Token::raw('{"alg":"none"}', qq({"sub":"x","role":"admin","exp":@{[$now + 60]}}), ''));
is($r->{status}, 401, 'alg none refused');
$r = $t->request(GET => '/patients/42', headers => $api, cookie => "session=$other");
is($r->{json}{error}, 'session_bad_signature', '... and signatures are still checked after it');

# error_page 401 = @named keeps working
$r = $t->request(GET => '/friendly/page', headers => $api);
is($r->{status}, 200, 'error_page 401 = @signin takes over');
is($r->{content}, "please sign in\n", '... with its own page');

# satisfy any: an allowed address passes without a session
$r = $t->request(GET => '/intranet/x', headers => $api);
is($r->{status}, 200, 'satisfy any + allow 127.0.0.1: passes without a session');

# variables
$r = $t->request(GET => '/claims/x', cookie => 'session=' . token(dept => 'cardiology'),
                 headers => $api);
is($r->{headers}{'x-claim-dept'}, 'cardiology', '$audit_claim_dept');
is($r->{headers}{'x-decision'}, 'permitted', '$audit_decision');
# a signed claim with CR/LF in it must not start a header line of its own
my $crlf = 'session=' . token(name => "Bob\r\nX-Audit-Role: admin\r\nX-Audit-User-Id: u-admin");
for my $try ('', ' (cached session)') {
    $r = $t->request(GET => '/claims/x', cookie => $crlf, headers => $api);
    is($r->{status}, 200, "a display name with CR/LF in it: 200$try");
    my $h = $r->{json}{headers} || {};
    is($h->{'x-user-name'}, undef, '... $audit_claim_name is empty');
    unlike(join(',', grep { defined } @$h{qw(x-audit-role x-audit-user-id)}), qr/admin/,
           '... and no identity header of the claim\'s making reaches the portal');
}
like($t->error_log, qr/the claim of "\$audit_claim_name" has a control character/,
     '... which the error log names (without the value)');
# the module's own error-log lines name the request scrubbed: a token in
# its query does not reach the error log through them
my $leak = token(sub => 'u-leak', sid => 'sess-leak');
$r = $t->request(GET => "/claims/x?next=$leak&page=2", cookie => $crlf,
                 headers => { %$api, Referer => "http://x/?t=$leak" });
is($r->{status}, 200, 'the same with a session token in the query and the Referer: 200');
my ($line) = grep { /\$audit_claim_name/ && /claims\/x\?next=/ } split /\n/, $t->error_log;
like($line // '', qr{client: 127\.0\.0\.1, request: "GET /claims/x\?next=\[Filtered\]&page=2"},
     '... the warning names the client and the request, the token filtered');
unlike($t->error_log, qr/\Q$leak\E|\Q@{[ (split m{\.}, $leak)[1] ]}\E/, '... and no part of it is in the error log');
$r = $t->request(GET => '/claims/x', cookie => 'session=' . token(exp => $now - 60 * 60),
                 headers => $api);
is($r->{headers}{'x-reason'}, 'expired', '$audit_reason on a refusal');

unlike($t->error_log, qr/\[(alert|crit|emerg)\]|signal \d+/, 'no crash or alert in error log');

$t->stop_all_and_check;
done_testing;
