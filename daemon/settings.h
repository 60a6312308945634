/*
 * A config's settings as the harvest engine takes them, in one place for
 * both binaries: oaiharvestd from its config file, the oaiharvest CLI from
 * a config file or from its flags (which set the same keys).
 */
#ifndef OH_SETTINGS_H
#define OH_SETTINGS_H

#include "conf.h"
#include "harvest.h"

/* The engine's settings: the [global] keys it uses. */
void settings_options(const struct conf *, struct harvest_options *);
/*
 * What to harvest for source s of config c.  The strings and lists are s's
 * (harvest_start() copies them).  The config's from is the first harvest's
 * only (from_is_initial); the command line's --from overrides that.
 */
void settings_source(
    const struct conf *c, const struct conf_source *s, struct harvest_source *);
/*
 * Read and check status_token_file: the token in *token (allocated) and
 * *len, or only checked when token is NULL; -1 with *cause.
 */
int http_token_read(const char *file, char **token, size_t *len, char **cause);

#endif
