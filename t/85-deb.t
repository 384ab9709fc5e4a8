# The Debian package (make deb) as an administrator installs it: apt-get
# install of build/libnginx-mod-http-audit_*.deb, the stock
# /etc/nginx/nginx.conf with the module enabled passes nginx -t, a private
# nginx loads the installed .so and answers a protected request, the
# installed sql/migrate applies every migration; then apt-get purge, and the
# machine is as it was: the same packages in the same states, the same
# files under /etc/nginx and nginx's module directories, no nginx service
# started.
#
# Needs root and the package (make deb; make test builds it first); skips
# otherwise, and when the package is installed already (an administrator's
# install is not this test's to purge).  Package scripts cannot start or
# reload a system nginx: a policy-rc.d that forbids it is put in place for
# the test when there is none.  Packages apt pulls in for the install are
# purged with it.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Basename qw(basename);
use IO::Socket::IP;
use Audit::Test;
use Audit::Token;

my $PKG   = 'libnginx-mod-http-audit';
my $SO    = '/usr/lib/nginx/modules/ngx_http_audit_module.so';
my $AVAIL = '/usr/share/nginx/modules-available/mod-http-audit.conf';
my $LINK  = '/etc/nginx/modules-enabled/50-mod-http-audit.conf';
my $SHARE = "/usr/share/$PKG";
my $DOC   = "/usr/share/doc/$PKG";
my $POLICY = '/usr/sbin/policy-rc.d';

plan skip_all => 'installs a Debian package: needs root' unless $> == 0;
plan skip_all => "the package is Debian's nginx's: tested in the plain t/ run, not with AUDIT_NGINX"
    if $ENV{AUDIT_NGINX};
plan skip_all => 'no dpkg/apt-get' unless -x '/usr/bin/dpkg' && -x '/usr/bin/apt-get';

my $root = Audit::Test->repo_root;
chomp(my $version = `cd '$root' && dpkg-parsechangelog -S Version 2>/dev/null`);
chomp(my $arch = `dpkg --print-architecture`);
my $deb = "$root/build/${PKG}_${version}_$arch.deb";
plan skip_all => "no $deb: run make deb (make test does)" unless $version && -f $deb;
my @newer = grep { -M $_ < -M $deb } glob "$root/ngx_http_audit_module/*.[ch] $root/sql/migrations/*.sql";
diag("$deb is older than @{[ scalar @newer ]} source files: make deb builds it again") if @newer;
plan skip_all => "$PKG is installed already: not this test's to purge"
    if package_status($PKG) ne 'not-installed';

# --- the machine before ------------------------------------------------------------

sub run {
    my (@cmd) = @_;
    my $out = `@{[ join ' ', map { "'$_'" } @cmd ]} 2>&1`;
    return ($? >> 8, $out);
}

sub package_status {
    my ($p) = @_;
    my $s = `dpkg-query -W -f '\${db:Status-Abbrev}' '$p' 2>/dev/null`;
    return 'not-installed' if $? || $s !~ /^.[^n]/;
    return $s =~ s/\s+\z//r;
}

# every package with its state and version
sub packages {
    my %p;
    for (split /\n/, `dpkg-query -W -f '\${Package}:\${Architecture}\t\${db:Status-Abbrev}\t\${Version}\n'`) {
        my ($name, $status, $v) = split /\t/;
        next if $status =~ /^.n/;
        $p{$name} = "$status $v";
    }
    return \%p;
}

# what the package touches: nginx's configuration and module directories
sub files {
    my @dirs = grep { -e } ('/etc/nginx', '/usr/lib/nginx/modules',
                            '/usr/share/nginx/modules-available', $SHARE, $DOC);
    return join '', sort map { "$_\n" }
        split /\n/, `find @dirs -printf '%p %y %m %l\\n' 2>/dev/null`;
}

# a system nginx: a master started without -c (the tests' always have one;
# a master's title is "nginx: master process /usr/sbin/nginx -p ... -c ...",
# workers are left out), and the service's pid file
sub system_nginx {
    my @found;
    for my $cmdline (glob '/proc/[0-9]*/cmdline') {
        open my $fh, '<', $cmdline or next;
        my $args = do { local $/; <$fh> } // '';
        $args =~ tr/\0/ /;
        next unless $args =~ /^nginx: master process /;
        push @found, $cmdline =~ m{/proc/(\d+)/} if $args !~ / -c /;
    }
    push @found, 'run/nginx.pid' if -e '/run/nginx.pid';
    return @found;
}

sub port80 {
    my $s = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => 80, Timeout => 2);
    return $s ? 1 : 0;
}

my $packages_before = packages();
my $files_before    = files();
my @logs_before     = glob '/var/log/nginx/*';
my @nginx_before    = system_nginx();
my $port80_before   = port80();

my $policy_ours;
unless (-e $POLICY) {
    open my $fh, '>', $POLICY or die "$POLICY: $!";
    print $fh "#!/bin/sh\n# t/85-deb.t: package scripts start no service\nexit 101\n";
    close $fh;
    chmod 0755, $POLICY;
    $policy_ours = 1;
}

my @apt = ('env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', '-y', '-q',
           '-o', 'DPkg::Lock::Timeout=120', '--no-install-recommends');
my ($installed, @pulled_in, $cleaned);

# purges what this test installed, also when it dies half-way
sub cleanup {
    return if $cleaned++;
    my $t0 = time;
    if ($installed) {
        my ($rc, $out) = run(@apt, 'purge', $PKG, @pulled_in);
        is($rc, 0, "apt-get purge $PKG" . (@pulled_in ? " @pulled_in" : '')) or diag $out;
    }
    unlink grep { my $f = $_; !grep { $_ eq $f } @logs_before } glob '/var/log/nginx/*';
    unlink $POLICY if $policy_ours;
}
END { cleanup() if $installed && !$cleaned }

# --- install -------------------------------------------------------------------------

my ($rc, $out) = run(@apt, 'install', $deb);
$installed = 1;
is($rc, 0, 'apt-get install ./' . basename($deb)) or diag $out;
is(package_status($PKG), 'ii', "$PKG installed");
{
    my $after = packages();
    @pulled_in = sort grep { !exists $packages_before->{$_} && !/^\Q$PKG\E:/ } keys %$after;
    diag("apt also installed (purged again at the end): @pulled_in") if @pulled_in;
}

my $depends = `dpkg-query -W -f '\${Depends}' $PKG`;
my ($abi) = (`cat /usr/share/nginx/src/debian/libnginx-mod.abisubstvars 2>/dev/null`
             =~ /^nginx:abi=(\S+)/m);
like($depends, qr/(?:^|, )\Q$abi\E(?:,|$)/, "Depends: $abi (dh_nginx)") if $abi;
like($depends, qr/\b$_\b/, "Depends: $_ (shlibs)") for qw(libpq5 libjansson4 libssl3);

ok(-f $SO, "$SO installed");
open my $fh, '<', $AVAIL;
is(($fh ? <$fh> : undef), "load_module modules/ngx_http_audit_module.so;\n",
   "$AVAIL loads it");
is(readlink($LINK), $AVAIL, "postinst linked $LINK to it");
ok(-x "$SHARE/sql/$_", "$SHARE/sql/$_ installed, executable") for qw(migrate backfill);
my @repo_migrations = map { basename $_ } glob "$root/sql/migrations/*.sql";
is(join(' ', map { basename $_ } glob "$SHARE/sql/migrations/*.sql"), "@repo_migrations",
   'every migration installed');
ok(-f "$DOC/$_", "$DOC/$_") for qw(README.md.gz operations.md.gz sql.md.gz copyright
                                    examples/nginx.conf);

is_deeply([system_nginx()], \@nginx_before, 'no system nginx started by the package scripts');
is(port80(), $port80_before, 'port 80 as before');

# --- the stock configuration, and a private nginx loading the installed .so ----------

($rc, $out) = run('/usr/sbin/nginx', '-t');
is($rc, 0, 'nginx -t: the stock /etc/nginx/nginx.conf with the module enabled') or diag $out;
like($out, qr/test is successful/, '... test is successful');
unlike($out, qr/\[(?:emerg|alert|warn)\]/, '... no warning') or diag $out;

# the package's autopkgtest, against the installed package
($rc, $out) = run("$root/debian/tests/nginx-loads");
is($rc, 0, 'debian/tests/nginx-loads (the autopkgtest) passes') or diag $out;

my $t = Audit::Test->new;
my $secret = 'a shared secret of 32 bytes or more';
$t->file('hmac.key', $secret);
$t->write_nginx_conf(<<'CONF', load_module => $SO);
    audit_session_keys %%DIR%%/hmac.key;
    audit_log %%DIR%%/audit.jsonl flush=100ms;

    server {
        listen 127.0.0.1:%%PORT%%;
        location / {
            audit_require_role doctor;
            audit_record patient 42;
            proxy_pass http://%%PORTAL%%;
        }
    }
CONF
$t->start_portal;
$t->start_nginx;
my ($worker) = $t->worker_pids;
my $maps = do { open my $m, '<', "/proc/$worker/maps"; local $/; $m ? <$m> : '' };
like($maps, qr/ \Q$SO\E$/m, "the worker mapped $SO");

my $r = $t->request(GET => '/patients/42', headers => {Accept => 'application/json'});
is($r->{status}, 401, 'no session: 401');
my $token = Audit::Token::hs256($secret, {sub => 'u-ann', role => 'doctor', sid => 's-1',
                                          iat => time, exp => time + 600});
$r = $t->request(GET => '/patients/42', cookie => "session=$token");
is($r->{status}, 200, 'a doctor\'s session: 200');
is($r->{json}{headers}{'x-audit-user-id'}, 'u-ann', '... the portal got X-Audit-User-Id');
my ($ev) = grep { $_->{action} eq 'record_access' }
    $t->wait_events($t->dir . '/audit.jsonl', 3);
is($ev && "$ev->{user_id} $ev->{resource_type}/$ev->{resource_id}", 'u-ann patient/42',
   '... and a record_access event was logged');

# the installed sql/migrate (psql: postgresql-client, the Recommends)
$t->start_pg;
$t->psql('CREATE DATABASE audit');
($rc, $out) = run("$SHARE/sql/migrate", $t->pg_conninfo('audit', 'postgres'));
is($rc, 0, "$SHARE/sql/migrate") or diag $out;
is($t->psql('SELECT count(*) FROM audit.schema_migrations', db => 'audit'),
   scalar @repo_migrations, '... applied every migration');
$t->stop_all_and_check;

# --- purge: as it was ---------------------------------------------------------------

cleanup();
is(package_status($PKG), 'not-installed', "$PKG purged (no config-files left)");
ok(!-e $SO && !-e $AVAIL && !-l $LINK, 'the .so, its .conf and the modules-enabled link are gone');
is_deeply(packages(), $packages_before, 'every package as before');
is(files(), $files_before, '/etc/nginx and the module directories as before');
ok(!-e $POLICY, "$POLICY removed again") if $policy_ours;
is_deeply([system_nginx()], \@nginx_before, 'no system nginx running that was not before');

done_testing;
