package Audit::Test;

=head1 NAME

Audit::Test - integration-test harness: real nginx, the stub portal, a
throwaway PostgreSQL cluster, and clean teardown

=head1 SYNOPSIS

    use Test::More;
    use lib 't/lib';
    use Audit::Test;

    my $t = Audit::Test->new;
    $t->start_portal(users => {...}, token_cb => sub {...});
    $t->write_nginx_conf(<<'EOF');
        server {
            listen 127.0.0.1:%%PORT%%;
            location / { proxy_pass http://%%PORTAL%%; }
        }
    EOF
    $t->start_nginx;
    my $res = $t->request(GET => '/patients/7', cookie => "session=$token");
    is $res->{status}, 200;
    $t->stop_all_and_check;
    done_testing;

Every process the harness starts (nginx master and workers, the portal and
its workers, the postmaster and its children) is tracked by PID and start
time. C<stop_all> runs from DESTROY, from an END block, on SIGINT/SIGTERM
(and so when a test dies); it never kills anything it did not start. The temp
dir is removed at the end unless C<AUDIT_TEST_KEEP=1>.

Environment: C<AUDIT_MODULE> (module .so), C<AUDIT_NGINX> (nginx binary),
C<AUDIT_PG_BIN> (PostgreSQL server binaries), C<AUDIT_TEST_KEEP>.

The process becomes a child subreaper, so the daemonized nginx master and
postmaster are reaped here rather than left as zombies of PID 1.

=head1 METHODS

    dir  file($name, $content)  module_path  repo_root
    production_conf($text, name => 'example')  nginx_test_file($path)
    free_port  port  portal_port  pg_port
    write_nginx_conf($http_text, load_module => 0|1|$path, workers => N,
        log_level => 'info', access_log => 1, main => $text, vars => {},
        user => 'www-data')
    nginx_test -> ($ok, $output)   start_nginx  stop_nginx  reload  reopen
    signal_nginx($sig)  nginx_pid  worker_pids  error_log  conf_path
    error_log_path  pid_path
    start_portal(users => {}, token_cb => sub {}, cookie => 'session',
        workers => 4)  stop_portal  portal_pid
    start_pg(settings => {}) stop_pg  start_pg_again  pg_pid  pg_log
    pg_conninfo($db, $user)  psql($sql, db => , user => )  dbh(db => , user => , attr => {})
    request($method, $path, headers => {}, cookie => , body => , form => {},
        json => $data, port => , timeout => ) -> {status reason headers content json}
    raw_request($bytes, port => , responses => 1, timeout => 5, half_close => 1)
    log_lines($path)  log_events($path)  wait_events($path, $count, timeout => )
    wait_until(sub {...}, timeout => 5, interval => 0.05)
    stop_all  stop_all_and_check  tracked_pids  leftover_pids  process_alive($pid)

=cut

use strict;
use warnings;
use Carp qw(croak);
use Config ();
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Path qw(make_path remove_tree);
use File::Temp ();
use HTTP::Tiny;
use IO::Select;
use IO::Socket::IP;
use POSIX qw(WNOHANG);
use Scalar::Util qw(refaddr weaken);
use Time::HiRes qw(sleep time);

use Audit::Portal;

my $JSON = eval { require JSON::XS; JSON::XS->new->utf8->canonical }
    || do { require JSON::PP; JSON::PP->new->utf8->canonical };

my $ROOT  = abs_path(dirname(__FILE__) . '/../../..');
my $NGINX = $ENV{AUDIT_NGINX} || '/usr/sbin/nginx';
my $PSQL  = '/usr/bin/psql';
my $HOST  = '127.0.0.1';

my %LIVE;        # refaddr => weak ref: harnesses this process must tear down
my %HANDED_OUT;  # ports already given out in this run

# --- lifecycle --------------------------------------------------------------------

sub new {
    my ($class) = @_;
    my $dir = File::Temp::tempdir('audit-test-XXXXXX', TMPDIR => 1, CLEANUP => 0);
    chmod 0755, $dir or croak "chmod $dir: $!";
    my $self = bless {dir => $dir, owner => $$, tracked => {}, workers => 1, wrk_runs => 0}, $class;
    $LIVE{ refaddr $self } = $self;
    weaken $LIVE{ refaddr $self };
    _install_signal_handlers();
    _become_subreaper();
    return $self;
}

sub dir { $_[0]{dir} }

sub file {
    my ($self, $name, $content) = @_;
    my $path = "$self->{dir}/$name";
    make_path(dirname($path));
    _write_file($path, $content);
    return $path;
}

# A test CA (DIR/ca.pem, made once per test) and a certificate it signs
# for one host name: tls_files(host => 'localhost', name => 'tls') writes
# DIR/tls.pem and DIR/tls.key and returns {ca, cert, key}.
sub tls_files {
    my ($self, %o) = @_;
    my $dir  = $self->{dir};
    my $name = $o{name} // 'tls';
    my $host = $o{host} // 'localhost';
    my @ec = ('-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes');
    my $run = sub {
        my ($status, $out) = _run([@_], merge => 1);
        croak "tls_files: @_[0..1] failed:\n$out" if $status;
    };
    $run->('openssl', 'req', '-x509', @ec, '-keyout', "$dir/ca.key", '-out', "$dir/ca.pem",
           '-days', '2', '-subj', '/CN=audit test CA',
           '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign')
        unless -e "$dir/ca.pem";
    $run->('openssl', 'req', @ec, '-keyout', "$dir/$name.key", '-out', "$dir/$name.csr",
           '-subj', "/CN=$host");
    $self->file("$name.ext", "subjectAltName=DNS:$host\n");
    $run->('openssl', 'x509', '-req', '-in', "$dir/$name.csr", '-CA', "$dir/ca.pem",
           '-CAkey', "$dir/ca.key", '-CAcreateserial', '-out', "$dir/$name.pem", '-days', '2',
           '-extfile', "$dir/$name.ext");
    return {ca => "$dir/ca.pem", cert => "$dir/$name.pem", key => "$dir/$name.key"};
}

sub module_path { $ENV{AUDIT_MODULE} || "$ROOT/build/nginx/ngx_http_audit_module.so" }

sub repo_root { $ROOT }

# Stops nginx first (it may flush to PostgreSQL on the way out), then the
# portal, then PostgreSQL. Safe to call more than once.
sub stop_all {
    my ($self) = @_;
    return unless $self->{owner} == $$;
    $self->stop_nginx;
    $self->stop_portal;
    $self->stop_pg;
    return;
}

# For tests to call before done_testing: stop everything, then one test
# asserting that no tracked PID is alive.
sub stop_all_and_check {
    my ($self) = @_;
    $self->stop_all;
    my @left = $self->leftover_pids;
    require Test::More;
    my $ok = Test::More::ok(!@left, 'no process left behind');
    Test::More::diag('still alive: ' . $self->_describe(@left)) if @left;
    return $ok;
}

# Every PID the harness has started or seen in its process trees.
sub tracked_pids {
    my @pids = sort { $a <=> $b } keys %{ $_[0]{tracked} };
    return @pids;
}

# Tracked PIDs that are still alive (same PID and start time, not a zombie).
sub leftover_pids {
    my ($self) = @_;
    return grep { $self->_tracked_alive($_) } $self->tracked_pids;
}

sub DESTROY {
    my ($self) = @_;
    local ($?, $@, $!);
    $self->_teardown;
}

END {
    local $?;
    _teardown_all();
}

sub _teardown {
    my ($self) = @_;
    return if $self->{torn_down} || $self->{owner} != $$;
    $self->{torn_down} = 1;
    delete $LIVE{ refaddr $self };
    eval { $self->stop_all; 1 } or warn "Audit::Test: teardown: $@";
    if (my @left = $self->leftover_pids) {
        warn 'Audit::Test: processes left behind: ' . $self->_describe(@left) . "\n";
    }
    if ($ENV{AUDIT_TEST_KEEP}) {
        warn "Audit::Test: kept $self->{dir}\n";
    } else {
        remove_tree($self->{dir});
    }
}

sub _teardown_all {
    for my $t (grep { defined } values %LIVE) { $t->_teardown }
}

my $handlers_installed;

sub _install_signal_handlers {
    return if $handlers_installed++;
    for my $sig (qw(INT TERM)) {
        my $prev = $SIG{$sig};
        $SIG{$sig} = sub {
            _teardown_all();
            $prev->(@_) if ref $prev eq 'CODE';
            $SIG{$sig} = 'DEFAULT';
            kill $sig => $$;    # die of the signal, as without the handler
        };
    }
}

# nginx and the postmaster daemonize; as a child subreaper this process (not
# PID 1, which here never reaps) inherits them, so they can be reaped and do
# not linger as zombies after they stop.
my %PRCTL = (x86_64 => 157, aarch64 => 167, i386 => 172, i686 => 172);

sub _become_subreaper {
    my ($arch) = $Config::Config{archname} =~ /\A([^-]+)/;
    my $nr = $PRCTL{$arch} or return;
    syscall($nr, 36, 1, 0, 0, 0);    # prctl(PR_SET_CHILD_SUBREAPER, 1)
}

# --- ports ------------------------------------------------------------------------

sub free_port {
    for (1 .. 100) {
        my $sock = IO::Socket::IP->new(LocalHost => $HOST, LocalPort => 0, Proto => 'tcp')
            or croak "free_port: $@";
        my $port = $sock->sockport;
        close $sock;
        return $port unless $HANDED_OUT{$port}++;
    }
    croak 'free_port: no unused port found';
}

sub port        { $_[0]{port}        //= $_[0]->free_port }
sub portal_port { $_[0]{portal_port} //= $_[0]->free_port }
sub pg_port     { $_[0]{pg_port}     //= $_[0]->free_port }

# --- production configurations (examples/nginx.conf, README.md's) ---------------

# The production paths those files use, and where production_conf() puts
# them (under DIR/NAME/); the hosts nginx resolves when it reads the file
# become loopback names.
my @PRODUCTION_MAP = (
    'modules/ngx_http_audit_module.so' => sub { $_[0]->module_path },
    '/etc/nginx/audit/'                => sub { "$_[1]/etc/" },
    '/etc/ssl/clinic/'                 => sub { "$_[1]/ssl/" },
    '/var/log/nginx/'                  => sub { "$_[1]/log/" },
    '/var/lib/nginx/audit-spool'       => sub { "$_[1]/spool" },
    '/run/nginx.pid'                   => sub { "$_[1]/nginx.pid" },
    '@sentry.clinic.example/'          => sub { '@127.0.0.1/' },
    'host=db.internal '                => sub { 'host=localhost ' },
);

# A production configuration made to pass nginx -t here: the files it
# names are created under DIR/NAME/ (an HS256 JWKS, an empty revocation
# list, a self-signed certificate for portal.clinic.example, the spool
# owned by www-data when run as root), the paths above replaced by them,
# and nginx's compiled-in temp paths (under /var/lib/nginx) moved there
# too.  Returns {conf => the copy, dir => DIR/NAME, replaced => {path =>
# how often}, left => [production paths still in it]}.
sub production_conf {
    my ($self, $conf, %o) = @_;
    my $dir = "$self->{dir}/" . ($o{name} || 'example');
    make_path(map { "$dir/$_" } qw(etc ssl log spool tmp));
    if ($> == 0) {
        my (undef, undef, $uid, $gid) = getpwnam('www-data');
        chown $uid, $gid, "$dir/spool" if defined $uid;
    }
    require Audit::Token;
    _write_file("$dir/etc/session-keys.jwks", Audit::Token::jwks(
        {%{ Audit::Token::oct_jwk('s' x 32, 'k1') }, alg => 'HS256', use => 'sig'}));
    _write_file("$dir/etc/revoked-sessions.txt", "# none\n");
    my ($status, $out) = _run(
        ['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
         '-nodes', '-subj', '/CN=portal.clinic.example', '-days', '1',
         '-keyout', "$dir/ssl/portal.key", '-out', "$dir/ssl/portal.crt"], merge => 1);
    croak "production_conf: openssl req failed:\n$out" if $status;

    my %replaced;
    my @map = @PRODUCTION_MAP;
    while (my ($from, $to) = splice @map, 0, 2) {
        my $with = $to->($self, $dir);
        $replaced{$from} = $conf =~ s/\Q$from\E/$with/g || 0;
    }
    my $temp = join '', map { "    ${_}_temp_path $dir/tmp/$_;\n" }
        qw(client_body proxy fastcgi uwsgi scgi);
    $conf =~ s/^http \{\n/http {\n$temp/m or croak 'production_conf: no "http {" line';
    my @left = $conf =~ m{(/(?:etc/nginx/audit|etc/ssl|var/|run/)\S*)}g;
    return {conf => $conf, dir => $dir, replaced => \%replaced, left => \@left};
}

# nginx -t on a whole configuration file (prefix: its directory; the
# startup log there too): ($ok, $output).
sub nginx_test_file {
    my ($self, $path) = @_;
    my $dir = dirname($path);
    my ($status, $out) = _run([$NGINX, '-p', "$dir/", '-c', $path,
                               '-e', "$dir/startup.log", '-t'], merge => 1);
    return ($status == 0, $out);
}

# --- nginx ------------------------------------------------------------------------

sub conf_path      { "$_[0]{dir}/nginx.conf" }
sub error_log_path { "$_[0]{dir}/error.log" }
sub pid_path       { "$_[0]{dir}/nginx.pid" }

sub write_nginx_conf {
    my ($self, $http, %o) = @_;
    my $dir = $self->{dir};
    $self->{workers} = $o{workers} || 1;
    my @main;
    if (!defined $o{load_module} || $o{load_module}) {
        my $so = defined $o{load_module} && $o{load_module} ne '1'
            ? $o{load_module} : $self->module_path;
        push @main, "load_module $so;";
    }
    push @main, "worker_processes $self->{workers};", 'daemon on;',
        'master_process on;';
    # as root, workers run as root unless told (user => 'www-data', as a
    # real install runs them: then the files they write must be theirs)
    push @main, 'user ' . ($o{user} || 'root') . ';' if $> == 0;
    push @main, "pid $dir/nginx.pid;",
        "error_log $dir/error.log " . ($o{log_level} || 'info') . ';';
    push @main, $o{main} if defined $o{main};
    my @http = ($o{access_log} ? "access_log $dir/access.log;" : 'access_log off;');
    push @http, "${_}_temp_path $dir/${_}_temp;"
        for qw(client_body proxy fastcgi uwsgi scgi);
    my $conf = join "\n", @main, '', 'events { worker_connections 1024; }', '',
        'http {', (map { "    $_" } @http), '', $http, '}', '';
    $conf = $self->_expand($conf, $o{vars} || {});
    _write_file($self->conf_path, $conf);
    return $self->conf_path;
}

# %%NAME%% placeholders; an unknown one is an error (catches typos).
sub _expand {
    my ($self, $text, $vars) = @_;
    my %builtin = (
        PORT   => sub { $self->port },
        PORTAL => sub { "$HOST:" . $self->portal_port },
        DIR    => sub { $self->{dir} },
        PGPORT => sub { $self->pg_port },
    );
    $text =~ s{%%([A-Za-z0-9_]+)%%}{
        exists $vars->{$1} ? $vars->{$1}
        : $builtin{$1}     ? $builtin{$1}->()
        : croak "write_nginx_conf: unknown placeholder %%$1%%"
    }ge;
    return $text;
}

sub _nginx_cmd {
    my ($self, @args) = @_;
    return [$NGINX, '-p', "$self->{dir}/", '-c', $self->conf_path,
            '-e', $self->error_log_path, @args];
}

sub nginx_test {
    my ($self) = @_;
    my ($status, $out) = _run($self->_nginx_cmd('-t'), merge => 1);
    return ($status == 0, $out);
}

sub start_nginx {
    my ($self) = @_;
    croak 'start_nginx: already running' if $self->_tracked_alive($self->{nginx_pid});
    unlink $self->pid_path;
    my ($status, $out) = _run($self->_nginx_cmd, merge => 1);
    $self->_nginx_died("nginx exited with $status:\n$out") if $status;
    my $pid = $self->wait_until(sub { $self->_read_pid_file }, timeout => 5)
        or $self->_nginx_died('no pid file');
    $self->{nginx_pid} = $pid;
    $self->_track($pid, 'nginx master');
    $self->wait_until(sub { $self->_port_open($self->port) || !_alive($pid) }, timeout => 5);
    $self->_nginx_died("nginx is not accepting on port " . $self->port)
        unless _alive($pid) && $self->_port_open($self->port);
    $self->wait_until(sub { $self->worker_pids >= $self->{workers} }, timeout => 5)
        or $self->_nginx_died('workers did not start');
    $self->_track($_, 'nginx worker') for $self->worker_pids;
    return $pid;
}

sub _nginx_died {
    my ($self, $why) = @_;
    croak "start_nginx: $why\n--- error.log (tail) ---\n" . $self->_error_log_tail;
}

sub nginx_pid {
    my ($self) = @_;
    return $self->_read_pid_file || $self->{nginx_pid};
}

sub worker_pids {
    my ($self) = @_;
    my $master = $self->{nginx_pid} or return;
    my $procs = _proc_table();
    my @pids = sort { $a <=> $b } grep { $procs->{$_}{ppid} == $master } keys %$procs;
    return @pids;
}

sub signal_nginx {
    my ($self, $sig) = @_;
    my $pid = $self->nginx_pid or croak 'nginx is not running';
    kill $sig => $pid or croak "kill $sig $pid: $!";
}

# HUP, then wait until the old workers are gone and a full set of new ones
# runs; dies early if the error log shows the new config was rejected.
sub reload {
    my ($self, %o) = @_;
    my %old = map { $_ => 1 } $self->worker_pids;
    my $log_offset = -s $self->error_log_path || 0;
    $self->signal_nginx('HUP');
    my $done = $self->wait_until(sub {
        croak "reload rejected:\n" . $self->_error_log_tail
            if $self->_error_log_since($log_offset) =~ /\[emerg\]/;
        my @workers = $self->worker_pids;
        return !grep({ $old{$_} } @workers) && @workers >= $self->{workers};
    }, timeout => $o{timeout} || 10);
    croak "reload: old workers still running\n" . $self->_error_log_tail unless $done;
    $self->_track($_, 'nginx worker') for $self->worker_pids;
    return 1;
}

# USR1; waits (up to 2 s) until the master and each worker logged
# "reopening logs" to the current error log, if it was not moved.
sub reopen {
    my ($self) = @_;
    my $count = sub { scalar(() = $self->error_log =~ /: reopening logs$/mg) };
    my $before = $count->();
    $self->signal_nginx('USR1');
    $self->wait_until(sub { $count->() >= $before + 1 + $self->{workers} }, timeout => 2);
    return 1;
}

# QUIT (graceful), up to 5 s, then KILL.
sub stop_nginx {
    my ($self) = @_;
    my $master = $self->{nginx_pid} or return;
    my @pids = ($master, $self->_track_descendants($master, 'nginx worker'));
    kill QUIT => $master if $self->_tracked_alive($master);
    $self->_wait_gone_or_kill(5, @pids);
    unlink $self->pid_path;
    delete $self->{nginx_pid};
    return;
}

sub error_log {
    my ($self) = @_;
    return -e $self->error_log_path ? _read_file($self->error_log_path) : '';
}

sub _error_log_since {
    my ($self, $offset) = @_;
    my $log = $self->error_log;
    return length $log > $offset ? substr($log, $offset) : '';
}

sub _error_log_tail {
    my ($self, $n) = @_;
    my @lines = split /\n/, $self->error_log;
    splice @lines, 0, @lines - ($n || 30) if @lines > ($n || 30);
    return join '', map { "$_\n" } @lines;
}

sub _read_pid_file {
    my ($self) = @_;
    open my $fh, '<', $self->pid_path or return;
    my $line = <$fh>;
    return $line && $line =~ /^(\d+)/ ? $1 : undef;
}

sub _port_open {
    my ($self, $port) = @_;
    my $sock = IO::Socket::IP->new(PeerHost => $HOST, PeerPort => $port, Timeout => 1)
        or return 0;
    close $sock;
    return 1;
}

# --- the portal ---------------------------------------------------------------

# Options go to Audit::Portal->new (users, token_cb, cookie, workers).
sub start_portal {
    my ($self, %o) = @_;
    croak 'start_portal: already running' if $self->_tracked_alive($self->{portal_pid});
    my $sock = IO::Socket::IP->new(LocalHost => $HOST, LocalPort => $self->portal_port,
        Listen => 1024, ReuseAddr => 1)
        or croak 'start_portal: cannot listen on ' . $self->portal_port . ": $@";
    my $portal = Audit::Portal->new(%o, socket => $sock, parent => $$);
    my $pid = fork;
    croak "start_portal: fork: $!" unless defined $pid;
    if (!$pid) {
        $SIG{INT} = $SIG{TERM} = 'DEFAULT';
        open STDOUT, '>>', "$self->{dir}/portal.log";
        open STDERR, '>&', \*STDOUT;
        eval { $portal->run };
        print STDERR "portal: $@" if $@;
        POSIX::_exit(0);    # never run this process's END blocks or DESTROY
    }
    close $sock;
    $self->{portal_pid} = $pid;
    $self->_track($pid, 'portal master');
    $self->wait_until(sub { $self->_descendants($pid) }, timeout => 5);
    $self->_track_descendants($pid, 'portal worker');
    return $self->portal_port;
}

sub portal_pid { $_[0]{portal_pid} }

sub stop_portal {
    my ($self) = @_;
    my $pid = delete $self->{portal_pid} or return;
    my @pids = ($pid, $self->_track_descendants($pid, 'portal worker'));
    kill TERM => $pid if $self->_tracked_alive($pid);
    $self->_wait_gone_or_kill(5, @pids);
    waitpid $pid, WNOHANG;
    return;
}

# --- PostgreSQL -------------------------------------------------------------------

sub _pg_dir  { "$_[0]{dir}/pg" }
# the directory of the cluster's Unix socket (a libpq host= for it)
sub pg_socket_dir { $_[0]->_pg_dir }
sub _pg_data { "$_[0]{dir}/pg/data" }

sub _pg_bin {
    my ($tool) = @_;
    my $bin = $ENV{AUDIT_PG_BIN} || (
        map { $_->[1] }
        sort { $b->[0] <=> $a->[0] }
        map { m{/(\d+)/bin\z} ? [$1, $_] : () } glob '/usr/lib/postgresql/*/bin'
    )[0] || croak 'no PostgreSQL server binaries under /usr/lib/postgresql';
    return "$bin/$tool";
}

# Creates the cluster (once) and starts it. Option settings => {name => value}
# adds -c name=value server settings, also used by start_pg_again.
sub start_pg {
    my ($self, %o) = @_;
    croak 'start_pg: already running' if $self->_tracked_alive($self->{pg_pid});
    $self->{pg_settings} = $o{settings} || {};
    $self->_pg_init unless -d $self->_pg_data;
    return $self->_pg_start;
}

# A database of the audit schema, made the way operators make it: CREATE
# DATABASE, sql/migrate as the superuser, audit_writer and audit_reader
# allowed to log in.  Starts PostgreSQL if needed; returns audit_writer's
# conninfo.  Dies with sql/migrate's output when it fails.
sub audit_db {
    my ($self, %o) = @_;
    my $db = $o{db} // 'audit';
    $self->start_pg unless $self->_tracked_alive($self->{pg_pid});
    $self->psql(qq{CREATE DATABASE "$db"});
    my $admin = $self->pg_conninfo($db, 'postgres');
    my $out = `"$ROOT/sql/migrate" "$admin" 2>&1`;
    croak "audit_db: sql/migrate failed:\n$out" if $?;
    $self->psql('ALTER ROLE audit_writer LOGIN; ALTER ROLE audit_reader LOGIN', db => $db);
    return $self->pg_conninfo($db, 'audit_writer');
}

# wrk against this nginx in the background: start_wrk(path => '/x',
# seconds => 6, connections => 8, threads => 2, cookie => '...'); then
# wrk_result($pid) waits for it and returns {status, requests, non_2xx (any
# response not a 2xx/3xx), connect_errors, report}.
sub start_wrk {
    my ($self, %o) = @_;
    my $out = "$self->{dir}/wrk." . $self->{wrk_runs}++ . '.out';
    my @args = ('wrk', '-t' . ($o{threads} || 1), '-c' . ($o{connections} || 4),
                '-d' . ($o{seconds} || 5) . 's',
                defined $o{cookie} ? ('-H', "Cookie: $o{cookie}") : (),
                "http://$HOST:" . $self->port . ($o{path} // '/'));
    my $pid = fork;
    croak "fork: $!" unless defined $pid;
    if (!$pid) {
        open STDOUT, '>', $out or POSIX::_exit(127);
        open STDERR, '>&', \*STDOUT;
        { no warnings 'exec'; exec { $args[0] } @args }
        POSIX::_exit(127);
    }
    $self->_track($pid, 'wrk');
    $self->{wrk_out}{$pid} = $out;
    return $pid;
}

sub wrk_result {
    my ($self, $pid) = @_;
    waitpid $pid, 0;
    my $status = $? >> 8;
    my $report = _read_file(delete $self->{wrk_out}{$pid});
    my ($requests) = $report =~ /(\d+) requests in/;
    my ($refused) = $report =~ /Socket errors: connect (\d+)/;
    return { status => $status, requests => $requests // 0,
             non_2xx => $report =~ /Non-2xx/ ? 1 : 0, connect_errors => $refused // 0,
             report => $report };
}

sub start_pg_again {
    my ($self) = @_;
    croak 'start_pg_again: no cluster; call start_pg first' unless -d $self->_pg_data;
    croak 'start_pg_again: already running' if $self->_tracked_alive($self->{pg_pid});
    return $self->_pg_start;
}

sub _pg_init {
    my ($self) = @_;
    my $dir = $self->_pg_dir;
    make_path($dir);
    if ($> == 0) {
        my (undef, undef, $uid, $gid) = getpwnam('postgres')
            or croak 'start_pg: no postgres OS user';
        chown $uid, $gid, $dir or croak "chown $dir: $!";
    }
    my ($status, $out) = _run(
        [_as_postgres(_pg_bin('initdb'), '-D', $self->_pg_data, '-A', 'trust',
                      '-E', 'UTF8', '--locale=C', '--no-sync')],
        merge => 1, chdir => $dir);
    croak "initdb failed ($status):\n$out" if $status;
}

sub _pg_start {
    my ($self) = @_;
    my $dir = $self->_pg_dir;
    my %settings = (listen_addresses => $HOST, unix_socket_directories => $dir,
                    fsync => 'off', %{ $self->{pg_settings} || {} });
    my $opts = '-p ' . $self->pg_port . join '',
        map { " -c $_=$settings{$_}" } sort keys %settings;
    my ($status, $out) = _run(
        [_as_postgres(_pg_bin('pg_ctl'), '-D', $self->_pg_data, '-w', '-t', '30',
                      '-l', "$dir/postgresql.log", '-o', $opts, 'start')],
        merge => 1, chdir => $dir);
    croak "pg_ctl start failed ($status):\n$out\n--- postgresql.log ---\n"
        . $self->pg_log if $status;
    my $pid = _first_line($self->_pg_data . '/postmaster.pid')
        or croak 'start_pg: no postmaster.pid';
    $self->{pg_pid} = $pid;
    $self->_track($pid, 'postmaster');
    return $pid;
}

sub pg_pid { $_[0]{pg_pid} }

sub pg_log {
    my ($self) = @_;
    my $path = $self->_pg_dir . '/postgresql.log';
    return -e $path ? _read_file($path) : '';
}

# pg_ctl stop -m fast, then KILL whatever is left of the postmaster's tree.
sub stop_pg {
    my ($self) = @_;
    my $pid = delete $self->{pg_pid} or return;
    my @pids = ($pid, $self->_track_descendants($pid, 'postgres backend'));
    if ($self->_tracked_alive($pid)) {
        _run([_as_postgres(_pg_bin('pg_ctl'), '-D', $self->_pg_data, '-m', 'fast',
                           '-w', '-t', '10', 'stop')],
             merge => 1, chdir => $self->_pg_dir);
    }
    $self->_wait_gone_or_kill(5, @pids);
    return;
}

sub pg_conninfo {
    my ($self, $db, $user) = @_;
    my %kv = (host => $HOST, port => $self->pg_port, dbname => $db // 'postgres',
              user => $user // 'postgres');
    return join ' ', map { "$_=" . _conninfo_quote($kv{$_}) } qw(host port dbname user);
}

sub _conninfo_quote {
    my ($v) = @_;
    return $v if $v =~ /\A[^\s'\\]+\z/;
    $v =~ s/(['\\])/\\$1/g;
    return "'$v'";
}

# Runs SQL through psql; returns its stdout without the final newline, dies
# with psql's stderr on error.
sub psql {
    my ($self, $sql, %o) = @_;
    my ($status, $out, $err) = _run(
        [$PSQL, '-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1',
         '-h', $HOST, '-p', $self->pg_port,
         '-U', $o{user} // 'postgres', '-d', $o{db} // 'postgres', '-f', '-'],
        stdin => $sql);
    croak "psql failed ($status): $err" if $status;
    $out =~ s/\n\z//;
    return $out;
}

sub dbh {
    my ($self, %o) = @_;
    require DBI;
    my $dsn = "dbi:Pg:dbname=" . ($o{db} // 'postgres') . ";host=$HOST;port=" . $self->pg_port;
    return DBI->connect($dsn, $o{user} // 'postgres', '',
        {RaiseError => 1, PrintError => 0, AutoCommit => 1, %{ $o{attr} || {} }});
}

sub _as_postgres { return $> == 0 ? ('runuser', '-u', 'postgres', '--', @_) : @_ }

# --- HTTP clients -------------------------------------------------------------------

# One request to nginx (or to port => N). Options: headers => {}, cookie =>
# raw Cookie header, body => bytes, form => {} (urlencoded), json => data,
# timeout. Returns {status, reason, headers (lower-case; repeated ones as
# arrayrefs), content, json}.
sub request {
    my ($self, $method, $path, %o) = @_;
    my $http = HTTP::Tiny->new(max_redirect => 0, timeout => $o{timeout} || 10,
                               agent => 'audit-test/1');
    my %headers = %{ $o{headers} || {} };
    $headers{Cookie} = $o{cookie} if defined $o{cookie};
    my $body = $o{body};
    if ($o{form}) {
        $body = $http->www_form_urlencode($o{form});
        $headers{'Content-Type'} //= 'application/x-www-form-urlencoded';
    } elsif (exists $o{json}) {
        $body = $JSON->encode($o{json});
        $headers{'Content-Type'} //= 'application/json';
    }
    my $url = "http://$HOST:" . ($o{port} || $self->port) . $path;
    my $res = $http->request($method, $url,
        {headers => \%headers, (defined $body ? (content => $body) : ())});
    return {
        status  => $res->{status},
        reason  => $res->{reason},
        headers => $res->{headers},
        content => $res->{content} // '',
        json    => _maybe_json($res->{content}),
    };
}

# Writes raw bytes, returns the raw response bytes. Reads until EOF, until
# `responses` (default 1) complete responses arrived, or `timeout` (5 s).
# half_close => 1 shuts down our write side after sending.
sub raw_request {
    my ($self, $bytes, %o) = @_;
    my $sock = IO::Socket::IP->new(PeerHost => $HOST, PeerPort => $o{port} || $self->port,
                                   Timeout => 5)
        or croak "raw_request: connect: $@";
    binmode $sock;
    local $SIG{PIPE} = 'IGNORE';
    for (my $off = 0; $off < length $bytes;) {
        my $n = syswrite($sock, $bytes, length($bytes) - $off, $off) or last;
        $off += $n;
    }
    shutdown($sock, 1) if $o{half_close};
    my $head_only = $bytes =~ /\AHEAD /;
    my $want = $o{responses} || 1;
    my $deadline = time + ($o{timeout} || 5);
    my ($buf, $sel) = ('', IO::Select->new($sock));
    while (time < $deadline) {
        next unless $sel->can_read($deadline - time);
        my $n = sysread($sock, $buf, 65536, length $buf);
        last unless $n;    # EOF or reset
        last if _complete_responses($buf, $head_only) >= $want;
    }
    close $sock;
    return $buf;
}

# How many complete responses $buf holds (interim 1xx not counted); a body
# delimited only by EOF is never complete.
sub _complete_responses {
    my ($buf, $head_only) = @_;
    my ($count, $pos) = (0, 0);
    while ((my $end = index $buf, "\r\n\r\n", $pos) >= 0) {
        my $head = substr($buf, $pos, $end - $pos);
        my ($status) = $head =~ m{\AHTTP/\d\.\d (\d{3})} or last;
        $pos = $end + 4;
        next if $status < 200;
        if (!$head_only && $status != 204 && $status != 304) {
            if ($head =~ /^transfer-encoding:[ \t]*chunked/im) {
                $pos = _chunked_end($buf, $pos) // return $count;
            } elsif ($head =~ /^content-length:[ \t]*(\d+)/im) {
                return $count if length($buf) < $pos + $1;
                $pos += $1;
            } else {
                return $count;
            }
        }
        $count++;
    }
    return $count;
}

sub _chunked_end {
    my ($buf, $pos) = @_;
    while (1) {
        my $eol = index $buf, "\r\n", $pos;
        return undef if $eol < 0;
        my ($size) = substr($buf, $pos, $eol - $pos) =~ /\A([0-9a-fA-F]+)/ or return undef;
        $pos = $eol + 2;
        if (hex $size == 0) {
            my $end = index $buf, "\r\n\r\n", $pos - 2;
            return $end < 0 ? undef : $end + 4;
        }
        $pos += hex($size) + 2;
        return undef if $pos > length $buf;
    }
}

sub _maybe_json {
    my ($content) = @_;
    return undef unless defined $content && $content =~ /\A\s*[\[{]/;
    return eval { $JSON->decode($content) };
}

# --- logs and waiting ---------------------------------------------------------------

# Lines of a file (relative paths are inside the temp dir); none if absent.
sub log_lines {
    my ($self, $path) = @_;
    $path = "$self->{dir}/$path" unless $path =~ m{\A/};
    return () unless -e $path;
    return split /\n/, _read_file($path);
}

# Each line decoded as a JSON object; dies naming the first line that is not.
sub log_events {
    my ($self, $path) = @_;
    my @events;
    my $n = 0;
    for my $line ($self->log_lines($path)) {
        $n++;
        my $event = eval { $JSON->decode($line) };
        croak "log_events: $path line $n is not valid JSON ($@): $line" unless defined $event;
        croak "log_events: $path line $n is not a JSON object: $line" unless ref $event eq 'HASH';
        push @events, $event;
    }
    return @events;
}

# Waits (default 5 s) until the file holds at least $count events (nginx
# writes logs after the response is sent, the audit log is buffered);
# returns them all, however many there are at the deadline.
sub wait_events {
    my ($self, $path, $count, %o) = @_;
    my @events;
    $self->wait_until(sub { @events = $self->log_events($path); @events >= $count }, %o);
    return @events;
}

# Polls $code until it returns true; returns that value, or undef on timeout.
sub wait_until {
    my ($self, $code, %o) = @_;
    my $deadline = time + ($o{timeout} // 5);
    while (1) {
        my $v = $code->();
        return $v if $v;
        return undef if time >= $deadline;
        sleep($o{interval} || 0.05);
    }
}

# --- process tracking -----------------------------------------------------------------

# For helpers that start processes of their own (Audit::Sentry, bench/run):
# track($pid, $label) makes stop_all and the leftover check cover it;
# stop_tracked($pid) sends TERM, waits up to timeout => 5 s, then KILLs;
# descendants($pid) lists the live processes below it.
sub track        { my $self = shift; $self->_track(@_) }
sub descendants  { my $self = shift; $self->_descendants(@_) }
sub stop_tracked {
    my ($self, $pid, %o) = @_;
    kill TERM => $pid if $self->_tracked_alive($pid);
    $self->_wait_gone_or_kill($o{timeout} // 5, $pid);
}

sub _track {
    my ($self, $pid, $label) = @_;
    my $start = _start_time($pid) // return;
    $self->{tracked}{$pid} = {label => $label, start => $start};
}

# Tracks and returns all live descendants of $pid.
sub _track_descendants {
    my ($self, $pid, $label) = @_;
    my @kids = $self->_descendants($pid);
    $self->_track($_, $label) for @kids;
    return @kids;
}

sub _descendants {
    my ($self, $root) = @_;
    return () unless $root;
    my $procs = _proc_table();
    my %children;
    push @{ $children{ $procs->{$_}{ppid} } }, $_ for keys %$procs;
    my (@found, @queue);
    @queue = ($root);
    while (defined(my $pid = shift @queue)) {
        my @kids = @{ $children{$pid} || [] };
        push @found, @kids;
        push @queue, @kids;
    }
    return @found;
}

# Alive, and the same process we started (PIDs get reused).
sub _tracked_alive {
    my ($self, $pid) = @_;
    return 0 unless $pid && _alive($pid);
    my $t = $self->{tracked}{$pid} or return 0;
    return (_start_time($pid) // -1) == $t->{start};
}

sub _wait_gone_or_kill {
    my ($self, $timeout, @pids) = @_;
    my $gone = sub { !grep { $self->_tracked_alive($_) } @pids };
    return if $self->wait_until($gone, timeout => $timeout);
    kill KILL => grep { $self->_tracked_alive($_) } @pids;
    $self->wait_until($gone, timeout => 2);
}

sub _describe {
    my ($self, @pids) = @_;
    return join ', ', map { "$_ ($self->{tracked}{$_}{label})" } @pids;
}

# kill 0 says yes for zombies too: a reaped-late child is gone for us.
sub process_alive { _alive($_[-1]) }

sub _alive {
    my ($pid) = @_;
    return 0 unless $pid && kill 0, $pid;
    my $stat = _proc_stat($pid) or return 0;
    if ($stat->{state} eq 'Z') {
        waitpid $pid, WNOHANG;
        return 0;
    }
    return 1;
}

sub _proc_stat {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/stat" or return;
    my $line = <$fh> // return;
    # "pid (comm) state ppid ..." where comm may hold spaces and parentheses
    my ($rest) = $line =~ /\) (.*)\z/s or return;
    my @f = split ' ', $rest;
    return {state => $f[0], ppid => $f[1], start => $f[19]};
}

sub _start_time { my $s = _proc_stat($_[0]); return $s ? $s->{start} : undef }

sub _proc_table {
    my %procs;
    opendir my $dh, '/proc' or croak "/proc: $!";
    for my $pid (grep { /\A\d+\z/ } readdir $dh) {
        my $s = _proc_stat($pid) or next;
        $procs{$pid} = $s unless $s->{state} eq 'Z';
    }
    return \%procs;
}

# --- running commands and files ---------------------------------------------------------

# Runs a command (no shell) with stdin from a string or /dev/null; returns
# ($?, stdout, stderr), stderr folded into stdout with merge => 1.
sub _run {
    my ($cmd, %o) = @_;
    my $out = File::Temp->new;
    my $err = File::Temp->new;
    my $in;
    if (defined $o{stdin}) {
        $in = File::Temp->new;
        _write_file($in->filename, $o{stdin});
    }
    my $pid = fork;
    croak "fork: $!" unless defined $pid;
    if (!$pid) {
        chdir $o{chdir} if $o{chdir};
        open STDIN, '<', $in ? $in->filename : '/dev/null';
        open STDOUT, '>', $out->filename;
        if ($o{merge}) { open STDERR, '>&', \*STDOUT } else { open STDERR, '>', $err->filename }
        { no warnings 'exec'; exec { $cmd->[0] } @$cmd }
        print STDERR "exec $cmd->[0]: $!\n";
        POSIX::_exit(127);
    }
    waitpid $pid, 0;
    my $status = $?;
    return ($status, _read_file($out->filename), _read_file($err->filename));
}

sub _first_line {
    my ($path) = @_;
    open my $fh, '<', $path or return;
    my $line = <$fh> // return;
    chomp $line;
    return $line;
}

sub _write_file {
    my ($path, $data) = @_;
    open my $fh, '>:raw', $path or croak "$path: $!";
    print {$fh} $data;
    close $fh or croak "$path: $!";
}

sub _read_file {
    my ($path) = @_;
    open my $fh, '<:raw', $path or croak "$path: $!";
    local $/;
    return scalar <$fh> // '';
}

1;
