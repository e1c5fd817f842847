/*
 * NAME
 *	test_qstore_health - pm_qstore_probe and the reconnect counter
 * DESCRIPTION
 *	Redis up: probe 0; killed: PM_EREDIS; started again on the same
 *	data: 0 again with the same handle, and pm_qstore_reconnects()
 *	counted exactly one connection made again. (-LOADING is seen in
 *	tests/integration/test_redis_outage.py, which can make a load
 *	last.)
 */
#include <criterion/criterion.h>

#include <signal.h>

#include "pm_log.h"
#include "qstore_helper.h"

static void
setup(void)
{
	pm_log_init("postmesh/test_qstore_health");
}

static void
teardown(void)
{
	rh_stop(&srv);
}

TestSuite(qstore_health, .init = setup, .fini = teardown, .timeout = 60);

Test(qstore_health, probe_down_and_back)
{
	pm_qstore *qs;
	unsigned long long before;
	int rc;

	rh_start(&srv);
	qs = open_qs("redis", 1);
	before = pm_qstore_reconnects();
	rc = pm_qstore_probe(qs);
	cr_expect_eq(rc, 0, "probe, Redis up: got %d, want 0", rc);
	rh_kill(&srv, SIGKILL);
	rc = pm_qstore_probe(qs);
	cr_expect_eq(rc, PM_EREDIS, "probe, Redis killed: got %d, want %d", rc,
	    PM_EREDIS);
	rc = pm_qstore_probe(qs);
	cr_expect_eq(rc, PM_EREDIS, "probe again: got %d, want %d", rc,
	    PM_EREDIS);
	cr_expect_eq(pm_qstore_reconnects(), before, "reconnects while down");
	rh_start(&srv);
	rc = pm_qstore_probe(qs);
	cr_expect_eq(rc, 0, "probe, Redis back: got %d, want 0", rc);
	cr_expect_eq(pm_qstore_reconnects(), before + 1,
	    "reconnects: got %llu, want %llu", pm_qstore_reconnects(),
	    before + 1);
	rc = pm_qstore_probe(qs);
	cr_expect_eq(rc, 0);
	cr_expect_eq(pm_qstore_reconnects(), before + 1, "counted twice");
	pm_qstore_close(qs);
	leak_check();
}
