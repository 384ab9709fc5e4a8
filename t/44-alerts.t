# Alerts that reach people: a brute force is one PagerDuty trigger and one
# Slack message with its count, not one per failure; a PostgreSQL outage
# triggers and resolves with the same dedup_key; a 5xx-rate rule fires
# once and resolves; each route's counters match what its receiver got;
# nothing secret is in any message.  The receivers check every field
# against PagerDuty Events API v2, Slack's webhooks and docs/alerts.md.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep);
use Audit::Test;
use Audit::Token;
use Audit::Alert;

my $t = Audit::Test->new;
my $dir = $t->dir;
my $writer = $t->audit_db;

my $pd = Audit::Alert->start($t, kind => 'pagerduty');
my $sl = Audit::Alert->start($t, kind => 'slack');
my $wh = Audit::Alert->start($t, kind => 'webhook');

my $secret = 'alerts test secret that is long enough';
$t->file('hmac.key', $secret);
mkdir "$dir/spool" or die;
my $key = 'R0UT1NGKEY0123456789abcdefABCDEF';
my $tok = Audit::Token::hs256($secret, { sub => 'u-ann', role => 'doctor', exp => time + 3600 });

my %vars = (CONN => $writer, KEY => $key, PD => $pd->url, SL => $sl->url, WH => $wh->url);
$t->write_nginx_conf(<<'CONF', workers => 2, vars => \%vars);
    audit_zone audit:1m;
    audit_session_keys %%DIR%%/hmac.key;
    audit_log %%DIR%%/audit.jsonl flush=100ms;
    audit_pg "%%CONN%%" batch=50 flush=100ms;
    audit_spool %%DIR%%/spool;
    audit_alert pagerduty %%KEY%% severity=critical url=%%PD%%;
    audit_alert slack https://hooks.slack.com/services/T/B/X severity=warning url=%%SL%%;
    audit_alert webhook %%WH%% severity=warning;
    audit_alert_rule upstream_5xx > 20% window=4s severity=warning;
    server {
        listen 127.0.0.1:%%PORT%%;
        location = /login {
            audit_public on;
            audit_login username_field=email;
            audit_bruteforce 5/5m;
            proxy_pass http://%%PORTAL%%;
        }
        location = /_audit/status { audit_status; audit_public on; }
        location / { proxy_pass http://%%PORTAL%%; }
    }
CONF
$t->start_portal(users => { 'ann@clinic.example' => { password => 'correct-horse',
                                                      user_id => 'u-ann', role => 'doctor' } },
                 token_cb => sub { $tok });
$t->start_nginx;

sub routes {
    my $s = $t->request(GET => '/_audit/status', headers => { Accept => 'application/json' })->{json};
    return { map { $_->{route} => $_ } @{ $s->{alerts}{routes} || [] } };
}
sub all_bodies { join "\n", map { $_->{body} } map { $_->requests } $pd, $sl, $wh }

# --- brute force: 8 failures from one address, spread over 2 workers -------------

for my $i (1 .. 8) {
    my $r = $t->request(POST => '/login',
        form => { email => "guess$i\@clinic.example", password => "pw-secret-$i" });
    is($r->{status}, 401, "failed login $i: the portal's 401, unchanged") if $i == 1;
}
$t->wait_until(sub { grep { $_->{action} eq 'bruteforce_suspected' } $t->log_events("$dir/audit.jsonl") },
               timeout => 5);
my @pdm = $pd->wait_messages(1, where => sub { ($_[0]{dedup_key} // '') eq 'bruteforce_suspected' });
my @slm = $sl->wait_messages(1);
my @whm = $wh->wait_messages(1);
sleep 1.5;    # anything more would have arrived by now
@pdm = $pd->messages;
@slm = $sl->messages;
@whm = $wh->messages;
is(scalar @pdm, 1, 'brute force: exactly one PagerDuty event');
is($pdm[0]{event_action}, 'trigger', '... a trigger');
is($pdm[0]{dedup_key}, 'bruteforce_suspected', '... dedup_key: the fingerprint');
is($pdm[0]{payload}{severity}, 'critical', '... severity critical');
is($pdm[0]{payload}{class}, 'bruteforce_suspected', '... class');
is($pdm[0]{payload}{custom_details}{count}, 5, '... with the count of failures (5 in the window)');
like($pdm[0]{payload}{summary}, qr/5 failed logins/, '... in the summary too');
is($pdm[0]{payload}{custom_details}{route}, '/login', '... the route');
like($pdm[0]{payload}{custom_details}{request_id} // '', qr/^[0-9a-f]{32}$/, '... the request id');
is(scalar @slm, 1, 'brute force: exactly one Slack message');
like($slm[0]{text}, qr/^\[CRITICAL\] Brute force suspected: 5 failed logins/, '... readable text with the count');
is(scalar @whm, 1, 'brute force: exactly one webhook message');
is($whm[0]{status}, 'firing', '... firing');
is($whm[0]{alerts}[0]{annotations}{count}, '5', '... with the count');
is(scalar(() = $pd->rejected) + scalar(() = $sl->rejected) + scalar(() = $wh->rejected), 0,
   'every message passed the receivers\' checks')
    or diag explain [map { $_->{errors} } map { $_->rejected } $pd, $sl, $wh];

my $bodies = all_bodies();
unlike($bodies, qr/pw-secret|guess\d|clinic\.example|u-ann|\Q$secret\E/,
       'no password, attempted username, user id or key in any message');

# --- a 5xx rate over 20% in 4 s: fires once, resolves once ------------------------

for my $i (1 .. 6) {
    $t->request(GET => '/status/502', cookie => "session=$tok");
    $t->request(GET => '/ok', cookie => "session=$tok");
}
my @fire = $wh->wait_messages(1, timeout => 10,
    where => sub { $_[0]{alerts}[0]{labels}{alertname} eq 'upstream_5xx' && $_[0]{status} eq 'firing' });
is(scalar @fire, 1, 'upstream_5xx > 20%: the rule fires');
like($fire[0]{alerts}[0]{annotations}{description}, qr/6 of 12 upstream answers were 5xx/,
     '... saying what it saw');
my @res = $wh->wait_messages(1, timeout => 20,
    where => sub { $_[0]{alerts}[0]{labels}{alertname} eq 'upstream_5xx' && $_[0]{status} eq 'resolved' });
is(scalar @res, 1, '... and resolves once the window has no 5xx');
is($res[0]{groupKey}, $fire[0]{groupKey}, '... same group key');
my @rule = grep { $_->{alerts}[0]{labels}{alertname} eq 'upstream_5xx' } $wh->messages;
is(scalar @rule, 2, 'exactly one firing and one resolved webhook message for the rule');
my @slrule = grep { $_->{text} =~ /upstream_5xx/ } $sl->messages;
is(scalar @slrule, 2, 'and two Slack messages (fired, cleared)');
ok(!grep({ ($_->{payload}{class} // '') eq 'upstream_5xx' } $pd->messages),
   'a warning rule does not page (PagerDuty route is critical)');

# --- PostgreSQL down: trigger, then resolve with the same dedup_key ------------------

$t->stop_pg;
$t->request(GET => "/ok-$_", cookie => "session=$tok") for 1 .. 5;
my @down = $pd->wait_messages(1, timeout => 15,
    where => sub { ($_[0]{dedup_key} // '') eq 'module_fault:pg_down' });
is(scalar @down, 1, 'PostgreSQL stopped: one PagerDuty trigger');
is($down[0]{event_action}, 'trigger', '... trigger');
is($down[0]{payload}{group}, 'postgresql', '... group postgresql');
$t->start_pg_again;
my @up = $pd->wait_messages(2, timeout => 30,
    where => sub { ($_[0]{dedup_key} // '') eq 'module_fault:pg_down' });
is(scalar @up, 2, 'PostgreSQL back: a second event for the same dedup_key');
is($up[1]{event_action}, 'resolve', '... a resolve');
is($up[1]{dedup_key}, $down[0]{dedup_key}, '... same dedup_key');
my @whpg = grep { $_->{alerts}[0]{labels}{alertname} eq 'pg_down' } $wh->wait_messages(4, timeout => 5);
is_deeply([map { $_->{status} } @whpg], ['firing', 'resolved'], 'webhook: pg_down firing, then resolved');

# --- the routes' counters are what the receivers got ---------------------------------

sleep 1;
my $c = routes();
is($c->{'pagerduty-1'}{sent}, scalar($pd->messages), 'pagerduty-1 sent = messages PagerDuty accepted');
is($c->{'slack-2'}{sent}, scalar($sl->messages), 'slack-2 sent = messages Slack accepted');
is($c->{'webhook-3'}{sent}, scalar($wh->messages), 'webhook-3 sent = messages the webhook accepted');
is($c->{$_}{failed} + $c->{$_}{dropped}, 0, "$_: nothing failed or dropped") for sort keys %$c;
my $prom = $t->request(GET => '/_audit/status?format=prometheus')->{content};
like($prom, qr/^audit_alert_sent_total\{route="slack-2"\} ${\ scalar($sl->messages)}$/m,
     'Prometheus: audit_alert_sent_total per route');

unlike($t->error_log, qr/\[(alert|crit|emerg)\]|exited on signal/, 'no crash');

$t->stop_all_and_check;
done_testing;
