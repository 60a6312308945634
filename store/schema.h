/*
 * Private to store/: the schema migrations.  store_migrations[v] takes a
 * database from PRAGMA user_version v to v + 1, so the newest schema version
 * this binary knows is store_nmigrations.
 */
#ifndef OH_STORE_SCHEMA_H
#define OH_STORE_SCHEMA_H

#include <stddef.h>

struct store_migration {
	/*
	 * Pragmas that only work outside a transaction and before the first
	 * table exists (page_size), run on a database still at version v
	 * before WAL mode is set; NULL when none.  They must be harmless on
	 * a file that already has tables.
	 */
	const char *setup;
	/* The step, run in one transaction with the new user_version. */
	const char *sql;
};

extern const struct store_migration store_migrations[];
extern const size_t		    store_nmigrations;

/*
 * Templates (xml_template.body) mark where a DC value goes with this byte,
 * which XML 1.0 forbids in a document.
 */
#define STORE_SLOT '\001'

#endif
