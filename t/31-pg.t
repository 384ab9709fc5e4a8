# Every audit event stored in PostgreSQL, asynchronously, idempotently,
# and never lost: through an outage under load, reloads and a quit.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep);
use Audit::Test;
use Audit::Token;

plan skip_all => 'wrk not installed' unless -x '/usr/bin/wrk';

my $t = Audit::Test->new;
my $dir = $t->dir;

my $writer = $t->audit_db;

my $secret = 'postgres test secret that is long enough';
$t->file('hmac.key', $secret);
mkdir "$dir/spool" or die;
my $now = time;
sub token { Audit::Token::hs256($secret, { sub => 'u-ann', role => 'doctor', sid => 's-1',
                                           exp => $now + 3600, @_ }) }

my %vars = (CONN => $writer);
$t->write_nginx_conf(<<'CONF', workers => 2, vars => \%vars);
    audit_zone audit:1m;
    audit_session_keys %%DIR%%/hmac.key;
    audit_log %%DIR%%/audit.jsonl flush=100ms;
    audit_pg "%%CONN%%" batch=200 flush=100ms;
    audit_spool %%DIR%%/spool;
    upstream portal { server %%PORTAL%%; keepalive 16; }
    server {
        listen 127.0.0.1:%%PORT%%;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        location / { proxy_pass http://portal; }
        location ~ ^/patients/(\d+) {
            audit_record patient $1;
            proxy_pass http://portal;
        }
        location /admin/ { audit_require_role admin; proxy_pass http://portal; }
    }
CONF
$t->start_portal;
$t->start_nginx;

my $log = "$dir/audit.jsonl";
sub rows { $t->psql('SELECT count(*) FROM audit.events', db => 'audit') }
sub settle {
    my ($want) = @_;
    $t->wait_until(sub { rows() >= $want }, timeout => 30, interval => 0.25);
    sleep 0.5;
}

# N requests: exactly the log's events, same ids
for my $i (1 .. 40) {
    $t->request(GET => "/patients/$i", cookie => 'session=' . token());
}
$t->request(GET => '/admin/x', cookie => 'session=' . token());
$t->request(GET => '/patients/1');
my @ev = $t->wait_events($log, 82);
settle(82);
is(rows(), 82, '40 views (2 events each) + a denial + a refusal: 82 rows');
my %log_ids = map { $_->{id} => 1 } $t->log_events($log);
my %db_ids = map { $_ => 1 } split /\n/, $t->psql('SELECT id FROM audit.events', db => 'audit');
is_deeply(\%db_ids, \%log_ids, 'row ids are exactly the JSON log\'s event ids');

# failures are grouped by fingerprint, as an error tracker would
is($t->psql("SELECT fingerprint || '=' || count FROM audit.error_groups ORDER BY 1",
            db => 'audit', user => 'audit_reader'),
   "authz_denied:location /admin/ require_role admin=1\nsession_invalid:missing=1",
   'error groups: one per kind of failure, with a count');

# the query functions answer what the log says
my $hist = $t->psql("SELECT user_id || ',' || access FROM audit.record_history('patient', '7', now() - interval '1 hour')",
                    db => 'audit', user => 'audit_reader');
is($hist, 'u-ann,viewed', 'record_history: who viewed patient 7');

my $acts = $t->psql("SELECT count(*) FROM audit.user_activity('u-ann', now() - interval '1 hour')",
                    db => 'audit', user => 'audit_reader');
is($acts, scalar(grep { ($_->{user_id} // '') eq 'u-ann' } $t->log_events($log)),
   'user_activity: as many events of u-ann as the log has');

# an outage of 10 s under load: the spool takes over, then replays
my $wrk = $t->start_wrk(path => '/load', seconds => 16, threads => 2, connections => 8,
                        cookie => 'session=' . token());
sleep 2;
$t->stop_pg;
sleep 10;
my @spooled = glob "$dir/spool/*.spool";
ok(scalar @spooled, 'while PostgreSQL is down, events are spooled (' . scalar(@spooled) . ' files)');
$t->start_pg_again;
sleep 1.5;
$t->reload;                 # reload under load, while replaying
my $load = $t->wrk_result($wrk);
ok($load->{requests} > 1000, "wrk completed $load->{requests} requests") or diag $load->{report};
ok(!$load->{non_2xx}, 'every response was a 2xx, PostgreSQL down or not') or diag $load->{report};

# a quit under load: nothing queued may be lost either
sleep 1;
my $lines = () = $t->log_lines($log);
$t->wait_until(sub { rows() >= $lines }, timeout => 60, interval => 0.5);
is(rows(), $lines, "after the outage and a reload: rows = log lines ($lines)");
is($t->psql('SELECT count(*) - count(DISTINCT id) FROM audit.events', db => 'audit'), 0,
   'no duplicate rows');

$wrk = $t->start_wrk(path => '/quit-load', seconds => 3, cookie => 'session=' . token());
sleep 1.5;
$t->stop_nginx;             # QUIT while wrk is still sending
$t->wrk_result($wrk);
$lines = () = $t->log_lines($log);
my @left = glob "$dir/spool/*.spool";
ok(@left || rows() == $lines,
   'what was queued at quit is in PostgreSQL or in the spool');

# the next nginx adopts the spool left behind and replays it
$t->start_nginx;
$t->wait_until(sub { rows() >= $lines }, timeout => 30, interval => 0.25);
is(rows(), $lines, "after quit and start: rows = log lines ($lines)");

# replaying the same spool twice adds nothing
my $copy = "$dir/spool/audit-999999.spool";    # a worker long gone
my $again = join '', map { (my $l = $_) =~ s/\\/\\\\/g; "$l\n" } ($t->log_lines($log))[0 .. 99];
$t->file('spool/audit-999999.spool', $again);
$t->wait_until(sub { !-e $copy }, timeout => 30, interval => 0.25);
ok(!-e $copy, 'an orphaned spool file is adopted and replayed');
sleep 0.5;
is(rows(), $lines, '... adding no row: replay is idempotent');

# what is not a spool file this server wrote is not replayed: a symbolic
# link (it would copy the file it names into audit.rejected_lines), a FIFO
# (the worker would block on open())
$t->file('not-audit.txt', "SECRET-LINE-OF-ANOTHER-FILE\n");
symlink "$dir/not-audit.txt", "$dir/spool/audit-3999997.spool" or die "symlink: $!";
system('mkfifo', "$dir/spool/audit-3999998.spool") == 0 or die 'mkfifo';
$t->wait_until(sub { -e "$dir/spool/audit-3999997.spool" || -e "$dir/spool/audit-3999998.spool"
                         ? 0 : 2 == (() = glob "$dir/spool/*.refused") },
               timeout => 30, interval => 0.25);
is(scalar(() = glob "$dir/spool/*.refused"), 2, 'a symbolic link and a FIFO named as spool files: both set aside (.refused)');
is($t->psql(q{SELECT count(*) FROM audit.rejected_lines WHERE line LIKE '%SECRET-LINE%'}, db => 'audit'), 0,
   '... nothing of the linked file reached PostgreSQL');
is($t->request(GET => '/quit-load', cookie => 'session=' . token())->{status}, 200, '... and the workers still answer');
like($t->error_log, qr/is not a spool file of this server .*not replayed/, '... the error log says why');
unlink glob "$dir/spool/*.refused";

# the chain: no gap after all of the above
my $chain = $t->psql("SELECT bool_and(ok) FROM audit.verify_chain(now() - interval '1 hour')",
                     db => 'audit', user => 'audit_reader');
is($chain, 't', 'verify_chain: every producer\'s chain is intact');

# ... and it sees a deleted row and an edited one
$t->psql("DELETE FROM audit.events WHERE id = (SELECT id FROM audit.events WHERE seq = 5 LIMIT 1)",
         db => 'audit');
$t->psql("UPDATE audit.events SET user_id = 'u-mallory' WHERE id = (SELECT id FROM audit.events WHERE seq = 9 LIMIT 1)",
         db => 'audit');
$chain = $t->psql("SELECT bool_and(ok) FROM audit.verify_chain(now() - interval '1 hour')",
                  db => 'audit', user => 'audit_reader');
is($chain, 'f', 'verify_chain: a deleted and an edited row are reported');

unlike($t->error_log, qr/\[(alert|crit|emerg)\]|exited on signal/, 'no alert or crash');

$t->stop_all_and_check;
done_testing;
