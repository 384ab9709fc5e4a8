# Failures reach a Sentry-protocol endpoint as grouped issues, with the
# context to act on and nothing secret, without ever slowing a request.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Sys::Hostname ();
use Time::HiRes qw(time sleep);
use Audit::Test;
use Audit::Token;
use Audit::Sentry;

my $t = Audit::Test->new;
my $rx = Audit::Sentry->start($t, project => 7, key => 'pubkey7');

my $secret = 'sentry test secret that is long enough';
$t->file('hmac.key', $secret);
my $now = int time;
sub token { Audit::Token::hs256($secret, { sub => 'u-ann', role => 'nurse', sid => 's-ann',
                                           exp => $now + 3600, @_ }) }
my %users = ('ann@clinic.example' => { password => 'sekret-pw', user_id => 'u-ann', role => 'nurse' });

my %vars = (DSN => $rx->dsn);
$t->write_nginx_conf(<<'CONF', vars => \%vars);
    audit_zone audit:1m;
    audit_session_keys %%DIR%%/hmac.key;
    audit_log %%DIR%%/audit.jsonl flush=100ms;
    audit_sentry_dsn %%DSN%%;
    audit_sentry_environment test;
    audit_sentry_release portal-1.2.3;
    audit_sentry_timeout 1s;
    server {
        listen 127.0.0.1:%%PORT%%;
        location = /login { audit_public on; audit_login username_field=email;
                            proxy_pass http://%%PORTAL%%; }
        location / { proxy_pass http://%%PORTAL%%; }
        location /admin/ { audit_require_role admin; proxy_pass http://%%PORTAL%%; }
        location = /_audit/status { audit_status; audit_public on; }
    }
CONF
$t->start_portal(users => \%users, token_cb => sub { token() });
$t->start_nginx;

my $api = { Accept => 'application/json' };
my $expired = token(exp => $now - 600);

# the three kinds of failure
$t->request(POST => '/login', form => { email => 'ann@clinic.example', password => 'wrong-pw-123' });
$t->request(GET => '/chart?token=abc123', cookie => "session=$expired", headers => $api);
$t->request(GET => '/admin/users', cookie => 'session=' . token(), headers => $api);

my @env = $rx->wait_envelopes(3, type => 'event', timeout => 10);
my @events = $rx->events;
is(scalar @events, 3, 'three failures, three events');

my %by = map { join('|', @{ $_->{fingerprint} }) => $_ } @events;
ok($by{login_failure}, 'wrong password: fingerprint login_failure');
ok($by{'session_invalid:expired'}, 'expired session: fingerprint session_invalid:expired');
my ($denied) = grep { /^authz_denied:/ } keys %by;
like($denied // '', qr{^authz_denied:location /admin/ require_role admin$},
     'wrong role: fingerprint authz_denied:<rule>');

# audit_status counts what the tracker accepted (one worker: exact values)
sub sentry_status { $t->request(GET => '/_audit/status', headers => { Accept => 'application/json' })
                      ->{json}{sentry} }
$t->wait_until(sub { sentry_status()->{sent} >= 3 }, timeout => 5);
is_deeply(sentry_status(), { sent => 3, dropped => 0, queued => 0, breaker_open_workers => 0 },
          'audit_status: sentry.sent 3, nothing dropped, queued or broken');

# no session at all (a bookmark before signing in): logged, not an issue
$rx->clear;
my $r = $t->request(GET => '/admin/users', headers => $api);
is($r->{json}{error}, 'session_missing', 'no session: 401 session_missing');
$t->request(GET => '/chart/after-missing', cookie => "session=$expired", headers => $api);
$rx->wait_envelopes(1, type => 'event', timeout => 10);
is_deeply([ map { join '|', @{ $_->{fingerprint} } } $rx->events ], ['session_invalid:expired'],
          '... no envelope for it (the next failure\'s arrives alone)');
my @missing = grep { $_->{action} eq 'session_invalid' && ($_->{reason} // '') eq 'missing' }
              $t->wait_events($t->dir . '/audit.jsonl', 5);
is(scalar @missing, 1, '... but a session_invalid/missing line in the log');
$t->wait_until(sub { sentry_status()->{sent} >= 4 }, timeout => 5);
is(sentry_status()->{sent}, 4, '... and sentry.sent counts only what was sent');

my $e = $by{'session_invalid:expired'};
is($e->{tags}{ip}, '127.0.0.1', 'tags: ip');
like($e->{tags}{route}, qr{^/chart}, 'tags: route');
unlike($e->{tags}{route}, qr/abc123/, '... with query secrets filtered');
like($e->{tags}{request_id}, qr/^[0-9a-f]{32}$/, 'tags: request_id');
is($e->{tags}{reason}, 'expired', 'tags: reason');
is($e->{user}{id}, 'u-ann', 'user context: id');
is($e->{user}{ip_address}, '127.0.0.1', 'user context: ip_address');
is($e->{request}{env}{REMOTE_ADDR}, '127.0.0.1', 'request.env.REMOTE_ADDR (GlitchTip overwrites user.ip_address)');
is($e->{environment}, 'test', 'environment');
is($e->{release}, 'portal-1.2.3', 'release');
is($e->{platform}, 'c', 'platform c');
is($e->{server_name}, lc Sys::Hostname::hostname(), 'server_name: the host name (lowercased, as nginx has it), exactly');
is($by{$denied}{tags}{role}, 'nurse', 'tags: role on the denial');

my @env_all = $rx->envelopes;
ok((grep { $_->{request}{auth_via} eq 'header' } @env_all) == @env_all,
   'authenticated with X-Sentry-Auth');
my $raw = join '', map { $_->{raw} // '' } @env_all;
my $dump = JSON::PP->new->canonical->encode([ map { $_->{items} } @env_all ]);
unlike($dump, qr/wrong-pw-123|sekret-pw/, 'no password in any envelope');
unlike($dump, qr/eyJ/, 'no token in any envelope');
unlike($dump, qr/ann\@clinic\.example/, 'no attempted username sent to a third party by default');

# 20 expired sessions: 20 events, one issue
$rx->clear;
$t->request(GET => "/chart/$_", cookie => "session=$expired", headers => $api) for 1 .. 20;
$rx->wait_envelopes(20, type => 'event', timeout => 10);
my $issues = $rx->issues;
is($issues->{'session_invalid:expired'}{count}, 20, '20 expired sessions: one issue with a count of 20');
is(scalar keys %$issues, 1, '... and no other issue');
$t->wait_until(sub { sentry_status()->{sent} >= 24 }, timeout => 5);
is(sentry_status()->{sent}, 24, 'sentry.sent: 4 + 20');

# 429 with Retry-After: nothing more is sent until it passes
$rx->clear;
$rx->set(mode => 'ratelimit', retry_after => 60, rate_limits => undef);
$t->request(GET => "/x/1", cookie => "session=$expired", headers => $api);
$rx->wait_requests(1, timeout => 5);
$t->request(GET => "/x/$_", cookie => "session=$expired", headers => $api) for 2 .. 6;
sleep 1;
is(scalar $rx->requests, 1, '429 + Retry-After: no further request to the tracker');
like($t->error_log, qr/Sentry rate limit: sending paused/, '... and the pause is logged');
$t->wait_until(sub { sentry_status()->{dropped} >= 6 }, timeout => 5);
is_deeply([ @{ sentry_status() }{qw(sent dropped)} ], [24, 6],
          'sentry.dropped: the 429ed envelope and the 5 held back by Retry-After; sent unchanged');

# a tracker that accepts connections and never answers: requests are not slowed
$t->stop_nginx;
$rx->set(mode => 'blackhole');
$t->start_nginx;     # new workers: no rate limit remembered
my $slowest = 0;
for my $i (1 .. 8) {
    my $t0 = time;
    my $r = $t->request(GET => "/bh/$i", cookie => "session=$expired", headers => $api);
    $slowest = time - $t0 if time - $t0 > $slowest;
    is($r->{status}, 401, "blackholed tracker: request $i still gets its 401") if $i <= 2;
}
cmp_ok($slowest, '<', 1, 'no request waits for the tracker (each under its 1 s timeout)');
ok($t->wait_until(sub { sentry_status()->{queued} >= 1 }, timeout => 5),
   'sentry.queued: envelopes wait in the queue while the tracker does not answer');
$t->wait_until(sub { $t->error_log =~ /circuit breaker open/ }, timeout => 15);
like($t->error_log, qr/Sentry circuit breaker open/, 'the breaker opens and shows in the error log');
$t->wait_until(sub { sentry_status()->{dropped} >= 8 }, timeout => 5);
is_deeply(sentry_status(), { sent => 0, dropped => 8, queued => 0, breaker_open_workers => 1 },
          'audit_status after a restart: the 8 envelopes dropped, none queued, one breaker open');

# audit_sentry_events naming session_invalid:missing: now it is sent
$t->stop_nginx;
$rx->set(mode => 'ok');
$rx->clear;
my $conf = Audit::Test::_read_file($t->conf_path);
$conf =~ s/audit_sentry_timeout 1s;/audit_sentry_timeout 1s;\n    audit_sentry_events all session_invalid:missing;/
    or die 'no audit_sentry_timeout line';
Audit::Test::_write_file($t->conf_path, $conf);
$t->start_nginx;
$t->request(GET => '/admin/users', headers => $api);
$rx->wait_envelopes(1, type => 'event', timeout => 10);
is_deeply([ map { join '|', @{ $_->{fingerprint} } } $rx->events ], ['session_invalid:missing'],
          'audit_sentry_events all session_invalid:missing: a missing session is sent');

unlike($t->error_log, qr/\[(alert|crit|emerg)\]|exited on signal/, 'no alert or crash');

$t->stop_all_and_check;
done_testing;
