# audit_test proves the routing before an incident does: a POST by someone
# signed in sends a labelled test event to the tracker and a test alert to
# every route, and answers each destination's result: accepted, refused
# with its status, timed out.  A blackholed route's breaker opens after
# repeated failures; requests are served meanwhile, and audit_health and
# audit_status show it.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Audit::Test;
use Audit::Token;
use Audit::Alert;
use Audit::Sentry;
use JSON::PP;

my $t = Audit::Test->new;
my $pd = Audit::Alert->start($t, kind => 'pagerduty');
my $sl = Audit::Alert->start($t, kind => 'slack');
my $wh = Audit::Alert->start($t, kind => 'webhook', mode => 'blackhole');
my $rx = Audit::Sentry->start($t, project => 4, key => 'testkey');

my $secret = 'audit_test secret that is long enough';
$t->file('hmac.key', $secret);
my $tok = Audit::Token::hs256($secret, { sub => 'u-admin', role => 'admin', exp => time + 3600 });
my $key = 'R0UT1NGKEY0123456789abcdefABCDEF';

my %vars = (KEY => $key, PD => $pd->url, SL => $sl->url, WH => $wh->url, DSN => $rx->dsn);
$t->write_nginx_conf(<<'CONF', vars => \%vars);
    audit_zone audit:1m;
    audit_session_keys %%DIR%%/hmac.key;
    audit_log %%DIR%%/audit.jsonl flush=100ms;
    audit_sentry_dsn %%DSN%%;
    audit_alert pagerduty %%KEY%% url=%%PD%%;
    audit_alert slack %%SL%% severity=warning;
    audit_alert webhook %%WH%% severity=warning timeout=500ms;
    server {
        listen 127.0.0.1:%%PORT%%;
        location = /_audit/test { audit_require_role admin; audit_test; }
        location = /_audit/status { audit_status; audit_public on; }
        location = /healthz { audit_health; audit_public on; }
        location / { proxy_pass http://%%PORTAL%%; }
    }
CONF
$t->start_portal;
$t->start_nginx;

my $hdr = { Accept => 'application/json' };

# protected like any other location, and POST only
my $r = $t->request(POST => '/_audit/test', headers => $hdr);
is($r->{status}, 401, 'no session: 401');
is(scalar $sl->messages, 0, '... and nothing sent');
$r = $t->request(GET => '/_audit/test', cookie => "session=$tok", headers => $hdr);
is($r->{status}, 405, 'GET with a session: 405');
my $nurse = Audit::Token::hs256($secret, { sub => 'u-n', role => 'nurse', exp => time + 3600 });
is($t->request(POST => '/_audit/test', cookie => "session=$nurse", headers => $hdr)->{status}, 403,
   'a nurse: 403 (audit_require_role admin)');

# it pages the on-call: a POST another site's page makes with the admin's
# cookie is refused, and so is one that says nothing of where it is from
my $origin = 'http://127.0.0.1:' . $t->port;
for my $c (['Sec-Fetch-Site cross-site', { 'Sec-Fetch-Site' => 'cross-site', Origin => $origin }],
           ['Sec-Fetch-Site same-site', { 'Sec-Fetch-Site' => 'same-site' }],
           ['an Origin of another site', { Origin => 'http://evil.example' }],
           ['Origin: null', { Origin => 'null' }],
           ['an Origin naming this host on another port', { Origin => 'http://127.0.0.1:1' }],
           ['neither Sec-Fetch-Site nor Origin', {}]) {
    my ($what, $extra) = @$c;
    $r = $t->request(POST => '/_audit/test', cookie => "session=$tok", headers => { %$hdr, %$extra });
    is($r->{status}, 403, "an admin's POST with $what: 403");
}
is(scalar $sl->messages, 0, '... and nothing was sent to any route');
like($t->error_log, qr/audit_test: a cross-site POST refused/, '... which the error log says');
my $same = { %$hdr, 'Sec-Fetch-Site' => 'same-origin' };

# PagerDuty refuses (400), Slack accepts, the webhook never answers
$pd->set(mode => 'fail', status => 400);
$r = $t->request(POST => '/_audit/test', cookie => "session=$tok", headers => { %$hdr, Origin => $origin });
is($r->{status}, 200, 'POST with an admin session and an Origin of this host: 200');
my %res = map { $_->{destination} => $_ } @{ $r->{json}{results} || [] };
is_deeply($res{'slack-2'}, { destination => 'slack-2', result => 'accepted', status => 200 },
          'slack-2: accepted, 200');
is_deeply($res{'pagerduty-1'}, { destination => 'pagerduty-1', result => 'refused', status => 400 },
          'pagerduty-1: refused, 400');
is_deeply($res{'webhook-3'}, { destination => 'webhook-3', result => 'timed_out' },
          'webhook-3: timed out');
is_deeply($res{tracker}, { destination => 'tracker', result => 'accepted', status => 200 },
          'tracker: accepted, 200');
like($r->{json}{request_id}, qr/^[0-9a-f]{32}$/, 'the answer names its request id');

my ($m) = $sl->messages;
like($m->{text}, qr/^TEST \[INFO\] Test alert from audit_test/, 'the Slack message is labelled a test');
my $json = JSON::PP->new->canonical;
my ($ev) = grep { $json->encode($_) =~ /Test event from audit_test/ } $rx->events;
ok($ev, 'the tracker got a labelled test event');
is($ev->{tags}{request_id}, $r->{json}{request_id}, '... with the request id');

# a 500 is refused with its status too
$pd->set(mode => 'fail', status => 500);
$sl->set(mode => 'ok');
$r = $t->request(POST => '/_audit/test', cookie => "session=$tok", headers => $same);
%res = map { $_->{destination} => $_ } @{ $r->{json}{results} || [] };
is_deeply($res{'pagerduty-1'}, { destination => 'pagerduty-1', result => 'refused', status => 500 },
          'pagerduty-1 answering 500: refused, 500');

# the blackholed webhook: after 5 failures in a row its breaker opens
for (3 .. 5) {
    $t->request(POST => '/_audit/test', cookie => "session=$tok", headers => $same);
    is($t->request(GET => '/ok', cookie => "session=$tok")->{status}, 200,
       'a request meanwhile: served');
}
$r = $t->request(POST => '/_audit/test', cookie => "session=$tok", headers => $same);
%res = map { $_->{destination} => $_ } @{ $r->{json}{results} || [] };
is($res{'webhook-3'}{result}, 'breaker_open', 'after 5 timeouts: webhook-3 breaker_open');
like($t->error_log, qr/webhook-3 circuit breaker open/, '... in the error log');
my %routes = map { $_->{route} => $_ } @{ $t->request(GET => '/_audit/status', headers => $hdr)
                                              ->{json}{alerts}{routes} };
is($routes{'webhook-3'}{breaker_open_workers}, 1, 'audit_status: webhook-3 breaker open');
is($routes{'pagerduty-1'}{breaker_open_workers}, 1,
   'pagerduty-1, answering 500 five times in a row: its breaker is open too');
like($t->error_log, qr/pagerduty-1 circuit breaker open/, '... in the error log');
is($routes{'webhook-3'}{failed}, 5, '... 5 failed');
is($routes{'slack-2'}{sent}, scalar($sl->messages), 'slack-2 sent = what Slack got');
is($routes{'slack-2'}{sent}, 6, '... 6');
my $h = $t->request(GET => '/healthz', headers => $hdr);
is($h->{status}, 200, 'audit_health: 200');
is($h->{json}{status}, 'degraded', '... degraded');
is($h->{json}{checks}{alerts}{status}, 'degraded', '... from the alerts check');
is($h->{json}{checks}{alerts}{routes}{'webhook-3'}{breaker_open_workers}, 1, '... naming the route');
is(scalar(() = $pd->rejected) + scalar(() = $sl->rejected), 0, 'every message passed the receivers\' checks');

unlike($t->error_log, qr/\[(alert|crit|emerg)\]|exited on signal/, 'no crash');
$t->stop_all_and_check;
done_testing;
