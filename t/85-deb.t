# The Debian packages (make deb) as an administrator installs them: apt-get
# install of build/libnginx-mod-http-audit_*.deb and
# build/postgresql-15-audit-ed25519_*.deb, the stock /etc/nginx/nginx.conf
# with the module enabled passes nginx -t, a private nginx loads the
# installed .so, answers a protected request and signs its chain; the
# installed /usr/bin/audit-verify accepts that log and flags an edited copy;
# the installed sql/migrate applies every migration in a throwaway cluster,
# where the installed audit_ed25519.so makes audit.ed25519_verify() the C
# function and audit.verify_checkpoints() accepts the log that the installed
# sql/backfill stored; then apt-get purge, and the machine is as it was: the
# same packages in the same states, the same files under /etc/nginx,
# nginx's module directories and PostgreSQL's library directory, no nginx
# service started.
#
# Needs root and the packages (make deb; make test builds them first); skips
# otherwise, and when either is installed already (an administrator's
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
use Audit::Checkpoint;

my $PKG   = 'libnginx-mod-http-audit';
my $PG_PKG = 'postgresql-15-audit-ed25519';
my $PG_LIB = '/usr/lib/postgresql/15/lib';
my $PG_SO  = "$PG_LIB/audit_ed25519.so";
my $VERIFY = '/usr/bin/audit-verify';
my $MAN    = '/usr/share/man/man1/audit-verify.1.gz';
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
my $pg_deb = "$root/build/${PG_PKG}_${version}_$arch.deb";
plan skip_all => "no $deb: run make deb (make test does)" unless $version && -f $deb;
plan skip_all => "no $pg_deb: run make deb (make test does)" unless -f $pg_deb;
my @newer = grep { -M $_ < -M $deb } glob join ' ', map { "$root/$_" }
    qw(ngx_http_audit_module/*.[ch] ngx_http_audit_module/core/*.[ch]
       ngx_http_audit_module/core/tools/*.c pg/*.c sql/migrations/*.sql debian/*);
diag("$deb is older than @{[ scalar @newer ]} source files: make deb builds it again") if @newer;
for my $p ($PKG, $PG_PKG) {
    plan skip_all => "$p is installed already: not this test's to purge"
        if package_status($p) ne 'not-installed';
}
# the library test is the package's only when the server finds no other copy
plan skip_all => "$PG_SO exists without $PG_PKG: not this test's to replace" if -e $PG_SO;
plan skip_all => "$VERIFY exists without $PKG: not this test's to replace" if -e $VERIFY;

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
                            '/usr/share/nginx/modules-available', $SHARE, $DOC,
                            $PG_LIB, "/usr/share/doc/$PG_PKG", $VERIFY, $MAN);
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
        my ($rc, $out) = run(@apt, 'purge', $PKG, $PG_PKG, @pulled_in);
        is($rc, 0, "apt-get purge $PKG $PG_PKG" . (@pulled_in ? " @pulled_in" : '')) or diag $out;
    }
    unlink grep { my $f = $_; !grep { $_ eq $f } @logs_before } glob '/var/log/nginx/*';
    unlink $POLICY if $policy_ours;
}
END { cleanup() if $installed && !$cleaned }

# --- install -------------------------------------------------------------------------

my ($rc, $out) = run(@apt, 'install', $deb, $pg_deb);
$installed = 1;
is($rc, 0, 'apt-get install ./' . basename($deb) . ' ./' . basename($pg_deb)) or diag $out;
is(package_status($PKG), 'ii', "$PKG installed");
is(package_status($PG_PKG), 'ii', "$PG_PKG installed");
{
    my $after = packages();
    @pulled_in = sort grep { !exists $packages_before->{$_} && !/^(?:\Q$PKG\E|\Q$PG_PKG\E):/ }
        keys %$after;
    diag("apt also installed (purged again at the end): @pulled_in") if @pulled_in;
}

my $depends = `dpkg-query -W -f '\${Depends}' $PKG`;
my ($abi) = (`cat /usr/share/nginx/src/debian/libnginx-mod.abisubstvars 2>/dev/null`
             =~ /^nginx:abi=(\S+)/m);
like($depends, qr/(?:^|, )\Q$abi\E(?:,|$)/, "Depends: $abi (dh_nginx)") if $abi;
like($depends, qr/\b$_\b/, "Depends: $_ (shlibs)") for qw(libpq5 libjansson4 libssl3 zlib1g);
unlike($depends, qr/postgresql/, '... and no PostgreSQL server');
my $pg_depends = `dpkg-query -W -f '\${Depends}' $PG_PKG`;
like($pg_depends, qr/(?:^|, )postgresql-15(?:,|$)/, "$PG_PKG Depends: postgresql-15");
like($pg_depends, qr/\blibssl3\b/, "$PG_PKG Depends: libssl3 (shlibs)");
unlike($pg_depends, qr/nginx/, '... and no nginx');

ok(-f $SO, "$SO installed");
open my $fh, '<', $AVAIL;
is(($fh ? <$fh> : undef), "load_module modules/ngx_http_audit_module.so;\n",
   "$AVAIL loads it");
is(readlink($LINK), $AVAIL, "postinst linked $LINK to it");
ok(-x "$SHARE/sql/$_", "$SHARE/sql/$_ installed, executable") for qw(migrate backfill);
ok(-x $VERIFY, "$VERIFY installed, executable");
ok(-f $MAN, "$MAN installed");
($rc, $out) = run('man', '-l', '-P', 'cat', $MAN);
like($out, qr/audit-verify \[-o\] \[--as-of time\] -k\s+public_key\[\@from/, '... man shows its synopsis') or diag $out;
ok(-f $PG_SO, "$PG_SO installed");
chomp(my $pkglibdir = `/usr/lib/postgresql/15/bin/pg_config --pkglibdir`);
is($pkglibdir, $PG_LIB, "... where PostgreSQL 15 looks for it (pg_config --pkglibdir)");
my @repo_migrations = map { basename $_ } glob "$root/sql/migrations/*.sql";
is(join(' ', map { basename $_ } glob "$SHARE/sql/migrations/*.sql"), "@repo_migrations",
   'every migration installed');
ok(-f "$DOC/$_", "$DOC/$_") for qw(README.md.gz operations.md.gz checkpoints.md.gz sql.md.gz
                                    copyright examples/nginx.conf);
ok(-f "/usr/share/doc/$PG_PKG/copyright", "/usr/share/doc/$PG_PKG/copyright");

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
my $dir = $t->dir;
my $secret = 'a shared secret of 32 bytes or more';
$t->file('hmac.key', $secret);
my ($ckpt_key, $ckpt_pub) = Audit::Checkpoint::keypair($dir, 'checkpoint');
$t->write_nginx_conf(<<'CONF', load_module => $SO);
    audit_session_keys %%DIR%%/hmac.key;
    audit_log %%DIR%%/audit.jsonl flush=100ms;
    audit_checkpoint %%DIR%%/checkpoint.key interval=1s;

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

# --- the installed audit-verify on the log the installed module signed ---------------

# a quit: each worker closes its chain with a final checkpoint
$t->stop_nginx;
my $log = "$dir/audit.jsonl";
my @events = $t->log_events($log);
my %producers = map { $_->{producer} => 1 } @events;
my @finals = grep { $_->{action} eq 'checkpoint' && $_->{checkpoint}{final} } @events;
is(scalar @finals, scalar keys %producers, 'every chain in the log ends with a final checkpoint');

($rc, $out) = run($VERIFY, '-k', $ckpt_pub, $log);
is($rc, 0, "$VERIFY on the installed module's log: exit 0") or diag $out;
like(Audit::Checkpoint::verdict($out, $_), qr/: ok: .* 0 unsigned, closed$/, "... $_: ok, closed")
    for sort keys %producers;

# the record access rewritten to another user, every later link rehashed
my @edited = Audit::Checkpoint::rehash([$t->log_lines($log)], $ev->{producer}, $ev->{seq},
                                       sub { $_[0] =~ s/"user_id":"u-ann"/"user_id":"u-bob"/r });
open my $efh, '>', "$dir/edited.jsonl" or die "edited.jsonl: $!";
print $efh map { "$_\n" } @edited;
close $efh;
($rc, $out) = run($VERIFY, '-k', $ckpt_pub, "$dir/edited.jsonl");
is($rc, 1, "$VERIFY on an edited copy, its chain rehashed: exit 1");
like(Audit::Checkpoint::verdict($out, $ev->{producer}), qr/: FAILED: .*rewritten/,
     "... $ev->{producer}: FAILED, rewritten") or diag $out;

# the installed sql/migrate (psql: postgresql-client, the Recommends), in a
# cluster with PostgreSQL 15's default dynamic_library_path ($libdir)
$t->start_pg;
$t->psql('CREATE DATABASE audit');
($rc, $out) = run("$SHARE/sql/migrate", $t->pg_conninfo('audit', 'postgres'));
is($rc, 0, "$SHARE/sql/migrate") or diag $out;
sub sql { $t->psql($_[0], db => 'audit', user => $_[1] // 'postgres') }
is(sql('SELECT count(*) FROM audit.schema_migrations'), scalar @repo_migrations,
   '... applied every migration');
is(sql(q{SELECT l.lanname || ' ' || p.probin FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
         WHERE p.oid = 'audit.ed25519_verify(bytea, bytea, bytea)'::regprocedure}),
   'c audit_ed25519', "... audit.ed25519_verify() is the C function of $PG_PKG");

# a signature made by openssl, and the same with one byte flipped
$t->file('message', "a message to sign\n");
system('openssl', 'pkeyutl', '-sign', '-rawin', '-inkey', $ckpt_key,
       '-in', "$dir/message", '-out', "$dir/message.sig") == 0 or die 'openssl pkeyutl -sign';
my $raw_pub = substr(`openssl pkey -pubin -in '$ckpt_pub' -outform DER`, -32);
my $hex = sub { unpack 'H*', $_[0] };
my $sig = Audit::Checkpoint::slurp("$dir/message.sig");
my $verify = sub {
    sprintf q{SELECT audit.ed25519_verify('\x%s', '\x%s', '\x%s')},
        $hex->($raw_pub), $hex->(Audit::Checkpoint::slurp("$dir/message")), $hex->($_[0]);
};
is(sql($verify->($sig)), 't', "audit.ed25519_verify(): openssl's signature is valid");
substr($sig, 10, 1) ^= "\x01";
is(sql($verify->($sig)), 'f', '... with one byte flipped it is not');

# the installed sql/backfill stores the log; its checkpoints verify in SQL
sql('ALTER ROLE audit_writer LOGIN');
($rc, $out) = run("$SHARE/sql/backfill", $t->pg_conninfo('audit', 'audit_writer'), $log);
is($rc, 0, "$SHARE/sql/backfill stored the log") or diag $out;
is(sql('SELECT count(*) FROM audit.events'), scalar @events, '... every line a row');
sql(sprintf q{SELECT audit.add_checkpoint_key($pem$%s$pem$)}, Audit::Checkpoint::slurp($ckpt_pub));
my %verdict = map { my ($p, @f) = split /\|/; ($p => "@f") }
    split /\n/, sql(q{SELECT producer, ok, closed, unsigned_tail, cardinality(bad_signatures)
                       FROM audit.verify_checkpoints()});
is_deeply(\%verdict, { map { $_ => 't t 0 0' } keys %producers },
          'audit.verify_checkpoints(): every chain ok, closed, nothing unsigned, no bad signature');
$t->stop_all_and_check;

# --- purge: as it was ---------------------------------------------------------------

cleanup();
is(package_status($PKG), 'not-installed', "$PKG purged (no config-files left)");
ok(!-e $SO && !-e $AVAIL && !-l $LINK, 'the .so, its .conf and the modules-enabled link are gone');
is(package_status($PG_PKG), 'not-installed', "$PG_PKG purged");
ok(!-e $VERIFY && !-e $MAN && !-e $PG_SO, "$VERIFY, its man page and $PG_SO are gone");
is_deeply(packages(), $packages_before, 'every package as before');
is(files(), $files_before, '/etc/nginx and the module directories as before');
ok(!-e $POLICY, "$POLICY removed again") if $policy_ours;
is_deeply([system_nginx()], \@nginx_before, 'no system nginx running that was not before');

done_testing;
