/* The command line's files (cli.c has the command table and main). */
#ifndef OH_CLI_H
#define OH_CLI_H

/* oaiharvest sources (cli_sources.c): usage and help for its messages. */
int cli_sources(int argc, char **argv, const char *usage, const char *help);

#endif
