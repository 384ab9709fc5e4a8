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

# as a real install: the master as root, the workers as www-data
SKIP: {
    skip 'not run as root: nginx cannot switch users', 4 unless $> == 0;
    my $uid_of = sub {
        open my $fh, '<', "/proc/$_[0]/status" or return -1;
        my ($uid) = join('', <$fh>) =~ /^Uid:\s+\d+\s+(\d+)/m;    # effective
        return $uid // -1;
    };
    my @workers = $t->worker_pids;
    is(scalar @workers, 2, 'the demo runs two workers');
    is_deeply([map { $uid_of->($_) } @workers], [map { $demo->worker_uid } @workers],
              'each runs as ' . $demo->worker_user . ' (uid ' . $demo->worker_uid . ')');
    is($uid_of->($t->nginx_pid), 0, 'the master as root');
    is((stat $demo->dir . '/spool')[4], $demo->worker_uid, 'the spool is the workers\'')
        or diag 'no spool: ' . ($demo->pg ? 'PostgreSQL up' : 'PostgreSQL left out');
}

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

    # the production paths, replaced by temporary ones (Audit::Test)
    my $prod = $t->production_conf($conf, name => 'example');
    ok($prod->{replaced}{$_}, "$_ replaced") for (
        'modules/ngx_http_audit_module.so', '/etc/nginx/audit/', '/etc/ssl/clinic/',
        '/var/log/nginx/', '/var/lib/nginx/audit-spool', '/run/nginx.pid',
        '@sentry.clinic.example/',    # resolved by nginx -t
        'host=db.internal ');         # so is this
    my $copy = $prod->{conf};
    is("@{ $prod->{left} }", '', 'no production path is left');

    my $nginx_t = sub {
        my ($text) = @_;
        return $t->nginx_test_file($t->file('example/nginx.conf', $text));
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
