/*
 * Private to conf/: the key table that conf.c's parser reads a file with
 * and keys.c's setters, copies and comparisons are driven by.
 */
#ifndef OH_CONF_KEYS_H
#define OH_CONF_KEYS_H

#include <stddef.h>

#include "conf.h"

struct parse;
struct conf_key;

/* Where a key may appear. */
enum conf_scope {
	SCOPE_GLOBAL,
	SCOPE_SOURCE,
};

/* How the value is stored at the key's offset. */
enum conf_kind {
	KIND_STR,  /* char *, NULL when unset */
	KIND_LL,   /* long long */
	KIND_INT,  /* int */
	KIND_LIST, /* char ** at off, size_t count at noff */
};

/*
 * Parse value into the field; on error set *why (allocated).  The parse is
 * NULL for a value from the command line (conf_set_key()).
 */
typedef int (*conf_setter)(
    struct parse *, const struct conf_key *, void *, const char *, char **);

struct conf_key {
	const char     *name;
	const char     *alias; /* a second accepted name, or NULL */
	enum conf_scope scope;
	enum conf_kind	kind;
	conf_setter	set;
	size_t		off;	/* in struct conf or conf_source */
	size_t		noff;	/* KIND_LIST: the count */
	long long	min;	/* numbers: bounds; */
	long long	max;	/* strings and items: max length */
	long long	def;	/* numbers: default */
	const char     *defstr; /* strings and lists: default or NULL */
	int		required;
	enum conf_apply apply; /* when the daemon uses a new value */
};

extern const struct conf_key conf_keys[];
extern const size_t	     conf_nkeys;

/* keys.c */
const struct conf_key *conf_key_find(enum conf_scope, const char *, size_t *);
void		       conf_key_defaults(void *, enum conf_scope);
void		      *conf_grow(void *, size_t, size_t);

/*
 * conf.c: a list item of key k seen in this section: 0 when it is new,
 * else the line it was first given on.
 */
int conf_parse_item(struct parse *, const struct conf_key *, const char *);

#endif
