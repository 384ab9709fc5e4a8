# audit_alert_rule over windows of the shared counters: login_failure,
# no_events and pg_down each fire once when crossed and resolve once when
# cleared, with the same fingerprint, whatever the number of workers.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Audit::Test;
use Audit::Token;
use Audit::Alert;

my $t = Audit::Test->new;
my $dir = $t->dir;
my $writer = $t->audit_db;
my $wh = Audit::Alert->start($t, kind => 'webhook');

my $secret = 'rules test secret that is long enough';
$t->file('hmac.key', $secret);
mkdir "$dir/spool" or die;
my $tok = Audit::Token::hs256($secret, { sub => 'u-r', role => 'doctor', exp => time + 3600 });

$t->write_nginx_conf(<<'CONF', workers => 2, vars => { CONN => $writer, WH => $wh->url });
    audit_zone audit:1m;
    audit_session_keys %%DIR%%/hmac.key;
    audit_log %%DIR%%/audit.jsonl flush=100ms;
    audit_pg "%%CONN%%" batch=50 flush=100ms;
    audit_spool %%DIR%%/spool;
    audit_alert webhook %%WH%% severity=info;
    audit_alert_rule no_events window=2s;
    audit_alert_rule login_failure > 3 window=3s severity=warning;
    audit_alert_rule pg_down > 1s;
    server {
        listen 127.0.0.1:%%PORT%%;
        location = /login { audit_public on; audit_login username_field=email; proxy_pass http://%%PORTAL%%; }
        location / { proxy_pass http://%%PORTAL%%; }
    }
CONF
$t->start_portal;
$t->start_nginx;

sub named {
    my ($name, $status) = @_;
    return grep { $_->{alerts}[0]{labels}{alertname} eq $name
                  && (!$status || $_->{status} eq $status) } $wh->messages;
}
sub wait_named {
    my ($name, $status, $n) = @_;
    $t->wait_until(sub { named($name, $status) >= ($n // 1) }, timeout => 20, interval => 0.2);
    return named($name, $status);
}

# nothing happens for 2 s: no_events fires; a request clears it
my ($quiet) = wait_named('no_events', 'firing');
ok($quiet, 'no event for 2 s: no_events fires');
is($quiet->{alerts}[0]{labels}{severity}, 'warning', '... severity warning (its default)');
$t->request(GET => '/chart', cookie => "session=$tok");
my ($back) = wait_named('no_events', 'resolved');
ok($back, 'an event: no_events resolves');
is($back->{groupKey}, $quiet->{groupKey}, '... same group key');

# 5 failed logins within 3 s: login_failure > 3 fires once, then clears
for my $i (1 .. 5) {
    $t->request(POST => '/login', form => { email => "x$i\@clinic.example", password => "pw$i" });
}
my ($lf) = wait_named('login_failure', 'firing');
ok($lf, '5 failed logins in 3 s: login_failure > 3 fires');
like($lf->{alerts}[0]{annotations}{description}, qr/^[45] failed logins$/, '... saying how many');
unlike(join("\n", map { $_->{body} } $wh->requests), qr/clinic\.example|pw\d/,
       '... never who was tried or with what');
my ($lfr) = wait_named('login_failure', 'resolved');
ok($lfr, '... and resolves once the window is quiet');
is(scalar named('login_failure'), 2, 'exactly two messages for it (fired, resolved)');

# PostgreSQL down for over 1 s: pg_down > 1s fires; back: resolves
$t->stop_pg;
$t->request(GET => "/down-$_", cookie => "session=$tok") for 1 .. 3;
my ($pd) = wait_named('pg_down', 'firing', 2);    # the fault's alert and the rule's
my @rule = grep { $_->{groupKey} =~ /^rule:pg_down/ } named('pg_down', 'firing');
is(scalar @rule, 1, 'PostgreSQL down over 1 s: the pg_down rule fires once');
is($rule[0]{alerts}[0]{labels}{group}, 'postgresql', '... group postgresql');
$t->start_pg_again;
$t->wait_until(sub { grep { $_->{groupKey} =~ /^rule:pg_down/ } named('pg_down', 'resolved') },
               timeout => 30, interval => 0.2);
my @done = grep { $_->{groupKey} =~ /^rule:pg_down/ } named('pg_down', 'resolved');
is(scalar @done, 1, 'PostgreSQL back: the rule resolves once');
is($done[0]{groupKey}, $rule[0]{groupKey}, '... same group key');
is(scalar(() = $wh->rejected), 0, 'every message passed the receiver\'s checks');

unlike($t->error_log, qr/\[(alert|crit|emerg)\]|exited on signal/, 'no crash');
$t->stop_all_and_check;
done_testing;
