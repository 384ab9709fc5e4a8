# audit_checkpoint's configuration: a bad key or interval fails `nginx -t`
# naming the directive and its line; an unreadable key at reload fails
# the reload, and the running worker keeps signing with the key it has.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Copy qw(copy);
use IO::Socket::IP;
use Audit::Test;
use Audit::Checkpoint;

my $t = Audit::Test->new;
my $dir = $t->dir;
my $root = $t->repo_root;

my ($key, $pub) = Audit::Checkpoint::keypair($dir, 'ckpt');
system("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out $dir/ec.key 2>/dev/null") == 0
    or die 'openssl: no EC key';
$t->file('garbage.key', "not a key\n");
$t->file('hmac.key', 'checkpoint conf test secret that is long enough');

my $conf = sub {
    my ($directive, %o) = @_;
    $t->write_nginx_conf(<<"CONF", workers => 1);
    audit_zone audit:1m;
    audit_session_keys %%DIR%%/hmac.key;
    audit_log %%DIR%%/audit.jsonl flush=100ms;
    $directive
    server {
        listen 127.0.0.1:%%PORT%%;
        location / { root %%DIR%%; }
    }
CONF
};

$conf->("audit_checkpoint %%DIR%%/ckpt.key interval=1s;");
my ($ok, $out) = $t->nginx_test;
ok($ok, 'a private Ed25519 key and interval=1s: nginx -t passes') or diag $out;

# the line of $directive in the nginx.conf the harness writes
my @conf = split /\n/, Audit::Checkpoint::slurp($t->conf_path);
my ($line) = grep { $conf[$_ - 1] =~ /^\s*audit_checkpoint / } 1 .. @conf;
ok($line, "the directive is on line $line");

for my $case (
    ['missing.key',            qr/"audit_checkpoint" cannot load its key: .*missing\.key/, 'a missing key file'],
    ['ckpt.pub',               qr/"audit_checkpoint" cannot load its key: .*no private PEM key/, 'a public key'],
    ['ec.key',                 qr/"audit_checkpoint" cannot load its key: .*no Ed25519 key/, 'an EC key'],
    ['garbage.key',            qr/"audit_checkpoint" cannot load its key: .*no private PEM key/, 'a file that is no key'],
    ['ckpt.key interval=500ms', qr/"audit_checkpoint": invalid interval "500ms"/, 'an interval under a second'],
    ['ckpt.key interval=soon', qr/"audit_checkpoint": invalid interval "soon"/, 'an interval that is no time'],
    ['ckpt.key every=1s',      qr/"audit_checkpoint": invalid parameter "every=1s"/, 'an unknown parameter'],
) {
    my ($args, $re, $name) = @$case;
    $conf->("audit_checkpoint %%DIR%%/$args;");
    ($ok, $out) = $t->nginx_test;
    ok(!$ok, "$name: nginx -t fails");
    like($out, qr/$re.* in \Q$dir\E\/?\/nginx\.conf:$line\b/, '... naming the directive and its line') or diag $out;
}

$conf->("audit_checkpoint %%DIR%%/ckpt.key; audit_checkpoint %%DIR%%/ckpt.key;");
($ok, $out) = $t->nginx_test;
like($out, qr/"audit_checkpoint" directive is duplicate/, 'twice: refused');

$t->write_nginx_conf(<<'CONF', workers => 1);
    server {
        listen 127.0.0.1:%%PORT%%;
        audit_checkpoint %%DIR%%/ckpt.key;
    }
CONF
($ok, $out) = $t->nginx_test;
like($out, qr/"audit_checkpoint" directive is not allowed here/, 'only at http level');

# a running nginx; the key file turns unreadable, and a reload fails
copy($key, "$dir/checkpoint.key") or die;
$conf->("audit_checkpoint %%DIR%%/checkpoint.key interval=1s;");
$t->start_nginx;
my $log = "$dir/audit.jsonl";
$t->request(GET => '/x');
my $kid = $t->wait_until(sub {
    my ($c) = grep { $_->{action} eq 'checkpoint' } $t->log_events($log);
    $c && $c->{checkpoint}{kid};
}, timeout => 10, interval => 0.2);
ok($kid, 'checkpoints are signed');
my @workers = $t->worker_pids;

$t->file('checkpoint.key', "-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n");
my $offset = -s $t->error_log_path;
$t->signal_nginx('HUP');
ok($t->wait_until(sub { substr($t->error_log, $offset) =~ /\[emerg\].*"audit_checkpoint" cannot load its key/ },
                  timeout => 10), 'reload with an unreadable key: the error log names the directive');
my $before = grep { $_->{action} eq 'checkpoint' } $t->log_events($log);
ok($t->wait_until(sub { (grep { $_->{action} eq 'checkpoint' } $t->log_events($log)) > $before + 1 },
                  timeout => 10, interval => 0.2), 'the running worker goes on signing');
is_deeply([$t->worker_pids], \@workers, '... it is the same worker');
my @kids = map { $_->{checkpoint}{kid} } grep { $_->{action} eq 'checkpoint' } $t->log_events($log);
is_deeply([sort keys %{{ map { $_ => 1 } @kids }}], [$kid], '... with the key it had');

# a quit while a request is still coming in: the worker waits for it,
# and its chain must not go silent meanwhile
my $sock = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $t->port) or die "connect: $!";
print $sock "GET /x HTTP/1.1\r\nHost: localhost\r\n";
$t->wait_until(sub { $t->request(GET => '/x')->{status} == 401 }, timeout => 2);
my $count = sub { scalar grep { $_->{action} eq 'checkpoint' } $t->log_events($log) };
my $n = $count->();
$t->signal_nginx('QUIT');
ok($t->wait_until(sub { $t->error_log =~ /gracefully shutting down/ }, timeout => 5), 'nginx -s quit');
ok($t->wait_until(sub { $count->() >= $n + 3 }, timeout => 10, interval => 0.2),
   '... the worker waiting for a request goes on signing');
ok(!grep({ $_->{checkpoint}{final} } grep { $_->{action} eq 'checkpoint' } $t->log_events($log)),
   '... not yet its final checkpoint');
close $sock;

$t->stop_nginx;
my ($status, $text) = Audit::Checkpoint::verify($root, '-k', $pub, $log);
is($status, 0, 'its log verifies with the public key') or diag $text;

my $secret = Audit::Checkpoint::slurp($key);
my ($body) = $secret =~ /-----\n(\S+)\n-----END/;
ok(index($t->error_log . Audit::Checkpoint::slurp($log), $body) < 0, 'the private key is in no log');

done_testing;
