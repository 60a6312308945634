/*
 * Tests of conf/: a table of config texts and the error each must give (or
 * none), then structural checks of parsed configs, the shipped example and
 * the file reader.  Run from the project root (the example is read from
 * conf/oaiharvest.conf).
 */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf.h"
#include "harvest.h"
#include "oh_limits.h"
#include "settings.h"
#include "util.h"

/* Lines 1 and 2 of many cases: a valid source to add keys to. */
#define SRC "[source nur]\nurl = https://nur.nu.edu.kz/oai/request\n"
#define G   "[global]\n"

struct conf_case {
	const char *name;
	const char *text;
	const char *error; /* substring of the cause, or NULL */
};

static const struct conf_case cases[] = {
	/* Well-formed files. */
	{ "empty file", "", NULL },
	{ "only comments and blanks", "# a\n; b\n\n   \n\t# c\n", NULL },
	{ "global only", G "max_concurrent = 2\n", NULL },
	{ "minimal source", SRC, NULL },
	{ "section header comment",
	    "[global] ; main\n[source nur] # x\n"
	    "url = http://a.example/oai\n",
	    NULL },
	{ "inline comment", SRC "interval = 6h ; four a day\n", NULL },
	{ "hash is no inline comment", SRC "interval = 6h # x\n",
	    "t.conf:3: source \"nur\": interval: unknown unit" },
	{ "indented keys",
	    "[source nur]\n  url = http://a.example/oai\n"
	    "\tinterval = 2d\n",
	    NULL },
	{ "spaces in header", "[ source   nur ]\nurl = http://a.example/\n",
	    NULL },
	{ "global after sources", SRC G "delay = 2s\n", NULL },
	{ "name of 64",
	    "[source "
	    "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij"
	    "_.-9]\nurl = http://a.example/\n",
	    NULL },

	/* Sections. */
	{ "key before section", "database = /x\n[global]\n",
	    "t.conf:1: key \"database\" outside a section" },
	{ "unknown section", "# hi\n[globals]\n",
	    "t.conf:2: unknown section [globals]" },
	{ "source without name", "[source]\n",
	    "t.conf:1: source section needs a name" },
	{ "sourcex is unknown", "[sourcex]\n",
	    "t.conf:1: unknown section [sourcex]" },
	{ "bad source name", "[source a/b]\n",
	    "t.conf:1: invalid source name \"a/b\"" },
	{ "source name of 65",
	    "[source "
	    "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij"
	    "_.-9x]\n",
	    "t.conf:1: invalid source name" },
	{ "source name with blank", "[source a b]\n",
	    "t.conf:1: invalid source name \"a b\"" },
	{ "duplicate source", SRC "\n[source nur]\n",
	    "t.conf:4: duplicate source \"nur\" (first on line 1)" },
	{ "duplicate global", G "[source a]\nurl = http://a.example/\n" G,
	    "t.conf:4: duplicate [global] section (first on line 1)" },
	{ "missing bracket", "[global\n", "t.conf:1: missing ']'" },
	{ "text after bracket", "[global] x\n",
	    "t.conf:1: unexpected text after ']'" },
	{ "missing url", "[source nur]\ninterval = 1d\n",
	    "t.conf:1: source \"nur\": missing required key \"url\"" },
	{ "missing url before another source",
	    "# one\n[source a]\ninterval = 1d\n" SRC "interval = 1x\n",
	    "t.conf:2: source \"a\": missing required key \"url\"" },

	/* Keys. */
	{ "unknown global key", G "databse = /x\n",
	    "t.conf:2: unknown key \"databse\"" },
	{ "source key in global", G "url = http://a.example/\n",
	    "t.conf:2: unknown key \"url\" (it belongs in a [source NAME]" },
	{ "global key in source", SRC "max_concurrent = 2\n",
	    "t.conf:3: source \"nur\": unknown key \"max_concurrent\" (it "
	    "belongs in [global])" },
	{ "unknown source key", SRC "intervall = 1d\n",
	    "t.conf:3: source \"nur\": unknown key \"intervall\"" },
	{ "keys are case-sensitive", SRC "URL = http://a.example/\n",
	    "t.conf:3: source \"nur\": unknown key \"URL\"" },
	{ "duplicate source key", SRC "interval = 1d\ninterval = 2d\n",
	    "t.conf:4: source \"nur\": duplicate key \"interval\" (first on "
	    "line 3)" },
	{ "duplicate url", SRC "url = http://b.example/\n",
	    "t.conf:3: source \"nur\": duplicate key \"url\" (first on line "
	    "2)" },
	{ "duplicate global key", G "database = /a\ndatabase = /b\n",
	    "t.conf:3: duplicate key \"database\" (first on line 2)" },
	{ "empty value", "[source nur]\nurl =\n",
	    "t.conf:2: source \"nur\": url: empty value" },
	{ "empty after comment", G "database = ; nothing\n",
	    "t.conf:2: database: empty value" },
	{ "no equals sign", G "just words\n",
	    "t.conf:2: expected \"key = value\"" },
	{ "comment before equals", G "database ; = /x\n",
	    "t.conf:2: expected \"key = value\"" },
	{ "missing key", G "= /x\n", "t.conf:2: missing key before '='" },
	{ "control character", G "database = /a\001b\n",
	    "t.conf:2: control character 0x01" },
	{ "bare CR inside line", G "database = /a\rb\n",
	    "t.conf:2: control character 0x0d" },

	/* [global] values. */
	{ "database", G "database = /srv/h.db\n", NULL },
	{ "user_agent", G "user_agent = bot/1.0 (+https://x.example/)\n",
	    NULL },
	{ "user_agent not ASCII", G "user_agent = caf\xc3\xa9\n",
	    "t.conf:2: user_agent: invalid byte 0xc3" },
	{ "ca_file", G "ca_file = /etc/ssl/certs/ca-certificates.crt\n", NULL },
	{ "contact", G "contact = harvest-admin+oai@lib.example.org\n", NULL },
	{ "contact no at", G "contact = admin\n",
	    "t.conf:2: contact: not an e-mail address" },
	{ "contact no dot", G "contact = admin@localhost\n",
	    "t.conf:2: contact: not an e-mail address" },
	{ "contact display name", G "contact = Admin <a@b.example>\n",
	    "t.conf:2: contact: not an e-mail address" },
	{ "contact two at", G "contact = a@b@c.example\n",
	    "t.conf:2: contact: not an e-mail address" },
	{ "contact empty label", G "contact = a@b..example\n",
	    "t.conf:2: contact: not an e-mail address" },
	{ "max_concurrent bounds", G "max_concurrent = 1000\n", NULL },
	{ "max_concurrent zero", G "max_concurrent = 0\n",
	    "t.conf:2: max_concurrent: too small (1 to 1000)" },
	{ "max_concurrent 1001", G "max_concurrent = 1001\n",
	    "t.conf:2: max_concurrent: too large (1 to 1000)" },
	{ "leases", G "leases = yes\nlease_ttl = 3s\nnode_name = h-1\n", NULL },
	{ "lease_ttl short", G "lease_ttl = 2s\n",
	    "t.conf:2: lease_ttl: out of range (3s to 1h)" },
	{ "node_name control", G "node_name = a\tb\n",
	    "t.conf:2: node_name: invalid byte 0x09 (printable ASCII only)" },
	{ "max_concurrent text", G "max_concurrent = 4x\n",
	    "t.conf:2: max_concurrent: not a number" },
	{ "global delay ms", G "delay = 500ms\n", NULL },
	{ "global delay zero", G "delay = 0\n", NULL },
	{ "global delay unit", G "delay = 5y\n",
	    "t.conf:2: delay: unknown unit (use ms, s, m, h, d or w)" },
	{ "global delay too long", G "delay = 2h\n",
	    "t.conf:2: delay: out of range (0 to 1h)" },
	{ "global delay negative", G "delay = -1s\n",
	    "t.conf:2: delay: out of range (0 to 1h)" },
	{ "global delay garbage", G "delay = 1.5s\n",
	    "t.conf:2: delay: not a duration" },
	{ "timeout", G "timeout = 30m\n", NULL },
	{ "timeout zero", G "timeout = 0s\n",
	    "t.conf:2: timeout: out of range (1s to 30m)" },
	{ "timeout too long", G "timeout = 31m\n",
	    "t.conf:2: timeout: out of range (1s to 30m)" },
	{ "timeout in ms", G "timeout = 1500ms\n",
	    "t.conf:2: timeout: whole seconds only" },
	{ "status_listen", G "status_listen = 127.0.0.1:9000\n", NULL },
	{ "retry_after_max", G "retry_after_max = 10m\n", NULL },
	{ "retry_after_max too long", G "retry_after_max = 2h\n",
	    "t.conf:2: retry_after_max: out of range (1s to 1h)" },
	{ "status_listen v6", G "status_listen = [::1]:0\n", NULL },
	{ "status_listen off", G "status_listen = off\n", NULL },
	{ "status_listen no port", G "status_listen = 127.0.0.1\n",
	    "t.conf:2: status_listen: not host:port (or off)" },
	{ "status_listen bad port", G "status_listen = 127.0.0.1:70000\n",
	    "t.conf:2: status_listen: port too large" },
	{ "status_listen bad host", G "status_listen = a/b:80\n",
	    "t.conf:2: status_listen: " },
	{ "changes_log", G "changes_log = /var/lib/oaiharvest/changes.jsonl\n",
	    NULL },
	{ "status_token_file", G "status_token_file = /etc/oaiharvest/tok\n",
	    NULL },
	{ "changes_nats", G "changes_nats = nats://127.0.0.1:4222\n", NULL },
	{ "changes_nats v6 with user",
	    G "changes_nats = tls://u:p@[::1]:4443\n", NULL },
	{ "changes_nats token no port", G "changes_nats = nats://t0k3n@nats\n",
	    NULL },
	{ "changes_nats http", G "changes_nats = http://127.0.0.1:4222\n",
	    "t.conf:2: changes_nats: must start with nats:// or tls://" },
	{ "changes_nats path", G "changes_nats = nats://h:4222/x\n",
	    "t.conf:2: changes_nats: invalid character '/' (one server, no "
	    "path)" },
	{ "changes_nats no host", G "changes_nats = nats://u:secret@\n",
	    "t.conf:2: changes_nats: has no host" },
	{ "changes_nats bad port", G "changes_nats = nats://h:99999\n",
	    "t.conf:2: changes_nats: invalid port" },
	{ "changes_nats_subject", G "changes_nats_subject = oai.feed-1\n",
	    NULL },
	{ "changes_nats_subject wildcard", G "changes_nats_subject = a.*\n",
	    "t.conf:2: changes_nats_subject: invalid character '*' (tokens of "
	    "A-Z a-z 0-9 _ - joined by dots)" },
	{ "changes_nats_subject empty token", G "changes_nats_subject = a..b\n",
	    "t.conf:2: changes_nats_subject: invalid character '.' (tokens of "
	    "A-Z a-z 0-9 _ - joined by dots)" },
	{ "status_hosts",
	    G "status_hosts = a.example, B.example [fd00::1]\n"
	      "status_host = 10.0.0.1\n",
	    NULL },
	{ "status_hosts with a port", G "status_hosts = a.example:8470\n",
	    "t.conf:2: status_hosts: host \"a.example:8470\": invalid "
	    "character ':'" },
	{ "status_hosts twice", G "status_hosts = a.example a.example\n",
	    "t.conf:2: status_hosts: host \"a.example\" listed twice" },
	{ "status_hosts bad v6", G "status_hosts = [fd00::1\n",
	    "t.conf:2: status_hosts: host \"[fd00::1\": unterminated IPv6 "
	    "address" },
	{ "status_hosts slash", G "status_hosts = a/b\n",
	    "t.conf:2: status_hosts: host \"a/b\": invalid character '/'" },
	{ "reconcile", SRC "reconcile = 7d\n", NULL },
	{ "reconcile off", SRC "reconcile = 0\n", NULL },
	{ "reconcile bad", SRC "reconcile = often\n",
	    "t.conf:3: source \"nur\": reconcile: " },
	{ "overlap", SRC "overlap = 10m\n", NULL },
	{ "window", SRC "window = month\nwindow_min = 6h\n", NULL },
	{ "window none", SRC "window = None\n", NULL },
	{ "follow_redirects", SRC "follow_redirects = any\n", NULL },
	{ "follow_redirects bad", SRC "follow_redirects = anywhere\n",
	    "t.conf:3: source \"nur\": follow_redirects: not a redirect "
	    "policy (same-host or any)" },
	{ "window bad", SRC "window = week\n",
	    "t.conf:3: source \"nur\": window: not a window (none, year, "
	    "month or day)" },
	{ "window_min zero", SRC "window_min = 0\n",
	    "t.conf:3: source \"nur\": window_min: out of range" },
	{ "overlap too long", SRC "overlap = 8d\n",
	    "t.conf:3: source \"nur\": overlap: out of range" },
	{ "max_response_bytes", G "max_response_bytes = 64M\n", NULL },
	{ "max_response_bytes plain", G "max_response_bytes = 1024\n", NULL },
	{ "max_response_bytes small", G "max_response_bytes = 1023\n",
	    "t.conf:2: max_response_bytes: out of range (1K to 256M)" },
	{ "max_response_bytes large", G "max_response_bytes = 1G\n",
	    "t.conf:2: max_response_bytes: out of range (1K to 256M)" },
	{ "max_response_bytes unit", G "max_response_bytes = 64MB\n",
	    "t.conf:2: max_response_bytes: not a size" },
	{ "max_response_bytes huge",
	    G "max_response_bytes = 99999999999999999999G\n",
	    "t.conf:2: max_response_bytes: out of range" },

	/* url. */
	{ "url with port", "[source a]\nurl = https://a.example:8443/oai\n",
	    NULL },
	{ "url IPv6", "[source a]\nurl = http://[::1]:8080/oai\n", NULL },
	{ "url upper-case scheme", "[source a]\nurl = HTTPS://a.example/\n",
	    NULL },
	{ "url ftp", "[source a]\nurl = ftp://a.example/oai\n",
	    "t.conf:2: source \"a\": url: must start with http:// or "
	    "https://" },
	{ "url query", "[source a]\nurl = http://a.example/oai?verb=x\n",
	    "t.conf:2: source \"a\": url: must not contain '?'" },
	{ "url fragment", "[source a]\nurl = http://a.example/oai#x\n",
	    "t.conf:2: source \"a\": url: must not contain '#'" },
	{ "url no host", "[source a]\nurl = http:///oai\n",
	    "t.conf:2: source \"a\": url: has no host" },
	{ "url only scheme", "[source a]\nurl = https://\n",
	    "t.conf:2: source \"a\": url: has no host" },
	{ "url userinfo no host", "[source a]\nurl = http://u@:80/\n",
	    "t.conf:2: source \"a\": url: has no host" },
	{ "url blank", "[source a]\nurl = http://a.example/o ai\n",
	    "t.conf:2: source \"a\": url: invalid byte 0x20" },
	{ "url bad port", "[source a]\nurl = http://a.example:99999/\n",
	    "t.conf:2: source \"a\": url: invalid port" },
	{ "url empty port", "[source a]\nurl = http://a.example:/\n",
	    "t.conf:2: source \"a\": url: invalid port" },

	/* Lists. */
	{ "prefixes", SRC "metadata_prefix = oai_dc, mods marcxml\n", NULL },
	{ "prefix alias", SRC "metadata_prefixes = oai_dc,mods\n", NULL },
	{ "prefix with unreserved",
	    SRC "metadata_prefix = a-b_c.d!e~f*g'h(i)\n", NULL },
	{ "prefix bad char", SRC "metadata_prefix = oai/dc\n",
	    "t.conf:3: source \"nur\": metadata_prefix: metadata prefix "
	    "\"oai/dc\": invalid character '/'" },
	{ "prefix colon", SRC "metadata_prefix = oai:dc\n",
	    "t.conf:3: source \"nur\": metadata_prefix: metadata prefix "
	    "\"oai:dc\": invalid character ':'" },
	{ "prefix twice in a line", SRC "metadata_prefix = oai_dc, oai_dc\n",
	    "t.conf:3: source \"nur\": metadata_prefix: metadata prefix "
	    "\"oai_dc\" listed twice (first on line 3)" },
	{ "prefix twice across lines",
	    SRC "metadata_prefix = oai_dc\n"
		"metadata_prefixes = mods oai_dc\n",
	    "t.conf:4: source \"nur\": metadata_prefixes: metadata prefix "
	    "\"oai_dc\" listed twice (first on line 3)" },
	{ "prefix empty entry", SRC "metadata_prefix = oai_dc,,mods\n",
	    "t.conf:3: source \"nur\": metadata_prefix: empty metadata prefix "
	    "in list" },
	{ "prefix trailing comma", SRC "metadata_prefix = oai_dc,\n",
	    "t.conf:3: source \"nur\": metadata_prefix: empty metadata "
	    "prefix" },
	{ "prefix leading comma", SRC "metadata_prefix = , oai_dc\n",
	    "t.conf:3: source \"nur\": metadata_prefix: empty metadata "
	    "prefix" },
	{ "same prefix in two sources",
	    SRC "metadata_prefix = mods\n"
		"[source b]\nurl = http://b.example/\nmetadata_prefix = mods\n",
	    NULL },
	{ "sets", SRC "set = col_1:sub, com_1\nsets = a:b:c\n", NULL },
	{ "set double colon", SRC "set = a::b\n",
	    "t.conf:3: source \"nur\": set: setSpec \"a::b\": empty part" },
	{ "set leading colon", SRC "sets = :a\n",
	    "t.conf:3: source \"nur\": sets: setSpec \":a\": empty part" },
	{ "set trailing colon", SRC "set = a:\n",
	    "t.conf:3: source \"nur\": set: setSpec \"a:\": empty part" },
	{ "set bad char", SRC "set = a%20b\n",
	    "t.conf:3: source \"nur\": set: setSpec \"a%20b\": invalid "
	    "character '%'" },
	{ "set twice by alias", SRC "sets = a\nset = b, a\n",
	    "t.conf:4: source \"nur\": set: setSpec \"a\" listed twice "
	    "(first on line 3)" },

	/* Other [source] values. */
	{ "interval", SRC "interval = 2w\n", NULL },
	{ "interval bare seconds", SRC "interval = 3600\n", NULL },
	{ "interval unit", SRC "interval = 6x\n",
	    "t.conf:3: source \"nur\": interval: unknown unit (use s, m, h, d "
	    "or w)" },
	{ "interval short", SRC "interval = 0s\n",
	    "t.conf:3: source \"nur\": interval: out of range (1s to 365d)" },
	{ "interval long", SRC "interval = 366d\n",
	    "t.conf:3: source \"nur\": interval: out of range (1s to 365d)" },
	{ "interval negative", SRC "interval = -1h\n",
	    "t.conf:3: source \"nur\": interval: out of range" },
	{ "interval word", SRC "interval = daily\n",
	    "t.conf:3: source \"nur\": interval: unknown unit" },
	{ "interval fraction", SRC "interval = 1.5h\n",
	    "t.conf:3: source \"nur\": interval: not a duration" },
	{ "from day", SRC "from = 2020-01-01\n", NULL },
	{ "from seconds", SRC "from = 2020-01-01T12:30:00Z\n", NULL },
	{ "from bad month", SRC "from = 2020-13-01\n",
	    "t.conf:3: source \"nur\": from: not a datestamp" },
	{ "from local time", SRC "from = 2020-01-01T12:30:00\n",
	    "t.conf:3: source \"nur\": from: not a datestamp" },
	{ "until bad", SRC "until = yesterday\n",
	    "t.conf:3: source \"nur\": until: not a datestamp" },
	{ "from before until", SRC "from = 2020-01-01\nuntil = 2021-01-01\n",
	    NULL },
	{ "from equals until", SRC "from = 2020-01-01\nuntil = 2020-01-01\n",
	    NULL },
	{ "from seconds within until day",
	    SRC "until = 2020-01-01\nfrom = 2020-01-01T23:00:00Z\n", NULL },
	{ "from after until",
	    SRC "until = 2020-01-01\n# x\n"
		"from = 2020-01-02\ninterval = 1d\n",
	    "t.conf:5: source \"nur\": from (2020-01-02) is later than until "
	    "(2020-01-01)" },
	{ "from after until seconds",
	    SRC "from = 2020-01-01T10:00:01Z\n"
		"until = 2020-01-01T10:00:00Z\n",
	    "t.conf:4: source \"nur\": from (2020-01-01T10:00:01Z) is later" },
	{ "source delay", SRC "delay = 250ms\n", NULL },
	{ "source delay unit", SRC "delay = 2 s\n",
	    "t.conf:3: source \"nur\": delay: not a duration" },
	{ "source delay too long", SRC "delay = 61m\n",
	    "t.conf:3: source \"nur\": delay: out of range (0 to 1h)" },
	{ "enabled no", SRC "enabled = NO\n", NULL },
	{ "enabled 1", SRC "enabled = 1\n", NULL },
	{ "enabled maybe", SRC "enabled = maybe\n",
	    "t.conf:3: source \"nur\": enabled: not a boolean" },
	{ "enabled twice", SRC "enabled = yes\nenabled = no\n",
	    "t.conf:4: source \"nur\": duplicate key \"enabled\"" },
	{ "first error wins", SRC "interval = 1x\nenabled = maybe\n",
	    "t.conf:3: source \"nur\": interval" },
};

/* A full valid config, checked field by field below. */
static const char full_conf[] = "# full\n"
				"[global]\n"
				"database = /srv/oai/h.db\n"
				"user_agent = test-agent/1.0\n"
				"contact = admin@example.org ; From:\n"
				"ca_file = /etc/ca.pem\n"
				"max_concurrent = 8\n"
				"delay = 750ms\n"
				"timeout = 10m\n"
				"max_response_bytes = 64M\n"
				"\n"
				"[source nur]\n"
				"url = https://nur.nu.edu.kz/oai/request\n"
				"\n"
				"[source two]\n"
				"url = http://two.example/oai\n"
				"metadata_prefix = oai_dc, mods\n"
				"metadata_prefixes = marcxml\n"
				"set = a:b c\n"
				"sets = d\n"
				"interval = 6h\n"
				"from = 2020-01-01\n"
				"until = 2020-06-30T00:00:00Z\n"
				"delay = 2s\n"
				"window = year\n"
				"window_min = 2h\n"
				"follow_redirects = Any\n"
				"enabled = false\n";

static void
test_case(void **state)
{
	const struct conf_case *c = *state;
	struct conf	       *conf;
	char		       *cause = (char *)1;

	conf = conf_parse(c->text, "t.conf", &cause);
	if (c->error == NULL) {
		if (conf == NULL)
			fail_msg("%s: unexpected error: %s", c->name, cause);
		assert_null(cause);
		conf_free(conf);
		return;
	}
	if (conf != NULL)
		fail_msg("%s: accepted, expected \"%s\"", c->name, c->error);
	assert_non_null(cause);
	if (strstr(cause, c->error) == NULL)
		fail_msg("%s: got \"%s\", expected \"%s\"", c->name, cause,
		    c->error);
	free(cause);
}

static void
test_full(void **state __unused)
{
	struct conf		 *c;
	const struct conf_source *s;
	char			 *cause = NULL;

	c = conf_parse(full_conf, "full.conf", &cause);
	if (c == NULL)
		fail_msg("%s", cause);
	assert_string_equal(c->path, "full.conf");
	assert_string_equal(c->database, "/srv/oai/h.db");
	assert_string_equal(c->user_agent, "test-agent/1.0");
	assert_string_equal(c->contact, "admin@example.org");
	assert_string_equal(c->ca_file, "/etc/ca.pem");
	assert_int_equal(c->max_concurrent, 8);
	assert_int_equal(c->delay_ms, 750);
	assert_int_equal(c->timeout, 600);
	assert_int_equal(c->max_response_bytes, 64 * 1024 * 1024);
	assert_int_equal(c->nsources, 2);

	s = &c->sources[0];
	assert_string_equal(s->name, "nur");
	assert_string_equal(s->url, "https://nur.nu.edu.kz/oai/request");
	assert_int_equal(s->nprefixes, 1);
	assert_string_equal(s->prefixes[0], "oai_dc");
	assert_int_equal(s->nsets, 0);
	assert_null(s->sets);
	assert_int_equal(s->interval, 86400);
	assert_null(s->from);
	assert_null(s->until);
	assert_int_equal(s->delay_ms, -1); /* inherits 750 */
	assert_int_equal(s->enabled, 1);
	assert_int_equal(s->window, 0);
	assert_int_equal(s->window_min, 86400);
	assert_int_equal(s->follow_redirects, 0);
	assert_int_equal(s->line, 12);

	s = &c->sources[1];
	assert_string_equal(s->name, "two");
	assert_string_equal(s->url, "http://two.example/oai");
	assert_int_equal(s->nprefixes, 3);
	assert_string_equal(s->prefixes[0], "oai_dc");
	assert_string_equal(s->prefixes[1], "mods");
	assert_string_equal(s->prefixes[2], "marcxml");
	assert_int_equal(s->nsets, 3);
	assert_string_equal(s->sets[0], "a:b");
	assert_string_equal(s->sets[1], "c");
	assert_string_equal(s->sets[2], "d");
	assert_int_equal(s->interval, 6 * 3600);
	assert_string_equal(s->from, "2020-01-01");
	assert_string_equal(s->until, "2020-06-30T00:00:00Z");
	assert_int_equal(s->delay_ms, 2000);
	assert_int_equal(s->window, 1);
	assert_int_equal(s->window_min, 7200);
	assert_int_equal(s->follow_redirects, 1);
	assert_int_equal(s->enabled, 0);
	assert_int_equal(s->line, 15);

	assert_ptr_equal(conf_source_find(c, "two"), &c->sources[1]);
	assert_ptr_equal(conf_source_find(c, "nur"), &c->sources[0]);
	assert_null(conf_source_find(c, "three"));
	conf_free(c);
}

static void
test_defaults(void **state __unused)
{
	struct conf *c;
	char	    *cause = NULL;

	c = conf_parse("", "empty.conf", &cause);
	assert_non_null(c);
	assert_null(cause);
	assert_string_equal(c->path, "empty.conf");
	assert_string_equal(c->database, CONF_DEFAULT_DB);
	assert_null(c->user_agent);
	assert_null(c->contact);
	assert_null(c->ca_file);
	assert_int_equal(c->max_concurrent, 4);
	assert_int_equal(c->delay_ms, 1000);
	assert_int_equal(c->timeout, REQUEST_TIMEOUT);
	assert_int_equal(c->max_response_bytes, MAX_RESPONSE_BYTES);
	assert_int_equal(c->retries, MAX_REQUEST_TRIES - 1);
	assert_int_equal(c->retry_wait_ms, BACKOFF_BASE * 1000);
	assert_int_equal(c->nsources, 0);
	assert_null(conf_source_find(c, "nur"));
	conf_free(c);
	conf_free(NULL);
}

/* Lists split on commas and blanks, and repeated keys append. */
static void
test_lists(void **state __unused)
{
	struct conf		 *c;
	const struct conf_source *s;
	char			 *cause = NULL;

	c = conf_parse(SRC "metadata_prefix = a,b , c\td\n"
			   "metadata_prefixes =e\n"
			   "set=x\n"
			   "sets = y:z  ,w\n",
	    "t.conf", &cause);
	if (c == NULL)
		fail_msg("%s", cause);
	s = conf_source_find(c, "nur");
	assert_non_null(s);
	assert_int_equal(s->nprefixes, 5);
	assert_string_equal(s->prefixes[0], "a");
	assert_string_equal(s->prefixes[1], "b");
	assert_string_equal(s->prefixes[2], "c");
	assert_string_equal(s->prefixes[3], "d");
	assert_string_equal(s->prefixes[4], "e");
	assert_int_equal(s->nsets, 3);
	assert_string_equal(s->sets[0], "x");
	assert_string_equal(s->sets[1], "y:z");
	assert_string_equal(s->sets[2], "w");
	conf_free(c);
}

/* Many items: the duplicate check must stay linear. */
static void
test_long_list(void **state __unused)
{
	struct buf   b;
	struct conf *c;
	char	    *cause = NULL;
	int	     i;

	buf_init(&b, MAX_CONF_BYTES);
	assert_int_equal(buf_addstr(&b, SRC), 0);
	for (i = 0; i < 20000; i++)
		assert_int_equal(
		    buf_printf(&b, "%s%d", i % 100 == 0 ? "\nset = " : ", ", i),
		    0);
	assert_int_equal(buf_printf(&b, "\nsets = s 17\n"), 0);
	c = conf_parse(buf_str(&b), "t.conf", &cause);
	assert_null(c);
	assert_non_null(cause);
	assert_string_equal(cause,
	    "t.conf:204: source \"nur\": sets: "
	    "setSpec \"17\" listed twice (first on line 4)");
	free(cause);
	buf_free(&b);
}

static void
test_shipped_example(void **state __unused)
{
	struct conf		 *c;
	const struct conf_source *s;
	char			 *cause = NULL;

	c = conf_load("conf/oaiharvest.conf", &cause);
	if (c == NULL)
		fail_msg("%s", cause);
	assert_null(cause);
	assert_string_equal(c->path, "conf/oaiharvest.conf");
	assert_string_equal(c->database, CONF_DEFAULT_DB);
	assert_int_equal(c->nsources, 1);
	s = conf_source_find(c, "nur");
	assert_non_null(s);
	assert_string_equal(s->url, "https://nur.nu.edu.kz/oai/request");
	assert_int_equal(s->nprefixes, 1);
	assert_string_equal(s->prefixes[0], "oai_dc");
	assert_int_equal(s->nsets, 0);
	assert_int_equal(s->interval, 86400);
	assert_true(s->delay_ms >= 1000);
	/* Installed as /etc/oaiharvest/oaiharvest.conf: harvests nothing. */
	assert_int_equal(s->enabled, 0);
	conf_free(c);
}

/*
 * The commented-out second source of the example must be valid too once
 * uncommented: strip the leading ';' of its lines and parse again.
 */
static void
test_shipped_example_second(void **state __unused)
{
	struct conf		 *c;
	const struct conf_source *s;
	struct buf		  b;
	FILE			 *f;
	char			  line[1024], *cause = NULL;
	int			  in = 0;

	f = fopen("conf/oaiharvest.conf", "r");
	assert_non_null(f);
	buf_init(&b, MAX_CONF_BYTES);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, ";[source", 8) == 0)
			in = 1;
		assert_int_equal(
		    buf_addstr(&b,
			in && line[0] == ';' && line[1] != ';' ? line + 1 :
								 line),
		    0);
	}
	fclose(f);
	assert_int_equal(in, 1);
	c = conf_parse(buf_str(&b), "example", &cause);
	if (c == NULL)
		fail_msg("%s", cause);
	assert_int_equal(c->nsources, 2);
	s = &c->sources[1];
	assert_int_equal(s->nprefixes, 2);
	assert_true(s->nsets >= 2);
	conf_free(c);
	buf_free(&b);
}

/* Write len bytes of text to a temporary file; return its path. */
static char *
write_temp(const char *text, size_t len)
{
	char *path;
	int   fd;

	path = xstrdup("/tmp/test_conf.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd != -1);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
	return path;
}

static void
test_missing_file(void **state __unused)
{
	struct conf *c;
	char	    *cause = NULL;

	c = conf_load("/nonexistent/oaiharvest.conf", &cause);
	assert_null(c);
	assert_string_equal(cause,
	    "/nonexistent/oaiharvest.conf: cannot "
	    "open: No such file or directory");
	free(cause);
}

static void
test_directory(void **state __unused)
{
	struct conf *c;
	char	    *cause = NULL;

	c = conf_load("/tmp", &cause);
	assert_null(c);
	assert_non_null(strstr(cause, "/tmp: cannot read: "));
	free(cause);
}

static void
test_oversized(void **state __unused)
{
	struct conf *c;
	char	    *text, *path, *cause = NULL;
	size_t	     i, len = MAX_CONF_BYTES + 1;

	/* One byte too many, all of it a comment. */
	text = xmalloc(len + 1);
	memset(text, '#', len);
	text[len] = '\0';
	path = write_temp(text, len);
	c = conf_load(path, &cause);
	assert_null(c);
	assert_non_null(strstr(cause, ": file too large"));
	assert_int_equal(strncmp(cause, path, strlen(path)), 0);
	free(cause);
	unlink(path);
	free(path);

	c = conf_parse(text, "big", &cause);
	assert_null(c);
	assert_non_null(strstr(cause, "big: file too large"));
	free(cause);

	/* Exactly the limit is fine: comment lines of 100 bytes. */
	len = MAX_CONF_BYTES;
	memset(text, '#', len);
	for (i = 99; i < len; i += 100)
		text[i] = '\n';
	text[len] = '\0';
	path = write_temp(text, len);
	c = conf_load(path, &cause);
	if (c == NULL)
		fail_msg("%s", cause);
	conf_free(c);
	unlink(path);
	free(path);
	free(text);
}

static void
test_too_many_sources(void **state __unused)
{
	struct buf   b;
	struct conf *c;
	char	    *cause = NULL;
	int	     i;

	buf_init(&b, MAX_CONF_BYTES);
	for (i = 0; i < MAX_CONF_SOURCES; i++)
		assert_int_equal(
		    buf_printf(&b, "[source %x]\nurl=http://h/\n", i), 0);
	c = conf_parse(buf_str(&b), "many", &cause);
	if (c == NULL)
		fail_msg("%s", cause);
	assert_int_equal(c->nsources, MAX_CONF_SOURCES);
	assert_non_null(conf_source_find(c, "1"));
	conf_free(c);

	assert_int_equal(buf_printf(&b, "[source last]\nurl=http://h/\n"), 0);
	c = conf_parse(buf_str(&b), "many", &cause);
	assert_null(c);
	assert_non_null(cause);
	assert_non_null(strstr(cause, "many:200001: too many sources"));
	free(cause);
	buf_free(&b);
}

static void
test_long_lines(void **state __unused)
{
	struct buf   b;
	struct conf *c;
	char	    *cause = NULL;
	int	     i;

	/* A base URL of exactly MAX_URL_LEN bytes. */
	buf_init(&b, MAX_CONF_BYTES);
	buf_addstr(&b, "[source a]\nurl = http://a.example/");
	for (i = strlen("http://a.example/"); i < MAX_URL_LEN; i++)
		buf_addch(&b, 'x');
	buf_addstr(&b, " ; long\n");
	c = conf_parse(buf_str(&b), "t.conf", &cause);
	if (c == NULL)
		fail_msg("%s", cause);
	assert_int_equal(strlen(c->sources[0].url), MAX_URL_LEN);
	conf_free(c);

	/* One more is too long for a URL. */
	b.len -= strlen(" ; long\n");
	buf_addstr(&b, "y\n");
	c = conf_parse(buf_str(&b), "t.conf", &cause);
	assert_null(c);
	assert_non_null(strstr(cause,
	    "t.conf:2: source \"a\": url: longer "
	    "than 8192 bytes"));
	free(cause);

	/* A metadataPrefix longer than MAX_ID_LEN. */
	buf_reset(&b);
	buf_addstr(&b, SRC "metadata_prefix = ");
	for (i = 0; i <= MAX_ID_LEN; i++)
		buf_addch(&b, 'p');
	c = conf_parse(buf_str(&b), "t.conf", &cause);
	assert_null(c);
	assert_non_null(strstr(cause,
	    "t.conf:3: source \"nur\": "
	    "metadata_prefix: metadata prefix longer than 2048 bytes"));
	free(cause);

	/* A line longer than any value may be. */
	buf_reset(&b);
	buf_addstr(&b, G "user_agent = ");
	for (i = 0; i < 4 * MAX_URL_LEN; i++)
		buf_addch(&b, 'u');
	buf_addstr(&b, "\ndatabase = /x\n");
	c = conf_parse(buf_str(&b), "t.conf", &cause);
	assert_null(c);
	assert_non_null(strstr(cause, "t.conf:2: line longer than"));
	free(cause);
	buf_free(&b);
}

/* CRLF line ends give the same result and the same line numbers. */
static void
test_crlf(void **state __unused)
{
	struct buf   b;
	struct conf *c;
	const char  *s;
	char	    *cause = NULL;

	buf_init(&b, MAX_CONF_BYTES);
	for (s = full_conf; *s != '\0'; s++) {
		if (*s == '\n')
			buf_addch(&b, '\r');
		buf_addch(&b, *s);
	}
	c = conf_parse(buf_str(&b), "crlf.conf", &cause);
	if (c == NULL)
		fail_msg("%s", cause);
	assert_string_equal(c->database, "/srv/oai/h.db");
	assert_string_equal(c->contact, "admin@example.org");
	assert_int_equal(c->nsources, 2);
	assert_string_equal(c->sources[1].name, "two");
	assert_string_equal(c->sources[1].url, "http://two.example/oai");
	assert_string_equal(c->sources[1].prefixes[2], "marcxml");
	assert_string_equal(c->sources[1].until, "2020-06-30T00:00:00Z");
	assert_int_equal(c->sources[1].enabled, 0);
	assert_int_equal(c->sources[1].line, 15);
	conf_free(c);

	c = conf_parse(
	    "[global]\r\n\r\nmax_concurrent = x\r\n", "crlf.conf", &cause);
	assert_null(c);
	assert_string_equal(cause,
	    "crlf.conf:3: max_concurrent: not a "
	    "number");
	free(cause);
	buf_free(&b);
}

static void
test_bom(void **state __unused)
{
	struct conf *c;
	char	    *cause = NULL;

	c = conf_parse("\xef\xbb\xbf[source nur]\nurl = http://a.example/\n",
	    "bom.conf", &cause);
	if (c == NULL)
		fail_msg("%s", cause);
	assert_string_equal(c->sources[0].name, "nur");
	conf_free(c);

	c = conf_parse("\xef\xbb\xbf# comment\n" G, "bom.conf", &cause);
	if (c == NULL)
		fail_msg("%s", cause);
	conf_free(c);

	/* Only at the very start. */
	c = conf_parse("\n\xef\xbb\xbf[global]\n", "bom.conf", &cause);
	assert_null(c);
	assert_non_null(strstr(cause, "bom.conf:2: "));
	free(cause);
}

static void
test_comments(void **state __unused)
{
	struct conf *c;
	char	    *cause = NULL;

	c = conf_parse("; semicolon\n# hash\n   ; indented\n"
		       "[global] ; after header\n"
		       "user_agent = a;b ; only \" ;\" starts a comment\n"
		       "database = /a#b\n"
		       "delay = 2s\t; tab too\n",
	    "c.conf", &cause);
	if (c == NULL)
		fail_msg("%s", cause);
	assert_string_equal(c->user_agent, "a;b");
	assert_string_equal(c->database, "/a#b");
	assert_int_equal(c->delay_ms, 2000);
	conf_free(c);
}

/* A NUL byte can only come from a file. */
static void
test_nul_byte(void **state __unused)
{
	static const char text[] = "[global]\ndatabase = /a\0b\n";
	struct conf	 *c;
	char		 *path, *cause = NULL;

	path = write_temp(text, sizeof(text) - 1);
	c = conf_load(path, &cause);
	assert_null(c);
	assert_non_null(strstr(cause, ":2: control character 0x00"));
	free(cause);
	unlink(path);
	free(path);
}

/* The names conf_global_compare() says differ under apply (allocated). */
static char *
global_changed(
    const struct conf *a, const struct conf *b, enum conf_apply apply)
{
	struct conf_diff d;
	char		*names;

	conf_global_compare(a, b, &d);
	names = apply == CONF_RELOAD ? d.reload : d.restart;
	if (apply == CONF_RELOAD)
		d.reload = NULL;
	else
		d.restart = NULL;
	conf_diff_clear(&d);
	return names;
}

/* The same for two sources; every source key is put in use at a reload. */
static char *
source_changed(const struct conf_source *a, const struct conf_source *b)
{
	struct conf_diff d;
	char		*names;

	conf_source_compare(a, b, &d);
	assert_null(d.restart);
	names = d.reload;
	d.reload = NULL;
	conf_diff_clear(&d);
	return names;
}

/* Is key one of the ", "-separated names? */
static int
names_have(const char *names, const char *key)
{
	const char *s;
	size_t	    len = strlen(key);

	for (s = names; s != NULL && *s != '\0'; s += strspn(s, ", ")) {
		if (strncmp(s, key, len) == 0 &&
		    (s[len] == ',' || s[len] == '\0'))
			return 1;
		s += strcspn(s, ",");
	}
	return 0;
}

/*
 * A reload sees every key: for each key of the table, two configs that
 * differ only in its value are told apart by that key's name alone, in its
 * scope, and for a [global] key only under its own conf_apply.  The second
 * value (b) is never the default.  The same table checks the copies (a
 * source copied key by key equals its original and differs from the
 * first value) and command-line flags (conf_set_key() from the defaults
 * gives what the file gives).  A key added to the table without values
 * here fails this test.
 */
static void
test_reload_sees_every_key(void **state)
{
	static const struct {
		int	    global;
		const char *key;
		const char *a, *b;
	} values[] = {
		{ 1, "database", "/tmp/a.db", "/tmp/b.db" },
		{ 1, "user_agent", "agent/1", "agent/2" },
		{ 1, "contact", "a@example.org", "b@example.org" },
		{ 1, "ca_file", "/tmp/a.pem", "/tmp/b.pem" },
		{ 1, "max_concurrent", "2", "3" },
		{ 1, "delay", "1s", "2s" },
		{ 1, "timeout", "10s", "20s" },
		{ 1, "max_response_bytes", "1M", "2M" },
		{ 1, "retry_after_max", "60s", "120s" },
		{ 1, "retries", "1", "2" },
		{ 1, "retry_wait", "100ms", "200ms" },
		{ 1, "status_listen", "127.0.0.1:1", "127.0.0.1:2" },
		{ 1, "changes_log", "/tmp/a.jsonl", "/tmp/b.jsonl" },
		{ 1, "changes_nats", "nats://127.0.0.1:4222",
		    "tls://u:p@nats.example:4443" },
		{ 1, "changes_nats_subject", "a.changes", "b.changes" },
		{ 1, "status_token_file", "/tmp/a.tok", "/tmp/b.tok" },
		{ 1, "status_hosts", "a.example", "a.example b.example" },
		{ 1, "leases", "no", "yes" },
		{ 1, "lease_ttl", "10s", "20s" },
		{ 1, "node_name", "harvester-1", "harvester-2" },
		{ 0, "url", "http://a.example/oai", "http://b.example/oai" },
		{ 0, "metadata_prefix", "oai_dc", "oai_dc qdc" },
		{ 0, "set", "a", "b" },
		{ 0, "interval", "1h", "2h" },
		{ 0, "from", "2020-01-01", "2021-01-01" },
		{ 0, "until", "2030-01-01", "2031-01-01" },
		{ 0, "delay", "1s", "2s" },
		{ 0, "enabled", "yes", "no" },
		{ 0, "reconcile", "1d", "2d" },
		{ 0, "overlap", "1h", "2h" },
		{ 0, "window", "year", "month" },
		{ 0, "window_min", "1d", "2d" },
		{ 0, "follow_redirects", "same-host", "any" },
	};
	struct conf	  *c[2], *def, *dflt;
	struct conf_source copy, dsrc;
	enum conf_apply	   apply, other;
	const char	  *name;
	char		  *text, *line, *cause = NULL, *got;
	size_t		   i, j, n;
	int		   global;

	for (i = 0; (name = conf_key_name(i, &global, &apply)) != NULL; i++) {
		for (j = 0; j < nitems(values); j++)
			if (values[j].global == global &&
			    strcmp(values[j].key, name) == 0)
				break;
		if (j == nitems(values)) {
			fail_msg("key %s has no values in this test", name);
			return;
		}
		for (n = 0; n < 2; n++) {
			xasprintf(&line, "%s = %s\n", name,
			    n ? values[j].b : values[j].a);
			xasprintf(&text, "[global]\n%s[source s]\n%s%s",
			    global ? line : "",
			    strcmp(name, "url") == 0 ?
				"" :
				"url = http://x.example/oai\n",
			    global ? "" : line);
			if ((c[n] = conf_parse(text, "t.conf", &cause)) == NULL)
				fail_msg("%s: %s", name, cause);
			free(text);
			free(line);
		}
		/* The defaults, with the key set as a flag would set it. */
		def = conf_new("flags");
		conf_source_init(&dsrc, "s");
		if (strcmp(name, "url") != 0 &&
		    conf_set_key(def, &dsrc, "url", "http://x.example/oai",
			&cause) == -1)
			fail_msg("url: %s", cause);
		if (conf_set_key(def, global ? NULL : &dsrc, name, values[j].b,
			&cause) == -1)
			fail_msg("flag %s %s: %s", name, values[j].b, cause);
		if (global) {
			other =
			    apply == CONF_RELOAD ? CONF_RESTART : CONF_RELOAD;
			got = global_changed(c[0], c[1], apply);
			if (got == NULL || strcmp(got, name) != 0)
				fail_msg("[global] %s: changed %s", name,
				    got != NULL ? got : "nothing");
			free(got);
			assert_null(global_changed(c[0], c[1], other));
			assert_null(source_changed(
			    &c[0]->sources[0], &c[1]->sources[0]));
			/* Not the default. */
			dflt = conf_new("defaults");
			got = global_changed(dflt, c[1], apply);
			conf_free(dflt);
			if (!names_have(got, name))
				fail_msg("[global] %s: %s is the default", name,
				    values[j].b);
			free(got);
			/* The flag's value is the file's. */
			got = global_changed(c[1], def, apply);
			if (names_have(got, name))
				fail_msg("[global] %s: flag differs", name);
			free(got);
			/* Kept: no longer a change. */
			conf_global_keep(c[1], c[0], apply);
			assert_null(global_changed(c[0], c[1], apply));
		} else {
			got = source_changed(
			    &c[0]->sources[0], &c[1]->sources[0]);
			if (got == NULL || strcmp(got, name) != 0)
				fail_msg("[source] %s: changed %s", name,
				    got != NULL ? got : "nothing");
			free(got);
			assert_null(global_changed(c[0], c[1], CONF_RELOAD));
			assert_null(global_changed(c[0], c[1], CONF_RESTART));
			assert_null(source_changed(
			    &c[0]->sources[0], &c[0]->sources[0]));
			/* The flag's value is the file's. */
			got = source_changed(&c[1]->sources[0], &dsrc);
			if (names_have(got, name))
				fail_msg("[source] %s: flag differs", name);
			free(got);
			/* Copied: equal, and unlike the first value. */
			conf_source_copy(&copy, &c[1]->sources[0]);
			assert_string_equal(copy.name, "s");
			assert_int_equal(copy.line, c[1]->sources[0].line);
			assert_null(source_changed(&copy, &c[1]->sources[0]));
			got = source_changed(&c[0]->sources[0], &copy);
			if (got == NULL || strcmp(got, name) != 0)
				fail_msg("[source] copy of %s: changed %s",
				    name, got != NULL ? got : "nothing");
			free(got);
			/* Not the default (nor the empty list). */
			conf_source_clear(&dsrc);
			conf_source_init(&dsrc, "s");
			got = source_changed(&dsrc, &copy);
			if (!names_have(got, name))
				fail_msg("[source] %s: %s is the default", name,
				    values[j].b);
			free(got);
			/* Kept: no longer a change. */
			conf_source_keep(&copy, &c[0]->sources[0], CONF_RELOAD);
			assert_null(source_changed(&c[0]->sources[0], &copy));
			conf_source_clear(&copy);
		}
		conf_source_clear(&dsrc);
		conf_free(def);
		conf_free(c[0]);
		conf_free(c[1]);
	}
	/* Every line of the values above is a key of the table. */
	assert_int_equal(i, nitems(values));
}

/*
 * From a config's settings to the harvest engine's (daemon/settings.c, the
 * one place both binaries use): the source's values, the [global] delay
 * when the source has none, and the engine's options.
 */
static void
test_settings_harvest(void **state __unused)
{
	static const struct {
		const char *name;
		const char *text;
		long long   delay_ms, overlap, reconcile, window_min;
		int	    window, follow;
		size_t	    nprefixes, nsets;
		const char *from, *until;
		long long   timeout, max_bytes, retry_after_max;
		long long   retry_base_ms;
		int	    max_tries;
	} tab[] = {
		{ "defaults", "[source s]\nurl = http://a.example/oai\n", 1000,
		    300, -1, 86400, 0, 0, 1, 0, NULL, NULL, REQUEST_TIMEOUT,
		    (long long)MAX_RESPONSE_BYTES, RETRY_AFTER_MAX,
		    BACKOFF_BASE * 1000, MAX_REQUEST_TRIES },
		{ "global delay",
		    "[global]\ndelay = 250ms\n"
		    "[source s]\nurl = http://a.example/oai\n",
		    250, 300, -1, 86400, 0, 0, 1, 0, NULL, NULL,
		    REQUEST_TIMEOUT, (long long)MAX_RESPONSE_BYTES,
		    RETRY_AFTER_MAX, BACKOFF_BASE * 1000, MAX_REQUEST_TRIES },
		{ "source delay",
		    "[global]\ndelay = 250ms\n"
		    "[source s]\nurl = http://a.example/oai\ndelay = 0\n",
		    0, 300, -1, 86400, 0, 0, 1, 0, NULL, NULL, REQUEST_TIMEOUT,
		    (long long)MAX_RESPONSE_BYTES, RETRY_AFTER_MAX,
		    BACKOFF_BASE * 1000, MAX_REQUEST_TRIES },
		{ "every key",
		    "[global]\ntimeout = 1m\n"
		    "max_response_bytes = 64M\nretry_after_max = 2m\n"
		    "retries = 0\nretry_wait = 250ms\n"
		    "[source s]\nurl = http://a.example/oai\n"
		    "metadata_prefix = oai_dc, qdc\nset = a b:c d\n"
		    "from = 2020-01-01\nuntil = 2021-01-01\ndelay = 3s\n"
		    "overlap = 0\nreconcile = 1d\nwindow = month\n"
		    "window_min = 2h\nfollow_redirects = any\n",
		    3000, 0, 86400, 7200, 2, 1, 2, 3, "2020-01-01",
		    "2021-01-01", 60, 64LL * 1024 * 1024, 120, 250, 1 },
	};
	struct harvest_options	  ho;
	struct harvest_source	  hs;
	const struct conf_source *s;
	struct conf		 *c;
	char			 *cause = NULL;
	size_t			  i;

	for (i = 0; i < nitems(tab); i++) {
		if ((c = conf_parse(tab[i].text, "t.conf", &cause)) == NULL)
			fail_msg("%s: %s", tab[i].name, cause);
		s = &c->sources[0];
		settings_source(c, s, &hs);
		assert_ptr_equal(hs.name, s->name);
		assert_ptr_equal(hs.url, s->url);
		assert_ptr_equal(hs.prefixes, s->prefixes);
		assert_int_equal(hs.nprefixes, tab[i].nprefixes);
		assert_ptr_equal(hs.sets, s->sets);
		assert_int_equal(hs.nsets, tab[i].nsets);
		if (tab[i].from == NULL)
			assert_null(hs.from);
		else
			assert_string_equal(hs.from, tab[i].from);
		if (tab[i].until == NULL)
			assert_null(hs.until);
		else
			assert_string_equal(hs.until, tab[i].until);
		/* A config's from is the first harvest's only. */
		assert_int_equal(hs.from_is_initial, 1);
		assert_int_equal(hs.move, 0);
		if (hs.delay_ms != tab[i].delay_ms)
			fail_msg("%s: delay %lld", tab[i].name, hs.delay_ms);
		assert_int_equal(hs.overlap, tab[i].overlap);
		assert_int_equal(hs.reconcile, tab[i].reconcile);
		assert_int_equal(hs.window, tab[i].window);
		assert_int_equal(hs.window_min, tab[i].window_min);
		assert_int_equal(hs.follow_redirects_any, tab[i].follow);

		settings_options(c, &ho);
		assert_ptr_equal(ho.user_agent, c->user_agent);
		assert_ptr_equal(ho.contact, c->contact);
		assert_ptr_equal(ho.ca_file, c->ca_file);
		assert_int_equal(ho.timeout, tab[i].timeout);
		assert_int_equal(ho.max_response_bytes, tab[i].max_bytes);
		assert_int_equal(ho.retry_after_max, tab[i].retry_after_max);
		assert_int_equal(ho.retry_base_ms, tab[i].retry_base_ms);
		assert_int_equal(ho.max_tries, tab[i].max_tries);
		conf_free(c);
	}
}

/*
 * Command-line flags go through the key table (conf_set_key()): the
 * config's units, bounds and messages.
 */
static void
test_flag_values(void **state __unused)
{
#define GL(f) 1, offsetof(struct conf, f)
#define SR(f) 0, offsetof(struct conf_source, f)
	static const struct {
		const char *key, *value;
		int	    global;
		size_t	    off;
		int	    is_int; /* 0 long long, 1 int,
						   2 size_t */
		long long   want;
		const char *why; /* substring of the error, or NULL */
	} tab[] = {
		{ "delay", "1s", SR(delay_ms), 0, 1000, NULL },
		{ "delay", "500ms", SR(delay_ms), 0, 500, NULL },
		{ "delay", "0", SR(delay_ms), 0, 0, NULL },
		{ "delay", "2h", SR(delay_ms), 0, 0, "out of range (0 to 1h)" },
		{ "delay", "fast", SR(delay_ms), 0, 0, "unknown unit" },
		{ "delay", "", SR(delay_ms), 0, 0, "empty value" },
		{ "timeout", "30s", GL(timeout), 0, 30, NULL },
		{ "timeout", "2m", GL(timeout), 0, 120, NULL },
		{ "timeout", "500ms", GL(timeout), 0, 0, "whole seconds only" },
		{ "timeout", "1h", GL(timeout), 0, 0,
		    "out of range (1s to 30m)" },
		{ "max_response_bytes", "64M", GL(max_response_bytes), 0,
		    64LL * 1024 * 1024, NULL },
		{ "max_response_bytes", "1k", GL(max_response_bytes), 0, 1024,
		    NULL },
		{ "max_response_bytes", "4194304", GL(max_response_bytes), 0,
		    4194304, NULL },
		{ "max_response_bytes", "512", GL(max_response_bytes), 0, 0,
		    "out of range (1K to 256M)" },
		{ "max_response_bytes", "lots", GL(max_response_bytes), 0, 0,
		    "not a size" },
		{ "retries", "5", GL(retries), 0, 5, NULL },
		{ "retries", "-1", GL(retries), 0, 0, "too small (0 to 100)" },
		{ "retries", "101", GL(retries), 0, 0, "too large (0 to 100)" },
		{ "retry_wait", "2s", GL(retry_wait_ms), 0, 2000, NULL },
		{ "retry_wait", "100ms", GL(retry_wait_ms), 0, 100, NULL },
		{ "retry_wait", "0ms", GL(retry_wait_ms), 0, 0,
		    "out of range (1ms to 1h)" },
		{ "overlap", "10m", SR(overlap), 0, 600, NULL },
		{ "overlap", "8d", SR(overlap), 0, 0,
		    "out of range (0 to 1w)" },
		{ "reconcile", "1s", SR(reconcile), 0, 1, NULL },
		{ "interval", "1h", SR(interval), 0, 3600, NULL },
		{ "window", "day", SR(window), 1, 3, NULL },
		{ "window", "week", SR(window), 1, 0, "not a window" },
		{ "window_min", "12h", SR(window_min), 0, 43200, NULL },
		{ "follow_redirects", "any", SR(follow_redirects), 1, 1, NULL },
		{ "follow_redirects", "sideways", SR(follow_redirects), 1, 0,
		    "not a redirect policy (same-host or any)" },
		{ "from", "2020-13-01", SR(from), 0, 0, "not a datestamp" },
		{ "metadata_prefix", "a/b", SR(prefixes), 0, 0,
		    "invalid character '/'" },
		{ "set", "a b:c", SR(nsets), 2, 2, NULL },
		/* --set '': the whole repository (an empty set), as before. */
		{ "set", "", SR(nsets), 2, 1, NULL },
		{ "nosuch", "1", SR(interval), 0, 0, "unknown key \"nosuch\"" },
	};
#undef GL
#undef SR
	struct conf	  *c;
	struct conf_source s;
	const char	  *base;
	char		  *why;
	long long	   got;
	size_t		   i;
	int		   r;

	for (i = 0; i < nitems(tab); i++) {
		c = conf_new("flags");
		conf_source_init(&s, "s");
		why = NULL;
		r = conf_set_key(c, &s, tab[i].key, tab[i].value, &why);
		if (tab[i].why != NULL) {
			if (r != -1 || why == NULL ||
			    strstr(why, tab[i].why) == NULL)
				fail_msg("%s %s: got \"%s\", expected \"%s\"",
				    tab[i].key, tab[i].value,
				    why != NULL ? why : "success", tab[i].why);
		} else {
			if (r == -1)
				fail_msg(
				    "%s %s: %s", tab[i].key, tab[i].value, why);
			base =
			    tab[i].global ? (const char *)c : (const char *)&s;
			if (tab[i].is_int == 2)
				got = (long long)*(
				    const size_t *)(base + tab[i].off);
			else if (tab[i].is_int)
				got = *(const int *)(base + tab[i].off);
			else
				got = *(const long long *)(base + tab[i].off);
			if (got != tab[i].want)
				fail_msg("%s %s: %lld, expected %lld",
				    tab[i].key, tab[i].value, got, tab[i].want);
		}
		free(why);
		conf_source_clear(&s);
		conf_free(c);
	}
}

int
main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_lists),
		cmocka_unit_test(test_long_list),
		cmocka_unit_test(test_shipped_example),
		cmocka_unit_test(test_shipped_example_second),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_directory),
		cmocka_unit_test(test_oversized),
		cmocka_unit_test(test_too_many_sources),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_crlf),
		cmocka_unit_test(test_bom),
		cmocka_unit_test(test_comments),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_reload_sees_every_key),
		cmocka_unit_test(test_settings_harvest),
		cmocka_unit_test(test_flag_values),
	};
	struct CMUnitTest *tests;
	size_t		   i, n = 0;
	int		   rc;

	tests = xcalloc(nitems(cases) + nitems(fixed), sizeof(*tests));
	for (i = 0; i < nitems(cases); i++) {
		tests[n].name = cases[i].name;
		tests[n].test_func = test_case;
		tests[n].initial_state = (void *)&cases[i];
		n++;
	}
	for (i = 0; i < nitems(fixed); i++)
		tests[n++] = fixed[i];
	rc = _cmocka_run_group_tests("conf", tests, n, NULL, NULL);
	free(tests);
	return rc;
}
