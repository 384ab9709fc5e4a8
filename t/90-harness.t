# Self-test of the test harness (t/lib/Audit): needs nginx, PostgreSQL and
# openssl, but not our module.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Audit::Test;
use Audit::Token;
use Digest::SHA qw(hmac_sha256);
use IO::Socket::IP;
use JSON::PP ();
use POSIX ();
use Time::HiRes qw(time);

my $JSON = JSON::PP->new->utf8->canonical;
my $t = Audit::Test->new;

# --- helpers --------------------------------------------------------------------

# stdout of a command (stderr dropped) and its exit code.
sub capture {
    my @cmd = @_;
    my $pid = open my $fh, '-|';
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        open STDERR, '>', '/dev/null';
        exec @cmd or POSIX::_exit(127);
    }
    local $/;
    my $out = <$fh>;
    close $fh;
    return ($? >> 8, $out);
}

sub openssl_verify {
    my ($pub, $data, $sig) = @_;
    my $d = $t->file('verify.data', $data);
    my $s = $t->file('verify.sig', $sig);
    my ($rc, $out) = capture('openssl', 'dgst', '-sha256', '-verify', $pub,
                             '-signature', $s, $d);
    return $rc == 0 && $out =~ /Verified OK/;
}

sub split_token {
    my ($token) = @_;
    my ($h, $p, $s) = split /\./, $token, -1;
    return ("$h.$p", Audit::Token::b64url_decode($h), Audit::Token::b64url_decode($p),
            Audit::Token::b64url_decode($s));
}

# Runs t/lib code in a child perl, returns ($?, stdout, stderr).
sub run_child {
    my ($code, %env) = @_;
    my $err = $t->file('child.err', '');
    my $pid = open my $fh, '-|';
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        open STDERR, '>', $err;
        @ENV{ keys %env } = values %env;
        exec $^X, '-It/lib', '-e', $code;
        exit 127;
    }
    local $/;
    my $out = <$fh>;
    close $fh;
    return ($?, $out, $t->log_lines($err) ? join("\n", $t->log_lines($err)) : '');
}

# --- tests ------------------------------------------------------------------------

subtest 'temp dir, files, ports' => sub {
    ok -d $t->dir, 'temp dir exists';
    is((stat $t->dir)[2] & 07777, 0755, 'temp dir is 0755');
    my $path = $t->file('sub/x.txt', "hello\n");
    is $path, $t->dir . '/sub/x.txt', 'file() returns the path';
    is_deeply [$t->log_lines('sub/x.txt')], ['hello'], 'log_lines reads it';
    my %seen;
    $seen{ $t->free_port }++ for 1 .. 20;
    is scalar(keys %seen), 20, 'free_port never repeats';
    is $t->port, $t->port, 'nginx port is allocated once';
    isnt $t->port, $t->portal_port, 'portal port differs';
    {
        delete local $ENV{AUDIT_MODULE};    # make test-asan sets it
        like $t->module_path, qr{build/nginx/ngx_http_audit_module\.so\z}, 'module path';
    }
    {
        local $ENV{AUDIT_MODULE} = '/x/y.so';
        is $t->module_path, '/x/y.so', 'AUDIT_MODULE overrides';
    }
};

subtest 'HS256 tokens' => sub {
    my $payload = {sub => 'u1', role => 'doctor', exp => 2000000000, sid => 's1'};
    my $tok = Audit::Token::hs256('s3cret', $payload, {kid => 'k1'});
    is $tok, Audit::Token::hs256('s3cret', $payload, {kid => 'k1'}), 'deterministic';
    my ($input, $h, $p, $s) = split_token($tok);
    is $h, '{"alg":"HS256","kid":"k1","typ":"JWT"}', 'canonical header';
    is $p, '{"exp":2000000000,"role":"doctor","sid":"s1","sub":"u1"}', 'canonical payload';
    is $s, hmac_sha256($input, 's3cret'), 'HMAC-SHA256 signature';
    is Audit::Token::b64url("\xfb\xff"), '-_8', 'b64url alphabet, no padding';
    my $raw = Audit::Token::raw('{"alg":"none"}', '{"sub":"x"}', '');
    is $raw, Audit::Token::b64url('{"alg":"none"}') . '.' . Audit::Token::b64url('{"sub":"x"}') . '.',
        'raw token from literal parts';
    is_deeply $JSON->decode(Audit::Token::jwks(Audit::Token::oct_jwk('ab', 'h1'))),
        {keys => [{kty => 'oct', k => 'YWI', kid => 'h1'}]}, 'oct JWK';
};

subtest 'RS256 tokens and RSA JWK' => sub {
    my $key = Audit::Token::gen_rsa($t->dir, 'rsa1', 2048);
    ok -s $key->{private} && -s $key->{public}, 'key files';
    my (undef, $modulus) = capture('openssl', 'rsa', '-pubin', '-in', $key->{public},
                                   '-modulus', '-noout');
    my ($hex) = $modulus =~ /Modulus=([0-9A-F]+)/;
    my $n = Audit::Token::b64url_decode($key->{jwk}{n});
    is length $n, 256, 'n is 256 bytes';
    is uc unpack('H*', $n), $hex, 'n matches openssl modulus';
    is $key->{jwk}{e}, 'AQAB', 'e';
    is $key->{jwk}{kty}, 'RSA', 'kty';
    my $tok = Audit::Token::rs256($key->{private}, {sub => 'u1'}, {kid => 'rsa1'});
    is $tok, Audit::Token::rs256($key->{private}, {sub => 'u1'}, {kid => 'rsa1'}),
        'deterministic';
    my ($input, $h, undef, $sig) = split_token($tok);
    is $h, '{"alg":"RS256","kid":"rsa1","typ":"JWT"}', 'header';
    ok openssl_verify($key->{public}, $input, $sig), 'openssl verifies it';
    ok !openssl_verify($key->{public}, "$input.", $sig), 'and rejects other input';
};

subtest 'ES256 tokens and EC JWK' => sub {
    my $key = Audit::Token::gen_ec($t->dir, 'ec1');
    my (undef, $der) = capture('openssl', 'pkey', '-pubin', '-in', $key->{public},
                               '-outform', 'DER');
    my ($x, $y) = map { Audit::Token::b64url_decode($key->{jwk}{$_}) } qw(x y);
    is length($x) . '/' . length($y), '32/32', 'x and y are 32 bytes';
    is "\x04$x$y", substr($der, -65), 'x, y match the SPKI point';
    is $key->{jwk}{crv}, 'P-256', 'crv';
    my $tok = Audit::Token::es256($key->{private}, {sub => 'u1'}, {kid => 'ec1'});
    my ($input, $h, undef, $sig) = split_token($tok);
    is $h, '{"alg":"ES256","kid":"ec1","typ":"JWT"}', 'header';
    is length $sig, 64, 'raw r||s signature';
    is Audit::Token::ecdsa_der_to_raw(Audit::Token::ecdsa_raw_to_der($sig)), $sig,
        'DER round trip';
    ok openssl_verify($key->{public}, $input, Audit::Token::ecdsa_raw_to_der($sig)),
        'openssl verifies it';
    my $jwks = $JSON->decode(Audit::Token::jwks($key->{jwk}, {kty => 'oct', k => 'x'}));
    is scalar @{ $jwks->{keys} }, 2, 'jwks holds both keys';
};

my %users = ('ann@clinic.example' => {password => 'pw', user_id => 'u1', role => 'doctor'});
my $secret = 'portal-secret';

subtest 'portal' => sub {
    $t->start_portal(users => \%users, token_cb => sub {
        my ($u) = @_;
        Audit::Token::hs256($secret, {sub => $u->{user_id}, role => $u->{role},
                                      email => $u->{login}});
    });
    ok $t->process_alive($t->portal_pid), 'portal runs';
    my %at = (port => $t->portal_port);

    my $r = $t->request(GET => '/echo?x=1', %at,
        headers => {'X-Multi' => ['a', 'b'], 'X-One' => 'v'});
    is $r->{status}, 200, 'echo 200';
    is $r->{headers}{'content-type'}, 'application/json', 'json type';
    is $r->{json}{method}, 'GET', 'method';
    is $r->{json}{uri}, '/echo?x=1', 'uri with query';
    is $r->{json}{headers}{'x-multi'}, 'a, b', 'repeated headers joined';
    is $r->{json}{headers}{'x-one'}, 'v', 'lower-case names';

    $r = $t->request(POST => '/p', %at, body => "caf\xc3\xa9");
    is $r->{json}{body}, "caf\x{e9}", 'body echoed (UTF-8)';
    is $t->request(GET => '/status/418', %at)->{status}, 418, '/status/NNN';
    is $t->request(GET => '/status/503', %at)->{json}{uri}, '/status/503', 'same JSON';
    $r = $t->request(GET => '/status/204', %at);
    is "$r->{status}:$r->{content}", '204:', '204 has no body';

    $r = $t->request(POST => '/login', %at,
        form => {email => 'ann@clinic.example', password => 'pw'});
    is $r->{status}, 302, 'login: 302';
    is $r->{headers}{location}, '/', 'to /';
    my ($token) = $r->{headers}{'set-cookie'} =~ /\Asession=([^;]+); Path=\/; HttpOnly\z/;
    ok $token, 'session cookie set';
    is $token, Audit::Token::hs256($secret, {sub => 'u1', role => 'doctor',
        email => 'ann@clinic.example'}), 'token from token_cb';
    $r = $t->request(POST => '/login', %at,
        json => {username => 'ann@clinic.example', password => 'pw'});
    is $r->{status}, 302, 'JSON login with username field';
    $r = $t->request(POST => '/login', %at,
        form => {email => 'ann@clinic.example', password => 'nope'});
    is $r->{status}, 401, 'wrong password: 401';
    ok $r->{json}{error}, 'with a JSON error';
    ok !$r->{headers}{'set-cookie'}, 'and no cookie';
    $r = $t->request(POST => '/logout', %at);
    is $r->{status}, 302, 'logout: 302';
    like $r->{headers}{'set-cookie'}, qr/\Asession=;.*Max-Age=0/, 'expiring cookie';

    my $raw = $t->raw_request("POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        . "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n", %at);
    like $raw, qr/"body":"hello world"/, 'chunked request body';
    $raw = $t->raw_request("GET /one HTTP/1.1\r\nHost: x\r\n\r\n"
        . "POST /two HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", %at, responses => 2);
    like $raw, qr{"uri":"/one".*"body":"abc".*"uri":"/two"}s, 'keep-alive, pipelined';
    like $t->raw_request("BOGUS\r\n\r\n", %at), qr{\AHTTP/1.1 400 .*Connection: close}s,
        'garbage: 400 and close';

    my $ok = grep { $t->request(GET => "/n/$_", %at)->{status} == 200 } 1 .. 200;
    is $ok, 200, '200 sequential requests';
};

subtest 'nginx config rendering' => sub {
    $t->write_nginx_conf("# %%PGPORT%% %%NAME%%\n", vars => {NAME => 'v1'});
    my $conf = join "\n", $t->log_lines('nginx.conf');
    like $conf, qr/^load_module \Q${\ $t->module_path }\E;$/m, 'load_module by default';
    like $conf, qr/^worker_processes 1;$/m, 'one worker by default';
    like $conf, qr/^user root;$/m, 'user root' if $> == 0;
    like $conf, qr/^error_log \Q${\ $t->dir }\E\/error.log info;$/m, 'error_log info';
    like $conf, qr/^\s*access_log off;$/m, 'access_log off';
    like $conf, qr/^\s*${_}_temp_path \Q${\ $t->dir }\E/m, "$_ temp path"
        for qw(client_body proxy fastcgi uwsgi scgi);
    like $conf, qr/^# ${\ $t->pg_port } v1$/m, 'placeholders';
    ok !eval { $t->write_nginx_conf("%%NOPE%%"); 1 }, 'unknown placeholder dies';
    like $@, qr/%%NOPE%%/, 'naming it';
    $t->write_nginx_conf('bogus_directive on;', load_module => 0, log_level => 'debug');
    my ($ok, $out) = $t->nginx_test;
    ok !$ok, 'nginx -t fails on a bad config';
    like $out, qr/unknown directive "bogus_directive"/, 'with nginx\'s message';
};

subtest 'nginx start failure' => sub {
    $t->write_nginx_conf('include %%DIR%%/missing.conf;', load_module => 0);
    ok !eval { $t->start_nginx; 1 }, 'start_nginx dies when nginx does not start';
    like $@, qr/missing\.conf.*No such file/, 'with the reason';
    ok !-e $t->pid_path, 'no nginx left';
};

my $conf = <<'EOF';
    log_format json_lines escape=json '{"uri":"$request_uri","status":$status}';
    server {
        listen 127.0.0.1:%%PORT%%;
        access_log %%DIR%%/access.jsonl json_lines;
        location = /greeting { return 200 "%%GREETING%%\n"; }
        location / { proxy_pass http://%%PORTAL%%; }
    }
EOF

subtest 'nginx in front of the portal' => sub {
    $t->write_nginx_conf($conf, load_module => 0, workers => 2, vars => {GREETING => 'hi'});
    my ($ok, $out) = $t->nginx_test;
    ok $ok, 'nginx -t passes' or diag $out;
    like $out, qr/syntax is ok/, 'nginx -t output captured';
    my $master = $t->start_nginx;
    is $t->nginx_pid, $master, 'nginx_pid';
    is scalar(my @w = $t->worker_pids), 2, 'two workers';

    is $t->request(GET => '/greeting')->{content}, "hi\n", 'vars placeholder';
    my $r = $t->request(GET => '/a/b?q=1', cookie => 'session=abc; x=y',
                        headers => {'X-Test' => '1'});
    is $r->{status}, 200, 'proxied';
    is $r->{json}{uri}, '/a/b?q=1', 'uri reaches the portal';
    is $r->{json}{headers}{cookie}, 'session=abc; x=y', 'raw Cookie header';
    is $r->{json}{headers}{'x-test'}, '1', 'extra header';
    is $t->request(PUT => '/x', body => 'data')->{json}{body}, 'data', 'request body';
    $r = $t->request(POST => '/login', form => {email => 'ann@clinic.example', password => 'pw'});
    is $r->{status}, 302, 'redirect not followed';
    like $r->{headers}{'set-cookie'}, qr/^session=/, 'cookie through nginx';
    is $t->request(GET => '/status/502')->{status}, 502, 'upstream status passes';
    is $t->request(GET => '/x', port => $t->free_port)->{status}, 599,
        'HTTP::Tiny reports a refused connection as 599';

    my $t0 = time;
    my $raw = $t->raw_request("GET /greeting HTTP/1.1\r\nHost: x\r\n\r\n");
    like $raw, qr{\AHTTP/1.1 200 OK\r\n.*\r\n\r\nhi\n\z}s, 'raw request';
    $raw = $t->raw_request("HEAD /greeting HTTP/1.1\r\nHost: x\r\n\r\n");
    like $raw, qr{\AHTTP/1.1 200 OK\r\n}, 'raw HEAD';
    $raw = $t->raw_request("GET /chunky HTTP/1.1\r\nHost: x\r\n\r\n");
    like $raw, qr{"uri":"/chunky"}, 'raw request proxied';
    cmp_ok time - $t0, '<', 3, 'complete responses end the read without a timeout';
    like $t->raw_request("GET / HTTP/1.1\r\nHost: \x00\r\n\r\n"), qr{\AHTTP/1.1 400 },
        'hostile bytes: 400';

    my @events;
    ok $t->wait_until(sub {
        @events = $t->log_events('access.jsonl');
        grep { $_->{status} == 400 } @events;
    }), 'access log events, up to the last request';
    is $events[0]{uri}, '/greeting', 'decoded';
    $t->file('bad.jsonl', qq({"a":1}\nnot json\n));
    ok !eval { $t->log_events('bad.jsonl'); 1 }, 'log_events dies on a bad line';
    like $@, qr/bad\.jsonl line 2 is not valid JSON/, 'naming the line';
};

subtest 'reload and reopen' => sub {
    my @old = $t->worker_pids;
    $t->write_nginx_conf($conf, load_module => 0, workers => 2, vars => {GREETING => 'again'});
    ok $t->reload, 'reload';
    my @new = $t->worker_pids;
    is scalar @new, 2, 'two new workers';
    ok !(grep { my $n = $_; grep { $_ == $n } @old } @new), 'all workers replaced';
    ok !(grep { $t->process_alive($_) } @old), 'old workers gone';
    is $t->request(GET => '/greeting')->{content}, "again\n", 'new config in use';

    my $log = $t->dir . '/access.jsonl';
    rename $log, "$log.1" or die $!;
    $t->reopen;
    $t->request(GET => '/after-reopen');
    my @events = $t->wait_events('access.jsonl', 1);
    is_deeply [map { $_->{uri} } @events], ['/after-reopen'], 'log reopened';
    like $t->error_log, qr/reopening logs/, 'error_log contents';

    $t->write_nginx_conf('bogus_directive on;', load_module => 0, workers => 2);
    ok !eval { $t->reload; 1 }, 'reload with a bad config dies';
    like $@, qr/reload rejected.*bogus_directive/s, 'with the error';
    is $t->request(GET => '/greeting')->{content}, "again\n", 'old config still serves';

    my @pids = ($t->nginx_pid, $t->worker_pids);
    $t->stop_nginx;
    ok !(grep { $t->process_alive($_) } @pids), 'stop_nginx: master and workers gone';
    ok !-e $t->pid_path, 'pid file removed';
    $t->write_nginx_conf($conf, load_module => 0, vars => {GREETING => 'restarted'});
    $t->start_nginx;
    is $t->request(GET => '/greeting')->{content}, "restarted\n", 'started again';
};

subtest 'PostgreSQL' => sub {
    my $pid = $t->start_pg;
    ok $t->process_alive($pid), 'postmaster runs';
    is $t->psql('select 1'), '1', 'psql';
    is $t->pg_conninfo('audit', 'writer'),
        'host=127.0.0.1 port=' . $t->pg_port . ' dbname=audit user=writer', 'conninfo';
    $t->psql("create database audit; create role writer login;");
    $t->psql(<<'SQL', db => 'audit');
create table ev (id int primary key, note text);
grant insert, select on ev to writer;
insert into ev values (1, 'one');
SQL
    my $dbh = $t->dbh(db => 'audit', user => 'writer');
    $dbh->do('insert into ev values (?, ?)', undef, 2, 'two');
    is_deeply $dbh->selectcol_arrayref('select note from ev order by id'), ['one', 'two'],
        'dbh';
    $dbh->disconnect;
    is $t->psql('select count(*) from ev', db => 'audit', user => 'writer'), '2',
        'psql as another user';
    ok !eval { $t->psql('select * from missing'); 1 }, 'psql dies on error';
    like $@, qr/relation "missing" does not exist/, 'with psql\'s message';

    $t->stop_pg;
    ok !$t->process_alive($pid), 'stop_pg: postmaster gone';
    ok !eval { $t->psql('select 1'); 1 }, 'psql fails while down';
    $pid = $t->start_pg_again;
    is $t->psql('select count(*) from ev', db => 'audit'), '2', 'data kept across restart';
};

# Each mode starts the portal and nginx in a child perl and ends it another
# way; whatever the way, nothing it started may survive, and its dir goes.
my $child = <<'EOF';
use strict; use warnings; use Audit::Test;
$| = 1;
my $t = Audit::Test->new;
$t->start_portal;
$t->write_nginx_conf('server { listen 127.0.0.1:%%PORT%%;
    location / { proxy_pass http://%%PORTAL%%; } }', load_module => 0);
$t->start_nginx;
$t->start_pg if $ENV{WITH_PG};
$t->request(GET => '/')->{status} == 200 or die "no proxy\n";
print "dir ", $t->dir, "\n";
print "pid $_\n" for $t->tracked_pids;
my $mode = $ENV{MODE};
if ($mode eq 'die')  { die "boom\n" }
if ($mode eq 'term') { kill TERM => $$; sleep 30 }
if ($mode eq 'int')  { kill INT => $$; sleep 30 }
if ($mode eq 'destroy') {
    my @pids = $t->tracked_pids;
    my $dir = $t->dir;
    undef $t;
    print "alive after DESTROY: ", scalar(grep { Audit::Test::process_alive($_) } @pids), "\n";
    print "dir after DESTROY: ", (-d $dir ? 'present' : 'removed'), "\n";
}
exit 0;
EOF

my %expect = (end => 0, destroy => 0, die => 255 << 8, term => 15, int => 2);
for my $mode (qw(end destroy die term int)) {
    subtest "teardown on $mode" => sub {
        my ($status, $out, $err) = run_child($child, MODE => $mode,
            WITH_PG => $mode eq 'die' ? 1 : 0);
        is $status, $expect{$mode}, 'exit status';
        my @pids = $out =~ /^pid (\d+)$/mg;
        my ($dir) = $out =~ /^dir (\S+)$/m;
        cmp_ok scalar @pids, '>=', $mode eq 'die' ? 5 : 4, 'child tracked its processes';
        ok !(grep { Audit::Test::process_alive($_) } @pids), 'none alive';
        ok $dir && !-e $dir, 'temp dir removed';
        unlike $err, qr/left behind/, 'no leftover warning';
        like $err, qr/boom/, 'the test\'s own error is shown' if $mode eq 'die';
        like $out, qr/alive after DESTROY: 0\ndir after DESTROY: removed/, 'DESTROY tears down'
            if $mode eq 'destroy';
    };
}

my @mine = $t->tracked_pids;
$t->stop_all_and_check;
ok !(grep { Audit::Test::process_alive($_) } @mine), 'nothing tracked is alive';
done_testing;
