# The demo (make demo, scripts/demo): the scripted walk through the clinic
# portal (examples/demo-portal.pl) behind the module, and what the JSON log,
# PostgreSQL and the Sentry-protocol receiver recorded; examples/nginx.conf
# passes `nginx -t` with its paths replaced by temporary ones.
#
# The walk and the checks are examples/DemoWalk.pm, shared with
# `DEMO_WALK=1 scripts/demo`. The PostgreSQL part is skipped only while
# sql/migrate does not exist, the Sentry part only while nginx refuses
# audit_sentry_dsn.

use strict;
use warnings;
use lib 't/lib', 'examples';
use Test::More;
use File::Path qw(make_path);
use Audit::Test;
use DemoWalk;

my $demo = DemoWalk->setup;
my $t = $demo->t;
note "left out: $_" for $demo->notes;

subtest 'the walk' => sub {
    for my $step ($demo->walk) {
        ok($step->{ok}, $step->{name}) or diag $step->{diag};
    }
};

subtest 'the audit trail: JSON log, PostgreSQL, Sentry' => sub {
    for my $c ($demo->check) {
        if ($c->{skip}) {
            SKIP: { skip "$c->{name}: $c->{skip}", 1 }
            next;
        }
        ok($c->{ok}, $c->{name}) or diag $c->{diag};
    }
};

unlike($t->error_log, qr/\[(alert|crit|emerg)\]|exited on signal/, 'nginx: no alert or crash');

subtest 'examples/nginx.conf' => sub {
    my $root = $t->repo_root;
    my $conf = do {
        open my $fh, '<', "$root/examples/nginx.conf" or die "examples/nginx.conf: $!";
        local $/;
        <$fh>;
    };
    for my $want (qr/^load_module\s+modules\/ngx_http_audit_module\.so;/m,
                  qr/^\s*audit_zone\s/m, qr/^\s*audit_session_keys\s+\S+\.jwks/m,
                  qr/^\s*audit_login_url\s+\/login;/m, qr/^\s*audit_log\s/m,
                  qr/^\s*audit_pg\s/m, qr/^\s*audit_spool\s/m, qr/^\s*#?\s*audit_sentry_dsn\s/m,
                  qr/real_ip_header/, qr/^\s*audit_login\s+username_field=email;/m,
                  qr/^\s*audit_logout;/m, qr/^\s*audit_require_role\s+admin;/m,
                  qr/^\s*audit_record\s+patient\s+\$1;/m, qr/^\s*audit_bruteforce\s+5\/5m;/m,
                  qr/^\s*if \(\$audit_bruteforce\) \{ return 429; \}/m,
                  qr/^\s*location = \/_audit\/status/m, qr/^\s*audit_status;/m) {
        like($conf, $want, "has $want");
    }

    # the production paths, replaced by temporary ones
    my $dir = $t->dir . '/example';
    make_path(map { "$dir/$_" } qw(etc ssl log spool tmp));
    if ($> == 0) {
        my (undef, undef, $uid, $gid) = getpwnam('www-data');
        chown $uid, $gid, "$dir/spool" if defined $uid;
    }
    $t->file('example/etc/session-keys.jwks',
             join '', $t->log_lines('session-keys.jwks'));
    $t->file('example/etc/revoked-sessions.txt', "# none\n");
    system('openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
           '-nodes', '-subj', '/CN=portal.clinic.example', '-days', '1',
           '-keyout', "$dir/ssl/portal.key", '-out', "$dir/ssl/portal.crt") == 0
        or BAIL_OUT('openssl req failed');
    my @map = (
        'modules/ngx_http_audit_module.so' => $t->module_path,
        '/etc/nginx/audit/'                => "$dir/etc/",
        '/etc/ssl/clinic/'                 => "$dir/ssl/",
        '/var/log/nginx/'                  => "$dir/log/",
        '/var/lib/nginx/audit-spool'       => "$dir/spool",
        '/run/nginx.pid'                   => "$dir/nginx.pid",
        '@sentry.clinic.example/'          => '@127.0.0.1/',    # resolved by nginx -t
        'host=db.internal '                => 'host=localhost ',    # so is this
    );
    my $copy = $conf;
    while (my ($from, $to) = splice @map, 0, 2) {
        ok($copy =~ s/\Q$from\E/$to/g, "$from replaced");
    }
    # nginx's compiled-in temp paths are under /var/lib/nginx: keep them here
    my $temp = join '', map { "    ${_}_temp_path $dir/tmp/$_;\n" }
        qw(client_body proxy fastcgi uwsgi scgi);
    ok($copy =~ s/^http \{\n/http {\n$temp/m, 'temp paths added');
    my @left = $copy =~ m{(/(?:etc/nginx/audit|etc/ssl|var/|run/)\S*)}g;
    is("@left", '', 'no production path is left');

    my $nginx_t = sub {
        my ($text) = @_;
        $t->file('example/nginx.conf', $text);
        my $out = `${\($ENV{AUDIT_NGINX} || '/usr/sbin/nginx')} -p $dir/ -c $dir/nginx.conf -e $dir/log/startup.log -t 2>&1`;
        return ($? == 0, $out);
    };

    # the example with and without its audit_sentry_* lines
    (my $with = $copy) =~ s/^(\s*)#\s*(audit_sentry_)/$1$2/mg;
    (my $without = $copy) =~ s/^(\s*)(audit_sentry_)/$1# $2/mg;
    ok($with =~ /^\s*audit_sentry_dsn\s/m && $without !~ /^\s*audit_sentry_/m,
       'the example has an audit_sentry_dsn line');
    my ($ok, $out) = $nginx_t->($without);
    ok($ok, 'nginx -t accepts it (without the audit_sentry_* lines)') or diag $out;
    ($ok, $out) = $nginx_t->($with);
    ok($ok, 'nginx -t accepts it with the audit_sentry_* lines') or diag $out;
};

$t->stop_all_and_check;
done_testing;
