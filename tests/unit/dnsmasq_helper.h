/*
 * NAME
 *	dnsmasq_helper - a real DNS server for unit tests
 * SUMMARY
 *	#include "dnsmasq_helper.h"
 * DESCRIPTION
 *	test_dnsmasq_start() runs /usr/sbin/dnsmasq (Debian dnsmasq-base)
 *	in the foreground on 127.0.0.1 and a free port, authoritative for
 *	the ".test" zone below (other names in .test are NXDOMAIN; names
 *	outside .test get REFUSED, i.e. a temporary failure), points
 *	pm_dns at it, and waits until it answers. test_dnsmasq_stop()
 *	kills it by PID. The child also dies with the test process
 *	(PR_SET_PDEATHSIG), so a crashed test leaves nothing behind.
 *
 *	Zone (TTL 300):
 *	  example.test   MX 5 mx2.example.test, MX 10 mx1.example.test
 *	  mx1.example.test  A 127.0.0.2
 *	  aonly.test     A 127.0.0.3 (no MX)   127.0.0.3 PTR aonly.test
 *	  v6only.test    AAAA 2001:db8::3
 *	  alias.test     CNAME aonly.test
 *	  txt.test       TXT "v=spf1 -all" "second"
 *	  nullmx.test    MX 0 . (RFC 7505)
 *	  0.0.127.in-addr.arpa is local too (other PTRs there: NXDOMAIN)
 *	DNS lists (pm_dnsbl):
 *	  2.0.0.127.bl.test     A 127.0.0.2, TXT "Listed; see x.test"
 *	  10.0.0.127.bl.test    A 127.0.0.10 (no TXT)
 *	  spam.example.rhs.test A 127.0.0.2, TXT "spam domain"
 *	Header-only (static functions) so that each test file can use it.
 */
#ifndef DNSMASQ_HELPER_H
#define DNSMASQ_HELPER_H

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pm_dns.h"

#define TEST_DNSMASQ "/usr/sbin/dnsmasq"

typedef struct test_dnsmasq {
	pid_t pid;
	int port;
	char server[32]; /* "127.0.0.1:port" */
} test_dnsmasq;

/* A port free for both UDP and TCP on 127.0.0.1 (0 on failure). */
static int
test_dnsmasq_port_once(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int u;
	int t;
	int port = 0;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((u = socket(AF_INET, SOCK_DGRAM, 0)) < 0) {
		return (0);
	}
	if (bind(u, (struct sockaddr *) &sin, sizeof(sin)) == 0 &&
	    getsockname(u, (struct sockaddr *) &sin, &len) == 0) {
		if ((t = socket(AF_INET, SOCK_STREAM, 0)) >= 0) {
			if (bind(t, (struct sockaddr *) &sin, sizeof(sin)) ==
			    0) {
				port = ntohs(sin.sin_port);
			}
			close(t);
		}
	}
	close(u);
	return (port);
}

/*
 * A port free for both UDP and TCP. One try fails now and then (the UDP
 * port the kernel picks may be taken for TCP on a busy machine), so try
 * again rather than hand out 0.
 */
static int
test_dnsmasq_port(void)
{
	int i, port = 0;

	for (i = 0; i < 100 && port == 0; i++) {
		port = test_dnsmasq_port_once();
	}
	return (port);
}

static void
test_dnsmasq_stop(test_dnsmasq *d)
{
	if (d->pid > 0) {
		kill(d->pid, SIGTERM);
		waitpid(d->pid, NULL, 0);
		d->pid = 0;
	}
}

/* 0 when dnsmasq answers on d->server; -1 (with a message) if not. */
static int
test_dnsmasq_start(test_dnsmasq *d)
{
	char portarg[32];
	pm_dns_rr *rr;
	size_t n;
	int attempt;
	int status;
	int i;
	int fd;
	pid_t ppid = getpid();

	memset(d, 0, sizeof(*d));
	if (access(TEST_DNSMASQ, X_OK) != 0) {
		fprintf(stderr, "%s: not installed (Debian dnsmasq-base)\n",
		    TEST_DNSMASQ);
		return (-1);
	}
	for (attempt = 0; attempt < 5; attempt++) {
		if ((d->port = test_dnsmasq_port()) == 0) {
			continue;
		}
		snprintf(portarg, sizeof(portarg), "--port=%d", d->port);
		snprintf(d->server, sizeof(d->server), "127.0.0.1:%d", d->port);
		if ((d->pid = fork()) < 0) {
			return (-1);
		}
		if (d->pid == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != ppid) {
				_exit(1);
			}
			if ((fd = open("/dev/null", O_WRONLY)) >= 0) {
				dup2(fd, 1);
				dup2(fd, 2);
			}
			execl(TEST_DNSMASQ, "dnsmasq", "--no-daemon", portarg,
			    "--listen-address=127.0.0.1", "--bind-interfaces",
			    "--no-resolv", "--no-hosts",
			    "--conf-file=/dev/null",
			    "--local=/0.0.127.in-addr.arpa/", "--local=/test/",
			    "--local-ttl=300",
			    "--mx-host=example.test,mx1.example.test,10",
			    "--mx-host=example.test,mx2.example.test,5",
			    "--host-record=mx1.example.test,127.0.0.2",
			    "--host-record=aonly.test,127.0.0.3",
			    "--host-record=v6only.test,2001:db8::3",
			    "--host-record=ready.test,127.0.0.9",
			    "--cname=alias.test,aonly.test",
			    "--txt-record=txt.test,v=spf1 -all,second",
			    "--mx-host=nullmx.test,.,0",
			    "--host-record=2.0.0.127.bl.test,127.0.0.2",
			    "--txt-record=2.0.0.127.bl.test,Listed; see x.test",
			    "--host-record=10.0.0.127.bl.test,127.0.0.10",
			    "--host-record=spam.example.rhs.test,127.0.0.2",
			    "--txt-record=spam.example.rhs.test,spam domain",
			    (char *) NULL);
			_exit(127);
		}
		if (pm_dns_set_servers(d->server) != 0) {
			test_dnsmasq_stop(d);
			return (-1);
		}
		/* Until it answers (at most 10 s): a refused query fails fast. */
		for (i = 0; i < 100; i++, usleep(100 * 1000)) {
			if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
				fprintf(stderr,
				    "dnsmasq on port %d exited (status "
				    "%d): retrying\n",
				    d->port, status);
				d->pid = 0; /* lost the port race: retry */
				break;
			}
			if (pm_dns_lookup("ready.test", PM_DNS_A, &rr, &n,
			        200) == 0) {
				pm_dns_rr_free(rr, n);
				return (0);
			}
		}
		test_dnsmasq_stop(d);
	}
	fprintf(stderr, "dnsmasq did not start\n");
	return (-1);
}

#endif
