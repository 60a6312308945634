/*
 * Private to store/: a faster "unicode61" FTS5 tokenizer (tokenize.c).
 */
#ifndef OH_STORE_TOKENIZE_H
#define OH_STORE_TOKENIZE_H

#include <sqlite3.h>

/* Stand in for unicode61 on db: an SQLite result code. */
int store_tokenize_register(sqlite3 *);

#endif
