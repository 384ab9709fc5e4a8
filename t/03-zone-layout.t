# The shared zone across a reload: the same build keeps it (its counters
# carry over); a build with another zone layout, loaded from another path,
# never reads it.  nginx reuses a zone of the same name, size and owner
# (the address of ngx_http_audit_module); as nginx opens modules with
# RTLD_GLOBAL, without -Bsymbolic (config) the new build's references bind
# to the old build's symbols, so it would find the old zone and run the
# old code.  The layout check in ngx_http_audit_zone_init() is the second
# line.  The other build differs only in NGX_HTTP_AUDIT_ZONE_VERSION.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Audit::Test;
use Audit::Token;

my $t = Audit::Test->new;
my $root = $t->repo_root;

# the other build: the same sources with another zone version
my $other_dir = "$root/build/nginx-zone-layout";
my $other = "$other_dir/ngx_http_audit_module.so";
my $out = `AUDIT_CC_OPT=-DNGX_HTTP_AUDIT_ZONE_VERSION=9999 BUILD=$other_dir bash $root/scripts/build-module.sh 2>&1`;
is($?, 0, 'a second build of the module with another zone layout') or diag $out;

my $secret = 'zone layout test secret, long enough to use';
$t->file('hmac.key', $secret);
my $admin = 'session=' . Audit::Token::hs256($secret, { sub => 'u-1', role => 'admin', sid => 's-1',
                                                       exp => time + 3600 });
my $conf = <<'CONF';
    audit_zone audit:1m;
    audit_session_keys %%DIR%%/hmac.key;
    server {
        listen 127.0.0.1:%%PORT%%;
        location / { audit_require_role admin; proxy_pass http://%%PORTAL%%; }
        location = /_audit/status { audit_status; audit_require_role admin; }
    }
CONF
my $api = { Accept => 'application/json' };

sub checks {
    my $r = $t->request(GET => '/_audit/status', headers => $api, cookie => $admin);
    return $r->{json} ? $r->{json}{decisions}{permitted} : undef;
}

$t->write_nginx_conf($conf, workers => 1);
$t->start_portal;
$t->start_nginx;
is($t->request(GET => "/p/$_", cookie => $admin)->{status}, 200, "request $_ allowed") for 1 .. 3;
is(checks(), 3, 'counted in the zone (a request is counted once answered)');

$t->reload;
is(checks(), 4, 'a reload with the same build keeps the zone: the count carries over');

$t->write_nginx_conf($conf, workers => 1, load_module => $other);
ok(eval { $t->reload; 1 }, 'a reload into the other build succeeds') or diag $@;
is($t->request(GET => '/p/4', cookie => $admin)->{status}, 200, 'the other build serves');
is(checks(), 1, '... from a zone of its own: the old counts are not read');
unlike($t->error_log, qr/\[(?:alert|crit|emerg)\]|signal 11/, 'no crash, nothing refused');

$t->write_nginx_conf($conf, workers => 1);
ok(eval { $t->reload; 1 }, 'and back to the first build') or diag $@;
is($t->request(GET => '/p/5', cookie => $admin)->{status}, 200, 'the first build serves again');
is(checks(), 1, '... again from a zone of its own');
$t->stop_nginx;
unlike($t->error_log, qr/\[(?:alert|crit|emerg)\]|signal 11/, 'no crash at any step');

done_testing;
