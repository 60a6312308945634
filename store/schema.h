/*
 * Private to store/: the schema migrations.  store_migrations[v] is the SQL
 * script that takes a database from PRAGMA user_version v to v + 1, so the
 * newest schema version this binary knows is store_nmigrations.
 */
#ifndef OH_STORE_SCHEMA_H
#define OH_STORE_SCHEMA_H

#include <stddef.h>

extern const char *const	store_migrations[];
extern const size_t		store_nmigrations;

#endif
