package Audit::Console;

=head1 NAME

Audit::Console - the clinic the console tests (t/74-console*.t) look at

=head1 SYNOPSIS

    my $c = Audit::Console->setup(pg => 1);     # nginx, the portal, PostgreSQL
    my $cookie = $c->login('admin@clinic.example');
    $c->traffic;                                 # failed logins, a refusal, patient 42
    my $r = $c->t->request(GET => $c->url('api/events'), cookie => $cookie);

nginx runs the module with the JSON log, PostgreSQL (when asked for), the
console's zone and the console at C</_audit/console/> behind
C<audit_require_role admin>, in front of the demo-like portal
(Audit::Portal): C<POST /login> sets the session cookie, C</patients/N> is
an C<audit_record patient $1> location. The history reads PostgreSQL as
C<console_reader>, a login role in C<audit_reader> only, as
docs/console.md says to make it.

=cut

use strict;
use warnings;
use Carp qw(croak);
use Audit::Test;
use Audit::Token;

our $PATH = '/_audit/console/';

my %USERS = (
    'admin@clinic.example' => { password => 'admin-pass-1', user_id => 'u-admin', role => 'admin' },
    'ann@clinic.example'   => { password => 'ann-pass-22', user_id => 'u-ann', role => 'doctor' },
    'bob@clinic.example'   => { password => 'bob-pass-333', user_id => 'u-bob', role => 'nurse' },
);

sub setup {
    my ($class, %o) = @_;
    my $t = Audit::Test->new;
    my $self = bless { t => $t, pg => $o{pg} }, $class;
    my $secret = 'console test secret that is long enough';
    $t->file('hmac.key', $secret);
    my $n = 0;
    my $mint = sub {
        my ($u) = @_;
        return Audit::Token::hs256($secret, { sub => $u->{user_id}, role => $u->{role},
            sid => "s-$u->{user_id}-" . ++$n, exp => time + 3600 });
    };
    my %vars = (HISTORY => '');
    if ($o{pg}) {
        $t->audit_db;
        $t->psql("CREATE ROLE console_reader LOGIN IN ROLE audit_reader", db => 'audit');
        $vars{HISTORY} = 'audit_console_pg "' . $t->pg_conninfo('audit', 'console_reader')
            . '"; audit_console_pg_timeout 3s;';
        $vars{PG} = 'audit_pg "' . $t->pg_conninfo('audit', 'audit_writer')
            . '" batch=50 flush=100ms; audit_spool %%DIR%%/spool;';
        mkdir $t->dir . '/spool';
    }
    $vars{PG} //= '';
    $vars{PG} =~ s/%%DIR%%/$t->dir/e;
    $t->write_nginx_conf(<<'CONF', workers => $o{workers} || 2, vars => \%vars);
    audit_zone audit:1m;
    audit_session_keys %%DIR%%/hmac.key;
    audit_login_url /login;
    audit_log %%DIR%%/audit.jsonl flush=100ms;
    %%PG%%
    audit_console_zone console:2m;
    %%HISTORY%%

    server {
        listen 127.0.0.1:%%PORT%%;
        large_client_header_buffers 4 32k;

        location = /login {
            audit_public on;
            audit_login username_field=email;
            audit_bruteforce 5/5m;
            proxy_pass http://%%PORTAL%%;
        }
        location ~ ^/patients/(\d+)$ {
            audit_record patient $1;
            proxy_pass http://%%PORTAL%%;
        }
        location /admin/ { audit_require_role admin; proxy_pass http://%%PORTAL%%; }
        location /_audit/console/ {
            audit_require_role admin;
            audit_authz_log denied;
            audit_console;
        }
        location / { proxy_pass http://%%PORTAL%%; }
    }
CONF
    $t->start_portal(users => \%USERS, token_cb => $mint);
    $t->start_nginx;
    return $self;
}

sub t { $_[0]{t} }
sub url { $PATH . ($_[1] // '') }
sub base_url { 'http://127.0.0.1:' . $_[0]{t}->port }
sub password { $USERS{$_[1]}{password} }

# Logs in through the portal; returns the Cookie header value.
sub login {
    my ($self, $email) = @_;
    my $r = $self->{t}->request(POST => '/login',
        form => { email => $email, password => $USERS{$email}{password} });
    croak "login $email: $r->{status}" unless $r->{status} == 302;
    my ($cookie) = ($r->{headers}{'set-cookie'} // '') =~ /^(session=[^;]+)/
        or croak "login $email: no cookie";
    return $cookie;
}

# Four failed logins from 127.0.0.1 (three for ann's account), bob refused
# on /admin/, patient 42 viewed by ann and bob.
sub traffic {
    my ($self) = @_;
    my $t = $self->{t};
    for my $pw ('guess-1', 'guess-2', 'guess-3') {
        $t->request(POST => '/login', form => { email => 'ann@clinic.example', password => $pw });
    }
    # an account typed to pass for another one on the page: a right-to-left
    # override before it, a zero-width space after it
    $t->request(POST => '/login', form => { email => "\x{202E}nimda-u\x{200B}", password => 'guess-4' });
    my $ann = $self->login('ann@clinic.example');
    my $bob = $self->login('bob@clinic.example');
    $t->request(GET => '/admin/users', cookie => $bob, headers => { Accept => 'application/json' });
    $t->request(GET => '/patients/42', cookie => $ann);
    $t->request(GET => '/patients/42', cookie => $bob);
    return { ann => $ann, bob => $bob };
}

1;
