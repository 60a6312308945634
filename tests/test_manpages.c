/*
 * The man pages against the real binaries: every command and option that
 * oaiharvest --help, oaiharvest CMD --help and oaiharvestd --help print is
 * in the matching page (a command's usage options in its SYNOPSIS, all it
 * names in its section), every restart-only key of conf/keys.c's table is
 * in oaiharvestd(8)'s restart list and no other key is, the pages point to
 * each other and their dates are fixed.  The pages are read as files.
 */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conf.h"
#include "util.h"

#include "testlib.h"

#define MAN_CLI	   "daemon/oaiharvest.1"
#define MAN_DAEMON "daemon/oaiharvestd.8"
#define MAN_CONF   "conf/oaiharvest.conf.5"
#define MAN_DATE   ".Dd December 7, 2026\n"

static int
setup(void **state)
{
	return testlib_setup();
}

static int
teardown(void **state)
{
	testlib_teardown();
	return 0;
}

/* s[0..n) as a string (allocated). */
static char *
dup_n(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

static int
optchar(int c)
{
	return isalnum((unsigned char)c) || c == '-';
}

/*
 * The options of text: "--name" and "-x" (after a space, '[' or '|'),
 * as one "\n"-separated list with a "\n" on each side (allocated).
 */
static char *
options_of(const char *text)
{
	struct buf  b;
	const char *p, *q;
	char	   *tok, *out;

	buf_init(&b, 1 << 20);
	buf_add(&b, "\n", 1);
	for (p = text; *p != '\0'; p++) {
		if (*p != '-' ||
		    (p != text && strchr(" \t\n[|(", p[-1]) == NULL))
			continue;
		if (p[1] == '-' && isalpha((unsigned char)p[2])) {
			for (q = p + 2; optchar(*q); q++)
				;
		} else if (isalpha((unsigned char)p[1]) && !optchar(p[2]))
			q = p + 2;
		else
			continue;
		tok = dup_n(p, (size_t)(q - p));
		xasprintf(&out, "\n%s\n", tok);
		if (strstr(buf_str(&b), out) == NULL)
			buf_add(&b, out + 1, strlen(out) - 1);
		free(out);
		free(tok);
		p = q - 1;
	}
	out = xstrdup(buf_str(&b));
	buf_free(&b);
	return out;
}

/* Take opt out of the list opts. */
static void
drop_opt(char *opts, const char *opt)
{
	char *pat, *p;

	xasprintf(&pat, "\n%s\n", opt);
	if ((p = strstr(opts, pat)) != NULL)
		memmove(
		    p, p + strlen(pat) - 1, strlen(p + strlen(pat) - 1) + 1);
	free(pat);
}

/* "Fl \-name" or "Fl x" for the option opt ("--name" or "-x") in text. */
static int
has_flag(const char *text, const char *opt)
{
	char	   *pat;
	const char *p;
	int	    found = 0;

	if (opt[1] == '-')
		xasprintf(&pat, "Fl \\-%s", opt + 2);
	else
		xasprintf(&pat, "Fl %s", opt + 1);
	for (p = text; (p = strstr(p, pat)) != NULL; p++)
		if (!optchar(p[strlen(pat)])) {
			found = 1;
			break;
		}
	free(pat);
	return found;
}

/* Each option of the list opts is a flag of text, else fail naming where. */
static void
flags_in(const char *opts, const char *text, const char *where)
{
	const char *p, *e;
	char	   *opt;

	for (p = opts + 1; *p != '\0'; p = e + 1) {
		e = strchr(p, '\n');
		opt = dup_n(p, (size_t)(e - p));
		if (!has_flag(text, opt))
			fail_msg("%s: %s is not in it", where, opt);
		free(opt);
	}
}

/* The text from the line starting with start to the next line with end. */
static char *
section(const char *page, const char *start, const char *end)
{
	const char *p, *e;

	if ((p = strstr(page, start)) == NULL)
		return NULL;
	if ((e = strstr(p + strlen(start), end)) == NULL)
		e = p + strlen(p);
	return dup_n(p, (size_t)(e - p));
}

/*
 * The SYNOPSIS lines of command cmd: from each ".Cm cmd" line that follows
 * a ".Nm" line to the next ".Nm" (allocated).
 */
static char *
synopsis_of(const char *page, const char *cmd)
{
	char	   *syn, *pat, *out = xstrdup(""), *t;
	const char *p, *e;

	syn = section(page, ".Sh SYNOPSIS\n", "\n.Sh ");
	assert_non_null(syn);
	xasprintf(&pat, ".Nm\n.Cm %s\n", cmd);
	for (p = syn; (p = strstr(p, pat)) != NULL; p = e) {
		if ((e = strstr(p + 1, "\n.Nm\n")) == NULL)
			e = p + strlen(p);
		xasprintf(&t, "%s%.*s", out, (int)(e - p), p);
		free(out);
		out = t;
	}
	free(pat);
	free(syn);
	return out;
}

/* Run a command line into u.out; its standard output (allocated). */
static char *
help_of(const char *fmt, const char *arg)
{
	char *cmd, *out;

	xasprintf(&cmd, fmt, bindir, arg);
	if (run("u.out", "u.err", "%s", cmd) != 0)
		fail_msg("%s: exit status not 0", cmd);
	out = read_tmp("u.out");
	free(cmd);
	return out;
}

static void
test_dates_and_see_also(void **state)
{
	static const char *const pages[] = { MAN_CLI, MAN_DAEMON, MAN_CONF };
	char			*page, *see;
	size_t			 i;

	for (i = 0; i < nitems(pages); i++) {
		page = slurp(pages[i]);
		if (strstr(page, MAN_DATE) == NULL)
			fail_msg("%s: no %s", pages[i], MAN_DATE);
		see = section(page, ".Sh SEE ALSO\n", "\n.Sh ");
		if (see == NULL)
			fail_msg("%s: no SEE ALSO", pages[i]);
		if (i != 0 && strstr(see, ".Xr oaiharvest 1") == NULL)
			fail_msg(
			    "%s: SEE ALSO without oaiharvest(1)", pages[i]);
		if (i != 1 && strstr(see, ".Xr oaiharvestd 8") == NULL)
			fail_msg(
			    "%s: SEE ALSO without oaiharvestd(8)", pages[i]);
		if (i != 2 && strstr(see, ".Xr oaiharvest.conf 5") == NULL &&
		    strstr(page, ".Xr oaiharvest.conf 5") == NULL)
			fail_msg("%s: no oaiharvest.conf(5)", pages[i]);
		free(see);
		free(page);
	}
}

/* The first word of each line "  NAME  description" under "commands:". */
static size_t
commands_of(const char *help, char names[][32], size_t max)
{
	const char *p = strstr(help, "commands:\n");
	size_t	    n = 0, k;

	assert_non_null(p);
	for (p = strchr(p, '\n') + 1; p[0] == ' ' && p[1] == ' ' && n < max;
	     p = strchr(p, '\n') + 1) {
		p += 2;
		k = strcspn(p, " \n");
		assert_true(k < 32);
		memcpy(names[n], p, k);
		names[n++][k] = '\0';
	}
	return n;
}

static void
test_cli_page(void **state)
{
	char	    names[32][32];
	char	   *page, *help, *opts, *usage, *syn, *sec, *pat, *where;
	const char *e;
	size_t	    i, n;

	page = slurp(MAN_CLI);
	help = help_of("%s/oaiharvest --help%s", "");
	opts = options_of(help);
	flags_in(opts, page, MAN_CLI " (oaiharvest --help)");
	free(opts);
	n = commands_of(help, names, nitems(names));
	assert_true(n >= 9);
	free(help);
	for (i = 0; i < n; i++) {
		help = help_of("%s/oaiharvest %s --help", names[i]);
		/* The usage lines: up to the first blank line. */
		e = strstr(help, "\n\n");
		usage =
		    dup_n(help, e != NULL ? (size_t)(e - help) : strlen(help));
		syn = synopsis_of(page, names[i]);
		if (*syn == '\0')
			fail_msg(
			    "%s: %s is not in the SYNOPSIS", MAN_CLI, names[i]);
		xasprintf(&where, "%s SYNOPSIS of %s", MAN_CLI, names[i]);
		opts = options_of(usage);
		flags_in(opts, syn, where);
		free(opts);
		free(where);
		/* Everything its help names, in its section. */
		xasprintf(&pat, "\n.Ss %s", names[i]);
		sec = section(page, pat, "\n.S");
		if (sec == NULL ||
		    !(sec[strlen(pat)] == '\n' || sec[strlen(pat)] == ' '))
			fail_msg("%s: no section for %s", MAN_CLI, names[i]);
		xasprintf(&where, "%s section %s", MAN_CLI, names[i]);
		opts = options_of(e != NULL ? e : "");
		/* --help is described once, for all commands. */
		drop_opt(opts, "--help");
		flags_in(opts, sec, where);
		free(opts);
		free(where);
		free(sec);
		free(pat);
		free(syn);
		free(usage);
		free(help);
	}
	free(page);
}

static void
test_daemon_page(void **state)
{
	char *page, *help, *opts;

	page = slurp(MAN_DAEMON);
	help = help_of("%s/oaiharvestd --help%s", "");
	opts = options_of(help);
	/* Every option the daemon has, at least -c -t -f -v. */
	assert_non_null(strstr(opts, "\n-c\n"));
	assert_non_null(strstr(opts, "\n-t\n"));
	assert_non_null(strstr(opts, "\n--version\n"));
	flags_in(opts, page, MAN_DAEMON " (oaiharvestd --help)");
	free(opts);
	free(help);
	free(page);
}

/*
 * oaiharvestd(8)'s list of the keys that wait for a restart (the .Ic
 * names of the sentence that ends "take effect at the next restart") is
 * the table's CONF_RESTART keys, no more, no fewer.
 */
static void
test_restart_keys(void **state)
{
	enum conf_apply apply;
	const char     *name, *p, *e, *start;
	char	       *page, *list, *key, *pat;
	size_t		i, n = 0;
	int		global;

	page = slurp(MAN_DAEMON);
	e = strstr(page, "take effect at the next restart");
	assert_non_null(e);
	/* The sentence starts after the previous line ending in ". ". */
	for (start = e; start > page &&
	     !(start[-1] == '\n' && start - 2 > page && start[-2] == '.');
	     start--)
		;
	list = dup_n(start, (size_t)(e - start));
	for (i = 0; (name = conf_key_name(i, &global, &apply)) != NULL; i++) {
		if (!global || apply != CONF_RESTART)
			continue;
		n++;
		xasprintf(&pat, ".Ic %s", name);
		for (p = list; (p = strstr(p, pat)) != NULL; p++)
			if (p[strlen(pat)] == ' ' || p[strlen(pat)] == '\n')
				break;
		if (p == NULL)
			fail_msg("%s: restart-only key %s not in:\n%s",
			    MAN_DAEMON, name, list);
		free(pat);
	}
	assert_true(n > 0);
	/* And no key there that a reload puts in use. */
	for (p = list; (p = strstr(p, ".Ic ")) != NULL; p = e) {
		p += 4;
		e = p + strcspn(p, " \n");
		key = dup_n(p, (size_t)(e - p));
		for (i = 0; (name = conf_key_name(i, &global, &apply)) != NULL;
		     i++)
			if (global && strcmp(name, key) == 0)
				break;
		if (name == NULL || apply != CONF_RESTART)
			fail_msg("%s: %s is in the restart list but is not a "
				 "restart-only key",
			    MAN_DAEMON, key);
		free(key);
	}
	free(list);
	free(page);
}

/*
 * oaiharvest.conf(5)'s list of the [global] keys a reload puts in use
 * (the .Ic names of the sentence that ends "take effect at a reload") is
 * the table's global CONF_RELOAD keys.
 */
static void
test_reload_keys(void **state)
{
	enum conf_apply apply;
	const char     *name, *p, *e, *start;
	char	       *page, *list, *key, *pat;
	size_t		i;
	int		global;

	page = slurp(MAN_CONF);
	e = strstr(page, "take effect at a reload");
	assert_non_null(e);
	start = strstr(page, "every key of a source section, and");
	assert_non_null(start);
	assert_true(start < e);
	list = dup_n(start, (size_t)(e - start));
	for (i = 0; (name = conf_key_name(i, &global, &apply)) != NULL; i++) {
		if (!global || apply != CONF_RELOAD)
			continue;
		xasprintf(&pat, ".Ic %s", name);
		for (p = list; (p = strstr(p, pat)) != NULL; p++)
			if (p[strlen(pat)] == ' ' || p[strlen(pat)] == '\n')
				break;
		if (p == NULL)
			fail_msg("%s: reloaded key %s not in:\n%s", MAN_CONF,
			    name, list);
		free(pat);
	}
	for (p = list; (p = strstr(p, ".Ic ")) != NULL; p = e) {
		p += 4;
		e = p + strcspn(p, " \n");
		key = dup_n(p, (size_t)(e - p));
		for (i = 0; (name = conf_key_name(i, &global, &apply)) != NULL;
		     i++)
			if (global && strcmp(name, key) == 0)
				break;
		if (name == NULL || apply != CONF_RELOAD)
			fail_msg("%s: %s is in the reload list but a restart "
				 "puts it in use",
			    MAN_CONF, key);
		free(key);
	}
	free(list);
	free(page);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dates_and_see_also),
		cmocka_unit_test(test_cli_page),
		cmocka_unit_test(test_daemon_page),
		cmocka_unit_test(test_restart_keys),
		cmocka_unit_test(test_reload_keys),
	};

	return cmocka_run_group_tests_name("manpages", tests, setup, teardown);
}
