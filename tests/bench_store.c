/*
 * bench_store: store_put() throughput, database size and peak memory on
 * realistic oai_dc records.  Not part of make check; build it by hand:
 *
 *	gcc -O2 -std=c11 -D_GNU_SOURCE -pthread -Icommon -Istore -Ifeed \
 *	    tests/bench_store.c store/[a-z]*.c feed/encode.c common/util.c \
 *	    common/log.c \
 *	    common/writer.c -lsqlite3 -o /tmp/bench_store
 *	/tmp/bench_store -n 1000000 -p 10000
 *
 * -n records (100,000), -p records per page transaction (100), -f the
 * database (/tmp/bench_store.db, removed first unless -k), -u N: then put
 * records 1..N again unchanged and then updated, -e FILE: export to FILE
 * (to compare two stores' exports byte for byte), -d N: then delete records
 * 1..N (after the updates, if any).
 *
 * Records look like the test server's corpus (tests/server/corpus.c): about
 * 2.6 KB of oai_dc XML each with some 16 DC values (a 1-1.5 KB description,
 * a title, 2-5 creators, 3-8 subjects, publisher, date, type, one or two
 * identifiers, language, one or two rights statements) in English, Kazakh
 * and Russian, with XML-special characters; half the subjects are free
 * keywords, so values have many distinct forms.  Everything derives from
 * the record number with splitmix64: every run stores the same bytes.
 *
 * Only the store calls are timed (begin, put, checkpoint, commit), with
 * both clocks: records are generated CHUNK at a time before the clocks
 * start.  CPU time is what to compare on a busy machine; wall time adds
 * what the process waited for (fsync, or the CPU).  The rate is printed for
 * every tenth of the run, so that a collapse as the database grows shows.
 */
#include <sys/resource.h>
#include <sys/stat.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "util.h"
#include "log.h"
#include "encode.h"
#include "store.h"

#define MAX_VALUES 64
#define TEXT_MAX   (64 * 1024)

struct rng {
	uint64_t s;
};

struct lang {
	const char	  *xml_lang; /* the title's, or NULL */
	const char	  *dc_lang;
	const char *const *words;
	size_t		   nwords;
	const char *const *starters;
	size_t		   nstarters;
};

/* One generated record: its DC values in document order, and its XML. */
struct gen {
	struct buf	text; /* DC values, NUL-separated */
	size_t		off[MAX_VALUES];
	const char     *el[MAX_VALUES];
	const char     *lang[MAX_VALUES];
	size_t		n;
	struct buf	xml;
	char		id[64];
	char		ds[DATESTAMP_LEN];
	const char     *sets[2];
	size_t		nsets;
	struct store_dc dc[MAX_VALUES];
};

/* Records generated ahead of the timed store calls. */
#define CHUNK 100

struct bench {
	struct gen		g[CHUNK];
	struct store	       *s;
	const char	       *path;
	int64_t			src;
	long long		page;
	struct store_list_state ls;
	long long		xml_bytes;
	long long		wal_max;
	double			wall;
	double			cpu;
};

#define LIST(t)	   (t), nitems(t)
#define PICK(r, t) ((t)[below((r), nitems(t))])

static const char *const en_words[] = {
	"analysis",
	"approach",
	"assessment",
	"border",
	"capital",
	"case",
	"change",
	"climate",
	"community",
	"comparison",
	"context",
	"curriculum",
	"data",
	"design",
	"development",
	"digital",
	"economic",
	"education",
	"effect",
	"energy",
	"environment",
	"evaluation",
	"evidence",
	"experience",
	"factor",
	"framework",
	"growth",
	"health",
	"history",
	"identity",
	"impact",
	"implementation",
	"innovation",
	"institution",
	"knowledge",
	"labour",
	"language",
	"learning",
	"market",
	"method",
	"migration",
	"model",
	"network",
	"outcome",
	"policy",
	"population",
	"practice",
	"process",
	"quality",
	"reform",
	"region",
	"research",
	"resource",
	"risk",
	"role",
	"rural",
	"sample",
	"school",
	"sector",
	"society",
	"steppe",
	"strategy",
	"structure",
	"student",
	"study",
	"sustainable",
	"system",
	"teacher",
	"technology",
	"theory",
	"transition",
	"urban",
	"water",
	"welfare",
	"university",
	"of",
	"the",
	"in",
	"and",
	"for",
	"with",
	"on",
	"between",
	"across",
};
static const char *const en_starters[] = {
	"The",
	"This",
	"Our",
	"Towards",
	"Rethinking",
	"Assessing",
	"Measuring",
	"Mapping",
	"Understanding",
};
static const char *const kk_words[] = {
	"білім",
	"ғылым",
	"ғылыми",
	"зерттеу",
	"талдау",
	"әдіс",
	"әдістеме",
	"әлеуметтік",
	"өнер",
	"өндіріс",
	"өзгеріс",
	"үлгі",
	"үдеріс",
	"ұлттық",
	"ұйым",
	"жаңа",
	"маңызды",
	"даму",
	"мектеп",
	"мұғалім",
	"оқушы",
	"тіл",
	"қазақ",
	"қоғам",
	"құқық",
	"қаржы",
	"шаһар",
	"саясат",
	"экономика",
	"аймақ",
	"ауыл",
	"тарих",
	"мәдениет",
	"дәстүр",
	"ақпарат",
	"технология",
	"нәтиже",
	"мақсат",
	"міндет",
	"сапа",
	"деңгей",
	"жүйе",
	"құрылым",
	"бағдарлама",
	"тәжірибе",
	"жоба",
	"өңір",
	"халық",
	"ел",
	"мемлекеттік",
	"университет",
	"студент",
	"Қазақстан",
	"Алматы",
	"Астана",
	"және",
	"мен",
	"үшін",
	"бойынша",
};
static const char *const kk_starters[] = {
	"Бұл",
	"Зерттеу",
	"Мақалада",
	"Қазақстанда",
	"Жұмыста",
	"Нәтижесінде",
	"Авторлар",
};
static const char *const ru_words[] = {
	"анализ",
	"исследование",
	"развитие",
	"образование",
	"общество",
	"экономика",
	"политика",
	"система",
	"структура",
	"модель",
	"метод",
	"процесс",
	"качество",
	"уровень",
	"результат",
	"влияние",
	"регион",
	"город",
	"село",
	"школа",
	"учитель",
	"студент",
	"университет",
	"язык",
	"культура",
	"история",
	"традиция",
	"технология",
	"информация",
	"данные",
	"программа",
	"проект",
	"реформа",
	"управление",
	"население",
	"миграция",
	"рынок",
	"ресурс",
	"энергия",
	"вода",
	"климат",
	"степь",
	"устойчивый",
	"социальный",
	"экономический",
	"региональный",
	"Казахстан",
	"Евразия",
	"и",
	"в",
	"на",
	"для",
	"при",
	"между",
};
static const char *const ru_starters[] = {
	"Данная",
	"В",
	"Исследование",
	"Статья",
	"Авторы",
	"Результаты",
	"Работа",
};
static const struct lang langs[] = {
	{ NULL, "en", LIST(en_words), LIST(en_starters) },
	{ "kk", "kk", LIST(kk_words), LIST(kk_starters) },
	{ "ru", "ru", LIST(ru_words), LIST(ru_starters) },
	{ "en", "en", LIST(en_words), LIST(en_starters) },
};
static const char *const tails[] = {
	" & Co.",
	" <draft>",
	": a \"case\" study",
	" (x > y)",
	" R&D",
	" (p < 0.05)",
	" AT&T",
	" «Қ&Ә»",
};
static const char *const surnames[] = {
	"Нұрланұлы",
	"Әбенова",
	"Сәтбаев",
	"Қасымов",
	"Өмірзақова",
	"Жұмабаев",
	"Ғабитов",
	"Үсенова",
	"Nurlanuly",
	"Abenova",
	"Satbayev",
	"Kassymov",
	"Иванов",
	"Петрова",
	"Смирнов",
	"Кузнецова",
	"Соколов",
	"Smith",
	"O'Connor",
	"Johnson",
	"Brown",
	"McAllister",
	"D'Arcy",
};
static const char *const given[] = {
	"Айгерім",
	"Нұрсұлтан",
	"Әлия",
	"Ерлан",
	"Гүлнар",
	"Данияр",
	"Aigerim",
	"Yerlan",
	"Dariga",
	"Алексей",
	"Мария",
	"Ольга",
	"John",
	"Emily",
	"Sarah",
	"Anne-Marie",
	"Chloë",
	"A.",
	"B. K.",
};
static const char *const subjects[] = {
	"teacher leadership",
	"education policy",
	"Soviet heritage",
	"water resources",
	"steppe ecology",
	"білім беру",
	"көшбасшылық",
	"әлеуметтік теңсіздік",
	"тіл саясаты",
	"ғылыми әдістеме",
	"образование",
	"лидерство учителей",
	"миграция",
	"экономика Казахстана",
	"climate change",
	"R&D management",
	"law & society",
	"public health",
	"urban planning",
	"digital libraries",
	"machine learning",
	"Central Asia",
	"Орталық Азия",
	"Центральная Азия",
	"history",
	"оқу үдерісі",
	"гендер",
	"gender studies",
	"energy transition",
	"agriculture",
};
static const char *const publishers[] = {
	"Nazarbayev University",
	"Әл-Фараби атындағы Қазақ ұлттық университеті",
	"Казахский национальный университет",
	"Smith & Sons Publishing",
	"L.N. Gumilyov Eurasian National University",
	"Oxford University Press",
};
static const char *const types[] = {
	"Article",
	"Thesis",
	"Book",
	"Book chapter",
	"Conference paper",
	"Dataset",
	"Report",
	"Мақала",
	"Статья",
};
static const char *const rights[] = {
	"Attribution-NonCommercial-ShareAlike 3.0 United States",
	"CC BY 4.0",
	"Open Access",
	"Type of access: Restricted",
	"Барлық құқықтар қорғалған",
	"Все права защищены",
};
static const char *const setnames[] = {
	"col_0",
	"col_1",
	"col_2",
	"col_3",
};

static uint64_t	 next(struct rng *);
static size_t	 below(struct rng *, size_t);
static void	 add(struct gen *, const char *);
static void	 start(struct gen *, const char *, const char *);
static void	 words(struct gen *, struct rng *, const struct lang *, size_t);
static void	 simple(struct gen *, const char *, const char *);
static void	 xml_escaped(struct buf *, const char *);
static void	 generate(struct gen *, uint64_t, int);
static void	 to_record(struct gen *, struct store_record *);
static double	 clock_s(clockid_t);
static long long file_size(const char *);
static long long db_size(const char *);
static long long wal_size(const char *);
static void	 usage(void) __dead;
static void	 run(
	 struct bench *, long long, long long, int, enum store_change, const char *);

static uint64_t
next(struct rng *r)
{
	uint64_t z;

	z = (r->s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static size_t
below(struct rng *r, size_t n)
{
	return (size_t)(next(r) % n);
}

static void
add(struct gen *g, const char *s)
{
	if (buf_addstr(&g->text, s) == -1)
		fatalx("bench: record text too long");
}

/* A new value; the previous one ends with its NUL. */
static void
start(struct gen *g, const char *el, const char *lang)
{
	if (g->n > 0 && buf_add(&g->text, "", 1) == -1)
		fatalx("bench: record text too long");
	if (g->n == MAX_VALUES)
		fatalx("bench: too many values");
	g->off[g->n] = g->text.len;
	g->el[g->n] = el;
	g->lang[g->n] = lang;
	g->n++;
}

static void
words(struct gen *g, struct rng *r, const struct lang *l, size_t n)
{
	while (n-- > 0) {
		add(g, " ");
		add(g, l->words[below(r, l->nwords)]);
	}
}

static void
simple(struct gen *g, const char *el, const char *v)
{
	start(g, el, NULL);
	add(g, v);
}

static void
xml_escaped(struct buf *b, const char *s)
{
	const char *e;
	size_t	    n;
	int	    err = 0;

	for (;;) {
		n = strcspn(s, "&<>");
		err |= buf_add(b, s, n);
		s += n;
		if (*s == '\0')
			break;
		e = *s == '&' ? "&amp;" : *s == '<' ? "&lt;" : "&gt;";
		err |= buf_addstr(b, e);
		s++;
	}
	if (err)
		fatalx("bench: XML too long");
}

/*
 * Record i in version v: the DC values, then the <metadata> child as the
 * parser serializes it (every namespace declared on the root).
 */
static void
generate(struct gen *g, uint64_t i, int v)
{
	const struct lang *l, *sl;
	struct rng	   r;
	size_t		   k, n, target, begin;
	char		   s[128];
	int		   y, err = 0;

	r.s = i * 0x2545f4914f6cdd1dULL + (uint64_t)v;
	(void)next(&r);
	buf_reset(&g->text);
	g->n = 0;
	l = &langs[below(&r, nitems(langs))];

	start(g, "title", l->xml_lang);
	add(g, l->starters[below(&r, l->nstarters)]);
	words(g, &r, l, 3 + below(&r, 7));
	if (below(&r, 2) == 0)
		add(g, PICK(&r, tails));
	if (v > 0)
		add(g, " (revised)");
	for (n = 2 + below(&r, 4); n > 0; n--) {
		start(g, "creator", NULL);
		add(g, PICK(&r, surnames));
		add(g, ", ");
		add(g, PICK(&r, given));
	}
	/* Half from a fixed list, half free keywords: many distinct values. */
	for (n = 3 + below(&r, 6); n > 0; n--) {
		if (below(&r, 2) == 0)
			simple(g, "subject", PICK(&r, subjects));
		else {
			start(g, "subject", NULL);
			add(g, l->words[below(&r, l->nwords)]);
			words(g, &r, l, 1 + below(&r, 2));
		}
	}
	start(g, "description", NULL);
	begin = g->text.len;
	target = 1000 + below(&r, 500);
	for (k = 0; g->text.len - begin < target; k++) {
		sl = below(&r, 3) == 0 ? &langs[1 + below(&r, 3)] : l;
		if (k > 0)
			add(g, " ");
		add(g, sl->starters[below(&r, sl->nstarters)]);
		words(g, &r, sl, 4 + below(&r, 12));
		if (below(&r, 4) == 0)
			add(g, PICK(&r, tails));
		add(g, below(&r, 8) == 0 ? "?" : ".");
	}
	simple(g, "publisher", PICK(&r, publishers));
	y = 1990 + (int)below(&r, 36);
	snprintf(s, sizeof(s), "%d-%02d-%02d", y, 1 + (int)below(&r, 12),
	    1 + (int)below(&r, 28));
	simple(g, "date", s);
	simple(g, "type", PICK(&r, types));
	snprintf(s, sizeof(s), "https://oaiharvest.test/handle/123456789/%llu",
	    (unsigned long long)i);
	simple(g, "identifier", s);
	if (below(&r, 3) == 0) {
		snprintf(s, sizeof(s), "https://doi.org/10.%04d/%llx",
		    1000 + (int)below(&r, 9000), (unsigned long long)next(&r));
		simple(g, "identifier", s);
	}
	simple(g, "language", l->dc_lang);
	simple(g, "rights", PICK(&r, rights));
	if (below(&r, 4) == 0)
		simple(g, "rights", PICK(&r, rights));
	if (buf_add(&g->text, "", 1) == -1)
		fatalx("bench: record text too long");

	buf_reset(&g->xml);
	err |= buf_addstr(&g->xml,
	    "<oai_dc:dc xmlns:oai_dc=\"http://www."
	    "openarchives.org/OAI/2.0/oai_dc/\" xmlns:dc=\"http://purl.org/dc/"
	    "elements/1.1/\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-"
	    "instance\" xmlns=\"http://www.openarchives.org/OAI/2.0/\" "
	    "xsi:schemaLocation=\"http://www.openarchives.org/OAI/2.0/oai_dc/"
	    " http://www.openarchives.org/OAI/2.0/oai_dc.xsd\">\n");
	for (k = 0; k < g->n; k++) {
		err |= buf_addstr(&g->xml, "<dc:");
		err |= buf_addstr(&g->xml, g->el[k]);
		if (g->lang[k] != NULL) {
			err |= buf_addstr(&g->xml, " xml:lang=\"");
			err |= buf_addstr(&g->xml, g->lang[k]);
			err |= buf_addch(&g->xml, '"');
		}
		err |= buf_addch(&g->xml, '>');
		xml_escaped(&g->xml, g->text.data + g->off[k]);
		err |= buf_addstr(&g->xml, "</dc:");
		err |= buf_addstr(&g->xml, g->el[k]);
		err |= buf_addstr(&g->xml, ">\n");
	}
	err |= buf_addstr(&g->xml, "</oai_dc:dc>");
	if (err)
		fatalx("bench: XML too long");

	snprintf(g->id, sizeof(g->id), "oai:oaiharvest.test:rec/%llu",
	    (unsigned long long)i);
	datestamp_format(
	    (time_t)(1104537600 + (i * 7919) % 662688000), GRAN_SECONDS, g->ds);
	g->nsets = 0;
	g->sets[g->nsets++] = setnames[i % nitems(setnames)];
	if (i % 3 == 0)
		g->sets[g->nsets++] = "com_3";
}

static void
to_record(struct gen *g, struct store_record *r)
{
	size_t k;

	for (k = 0; k < g->n; k++) {
		g->dc[k].element = g->el[k];
		g->dc[k].value = g->text.data + g->off[k];
		g->dc[k].lang = g->lang[k];
	}
	memset(r, 0, sizeof(*r));
	r->prefix = "oai_dc";
	r->identifier = g->id;
	r->datestamp = g->ds;
	r->sets = g->sets;
	r->nsets = g->nsets;
	r->metadata = g->xml.data;
	r->metadata_len = g->xml.len;
	r->dc = g->dc;
	r->ndc = g->n;
}

/* Wall-clock or CPU seconds. */
static double
clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long long
file_size(const char *path)
{
	struct stat st;

	if (stat(path, &st) == -1)
		return 0;
	return (long long)st.st_size;
}

/* The database with its WAL. */
static long long
db_size(const char *path)
{
	return file_size(path) + wal_size(path);
}

static long long
wal_size(const char *path)
{
	char	 *p;
	long long n;

	xasprintf(&p, "%s-wal", path);
	n = file_size(p);
	free(p);
	return n;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: bench_store [-k] [-d records] [-e export-file] "
	    "[-f db] [-n records] [-p page-records] [-u records]\n");
	exit(2);
}

/*
 * Put records first..last (version v) in page transactions of page
 * records, expecting change want for each.  Records are generated CHUNK at
 * a time before the clocks start, so that only the store is timed.
 */
static void
run(struct bench *b, long long first, long long last, int v,
    enum store_change want, const char *what)
{
	struct store_record r;
	enum store_change   c;
	long long	    i, j, n, done = 0, next;
	double		    w0, c0, w, cpu, wstep = 0, cstep = 0;
	char		   *cause = NULL;

	b->wall = b->cpu = 0;
	next = (last - first + 1) / 10;
	if (next == 0)
		next = last - first + 1;
	for (i = first; i <= last; i += n) {
		n = last - i + 1 < CHUNK ? last - i + 1 : CHUNK;
		for (j = 0; j < n; j++) {
			generate(&b->g[j], (uint64_t)(i + j), v);
			b->xml_bytes += (long long)b->g[j].xml.len;
		}
		w0 = clock_s(CLOCK_MONOTONIC);
		c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
		for (j = 0; j < n; j++) {
			to_record(&b->g[j], &r);
			if (want == STORE_DELETED) {
				r.deleted = 1;
				r.metadata = NULL;
				r.metadata_len = 0;
				r.dc = NULL;
				r.ndc = 0;
			}
			if ((i + j - first) % b->page == 0 &&
			    store_begin(b->s, &cause) == -1)
				fatalx("%s", cause);
			if (store_put(b->s, b->src, 0, &r, &c, &cause) == -1)
				fatalx("%s", cause);
			if (c != want)
				fatalx("record %lld: change %d, not %d", i + j,
				    c, want);
			if ((i + j - first + 1) % b->page != 0 && i + j != last)
				continue;
			b->ls.pages++;
			b->ls.progress = b->g[j].ds;
			if (store_list_checkpoint(b->s, b->src, "oai_dc", NULL,
				&b->ls, &cause) == -1 ||
			    store_commit(b->s, &cause) == -1)
				fatalx("%s", cause);
			if ((w = wal_size(b->path)) > b->wal_max)
				b->wal_max = w;
		}
		w = clock_s(CLOCK_MONOTONIC) - w0;
		cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
		b->wall += w;
		b->cpu += cpu;
		wstep += w;
		cstep += cpu;
		done += n;
		if (done % next == 0 || i + n > last) {
			printf("  %-9s %9lld: %7.0f records/s (CPU %7.0f), "
			       "db %7.1f MB\n",
			    what, i + n - 1, next / wstep, next / cstep,
			    db_size(b->path) / 1e6);
			fflush(stdout);
			wstep = cstep = 0;
		}
	}
	printf("%s: %lld records in %.2f s: %.0f records/s (CPU %.2f s: "
	       "%.0f records/s)\n",
	    what, last - first + 1, b->wall, (last - first + 1) / b->wall,
	    b->cpu, (last - first + 1) / b->cpu);
	fflush(stdout);
}

int
main(int argc, char *argv[])
{
	struct bench  b;
	struct rusage ru;
	const char *export = NULL, *errstr;
	char	 *cause = NULL, *p;
	long long n = 100000, nupd = 0, ndel = 0, v, xml_bytes;
	double	  t0;
	int	  ch, keep = 0;
	size_t	  i;
	FILE	 *fp;

	memset(&b, 0, sizeof(b));
	b.path = "/tmp/bench_store.db";
	b.page = 100;
	while ((ch = getopt(argc, argv, "d:e:f:kn:p:u:")) != -1) {
		switch (ch) {
		case 'e':
			export = optarg;
			break;
		case 'f':
			b.path = optarg;
			break;
		case 'k':
			keep = 1;
			break;
		case 'd':
		case 'n':
		case 'p':
		case 'u':
			if (parse_ll(optarg, 1, 100000000, &v, &errstr) == -1)
				usage();
			if (ch == 'n')
				n = v;
			else if (ch == 'p')
				b.page = v;
			else if (ch == 'd')
				ndel = v;
			else
				nupd = v;
			break;
		default:
			usage();
		}
	}
	log_init(LOG_LVL_WARN);
	if (!keep) {
		unlink(b.path);
		xasprintf(&p, "%s-wal", b.path);
		unlink(p);
		free(p);
		xasprintf(&p, "%s-shm", b.path);
		unlink(p);
		free(p);
	}
	for (i = 0; i < CHUNK; i++) {
		buf_init(&b.g[i].text, TEXT_MAX);
		buf_init(&b.g[i].xml, 4 * TEXT_MAX);
	}
	b.ls.cursor = b.ls.complete_list_size = -1;
	if ((b.s = store_open(b.path, 0, &cause)) == NULL)
		fatalx("%s", cause);
	if ((b.src = store_source(
		 b.s, "bench", "https://oaiharvest.test/oai", 0, &cause)) < 0)
		fatalx("%s", cause);
	printf("bench_store: %lld records, %lld per transaction, %s, "
	       "SQLite %s\n",
	    n, b.page, b.path, sqlite3_libversion());

	run(&b, 1, n, 0, STORE_NEW, "insert");
	xml_bytes = b.xml_bytes;
	if (nupd > n)
		nupd = n;
	if (nupd > 0) {
		run(&b, 1, nupd, 0, STORE_UNCHANGED, "unchanged");
		run(&b, 1, nupd, 1, STORE_UPDATED, "update");
	}
	if (ndel > n)
		ndel = n;
	if (ndel > 0)
		run(&b, 1, ndel, 2, STORE_DELETED, "delete");
	if (export != NULL) {
		if ((fp = fopen(export, "w")) == NULL)
			fatal("%s", export);
		t0 = clock_s(CLOCK_MONOTONIC);
		if (feed_export(b.s, NULL, NULL, fp, &cause) == -1)
			fatalx("%s", cause);
		t0 = clock_s(CLOCK_MONOTONIC) - t0;
		if (fclose(fp) == EOF)
			fatal("%s", export);
		printf("export: %.2f s, %.0f records/s, %.1f MB\n", t0, n / t0,
		    file_size(export) / 1e6);
	}
	store_close(b.s);

	getrusage(RUSAGE_SELF, &ru);
	printf("size: %.1f MB (WAL peaked at %.1f MB) for %.1f MB of XML: "
	       "%.0f bytes/record, %.2f x the XML\n",
	    db_size(b.path) / 1e6, b.wal_max / 1e6, xml_bytes / 1e6,
	    (double)db_size(b.path) / n, (double)db_size(b.path) / xml_bytes);
	printf("peak RSS: %.1f MB\n", ru.ru_maxrss / 1024.0);
	for (i = 0; i < CHUNK; i++) {
		buf_free(&b.g[i].text);
		buf_free(&b.g[i].xml);
	}
	return 0;
}
