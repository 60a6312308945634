/*
 * From a config's settings to the harvest engine's: the only place where a
 * config key becomes a harvest setting.
 */
#include <string.h>

#include "conf.h"
#include "harvest.h"
#include "settings.h"

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
