# The verified-token cache (audit_zone): RS256/ES256 signatures checked
# once per token for all workers, and never a way around a check.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Audit::Test;
use Audit::Token;
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
        listen 127.0.0.1:%%PORT%%;
        location / { proxy_pass http://%%PORTAL%%; }
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
is(get($tok)->{status}, 200, 'first request: 200');
is(count(qr/verified-token cache miss/), 1, '... verified, not from the shared cache');
for (1 .. 8) { is(get($tok)->{status}, 200, 'repeat: 200') }
is(count(qr/verified-token cache miss/), 1, 'the signature was verified once for both workers');
cmp_ok(count(qr/verified-token cache hit/), '<=', 1, '... the other worker took the shared verdict');
cmp_ok(count(qr/audit: session cache hit/), '>=', 7, 'the rest came from the workers\' session caches');

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
