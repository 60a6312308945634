/*
 * Private to store/: a faster "unicode61" FTS5 tokenizer (tokenize.c).
 */
#ifndef OH_STORE_TOKENIZE_H
#define OH_STORE_TOKENIZE_H

#include <sqlite3.h>

/* Stand in for unicode61 on db: an SQLite result code. */
int store_tokenize_register(sqlite3 *);

/*
 * The same tokenizer on its own, for text that goes to no SQLite table
 * (pg_tsv.c: PostgreSQL's tsvectors made as SQLite's index makes its
 * terms).  argv: the tokenizer's arguments ("remove_diacritics", "2").
 * NULL with *cause when SQLite has no FTS5.
 */
struct store_tokenizer;
struct store_tokenizer *store_tokenizer_open(
    const char **argv, int argc, char **cause);
void store_tokenizer_close(struct store_tokenizer *);
/*
 * FTS5's xTokenize over text (len bytes): cb(ctx, flags, token, ntoken,
 * start, end) for each token, folded, in order; an SQLite result code.
 */
int store_tokenizer_run(struct store_tokenizer *, const char *text, int len,
    void *ctx, int (*cb)(void *, int, const char *, int, int, int));

#endif
