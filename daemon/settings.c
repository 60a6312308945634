/*
 * From a config's settings to the harvest engine's: the only place where a
 * config key becomes a harvest setting.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "harvest.h"
#include "log.h"
#include "settings.h"
#include "util.h"

/* A token file's size, and the token's length. */
#define TOKEN_FILE_MAX 4096
#define TOKEN_MIN      16

void
settings_options(const struct conf *c, struct harvest_options *ho)
{
	memset(ho, 0, sizeof(*ho));
	ho->user_agent = c->user_agent;
	ho->contact = c->contact;
	ho->ca_file = c->ca_file;
	ho->timeout = c->timeout;
	ho->max_response_bytes = c->max_response_bytes;
	ho->retry_after_max = c->retry_after_max;
	/* Tries, not retries: the first one is not a retry. */
	ho->max_tries = (int)c->retries + 1;
	ho->retry_base_ms = c->retry_wait_ms;
}

void
settings_source(const struct conf *c, const struct conf_source *s,
    struct harvest_source *hs)
{
	memset(hs, 0, sizeof(*hs));
	hs->name = s->name;
	hs->url = s->url;
	hs->prefixes = (const char *const *)s->prefixes;
	hs->nprefixes = s->nprefixes;
	hs->sets = (const char *const *)s->sets;
	hs->nsets = s->nsets;
	hs->from = s->from;
	hs->from_is_initial = 1;
	hs->until = s->until;
	/* A source without a delay of its own has [global]'s. */
	hs->delay_ms = s->delay_ms >= 0 ? s->delay_ms : c->delay_ms;
	hs->overlap = s->overlap;
	hs->reconcile = s->reconcile;
	hs->window = (enum window_unit)s->window;
	hs->window_min = s->window_min;
	hs->follow_redirects_any = s->follow_redirects;
}

/*
 * The token from its file: one line of visible ASCII, at least TOKEN_MIN
 * long.  A file others may read is worth a warning.  Also what
 * oaiharvestd -t checks (token NULL: read, check and forget it), and what
 * oaiharvest status sends to the daemon.
 */
int
http_token_read(const char *file, char **token, size_t *token_len, char **cause)
{
	struct stat st;
	char	    b[TOKEN_FILE_MAX + 1];
	ssize_t	    n;
	size_t	    len, i;
	int	    fd;

	if ((fd = open(file, O_RDONLY | O_CLOEXEC)) == -1) {
		xasprintf(
		    cause, "status_token_file %s: %s", file, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > TOKEN_FILE_MAX) {
		xasprintf(cause,
		    "status_token_file %s: not a regular file "
		    "of at most %d bytes",
		    file, TOKEN_FILE_MAX);
		close(fd);
		return -1;
	}
	n = read(fd, b, sizeof(b) - 1);
	close(fd);
	if (n < 0) {
		xasprintf(
		    cause, "status_token_file %s: %s", file, strerror(errno));
		return -1;
	}
	len = (size_t)n;
	while (len > 0 &&
	    (b[len - 1] == '\n' || b[len - 1] == '\r' || b[len - 1] == ' ' ||
		b[len - 1] == '\t'))
		len--;
	for (i = 0; i < len; i++)
		if ((unsigned char)b[i] <= 0x20 || (unsigned char)b[i] >= 0x7f)
			break;
	if (len < TOKEN_MIN || i < len) {
		xasprintf(cause,
		    "status_token_file %s: the token must be one "
		    "line of at least %d visible ASCII characters",
		    file, TOKEN_MIN);
		explicit_bzero(b, sizeof(b));
		return -1;
	}
	if (st.st_mode & S_IROTH)
		log_warn("event=status_token_file_mode path=%s msg=\"others "
			 "may read the token\"",
		    log_q(file));
	if (token != NULL) {
		*token = xstrndup(b, len);
		*token_len = len;
	}
	explicit_bzero(b, sizeof(b));
	return 0;
}
