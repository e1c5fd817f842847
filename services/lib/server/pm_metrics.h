/*
 * NAME
 *	pm_metrics - metrics registry and the /metrics /healthz /readyz server
 * SUMMARY
 *	#include "pm_metrics.h"
 * DESCRIPTION
 *	A process-wide registry of counters, gauges and histograms, updated
 *	lock-free (C11 atomics) from any thread, rendered in the Prometheus
 *	text exposition format (version 0.0.4). Every metric name gets the
 *	prefix "postmesh_". A labelled metric is registered once per label
 *	set: pm_metric_counter("smtpd_messages_rejected_total", "...",
 *	"reason=\"relay\"") and pm_metric_counter(same name, same help,
 *	"reason=\"size\"") share one HELP/TYPE block.
 *	Registering the same name and labels twice returns the same metric.
 *
 *	pm_http_start() serves, with nng's HTTP server:
 *	  GET /metrics  the registry, text/plain; version=0.0.4
 *	  GET /healthz  200 "ok" while the process runs
 *	  GET /readyz   200 "ready" if the ready callback returns 1 (or is
 *	                NULL), else 503 "not ready"
 * LIMITS
 *	At most PM_METRICS_MAX metrics; histograms up to
 *	PM_METRICS_MAX_BUCKETS buckets.
 */
#ifndef PM_METRICS_H
#define PM_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "pm_util.h"

#define PM_METRICS_MAX 512
#define PM_METRICS_MAX_BUCKETS 24

typedef struct pm_metric pm_metric;

pm_metric *pm_metric_counter(const char *name, const char *help,
    const char *labels);
pm_metric *pm_metric_gauge(const char *name, const char *help,
    const char *labels);
/* buckets: upper bounds, ascending; +Inf is implicit. */
pm_metric *pm_metric_histogram(const char *name, const char *help,
    const char *labels, const double *buckets, size_t nbuckets);

void pm_metric_inc(pm_metric *m);
void pm_metric_add(pm_metric *m, uint64_t n);
void pm_metric_set(pm_metric *m, int64_t v);       /* gauges */
void pm_metric_gauge_add(pm_metric *m, int64_t d); /* gauges, +/- */
void pm_metric_observe(pm_metric *m, double v);    /* histograms */

/* Render everything into b (Prometheus text format). */
int pm_metrics_render(pm_buf *b);
/* Read back a counter or gauge value (tests). */
int64_t pm_metric_value(const pm_metric *m);

/* Serve /metrics, /healthz, /readyz on url, e.g. "http://127.0.0.1:9101". */
int pm_http_start(const char *url, int (*ready)(void));
void pm_http_stop(void);

/* Standard latency buckets in seconds (1 ms .. 10 s). */
extern const double pm_latency_buckets[];
extern const size_t pm_latency_nbuckets;

#endif
