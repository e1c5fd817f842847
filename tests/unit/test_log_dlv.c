/*
 * NAME
 *	test_log_dlv - Postfix's delivery log line and delay format
 * DESCRIPTION
 *	The one builder used by qmgr and every agent: field order, optional
 *	fields, Postfix's delay numbers, and hostile peer text.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "pm_log_dlv.h"

Test(log_dlv, delay_format)
{
	static const struct {
		long long us;
		const char *want;
	} cases[] = {
		{ 0, "0" },
		{ 9999, "0" },
		{ 10000, "0.01" },
		{ 60000, "0.06" },
		{ 100000, "0.1" },
		{ 570000, "0.57" },
		{ 999999, "0.99" },
		{ 1000000, "1" },
		{ 2000000, "2" },
		{ 2099999, "2" },
		{ 2500000, "2.5" },
		{ 9950000, "9.9" },
		{ 10000000, "10" },
		{ 27400000, "27" },
		{ 351000000, "351" },
		{ -5, "0" },
	};
	char buf[24];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pm_log_delay(buf, sizeof(buf), cases[i].us);
		cr_expect_str_eq(buf, cases[i].want,
		    "delay(%lld us): got %s, "
		    "want %s",
		    cases[i].us, buf, cases[i].want);
	}
}

Test(log_dlv, line)
{
	pm_log_dlv d = { 0 };
	char buf[1024];

	d.qid = "4Hx2abc";
	d.to = "user@example.com";
	d.orig_to = "alias@example.com";
	d.relay = "mx.example.com[192.0.2.1]:25";
	d.conn_use = 2;
	d.delay_us = 570000;
	d.delays_us[0] = 110000;
	d.delays_us[1] = 30000;
	d.delays_us[2] = 230000;
	d.delays_us[3] = 190000;
	d.dsn = "2.0.0";
	d.status = "sent";
	d.text = "250 ok";
	pm_log_dlv_format(buf, sizeof(buf), &d);
	cr_expect_str_eq(buf,
	    "4Hx2abc: to=<user@example.com>, "
	    "orig_to=<alias@example.com>, relay=mx.example.com[192.0.2.1]:25, "
	    "conn_use=2, delay=0.57, delays=0.11/0.03/0.23/0.19, dsn=2.0.0, "
	    "status=sent (250 ok)",
	    "got %s", buf);

	/* orig_to equal to to, conn_use 1, no relay, no queue id */
	d.qid = NULL;
	d.orig_to = d.to;
	d.conn_use = 1;
	d.relay = NULL;
	d.delay_us = 0;
	memset(d.delays_us, 0, sizeof(d.delays_us));
	d.status = "deferred";
	d.dsn = "4.4.1";
	d.text = "connect\r\nX-Injected: yes";
	pm_log_dlv_format(buf, sizeof(buf), &d);
	cr_expect_eq(strchr(buf, '\r'), NULL, "CR in the line: %s", buf);
	cr_expect_eq(strchr(buf, '\n'), NULL, "LF in the line: %s", buf);
	cr_expect(strncmp(buf,
	              "NOQUEUE: to=<user@example.com>, relay=none, "
	              "delay=0, delays=0/0/0/0, dsn=4.4.1, status=deferred (",
	              91) == 0,
	    "got %s", buf);

	/* a line longer than the buffer is cut, NUL-terminated */
	cr_expect_eq(pm_log_dlv_format(buf, 40, &d), 39, "cut length");
	cr_expect_eq(strlen(buf), 39, "cut: %s", buf);
}
