/*
 * Private to store/: PostgreSQL's tsvectors and tsquery terms made by the
 * harvester with the SQLite index's tokenizer (pg_tsv.c).
 */
#ifndef OH_STORE_PG_TSV_H
#define OH_STORE_PG_TSV_H

#include <stddef.h>

#include "util.h"

struct pg_tsv;

/* NULL with *cause when the tokenizer cannot be made. */
struct pg_tsv *pg_tsv_new(char **cause);
void	       pg_tsv_free(struct pg_tsv *);

/*
 * The tsvector literal of a record's four full-text columns (title,
 * creator, subject, description: weights A to D), in *out until the next
 * call; -1 with *cause.
 */
int pg_tsv_doc(struct pg_tsv *, const char *const col[4], const size_t len[4],
    const struct buf **out, char **cause);
/*
 * The same in tsvector's binary form (tsvectorsend()'s), for a parameter
 * sent in binary: PostgreSQL reads it without parsing text.
 */
int pg_tsv_doc_bin(struct pg_tsv *, const char *const col[4],
    const size_t len[4], const struct buf **out, char **cause);
/* The text form from content.dc as store_prepare() writes it. */
int pg_tsv_dc(struct pg_tsv *, const char *dc, size_t n, const struct buf **out,
    char **cause);

/*
 * Append word w (n bytes) to tsquery b as its tokens: one lexeme, or the
 * phrase of several (a <-> b); weight ('A'-'D', or 0) on each, star a
 * prefix match on the last.  The number of tokens (0: nothing added), -1
 * when the tokenizer fails.
 */
int pg_tsv_query_word(struct pg_tsv *, struct buf *b, const char *w, size_t n,
    char weight, int star);

/*
 * The backend's full-text maker (store_fts_maker_new()): a pg_tsv of its
 * own, on the event loop; pg_fts_make() is pg_tsv_doc_bin().
 */
void *pg_fts_maker_new(char **cause);
void  pg_fts_maker_free(void *);
int   pg_fts_make(void *, const char *const col[4], const size_t len[4],
      const char **out, size_t *outlen, char **cause);

/* Append lexeme s (n bytes) to b quoted as tsvector and tsquery read it. */
void pg_tsv_quote(struct buf *b, const char *s, size_t n);

#endif
