/*
 * The configuration file: INI style, a [global] section and one
 * [source NAME] section per endpoint, read with libinih and validated
 * against a table of keys.  Every error names the file and the line.
 */
#ifndef OH_CONF_H
#define OH_CONF_H

#include <stddef.h>

#define CONF_DEFAULT_PATH   "/etc/oaiharvest/oaiharvest.conf"
#define CONF_DEFAULT_DB	    "/var/lib/oaiharvest/harvest.db"
#define CONF_DEFAULT_LISTEN "127.0.0.1:8470"

#define CONF_DEFAULT_NATS_SUBJECT "oaiharvest.changes"

struct conf_source {
	char	 *name;	    /* [A-Za-z0-9._-]{1,64} */
	char	 *url;	    /* http:// or https:// base URL */
	char	**prefixes; /* metadataPrefix values; default oai_dc */
	size_t	  nprefixes;
	char	**sets; /* setSpecs; none: whole repository */
	size_t	  nsets;
	long long interval;	    /* seconds between harvests; 86400 */
	char	 *from;		    /* first harvest's from, or NULL */
	char	 *until;	    /* until, or NULL */
	long long delay_ms;	    /* politeness: ms between requests; -1
					   inherits the global value */
	int	  enabled;	    /* 1 unless "enabled = no" */
	long long reconcile;	    /* seconds between deletion sweeps
					   (ListIdentifiers); 0 off; -1 auto:
					   weekly when the repository keeps no
					   deletions */
	long long overlap;	    /* seconds taken off the previous
					   responseDate for the next from */
	int	  window;	    /* enum window_unit (harvest/window.h):
					   0 none, 1 year, 2 month, 3 day */
	long long window_min;	    /* seconds: the narrowest window;
					   86400 */
	int	  follow_redirects; /* 0 same-host (default), 1 any */
	int	  line;		    /* line of the [source NAME] header */
};

struct conf {
	char		   *path;	       /* file it came from */
	char		   *database;	       /* default CONF_DEFAULT_DB */
	char		   *user_agent;	       /* NULL: the built-in one */
	char		   *contact;	       /* From: header, or NULL */
	char		   *ca_file;	       /* CA bundle, or NULL */
	char		   *status_listen;     /* "host:port" of the status
						   HTTP server, or NULL: off */
	char		   *changes_log;       /* JSON Lines change file, or
						   NULL */
	char		   *status_token_file; /* holds the status
						   server's bearer token, or
						   NULL: no token */
	char		  **status_hosts;      /* more Host names the status
						   server answers to */
	size_t		    nstatus_hosts;
	long long	    max_concurrent; /* default 4 */
	long long	    delay_ms;	    /* default 1000 */
	long long	    timeout;	    /* whole request, seconds */
	long long	    max_response_bytes;
	long long	    retry_after_max; /* seconds: the longest
						   Retry-After honoured */
	long long	    retries;	     /* of a failed request;
						   default 3 */
	long long	    retry_wait_ms;   /* the first retry's wait
						   without Retry-After */
	int		    leases;	     /* several daemons share the
						   database: 1; default 0 */
	long long	    lease_ttl;	     /* seconds; default 30 */
	char		   *node_name;	     /* this daemon in /status;
						   NULL: the host name */
	struct conf_source *sources;
	size_t		    nsources;
	int		   *lines; /* of each [global] key set,
						   in the key table's order
						   (0: not set), or NULL */

	/*
	 * The NATS JetStream change feed: its nats:// or tls:// URL, or
	 * NULL; its subjects' prefix (CONF_DEFAULT_NATS_SUBJECT).
	 */
	char *changes_nats;
	char *changes_nats_subject;
};

/* When the daemon puts a key's new value in use (conf.c's key table). */
enum conf_apply {
	CONF_RELOAD,  /* at a reload (SIGHUP) */
	CONF_RESTART, /* only at a restart */
};

/*
 * The keys whose values differ between two configs ([global]) or two
 * sources, by when the daemon puts them in use: ", "-separated names in the
 * table's order (allocated), or NULL where none differ.
 */
struct conf_diff {
	char *reload;  /* a reload puts these in use */
	char *restart; /* only a restart does */
};

/*
 * Read and validate a config file.  On error return NULL and set *cause to
 * "PATH:LINE: message" (allocated).
 */
struct conf *conf_load(const char *path, char **cause);
/* The same from a string; name stands for the path in messages. */
struct conf *conf_parse(const char *text, const char *name, char **cause);
/* A config of the defaults without sources (the command line's). */
struct conf		 *conf_new(const char *name);
void			  conf_free(struct conf *);
const struct conf_source *conf_source_find(
    const struct conf *, const char *name);
/* The line that set the [global] key name, or 0 (not set, or not known). */
int conf_key_line(const struct conf *, const char *name);

/*
 * A source's settings, key by key from the table: the defaults; a deep
 * copy into dst (uninitialised); letting go of what one holds.
 */
void conf_source_init(struct conf_source *, const char *name);
void conf_source_copy(struct conf_source *dst, const struct conf_source *src);
void conf_source_clear(struct conf_source *);

/*
 * What a reload changes, from the key table: fill the diff (free it with
 * conf_diff_clear()) and return 1 when any key differs, else 0.
 */
int conf_global_compare(
    const struct conf *, const struct conf *, struct conf_diff *);
int conf_source_compare(
    const struct conf_source *, const struct conf_source *, struct conf_diff *);
void conf_diff_clear(struct conf_diff *);
/* Give dst the values src has for the keys of apply. */
void conf_global_keep(
    struct conf *dst, const struct conf *src, enum conf_apply);
void conf_source_keep(
    struct conf_source *dst, const struct conf_source *src, enum conf_apply);

/*
 * Set the key name from a string as the config file does (for a
 * command-line flag): in s when it is a source's key and s is not NULL,
 * else in c.  On error return -1 and set *why to the file's message
 * without the key's name, such as "out of range (0 to 1h)" (allocated).
 */
int conf_set_key(struct conf *c, struct conf_source *s, const char *name,
    const char *value, char **why);
/* The i-th key of the table, or NULL past its end. */
const char *conf_key_name(size_t i, int *global, enum conf_apply *);

#endif
