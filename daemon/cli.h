/* The command line's files (cli.c has the command table and main). */
#ifndef OH_CLI_H
#define OH_CLI_H

/* oaiharvest sources (cli_sources.c): usage and help for its messages. */
int cli_sources(int argc, char **argv, const char *usage, const char *help);

/*
 * A one-shot harvest beside daemons with leases (cli_lease.c): take the
 * host's lease of hs when daemons are alive (hs->lease and lease_gen set,
 * renewed on base): 1 taken, 0 no daemons, -1 with *cause (a daemon holds
 * it: the cause names it).  release: give it back, and free.
 */
struct cli_lease;
struct event_base;
struct harvest_source;
struct store;
struct harvest_engine;
int cli_lease_take(struct store *, struct event_base *, struct harvest_source *,
    struct cli_lease **, char **cause);
/*
 * Gate engine's requests to the host by the lease, as a daemon does: none
 * starts, and none is left out, past the time the lease may lapse unless
 * renewed; lost(arg, why) once when it is gone for good (another holder
 * has it, or it lapsed with the renewals failing).
 */
void cli_lease_gate(struct cli_lease *, struct harvest_engine *,
    void (*lost)(void *, const char *), void *);
void cli_lease_release(struct cli_lease *);

#endif
