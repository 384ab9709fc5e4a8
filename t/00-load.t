# The module builds, loads into Debian's nginx, and stays out of the way
# where nothing is configured.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Audit::Test;

my $t = Audit::Test->new;

ok(-f $t->module_path, 'module built at ' . $t->module_path);

my $v = `nginx -V 2>&1`;
like($v, qr/--with-compat/, 'nginx -V: built --with-compat');

$t->write_nginx_conf(<<'CONF');
    server {
        listen 127.0.0.1:%%PORT%%;
        location / { proxy_pass http://%%PORTAL%%; }
    }
CONF

my ($ok, $out) = $t->nginx_test;
ok($ok, 'nginx -t accepts load_module') or diag $out;
like($out, qr/test is successful/, 'nginx -t says the test is successful');

$t->start_portal;
$t->start_nginx;

my $r = $t->request(GET => '/hello');
is($r->{status}, 200, 'request passes through with no audit_* directive');
is($r->{json}{uri}, '/hello', 'portal saw the request');
like($t->error_log, qr/start worker process/, 'worker started');
unlike($t->error_log, qr/\[(emerg|alert|crit)\]/, 'no emerg/alert/crit in error log');

$t->stop_all_and_check;
done_testing;
