# Two nginx nodes, one PostgreSQL (docs/architecture.md, "beyond one
# machine"): each node has its own spool and its own chains, both ship to
# the same database, and no event, producer or chain of one node collides
# with the other's.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP ();
use Audit::Test;
use Audit::Token;

my $a = Audit::Test->new;
my $b = Audit::Test->new;
my $writer = $a->audit_db;

my $secret = 'two nodes share this secret, long enough';
my $tok = Audit::Token::hs256($secret, { sub => 'u-ann', role => 'doctor', sid => 's-1',
                                         exp => time + 3600 });
for my $t ($a, $b) {
    $t->file('hmac.key', $secret);
    mkdir $t->dir . '/spool' or die;
    $t->write_nginx_conf(<<'CONF', workers => 2, vars => { CONN => $writer });
    audit_session_keys %%DIR%%/hmac.key;
    audit_log %%DIR%%/audit.jsonl flush=100ms;
    audit_pg "%%CONN%%" batch=50 flush=100ms;
    audit_spool %%DIR%%/spool;
    server {
        listen 127.0.0.1:%%PORT%%;
        location ~ ^/patients/(\d+) { audit_record patient $1; proxy_pass http://%%PORTAL%%; }
    }
CONF
    $t->start_portal;
    $t->start_nginx;
}

# both nodes at once, several connections each
my @wrk = map { $_->start_wrk(path => '/patients/7', seconds => 3, connections => 4,
                              cookie => "session=$tok") } $a, $b;
my @res = ($a->wrk_result($wrk[0]), $b->wrk_result($wrk[1]));
for my $i (0, 1) {
    cmp_ok($res[$i]{requests}, '>', 0, "node $i served requests");
    is($res[$i]{non_2xx}, 0, "node $i: every response 2xx");
}

sub events_of {
    my ($t) = @_;
    open my $fh, '<', $t->dir . '/audit.jsonl' or die $!;
    return map { JSON::PP::decode_json($_) } <$fh>;
}
sub rows { $a->psql('SELECT count(*) FROM audit.events', db => 'audit') }

# every event of both logs stored (read again until they agree: requests
# wrk left in flight may still add lines for a moment)
my (@ea, @eb);
ok($a->wait_until(sub {
        @ea = events_of($a);
        @eb = events_of($b);
        @ea && @eb && rows() == @ea + @eb;
    }, timeout => 60, interval => 0.5),
   'PostgreSQL holds both nodes\' events: rows = lines of both logs (' . (@ea + @eb) . ')');
cmp_ok(scalar @ea, '>=', 2 * $res[0]{requests}, 'node 0 logged two events per request');
cmp_ok(scalar @eb, '>=', 2 * $res[1]{requests}, 'node 1 logged two events per request');

my %pa = map { $_->{producer} => 1 } @ea;
my %pb = map { $_->{producer} => 1 } @eb;
is(scalar(grep { $pb{$_} } keys %pa), 0,
   'no producer is in both logs (' . keys(%pa) . ' and ' . keys(%pb) . ' producers)');
my %db = map { $_ => 1 } split /\n/, $a->psql('SELECT DISTINCT producer FROM audit.events', db => 'audit');
is(join(' ', sort keys %db), join(' ', sort(keys %pa, keys %pb)), 'the database has exactly those producers');
is($a->psql('SELECT count(*) - count(DISTINCT id) FROM audit.events', db => 'audit'), 0, 'no duplicate id');
is($a->psql("SELECT coalesce(bool_and(ok), false) FROM audit.verify_chain(now() - interval '1 hour')",
            db => 'audit', user => 'audit_reader'), 't', 'verify_chain: every chain of both nodes intact');

for my $t ($a, $b) {
    unlike($t->error_log, qr/\[(alert|crit|emerg)\]|exited on signal/, 'no alert or crash on ' . $t->dir);
}
$b->stop_all_and_check;
$a->stop_all_and_check;
done_testing;
