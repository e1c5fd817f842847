/*
 * NAME
 *	qmgr_gauges - Redis memory gauges, read with the queue sizes
 * DESCRIPTION
 *	qmgr_gauges_redis() is called by the scheduler thread each time it
 *	has read the queue sizes (qmgr_sched.c, every SIZES_INTERVAL_MS;
 *	not while Redis is away), and exports what INFO memory says:
 *	  postmesh_qmgr_redis_used_memory_bytes  used_memory
 *	  postmesh_qmgr_redis_maxmemory_bytes    maxmemory (0: no limit)
 *	so the "Redis near maxmemory" alert (deploy/prometheus/rules.yml)
 *	fires before Redis answers -OOM and cleanup tempfails every
 *	message. Every qmgr reads the same Redis: the values are the same
 *	in each (take max() over instances, not sum()).
 *	The gauges are registered at the first answer: while Redis never
 *	answered INFO (down, or an ACL without INFO) they are absent rather
 *	than a made-up 0; afterwards they keep the last value read
 *	(postmesh_redis_up says whether Redis answers now).
 * LIMITS
 *	One INFO memory per call, bounded by redis_timeout.
 * SECURITY
 *	Only two decimal fields of the reply are used (pm_qstore_info.c).
 */
#include "qmgr.h"

#include "pm_log.h"
#include "pm_metrics.h"
#include "pm_qstore.h"

static pm_metric *m_used, *m_max;
static int warned;

void
qmgr_gauges_redis(pm_qstore *qs)
{
	long long used, max;
	int rc;

	if ((rc = pm_qstore_memory(qs, &used, &max)) != 0) {
		if (!warned && rc != PM_EREDIS) {
			pm_msg_warn("Redis INFO memory has no used_memory or "
			            "maxmemory: no Redis memory metrics");
		} else if (!warned) {
			pm_msg_warn("Redis INFO memory failed (an ACL without "
			            "INFO, or Redis away): no Redis memory "
			            "metrics until it answers");
		}
		warned = 1;
		return;
	}
	warned = 0;
	if (m_used == NULL) {
		m_used = pm_metric_gauge("qmgr_redis_used_memory_bytes",
		    "Redis used_memory (INFO memory), in bytes", NULL);
		m_max = pm_metric_gauge("qmgr_redis_maxmemory_bytes",
		    "Redis maxmemory (INFO memory), in bytes; 0: no limit",
		    NULL);
	}
	pm_metric_set(m_used, used);
	pm_metric_set(m_max, max);
}
