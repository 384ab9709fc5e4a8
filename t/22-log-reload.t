# The audit log under load: "nginx -s reopen" (log rotation) and
# "nginx -s reload" lose no line and never split one.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Audit::Test;
use Audit::Token;
use Time::HiRes qw(sleep);

plan skip_all => 'wrk not installed' unless -x '/usr/bin/wrk';

my $t = Audit::Test->new;

my $secret = 'reload test secret that is long enough';
$t->file('hmac.key', $secret);
my $tok = Audit::Token::hs256($secret, { sub => 'u-load', role => 'doctor', sid => 's-load',
                                         exp => time + 3600 });

$t->write_nginx_conf(<<'CONF', workers => 2);
    audit_zone audit:1m;
    audit_session_keys %%DIR%%/hmac.key;
    audit_log %%DIR%%/audit.jsonl buffer=32k flush=200ms;
    upstream portal { server %%PORTAL%%; keepalive 16; }
    server {
        listen 127.0.0.1:%%PORT%%;
        location / {
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://portal;
        }
    }
CONF
$t->start_portal;
$t->start_nginx;

my $log = $t->dir . '/audit.jsonl';
my $rotated = $t->dir . '/audit.jsonl.1';
my $connections = 8;

# wrk for 6 s in the background, while the log is rotated and nginx reloaded
my $wrk = $t->start_wrk(path => '/load', seconds => 6, threads => 2,
                        connections => $connections, cookie => "session=$tok");
sleep 1.5;
rename $log, $rotated or die "rename: $!";
$t->reopen;
sleep 1.5;
$t->reload;
sleep 1.5;
$t->reload;

my $load = $t->wrk_result($wrk);
is($load->{status}, 0, 'wrk ran');
my $requests = $load->{requests};
ok($requests > 500, "wrk completed requests ($requests)") or diag $load->{report};
ok(!$load->{non_2xx} && !$load->{connect_errors}, 'every response was a 2xx')
    or diag $load->{report};

# let the last flush timers fire, then stop (exit flushes too)
sleep 0.5;
$t->stop_nginx;

my @lines = ($t->log_lines($rotated), $t->log_lines($log));
my @events = eval { (($t->log_events($rotated)), ($t->log_events($log))) };
is(scalar @events, scalar @lines, 'every line in both files is one JSON object') or diag $@;
ok(scalar $t->log_lines($rotated) > 0 && scalar $t->log_lines($log) > 0,
   'lines went to the old file before reopen and to the new one after');

my @ok = grep { $_->{action} eq 'authz_check' && $_->{status} == 200 } @events;
# in-flight requests at wrk's end may be served and logged, never the reverse
cmp_ok(scalar @ok, '>=', $requests, 'no line lost: lines >= requests wrk completed');
cmp_ok(scalar @ok, '<=', $requests + $connections, '... and no more than the requests in flight');

# every producer's chain is gapless, across the reloads
my %by;
push @{ $by{$_->{producer}} }, $_ for @events;
my $gapless = 1;
for my $p (keys %by) {
    my @s = sort { $a->{seq} <=> $b->{seq} } @{ $by{$p} };
    for my $i (0 .. $#s) { $gapless &&= $s[$i]{seq} == $i }
}
ok($gapless, 'each producer\'s sequence starts at 0 and has no gap (' . scalar(keys %by) . ' producers)');
cmp_ok(scalar keys %by, '>=', 4, 'reloads started new chains (new workers, new producers)');

# each new chain names the one its worker slot had before
my @firsts = grep { $_->{seq} == 0 } @events;
my @after = grep { defined $_->{after} } @firsts;
is(scalar @after, scalar(@firsts) - 2, 'every chain but the first two names the one before it');
my $named = grep { my ($prod, $seq) = $_->{after} =~ /^(.+):(\d+)$/;
                   $prod && $by{$prod} && $seq <= $#{ $by{$prod} } } @after;
is($named, scalar @after, '... as producer:seq of a chain in this log');

unlike($t->error_log, qr/\[(alert|crit|emerg)\]|exited on signal/, 'no alert or crash');

$t->stop_all_and_check;
done_testing;
