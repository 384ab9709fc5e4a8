# Bad alert configuration fails nginx -t naming the directive and its
# line, and never echoes a routing key or a webhook's secret path; a good
# one passes, and a reload keeps the routes' counters.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Audit::Test;
use Audit::Alert;

my $t = Audit::Test->new;
my $key = 'R0UT1NGKEY0123456789abcdefABCDEF';

my @bad = (
    ['audit_alert pagerduty SECRETKEY-too-short;', qr/invalid routing key in "audit_alert pagerduty"/, 'SECRETKEY'],
    ['audit_alert teams http://127.0.0.1:9/x;', qr/invalid kind "teams" in "audit_alert"/],
    ['audit_alert slack ftp://127.0.0.1/services/T/B/SECRETPATH;', qr/invalid URL in "audit_alert slack-1"/, 'SECRETPATH'],
    ['audit_alert slack http://no-such-host.invalid/services/T/B/SECRETPATH;',
     qr/"audit_alert" host "no-such-host\.invalid" cannot be resolved/, 'SECRETPATH'],
    # a port typo, or a user:password@ (which nginx takes for a bad port):
    # the host only, never the URL's secret path or the credentials
    ['audit_alert slack https://hooks.slack.com:443x/services/T0/B0/SECRETPATH;',
     qr/"audit_alert" host "hooks\.slack\.com:443x" cannot be resolved: invalid port/, 'SECRETPATH'],
    ['audit_alert webhook http://ops:WEBHOOKPASS@127.0.0.1/hook;',
     qr/"audit_alert" host "127\.0\.0\.1" cannot be resolved: invalid port/, 'WEBHOOKPASS'],
    ["audit_alert pagerduty $key severity=loud;", qr/invalid severity "loud" in "audit_alert"/, $key],
    ['audit_alert webhook http://127.0.0.1:9/h timeout=never;', qr/invalid timeout "never" in "audit_alert"/],
    ['audit_alert webhook http://127.0.0.1:9/h colour=red;', qr/invalid parameter "colour=red" in "audit_alert"/],
    ['audit_alert_rule cpu > 90% window=1m;', qr/invalid condition "cpu" in "audit_alert_rule"/],
    ['audit_alert_rule upstream_5xx > 1 window=5m;', qr/invalid parameter "1" in "audit_alert_rule"/],
    ['audit_alert_rule upstream_5xx > 1%;', qr/"audit_alert_rule upstream_5xx" takes a threshold and window=/],
    ['audit_alert_rule no_events > 3 window=1h;', qr/"audit_alert_rule no_events" takes window= and no threshold/],
    ['audit_alert_rule pg_down window=2m;', qr/"audit_alert_rule pg_down" takes a duration/],
    ['audit_alert_window soon;', qr/"audit_alert_window" directive invalid value/],
);

for my $case (@bad) {
    my ($line, $want, $secret) = @$case;
    my $conf = $t->write_nginx_conf(<<"CONF");
    $line
    server { listen 127.0.0.1:%%PORT%%; }
CONF
    my ($ok, $out) = $t->nginx_test;
    ok(!$ok, "nginx -t refuses: $line");
    like($out, qr/\[emerg\] .*$want.* in \Q$conf\E:\d+$/m, '... naming the directive and its line')
        or diag $out;
    unlike($out, qr/\Q$secret\E/, '... without echoing the secret') if $secret;
}

my $conf = $t->write_nginx_conf(<<'CONF');
    server {
        listen 127.0.0.1:%%PORT%%;
        location = /h { audit_health error_rate=lots; }
    }
CONF
my ($ok, $out) = $t->nginx_test;
like($out, qr/invalid parameter "error_rate=lots" in "audit_health".* in \Q$conf\E:\d+$/m,
     'audit_health: a bad threshold names the directive and its line');

$conf = $t->write_nginx_conf(<<'CONF');
    server {
        listen 127.0.0.1:%%PORT%%;
        location = /h { audit_health keys=soon; }
    }
CONF
($ok, $out) = $t->nginx_test;
ok(!$ok, 'nginx -t refuses audit_health keys=soon');
like($out, qr/invalid parameter "keys=soon" in "audit_health".* in \Q$conf\E:\d+$/m,
     '... naming the directive and its line');

# a good configuration passes, and a reload keeps the counters
my $sl = Audit::Alert->start($t, kind => 'slack');
my $wh = Audit::Alert->start($t, kind => 'webhook');
$t->write_nginx_conf(<<'CONF', vars => { SL => $sl->url, WH => $wh->url, KEY => $key });
    audit_zone audit:1m;
    audit_alert pagerduty %%KEY%% url=http://127.0.0.1:9/v2/enqueue;
    audit_alert slack %%SL%% severity=info timeout=2s;
    audit_alert webhook %%WH%% severity=warning;
    audit_alert_rule upstream_5xx >1% window=5m severity=warning;
    audit_alert_rule login_failure > 50 window=10m;
    audit_alert_rule no_events window=48h;
    audit_alert_rule pg_down > 2m;
    audit_alert_window 10m;
    server {
        listen 127.0.0.1:%%PORT%%;
        location = /_audit/status { audit_status; }
        location = /healthz { audit_health spool=1g error_rate=2% activity=1d keys=5m; }
    }
CONF
($ok, $out) = $t->nginx_test;
ok($ok, 'a good alert configuration passes nginx -t') or diag $out;
$t->start_nginx;
my $routes = $t->request(GET => '/_audit/status', headers => { Accept => 'application/json' })
    ->{json}{alerts}{routes};
is_deeply([map { "$_->{route}:$_->{kind}:$_->{severity}" } @$routes],
          ['pagerduty-1:pagerduty:critical', 'slack-2:slack:info', 'webhook-3:webhook:warning'],
          'audit_status lists the routes, their kinds and severities');
$t->reload;
is($t->request(GET => '/healthz')->{status}, 200, 'after a reload: audit_health answers');
unlike($t->error_log, qr/\[(alert|crit)\]|exited on signal/, 'no crash (the emergs above were nginx -t)');
$t->stop_all_and_check;
done_testing;
