/*
 * NAME
 *	tls-sink - SMTP sink with STARTTLS
 * SYNOPSIS
 *	tls-sink -K chain.pem [-c] [-E] [-T TLSv1.2|TLSv1.3] [-n max]
 *	    [-w timeout] [-H name] host:port [backlog]
 * DESCRIPTION
 *	The benchmark's receiving side (scripts/bench-tls.sh): Postfix's
 *	smtp-sink has no STARTTLS. Accepts SMTP sessions, offers PIPELINING
 *	and STARTTLS with the key and certificate chain of -K (one PEM
 *	file, key first or last, as Postfix's smtpd_tls_chain_files),
 *	accepts every MAIL, RCPT and DATA and throws the message away.
 *	-E refuses MAIL before STARTTLS (530), which proves the client
 *	encrypted. One thread, one epoll loop, non-blocking SSL.
 *
 *	-c writes smtp-sink's running counters to stdout,
 *	"sess=N quit=N mesg=N" and a carriage return, each time a session
 *	ends, a QUIT is answered or a message is received, so the scripts
 *	that count smtp-sink's deliveries (scripts/bench.sh) count this
 *	sink's the same way. On SIGTERM or SIGINT it writes a summary to
 *	stderr (sessions, TLS handshakes and how many resumed, messages,
 *	MAIL refused for want of TLS) and exits 0.
 *
 *	Commands sent after STARTTLS in the same packet are discarded
 *	(CVE-2011-0411), as a real server does.
 * LIMITS
 *	-n sessions at once (default 10000; more are closed at once), -w
 *	timeout per session without progress (default 300 s), command
 *	lines BENCH_LINE_MAX (longer: 500 and disconnect); message lines
 *	of any length (read in pieces).
 * SECURITY
 *	A test tool: stores nothing it receives.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "bench_conn.h"

#define FILL_ROUNDS_MAX 64
#define ACCEPT_BATCH 64

enum state {
	S_CMD,      /* reading commands */
	S_DATA,     /* reading message content */
	S_TLS_WAIT, /* 220 to STARTTLS queued; TLS after it is out */
	S_TLS,      /* handshake */
	S_CLOSE,    /* close once output is out */
};

typedef struct sink_sess {
	bench_conn c;
	enum state st;
	unsigned events;
	int idx;    /* in all[] */
	int again;  /* on the again list */
	int mail;   /* MAIL accepted */
	int rcpts;  /* RCPTs accepted */
	int at_bol; /* DATA: at the start of a line */
} sink_sess;

static SSL_CTX *ctx;
static int epfd, lfd;
static int opt_count, opt_require_tls, opt_timeout = 300, opt_max = 10000;
static const char *opt_name = "sink.bench.example";
static sink_sess **all;
static int nall;
static sink_sess **again_list;
static int again_n;
static unsigned long n_sess, n_quit, n_mesg, n_tls, n_resumed, n_tls_fail,
    n_notls, n_qid;
static volatile sig_atomic_t got_signal;

static void
on_signal(int sig)
{
	(void) sig;
	got_signal = 1;
}

/* counters - smtp-sink -c's running counters */
static void
counters(void)
{
	char buf[128];
	int n;

	if (!opt_count) {
		return;
	}
	n = snprintf(buf, sizeof(buf), "sess=%lu quit=%lu mesg=%lu\r", n_sess,
	    n_quit, n_mesg);
	if (write(1, buf, (size_t) n) < 0) {
		/* a bench whose counter file is gone sees it at the end */
	}
}

static void
sess_close(sink_sess *s)
{
	bench_conn_close(&s->c);
	all[s->idx] = all[--nall];
	all[s->idx]->idx = s->idx;
	n_sess++;
	counters();
	if (s->again) {
		s->st = S_CLOSE; /* freed when the again list is run */
		s->c.fd = -1;
		return;
	}
	free(s);
}

static int
cmd_is(const char *line, size_t len, const char *cmd)
{
	size_t n = strlen(cmd);

	return (len >= n && strncasecmp(line, cmd, n) == 0 &&
	    (len == n || line[n] == ' ' || line[n] == ':'));
}

/* command - answer one command line */
static int
command(sink_sess *s, const char *line, size_t len)
{
	bench_conn *c = &s->c;

	if (cmd_is(line, len, "EHLO")) {
		s->mail = s->rcpts = 0;
		return (bench_conn_printf(c,
		    "250-%s\r\n250-PIPELINING\r\n250-SIZE 204800000\r\n"
		    "%s250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n",
		    opt_name, c->ssl ? "" : "250-STARTTLS\r\n"));
	}
	if (cmd_is(line, len, "HELO")) {
		s->mail = s->rcpts = 0;
		return (bench_conn_printf(c, "250 %s\r\n", opt_name));
	}
	if (cmd_is(line, len, "STARTTLS")) {
		if (c->ssl != NULL) {
			return (bench_conn_printf(c,
			    "554 5.5.1 Error: TLS already active\r\n"));
		}
		s->st = S_TLS_WAIT;
		s->mail = s->rcpts = 0;
		return (bench_conn_printf(c,
		    "220 2.0.0 Ready to start TLS\r\n"));
	}
	if (cmd_is(line, len, "MAIL")) {
		if (opt_require_tls && c->ssl == NULL) {
			n_notls++;
			return (bench_conn_printf(c,
			    "530 5.7.0 Must issue a "
			    "STARTTLS command first\r\n"));
		}
		s->mail = 1;
		s->rcpts = 0;
		return (bench_conn_printf(c, "250 2.1.0 Ok\r\n"));
	}
	if (cmd_is(line, len, "RCPT")) {
		if (!s->mail) {
			return (bench_conn_printf(c,
			    "503 5.5.1 Error: need MAIL command\r\n"));
		}
		s->rcpts++;
		return (bench_conn_printf(c, "250 2.1.5 Ok\r\n"));
	}
	if (cmd_is(line, len, "DATA")) {
		if (!s->rcpts) {
			return (bench_conn_printf(c,
			    "554 5.5.1 Error: no valid recipients\r\n"));
		}
		s->st = S_DATA;
		s->at_bol = 1;
		return (bench_conn_printf(c,
		    "354 End data with <CR><LF>.<CR><LF>\r\n"));
	}
	if (cmd_is(line, len, "RSET") || cmd_is(line, len, "NOOP")) {
		if (cmd_is(line, len, "RSET")) {
			s->mail = s->rcpts = 0;
		}
		return (bench_conn_printf(c, "250 2.0.0 Ok\r\n"));
	}
	if (cmd_is(line, len, "QUIT")) {
		n_quit++;
		counters();
		s->st = S_CLOSE;
		return (bench_conn_printf(c, "221 2.0.0 Bye\r\n"));
	}
	return (bench_conn_printf(c,
	    "502 5.5.2 Error: command not recognized\r\n"));
}

/*
 * data - consume message content up to "." alone on a line: BENCH_OK
 * when the message ended, BENCH_AGAIN when more input is needed.
 */
static int
data(sink_sess *s)
{
	bench_conn *c = &s->c;

	for (;;) {
		char *start = c->in + c->in_off;
		size_t avail = c->in_len - c->in_off;
		char *nl = memchr(start, '\n', avail);
		size_t n;

		if (nl == NULL) {
			if (c->in_off == 0 && c->in_len == sizeof(c->in)) {
				/* a long line: drop this piece of it */
				c->in_off = c->in_len;
				s->at_bol = 0;
			}
			return (BENCH_AGAIN);
		}
		n = (size_t) (nl - start) + 1;
		c->in_off += n;
		if (s->at_bol &&
		    ((n == 2 && start[0] == '.') ||
		        (n == 3 && start[0] == '.' && start[1] == '\r'))) {
			return (BENCH_OK);
		}
		s->at_bol = 1;
	}
}

/* step - process buffered input; 1 = read more, 0 = wait, -1 = closed */
static int
step(sink_sess *s)
{
	char *line;
	size_t len;
	int r;

	for (;;) {
		switch (s->st) {
		case S_TLS_WAIT:
			if (bench_conn_pending_out(&s->c)) {
				return (0);
			}
			bench_conn_discard_input(&s->c);
			if (bench_conn_start_tls(&s->c, ctx, 1, NULL, NULL) !=
			    BENCH_OK) {
				n_tls_fail++;
				sess_close(s);
				return (-1);
			}
			s->st = S_TLS;
			/* FALLTHROUGH */
		case S_TLS:
			if ((r = bench_conn_handshake(&s->c)) == BENCH_AGAIN) {
				return (0);
			}
			if (r == BENCH_ERR) {
				n_tls_fail++;
				ERR_clear_error();
				sess_close(s);
				return (-1);
			}
			n_tls++;
			if (SSL_session_reused(s->c.ssl)) {
				n_resumed++;
			}
			s->st = S_CMD;
			continue;
		case S_CLOSE:
			if (!bench_conn_pending_out(&s->c)) {
				sess_close(s);
				return (-1);
			}
			return (0);
		case S_DATA:
			if (data(s) != BENCH_OK) {
				return (1);
			}
			n_mesg++;
			counters();
			s->st = S_CMD;
			s->mail = s->rcpts = 0;
			if (bench_conn_printf(&s->c,
			        "250 2.0.0 Ok: queued as %lX\r\n",
			        ++n_qid) != BENCH_OK) {
				sess_close(s);
				return (-1);
			}
			continue;
		case S_CMD:
			if ((r = bench_conn_line(&s->c, &line, &len)) ==
			    BENCH_AGAIN) {
				return (1);
			}
			if (r == BENCH_ERR) {
				bench_conn_printf(&s->c,
				    "500 5.5.0 Error: line too long\r\n");
				s->st = S_CLOSE;
				bench_conn_discard_input(&s->c);
				continue;
			}
			if (command(s, line, len) != BENCH_OK) {
				sess_close(s);
				return (-1);
			}
			continue;
		}
	}
}

static void
set_events(sink_sess *s)
{
	unsigned ev = bench_conn_events(&s->c);
	struct epoll_event e = { .events = ev, .data.ptr = s };

	if (ev != s->events) {
		epoll_ctl(epfd, EPOLL_CTL_MOD, s->c.fd, &e);
		s->events = ev;
	}
}

static void
drive(sink_sess *s)
{
	int rounds = 0, r;

	for (;;) {
		if (bench_conn_flush(&s->c) == BENCH_ERR) {
			sess_close(s);
			return;
		}
		if ((r = step(s)) < 0) {
			return;
		}
		if (r == 0 && s->st != S_TLS_WAIT) {
			break;
		}
		if (r == 0) {
			/* 220 not out yet: wait until the socket takes it */
			if (bench_conn_pending_out(&s->c)) {
				break;
			}
			continue;
		}
		if ((r = bench_conn_fill(&s->c)) == BENCH_OK) {
			if (++rounds < FILL_ROUNDS_MAX) {
				continue;
			}
			if (!s->again) {
				s->again = 1;
				again_list[again_n++] = s;
			}
			break;
		}
		if (r == BENCH_ERR) {
			sess_close(s);
			return;
		}
		break;
	}
	set_events(s);
}

static void
accept_some(void)
{
	int i, one = 1;

	for (i = 0; i < ACCEPT_BATCH; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		sink_sess *s;
		struct epoll_event e;

		if (fd < 0) {
			return;
		}
		if (nall >= opt_max || (s = calloc(1, sizeof(*s))) == NULL) {
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		bench_conn_init(&s->c, fd);
		s->idx = nall;
		all[nall++] = s;
		bench_conn_printf(&s->c, "220 %s ESMTP tls-sink\r\n", opt_name);
		e.events = s->events = EPOLLIN | EPOLLOUT;
		e.data.ptr = s;
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e) < 0) {
			sess_close(s);
		}
	}
}

static void
check_timeouts(void)
{
	time_t t = time(NULL);
	int i;

	for (i = nall - 1; i >= 0; i--) {
		if (t - all[i]->c.last > opt_timeout && !all[i]->again) {
			sess_close(all[i]);
		}
	}
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: tls-sink -K chain.pem [-c] [-E] "
	    "[-T TLSv1.2|TLSv1.3] [-n max] [-w timeout] "
	    "[-H name] host:port [backlog]\n");
	exit(2);
}

static void
setup(const char *hostport, const char *chain, const char *proto, int backlog)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
		.ai_flags = AI_PASSIVE };
	struct addrinfo *ai;
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = NULL };
	char *host, *port;
	int one = 1;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL ||
	    bench_pin_protocol(ctx, proto) < 0 ||
	    SSL_CTX_use_certificate_chain_file(ctx, chain) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, chain, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		fprintf(stderr, "tls-sink: TLS setup failed (%s, %s): %s\n",
		    chain, proto ? proto : "default protocols",
		    ERR_reason_error_string(ERR_peek_last_error()));
		exit(2);
	}
	if (bench_parse_hostport(hostport, &host, &port) < 0) {
		usage();
	}
	if (getaddrinfo(*host ? host : NULL, port, &hints, &ai) != 0) {
		fprintf(stderr, "tls-sink: bad address %s\n", hostport);
		exit(2);
	}
	lfd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (lfd < 0 || bind(lfd, ai->ai_addr, ai->ai_addrlen) < 0 ||
	    listen(lfd, backlog) < 0) {
		fprintf(stderr, "tls-sink: %s: %s\n", hostport,
		    strerror(errno));
		exit(2);
	}
	freeaddrinfo(ai);
	free(host);
	free(port);
	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &e) < 0) {
		perror("tls-sink: epoll");
		exit(2);
	}
	all = calloc((size_t) opt_max, sizeof(*all));
	again_list = calloc((size_t) opt_max, sizeof(*again_list));
	if (all == NULL || again_list == NULL) {
		exit(2);
	}
}

static void
run(void)
{
	struct epoll_event ev[256];
	time_t last_check = time(NULL);

	while (!got_signal) {
		int n = epoll_wait(epfd, ev, 256, again_n ? 0 : 1000);
		int i, k;

		if (n < 0 && errno != EINTR) {
			perror("tls-sink: epoll_wait");
			exit(2);
		}
		for (i = 0; i < n; i++) {
			sink_sess *s = ev[i].data.ptr;

			if (s == NULL) {
				accept_some();
			} else if (!s->again) {
				drive(s);
			}
		}
		k = again_n;
		again_n = 0;
		for (i = 0; i < k; i++) {
			sink_sess *s = again_list[i];

			s->again = 0;
			if (s->c.fd < 0) {
				free(s); /* closed while on the list */
			} else {
				drive(s);
			}
		}
		if (time(NULL) != last_check) {
			last_check = time(NULL);
			check_timeouts();
		}
	}
}

static int
num(const char *s, int min, int max)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == 0 || *end != 0 || v < min || v > max) {
		usage();
	}
	return ((int) v);
}

int
main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	const char *chain = NULL, *proto = NULL;
	int ch, backlog = 1024;

	while ((ch = getopt(argc, argv, "K:cET:n:w:H:")) != -1) {
		switch (ch) {
		case 'K':
			chain = optarg;
			break;
		case 'c':
			opt_count = 1;
			break;
		case 'E':
			opt_require_tls = 1;
			break;
		case 'T':
			proto = optarg;
			break;
		case 'n':
			opt_max = num(optarg, 1, 1000000);
			break;
		case 'w':
			opt_timeout = num(optarg, 1, 3600);
			break;
		case 'H':
			if (strlen(optarg) > 255) {
				usage();
			}
			opt_name = optarg;
			break;
		default:
			usage();
		}
	}
	if (chain == NULL || argc - optind < 1 || argc - optind > 2) {
		usage();
	}
	if (argc - optind == 2) {
		backlog = num(argv[optind + 1], 1, 65535);
	}
	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	setup(argv[optind], chain, proto, backlog);
	run();
	fprintf(stderr,
	    "tls-sink: %lu sessions, %lu TLS handshakes (%lu resumed, %lu "
	    "failed), %lu messages, %lu MAIL refused without TLS\n",
	    n_sess + (unsigned long) nall, n_tls, n_resumed, n_tls_fail, n_mesg,
	    n_notls);
	return (0);
}
