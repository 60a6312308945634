/*
 * Private to store/: XXH64, and the canonical form of XML over which
 * record.hash is taken (c14n.c).
 */
#ifndef OH_STORE_C14N_H
#define OH_STORE_C14N_H

#include <stddef.h>
#include <stdint.h>

/* XXH64 of len bytes (github.com/Cyan4973/xxHash). */
uint64_t store_xxh64(const void *, size_t len, uint64_t seed);

/* Scratch space for store_c14n_hash(), one per thread that hashes. */
struct store_c14n;
struct store_c14n *store_c14n_new(void);
void		   store_c14n_free(struct store_c14n *);

/*
 * XXH64, seeded with seed, of the canonical form of the XML element xml
 * (len bytes): two serializations of the same metadata hash alike.  XML
 * it cannot read is hashed as it stands, with another seed.
 */
uint64_t store_c14n_hash(
    struct store_c14n *, const char *xml, size_t len, uint64_t seed);

#endif
