#!/usr/bin/env perl
# demo-portal.pl: a small clinic portal for the ngx_http_audit_module demo.
#
#   perl examples/demo-portal.pl --secret FILE [--kid KID] [--port 8081]
#        [--host 127.0.0.1] [--ttl 1800] [--short-ttl 20] [--workers 4]
#        [--parent PID]
#
# It knows nothing about auditing: it checks passwords, sets a session
# cookie (an HS256 JWT signed with the secret in FILE, the same key nginx
# verifies with) and renders pages. nginx, in front of it, verifies the
# cookie on every request, enforces the roles, writes the audit trail and
# tells the portal who is calling in request headers it removes from the
# client's request first:
#
#   X-Audit-User-Id  X-Audit-Role  X-Audit-Session-Id  X-Request-Id
#
# So the portal must only be reachable through nginx (it listens on
# 127.0.0.1 by default).
#
# Routes:
#   GET  /login            the login form (email + password, optional ?next=)
#   POST /login            302 to next (or /) with Set-Cookie: session=JWT,
#                          or the form again with 401
#   POST /logout           302 to /login, the cookie cleared
#   GET  /                 home: who you are (from nginx's headers)
#   GET  /patients/ID      a (fake) patient record
#   GET  /admin            the admin page
#
# THIS IS A DEMO: every demo user's password is "demo", and the login form
# offers a short session (--short-ttl seconds) to show what expiry looks like.
#
# A pre-forking server: the master listens and keeps --workers processes,
# each serving one connection at a time (HTTP/1.0 and 1.1, one request per
# connection, as nginx's proxy_pass sends by default). SIGTERM or SIGINT
# stops it; with --parent it also stops when that process goes away.

use strict;
use warnings;
use Digest::SHA qw(hmac_sha256);
use IO::Select;
use IO::Socket::IP;
use JSON::PP ();
use MIME::Base64 qw(encode_base64);
use POSIX qw(WNOHANG strftime);
use Time::HiRes qw(sleep);

my $JSON = JSON::PP->new->utf8->canonical;

# --- the clinic -----------------------------------------------------------------

# email => user. The user id (the token's "sub") is what the audit trail
# names; the role is what nginx's audit_require_role checks.
my %USERS = (
    'dr.house@clinic.example'   => {sub => 'dr.house',   role => 'doctor',
                                    name => 'Dr. Gregory House'},
    'nurse.joy@clinic.example'  => {sub => 'nurse.joy',  role => 'nurse',
                                    name => 'Nurse Joy'},
    'front.desk@clinic.example' => {sub => 'front.desk', role => 'receptionist',
                                    name => 'Front Desk'},
    'admin@clinic.example'      => {sub => 'admin',      role => 'admin',
                                    name => 'Clinic Admin'},
);
my $PASSWORD = 'demo';    # every demo user's: a demo, not a way to store passwords
my %BY_SUB = map { $USERS{$_}{sub} => {%{ $USERS{$_} }, email => $_} } keys %USERS;

my @FIRST = qw(Arthur Ford Trillian Zaphod Marvin Fenchurch Random Tricia);
my @LAST  = qw(Dent Prefect McMillan Beeblebrox Android Slartibartfast Jeltz);
my @NOTES = ('Follow-up in two weeks.', 'Allergic to penicillin.',
             'Blood pressure slightly elevated.', 'Annual check-up, all fine.',
             'Prescribed physiotherapy, 6 sessions.');

# --- options --------------------------------------------------------------------

my %o = (host => '127.0.0.1', port => 8081, ttl => 1800, 'short-ttl' => 20,
         workers => 4);
while (defined(my $arg = shift @ARGV)) {
    if ($arg =~ /\A--(secret|kid|host|port|ttl|short-ttl|workers|parent)\z/ && @ARGV) {
        $o{$1} = shift @ARGV;
    } else {
        die "usage: $0 --secret FILE [--kid KID] [--host H] [--port N] [--ttl S]"
          . " [--short-ttl S] [--workers N] [--parent PID]\n";
    }
}
die "$0: --secret FILE is required (the HMAC secret nginx verifies with)\n"
    unless defined $o{secret};
my $SECRET = read_file($o{secret});
$SECRET =~ s/\n\z//;    # as nginx's audit_session_keys reads a secret file
die "$0: the secret in $o{secret} is shorter than 32 bytes\n" if length $SECRET < 32;

my $listen = IO::Socket::IP->new(LocalHost => $o{host}, LocalPort => $o{port},
                                 Listen => 128, ReuseAddr => 1)
    or die "$0: cannot listen on $o{host}:$o{port}: $@\n";
$listen->blocking(0);
$| = 1;
print "demo portal on http://$o{host}:$o{port}/ (demo users' password: \"$PASSWORD\")\n";

# --- master ---------------------------------------------------------------------

my $stop = 0;
$SIG{TERM} = $SIG{INT} = sub { $stop = 1 };
$SIG{PIPE} = 'IGNORE';
my $master = $$;
my %kids;
while (!$stop) {
    $kids{ spawn() } = 1 while keys %kids < $o{workers};
    while ((my $pid = waitpid(-1, WNOHANG)) > 0) { delete $kids{$pid} }
    last if $o{parent} && getppid() != $o{parent};
    sleep 0.2;
}
kill TERM => keys %kids;
for (1 .. 100) {
    while ((my $pid = waitpid(-1, WNOHANG)) > 0) { delete $kids{$pid} }
    last unless %kids;
    sleep 0.03;
}
kill KILL => keys %kids;
waitpid($_, 0) for keys %kids;
exit 0;

sub spawn {
    my $pid = fork;
    die "$0: fork: $!\n" unless defined $pid;
    return $pid if $pid;
    $SIG{TERM} = $SIG{INT} = 'DEFAULT';
    my $sel = IO::Select->new($listen);
    while (getppid() == $master) {
        next unless $sel->can_read(1);
        my $conn = $listen->accept or next;    # another worker was faster
        eval { serve($conn); 1 } or warn "portal: $@";
        close $conn;
    }
    POSIX::_exit(0);
}

# --- HTTP -------------------------------------------------------------------------

sub serve {
    my ($conn) = @_;
    $conn->blocking(1);
    binmode $conn;
    local $SIG{ALRM} = sub { die "client too slow\n" };
    alarm 10;
    my $buf = '';
    while (index($buf, "\r\n\r\n") < 0) {
        die "header too large\n" if length $buf > 64 * 1024;
        sysread($conn, $buf, 8192, length $buf) or return;
    }
    my ($head, $body) = split /\r\n\r\n/, $buf, 2;
    my ($line, @lines) = split /\r\n/, $head;
    my ($method, $target) = $line =~ m{\A([A-Z]+) (\S+) HTTP/1\.[01]\z}
        or return respond($conn, 400, [], text_page('Bad request'));
    my %h;
    for (@lines) {
        my ($k, $v) = /\A([^:\s]+):[ \t]*(.*?)[ \t]*\z/ or next;
        $h{lc $k} = exists $h{lc $k} ? "$h{lc $k}, $v" : $v;
    }
    my $len = $h{'content-length'} // 0;
    return respond($conn, 411, [], text_page('Length required'))
        if exists $h{'transfer-encoding'};
    return respond($conn, 413, [], text_page('Too large'))
        if $len !~ /\A\d{1,7}\z/ || $len > 1024 * 1024;
    while (length $body < $len) {
        sysread($conn, $body, $len - length $body, length $body) or return;
    }
    alarm 0;
    my ($path, $query) = $target =~ m{\A([^?#]*)(?:\?([^#]*))?};
    my $req = {method => $method, path => $path, query => parse_form($query // ''),
               headers => \%h, body => substr($body, 0, $len)};
    respond($conn, route($req), $method eq 'HEAD');
}

# (status, [name => value, ...], html)
sub respond {
    my ($conn, $status, $headers, $html, $head_only) = @_;
    my %reason = (200 => 'OK', 302 => 'Found', 400 => 'Bad Request',
                  401 => 'Unauthorized', 403 => 'Forbidden', 404 => 'Not Found',
                  405 => 'Method Not Allowed', 411 => 'Length Required',
                  413 => 'Payload Too Large');
    utf8::encode($html);
    my $out = "HTTP/1.1 $status " . ($reason{$status} || 'Status') . "\r\n"
        . "Content-Type: text/html; charset=utf-8\r\n"
        . 'Content-Length: ' . length($html) . "\r\n"
        . "Cache-Control: no-store\r\nConnection: close\r\n";
    for (my $i = 0; $i < @$headers; $i += 2) {
        $out .= "$headers->[$i]: $headers->[$i + 1]\r\n";
    }
    $out .= "\r\n" . ($head_only ? '' : $html);
    local $SIG{ALRM} = sub { die "client too slow\n" };
    alarm 10;
    for (my $off = 0; $off < length $out;) {
        my $n = syswrite($conn, $out, length($out) - $off, $off) or last;
        $off += $n;
    }
    alarm 0;
    return;
}

# --- routes -----------------------------------------------------------------------

sub route {
    my ($req) = @_;
    my ($m, $p) = @$req{qw(method path)};
    return login_form($req, 200)        if $p eq '/login' && ($m eq 'GET' || $m eq 'HEAD');
    return login($req)                  if $p eq '/login' && $m eq 'POST';
    return logout($req)                 if $p eq '/logout' && $m eq 'POST';
    return home($req)                   if $p eq '/' && ($m eq 'GET' || $m eq 'HEAD');
    return patient($req, $1)            if $p =~ m{\A/patients/(\d{1,9})\z} && $m eq 'GET';
    return admin($req)                  if $p eq '/admin' && $m eq 'GET';
    return (405, [Allow => 'GET, POST'], text_page('Method not allowed'))
        if $p =~ m{\A/(?:login|logout|admin|patients/\d+)?\z};
    return (404, [], text_page('Not found'));
}

sub login_form {
    my ($req, $status, $error, $email) = @_;
    my $next = safe_next($req->{query}{next} // parse_form($req->{body})->{next});
    my $who = me($req);
    my $users = join '', map {
        "<tr><td><code>$_</code></td><td>" . esc($USERS{$_}{role}) . '</td></tr>'
    } sort { $USERS{$a}{role} cmp $USERS{$b}{role} } keys %USERS;
    my $body = ($who ? '<p class="note">You are signed in as ' . esc($who->{name})
                       . '. <a href="/">Home</a></p>' : '')
        . ($error ? '<p class="error">' . esc($error) . '</p>' : '')
        . '<form method="post" action="/login">'
        . '<input type="hidden" name="next" value="' . esc($next) . '">'
        . '<label>E-mail <input name="email" type="email" autocomplete="username" value="'
        . esc($email // '') . '" required></label>'
        . '<label>Password <input name="password" type="password" '
        . 'autocomplete="current-password" required></label>'
        . '<label class="check"><input type="checkbox" name="short" value="1"> short session ('
        . esc($o{'short-ttl'}) . ' s, to see what expiry looks like)</label>'
        . '<button type="submit">Sign in</button></form>'
        . '<h2>Demo users</h2><p class="note">This is a demo: every password is '
        . "<code>$PASSWORD</code>.</p><table>$users</table>";
    return ($status, [], page('Sign in', $body));
}

sub login {
    my ($req) = @_;
    my $form = parse_form($req->{body});
    my $email = lc($form->{email} // '');
    my $user = $USERS{$email};
    if (!$user || ($form->{password} // '') ne $PASSWORD) {
        return login_form($req, 401, 'Wrong e-mail or password.', $form->{email});
    }
    my $now = time;
    my $ttl = $form->{short} ? $o{'short-ttl'} : $o{ttl};
    my $token = jwt({sub => $user->{sub}, role => $user->{role}, name => $user->{name},
                     sid => random_hex(16), iat => $now, exp => $now + $ttl});
    return (302, [Location => safe_next($form->{next}),
                  'Set-Cookie' => "session=$token; Path=/; HttpOnly; SameSite=Lax"],
            page('Signed in', '<p><a href="/">Continue</a></p>'));
}

sub logout {
    return (302, [Location => '/login',
                  'Set-Cookie' => 'session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax'],
            page('Signed out', '<p><a href="/login">Sign in again</a></p>'));
}

sub home {
    my ($req) = @_;
    my $who = me($req) or return not_signed_in();
    my $h = $req->{headers};
    my $patients = join '', map {
        my $p = fake_patient($_);
        "<li><a href=\"/patients/$_\">Patient $_</a>: " . esc($p->{name}) . '</li>'
    } 42, 7, 1001;
    my $body = '<p>Signed in as <b>' . esc($who->{name}) . '</b> ('
        . esc($h->{'x-audit-role'} // '') . ').</p>'
        . '<h2>What nginx told the portal</h2><table>'
        . join('', map { '<tr><td><code>' . esc($_) . '</code></td><td><code>'
                         . esc($h->{lc $_} // '') . '</code></td></tr>' }
               qw(X-Audit-User-Id X-Audit-Role X-Audit-Session-Id X-Request-Id))
        . '</table><p class="note">The portal trusts these because nginx verified the '
        . 'session cookie and removed any copy the browser sent.</p>'
        . "<h2>Patients</h2><ul>$patients</ul>"
        . '<p class="note">Doctors, nurses and admins may open a record (each view is a '
        . '<code>record_access</code> event); the front desk may not.</p>'
        . '<h2>Administration</h2><ul><li><a href="/admin">Admin page</a> (admins only)</li>'
        . '<li><a href="/_audit/status">/_audit/status</a> (the module\'s counters, admins only)</li></ul>';
    return (200, [], page('Home', $body, $who));
}

sub patient {
    my ($req, $id) = @_;
    my $who = me($req) or return not_signed_in();
    my $p = fake_patient($id);
    my $body = '<table>'
        . join('', map { '<tr><th>' . esc($_->[0]) . '</th><td>' . esc($_->[1]) . '</td></tr>' }
               ['Record', $id], ['Name', $p->{name}], ['Born', $p->{born}],
               ['Last visit', $p->{visit}], ['Notes', $p->{note}])
        . '</table><p class="note">This view was recorded: <code>record_access</code> '
        . 'patient ' . esc($id) . ' by <code>' . esc($who->{sub}) . '</code>, request '
        . '<code>' . esc($req->{headers}{'x-request-id'} // '') . '</code>.</p>'
        . '<p><a href="/">Home</a></p>';
    return (200, [], page("Patient $id", $body, $who));
}

sub admin {
    my ($req) = @_;
    my $who = me($req) or return not_signed_in();
    my $rows = join '', map {
        '<tr><td>' . esc($_->{name}) . '</td><td><code>' . esc($_->{sub}) . '</code></td><td>'
        . esc($_->{role}) . '</td></tr>'
    } sort { $a->{sub} cmp $b->{sub} } values %BY_SUB;
    my $body = '<p>Only admins get here: nginx refused everyone else with 403 '
        . '(an <code>authz_check</code> event, decision <code>denied</code>).</p>'
        . "<h2>Staff</h2><table>$rows</table>"
        . '<p><a href="/_audit/status">Audit module status</a> &middot; <a href="/">Home</a></p>';
    return (200, [], page('Admin', $body, $who));
}

# Reached only if nginx let a request through without an identity, i.e. the
# portal is not behind the audit module as it should be.
sub not_signed_in {
    return (401, [], page('Not signed in',
        '<p class="error">No identity from nginx: is the portal behind the audit module?</p>'
        . '<p><a href="/login">Sign in</a></p>'));
}

# --- helpers --------------------------------------------------------------------------

# The caller, from the identity nginx verified (never from the cookie itself).
sub me {
    my ($req) = @_;
    my $id = $req->{headers}{'x-audit-user-id'};
    return undef unless defined $id && length $id;
    return $BY_SUB{$id} || {sub => $id, name => $id};
}

sub fake_patient {
    my ($id) = @_;
    return {name => $FIRST[$id % @FIRST] . ' ' . $LAST[($id * 7 + 3) % @LAST],
            born => sprintf('%04d-%02d-%02d', 1940 + $id % 60, 1 + $id % 12, 1 + $id % 28),
            visit => strftime('%Y-%m-%d', gmtime(time - 86400 * (1 + $id % 90))),
            note => $NOTES[$id % @NOTES]};
}

# Only a local path: never "//host" or "http://...", so the login form is no
# open redirect.
sub safe_next {
    my ($next) = @_;
    return '/' unless defined $next && $next =~ m{\A/(?![/\\])[^\x00-\x20\x7f]*\z};
    return $next;
}

sub jwt {
    my ($claims) = @_;
    my %header = (alg => 'HS256', typ => 'JWT', (defined $o{kid} ? (kid => $o{kid}) : ()));
    my $input = b64url($JSON->encode(\%header)) . '.' . b64url($JSON->encode($claims));
    return $input . '.' . b64url(hmac_sha256($input, $SECRET));
}

sub b64url {
    my $s = encode_base64($_[0], '');
    $s =~ tr{+/}{-_};
    $s =~ s/=+\z//;
    return $s;
}

sub random_hex {
    my ($n) = @_;
    open my $fh, '<:raw', '/dev/urandom' or die "/dev/urandom: $!";
    read($fh, my $bytes, $n) == $n or die "/dev/urandom: short read";
    return unpack 'H*', $bytes;
}

sub parse_form {
    my ($s) = @_;
    my %f;
    for my $pair (split /[&;]/, $s // '') {
        my ($k, $v) = map { my $x = $_ // ''; $x =~ tr/+/ /;
                            $x =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge; utf8::decode($x); $x }
                      split /=/, $pair, 2;
        $f{$k} = $v unless exists $f{$k};
    }
    return \%f;
}

sub esc {
    my ($s) = @_;
    $s = '' unless defined $s;
    $s =~ s/&/&amp;/g;
    $s =~ s/</&lt;/g;
    $s =~ s/>/&gt;/g;
    $s =~ s/"/&quot;/g;
    $s =~ s/'/&#39;/g;
    return $s;
}

sub text_page { return page($_[0], '<p>' . esc($_[0]) . '</p>') }

sub page {
    my ($title, $body, $who) = @_;
    my $bar = $who
        ? '<form method="post" action="/logout" class="bar">' . esc($who->{name})
          . ' &middot; <button type="submit">Sign out</button></form>'
        : '';
    return <<"HTML";
<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>@{[esc($title)]} - Demo Clinic</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:46em;margin:2em auto;padding:0 1em;color:#222}
header{display:flex;justify-content:space-between;align-items:center;border-bottom:2px solid #2a7;margin-bottom:1em}
header b{color:#2a7}.bar{margin:0}label{display:block;margin:.5em 0}input[name]{display:block;width:20em}
.check input{display:inline;width:auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}
.error{color:#b00}.note{color:#666;font-size:90%}code{font-size:90%}
</style></head><body>
<header><p><b>Demo Clinic</b> portal (a demo: not real patients)</p>$bar</header>
<h1>@{[esc($title)]}</h1>
$body
</body></html>
HTML
}

sub read_file {
    my ($path) = @_;
    open my $fh, '<:raw', $path or die "$0: $path: $!\n";
    local $/;
    return scalar(<$fh>) // '';
}
