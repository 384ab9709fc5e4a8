# The policy judges exactly what the portal acts on.  Tried as an attacker
# would with the README's kind of configuration and a nurse's session:
# raw paths the portal could route differently, method overrides,
# path-override headers, identity headers in other spellings, ambiguous
# claims.  The portal records every request it receives: a refused one
# never reaches it, none reaches it without an event, no forged identity
# reaches it in any spelling, and record_access names what it will do.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP ();
use IO::Socket::IP;
use POSIX ();
use Time::HiRes qw(sleep time);
use Audit::Test;
use Audit::Token;

my $JSON = JSON::PP->new->utf8->canonical;

my $t = Audit::Test->new;
my $secret = 'bypass test secret, long enough to use';
$t->file('hmac.key', $secret);
my $record = $t->dir . '/portal-requests.jsonl';
my $scgi_record = $t->dir . '/scgi-requests.jsonl';
my $scgi_port = $t->free_port;

$t->write_nginx_conf(<<CONF);
    audit_zone audit:1m;
    audit_session_keys %%DIR%%/hmac.key;
    audit_log %%DIR%%/audit.jsonl flush=100ms;
    audit_login_url /login;
    underscores_in_headers on;
    ignore_invalid_headers off;
    client_max_body_size 4m;
    server {
        listen 127.0.0.1:%%PORT%%;
        # empty segments reach the location as they are: a portal that
        # squeezes them (Rails) would route "//admin" as "/admin"
        merge_slashes off;
        location ~ ^/patients/(\\d+) {
            audit_require_role doctor nurse admin;
            audit_require_role admin methods=DELETE,PURGE;
            audit_record patient \$1;
            proxy_pass http://%%PORTAL%%;
        }
        location /admin/ { audit_require_role admin; proxy_pass http://%%PORTAL%%; }
        location /reports/ {
            audit_require_role nurse admin;
            audit_require_role admin methods=GET,POST;
            proxy_pass http://%%PORTAL%%;
        }
        location = /login { audit_public on; proxy_pass http://%%PORTAL%%; }
        location /files/ {
            audit_require_role nurse;
            audit_allow_encoded_slashes on;
            proxy_pass http://%%PORTAL%%;
        }
        location /scgi/ {
            audit_require_role nurse;
            scgi_param REQUEST_METHOD \$request_method;
            scgi_param REQUEST_URI \$request_uri;
            scgi_pass 127.0.0.1:$scgi_port;
        }
        location / { proxy_pass http://%%PORTAL%%; }
    }
CONF
$t->start_portal(users => {}, token_cb => sub { '' }, record => $record);
my $scgi_pid = start_scgi($scgi_port, $scgi_record);
$t->start_nginx;

my $log = $t->dir . '/audit.jsonl';
my $now = int time;
sub token { Audit::Token::hs256($secret, { sub => 'u-nurse', role => 'nurse', sid => 's-n',
                                             exp => $now + 3600, @_ }) }
my $nurse = 'session=' . token();
my $admin = 'session=' . token(sub => 'u-admin', role => 'admin', sid => 's-a');
my $api = { Accept => 'application/json' };

# one request as raw bytes; the response parsed
sub raw {
    my ($method, $target, %o) = @_;
    my $hdrs = "Host: x\r\nAccept: " . ($o{accept} // 'application/json') . "\r\n";
    $hdrs .= "Cookie: $o{cookie}\r\n" if $o{cookie};
    for my $h (@{ $o{headers} || [] }) { $hdrs .= "$h->[0]: $h->[1]\r\n" }
    my $body = $o{body} // '';
    $hdrs .= "Content-Type: $o{type}\r\n" if $o{type};
    $hdrs .= 'Content-Length: ' . length($body) . "\r\n" if length $body || $method eq 'POST';
    my $res = $t->raw_request("$method $target HTTP/1.1\r\n${hdrs}Connection: close\r\n\r\n$body",
                              timeout => 10);
    my ($head, $content) = split /\r\n\r\n/, $res, 2;
    my ($status) = ($head // '') =~ m{\AHTTP/1\.1 (\d{3})};
    my %h = map { /^([^:]+):\s*(.*)$/ ? (lc $1 => $2) : () } split /\r\n/, $head // '';
    return { status => $status // 0, headers => \%h, content => $content // '',
             json => scalar(eval { $JSON->decode($content // '') }) };
}

sub portal_saw {
    my @seen = grep { length } split /\n/, (-e $record ? do { local (@ARGV, $/) = $record; <> } : '');
    return map { $JSON->decode($_) } @seen;
}
sub portal_saw_uri { my ($uri) = @_; return scalar grep { $_->{uri} eq $uri } portal_saw() }

sub event_of {
    my ($r) = @_;
    my $id = $r->{headers}{'x-request-id'} // return;
    my @ev;
    $t->wait_until(sub { @ev = grep { ($_->{request_id} // '') eq $id } $t->log_events($log); @ev },
                   timeout => 5);
    return @ev;
}

# --- raw paths the portal could route differently --------------------------

my @targets = (
    [GET => '/admin/..%2fpatients/42',            'encoded_slash'],
    [GET => '/admin/..%2Fpatients/42',            'encoded_slash'],
    [GET => '/admin/%2e%2e%2Fpatients/42',        'encoded_slash'],
    [GET => '/patients/42%5c..%5cadmin',          'encoded_slash'],
    [DELETE => '/patients/42%2f..%2f..%2flogin',  'encoded_slash'],
    [GET => '/admin/%2e%2e/patients/42',          'dot_segment'],
    [GET => '/admin/%2E./patients/42',            'dot_segment'],
    [GET => '/admin/../patients/42',              'dot_segment'],
    [DELETE => '/patients/42/../../login',        'dot_segment'],
    [GET => '/patients/42/./x',                   'dot_segment'],
    [GET => '/admin/..;/patients/42',             'path_parameter'],
    [GET => '/patients/42/..;/..;/admin/',        'path_parameter'],
    [GET => '/patients/42;jsessionid=x',          'path_parameter'],
    [GET => '/admin\\..\\patients\\42',           'backslash'],
    [GET => '/patients/42\\..\\..\\admin\\',      'backslash'],
    [GET => '/patients/42#/../admin/',            'fragment'],
    [GET => '/admin./',                           'trailing_dot'],
    [GET => '/admin%20/',                         'trailing_dot'],
    [GET => '/patients/42/x.',                    'trailing_dot'],
    [GET => '/patients/42/%252e%252e/admin/',     'double_encoding'],
    [GET => '/patients/42/%25%32%65%25%32%65/admin/', 'double_encoding'],
    [GET => '/patients/42/%252%65%252%65/admin/', 'double_encoding'],
    [GET => '/patients/42/%c0%ae%c0%ae/admin/',   'bad_encoding'],
    [GET => '/patients/42/%e0%80%ae%e0%80%ae/admin/', 'bad_encoding'],
    [GET => '/patients/42/%f0%80%80%ae/admin/',   'bad_encoding'],
    [GET => '/patients/42/%0d%0aX-Evil:%201',     'bad_encoding'],
    [GET => '//admin/',                           'not_canonical'],
    [GET => '/patients//42',                      'not_canonical'],
    [GET => '/pub//admin/x',                      'not_canonical'],
    [GET => '/files/a/..%2fb.pdf',                'dot_segment'],
);

for my $c (@targets) {
    my ($method, $target, $class) = @$c;
    my $r = raw($method, $target, cookie => $nurse);
    is($r->{status}, 400, "$method $target: 400");
    is($r->{json}{error}, 'bad_request', '... a JSON body');
    is($r->{json}{reason}, $class, "... naming the class $class");
    my @ev = event_of($r);
    is(scalar @ev, 1, '... one event');
    is($ev[0]{action}, 'request_rejected', '... request_rejected');
    is($ev[0]{reason}, $class, "... reason $class");
    is($ev[0]{user_id}, 'u-nurse', '... naming who tried');
    is($ev[0]{status}, 400, '... with its status');
}
ok(!grep({ my $u = $_->{uri}; grep { $u eq $_->[1] } @targets } portal_saw()),
   'none of those targets reached the portal');

# the same on a public page and without a session: still refused, still an event
my $r = raw(DELETE => '/login%2f..%2fpatients/42');
is($r->{status}, 400, 'no session, a public page: 400');
is((event_of($r))[0]{action}, 'request_rejected', '... and an event');
$r = raw(GET => '/admin/..%2fpatients/42', accept => 'text/html');
is($r->{status}, 400, 'a browser gets 400 too');
like($r->{headers}{'content-type'}, qr{^text/html}, '... as a page');
like($r->{content}, qr/Bad request/, '... saying so');

# what is canonical passes, and encoded slashes where they are allowed
$r = raw(GET => '/patients/42?next=/admin/..%2f', cookie => $nurse);
is($r->{status}, 200, 'a query may hold anything: 200');
$r = raw(GET => '/files/a%2Fb.pdf', cookie => $nurse);
is($r->{status}, 200, 'audit_allow_encoded_slashes on: %2F passes');
is($r->{json}{uri}, '/files/a%2Fb.pdf', '... as sent');
$r = raw(GET => '/patients/42/caf%C3%A9', cookie => $nurse);
is($r->{status}, 200, 'encoded UTF-8: 200');

# --- method overrides -------------------------------------------------------------

my @overrides = (
    ['X-HTTP-Method-Override header' => headers => [['X-HTTP-Method-Override', 'DELETE']]],
    ['X-HTTP-Method header'          => headers => [['X-HTTP-Method', 'DELETE']]],
    ['X-Method-Override header'      => headers => [['X-Method-Override', 'delete']]],
    ['x_http_method_override header' => headers => [['x_http_method_override', 'DELETE']]],
    ['_method in the query'          => query => '_method=DELETE'],
    ['%5Fmethod in the query'        => query => '%5Fmethod=delete'],
    ['_method in a form body'        => type => 'application/x-www-form-urlencoded',
                                        body => 'note=x&_method=DELETE'],
    ['_method in a multipart body'   => type => 'multipart/form-data; boundary=BB',
                                        body => "--BB\r\nContent-Disposition: form-data; name=\"_method\"\r\n\r\n"
                                              . "DELETE\r\n--BB--\r\n"],
    ['_method in a JSON body'        => type => 'application/json', body => '{"_method":"DELETE"}'],
    ['_method in a body without Content-Type (Rack reads it as a form)'
                                     => body => 'note=x&_method=DELETE'],
    ['.method in the query (PHP reads _method)' => query => '.method=DELETE'],
    [' _method in a form body (PHP drops the blank)' => type => 'application/x-www-form-urlencoded',
                                        body => 'note=x&+_method=DELETE'],
    ['_method in a text/json body (Laravel reads JSON)' => type => 'text/json', body => '{"_method":"DELETE"}'],
    ['_method in an application/x-json body' => type => 'application/x-json', body => '{"_method":"DELETE"}'],
    ['NAME=\'_method\' in a multipart body with LF line ends' => type => 'multipart/form-data; boundary=BB',
                                        body => "--BB\nContent-Disposition: form-data; NAME='_method'\n\n"
                                              . "DELETE\n--BB--\n"],
    ['_method in a 2 MiB form body'  => type => 'application/x-www-form-urlencoded',
                                        body => 'note=' . ('x' x (2 << 20)) . '&_method=DELETE'],
);
for my $c (@overrides) {
    my ($name, %o) = @$c;
    my $target = '/patients/42' . ($o{query} ? "?$o{query}" : '');
    my $before = portal_saw();
    $r = raw(POST => $target, cookie => $nurse, %o);
    is($r->{status}, 403, "nurse, POST with $name: 403");
    is(scalar portal_saw(), $before, '... and the portal saw nothing');
    my @ev = event_of($r);
    is($ev[0]{action}, 'authz_check', '... authz_check');
    is($ev[0]{decision}, 'denied', '... denied');
    like($ev[0]{rule}, qr/methods=DELETE/, '... by the DELETE rule');
}

$r = raw(POST => '/patients/42', cookie => $admin,
         headers => [['X-HTTP-Method-Override', 'DELETE']]);
is($r->{status}, 200, 'admin, POST overridden to DELETE: 200');
my ($rec) = grep { $_->{action} eq 'record_access' } event_of($r);
is($rec->{access}, 'deleted', '... recorded as what the portal does: deleted');
$r = raw(POST => '/patients/42?_method=PUT', cookie => $nurse);
is($r->{status}, 200, 'nurse, POST overridden to PUT: 200');
($rec) = grep { $_->{action} eq 'record_access' } event_of($r);
is($rec->{access}, 'updated', '... recorded as updated');
$r = raw(POST => '/patients/42?_method=PUT', cookie => $nurse,
         headers => [['X-HTTP-Method-Override', 'DELETE']]);
is($r->{status}, 400, 'two overrides that disagree: 400');
is($r->{json}{reason}, 'method_override', '... method_override');
is((event_of($r))[0]{action}, 'request_rejected', '... request_rejected');
$r = raw(POST => '/patients/42', cookie => $nurse, headers => [['X-HTTP-Method-Override', 'DEL ETE']]);
is($r->{status}, 400, 'an override that is no method: 400');

# GET covers HEAD (as limit_except does): the portal runs HEAD as GET
# (its Content-Length shows the admin-only report's size), and proxy_cache
# sends a HEAD upstream as a GET
$r = raw(HEAD => '/reports/export', cookie => $nurse);
is($r->{status}, 403, 'nurse, HEAD where a methods=GET,POST rule wants admin: 403');
$r = raw(HEAD => '/reports/export', cookie => $admin);
is($r->{status}, 200, 'admin, HEAD: 200');
$r = raw(OPTIONS => '/reports/export', cookie => $nurse);
is($r->{status}, 200, 'nurse, OPTIONS (not in the list): 200');

$r = raw(PURGE => '/patients/42', cookie => $nurse);
is($r->{status}, 403, 'nurse, PURGE (a methods= rule names it): 403');
$r = raw(PURGE => '/patients/42', cookie => $admin);
is($r->{status}, 200, 'admin, PURGE: 200');
($rec) = grep { $_->{action} eq 'record_access' } event_of($r);
is($rec->{access}, 'PURGE', '... recorded under its own name, not as viewed');
$r = raw(PROPFIND => '/patients/42', cookie => $nurse);
($rec) = grep { $_->{action} eq 'record_access' } event_of($r);
is($rec->{access}, 'PROPFIND', 'PROPFIND recorded under its own name');

# --- headers the portal must not take from the client ----------------------------

$r = raw(GET => '/patients/42', cookie => $nurse, headers => [
    ['X-Original-URL', '/admin/'], ['X-Rewrite-URL', '/admin/'], ['x-original-url', '/admin/x'],
    ['X_Original_URL', '/admin/'], ['X-Forwarded-Prefix', '/admin'], ['X-Original-URI', '/admin/']]);
is($r->{status}, 200, 'path-override headers: the request passes');
for my $h (qw(x-original-url x-rewrite-url x_original_url x-forwarded-prefix x-original-uri)) {
    ok(!exists $r->{json}{headers}{$h}, "... without $h");
}

$r = raw(GET => '/patients/42', cookie => $nurse, headers => [
    ['X_Audit_User_Id', 'someone-else'], ['x-audit-role', 'admin'], ['X-AUDIT-ROLE', 'admin'],
    ['X.Audit.Session.Id', 'forged'], ['X-Audit-User_Id', 'forged']]);
is($r->{status}, 200, 'identity headers in other spellings: the request passes');
my $seen = $r->{json}{headers};
is($seen->{'x-audit-user-id'}, 'u-nurse', '... the portal sees the real user');
is($seen->{'x-audit-role'}, 'nurse', '... the real role, once');
is($seen->{'x-audit-session-id'}, 's-n', '... the real session');
ok(!grep({ /audit/ && !/^x-audit-(user-id|role|session-id)$/ } keys %$seen),
   '... and no other spelling of them: ' . join(',', grep { /audit/ } sort keys %$seen));

$r = raw(GET => '/scgi/x', cookie => $nurse, headers => [
    ['X_Audit_User_Id', 'someone-else'], ['X-Audit-Role', 'admin']]);
is($r->{status}, 200, 'SCGI: 200');
my @scgi = map { $JSON->decode($_) } grep { length } split /\n/,
           (-e $scgi_record ? do { local (@ARGV, $/) = $scgi_record; <> } : '');
is(scalar @scgi, 1, '... the SCGI server got one request');
is_deeply($scgi[0]{HTTP_X_AUDIT_USER_ID}, ['u-nurse'], '... one HTTP_X_AUDIT_USER_ID, the real one');
is_deeply($scgi[0]{HTTP_X_AUDIT_ROLE}, ['nurse'], '... one HTTP_X_AUDIT_ROLE, the real one');

# --- claims that cannot be passed unambiguously in a header ----------------------

my @ambiguous = (
    ['a padded role in an array' => role => ['nurse', ' admin']],
    ['a role with a comma'       => role => ['nurse,admin']],
    ['an empty role'             => role => ''],
    ['a role with a tab'         => role => "nurse\tadmin"],
    ['a padded session id'       => sid => ' s-n'],
    ['an empty session id'       => sid => ''],
    ['a padded user'             => sub => 'u-nurse '],
);
for my $c (@ambiguous) {
    my ($name, @claims) = @$c;
    my $before = portal_saw();
    $r = raw(GET => '/patients/42', cookie => 'session=' . token(@claims));
    is($r->{status}, 401, "$name: 401");
    is($r->{json}{error}, 'session_malformed', '... session_malformed');
    is(scalar portal_saw(), $before, '... the portal saw nothing');
}

# --- what a person sees --------------------------------------------------------------

$r = raw(GET => '/admin/', cookie => $nurse, accept => 'text/html,application/xhtml+xml');
is($r->{status}, 403, 'a browser refused: 403');
like($r->{headers}{'content-type'}, qr{^text/html}, '... an HTML page, not JSON');
like($r->{content}, qr/Access denied/, '... saying access is denied');
like($r->{content}, qr/\Q$r->{headers}{'x-request-id'}\E/, '... with the request id to quote');
$r = raw(GET => '/admin/', cookie => $nurse);
is($r->{json}{error}, 'forbidden', 'a script refused: the JSON body');

$r = raw(GET => '/patients/42', accept => 'text/html');
is($r->{status}, 302, 'a browser without a session: 302');
unlike($r->{content}, qr/session has ended/, '... the page does not say a session ended');
like($r->{content}, qr/sign in/i, '... it asks to sign in');
$r = raw(GET => '/patients/42', accept => 'text/html',
         cookie => 'session=' . token(exp => $now - 3600));
is($r->{status}, 302, 'a browser with an expired session: 302');
like($r->{content}, qr/session has ended/, '... the page says the session has ended');

# every line of the log is one JSON object; no crash
# (one read of the file: the log is buffered, and a second read could see
# lines flushed in between)
my @lines = $t->log_lines($log);
my $json = JSON::PP->new;
is(scalar(grep { my $l = $_; ref(eval { $json->decode($l) }) eq 'HASH' } @lines), scalar @lines,
   'every log line is one JSON object');
unlike($t->error_log, qr/\[(alert|crit|emerg)\]|signal \d+|exited on/, 'no alert, no crashed worker');

$t->stop_tracked($scgi_pid);
$t->stop_all_and_check;
done_testing;


# A minimal SCGI server (the protocol: a netstring of NUL-separated
# name/value pairs, then the body): every request's params are appended to
# a file as one JSON object of name => [values], so repeats show.
sub start_scgi {
    my ($port, $file) = @_;
    my $srv = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => $port,
                                  Listen => 64, ReuseAddr => 1, Timeout => 1)
        or die "scgi: $@";
    my $parent = $$;
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        $SIG{TERM} = sub { POSIX::_exit(0) };
        while (1) {
            POSIX::_exit(0) if getppid() != $parent;
            my $c = $srv->accept or next;
            my $buf = '';
            while ($buf !~ /\A(\d+):/ || length($buf) < length($1) + 2 + $1) {
                sysread($c, $buf, 65536, length $buf) or last;
            }
            my ($len) = $buf =~ /\A(\d+):/;
            my %p;
            if (defined $len) {
                my @kv = split /\0/, substr($buf, length($len) + 1, $len), -1;
                while (my ($k, $v) = splice @kv, 0, 2) { push @{ $p{$k} }, $v }
            }
            if (open my $fh, '>>', $file) { syswrite $fh, $JSON->encode(\%p) . "\n"; close $fh }
            syswrite $c, "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nok";
            close $c;
        }
    }
    close $srv;
    $t->track($pid, 'scgi server');
    return $pid;
}
