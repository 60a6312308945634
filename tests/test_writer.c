/*
 * Unit tests of common/writer.c, the page writer's thread: work runs on
 * another thread, one piece at a time, in the order given; what it wrote is
 * seen after writer_wait(); writer_free() finishes the work in hand; with
 * no writer, work runs inline.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "writer.h"

#define NWORK 200

struct log {
	pthread_t caller;
	int	  order[NWORK];
	int	  n;
	int	  elsewhere; /* pieces run off the caller's thread */
	int	  running;   /* pieces running now */
	int	  overlap;   /* a piece began while one ran */
};

struct piece {
	struct log *log;
	int	    i;
	long	    sleep_ns;
};

static void
nap(long ns)
{
	struct timespec ts = { 0, ns };

	while (nanosleep(&ts, &ts) == -1)
		continue;
}

static void
work(void *arg)
{
	struct piece *p = arg;
	struct log   *l = p->log;

	/* Unsynchronized on purpose: only one piece may run at a time. */
	if (l->running++ != 0)
		l->overlap = 1;
	if (!pthread_equal(pthread_self(), l->caller))
		l->elsewhere++;
	if (p->sleep_ns > 0)
		nap(p->sleep_ns);
	l->order[l->n++] = p->i;
	l->running--;
}

/* A fresh log kept by the calling thread, and a piece that writes to it. */
static void
piece_init(struct piece *p, struct log *l, int i, long sleep_ns)
{
	memset(l, 0, sizeof(*l));
	l->caller = pthread_self();
	p->log = l;
	p->i = i;
	p->sleep_ns = sleep_ns;
}

static void
test_in_order_elsewhere(void **state)
{
	struct writer *w;
	struct log     l;
	struct piece  *p;
	int	       i;

	memset(&l, 0, sizeof(l));
	l.caller = pthread_self();
	p = calloc(NWORK, sizeof(*p));
	assert_non_null(p);
	assert_non_null(w = writer_new());
	for (i = 0; i < NWORK; i++) {
		p[i].log = &l;
		p[i].i = i;
		/* Now and then a slow piece, so that submit has to wait. */
		p[i].sleep_ns = i % 17 == 0 ? 2000000 : 0;
		writer_submit(w, work, &p[i]);
	}
	writer_wait(w);
	assert_int_equal(writer_busy(w), 0);
	assert_int_equal(l.n, NWORK);
	for (i = 0; i < NWORK; i++)
		assert_int_equal(l.order[i], i);
	assert_int_equal(l.elsewhere, NWORK);
	assert_int_equal(l.overlap, 0);
	writer_free(w);
	free(p);
}

/* What the piece wrote is there once wait returns, slow as it was. */
static void
test_wait_sees_results(void **state)
{
	struct writer *w;
	struct log     l;
	struct piece   p;
	int	       round;

	assert_non_null(w = writer_new());
	for (round = 0; round < 5; round++) {
		piece_init(&p, &l, round, 20000000);
		writer_submit(w, work, &p);
		writer_wait(w);
		assert_int_equal(l.n, 1);
		assert_int_equal(l.order[0], round);
	}
	writer_free(w);
}

/* A piece that waits for the test to let it go. */
struct gate {
	pthread_mutex_t mtx;
	pthread_cond_t	cv;
	int		entered;
	int		open;
	int		done;
};

static void
gated(void *arg)
{
	struct gate *g = arg;

	pthread_mutex_lock(&g->mtx);
	g->entered = 1;
	pthread_cond_broadcast(&g->cv);
	while (!g->open)
		pthread_cond_wait(&g->cv, &g->mtx);
	g->done = 1;
	pthread_mutex_unlock(&g->mtx);
}

static void
test_busy_until_done(void **state)
{
	struct writer *w;
	struct gate    g;

	memset(&g, 0, sizeof(g));
	pthread_mutex_init(&g.mtx, NULL);
	pthread_cond_init(&g.cv, NULL);
	assert_non_null(w = writer_new());
	assert_int_equal(writer_busy(w), 0);
	writer_submit(w, gated, &g);
	pthread_mutex_lock(&g.mtx);
	while (!g.entered)
		pthread_cond_wait(&g.cv, &g.mtx);
	pthread_mutex_unlock(&g.mtx);
	assert_int_equal(writer_busy(w), 1);
	pthread_mutex_lock(&g.mtx);
	g.open = 1;
	pthread_cond_broadcast(&g.cv);
	pthread_mutex_unlock(&g.mtx);
	writer_wait(w);
	assert_int_equal(writer_busy(w), 0);
	assert_int_equal(g.done, 1);
	writer_free(w);
	pthread_cond_destroy(&g.cv);
	pthread_mutex_destroy(&g.mtx);
}

/* Freed with a piece in hand, the writer finishes it first. */
static void
test_free_finishes(void **state)
{
	struct writer *w;
	struct log     l;
	struct piece   p;

	piece_init(&p, &l, 7, 30000000);
	assert_non_null(w = writer_new());
	writer_submit(w, work, &p);
	writer_free(w);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.order[0], 7);
	assert_int_equal(l.elsewhere, 1);
}

/* No writer (no thread could be started): work runs inline. */
static void
test_no_writer_inline(void **state)
{
	struct log   l;
	struct piece p;

	piece_init(&p, &l, 3, 0);
	writer_submit(NULL, work, &p);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.elsewhere, 0);
	assert_int_equal(writer_busy(NULL), 0);
	writer_wait(NULL);
	writer_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_in_order_elsewhere),
		cmocka_unit_test(test_wait_sees_results),
		cmocka_unit_test(test_busy_until_done),
		cmocka_unit_test(test_free_finishes),
		cmocka_unit_test(test_no_writer_inline),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
