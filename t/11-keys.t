# RS256 and ES256 from a JWKS with kid selection, PEM keys, key rotation by
# reload and by re-reading on an unknown kid, and old keys kept when a new
# key file does not parse.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Audit::Test;
use Audit::Token;

my $t = Audit::Test->new;
my $dir = $t->dir;

my $rsa  = Audit::Token::gen_rsa($dir, 'rsa-2026');
my $ec   = Audit::Token::gen_ec($dir, 'ec-2026');
my $ec2  = Audit::Token::gen_ec($dir, 'ec-2027');
my $hmac = 'a shared secret that is long enough!';

my $now = time;
my %claims = (sub => 'u-bob', role => 'nurse', sid => 's-9', exp => $now + 3600);

sub rs { Audit::Token::rs256($rsa->{private}, {%claims, @_}, {kid => 'rsa-2026'}) }
sub es { Audit::Token::es256($ec->{private},  {%claims, @_}, {kid => 'ec-2026'}) }
sub es2 { Audit::Token::es256($ec2->{private}, {%claims, @_}, {kid => 'ec-2027'}) }

$t->file('keys.jwks', Audit::Token::jwks($rsa->{jwk}, $ec->{jwk},
                                         Audit::Token::oct_jwk($hmac, 'hs-1')));

$t->write_nginx_conf(<<'CONF');
    audit_session_keys %%DIR%%/keys.jwks;
    server {
        listen 127.0.0.1:%%PORT%%;
        location / {
            audit_require_role nurse;
            proxy_pass http://%%PORTAL%%;
        }
        location /pem/ {
            audit_session_keys %%DIR%%/ec-2026.pub;
            audit_session_algorithms ES256;
            proxy_pass http://%%PORTAL%%;
        }
    }
CONF
$t->start_portal;
$t->start_nginx;

my $api = { Accept => 'application/json' };
sub get {
    my ($path, $tok) = @_;
    return $t->request(GET => $path, headers => $api,
                       defined $tok ? (cookie => "session=$tok") : ());
}

my $r = get('/chart', rs());
is($r->{status}, 200, 'RS256 with kid from JWKS: 200');
is($r->{json}{headers}{'x-audit-user-id'}, 'u-bob', '... identity at the portal');

$r = get('/chart', es());
is($r->{status}, 200, 'ES256 with kid from JWKS: 200');
is($r->{json}{headers}{'x-audit-session-id'}, 's-9', '... session id at the portal');

$r = get('/chart', Audit::Token::hs256($hmac, {%claims}, {kid => 'hs-1'}));
is($r->{status}, 200, 'HS256 with kid from JWKS: 200');

$r = get('/pem/x', es());
is($r->{status}, 200, 'ES256 against a PEM public key: 200');
$r = get('/pem/x', rs());
is($r->{status}, 401, 'RS256 where only ES256 is allowed: 401');
is($r->{json}{error}, 'session_bad_algorithm', '... bad_algorithm');

# a kid names a key whose check fails: refused, never another key tried
my $forged = Audit::Token::es256($ec2->{private}, {%claims}, {kid => 'ec-2026'});
$r = get('/chart', $forged);
is($r->{status}, 401, 'kid of a known key, signed by another: 401');
is($r->{json}{error}, 'session_bad_signature', '... bad_signature');

# HS/RS confusion: HMAC keyed with the RSA public key's PEM text
open my $fh, '<', $rsa->{public} or die;
my $pem = do { local $/; <$fh> };
$r = get('/chart', Audit::Token::hs256($pem, {%claims}, {kid => 'rsa-2026'}));
is($r->{status}, 401, 'HS256 token naming the RSA key: 401');
is($r->{json}{error}, 'session_bad_algorithm', '... bad_algorithm');

# an unknown kid re-reads the key file once: rotation without a reload
$r = get('/chart', es2());
is($r->{status}, 401, 'token of a key not yet published: 401');
is($r->{json}{error}, 'session_unknown_key', '... unknown_key');

$t->file('keys.jwks', Audit::Token::jwks($rsa->{jwk}, $ec->{jwk}, $ec2->{jwk}));
$r = get('/chart', es2());
is($r->{status}, 401, 'just published, but re-reads are rate-limited: still 401');

sleep 11;
$r = get('/chart', es2());
is($r->{status}, 200, 'after the rate limit, an unknown kid re-reads the file: 200');
like($t->error_log, qr/re-read 3 keys from/, 're-read logged');

# rotation by reload: the old key withdrawn
$t->file('keys.jwks', Audit::Token::jwks($ec2->{jwk}));
$t->reload;
$r = get('/chart', es());
is($r->{status}, 401, 'after reload, a token of the withdrawn key: 401');
is($r->{json}{error}, 'session_unknown_key', '... unknown_key');
$r = get('/chart', es2());
is($r->{status}, 200, 'after reload, the new key verifies');

# a broken key file fails the reload; the running keys stay
$t->file('keys.jwks', '{"keys":[{"kty":"EC","crv":"P-256","x":"AAAA"');
my ($ok, $out) = $t->nginx_test;
ok(!$ok, 'nginx -t refuses the broken key file');
like($out, qr/"audit_session_keys" cannot use/, '... naming the directive');
# a public key in another dress is refused, never taken as an HMAC secret
# (anyone holding it could sign HS256 tokens): bare base64 as an identity
# provider shows it, an OpenSSH line; a JWKS saved with a byte order mark
# is the JWKS
{
    open my $fh, '<', $rsa->{public} or die "$rsa->{public}: $!";
    my $bare = do { local $/; <$fh> };
    $bare =~ s/-----[^\n]*-----\n?//g;
    $bare =~ s/\s+//g;
    for my $c (["$bare\n", 'bare base64 SubjectPublicKeyInfo', qr/a base64 public key \(SubjectPublicKeyInfo\) is not an HMAC secret/],
               ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl idp\n",
                'an OpenSSH public key', qr/an OpenSSH public key is not an HMAC secret/]) {
        my ($content, $what, $want) = @$c;
        $t->file('keys.jwks', $content);
        my ($bad, $msg) = $t->nginx_test;
        ok(!$bad, "nginx -t refuses $what as the key file");
        like($msg, qr/"audit_session_keys" cannot use .*$want.* in \S+nginx\.conf:\d+/, '... naming the directive, why and its line');
    }
    $t->file('keys.jwks', "\xEF\xBB\xBF" . Audit::Token::jwks($ec2->{jwk}));
    my ($good, $msg) = $t->nginx_test;
    ok($good, 'a JWKS saved with a UTF-8 byte order mark passes nginx -t') or diag $msg;
    $t->file('keys.jwks', '{"keys":[{"kty":"EC","crv":"P-256","x":"AAAA"');
}
ok(!eval { $t->reload(timeout => 3); 1 }, 'the reload is refused');
like($@, qr/audit_session_keys/, '... the error log names the directive');
$r = get('/chart', es2());
is($r->{status}, 200, 'after a failed reload the old keys still verify');

# refresh=: the same kid now names another key, picked up by the timer
# (an unknown kid would not be involved: the kid is known all along)
my $ec3 = Audit::Token::gen_ec($dir, 'ec-2028');
my %same_kid = (%{ $ec3->{jwk} }, kid => 'ec-2027');
$t->file('refresh.jwks', Audit::Token::jwks($ec2->{jwk}));
$t->write_nginx_conf(<<'CONF');
    audit_session_keys %%DIR%%/refresh.jwks refresh=1s;
    server {
        listen 127.0.0.1:%%PORT%%;
        location / { proxy_pass http://%%PORTAL%%; }
    }
CONF
$t->reload;
my $by_ec3 = Audit::Token::es256($ec3->{private}, {%claims}, {kid => 'ec-2027'});
is(get('/chart', es2())->{status}, 200, 'refresh=: the current key verifies');
is(get('/chart', $by_ec3)->{status}, 401, '... a token of the next key does not yet');
$t->file('refresh.jwks', Audit::Token::jwks(\%same_kid));
$t->wait_until(sub { get('/chart', $by_ec3)->{status} == 200 }, timeout => 5);
is(get('/chart', $by_ec3)->{status}, 200, 'refresh=: the timer picked up the rotated key');
is(get('/chart', es2())->{status}, 401, '... and the old one is gone, cached sessions included');

unlike($t->error_log, qr/\[(alert|crit|emerg)\].*(signal|exited)|exited on signal/, 'no worker crashed');

$t->stop_all_and_check;
done_testing;
