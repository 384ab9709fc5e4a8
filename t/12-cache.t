# The verified-token cache (audit_zone): RS256/ES256 signatures checked
# once per token for all workers, and never a way around a check.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Audit::Test;
use Audit::Token ();

my $t = Audit::Test->new;
my $dir = $t->dir;

my $ec    = Audit::Token::gen_ec($dir, 'ec-a');
my $other = Audit::Token::gen_ec($dir, 'ec-b');
my $now = time;
my %claims = (sub => 'u-cat', role => 'doctor', sid => 's-c', exp => $now + 3600);

$t->file('keys.jwks', Audit::Token::jwks($ec->{jwk}));
$t->file('revoked.txt', "");

$t->write_nginx_conf(<<'CONF', workers => 2, log_level => 'debug');
    audit_zone audit:1m;
    audit_session_keys %%DIR%%/keys.jwks;
    audit_session_revoked %%DIR%%/revoked.txt;
    server {
        # reuseport: each worker its own socket, connections spread by the
        # kernel, so both workers serve; X-Worker says which one did
        listen 127.0.0.1:%%PORT%% reuseport;
        location / { proxy_pass http://%%PORTAL%%; add_header X-Worker $pid always; }
    }
CONF
$t->start_portal;
$t->start_nginx;

my $api = { Accept => 'application/json' };
sub get { $t->request(GET => '/x', headers => $api, cookie => "session=$_[0]") }
sub count { my ($re) = @_; scalar(() = $t->error_log =~ /$re/g) }

my $tok = Audit::Token::es256($ec->{private}, {%claims}, {kid => 'ec-a'});

# each worker remembers the session it verified (session cache); the first
# request a worker sees asks the shared cache, which holds the verdict of
# whichever worker verified the signature first
my $first = get($tok);
is($first->{status}, 200, 'first request: 200');
is(count(qr/verified-token cache miss/), 1, '... verified, not from the shared cache');
is(count(qr/verified-token cache hit/), 0, '... and nothing came from it yet');

# until the other worker has served too (each request a new connection)
my %served = ($first->{headers}{'x-worker'} // 'none' => 1);
my ($requests, $all_ok) = (1, 1);
while (keys %served < 2 && $requests < 200) {
    my $res = get($tok);
    $requests++;
    $all_ok &&= $res->{status} == 200;
    $served{ $res->{headers}{'x-worker'} // 'none' }++;
}
ok($all_ok, "every repeat: 200 ($requests requests)");
is_deeply([sort keys %served], [sort { $a cmp $b } $t->worker_pids],
          'both workers served, each named by its X-Worker') or diag explain \%served;
is(count(qr/verified-token cache miss/), 1, 'the signature was verified once for both workers');
is(count(qr/verified-token cache hit/), 1,
   '... the other worker took the shared verdict, once: its first request');
is(count(qr/audit: session cache hit/), $requests - 2,
   'every other request came from the serving worker\'s session cache');

# the whole token is the key: a payload swapped under a cached signature fails
my ($h, $p, $s) = split /\./, $tok;
my $evil = join '.', $h,
    Audit::Token::b64url(Audit::Token::encode_json_canonical({%claims, role => 'admin'})), $s;
my $r = get($evil);
is($r->{status}, 401, 'payload swapped under a cached signature: 401');
is($r->{json}{error}, 'session_bad_signature', '... bad_signature');

# claims are still checked on a hit: revocation takes effect at once
$t->file('revoked.txt', "s-c\n");
$t->reload;
$r = get($tok);
is($r->{status}, 401, 'revoked after being cached: 401');
is($r->{json}{error}, 'session_revoked', '... revoked');

# a cached verdict is not reused with other keys: same kid, other key
$t->file('revoked.txt', "");
my %jwk = %{ $other->{jwk} };
$jwk{kid} = 'ec-a';
$t->file('keys.jwks', Audit::Token::jwks(\%jwk));
$t->reload;
$r = get($tok);
is($r->{status}, 401, 'kid now names another key: the cached verdict is not used');
is($r->{json}{error}, 'session_bad_signature', '... bad_signature');

unlike($t->error_log, qr/exited on signal|\[alert\]/, 'no worker crashed');

$t->stop_all_and_check;
done_testing;
