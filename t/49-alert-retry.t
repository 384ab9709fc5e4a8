# A route answering 429 is tried again after its Retry-After; one
# answering 5xx is tried 3 times, then counted as failed; nothing is sent
# twice once accepted.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep);
use Audit::Test;
use Audit::Token;
use Audit::Alert;

my $t = Audit::Test->new;
my $wh = Audit::Alert->start($t, kind => 'webhook', mode => 'ratelimit', retry_after => 2);

my $secret = 'retry test secret that is long enough';
$t->file('hmac.key', $secret);
my $tok = Audit::Token::hs256($secret, { sub => 'u-r', role => 'doctor', exp => time + 3600 });

$t->write_nginx_conf(<<'CONF', vars => { WH => $wh->url });
    audit_zone audit:1m;
    audit_session_keys %%DIR%%/hmac.key;
    audit_log %%DIR%%/audit.jsonl flush=100ms;
    audit_alert webhook %%WH%% severity=warning;
    audit_alert_rule no_events window=2s;
    server {
        listen 127.0.0.1:%%PORT%%;
        location = /_audit/status { audit_status; audit_public on; }
        location / { proxy_pass http://%%PORTAL%%; }
    }
CONF
$t->start_portal;
$t->start_nginx;

sub route { $t->request(GET => '/_audit/status', headers => { Accept => 'application/json' })
                ->{json}{alerts}{routes}[0] }

# no_events fires (and fires again each time 2 s pass without an
# event); the webhook answers 429 Retry-After: 2
$t->wait_until(sub { grep { $_->{status} == 429 } $wh->requests }, timeout => 10);
$wh->set(mode => 'ok');
my @m = $wh->wait_messages(1, timeout => 10);
is(scalar @m, 1, 'a 429 is tried again, and then accepted');
is($m[0]{status}, 'firing', '... the no_events alert');
like($t->error_log, qr/webhook-1 answered 429, trying again in 2000 ms/,
     '... after the Retry-After it gave');
my @req = $wh->requests;
is_deeply([map { $_->{status} } @req], [429, 200], 'one 429, then one 200: nothing sent twice');
is($req[0]{body}, $req[1]{body}, '... the same message both times');
$t->wait_until(sub { route()->{sent} == 1 }, timeout => 5);
is_deeply([@{ route() }{qw(sent failed dropped)}], [1, 0, 0], 'counters: sent 1, failed 0, dropped 0');

# the webhook answers 500: 3 attempts, then failed
$wh->set(mode => 'fail', status => 500);
$t->request(GET => '/chart');    # refused: an event, so no_events resolves
sub resolves { grep { $_->{body} =~ /"status":"resolved"/ } $wh->requests }
$t->wait_until(sub { route()->{failed} >= 1 && resolves() >= 3 }, timeout => 20, interval => 0.2);
sleep 2;    # a fourth attempt would have come by now
my @res = resolves();
is_deeply([map { $_->{status} } @res], [500, 500, 500], 'a 500: the resolve is tried 3 times')
    or diag explain [map { [$_->{status}, $_->{body}] } $wh->requests];
is($res[0]{body}, $res[2]{body}, '... the same message each time');
is(route()->{sent}, 1, '... not counted as sent');
ok(route()->{failed} >= 1, '... but as failed');
is(route()->{breaker_open_workers}, 0, 'one failed alert does not open the breaker');


unlike($t->error_log, qr/\[(alert|crit|emerg)\]|exited on signal/, 'no crash');
$t->stop_all_and_check;
done_testing;
