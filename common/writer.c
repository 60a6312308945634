#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"
#include "writer.h"

/*
 * The slot holds at most one piece of work: submit waits for the previous
 * one, so work runs in the order it was given and the caller never has
 * more than one page in flight.  The mutex and condition variable carry
 * the happens-before both ways: what the caller wrote before submit is
 * seen by fn, and what fn wrote is seen by the caller after wait.
 */
struct writer {
	pthread_t	thread;
	pthread_mutex_t mtx;
	pthread_cond_t	cv;
	void (*fn)(void *);
	void *arg;
	int   busy;
	int   quit;
};

static void *
writer_main(void *arg)
{
	struct writer *w = arg;
	void (*fn)(void *);
	void *fnarg;

	pthread_mutex_lock(&w->mtx);
	for (;;) {
		while (!w->busy && !w->quit)
			pthread_cond_wait(&w->cv, &w->mtx);
		if (!w->busy)
			break;
		fn = w->fn;
		fnarg = w->arg;
		pthread_mutex_unlock(&w->mtx);
		fn(fnarg);
		pthread_mutex_lock(&w->mtx);
		w->busy = 0;
		w->fn = NULL;
		w->arg = NULL;
		pthread_cond_broadcast(&w->cv);
	}
	pthread_mutex_unlock(&w->mtx);
	return NULL;
}

struct writer *
writer_new(void)
{
	struct writer *w;
	int	       rc;

	w = xcalloc(1, sizeof(*w));
	pthread_mutex_init(&w->mtx, NULL);
	pthread_cond_init(&w->cv, NULL);
	if ((rc = pthread_create(&w->thread, NULL, writer_main, w)) != 0) {
		log_warn("event=writer_inline cause=%s msg=\"no background "
			 "thread: its work (pages, checkpoints) runs inline\"",
		    log_q(strerror(rc)));
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mtx);
		free(w);
		return NULL;
	}
	return w;
}

void
writer_free(struct writer *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mtx);
	w->quit = 1;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mtx);
	/* The thread finishes the work in hand before it sees quit. */
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mtx);
	free(w);
}

void
writer_submit(struct writer *w, void (*fn)(void *), void *arg)
{
	if (w == NULL) {
		fn(arg);
		return;
	}
	pthread_mutex_lock(&w->mtx);
	while (w->busy)
		pthread_cond_wait(&w->cv, &w->mtx);
	w->fn = fn;
	w->arg = arg;
	w->busy = 1;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mtx);
}

void
writer_wait(struct writer *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mtx);
	while (w->busy)
		pthread_cond_wait(&w->cv, &w->mtx);
	pthread_mutex_unlock(&w->mtx);
}

int
writer_busy(struct writer *w)
{
	int busy;

	if (w == NULL)
		return 0;
	pthread_mutex_lock(&w->mtx);
	busy = w->busy;
	pthread_mutex_unlock(&w->mtx);
	return busy;
}
