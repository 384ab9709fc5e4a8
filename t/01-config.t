# Bad configuration fails "nginx -t" with a message naming the directive.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Audit::Test;

my $t = Audit::Test->new;

my $secret = 'k' x 32;
$t->file('hmac.key', $secret);
$t->file('short.key', 'k' x 31);
$t->file('garbage.jwks', '{"keys": [ {"kty": "RSA", "n": "!!", ');
$t->file('revoked.txt', "s1\n");

# [ config fragment inside http {}, what the error must mention ]
my @bad = (
    [ 'audit_zone audit;',                      qr/"audit_zone"/ ],
    [ 'audit_zone audit:lots;',                 qr/invalid zone size.*"audit_zone"/ ],
    [ 'audit_zone audit:1k;',                   qr/too small.*|"audit_zone".*too small/ ],
    [ "audit_zone a:1m;\n audit_zone b:1m;",    qr/"audit_zone" directive is duplicate/ ],
    [ 'audit_session_keys %%DIR%%/nope.key;',   qr/"audit_session_keys" cannot use .*nope\.key/ ],
    [ 'audit_session_keys %%DIR%%/short.key;',  qr/"audit_session_keys" cannot use .*short\.key/ ],
    [ 'audit_session_keys %%DIR%%/garbage.jwks;', qr/"audit_session_keys" cannot use/ ],
    [ 'audit_session_keys %%DIR%%/hmac.key refresh=soon;', qr/invalid refresh time.*"audit_session_keys"/ ],
    [ 'audit_session_keys %%DIR%%/hmac.key rotate=1m;', qr/invalid parameter "rotate=1m" in "audit_session_keys"/ ],
    [ 'audit_session_algorithms none;',         qr/unsupported algorithm "none" in "audit_session_algorithms"/ ],
    [ "audit_session_keys %%DIR%%/hmac.key;\n audit_session_algorithms RS256;\n server { listen 127.0.0.1:%%PORT%%; }",
                                                qr/"audit_session_algorithms" allows no algorithm/ ],
    [ 'audit_session_leeway forever;',          qr/"audit_session_leeway" directive invalid value/ ],
    [ 'audit_session_claims uid=sub;',          qr/invalid parameter "uid=sub" in "audit_session_claims"/ ],
    [ 'audit_session_claims user=;',            qr/empty claim name .*"audit_session_claims"/ ],
    [ 'audit_session_cookie "a b";',            qr/invalid name "a b" in "audit_session_cookie"/ ],
    [ 'audit_session_revoked %%DIR%%/none.txt;', qr/"audit_session_revoked" cannot use .*none\.txt/ ],
    [ 'audit_login_url https://evil.example/;', qr/"audit_login_url" must be a local path/ ],
    [ 'audit_login_url //evil.example/;',       qr/"audit_login_url" must be a local path/ ],
    [ 'audit_public maybe;',                    qr/invalid value "maybe" in "audit_public"/ ],
    [ 'server { location /x { audit_require_role doctor; } }',
                                                qr/"audit_require_role" needs "audit_session_keys"/ ],
    [ "audit_session_keys %%DIR%%/hmac.key;\n audit_require_role doctor methods=GET,FETCH;",
                                                qr/invalid "methods=GET,FETCH" in "audit_require_role"/ ],
    [ "audit_session_keys %%DIR%%/hmac.key;\n audit_require_role methods=GET;",
                                                qr/"audit_require_role" needs at least one role/ ],
    [ 'audit_identity_headers uid=X-User;',     qr/invalid parameter "uid=X-User" in "audit_identity_headers"/ ],
    [ 'audit_identity_headers user=X:User;',    qr/invalid name "X:User" in "audit_identity_headers"/ ],
    [ 'audit_log %%DIR%%/a.jsonl buffer=big;',    qr/invalid buffer size "big" in "audit_log"/ ],
    [ 'audit_log %%DIR%%/a.jsonl flush=never;',   qr/invalid flush time "never" in "audit_log"/ ],
    [ 'audit_log %%DIR%%/a.jsonl gzip=9;',        qr/invalid parameter "gzip=9" in "audit_log"/ ],
    [ 'audit_log syslog:server=127.0.0.1 flush=1s;', qr/"audit_log" to syslog takes no buffer= or flush=/ ],
    [ 'audit_log syslog:facility=nosuch;',         qr/unknown facility "nosuch"|syslog/ ],
    [ "audit_log %%DIR%%/a.jsonl;\n audit_log %%DIR%%/b.jsonl;", qr/"audit_log" directive is duplicate/ ],
    [ "access_log %%DIR%%/a.jsonl combined buffer=4k;\n audit_log %%DIR%%/a.jsonl;",
                                                qr/"audit_log" file .* is already used by another log/ ],
    [ 'audit_authz_log some;',                  qr/invalid value "some" in "audit_authz_log"/ ],
    [ 'audit_scrub ' . ('x' x 65) . ';',        qr/invalid parameter name .* in "audit_scrub"/ ],
    [ 'audit_bruteforce 5;',                    qr/invalid value "5" in "audit_bruteforce"/ ],
    [ 'audit_bruteforce 0/5m;',                 qr/invalid value "0\/5m" in "audit_bruteforce"/ ],
    [ 'audit_bruteforce 5/soon;',               qr/invalid value "5\/soon" in "audit_bruteforce"/ ],
    [ "audit_bruteforce 5/5m;\n server { listen 127.0.0.1:%%PORT%%; }",
                                                qr/"audit_bruteforce" needs "audit_zone"/ ],
    [ "audit_session_keys %%DIR%%/hmac.key;\n server { location /l { audit_login user=email; } }",
                                                qr/invalid parameter "user=email" in "audit_login"/ ],
    [ 'server { location /l { audit_login; } }', qr/"audit_login" needs "audit_session_keys"/ ],
    [ 'server { location /l { audit_logout; } }', qr/"audit_logout" needs "audit_session_keys"/ ],
    [ 'audit_pg "host=127.0.0.1 dbname=audit" batch=0;', qr/invalid parameter "batch=0" in "audit_pg"/ ],
    [ 'audit_pg "host=127.0.0.1" queue=1k;',    qr/invalid parameter "queue=1k" in "audit_pg"/ ],
    [ 'audit_pg "host=127.0.0.1" flush=soon;',  qr/invalid parameter "flush=soon" in "audit_pg"/ ],
    [ 'audit_pg "host=127.0.0.1 nosuchoption=1";', qr/invalid connection string in "audit_pg"/ ],
    # libpq quotes the value it could not parse: the password, here
    [ 'audit_pg "postgresql://audit_writer:S3cr%tPW-pg@127.0.0.1/audit";',
      qr/invalid connection string in "audit_pg": invalid percent-encoded token: "\.\.\."/ ],
    [ 'audit_pg "host=127.0.0.1 dbname=audit Hunter2Secret";',
      qr/invalid connection string in "audit_pg": missing "=" after "\.\.\." in connection info string/ ],
    [ 'audit_pg "host=127.0.0.1";',             qr/"audit_pg" needs "audit_spool"/ ],
    [ 'audit_spool %%DIR%%/nope;',              qr/"audit_spool" directory ".*nope" is not usable/ ],
    [ 'audit_spool %%DIR%% max_size=1k;',       qr/invalid max_size "1k" in "audit_spool"/ ],
    [ 'audit_spool %%DIR%% max=1m;',            qr/invalid parameter "max=1m" in "audit_spool"/ ],
    [ 'server { location /x { audit_record patient $arg_id; } }',
                                                qr/"audit_record" needs "audit_session_keys"/ ],
    [ "audit_session_keys %%DIR%%/hmac.key;\n server { location /x { audit_record patient; } }",
                                                qr/invalid number of arguments in "audit_record"/ ],
);

# the error tracker's directives
push @bad,
    [ 'audit_sentry_dsn https://example.org/3;',       qr/invalid DSN in "audit_sentry_dsn"/ ],
    [ 'audit_sentry_dsn ftp://k@example.org/3;',       qr/invalid DSN in "audit_sentry_dsn"/ ],
    [ 'audit_sentry_dsn http://k@127.0.0.1/abc;',      qr/invalid DSN in "audit_sentry_dsn"/ ],
    [ 'audit_sentry_dsn http://k@no-such-host.invalid/3;', qr/"audit_sentry_dsn" host "no-such-host.invalid" cannot be resolved/ ],
    [ 'audit_sentry_rate 10/week;',                    qr/invalid value "10\/week" in "audit_sentry_rate"/ ],
    [ 'audit_sentry_events everything;',               qr/invalid category "everything" in "audit_sentry_events"/ ],
    [ 'audit_sentry_timeout soon;',                    qr/"audit_sentry_timeout" directive invalid value/ ],
    [ "audit_sentry_dsn https://k\@127.0.0.1/3;\n audit_sentry_trusted_certificate %%DIR%%/none.pem;",
                                                       qr/none\.pem/ ];
push @bad, [ 'server { location /s { audit_status; } }', qr/"audit_status" needs "audit_zone"/ ];

for my $case (@bad) {
    my ($fragment, $want) = @$case;
    $t->write_nginx_conf("    $fragment\n");
    my ($ok, $out) = $t->nginx_test;
    ok(!$ok, "nginx -t fails: $fragment");
    like($out, $want, "... naming the directive") or diag $out;
    unlike($out, qr/S3cr%tPW|Hunter2Secret/, '... without echoing a password') if $fragment =~ /S3cr|Hunter2/;
}

# Errors found once a block is whole (in merge or init_main_conf, where
# nginx's own position is the closing "}") name the line of the directive
# at fault, in the file it is in.
# [ fragment, the line of the directive (a regex), what the error says ]
$t->file('roles.inc', "audit_require_role doctor;\n");
my @where = (
    [ "server {\n        location /x {\n            audit_require_role doctor;\n        }\n    }",
      qr/audit_require_role doctor;/, qr/"audit_require_role" needs "audit_session_keys"/ ],
    [ "server {\n        audit_require_role doctor;\n        location /x { }\n    }",
      qr/audit_require_role doctor;/, qr/"audit_require_role" needs "audit_session_keys"/ ],
    [ "server {\n        location /x {\n            audit_record patient \$arg_id;\n        }\n    }",
      qr/audit_record patient/, qr/"audit_record" needs "audit_session_keys"/ ],
    [ "server {\n        location /l {\n            audit_login;\n        }\n    }",
      qr/audit_login;/, qr/"audit_login" needs "audit_session_keys"/ ],
    [ "server {\n        location /l {\n            audit_logout;\n        }\n    }",
      qr/audit_logout;/, qr/"audit_logout" needs "audit_session_keys"/ ],
    [ "audit_bruteforce 5/5m;\n    server {\n        listen 127.0.0.1:%%PORT%%;\n    }",
      qr/audit_bruteforce 5\/5m;/, qr/"audit_bruteforce" needs "audit_zone"/ ],
    [ "server {\n        location /l {\n            audit_bruteforce 5/5m;\n        }\n    }",
      qr/audit_bruteforce 5\/5m;/, qr/"audit_bruteforce" needs "audit_zone"/ ],
    [ "audit_session_keys %%DIR%%/hmac.key;\n    server {\n        audit_require_role doctor nurse;\n"
      . "        location /patients/ {\n            audit_require_role admin methods=DELETE;\n        }\n    }",
      qr/audit_require_role admin methods=DELETE;/, qr/"audit_require_role" with "methods=" only: a block with roles of its own inherits none/ ],
    [ "audit_session_keys %%DIR%%/hmac.key;\n    server {\n        audit_public on;\n"
      . "        location /patients/ {\n            audit_require_role doctor;\n        }\n    }",
      qr/audit_require_role doctor;/, qr/"audit_require_role" has no effect where "audit_public on" applies/ ],
    [ "audit_session_keys %%DIR%%/hmac.key;\n    server {\n        location /x {\n"
      . "            audit_public on;\n            audit_require_role admin methods=DELETE;\n        }\n    }",
      qr/audit_require_role admin/, qr/"audit_require_role" has no effect where "audit_public on" applies/ ],
    [ "audit_session_keys %%DIR%%/hmac.key;\n    server {\n        location /logout {\n"
      . "            audit_logout;\n        }\n    }",
      qr/audit_logout;/, qr/"audit_logout" needs "audit_zone": without it a logged-out session stays valid/ ],
    [ "audit_pg \"host=127.0.0.1\";\n    server {\n        listen 127.0.0.1:%%PORT%%;\n    }",
      qr/audit_pg /, qr/"audit_pg" needs "audit_spool"/ ],
    [ "audit_session_keys %%DIR%%/hmac.key;\n    audit_session_algorithms RS256;\n"
      . "    server {\n        listen 127.0.0.1:%%PORT%%;\n    }",
      qr/audit_session_algorithms RS256;/, qr/"audit_session_algorithms" allows no algorithm/ ],
);
for my $case (@where) {
    my ($fragment, $directive, $want) = @$case;
    my $conf = $t->write_nginx_conf("    $fragment\n");
    my @lines = $t->log_lines($conf);
    my ($line) = grep { $lines[$_ - 1] =~ $directive } 1 .. @lines;
    my ($ok, $out) = $t->nginx_test;
    ok(!$ok, "nginx -t fails: " . ($fragment =~ s/\s+/ /gr));
    like($out, qr/\[emerg\] .*$want.* in \Q$conf\E:$line$/m,
         "... naming the directive's line ($line), not the block's end")
        or diag $out;
}
{
    my $conf = $t->write_nginx_conf("    server {\n        location /x {\n"
        . "            include %%DIR%%/roles.inc;\n        }\n    }\n");
    my ($ok, $out) = $t->nginx_test;
    ok(!$ok, 'nginx -t fails: audit_require_role from an included file');
    like($out, qr/"audit_require_role" needs .* in \Q${\ $t->dir}\E\/roles\.inc:1$/m,
         '... naming the included file and its line') or diag $out;
}

# libpq's message ends in a newline: the error is still one line
{
    my $conf = $t->write_nginx_conf(qq{    audit_pg "host=127.0.0.1 nosuchoption=1";\n});
    my @lines = $t->log_lines($conf);
    my ($line) = grep { $lines[$_ - 1] =~ /nosuchoption/ } 1 .. @lines;
    my ($ok, $out) = $t->nginx_test;
    ok(!$ok, 'nginx -t fails: a connection string libpq cannot parse');
    like($out, qr/\A(?:nginx: \[emerg\] invalid connection string in "audit_pg": [^\n]*nosuchoption[^\n]* in \Q$conf\E:$line\n)nginx: configuration file \S+ test failed\n\z/,
         '... in one line, with the file and line at its end') or diag $out;
}

# and the good counterpart of each passes
$t->write_nginx_conf(<<'CONF');
    audit_zone audit:1m;
    audit_session_cookie sid;
    audit_session_keys %%DIR%%/hmac.key refresh=60s;
    audit_session_algorithms HS256;
    audit_session_leeway 10s;
    audit_session_issuer https://idp.example;
    audit_session_audience portal;
    audit_session_claims user=sub role=roles session=jti;
    audit_session_revoked %%DIR%%/revoked.txt;
    audit_login_url /login?from=audit;
    audit_log %%DIR%%/audit.jsonl buffer=32k flush=2s;
    audit_pg "host=127.0.0.1 port=1 dbname=audit user=audit_writer" batch=500 flush=1s queue=2m;
    audit_spool %%DIR%% max_size=100m;
    audit_sentry_dsn http://pubkey@127.0.0.1:9/42;
    audit_sentry_environment production;
    audit_sentry_release 1.0;
    audit_sentry_rate 10/m;
    audit_sentry_timeout 2s;
    audit_sentry_events login_failure session_invalid authz_denied bruteforce_suspected;
    audit_authz_log denied;
    audit_scrub mrn insurance_no;
    audit_identity_headers user=X-User role=X-Role;
    server {
        listen 127.0.0.1:%%PORT%%;
        location / { audit_require_role doctor nurse; audit_require_role admin methods=DELETE,PUT; }
        location /login { audit_public on; audit_login username_field=email; audit_bruteforce 5/5m; }
        location /logout { audit_logout; }
        location = /_audit/status { audit_status; audit_require_role admin; }
        location ~ ^/patients/(\d+) { audit_record patient $1; }
        location /open { audit_identity_headers off; }
    }
CONF
my ($ok, $out) = $t->nginx_test;
ok($ok, 'a configuration using every implemented directive passes nginx -t')
    or diag $out;

# more workers than the zone has slots for: a warning naming what they lack
$t->write_nginx_conf("    audit_zone audit:1m;\n", workers => 65);
($ok, $out) = $t->nginx_test;
ok($ok, 'worker_processes 65 with audit_zone passes nginx -t') or diag $out;
like($out, qr/\[warn\].*audit_zone: workers beyond the first 64 of the 65 \(worker_processes\)/,
     '... with a warning that workers past the 64th have no slot in audit_zone');
$t->write_nginx_conf("    audit_zone audit:1m;\n", workers => 64);
($ok, $out) = $t->nginx_test;
unlike($out, qr/workers beyond/, 'no such warning with 64 workers');

$t->stop_all_and_check;
done_testing;
