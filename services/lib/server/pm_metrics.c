/*
 * NAME
 *	pm_metrics - process-wide metrics registry, Prometheus text format
 * SUMMARY
 *	#include "pm_metrics.h"
 * DESCRIPTION
 *	See pm_metrics.h. A metric is allocated once at registration and
 *	never moves or goes away, so callers keep the pointer and update it
 *	without any lock: counters and gauges are one atomic 64-bit integer,
 *	a histogram is one atomic count per bucket (not cumulative; the
 *	renderer adds them up) plus a sum kept as the bits of a double,
 *	updated with a compare-and-swap loop. Registration and rendering
 *	take the registry mutex.
 *
 *	Rendering groups series by name: the first registration of a name
 *	prints "# HELP" and "# TYPE", then every series of that name in
 *	registration order. A histogram's _count is the sum of its buckets,
 *	so it always equals its +Inf bucket in one scrape.
 * LIMITS
 *	PM_METRICS_MAX series; PM_METRICS_MAX_BUCKETS buckets per
 *	histogram. A registration past PM_METRICS_MAX is warned about once
 *	and returns a shared metric that is never rendered.
 * SECURITY
 *	Names, help texts and label sets come from the program, not from
 *	peers; a malformed name is a bug (panic). Help text is escaped as
 *	the format requires.
 */
#include "pm_metrics.h"
#include "pm_log.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METRIC_PREFIX "postmesh_"

enum { M_SINK, M_COUNTER, M_GAUGE, M_HISTOGRAM };

struct pm_metric {
	int kind;
	char *name; /* with prefix */
	char *help;
	char *labels; /* "" or a="b",c="d" */
	_Atomic int64_t value;
	size_t nbuckets;
	double bounds[PM_METRICS_MAX_BUCKETS];
	_Atomic uint64_t counts[PM_METRICS_MAX_BUCKETS + 1]; /* +Inf last */
	_Atomic uint64_t sum_bits;                           /* a double */
};

const double pm_latency_buckets[] = {
	0.001,
	0.0025,
	0.005,
	0.01,
	0.025,
	0.05,
	0.1,
	0.25,
	0.5,
	1,
	2.5,
	5,
	10,
};
const size_t pm_latency_nbuckets =
    sizeof(pm_latency_buckets) / sizeof(pm_latency_buckets[0]);

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static pm_metric *reg[PM_METRICS_MAX];
static int nreg;
static int reg_full_warned;
static pm_metric sink = { .kind = M_SINK };

static void
check_name(const char *name)
{
	const char *p;

	PM_ASSERT(name != NULL && *name != 0);
	PM_ASSERT(!(*name >= '0' && *name <= '9'));
	for (p = name; *p; p++) {
		PM_ASSERT((*p >= 'a' && *p <= 'z') ||
		    (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    *p == '_' || *p == ':');
	}
}

static pm_metric *
metric_register(int kind, const char *name, const char *help,
    const char *labels, const double *buckets, size_t nbuckets)
{
	pm_metric *m = NULL;
	char *full;
	int i;

	check_name(name);
	if (labels == NULL) {
		labels = "";
	}
	/* Labels are program text; these would break the format. */
	PM_ASSERT(strpbrk(labels, "{}\n") == NULL);
	if (help == NULL) {
		help = "";
	}
	full = pm_asprintf("%s%s", METRIC_PREFIX, name);

	pthread_mutex_lock(&reg_mu);
	for (i = 0; i < nreg; i++) {
		if (strcmp(reg[i]->name, full) != 0) {
			continue;
		}
		if (reg[i]->kind != kind) {
			pm_panic("metric %s registered with two types", full);
		}
		if (strcmp(reg[i]->labels, labels) == 0) {
			m = reg[i];
			goto out;
		}
	}
	if (nreg >= PM_METRICS_MAX) {
		if (!reg_full_warned) {
			pm_msg_warn("more than %d metrics: %s%s%s%s not "
			            "exported",
			    PM_METRICS_MAX, full, *labels ? "{" : "", labels,
			    *labels ? "}" : "");
			reg_full_warned = 1;
		}
		m = &sink;
		goto out;
	}
	m = pm_calloc(1, sizeof(*m));
	m->kind = kind;
	m->name = full;
	full = NULL;
	m->help = pm_strdup(help);
	m->labels = pm_strdup(labels);
	atomic_init(&m->value, 0);
	atomic_init(&m->sum_bits, 0); /* all-zero bits are 0.0 */
	if (kind == M_HISTOGRAM) {
		PM_ASSERT(nbuckets <= PM_METRICS_MAX_BUCKETS);
		for (i = 0; i < (int) nbuckets; i++) {
			PM_ASSERT(i == 0 || buckets[i] > buckets[i - 1]);
			m->bounds[i] = buckets[i];
		}
		m->nbuckets = nbuckets;
	}
	for (i = 0; i <= PM_METRICS_MAX_BUCKETS; i++) {
		atomic_init(&m->counts[i], 0);
	}
	reg[nreg++] = m;
out:
	pthread_mutex_unlock(&reg_mu);
	free(full);
	return (m);
}

pm_metric *
pm_metric_counter(const char *name, const char *help, const char *labels)
{
	return (metric_register(M_COUNTER, name, help, labels, NULL, 0));
}

pm_metric *
pm_metric_gauge(const char *name, const char *help, const char *labels)
{
	return (metric_register(M_GAUGE, name, help, labels, NULL, 0));
}

pm_metric *
pm_metric_histogram(const char *name, const char *help, const char *labels,
    const double *buckets, size_t nbuckets)
{
	PM_ASSERT(buckets != NULL || nbuckets == 0);
	return (metric_register(M_HISTOGRAM, name, help, labels, buckets,
	    nbuckets));
}

void
pm_metric_inc(pm_metric *m)
{
	pm_metric_add(m, 1);
}

void
pm_metric_add(pm_metric *m, uint64_t n)
{
	if (m == NULL) {
		return;
	}
	PM_ASSERT(m->kind != M_HISTOGRAM);
	atomic_fetch_add_explicit(&m->value, (int64_t) n, memory_order_relaxed);
}

void
pm_metric_set(pm_metric *m, int64_t v)
{
	if (m == NULL) {
		return;
	}
	PM_ASSERT(m->kind == M_GAUGE || m->kind == M_SINK);
	atomic_store_explicit(&m->value, v, memory_order_relaxed);
}

void
pm_metric_gauge_add(pm_metric *m, int64_t d)
{
	if (m == NULL) {
		return;
	}
	PM_ASSERT(m->kind == M_GAUGE || m->kind == M_SINK);
	atomic_fetch_add_explicit(&m->value, d, memory_order_relaxed);
}

void
pm_metric_observe(pm_metric *m, double v)
{
	uint64_t old, nw;
	double d;
	size_t i;

	if (m == NULL || isnan(v)) {
		return;
	}
	PM_ASSERT(m->kind == M_HISTOGRAM || m->kind == M_SINK);
	for (i = 0; i < m->nbuckets && v > m->bounds[i]; i++) {
		continue;
	}
	atomic_fetch_add_explicit(&m->counts[i], 1, memory_order_relaxed);
	old = atomic_load_explicit(&m->sum_bits, memory_order_relaxed);
	do {
		memcpy(&d, &old, sizeof(d));
		d += v;
		memcpy(&nw, &d, sizeof(nw));
	} while (!atomic_compare_exchange_weak_explicit(&m->sum_bits, &old, nw,
	    memory_order_relaxed, memory_order_relaxed));
}

int64_t
pm_metric_value(const pm_metric *m)
{
	pm_metric *mm = (pm_metric *) m; /* atomics need a non-const lvalue */
	uint64_t n = 0;
	size_t i;

	if (m == NULL) {
		return (0);
	}
	if (m->kind != M_HISTOGRAM) {
		return (atomic_load(&mm->value));
	}
	for (i = 0; i <= m->nbuckets; i++) {
		n += atomic_load(&mm->counts[i]);
	}
	return ((int64_t) n);
}

/* A float as Prometheus reads it: shortest usual form, +Inf, -Inf. */
static void
fmt_double(char *buf, size_t len, double v)
{
	if (isinf(v)) {
		snprintf(buf, len, v > 0 ? "+Inf" : "-Inf");
	} else if (isnan(v)) {
		snprintf(buf, len, "NaN");
	} else {
		snprintf(buf, len, "%.15g", v);
	}
}

/* HELP text: backslash and newline escaped (format 0.0.4). */
static int
put_help(pm_buf *b, const char *s)
{
	int rc = 0;

	for (; *s && rc == 0; s++) {
		if (*s == '\\') {
			rc = pm_buf_puts(b, "\\\\");
		} else if (*s == '\n') {
			rc = pm_buf_puts(b, "\\n");
		} else {
			rc = pm_buf_append(b, s, 1);
		}
	}
	return (rc);
}

static int
render_histogram(pm_buf *b, pm_metric *m)
{
	const char *sep = *m->labels ? "," : "";
	char num[64];
	uint64_t cum = 0;
	double sum;
	uint64_t bits;
	size_t i;
	int rc = 0;

	for (i = 0; i <= m->nbuckets && rc == 0; i++) {
		cum += atomic_load(&m->counts[i]);
		fmt_double(num, sizeof(num),
		    i < m->nbuckets ? m->bounds[i] : INFINITY);
		rc = pm_buf_printf(b, "%s_bucket{%s%sle=\"%s\"} %llu\n",
		    m->name, m->labels, sep, num, (unsigned long long) cum);
	}
	bits = atomic_load(&m->sum_bits);
	memcpy(&sum, &bits, sizeof(sum));
	fmt_double(num, sizeof(num), sum);
	if (rc == 0 && *m->labels) {
		rc = pm_buf_printf(b, "%s_sum{%s} %s\n%s_count{%s} %llu\n",
		    m->name, m->labels, num, m->name, m->labels,
		    (unsigned long long) cum);
	} else if (rc == 0) {
		rc = pm_buf_printf(b, "%s_sum %s\n%s_count %llu\n", m->name,
		    num, m->name, (unsigned long long) cum);
	}
	return (rc);
}

static int
render_one(pm_buf *b, pm_metric *m)
{
	int64_t v;

	if (m->kind == M_HISTOGRAM) {
		return (render_histogram(b, m));
	}
	v = atomic_load(&m->value);
	if (*m->labels) {
		return (pm_buf_printf(b, "%s{%s} %lld\n", m->name, m->labels,
		    (long long) v));
	}
	return (pm_buf_printf(b, "%s %lld\n", m->name, (long long) v));
}

int
pm_metrics_render(pm_buf *b)
{
	static const char *types[] = {
		[M_COUNTER] = "counter",
		[M_GAUGE] = "gauge",
		[M_HISTOGRAM] = "histogram",
	};
	int i, j, k, rc = 0;

	pthread_mutex_lock(&reg_mu);
	for (i = 0; i < nreg && rc == 0; i++) {
		/* Only at a name's first registration. */
		for (j = 0; j < i; j++) {
			if (strcmp(reg[j]->name, reg[i]->name) == 0) {
				break;
			}
		}
		if (j < i) {
			continue;
		}
		if ((rc = pm_buf_printf(b, "# HELP %s ", reg[i]->name)) != 0 ||
		    (rc = put_help(b, reg[i]->help)) != 0 ||
		    (rc = pm_buf_printf(b, "\n# TYPE %s %s\n", reg[i]->name,
		         types[reg[i]->kind])) != 0) {
			break;
		}
		for (k = i; k < nreg && rc == 0; k++) {
			if (strcmp(reg[k]->name, reg[i]->name) == 0) {
				rc = render_one(b, reg[k]);
			}
		}
	}
	pthread_mutex_unlock(&reg_mu);
	return (rc);
}
