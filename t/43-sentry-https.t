# The tracker over HTTPS: the certificate verified against
# audit_sentry_trusted_certificate and the DSN's host name, events
# delivered; an untrusted certificate delivers nothing.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Audit::Test;
use Audit::Token;
use Audit::Sentry;

my $t = Audit::Test->new;
my $rx = Audit::Sentry->start($t, project => 4, key => 'tlskey');
my $dir = $t->dir;

# a CA and a certificate for "localhost" (DIR/ca.pem, DIR/tls.pem), and
# another CA that signed nothing here
$t->tls_files(host => 'localhost');
sub run { system(@_) == 0 or die "@_ failed\n" }
run('openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', "$dir/other.key", '-out', "$dir/other.pem", '-days', '2', '-subj', '/CN=other CA');

my $secret = 'https tracker test secret, long enough';
$t->file('hmac.key', $secret);
my $expired = Audit::Token::hs256($secret, { sub => 'u-t', role => 'doctor', exp => time - 600 });
my $tls = $t->free_port;

# nginx itself terminates TLS in front of the receiver, on 127.0.0.1 and,
# when the machine has it, ::1 ("localhost" may resolve to either)
my $v6 = IO::Socket::IP->new(LocalHost => '::1', LocalPort => 0, Listen => 1) ? 1 : 0;
sub conf {
    my ($ca) = @_;
    my %vars = (DSN => "https://tlskey\@localhost:$tls/4", TLS => $tls, RX => $rx->port,
                CA => $ca, V6 => $v6 ? "listen [::1]:$tls ssl;" : '');
    $t->write_nginx_conf(<<'CONF', vars => \%vars);
    audit_session_keys %%DIR%%/hmac.key;
    audit_sentry_dsn %%DSN%%;
    audit_sentry_trusted_certificate %%CA%%;
    audit_sentry_timeout 2s;
    server {
        listen 127.0.0.1:%%PORT%%;
        location / { proxy_pass http://%%PORTAL%%; }
    }
    server {
        listen 127.0.0.1:%%TLS%% ssl;
        %%V6%%
        ssl_certificate %%DIR%%/tls.pem;
        ssl_certificate_key %%DIR%%/tls.key;
        location / { audit_public on; proxy_pass http://127.0.0.1:%%RX%%; }
    }
CONF
}

conf("$dir/ca.pem");
$t->start_portal;
$t->start_nginx;

my $api = { Accept => 'application/json' };
$t->request(GET => '/a', cookie => "session=$expired", headers => $api);
my @ev = $rx->wait_envelopes(1, type => 'event', timeout => 10);
my ($e) = $rx->events;
ok($e, 'over HTTPS with a trusted certificate: the event arrives');
is(join('|', @{ $e->{fingerprint} // [] }), 'session_invalid:expired', '... the expired session');

# a certificate the configured CA did not sign: nothing is sent
$t->stop_nginx;
$rx->clear;
conf("$dir/other.pem");
$t->start_nginx;
$t->request(GET => '/b', cookie => "session=$expired", headers => $api);
$t->wait_until(sub { $t->error_log =~ /certificate|SSL/ }, timeout => 10);
sleep 1;
is(scalar($rx->events), 0, 'an untrusted certificate: no event delivered');
like($t->error_log, qr/Sentry (certificate|SSL handshake)/, '... and the error log says why');

unlike($t->error_log, qr/\[(alert|crit|emerg)\]|exited on signal/, 'no alert or crash');

$t->stop_all_and_check;
done_testing;
