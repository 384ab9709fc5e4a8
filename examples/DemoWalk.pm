package DemoWalk;

=head1 NAME

DemoWalk - the demo of ngx_http_audit_module: sets it up (with the test
harness), walks through it, and checks what the audit trail says

=head1 SYNOPSIS

    use lib 't/lib', 'examples';
    use DemoWalk;

    my $demo = DemoWalk->setup(port => 8080);   # PostgreSQL, receiver, portal, nginx
    $demo->url;                                  # http://127.0.0.1:8080/
    my @steps  = $demo->walk;                    # [{name, ok, diag}]
    my @checks = $demo->check;                   # [{name, ok, diag} or {name, skip}]
    $demo->t->stop_all_and_check;

Used by C<scripts/demo> (C<make demo>) and C<t/60-demo.t>. Everything runs
in the harness's temp dir (C<< $demo->dir >>) and is stopped by the harness
(C<stop_all>, its END block, SIGINT/SIGTERM).

=head2 setup(%options)

=over

=item port, host: where nginx listens (default: a free port on 127.0.0.1; host
is an IPv4 address, 0.0.0.0 for all)

=item workers: nginx worker processes (default 2)

=item say: a code ref given each progress line (default: none)

=back

Starts, in this order: a throwaway PostgreSQL with database C<audit> and the
schema from C<sql/migrate> (skipped with a note when C<sql/migrate> does not
exist), the Sentry-protocol receiver (kept only when C<nginx -t> accepts
C<audit_sentry_dsn>), C<examples/demo-portal.pl>, and nginx with the module
(started as root, its workers run as C<www-data>, like Debian's nginx: the
spool is theirs, the keys readable by their group).
C<< $demo->notes >> lists what was left out and why.

=cut

use strict;
use warnings;
use Carp qw(croak);
use Digest::SHA qw(sha256_hex);
use File::Path qw(make_path);
use IO::Socket::IP;
use POSIX ();
use Time::HiRes qw(sleep time);

use Audit::Test;
use Audit::Sentry;
use Audit::Token;

my $JSON = eval { require JSON::XS; JSON::XS->new->utf8->canonical }
    || do { require JSON::PP; JSON::PP->new->utf8->canonical };

our $PASSWORD = 'demo';
our @USERS = (
    {email => 'dr.house@clinic.example',   id => 'dr.house',   role => 'doctor'},
    {email => 'nurse.joy@clinic.example',  id => 'nurse.joy',  role => 'nurse'},
    {email => 'front.desk@clinic.example', id => 'front.desk', role => 'receptionist'},
    {email => 'admin@clinic.example',      id => 'admin',      role => 'admin'},
);
my %USER = map { $_->{role} => $_ } @USERS;

my $KID = 'demo-1';

# the wrong password the walk types; it must appear nowhere afterwards
my $WRONG_PASSWORD = 'Tr0ub4dor&3-wrong';

# --- setup ---------------------------------------------------------------------------

sub setup {
    my ($class, %o) = @_;
    my $t = Audit::Test->new;
    my $self = bless {t => $t, notes => [], say => $o{say} || sub {},
                      host => $o{host} || '127.0.0.1'}, $class;
    my $root = $t->repo_root;
    my $dir = $t->dir;

    croak "the module is not built: run 'make module' (" . $t->module_path . ')'
        unless -e $t->module_path;
    if ($o{port}) {
        croak "port must be a number: $o{port}" unless $o{port} =~ /\A\d+\z/;
        my $probe = IO::Socket::IP->new(LocalHost => $self->{host}, LocalPort => $o{port},
                                        ReuseAddr => 1, Listen => 1)
            or croak "cannot listen on $self->{host}:$o{port}: $@";
        close $probe;
        $t->{port} = $o{port};    # the harness hands this port to nginx
    }

    # the session key: nginx gets it as a JWKS, the portal as the raw secret
    my $secret = random_hex(32);
    $self->{secret} = $secret;
    $t->file('portal-secret.key', $secret);
    chmod 0600, "$dir/portal-secret.key";
    $t->file('session-keys.jwks', Audit::Token::jwks(
        {%{ Audit::Token::oct_jwk($secret, $KID) }, alg => 'HS256', use => 'sig'}));
    # nginx's workers run as www-data (as root; see _write_conf): they
    # re-read the keys on an unknown kid, so root:www-data 0640 as in
    # docs/operations.md
    chmod 0640, "$dir/session-keys.jwks";
    chown 0, $self->worker_gid, "$dir/session-keys.jwks" if $> == 0;
    $t->file('revoked-sessions.txt', "# session ids (sid) refused even before they expire\n");

    # PostgreSQL
    if (-x "$root/sql/migrate") {
        $self->say('starting PostgreSQL ...');
        $t->start_pg;
        $t->psql('CREATE DATABASE audit');
        my ($status, $out) = run_cmd("$root/sql/migrate", $t->pg_conninfo('audit', 'postgres'));
        croak "sql/migrate failed:\n$out" if $status;
        $t->psql('ALTER ROLE audit_writer LOGIN; ALTER ROLE audit_reader LOGIN', db => 'audit');
        make_path("$dir/spool");
        # the workers write the spool: theirs alone, as on a real install
        if ($> == 0) {
            chown $self->worker_uid, $self->worker_gid, "$dir/spool";
            chmod 0700, "$dir/spool";
        }
        $self->{pg} = 1;
    } else {
        $self->note('PostgreSQL left out: sql/migrate does not exist yet');
    }

    # the Sentry-protocol receiver (kept if nginx takes audit_sentry_dsn)
    $self->{sentry} = Audit::Sentry->start($t, project => 1, key => 'demo');

    # the portal
    $self->say('starting the demo portal ...');
    $self->_start_portal;

    # nginx
    my ($ok, $out) = $self->_write_conf(sentry => 1, workers => $o{workers});
    croak "nginx -t refuses the demo configuration:\n$out" unless $ok;
    $self->say('starting nginx ...');
    $t->start_nginx;
    return $self;
}

sub t       { $_[0]{t} }
sub dir     { $_[0]{t}->dir }
sub notes   { @{ $_[0]{notes} } }
sub pg      { $_[0]{pg} }
sub sentry  { $_[0]{sentry} }
sub log_path { $_[0]->dir . '/audit.jsonl' }
sub url {
    my ($s) = @_;
    my $host = $s->{host} eq '0.0.0.0' ? '127.0.0.1' : $s->{host};    # all addresses
    return "http://$host:" . $s->{t}->port . '/';
}
sub users   { @USERS }
sub password { $PASSWORD }

# The user nginx's workers run as (when started as root): www-data, as
# Debian's nginx runs them; uid and gid for the files they need.
our $WORKER_USER = 'www-data';
sub worker_user { $WORKER_USER }
sub worker_uid  { (getpwnam($WORKER_USER))[2] // croak "no user $WORKER_USER" }
sub worker_gid  { (getpwnam($WORKER_USER))[3] // croak "no user $WORKER_USER" }

sub note { my ($self, $text) = @_; push @{ $self->{notes} }, $text; $self->say("note: $text") }
sub say  { my ($self, $text) = @_; $self->{say}->($text) }

sub _write_conf {
    my ($self, %o) = @_;
    my $t = $self->{t};
    my %vars = (HOST => $self->{host}, PG => '', SENTRY => '');
    if ($self->{pg}) {
        $vars{PG} = sprintf qq{audit_pg "%s" flush=200ms;\n    audit_spool %s/spool;\n    audit_console_pg "%s";},
            $t->pg_conninfo('audit', 'audit_writer'), $t->dir, $t->pg_conninfo('audit', 'audit_reader');
    }
    $vars{SENTRY} = 'audit_sentry_dsn ' . $self->{sentry}->dsn . ';'
        if $o{sentry} && $self->{sentry};
    my %conf = (workers => $o{workers} || 2, vars => \%vars, access_log => 1,
                user => $WORKER_USER);
    $t->write_nginx_conf(<<'CONF', %conf);
    # the demo's configuration: examples/nginx.conf's policy, on plain HTTP
    audit_zone audit:10m;
    audit_session_keys %%DIR%%/session-keys.jwks;
    audit_session_algorithms HS256;
    audit_session_revoked %%DIR%%/revoked-sessions.txt;
    audit_session_leeway 5s;      # so that the portal's short sessions end visibly
    audit_login_url /login;
    audit_log %%DIR%%/audit.jsonl flush=200ms;
    audit_console_zone console:8m;
    %%PG%%
    %%SENTRY%%

    upstream portal { server %%PORTAL%%; }

    server {
        listen %%HOST%%:%%PORT%%;
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;

        location = /login {
            audit_public on;
            audit_login username_field=email;
            audit_bruteforce 5/5m;
            if ($audit_bruteforce) { return 429; }
            proxy_pass http://portal;
        }
        location = /logout {
            audit_logout;
            proxy_pass http://portal;
        }
        location = /favicon.ico { access_log off; return 204; }
        location ~ ^/patients/(\d+)$ {
            audit_require_role doctor nurse admin;
            audit_require_role admin methods=DELETE;
            audit_record patient $1;
            proxy_pass http://portal;
        }
        location ~ ^/admin(?:/|$) {
            audit_require_role admin;
            proxy_pass http://portal;
        }
        location = /_audit/status {
            audit_status;
            audit_require_role admin;
        }
        location /_audit/console/ {
            audit_console;
            audit_require_role admin;
            audit_authz_log denied;
        }
        location / {
            proxy_pass http://portal;
        }
    }
CONF
    return $t->nginx_test;
}

# examples/demo-portal.pl, tracked by the harness as its portal: stop_all
# stops it (TERM to the master, which stops its workers).
sub _start_portal {
    my ($self) = @_;
    my $t = $self->{t};
    my $port = $t->portal_port;
    my @cmd = ($^X, $t->repo_root . '/examples/demo-portal.pl',
               '--secret', $t->dir . '/portal-secret.key', '--kid', $KID,
               '--host', '127.0.0.1', '--port', $port, '--parent', $$);
    my $pid = fork;
    croak "fork: $!" unless defined $pid;
    if (!$pid) {
        $SIG{INT} = $SIG{TERM} = 'DEFAULT';
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $t->dir . '/portal.log';
        open STDERR, '>&', \*STDOUT;
        { no warnings 'exec'; exec { $cmd[0] } @cmd }
        print STDERR "exec $cmd[0]: $!\n";
        POSIX::_exit(127);
    }
    $t->{portal_pid} = $pid;
    $t->_track($pid, 'demo portal');
    my $up = $t->wait_until(sub {
        return 1 if IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $port, Timeout => 1);
        return -1 unless $t->process_alive($pid);
        return 0;
    }, timeout => 10);
    croak "the demo portal did not start:\n" . join "\n", $t->log_lines('portal.log')
        unless $up && $up == 1;
    $t->wait_until(sub { $t->_descendants($pid) >= 1 }, timeout => 5);
    $t->_track_descendants($pid, 'demo portal worker');
    return $port;
}

# --- the walk ------------------------------------------------------------------------

=head2 walk

Logs in as the doctor (the form's POST) and views /patients/42; tries
/admin as the nurse (403); types a wrong password for the receptionist;
replays an expired session (minted with the demo key) as a browser (302 to
/login?next=...) and as an API call (401 JSON); logs the doctor out and
replays the logged-out cookie (401, revoked); the admin reads
/_audit/status. Returns one C<{name, ok, diag}> per step.

=cut

sub walk {
    my ($self) = @_;
    my $t = $self->{t};
    my @steps;
    my $step = sub {
        my ($name, $ok, $diag) = @_;
        push @steps, {name => $name, ok => $ok ? 1 : 0, diag => $ok ? undef : $diag};
        $self->say(($ok ? 'ok      ' : 'NOT OK  ') . $name);
        return $ok;
    };
    my $html = {Accept => 'text/html,application/xhtml+xml'};
    my $api  = {Accept => 'application/json'};
    my $show = sub { my ($r) = @_; "status $r->{status}, location "
        . ($r->{headers}{location} // '-') . ', body ' . substr($r->{content}, 0, 200) };

    my $r = $t->request(GET => '/', headers => $html);
    $step->('a browser without a session is sent to the login page (302 /login?next=/)',
            $r->{status} == 302 && login_next($r) eq '/', $show->($r));

    $r = $t->request(GET => '/login?next=%2F', headers => $html);
    $step->('the login form (200)', $r->{status} == 200 && $r->{content} =~ /name="password"/,
            $show->($r));

    my $doctor = $self->_login($USER{doctor}{email}, $PASSWORD, \$r);
    $step->('the doctor logs in: 302 and Set-Cookie session=...; HttpOnly; SameSite=Lax',
            $doctor && $r->{status} == 302
                && set_cookie($r) =~ /HttpOnly/ && set_cookie($r) =~ /SameSite=Lax/,
            $show->($r) . ', set-cookie ' . set_cookie($r));

    $r = $t->request(GET => '/', cookie => $doctor, headers => $html);
    $step->('home names the doctor (from the X-Audit-* headers nginx adds)',
            $r->{status} == 200 && $r->{content} =~ /Dr\. Gregory House/
                && $r->{content} =~ /<code>dr\.house<\/code>/,
            $show->($r));

    $r = $t->request(GET => '/patients/42', cookie => $doctor, headers => $html);
    $step->('the doctor views /patients/42 (200)',
            $r->{status} == 200 && $r->{content} =~ /Patient 42/, $show->($r));

    my $nurse = $self->_login($USER{nurse}{email}, $PASSWORD, \$r);
    $step->('the nurse logs in', $nurse, $show->($r));
    $r = $t->request(GET => '/admin', cookie => $nurse, headers => $html);
    $step->('the nurse tries /admin: 403', $r->{status} == 403, $show->($r));

    my $none = $self->_login($USER{receptionist}{email}, $WRONG_PASSWORD, \$r);
    $step->('a wrong password for the receptionist: the form again, 401, no cookie',
            !$none && $r->{status} == 401 && $r->{content} =~ /Wrong e-mail or password/,
            $show->($r));

    my $now = time;
    my $expired = 'session=' . Audit::Token::hs256($self->{secret},
        {sub => $USER{doctor}{id}, role => 'doctor', sid => 'demo-expired-' . random_hex(4),
         iat => $now - 7200, exp => $now - 3600}, {kid => $KID});
    $r = $t->request(GET => '/patients/42', cookie => $expired, headers => $html);
    $step->('an expired session, as a browser: 302 to /login?next=/patients/42',
            $r->{status} == 302 && login_next($r) eq '/patients/42', $show->($r));
    $r = $t->request(GET => '/patients/42', cookie => $expired, headers => $api);
    $step->('an expired session, as an API call: 401 {"error":"session_expired"}',
            $r->{status} == 401 && ($r->{json}{error} // '') eq 'session_expired'
                && $r->{json}{request_id},
            $show->($r));

    $r = $t->request(POST => '/logout', cookie => $doctor, headers => $html);
    $step->('the doctor logs out: 302 /login, cookie cleared (Max-Age=0)',
            $r->{status} == 302 && local_path($r) eq '/login'
                && set_cookie($r) =~ /\Asession=;.*Max-Age=0/,
            $show->($r) . ', set-cookie ' . set_cookie($r));
    $r = $t->request(GET => '/patients/42', cookie => $doctor, headers => $api);
    $step->('a copy of the logged-out cookie is refused: 401 session_revoked',
            $r->{status} == 401 && ($r->{json}{error} // '') eq 'session_revoked',
            $show->($r));

    my $admin = $self->_login($USER{admin}{email}, $PASSWORD, \$r);
    $r = $t->request(GET => '/_audit/status', cookie => $admin, headers => $api);
    $step->('the admin reads /_audit/status (200 JSON)',
            $admin && $r->{status} == 200 && ref $r->{json} eq 'HASH'
                && exists $r->{json}{events},
            $show->($r));
    $r = $t->request(GET => '/_audit/console/api/events?action=record_access&record_type=patient&record_id=42',
                     cookie => $admin, headers => $api);
    $step->('the admin\'s console lists who viewed patient 42 (200 JSON)',
            $admin && $r->{status} == 200 && ref $r->{json} eq 'HASH'
                && @{ $r->{json}{events} || [] },
            $show->($r));

    $self->{walked} = 1;
    return @steps;
}

# POSTs the login form; returns "session=TOKEN" or undef; $$res gets the response.
sub _login {
    my ($self, $email, $password, $res) = @_;
    my $r = $self->{t}->request(POST => '/login',
        form => {email => $email, password => $password, next => '/'},
        headers => {Accept => 'text/html'});
    $$res = $r if $res;
    return undef unless $r->{status} == 302;
    my ($cookie) = set_cookie($r) =~ /\A(session=[^;]+)/;
    return $cookie;
}

# The Location's path and query, without nginx's "http://host:port" (nginx
# makes a relative Location absolute).
sub local_path {
    my ($r) = @_;
    (my $loc = $r->{headers}{location} // '') =~ s{\Ahttps?://[^/]+}{};
    return $loc;
}

# The next= of a redirect to /login, decoded; '' when it is not one.
sub login_next {
    my ($r) = @_;
    my ($next) = local_path($r) =~ m{\A/login\?next=([^&]*)\z} or return '';
    $next =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
    return $next;
}

sub set_cookie {
    my ($r) = @_;
    my $c = $r->{headers}{'set-cookie'} // '';
    return ref $c ? join("\n", @$c) : $c;
}

# --- the checks ---------------------------------------------------------------------

=head2 check

After C<walk>: what the JSON log, PostgreSQL and (when nginx sends to it)
the Sentry receiver recorded. Returns C<{name, ok, diag}> per check, or
C<{name, skip => why}> for a part that is not there.

=cut

sub check {
    my ($self) = @_;
    croak 'check: walk first' unless $self->{walked};
    my $t = $self->{t};
    my @checks;
    my $check = sub {
        my ($name, $ok, $diag) = @_;
        push @checks, {name => $name, ok => $ok ? 1 : 0, diag => $ok ? undef : $diag};
        $self->say(($ok ? 'ok      ' : 'NOT OK  ') . $name);
        return $ok;
    };
    my $skip = sub {
        my ($name, $why) = @_;
        push @checks, {name => $name, skip => $why};
        $self->say("skipped $name: $why");
    };
    my ($D, $N, $R) = map { $USER{$_} } qw(doctor nurse receptionist);

    # --- the JSON log
    my $log = $self->log_path;
    my @ev;
    my $find = sub { my ($code) = @_; grep { $code->($_) } @ev };
    my $has = sub { my ($action, %f) = @_; $find->(sub {
        my $e = shift;
        # compare copies: stringifying the event's own numbers would turn
        # them into strings in the diagnostics' JSON
        $e->{action} eq $action && !grep { my $v = $e->{$_}; ($v // '') ne $f{$_} } keys %f }) };
    $t->wait_until(sub {
        @ev = $t->log_events($log);
        # every event the walk makes: the workers write theirs independently
        return $has->('login_success', user_id => $D->{id})
            && $has->('record_access', user_id => $D->{id})
            && $has->('authz_check', decision => 'denied', user_id => $N->{id})
            && $has->('login_failure', attempted_user => $R->{email})
            && $has->('session_invalid', reason => 'expired') == 2
            && $has->('session_destroy', user_id => $D->{id})
            && $has->('session_invalid', reason => 'revoked')
            && $has->('authz_check', user_id => 'admin');
    }, timeout => 10);
    my $dump = sub { join "\n", map { $JSON->encode($_) } @_ ? @_ : @ev };

    my ($success) = $has->('login_success', user_id => $D->{id});
    $check->("JSON log: login_success for $D->{id} (role doctor)",
             $success && $success->{role} eq 'doctor', $dump->());
    my $sid = $success ? $success->{session_id} : '?';
    $check->("JSON log: session_create for $D->{id}, same session id",
             scalar $has->('session_create', user_id => $D->{id}, session_id => $sid), $dump->());
    $check->("JSON log: record_access, patient 42 viewed by $D->{id}",
             scalar $has->('record_access', resource_type => 'patient', resource_id => '42',
                           user_id => $D->{id}, access => 'viewed', session_id => $sid),
             $dump->());
    $check->("JSON log: authz_check denied for $N->{id} on /admin (403)",
             scalar $has->('authz_check', decision => 'denied', user_id => $N->{id},
                           route => '/admin', status => 403), $dump->());
    my ($failure) = $has->('login_failure', attempted_user => $R->{email});
    $check->("JSON log: login_failure, attempted_user $R->{email}, invalid_credentials",
             $failure && $failure->{reason} eq 'invalid_credentials' && !exists $failure->{user_id},
             $dump->());
    my @expired = $has->('session_invalid', reason => 'expired', user_id => $D->{id});
    $check->('JSON log: session_invalid, reason expired (browser 302 and API 401)',
             @expired == 2 && join(',', sort map { $_->{status} } @expired) eq '302,401',
             $dump->());
    $check->("JSON log: session_destroy for $D->{id}, the session of the login",
             scalar $has->('session_destroy', user_id => $D->{id}, session_id => $sid), $dump->());
    $check->('JSON log: the logged-out cookie replayed is session_invalid, revoked',
             scalar $has->('session_invalid', reason => 'revoked', user_id => $D->{id}), $dump->());
    my $raw = join "\n", $t->log_lines($log);
    $check->('JSON log: no password, no token', $raw !~ /\Q$WRONG_PASSWORD\E|"demo"|eyJ/,
             'found a password or a token');
    my $chain = chain_problems($t->log_lines($log));
    $check->('JSON log: each worker\'s hash chain (seq, prev) is intact', !$chain, $chain);

    # --- PostgreSQL
    if (!$self->{pg}) {
        $skip->('PostgreSQL', 'sql/migrate does not exist yet');
    } else {
        my (%log_ids, %db_ids);
        $t->wait_until(sub {    # both are written asynchronously, by each worker
            %log_ids = map { $_->{id} => 1 } $t->log_events($log);
            %db_ids = map { $_ => 1 } split /\n/, $t->psql('SELECT id FROM audit.events', db => 'audit');
            return join(',', sort keys %log_ids) eq join(',', sort keys %db_ids);
        }, timeout => 20, interval => 0.25);
        my @missing = grep { !$db_ids{$_} } sort keys %log_ids;
        my @extra = grep { !$log_ids{$_} } sort keys %db_ids;
        $check->('PostgreSQL: audit.events holds exactly the JSON log\'s events ('
                 . scalar(keys %log_ids) . ')', !@missing && !@extra,
                 "missing: @missing; not in the log: @extra");
        my $reader = sub { $t->psql($_[0], db => 'audit', user => 'audit_reader') };
        my $hist = eval { $reader->("SELECT user_id || ' ' || role || ' ' || access FROM "
            . "audit.record_history('patient', '42', now() - interval '1 day')") } // "error: $@";
        $check->("PostgreSQL: audit.record_history('patient','42',...) names $D->{id}",
                 $hist eq "$D->{id} doctor viewed", "got: $hist");
        my $failed = eval { $reader->("SELECT kind || ' ' || key || ' ' || count FROM "
            . "audit.failed_logins(now() - interval '1 day', 1) WHERE kind = 'attempted_user'") }
            // "error: $@";
        $check->("PostgreSQL: audit.failed_logins(...) names $R->{email}",
                 $failed eq "attempted_user $R->{email} 1", "got: $failed");
        my $denied = eval { $reader->("SELECT count(*) FROM audit.user_activity('$N->{id}', "
            . "now() - interval '1 day') WHERE action = 'authz_check' AND decision = 'denied'") }
            // "error: $@";
        $check->("PostgreSQL: audit.user_activity('$N->{id}', ...) shows the denial",
                 $denied eq '1', "got: $denied");
        my $verify = eval { $reader->("SELECT bool_and(ok) FROM "
            . "audit.verify_chain(now() - interval '1 day')") } // "error: $@";
        $check->('PostgreSQL: audit.verify_chain(...) finds every chain intact',
                 $verify eq 't', "got: $verify");
    }

    # --- Sentry
    {
        my $rx = $self->{sentry};
        my %fp;
        my $want = sub {
            return $fp{login_failure} && grep({ /\Asession_invalid:expired/ } keys %fp)
                && grep({ /\Aauthz_denied/ } keys %fp);
        };
        $t->wait_until(sub {
            %fp = ();
            for my $event ($rx->events) {
                my $f = $event->{fingerprint};
                $fp{ join '|', ref $f eq 'ARRAY' ? @$f : ('(none)') }++;
            }
            return $want->();
        }, timeout => 15, interval => 0.25);
        my $got = join(', ', map { "$_ x$fp{$_}" } sort keys %fp) || 'no event';
        $check->('Sentry: events arrived, one fingerprint per kind of failure '
                 . '(login_failure, session_invalid:expired, authz_denied:...)',
                 $want->(), "fingerprints: $got");
        my @bad = grep { $_->{status} != 200 } $rx->requests;
        $check->('Sentry: the receiver refused no envelope', !@bad, $dump->(@bad));
        my $issues = $rx->issues;
        $check->('Sentry: the receiver groups them into distinct issues',
                 keys %$issues >= 3, 'issues: ' . join ', ', sort keys %$issues);
    }
    return @checks;
}

# Per producer: seq 0,1,2... without gap, prev = SHA-256 of the previous
# line. Returns a description of the first problem, or '' when intact.
sub chain_problems {
    my (@lines) = @_;
    my %last;    # producer => [seq, line]
    for my $line (@lines) {
        my $e = eval { $JSON->decode($line) } or return "not JSON: $line";
        my $p = $e->{producer} // return "no producer: $line";
        if (my $prev = $last{$p}) {
            return "producer $p: seq $e->{seq} after $prev->[0]" if $e->{seq} != $prev->[0] + 1;
            return "producer $p: seq $e->{seq}: prev does not match the previous line"
                if ($e->{prev} // '') ne sha256_hex($prev->[1]);
        } elsif ($e->{seq} != 0 || defined $e->{prev}) {
            return "producer $p starts at seq $e->{seq}";
        }
        $last{$p} = [$e->{seq}, $line];
    }
    return '';
}

# --- helpers ------------------------------------------------------------------------

sub random_hex {
    my ($n) = @_;
    open my $fh, '<:raw', '/dev/urandom' or croak "/dev/urandom: $!";
    read($fh, my $bytes, $n) == $n or croak '/dev/urandom: short read';
    return unpack 'H*', $bytes;
}

# (exit status, stdout+stderr) of a command, without a shell.
sub run_cmd {
    my (@cmd) = @_;
    my $pid = open(my $fh, '-|') // croak "fork: $!";
    if (!$pid) {
        open STDERR, '>&', \*STDOUT;
        open STDIN, '<', '/dev/null';
        { no warnings 'exec'; exec { $cmd[0] } @cmd }
        print "exec $cmd[0]: $!\n";
        POSIX::_exit(127);
    }
    my $out = do { local $/; <$fh> } // '';
    close $fh;
    return ($?, $out);
}

1;
