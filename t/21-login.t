# Logins and logouts observed from the portal's own traffic; the failed-
# login detector; passwords never logged.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Audit::Test;
use Audit::Token;

my $t = Audit::Test->new;

my $secret = 'login test secret that is long enough';
$t->file('hmac.key', $secret);

my $now = time;
my %users = (
    'ann@clinic.example' => { password => 'correct-horse', user_id => 'u-ann', role => 'doctor' },
    'bob@clinic.example' => { password => 'battery-staple', user_id => 'u-bob', role => 'nurse' },
    'carol@clinic.example' => { password => 'correct-carol', user_id => 'u-carol', role => 'doctor' },
);
my $n = 0;
sub mint {
    my ($u) = @_;
    return Audit::Token::hs256($secret, { sub => $u->{user_id}, role => $u->{role},
                                          sid => "sess-$u->{user_id}-" . ++$n . '-' . int(rand 1e9),
                                          exp => time + 3600 });
}

$t->write_nginx_conf(<<'CONF');
    audit_zone audit:1m;
    audit_session_keys %%DIR%%/hmac.key;
    audit_log %%DIR%%/audit.jsonl flush=100ms;

    server {
        listen 127.0.0.1:%%PORT%%;

        location = /login {
            audit_public on;
            audit_login username_field=email;
            audit_bruteforce 5/5m;
            proxy_pass http://%%PORTAL%%;
        }
        location = /guarded-login {
            audit_public on;
            audit_bruteforce 5/5m;
            if ($audit_bruteforce) { return 429; }
            return 204;
        }
        location = /logout {
            audit_logout;
            proxy_pass http://%%PORTAL%%;
        }
        location / { proxy_pass http://%%PORTAL%%; }
    }
CONF
$t->start_portal(users => \%users, token_cb => \&mint);
$t->start_nginx;

my $log = $t->dir . '/audit.jsonl';

# a good login, form-encoded
my $r = $t->request(POST => '/login',
    form => { email => 'ann@clinic.example', password => 'correct-horse' });
is($r->{status}, 302, 'good credentials: the portal answers 302');
my ($cookie) = ($r->{headers}{'set-cookie'} // '') =~ /^(session=[^;]+)/;
ok($cookie, '... and sets the session cookie');

my @ev = $t->wait_events($log, 2);
is($ev[0]{action}, 'login_success', 'login_success');
is($ev[0]{user_id}, 'u-ann', '... user from the new token');
is($ev[0]{role}, 'doctor', '... role');
like($ev[0]{session_id}, qr/^sess-u-ann-/, '... session id claim');
is($ev[0]{status}, 302, '... status');
is($ev[1]{action}, 'session_create', 'session_create');
is($ev[1]{user_id}, 'u-ann', '... user');
is($ev[1]{session_id}, $ev[0]{session_id}, '... session');

# the session works at once, and the logout ends it
$r = $t->request(GET => '/chart', cookie => $cookie);
is($r->{json}{headers}{'x-audit-user-id'}, 'u-ann', 'the new session is recognised');
$r = $t->request(POST => '/logout', cookie => $cookie);
is($r->{status}, 302, 'logout: 302');

# a copy of the logged-out cookie cannot be replayed, on any worker
$r = $t->request(GET => '/chart', cookie => $cookie, headers => { Accept => 'application/json' });
is($r->{status}, 401, 'the logged-out session is refused');
is($r->{json}{error}, 'session_revoked', '... as revoked');

# a wrong password, JSON body
$r = $t->request(POST => '/login',
    json => { email => 'bob@clinic.example', password => 'hunter2-wrong' });
is($r->{status}, 401, 'wrong password: 401 from the portal');

# the request body reached the portal intact (login observed, not consumed)
$r = $t->request(POST => '/login',
    form => { email => 'bob@clinic.example', password => 'battery-staple', extra => 'x' x 100 });
is($r->{status}, 302, 'a body read by the module still reaches the portal whole');

@ev = $t->wait_events($log, 9);
my @actions = map { $_->{action} } @ev;
is_deeply([@actions[0 .. 8]], [qw(login_success session_create authz_check authz_check
                                  session_destroy session_invalid
                                  login_failure login_success session_create)],
          'events in order') or diag explain \@actions;
is($ev[4]{user_id}, 'u-ann', 'session_destroy user');
is($ev[4]{session_id}, $ev[0]{session_id}, 'session_destroy session');
is($ev[5]{reason}, 'revoked', 'the replay is a session_invalid, revoked');
is($ev[6]{attempted_user}, 'bob@clinic.example', 'login_failure names the account tried');
is($ev[6]{reason}, 'invalid_credentials', '... reason from the 401');
is($ev[6]{severity}, 'warning', '... warning');
ok(!exists $ev[6]{user_id}, '... no user id');

# brute force: 6 failures from one address: exactly one event, for the ip
for my $i (1 .. 6) {
    $t->request(POST => '/login',
        form => { email => "guess$i\@clinic.example", password => "pw-secret-$i" });
}
@ev = $t->wait_events($log, 9 + 6 + 1);
sleep 0.3;
@ev = $t->log_events($log);
my @bf = grep { $_->{action} eq 'bruteforce_suspected' } @ev;
is(scalar @bf, 1, '6 failures in the window: exactly one bruteforce_suspected');
is($bf[0]{reason}, 'ip', '... keyed by the client address');
is($bf[0]{ip}, '127.0.0.1', '... which it names');
is($bf[0]{count}, 5, '... at the 5th failure');
is($bf[0]{window}, 300, '... window in seconds');
is($bf[0]{severity}, 'critical', '... critical');

# $audit_bruteforce lets a configuration answer 429
$r = $t->request(POST => '/guarded-login');
is($r->{status}, 429, '$audit_bruteforce: 429 for the flagged address');

# five failures for one account (two of them counted above are other accounts)
for my $i (1 .. 5) {
    $t->request(POST => '/login', form => { email => 'ann@clinic.example', password => "nope$i" });
}
my $by_user = sub {
    grep { $_->{action} eq 'bruteforce_suspected' && ($_->{reason} // '') eq 'attempted_user' }
        $t->log_events($log);
};
$t->wait_until(sub { $by_user->() }, timeout => 5);
sleep 0.3;
@bf = $by_user->();
is(scalar @bf, 1, 'five failures for one account: one bruteforce_suspected for it');
is($bf[0]{attempted_user}, 'ann@clinic.example', '... naming the account');

# the account tried is named whatever body type the portal reads as a
# form or JSON (text/json and application/x-json are JSON to Laravel and
# Rails, multipart/form-data is a form to every framework): before, those
# logins named nobody and their failures counted for no account
my $multipart = sub {
    my ($b, %f) = @_;
    return join('', map { "--$b\r\nContent-Disposition: form-data; name=\"$_\"\r\n\r\n$f{$_}\r\n" }
                    sort keys %f) . "--$b--\r\n";
};
my @bodies = (
    ['text/json', '{"email":"carol@clinic.example","password":"tj-pw-1"}'],
    ['application/x-json; charset=utf-8', '{"password":"xj-pw-2","email":"carol@clinic.example"}'],
    ['multipart/form-data; boundary=----f0rmB0undary',
     $multipart->('----f0rmB0undary', password => 'mp-pw-3', email => 'carol@clinic.example')],
    ['multipart/form-data; boundary="q b"',
     $multipart->('q b', email => 'carol@clinic.example', password => 'mp-pw-4')],
    ['Multipart/Form-Data; BOUNDARY=x',
     $multipart->('x', email => 'carol@clinic.example', password => 'mp-pw-5', remember => 'on')],
);
for my $b (@bodies) {
    $r = $t->request(POST => '/login', body => $b->[1], headers => { 'Content-Type' => $b->[0] });
    is($r->{status}, 401, "$b->[0]: the portal read the login (401: wrong password)");
}
$t->wait_until(sub { grep { ($_->{attempted_user} // '') eq 'carol@clinic.example'
                            && $_->{action} eq 'bruteforce_suspected' } $t->log_events($log) },
               timeout => 5);
sleep 0.3;
my @carol = grep { ($_->{attempted_user} // '') eq 'carol@clinic.example' } $t->log_events($log);
is(scalar(grep { $_->{action} eq 'login_failure' } @carol), 5,
   'each of them: a login_failure naming the account tried');
is(scalar(grep { $_->{action} eq 'bruteforce_suspected' && $_->{reason} eq 'attempted_user' } @carol), 1,
   '... and five of them: one bruteforce_suspected for that account');
$r = $t->request(POST => '/login', body => $multipart->('B', email => 'carol@clinic.example', password => 'correct-carol'),
                 headers => { 'Content-Type' => 'multipart/form-data; boundary=B' });
is($r->{status}, 302, 'a multipart login with the right password still reaches the portal whole');

# a body naming the account twice: PHP, Rails, Django log in the last one,
# Java servlets the first; the event names the last and every failure
# counts against both, so a decoy before (or after) the real account
# hides nothing from the per-account detector
for my $i (1 .. 5) {
    my $body = $i % 2
        ? "email=decoy$i%40clinic.example&password=dup-pw-$i&email=dan%40clinic.example"
        : $multipart->('B', email => 'dan@clinic.example', password => "dup-pw-$i")
          =~ s/^/--B\r\nContent-Disposition: form-data; name="email"\r\n\r\ndecoy$i\@clinic.example\r\n/r;
    $r = $t->request(POST => '/login', body => $body, headers => { 'Content-Type' =>
        $i % 2 ? 'application/x-www-form-urlencoded' : 'multipart/form-data; boundary=B' });
    is($r->{status}, 401, "the field twice ($i): the portal answers");
}
$t->wait_until(sub { grep { ($_->{attempted_user} // '') eq 'dan@clinic.example'
                            && $_->{action} eq 'bruteforce_suspected' } $t->log_events($log) },
               timeout => 5);
sleep 0.3;
my @dan = grep { $_->{action} eq 'login_failure' && ($_->{attempted_user} // '') =~ /dan\@|decoy/ }
    $t->log_events($log);
is_deeply([map { $_->{attempted_user} } @dan], [('dan@clinic.example') x 5],
          'the field twice: each login_failure names the last account, as PHP and Rails read it');
is(scalar(grep { $_->{action} eq 'bruteforce_suspected' && ($_->{attempted_user} // '') eq 'dan@clinic.example' }
          $t->log_events($log)), 1,
   '... five failures against it: one bruteforce_suspected for it');
$r = $t->request(POST => '/login', body => 'email=decoy1%40clinic.example&email=decoy1%40clinic.example&password=x'
                 . '&email=x2', headers => { 'Content-Type' => 'application/x-www-form-urlencoded' })
    for 1 .. 4;
$t->wait_until(sub { grep { ($_->{attempted_user} // '') eq 'decoy1@clinic.example'
                            && $_->{action} eq 'bruteforce_suspected' } $t->log_events($log) },
               timeout => 5);
sleep 0.3;
is(scalar(grep { $_->{action} eq 'bruteforce_suspected' && ($_->{attempted_user} // '') eq 'decoy1@clinic.example' }
          $t->log_events($log)), 1,
   '... and the first account, as Java reads it, is counted too (1 + 4 failures: one bruteforce_suspected)');

# a 16 KiB username with quotes, a line break and invalid UTF-8: one line,
# valid JSON, the name cut to its cap
my $huge = "x\"\n\xff" . ('u' x 16384) . '@clinic.example';
my $before = () = $t->log_lines($log);
$r = $t->request(POST => '/login', form => { email => $huge, password => 'huge-pw-1' });
is($r->{status}, 401, '16 KiB username: the portal answers, the module does not fail');
$t->wait_until(sub { $t->log_lines($log) > $before }, timeout => 5);
sleep 0.3;
my @all = eval { $t->log_events($log) };
is(scalar @all, scalar($t->log_lines($log)), 'every line is still one JSON object');
my ($last) = grep { $_->{action} eq 'login_failure' } reverse @all;
cmp_ok(length($last->{attempted_user} // ''), '<=', 256, 'attempted_user capped');
like($last->{attempted_user} // "", qr/^x"\n.u+/s, "... quote and line break kept as data");

# passwords never anywhere
my $all = join '', $t->log_lines($log), $t->error_log;
for my $pw ('correct-horse', 'battery-staple', 'hunter2-wrong', 'pw-secret-3', 'nope2', 'huge-pw-1',
            'tj-pw-1', 'xj-pw-2', 'mp-pw-3', 'mp-pw-4', 'mp-pw-5', 'correct-carol',
            'dup-pw-1', 'dup-pw-2', 'dup-pw-5') {
    unlike($all, qr/\Q$pw\E/, "password '$pw' appears nowhere");
}
unlike($all, qr/eyJ/, 'no token appears anywhere');

unlike($t->error_log, qr/\[(alert|crit|emerg)\]|exited on signal/, 'no alert or crash');

$t->stop_all_and_check;
done_testing;
