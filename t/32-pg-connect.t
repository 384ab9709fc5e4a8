# How audit_pg reaches PostgreSQL.  libpq would resolve a host name with a
# blocking getaddrinfo() in the worker on every (re)connect; the module
# resolves it when nginx reads its configuration and hands libpq the
# addresses ("hostaddr"), keeping the name for TLS.  A Unix socket
# directory is used as it is; a list of hosts is tried in order.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Audit::Test;
use Audit::Token;

my $t = Audit::Test->new;
my $dir = $t->dir;

# PostgreSQL with TLS on (a certificate for "localhost"), plain TCP and its
# socket still accepted; the key readable by the server's user only
my $tls = $t->tls_files(host => 'localhost', name => 'pg');
my $pgtls = "$dir/pgtls";
mkdir $pgtls or die;
system('cp', $tls->{cert}, $tls->{key}, $pgtls) == 0 or die;
if ($> == 0) {
    my (undef, undef, $uid, $gid) = getpwnam('postgres') or die 'no postgres user';
    chown $uid, $gid, $pgtls, "$pgtls/pg.pem", "$pgtls/pg.key" or die "chown: $!";
}
chmod 0600, "$pgtls/pg.key" or die;
$t->start_pg(settings => { ssl => 'on', ssl_cert_file => "$pgtls/pg.pem",
                           ssl_key_file => "$pgtls/pg.key" });
my $writer = $t->audit_db;
my $port = $t->pg_port;
my $socket = $t->pg_socket_dir;

my $secret = 'postgres connect test secret, long enough';
$t->file('hmac.key', $secret);
mkdir "$dir/spool" or die;
my $tok = Audit::Token::hs256($secret, { sub => 'u-ann', role => 'doctor', sid => 's-1',
                                         exp => time + 3600 });

sub conf {
    my ($conninfo) = @_;
    $t->write_nginx_conf(<<'CONF', vars => { CONN => $conninfo });
    audit_session_keys %%DIR%%/hmac.key;
    audit_log %%DIR%%/audit.jsonl flush=100ms;
    audit_pg "%%CONN%%" batch=10 flush=100ms;
    audit_spool %%DIR%%/spool;
    server {
        listen 127.0.0.1:%%PORT%%;
        location / { proxy_pass http://%%PORTAL%%; }
    }
CONF
}

sub rows { $t->psql('SELECT count(*) FROM audit.events', db => 'audit') }

# one request, its event stored; how the writer is connected
sub stored_via {
    my ($what) = @_;
    my $before = rows();
    is($t->request(GET => "/p/$what", cookie => "session=$tok")->{status}, 200, "$what: request");
    ok($t->wait_until(sub { rows() > $before }, timeout => 15), "$what: the event is stored");
    return $t->psql(q{SELECT coalesce(host(client_addr), 'socket') || ' ' || application_name
                      FROM pg_stat_activity WHERE usename = 'audit_writer'
                      ORDER BY backend_start DESC LIMIT 1}, db => 'audit');
}

$t->start_portal;

# a host name: resolved by nginx -t and at start
conf("host=localhost port=$port dbname=audit user=audit_writer");
my ($ok, $out) = $t->nginx_test;
ok($ok, 'host=localhost passes nginx -t') or diag $out;
$t->start_nginx;
like(stored_via('name'), qr/^(127\.0\.0\.1|::1) nginx-audit$/,
     'host=localhost: connected over TCP to its address, named nginx-audit in pg_stat_activity');
like($t->error_log, qr/audit: connected to PostgreSQL at "localhost" port $port address (127\.0\.0\.1|::1)$/m,
     '... and the error log names the host, port and address');

# a Unix socket directory
conf("host=$socket port=$port dbname=audit user=audit_writer fallback_application_name=clinic-audit");
$t->reload;
$t->wait_until(sub { $t->psql(q{SELECT count(*) FROM pg_stat_activity WHERE usename = 'audit_writer'
                                AND client_addr IS NOT NULL}, db => 'audit') == 0 }, timeout => 15);
is(stored_via('socket'), 'socket clinic-audit',
   'host=<socket directory>: connected over the Unix socket, under the name CONNINFO gives');
like($t->error_log, qr/audit: connected to PostgreSQL at "\Q$socket\E" port $port$/m,
     '... and the error log names the socket directory');

# a list: a socket directory that does not exist, then a name
conf("host=$dir/no-such-dir,localhost port=$port,$port dbname=audit user=audit_writer");
$t->reload;
like(stored_via('list'), qr/^(127\.0\.0\.1|::1) nginx-audit$/, 'host=<missing socket>,localhost: the second one is used');

# the URI form, with its host name
conf("postgresql://audit_writer\@localhost:$port/audit?application_name=portal-audit");
$t->reload;
like(stored_via('uri'), qr/^(127\.0\.0\.1|::1) portal-audit$/,
     'a postgresql:// URI: connected to the host it names');
is($t->psql(q{SELECT count(*) > 0 FROM pg_stat_activity WHERE application_name = 'portal-audit'}, db => 'audit'),
   't', '... over a connection with the application_name it set');

# TLS with the name resolved: the certificate is checked against the name
conf("host=localhost port=$port dbname=audit user=audit_writer sslmode=verify-full sslrootcert=$tls->{ca}");
$t->reload;
like(stored_via('tls'), qr/^(127\.0\.0\.1|::1) nginx-audit$/,
     'sslmode=verify-full, host=localhost: connected to its address');
is($t->psql(q{SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
              WHERE a.usename = 'audit_writer' AND a.application_name = 'nginx-audit'}, db => 'audit'),
   't', '... over TLS');

# the same certificate, asked for by another name: refused, nothing stored
conf("host=127.0.0.1 port=$port dbname=audit user=audit_writer sslmode=verify-full sslrootcert=$tls->{ca}");
$t->reload;
$t->wait_until(sub { $t->error_log =~ /does not match host name "127\.0\.0\.1"/ }, timeout => 15);
like($t->error_log, qr/server certificate for "localhost".* does not match host name "127\.0\.0\.1"/,
     'verify-full with host=127.0.0.1: the name check fails, and the error log says so');
my $before = rows();
is($t->request(GET => '/p/tls-wrong-name', cookie => "session=$tok")->{status}, 200,
   '... requests are still served');
sleep 1;
is(rows(), $before, '... and nothing reaches that server');

unlike($t->error_log, qr/\[(alert|crit|emerg)\]|exited on signal/, 'no alert or crash');

# a name that does not resolve fails nginx -t, naming the directive
conf("host=no-such-host.invalid dbname=audit user=audit_writer");
($ok, $out) = $t->nginx_test;
ok(!$ok, 'an unresolvable host fails nginx -t');
like($out, qr/"audit_pg" host "no-such-host\.invalid" cannot be resolved/, '... naming audit_pg and the host');

$t->stop_all_and_check;
done_testing;
