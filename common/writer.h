/*
 * One background thread that runs one piece of work at a time: the page
 * writer (harvest/session.c), which stores a list page while the next one
 * is fetched and parsed, and the checkpointer (store/checkpoint.c), which
 * copies the page writer's WAL into the database.  The caller hands over
 * everything the work touches and takes it back only after writer_wait()
 * (or once writer_busy() says 0); nothing is shared while it runs.
 */
#ifndef OH_WRITER_H
#define OH_WRITER_H

struct writer;

/* NULL when no thread can be started: writer_submit() then runs inline. */
struct writer *writer_new(void);
/* Waits for the work in hand, then stops the thread.  NULL is fine. */
void writer_free(struct writer *);
/*
 * Start fn(arg) on the thread, after waiting for the work before it; with
 * no writer (w is NULL), run it here and now.
 */
void writer_submit(struct writer *, void (*fn)(void *), void *arg);
/* Whether work is in hand (0 for NULL): for a caller that must not wait. */
int writer_busy(struct writer *);
/* Return once the writer has nothing in hand.  NULL is fine. */
void writer_wait(struct writer *);

#endif
