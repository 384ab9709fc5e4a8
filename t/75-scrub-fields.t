# A credential where a person types or a URI carries a value that is not
# the route: a token pasted as the username of a login, a token where a
# record id stands.  The log and PostgreSQL get "[Filtered]"; a plain
# username and a plain record id stay as they are.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Audit::Test;
use Audit::Token;

my $t = Audit::Test->new;
my $writer = $t->audit_db;

my $secret = 'scrub fields test secret, long enough to be accepted';
$t->file('hmac.key', $secret);
mkdir $t->dir . '/spool' or die "spool: $!";
my $session = Audit::Token::hs256($secret, { sub => 'u-ann', role => 'doctor', sid => 's-ann',
                                             exp => time + 3600 });

# a JWT signed with some other key, and an opaque Bearer token
my $jwt = Audit::Token::hs256('not the portal key', { sub => 'leak', exp => 4102444800 });
my $bearer = 'opaque-b7a2c4e19f0d3a5c8e6b1d2f';
my @parts = ((grep { length > 8 } split /\./, $jwt), $bearer);

my %users = ('ann@clinic.example' => { password => 'correct-horse', user_id => 'u-ann',
                                       role => 'doctor' });

$t->write_nginx_conf(<<'CONF', vars => { CONN => $writer });
    audit_session_keys %%DIR%%/hmac.key;
    audit_log %%DIR%%/audit.jsonl flush=100ms;
    audit_pg "%%CONN%%" batch=50 flush=100ms;
    audit_spool %%DIR%%/spool;
    server {
        listen 127.0.0.1:%%PORT%%;
        location = /login {
            audit_public on;
            audit_login username_field=email;
            proxy_pass http://%%PORTAL%%;
        }
        location /records/ {
            audit_record patient $arg_id;
            proxy_pass http://%%PORTAL%%;
        }
    }
CONF
$t->start_portal(users => \%users);
$t->start_nginx;
my $log = $t->dir . '/audit.jsonl';

my $r = $t->request(POST => '/login', form => { email => $jwt, password => 'x' });
is($r->{status}, 401, 'a token as the username: the portal refuses the login');
$r = $t->request(POST => '/login', form => { email => "Bearer $bearer", password => 'x' });
is($r->{status}, 401, 'a Bearer credential as the username: refused');
$r = $t->request(POST => '/login', form => { email => 'mallory@example.org', password => 'x' });
is($r->{status}, 401, 'a plain unknown username: refused');
$r = $t->request(GET => "/records/view?id=$jwt", cookie => "session=$session");
is($r->{status}, 200, 'a token as the record id: served');
$r = $t->request(GET => '/records/view?id=42', cookie => "session=$session");
is($r->{status}, 200, 'a plain record id: served');

# 3 login_failure, 2 x (authz_check + record_access)
my $want = 3 + 4;
my @ev = $t->wait_events($log, $want, timeout => 10);
is(scalar @ev, $want, "$want events in the log");
my @failures = grep { $_->{action} eq 'login_failure' } @ev;
is_deeply([ map { $_->{attempted_user} } @failures ],
          [ '[Filtered]', 'Bearer [Filtered]', 'mallory@example.org' ],
          'log: attempted_user filtered where it is a credential, kept where it is not');
my @records = grep { $_->{action} eq 'record_access' } @ev;
is_deeply([ map { $_->{resource_id} } @records ], [ '[Filtered]', '42' ],
          'log: resource_id filtered where it is a credential, kept where it is not');
my $text = join "\n", $t->log_lines($log);
is(scalar(grep { index($text, $_) >= 0 } @parts), 0, 'log: no part of either token');

$t->wait_until(sub { $t->psql('SELECT count(*) FROM audit.events', db => 'audit') >= $want },
               timeout => 30, interval => 0.25);
my $db = $t->psql('SELECT e::text FROM audit.events e', db => 'audit');
is(scalar(grep { index($db, $_) >= 0 } @parts), 0, 'PostgreSQL: no part of either token');
is($t->psql("SELECT string_agg(resource_id, ',' ORDER BY resource_id) FROM audit.events"
            . " WHERE action = 'record_access'", db => 'audit'),
   '42,[Filtered]', 'PostgreSQL: the record ids as the log has them');

$t->stop_all_and_check;
done_testing;
