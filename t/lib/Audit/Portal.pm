package Audit::Portal;

=head1 NAME

Audit::Portal - the stub upstream ("the portal") the tests put behind nginx

=head1 SYNOPSIS

    my $portal = Audit::Portal->new(
        socket   => $listening_socket,        # or port => 8081
        users    => {'ann@clinic.example' =>
                     {password => 'pw', user_id => 'u1', role => 'doctor'}},
        token_cb => sub { my ($user) = @_; ... return $token },
        workers  => 4,
    );
    $portal->run;    # blocks until SIGTERM/SIGINT

    # standalone, e.g. for benchmarks:
    perl t/lib/Audit/Portal.pm --port 8081 [--workers 4]

A small HTTP/1.1 server: a master forks C<workers> processes that share the
listening socket, and each multiplexes its connections with IO::Select
(keep-alive, pipelining, Content-Length and chunked request bodies,
C<Expect: 100-continue>). Routes:

=over

=item any request: 200 C<application/json> echoing
C<{"method","uri","headers":{lower-case name: value, repeats joined by ", "},"body"}>

=item C</status/NNN>: the same echo with status NNN (200-599)

=item with C<< record => FILE >>: every request received is also appended to
FILE as one line of that echo

=item C<POST /login>: form or JSON body; if C<email> (or C<username>) and
C<password> match C<users>, 302 to C</> with
C<Set-Cookie: session=TOKEN; Path=/; HttpOnly>, TOKEN from C<token_cb> (given
the user's record plus C<login>); otherwise 401 with a JSON error

=item C<POST /logout>: 302 to C</login> with an expiring C<session> cookie

=back

Workers exit when the master goes away; the master exits when the process
that started it (C<parent> option) goes away, so nothing outlives a test.

=cut

use strict;
use warnings;
use Carp qw(croak);
use IO::Select;
use IO::Socket::IP;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);
use Audit::HTTP qw(take_request keep_alive);

my $JSON = eval { require JSON::XS; JSON::XS->new->utf8->canonical }
    || do { require JSON::PP; JSON::PP->new->utf8->canonical };

use constant {
    MAX_BODY => 64 * 1024 * 1024,
    READ_SIZE => 64 * 1024,
};

my %REASON = (
    200 => 'OK', 201 => 'Created', 204 => 'No Content', 301 => 'Moved Permanently',
    302 => 'Found', 304 => 'Not Modified', 400 => 'Bad Request',
    401 => 'Unauthorized', 403 => 'Forbidden', 404 => 'Not Found',
    405 => 'Method Not Allowed', 413 => 'Payload Too Large', 429 => 'Too Many Requests',
    500 => 'Internal Server Error', 502 => 'Bad Gateway',
    503 => 'Service Unavailable', 504 => 'Gateway Timeout',
);

sub new {
    my ($class, %o) = @_;
    my $self = bless {
        users    => $o{users} || {},
        token_cb => $o{token_cb},
        cookie   => $o{cookie} || 'session',
        workers  => $o{workers} || 4,
        parent   => $o{parent},
        socket   => $o{socket},
        record   => $o{record},
    }, $class;
    $self->{socket} ||= IO::Socket::IP->new(
        LocalHost => '127.0.0.1', LocalPort => $o{port} || 0,
        Listen => 1024, ReuseAddr => 1,
    ) or croak "portal: cannot listen: $@";
    return $self;
}

sub port { $_[0]{socket}->sockport }

# --- master -------------------------------------------------------------------

sub run {
    my ($self) = @_;
    my $stop = 0;
    local $SIG{TERM} = sub { $stop = 1 };
    local $SIG{INT}  = sub { $stop = 1 };
    local $SIG{PIPE} = 'IGNORE';
    my $master = $$;
    my %kids;
    while (!$stop) {
        $kids{ $self->_spawn_worker($master) } = 1 while keys %kids < $self->{workers};
        while ((my $pid = waitpid(-1, WNOHANG)) > 0) { delete $kids{$pid} }
        last if $self->{parent} && getppid() != $self->{parent};
        sleep 0.2;
    }
    _stop_kids(\%kids);
    return;
}

sub _spawn_worker {
    my ($self, $master) = @_;
    my $pid = fork;
    croak "portal: fork: $!" unless defined $pid;
    return $pid if $pid;
    $SIG{TERM} = $SIG{INT} = 'DEFAULT';
    eval { $self->serve($master) };
    print STDERR "portal worker $$: $@" if $@;
    POSIX::_exit(0);    # never run the parent's END blocks or destructors
}

sub _stop_kids {
    my ($kids) = @_;
    kill TERM => keys %$kids;
    my $deadline = time + 3;
    while (%$kids && time < $deadline) {
        my $pid = waitpid(-1, WNOHANG);
        if ($pid > 0) { delete $kids->{$pid} } else { sleep 0.02 }
    }
    kill KILL => keys %$kids;
    waitpid($_, 0) for keys %$kids;
}

# --- worker: event loop ----------------------------------------------------------

sub serve {
    my ($self, $master) = @_;
    my $stop = 0;
    local $SIG{TERM} = sub { $stop = 1 };
    local $SIG{PIPE} = 'IGNORE';
    my $listen = $self->{socket};
    $listen->blocking(0);
    my $readers = IO::Select->new($listen);
    my $writers = IO::Select->new;
    my %conns;    # fileno => connection state
    while (!$stop) {
        last if $master && getppid() != $master;
        my ($r, $w) = IO::Select->select($readers, $writers, undef, 0.5);
        for my $fh (@{ $w || [] }) {
            my $c = $conns{ fileno $fh } or next;
            $self->_flush($c, $readers, $writers, \%conns);
        }
        for my $fh (@{ $r || [] }) {
            if ($fh == $listen) { $self->_accept($listen, $readers, \%conns); next }
            my $c = $conns{ fileno $fh } or next;
            $self->_read($c, $readers, $writers, \%conns);
        }
    }
    return;
}

sub _accept {
    my ($self, $listen, $readers, $conns) = @_;
    for (1 .. 64) {
        my $sock = $listen->accept or return;
        $sock->blocking(0);
        $conns->{ fileno $sock } = {sock => $sock, in => '', out => ''};
        $readers->add($sock);
    }
}

sub _read {
    my ($self, $c, $readers, $writers, $conns) = @_;
    my $n = sysread($c->{sock}, $c->{in}, READ_SIZE, length $c->{in});
    return if !defined $n && ($!{EAGAIN} || $!{EWOULDBLOCK} || $!{EINTR});
    return _close($c, $readers, $writers, $conns) unless $n;
    while (!$c->{closing}) {
        my $req = take_request($c, MAX_BODY) or last;
        my ($status, $headers, $body) = $req->{error}
            ? ($req->{error}, [], $JSON->encode({error => $req->{reason}}))
            : $self->handle($req);
        my $keep = !$req->{error} && keep_alive($req);
        $c->{out} .= _response($status, $headers, $body, $keep,
            ($req->{method} || '') eq 'HEAD');
        $c->{closing} = 1 unless $keep;
    }
    $self->_flush($c, $readers, $writers, $conns);
}

sub _flush {
    my ($self, $c, $readers, $writers, $conns) = @_;
    while (length $c->{out}) {
        my $n = syswrite($c->{sock}, $c->{out});
        if (!defined $n) {
            last if $!{EAGAIN} || $!{EWOULDBLOCK} || $!{EINTR};
            return _close($c, $readers, $writers, $conns);
        }
        substr($c->{out}, 0, $n, '');
    }
    if (length $c->{out}) {
        $writers->add($c->{sock}) unless $writers->exists($c->{sock});
        return;
    }
    $writers->remove($c->{sock});
    _close($c, $readers, $writers, $conns) if $c->{closing};
}

sub _close {
    my ($c, $readers, $writers, $conns) = @_;
    $readers->remove($c->{sock});
    $writers->remove($c->{sock});
    delete $conns->{ fileno $c->{sock} };
    close $c->{sock};
}

# --- HTTP parsing ------------------------------------------------------------------

# Takes one complete request off the connection's input buffer; undef when
# more bytes are needed, {error => status, reason => ...} on bad input.
sub _response {
    my ($status, $headers, $body, $keep, $head_only) = @_;
    my $no_body = $status == 204 || $status == 304;
    my $out = "HTTP/1.1 $status " . ($REASON{$status} || 'Status') . "\r\n"
        . "Server: audit-test-portal\r\n"
        . 'Connection: ' . ($keep ? 'keep-alive' : 'close') . "\r\n";
    $out .= "Content-Type: application/json\r\nContent-Length: " . length($body) . "\r\n"
        unless $no_body;
    for (my $i = 0; $i < @$headers; $i += 2) {
        $out .= "$headers->[$i]: $headers->[$i + 1]\r\n";
    }
    $out .= "\r\n";
    $out .= $body unless $no_body || $head_only;
    return $out;
}

# --- routes --------------------------------------------------------------------

# Returns (status, [header => value, ...], body bytes).
sub handle {
    my ($self, $req) = @_;
    $self->_record($req) if $self->{record};
    my ($path) = $req->{target} =~ m{\A([^?#]*)};
    if ($req->{method} eq 'POST' && $path eq '/login')  { return $self->_login($req) }
    if ($req->{method} eq 'POST' && $path eq '/logout') { return $self->_logout($req) }
    my $status = 200;
    if ($path =~ m{\A/status/(\d{3})\z} && $1 >= 200 && $1 <= 599) { $status = $1 }
    return ($status, [], _echo($req));
}

# record => FILE: every request received, one JSON line (the echo), appended
# with O_APPEND by whichever worker took it, so a test can tell what reached
# the portal and what never did
sub _record {
    my ($self, $req) = @_;
    open(my $fh, '>>', $self->{record}) or return;
    binmode $fh;
    syswrite($fh, _echo($req) . "\n");
    close $fh;
}

sub _echo {
    my ($req) = @_;
    return $JSON->encode({
        method  => $req->{method},
        uri     => _text($req->{target}),
        headers => {map { $_ => _text($req->{headers}{$_}) } keys %{ $req->{headers} }},
        body    => _text($req->{body}),
    });
}

sub _login {
    my ($self, $req) = @_;
    my $form = _form($req);
    my $login = defined $form->{email} ? $form->{email} : $form->{username};
    my $user = defined $login ? $self->{users}{$login} : undef;
    if (!$user || !defined $form->{password} || $form->{password} ne $user->{password}) {
        return (401, [], $JSON->encode({error => 'invalid credentials'}));
    }
    my %record = (%$user, login => $login);
    delete $record{password};
    my $token = $self->{token_cb}
        ? $self->{token_cb}->(\%record)
        : "opaque-$user->{user_id}";
    return (302, [Location => '/',
                  'Set-Cookie' => "$self->{cookie}=$token; Path=/; HttpOnly"],
            $JSON->encode({user_id => $user->{user_id}}));
}

sub _logout {
    my ($self) = @_;
    return (302, [Location => '/login',
                  'Set-Cookie' => "$self->{cookie}=; Path=/; Max-Age=0; HttpOnly"],
            $JSON->encode({logged_out => \1}));
}

# Fields of a JSON object, multipart/form-data or urlencoded form body
# (the first of a name; multipart parts with a filename are files).
sub _form {
    my ($req) = @_;
    my $type = $req->{headers}{'content-type'} || '';
    my %f;
    if ($type =~ m{\bjson\b}i) {
        my $data = eval { $JSON->decode($req->{body}) };
        return ref $data eq 'HASH' ? $data : {};
    }
    if ($type =~ m{^\s*multipart/form-data\s*;.*?\bboundary="?([^";\s]+)}i) {
        my $b = quotemeta $1;
        for my $part (split /\r?\n?--$b(?:--)?[ \t]*\r?\n?/, $req->{body}) {
            my ($head, $value) = split /\r?\n\r?\n/, $part, 2;
            next unless defined $value
                && $head =~ /^content-disposition:[^\n]*;\s*name=["']?([^"';\r\n]+)/mi;
            my $k = $1;
            next if $head =~ /filename=/i || exists $f{$k};
            utf8::decode($value);
            $f{$k} = $value;
        }
        return \%f;
    }
    for my $pair (split /[&;]/, $req->{body}) {
        my ($k, $v) = map { _unescape($_) } split /=/, $pair, 2;
        $f{$k} = defined $v ? $v : '' if defined $k && !exists $f{$k};
    }
    return \%f;
}

sub _unescape {
    my ($s) = @_;
    $s =~ tr/+/ /;
    $s =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
    utf8::decode($s);
    return $s;
}

# Bytes as text for JSON: UTF-8 where valid, else each byte as a code point.
sub _text {
    my ($bytes) = @_;
    my $s = $bytes;
    utf8::decode($s);
    return $s;
}

# --- standalone ------------------------------------------------------------------

sub main {
    my ($class, @args) = @_;
    my %o = (port => 8081, workers => 4);
    while (my $arg = shift @args) {
        if ($arg =~ /\A--(port|workers)\z/) { $o{$1} = shift @args }
        else { die "usage: $0 [--port N] [--workers N]\n" }
    }
    my $portal = $class->new(%o);
    print "portal listening on 127.0.0.1:", $portal->port, "\n";
    $portal->run;
}

__PACKAGE__->main(@ARGV) unless caller;

1;
