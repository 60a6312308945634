/*
 * The synthetic corpus.  Per record only (datestamp, version, deleted) is
 * kept, 16 bytes, so that a million records are cheap; the text is generated
 * on demand from (seed, index, version) with splitmix64, so the same flags
 * give the same bytes on every run.  Title and description depend on the
 * version (an update changes them); everything else depends on the index
 * only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "server.h"

/* 2005-01-01T00:00:00Z .. 2025-12-31T23:59:59Z */
#define DS_FIRST 1104537600LL
#define DS_LAST	 1767225599LL

#define ID_PREFIX     "oai:oaiharvest.test:rec/"
#define DC_TEXT_MAX   (64 * 1024)
#define DUMP_LINE_MAX (1024 * 1024)

/* Independent random streams of one record. */
enum stream {
	STREAM_DATESTAMP = 1,
	STREAM_FIXED,	  /* creators, subjects, ...: by index */
	STREAM_VERSIONED, /* title and description: by version too */
};

struct rec {
	int64_t	 datestamp;
	uint32_t version;
	uint8_t	 deleted;
	uint8_t	 purged; /* gone without a trace (deletedRecord
					   "no"): in no list, no dump */
	int16_t	 coll;	 /* moved to col_<coll>, or -1 */
};

struct corpus {
	struct corpus_conf conf;
	struct rec	  *recs;
	size_t		   n;
	time_t		   max_ds;     /* the modification clock */
	uint64_t	   generation; /* bumped by every change */
	unsigned int	   xml_style;  /* /control/xml-style */

	/* completeListSize of the last filter asked for. */
	int		     cache_valid;
	uint64_t	     cache_gen;
	struct corpus_filter cache_f;
	size_t		     cache_count;
};

struct rng {
	uint64_t s;
};

/* A language of generated text. */
struct lang {
	const char	  *xml_lang; /* title's xml:lang, or NULL */
	const char	  *dc_lang;  /* dc:language */
	const char *const *words;
	size_t		   nwords;
	const char *const *starters; /* capitalised openers */
	size_t		   nstarters;
	const char *const *joins;
	size_t		   njoins;
};

struct names {
	const char *const *surnames;
	size_t		   nsurnames;
	const char *const *given;
	size_t		   ngiven;
};

/* PRNG */
static uint64_t rng_next(struct rng *);
static void   rng_seed(struct rng *, uint64_t, uint64_t, uint64_t, enum stream);
static size_t rng_below(struct rng *, size_t);

/* Text */
static void val_start(struct dc_rec *, enum dc_elem, const char *);
static void val_add(struct dc_rec *, const char *);
static void val_end(struct dc_rec *);
static void val_simple(struct dc_rec *, enum dc_elem, const char *);
static void add_words(
    struct dc_rec *, struct rng *, const struct lang *, size_t);
static void add_title(struct dc_rec *, struct rng *, const struct lang *);
static void add_description(struct dc_rec *, struct rng *, const struct lang *);
static void add_creators(struct dc_rec *, struct rng *);
static void add_subjects(struct dc_rec *, struct rng *);

/* Corpus */
static time_t initial_datestamp(uint64_t, size_t);
static int    in_set(const struct corpus *, size_t, int);
static int    check_index(const struct corpus *, size_t, const char **);

#define PICK(r, t) ((t)[rng_below((r), nitems(t))])
#define LIST(t)	   (t), nitems(t)

/* Word lists */

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
	"significant",
	"regional",
	"national",
	"local",
	"empirical",
	"qualitative",
	"quantitative",
	"historical",
	"social",
	"public",
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
static const char *const en_joins[] = {
	"of",
	"the",
	"in",
	"and",
	"for",
	"with",
	"on",
	"between",
	"across",
	"among",
	"within",
	"towards",
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
	"гауһар",
	"жиһаз",
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
	"кітапхана",
	"Қазақстан",
	"Қарағанды",
	"Алматы",
	"Астана",
};
static const char *const kk_starters[] = {
	"Бұл",
	"Зерттеу",
	"Мақалада",
	"Қазақстанда",
	"Жұмыста",
	"Нәтижесінде",
	"Авторлар",
	"Өңірлік",
	"Ұлттық",
};
static const char *const kk_joins[] = {
	"және",
	"мен",
	"үшін",
	"бойынша",
	"арқылы",
	"туралы",
	"ішінде",
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
	"национальный",
	"современный",
	"значительный",
	"сравнительный",
	"Казахстан",
	"Евразия",
};
static const char *const ru_starters[] = {
	"Данная",
	"В",
	"Исследование",
	"Статья",
	"Авторы",
	"Результаты",
	"Работа",
	"Ёмкость",
};
static const char *const ru_joins[] = {
	"и",
	"в",
	"на",
	"для",
	"при",
	"между",
	"о",
	"по",
};

/* The title's language; the first has no xml:lang. */
static const struct lang langs[] = {
	{ NULL, "en", LIST(en_words), LIST(en_starters), LIST(en_joins) },
	{ "kk", "kk", LIST(kk_words), LIST(kk_starters), LIST(kk_joins) },
	{ "ru", "ru", LIST(ru_words), LIST(ru_starters), LIST(ru_joins) },
	{ "en", "en", LIST(en_words), LIST(en_starters), LIST(en_joins) },
};

/* XML-special characters, regularly, and text that looks like markup. */
static const char *const title_tails[] = {
	" & Co.",
	" <draft>",
	": a \"case\" study",
	" (x > y)",
	": O'Brien's view",
	" R&D",
	" — «Қ&Ә»",
	" &amp; more",
};
static const char *const desc_bits[] = {
	" (p < 0.05)",
	" R&D",
	" \"so-called\"",
	" O'Neil's",
	" x > y",
	" <b>bold</b>",
	" AT&T",
	" &amp;",
	" ]]>",
	" 'quoted'",
	" \"Қазақ & Ко\"",
	" «шыңы» & <не>",
};

static const char *const kk_surnames[] = {
	"Нұрланұлы",
	"Әбенова",
	"Сәтбаев",
	"Қасымов",
	"Өмірзақова",
	"Жұмабаев",
	"Ғабитов",
	"Үсенова",
	"Шаһмарданов",
	"Ысқақова",
	"Бекмұханбетов",
	"Иманғалиева",
};
static const char *const kk_given[] = {
	"Айгерім",
	"Нұрсұлтан",
	"Әлия",
	"Ерлан",
	"Гүлнар",
	"Данияр",
	"Жанар",
	"Асқар",
	"Мөлдір",
	"Ұлжан",
	"Құралай",
	"Бауыржан",
};
static const char *const kklat_surnames[] = {
	"Nurlanuly",
	"Abenova",
	"Satbayev",
	"Kassymov",
	"Zhumabayev",
	"Omirzakova",
};
static const char *const kklat_given[] = {
	"Aigerim",
	"Yerlan",
	"Dariga",
	"Askar",
	"Zhanar",
	"Nursultan",
};
static const char *const ru_surnames[] = {
	"Иванов",
	"Петрова",
	"Смирнов",
	"Кузнецова",
	"Соколов",
	"Попова",
	"Лебедев",
	"Ёлкина",
	"Фёдоров",
	"Щербаков",
};
static const char *const ru_given[] = {
	"Алексей",
	"Мария",
	"Дмитрий",
	"Ольга",
	"Сергей",
	"Наталья",
	"Юрий",
	"Татьяна",
};
static const char *const en_surnames[] = {
	"Smith",
	"O'Connor",
	"Johnson",
	"Brown",
	"Williams",
	"McAllister",
	"Taylor-Jones",
	"D'Arcy",
};
static const char *const en_given[] = {
	"John",
	"Emily",
	"Michael",
	"Sarah",
	"David",
	"Anne-Marie",
	"Chloë",
	"James",
};
static const struct names names[] = {
	{ LIST(kk_surnames), LIST(kk_given) },
	{ LIST(kklat_surnames), LIST(kklat_given) },
	{ LIST(ru_surnames), LIST(ru_given) },
	{ LIST(en_surnames), LIST(en_given) },
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

const char *const dc_elem_names[DC_NELEMS] = {
	"title",
	"creator",
	"subject",
	"description",
	"publisher",
	"contributor",
	"date",
	"type",
	"format",
	"identifier",
	"source",
	"language",
	"relation",
	"coverage",
	"rights",
};

/* PRNG */

static uint64_t
rng_next(struct rng *r)
{
	uint64_t z;

	z = (r->s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void
rng_seed(struct rng *r, uint64_t seed, uint64_t i, uint64_t version,
    enum stream stream)
{
	r->s = seed;
	r->s = rng_next(r) ^ i;
	r->s = rng_next(r) ^ version;
	r->s = rng_next(r) ^ (uint64_t)stream;
	(void)rng_next(r);
}

/* A number in [0, n); the modulo bias is of no concern here. */
static size_t
rng_below(struct rng *r, size_t n)
{
	return (size_t)(rng_next(r) % n);
}

/* Text */

static void
val_start(struct dc_rec *d, enum dc_elem e, const char *lang)
{
	if (d->n == DC_MAX_VALUES)
		fatalx("corpus: too many DC values");
	d->v[d->n].elem = e;
	d->v[d->n].lang = lang;
	d->v[d->n].off = d->text.len;
	d->v[d->n].len = 0;
}

static void
val_add(struct dc_rec *d, const char *s)
{
	if (buf_addstr(&d->text, s) == -1)
		fatalx("corpus: DC text too long");
}

static void
val_end(struct dc_rec *d)
{
	d->v[d->n].len = d->text.len - d->v[d->n].off;
	d->n++;
}

static void
val_simple(struct dc_rec *d, enum dc_elem e, const char *s)
{
	val_start(d, e, NULL);
	val_add(d, s);
	val_end(d);
}

/* n words, with joining words between some of them. */
static void
add_words(struct dc_rec *d, struct rng *r, const struct lang *l, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		val_add(d, " ");
		val_add(d, l->words[rng_below(r, l->nwords)]);
		if (i + 1 < n && rng_below(r, 3) == 0) {
			val_add(d, " ");
			val_add(d, l->joins[rng_below(r, l->njoins)]);
		}
	}
}

static void
add_title(struct dc_rec *d, struct rng *r, const struct lang *l)
{
	val_start(d, DC_TITLE, l->xml_lang);
	val_add(d, l->starters[rng_below(r, l->nstarters)]);
	add_words(d, r, l, 3 + rng_below(r, 7));
	if (rng_below(r, 2) == 0)
		val_add(d, PICK(r, title_tails));
	val_end(d);
}

/*
 * About 1-1.5 KB of sentences, mostly in the record's language with some in
 * the other two, and at least one XML-special fragment.
 */
static void
add_description(struct dc_rec *d, struct rng *r, const struct lang *l)
{
	const struct lang *sl;
	size_t		   target, start, nsent = 0;

	val_start(d, DC_DESCRIPTION, NULL);
	start = d->text.len;
	target = 1000 + rng_below(r, 500);
	while (d->text.len - start < target) {
		sl = rng_below(r, 3) == 0 ? &langs[1 + rng_below(r, 3)] : l;
		if (nsent++ > 0)
			val_add(d, " ");
		val_add(d, sl->starters[rng_below(r, sl->nstarters)]);
		add_words(d, r, sl, 2 + rng_below(r, 4));
		if (nsent == 1 || rng_below(r, 3) == 0)
			val_add(d, PICK(r, desc_bits));
		add_words(d, r, sl, 3 + rng_below(r, 10));
		val_add(d, rng_below(r, 8) == 0 ? "?" : ".");
	}
	val_end(d);
}

static void
add_creators(struct dc_rec *d, struct rng *r)
{
	const struct names *nm;
	size_t		    i, n;

	n = 2 + rng_below(r, 4);
	for (i = 0; i < n; i++) {
		nm = &names[rng_below(r, nitems(names))];
		val_start(d, DC_CREATOR, NULL);
		val_add(d, nm->surnames[rng_below(r, nm->nsurnames)]);
		val_add(d, ", ");
		val_add(d, nm->given[rng_below(r, nm->ngiven)]);
		val_end(d);
	}
}

/* 3-8 distinct subjects: a partial Fisher-Yates shuffle of the list. */
static void
add_subjects(struct dc_rec *d, struct rng *r)
{
	size_t idx[nitems(subjects)], i, j, n, t;

	for (i = 0; i < nitems(subjects); i++)
		idx[i] = i;
	n = 3 + rng_below(r, 6);
	for (i = 0; i < n; i++) {
		j = i + rng_below(r, nitems(subjects) - i);
		t = idx[i];
		idx[i] = idx[j];
		idx[j] = t;
		val_simple(d, DC_SUBJECT, subjects[idx[i]]);
	}
}

void
dc_init(struct dc_rec *d)
{
	buf_init(&d->text, DC_TEXT_MAX);
	d->n = 0;
}

void
dc_free(struct dc_rec *d)
{
	buf_free(&d->text);
	d->n = 0;
}

/*
 * Generate record i's metadata.  Values are produced in DCMES element
 * order, so the XML order and the dump's grouping by element agree.
 * A deleted record has none.
 */
void
corpus_dc(const struct corpus *c, size_t i, struct dc_rec *d)
{
	const struct rec  *rec = &c->recs[i - 1];
	const struct lang *l;
	struct rng	   fixed, vers;
	char		   s[128];
	size_t		   k;
	int		   y;

	buf_reset(&d->text);
	d->n = 0;
	if (rec->deleted)
		return;
	rng_seed(&fixed, c->conf.seed, i, 0, STREAM_FIXED);
	rng_seed(&vers, c->conf.seed, i, rec->version, STREAM_VERSIONED);
	l = &langs[rng_below(&fixed, nitems(langs))];

	add_title(d, &vers, l);
	add_creators(d, &fixed);
	add_subjects(d, &fixed);
	add_description(d, &vers, l);
	val_simple(d, DC_PUBLISHER, PICK(&fixed, publishers));

	y = 1990 + (int)rng_below(&fixed, 36);
	switch (rng_below(&fixed, 3)) {
	case 0:
		snprintf(s, sizeof(s), "%d", y);
		break;
	case 1:
		snprintf(
		    s, sizeof(s), "%d-%02d", y, 1 + (int)rng_below(&fixed, 12));
		break;
	default:
		snprintf(s, sizeof(s), "%d-%02d-%02d", y,
		    1 + (int)rng_below(&fixed, 12),
		    1 + (int)rng_below(&fixed, 28));
		break;
	}
	val_simple(d, DC_DATE, s);
	val_simple(d, DC_TYPE, PICK(&fixed, types));

	snprintf(
	    s, sizeof(s), "https://oaiharvest.test/handle/123456789/%zu", i);
	val_simple(d, DC_IDENTIFIER, s);
	if (rng_below(&fixed, 3) == 0) {
		snprintf(s, sizeof(s),
		    "https://oaiharvest.test/item?id=%zu&format=full", i);
		val_simple(d, DC_IDENTIFIER, s);
	}
	val_simple(d, DC_LANGUAGE, l->dc_lang);
	k = rng_below(&fixed, nitems(rights));
	val_simple(d, DC_RIGHTS, rights[k]);
	if (rng_below(&fixed, 4) == 0) {
		k = (k + 1 + rng_below(&fixed, nitems(rights) - 1)) %
		    nitems(rights);
		val_simple(d, DC_RIGHTS, rights[k]);
	}
}

/* Corpus */

static time_t
initial_datestamp(uint64_t seed, size_t i)
{
	struct rng r;

	rng_seed(&r, seed, i, 0, STREAM_DATESTAMP);
	return (time_t)(DS_FIRST +
	    (long long)rng_below(&r, (size_t)(DS_LAST - DS_FIRST + 1)));
}

struct corpus *
corpus_new(const struct corpus_conf *conf)
{
	struct corpus *c;
	size_t	       i;

	c = xcalloc(1, sizeof(*c));
	c->conf = *conf;
	c->n = conf->records;
	c->recs = xreallocarray(NULL, c->n, sizeof(*c->recs));
	c->max_ds = DS_FIRST;
	for (i = 1; i <= c->n; i++) {
		c->recs[i - 1].datestamp = initial_datestamp(conf->seed, i);
		c->recs[i - 1].version = 0;
		c->recs[i - 1].purged = 0;
		c->recs[i - 1].coll = -1;
		c->recs[i - 1].deleted =
		    conf->deleted_every > 0 && i % conf->deleted_every == 0;
		if (c->recs[i - 1].datestamp > c->max_ds)
			c->max_ds = c->recs[i - 1].datestamp;
	}
	return c;
}

void
corpus_free(struct corpus *c)
{
	if (c == NULL)
		return;
	free(c->recs);
	free(c);
}

size_t
corpus_size(const struct corpus *c)
{
	return c->n;
}

uint64_t
corpus_seed(const struct corpus *c)
{
	return c->conf.seed;
}

enum oai_granularity
corpus_granularity(const struct corpus *c)
{
	return c->conf.gran;
}

time_t
corpus_earliest(const struct corpus *c)
{
	time_t min = DS_FIRST;
	size_t i;

	for (i = 0; i < c->n; i++)
		if (i == 0 || c->recs[i].datestamp < min)
			min = c->recs[i].datestamp;
	return min;
}

void
corpus_get(const struct corpus *c, size_t i, struct corpus_rec *out)
{
	out->datestamp = c->recs[i - 1].datestamp;
	out->version = c->recs[i - 1].version;
	out->deleted = c->recs[i - 1].deleted;
}

void
corpus_identifier(size_t i, char *out, size_t len)
{
	snprintf(out, len, ID_PREFIX "%zu", i);
}

/* The index of an identifier, or 0; only the canonical spelling counts. */
size_t
corpus_lookup(const struct corpus *c, const char *id)
{
	const char *errstr;
	long long   v;
	char	    canon[64];

	if (strncmp(id, ID_PREFIX, sizeof(ID_PREFIX) - 1) != 0)
		return 0;
	if (parse_ll(id + sizeof(ID_PREFIX) - 1, 1, (long long)c->n, &v,
		&errstr) == -1)
		return 0;
	corpus_identifier((size_t)v, canon, sizeof(canon));
	if (c->recs[v - 1].purged)
		return 0;
	return strcmp(canon, id) == 0 ? (size_t)v : 0;
}

/* Set ids: col_j is j (0 <= j < K), com_3 is K. */
unsigned int
corpus_nsets(const struct corpus *c)
{
	return c->conf.sets == 0 ? 0 : c->conf.sets + 1;
}

/* The id of a setSpec, or -1 when there is no such set. */
int
corpus_set_lookup(const struct corpus *c, const char *spec)
{
	const char *errstr;
	long long   v;
	char	    canon[32];

	if (c->conf.sets == 0)
		return -1;
	if (strcmp(spec, "com_3") == 0)
		return (int)c->conf.sets;
	if (strncmp(spec, "col_", 4) != 0 ||
	    parse_ll(spec + 4, 0, c->conf.sets - 1, &v, &errstr) == -1)
		return -1;
	corpus_set_spec(c, (int)v, canon, sizeof(canon));
	return strcmp(canon, spec) == 0 ? (int)v : -1;
}

void
corpus_set_spec(const struct corpus *c, int set, char *out, size_t len)
{
	if ((unsigned int)set == c->conf.sets)
		snprintf(out, len, "com_3");
	else
		snprintf(out, len, "col_%d", set);
}

void
corpus_set_name(const struct corpus *c, int set, char *out, size_t len)
{
	if ((unsigned int)set == c->conf.sets)
		snprintf(out, len, "Community: every third record");
	else
		snprintf(out, len, "Collection %d", set);
}

/* Record i's collection: i % K, unless /control/move put it elsewhere. */
static int
coll_of(const struct corpus *c, size_t i)
{
	if (c->recs[i - 1].coll >= 0)
		return c->recs[i - 1].coll;
	return (int)(i % c->conf.sets);
}

/* Record i's sets into out[2], collection first; returns how many. */
size_t
corpus_rec_sets(const struct corpus *c, size_t i, int *out)
{
	size_t n = 0;

	if (c->conf.sets == 0)
		return 0;
	out[n++] = coll_of(c, i);
	if (i % 3 == 0)
		out[n++] = (int)c->conf.sets;
	return n;
}

static int
in_set(const struct corpus *c, size_t i, int set)
{
	if (set < 0)
		return 1;
	if ((unsigned int)set == c->conf.sets)
		return i % 3 == 0;
	return coll_of(c, i) == set;
}

/* The first record at index >= start that f selects, or 0. */
size_t
corpus_next(const struct corpus *c, size_t start, const struct corpus_filter *f)
{
	size_t i;

	for (i = start == 0 ? 1 : start; i <= c->n; i++) {
		if (c->recs[i - 1].purged)
			continue;
		if (c->recs[i - 1].datestamp < f->from ||
		    c->recs[i - 1].datestamp > f->until)
			continue;
		if (in_set(c, i, f->set))
			return i;
	}
	return 0;
}

/*
 * completeListSize.  A harvest asks for the same filter page after page, so
 * one cached answer, invalidated by any change, saves a scan per page.
 */
size_t
corpus_count(struct corpus *c, const struct corpus_filter *f)
{
	size_t i, n = 0;

	if (c->cache_valid && c->cache_gen == c->generation &&
	    c->cache_f.set == f->set && c->cache_f.from == f->from &&
	    c->cache_f.until == f->until)
		return c->cache_count;
	for (i = corpus_next(c, 1, f); i != 0; i = corpus_next(c, i + 1, f))
		n++;
	c->cache_valid = 1;
	c->cache_gen = c->generation;
	c->cache_f = *f;
	c->cache_count = n;
	return n;
}

/* Changes */

static int
check_index(const struct corpus *c, size_t i, const char **cause)
{
	if (i < 1 || i > c->n) {
		*cause = "no such record";
		return -1;
	}
	return 0;
}

/*
 * The modification clock: like a real repository, a change is stamped
 * with the current time; and never earlier than the newest datestamp plus
 * one second, so that every change is later than everything before it.
 */
static time_t
tick(struct corpus *c)
{
	time_t now = time(NULL);

	c->max_ds = now > c->max_ds ? now : c->max_ds + 1;
	return c->max_ds;
}

/* Append n records, each stamped by the modification clock. */
int
corpus_add(struct corpus *c, size_t n, size_t *first, const char **cause)
{
	size_t i;

	if (n < 1 || n > SRV_MAX_ADD || c->n + n > (size_t)SRV_MAX_RECORDS) {
		*cause = "bad number of records to add";
		return -1;
	}
	c->recs = xreallocarray(c->recs, c->n + n, sizeof(*c->recs));
	*first = c->n + 1;
	for (i = 0; i < n; i++) {
		c->recs[c->n].datestamp = tick(c);
		c->recs[c->n].version = 0;
		c->recs[c->n].purged = 0;
		c->recs[c->n].coll = -1;
		c->recs[c->n].deleted = 0;
		c->n++;
	}
	c->generation++;
	return 0;
}

int
corpus_update(struct corpus *c, size_t i, const char **cause)
{
	if (check_index(c, i, cause) == -1)
		return -1;
	if (c->recs[i - 1].deleted) {
		*cause = "record is deleted";
		return -1;
	}
	c->recs[i - 1].version++;
	c->recs[i - 1].datestamp = tick(c);
	c->generation++;
	return 0;
}

int
corpus_touch(struct corpus *c, size_t i, const char **cause)
{
	if (check_index(c, i, cause) == -1)
		return -1;
	c->recs[i - 1].datestamp = tick(c);
	c->generation++;
	return 0;
}

int
corpus_delete(struct corpus *c, size_t i, const char **cause)
{
	if (check_index(c, i, cause) == -1)
		return -1;
	if (c->recs[i - 1].deleted) {
		*cause = "record is already deleted";
		return -1;
	}
	c->recs[i - 1].deleted = 1;
	c->recs[i - 1].datestamp = tick(c);
	c->generation++;
	return 0;
}

/*
 * A repository that keeps no deletions (deletedRecord "no") just forgets a
 * record: it is in no list any more, with no deleted header.
 */
int
corpus_purge(struct corpus *c, size_t i, const char **cause)
{
	if (check_index(c, i, cause) == -1)
		return -1;
	if (c->recs[i - 1].purged) {
		*cause = "record is already purged";
		return -1;
	}
	c->recs[i - 1].purged = 1;
	c->generation++;
	return 0;
}

/*
 * Record i moves to collection col_<set> (its com_3 membership stays): its
 * header's sets change, its metadata does not, and it gets a new datestamp.
 */
int
corpus_move(struct corpus *c, size_t i, int set, const char **cause)
{
	if (check_index(c, i, cause) == -1)
		return -1;
	if (c->conf.sets == 0 || set < 0 || (unsigned int)set >= c->conf.sets) {
		*cause = "no such collection";
		return -1;
	}
	if (coll_of(c, i) == set) {
		*cause = "record is already in that collection";
		return -1;
	}
	c->recs[i - 1].coll = (int16_t)set;
	c->recs[i - 1].datestamp = tick(c);
	c->generation++;
	return 0;
}

/* A datestamp as record headers and the dump carry it (--datestamp-style). */
void
corpus_datestamp(const struct corpus *c, time_t t, char *out)
{
	struct tm tm;

	if (c->conf.ds_style == DS_PLUS2 && c->conf.gran != GRAN_DAY) {
		t += 2 * 3600;
		gmtime_r(&t, &tm);
		strftime(
		    out, SRV_DATESTAMP_LEN, "%Y-%m-%dT%H:%M:%S+02:00", &tm);
		return;
	}
	gmtime_r(&t, &tm);
	switch (c->conf.ds_style) {
	case DS_COMPACT:
		strftime(out, SRV_DATESTAMP_LEN, "%Y%m%d", &tm);
		return;
	case DS_MILLIS:
		strftime(out, SRV_DATESTAMP_LEN,
		    c->conf.gran == GRAN_DAY ? "%Y-%m-%d" :
					       "%Y-%m-%dT%H:%M:%S.000Z",
		    &tm);
		return;
	case DS_OFFSET:
		strftime(out, SRV_DATESTAMP_LEN,
		    c->conf.gran == GRAN_DAY ? "%Y-%m-%d" :
					       "%Y-%m-%dT%H:%M:%S+00:00",
		    &tm);
		return;
	case DS_SPACE:
		strftime(out, SRV_DATESTAMP_LEN,
		    c->conf.gran == GRAN_DAY ? "%Y-%m-%d" :
					       "%Y-%m-%d %H:%M:%SZ",
		    &tm);
		return;
	case DS_CANONICAL:
	case DS_PLUS2:
		break;
	}
	datestamp_format(t, c->conf.gran, out);
}

/* How metadata XML is written: 0 as always, others C14N-equal to it. */
void
corpus_set_xml_style(struct corpus *c, unsigned int style)
{
	c->xml_style = style;
	c->generation++;
}

unsigned int
corpus_xml_style(const struct corpus *c)
{
	return c->xml_style;
}

int
corpus_undelete(struct corpus *c, size_t i, const char **cause)
{
	if (check_index(c, i, cause) == -1)
		return -1;
	if (!c->recs[i - 1].deleted) {
		*cause = "record is not deleted";
		return -1;
	}
	c->recs[i - 1].deleted = 0;
	c->recs[i - 1].datestamp = tick(c);
	c->generation++;
	return 0;
}

/* Dump */

/*
 * The ground truth for integration tests: one JSON object per record, from
 * the same dc_rec the XML is rendered from.
 */
void
corpus_dump(const struct corpus *c, struct evbuffer *out)
{
	struct buf    b;
	struct dc_rec d;
	char	      id[64], ds[SRV_DATESTAMP_LEN], spec[32];
	int	      sets[2];
	size_t	      i, j, ns;
	int	      prev, r = 0;

	buf_init(&b, DUMP_LINE_MAX);
	dc_init(&d);
	for (i = 1; i <= c->n; i++) {
		if (c->recs[i - 1].purged)
			continue;
		buf_reset(&b);
		corpus_identifier(i, id, sizeof(id));
		corpus_datestamp(c, c->recs[i - 1].datestamp, ds);
		r |= buf_addstr(&b, "{\"identifier\":");
		r |= json_add_string(&b, id, (size_t)-1);
		r |= buf_addstr(&b, ",\"datestamp\":");
		r |= json_add_string(&b, ds, (size_t)-1);
		r |= buf_addstr(&b,
		    c->recs[i - 1].deleted ? ",\"deleted\":true,\"sets\":[" :
					     ",\"deleted\":false,\"sets\":[");
		ns = corpus_rec_sets(c, i, sets);
		for (j = 0; j < ns; j++) {
			corpus_set_spec(c, sets[j], spec, sizeof(spec));
			if (j > 0)
				r |= buf_addch(&b, ',');
			r |= json_add_string(&b, spec, (size_t)-1);
		}
		r |= buf_addstr(&b, "],\"dc\":{");
		corpus_dc(c, i, &d);
		prev = -1;
		for (j = 0; j < d.n; j++) {
			if ((int)d.v[j].elem != prev) {
				if (prev != -1)
					r |= buf_addstr(&b, "],");
				r |= json_add_string(
				    &b, dc_elem_names[d.v[j].elem], (size_t)-1);
				r |= buf_addstr(&b, ":[");
				prev = (int)d.v[j].elem;
			} else
				r |= buf_addch(&b, ',');
			r |= json_add_string(
			    &b, d.text.data + d.v[j].off, d.v[j].len);
		}
		r |= buf_addstr(&b, prev != -1 ? "]}}\n" : "}}\n");
		if (r != 0)
			fatalx("corpus_dump: line too long");
		evbuffer_add(out, b.data, b.len);
	}
	dc_free(&d);
	buf_free(&b);
}
