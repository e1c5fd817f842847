/*
 * NAME
 *	tls-source - SMTP load generator with STARTTLS
 * SYNOPSIS
 *	tls-source [options] host:port
 *	tls-source --idle N [options] host:port
 * DESCRIPTION
 *	The benchmark's client (scripts/bench-tls.sh), like Postfix's
 *	smtp-source but speaking STARTTLS: -s sessions at once send -m
 *	messages in all. Each session: greeting, EHLO, STARTTLS, TLS
 *	handshake, EHLO, then MAIL, RCPT (-r of them), DATA and the message
 *	(-l bytes) for one message after another on the same session (up to
 *	-N per session, 0 = no limit), then QUIT; a new session starts while
 *	messages are left. One thread, one epoll loop, non-blocking sockets
 *	and SSL. At the end one line on stdout: messages ok (250 after the
 *	data), failed, sessions, TLS handshakes (resumed), the negotiated
 *	protocol and cipher, seconds and messages/s. Exit 0 if every message
 *	got its 250, 1 otherwise, 2 on usage or setup errors.
 *
 *	--idle N opens N sessions (at most -s handshaking at once), takes
 *	each through STARTTLS and the second EHLO and holds it. When every
 *	session is established (or failed) it prints "tls-source: idle: N
 *	established, F failed" on stdout and waits for SIGTERM, SIGINT or
 *	SIGUSR1, then reports sessions the server dropped meanwhile and
 *	exits.
 *
 *	Options: -f sender, -t recipient (with -r > 1 the recipients are
 *	1rcpt, 2rcpt, ... as smtp-source makes them), -M helo name,
 *	-C cafile (verify the server certificate; with -V name also its
 *	name, sent as SNI), -T TLSv1.2|TLSv1.3 (pin the protocol), -R
 *	(resume TLS sessions: each new handshake offers the last ticket),
 *	-P (plaintext: no STARTTLS; for a sanity run against smtp-sink),
 *	-w seconds (I/O timeout per step), -v (log failures to stderr).
 * LIMITS
 *	-s 1..10000 sessions, --idle 1..100000, -l up to 64 MB,
 *	-r 1..1000; reply lines BENCH_LINE_MAX, 100 lines per reply; -w
 *	timeout (default 60 s) for every step but an idle session's wait.
 * SECURITY
 *	A test tool: reads only reply codes and the EHLO keywords.
 */
#include <errno.h>
#include <getopt.h>
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
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "bench_conn.h"

#define REPLY_LINES_MAX 100
#define FAIL_LOG_MAX 20
#define FILL_ROUNDS_MAX 64

enum state {
	S_FREE,
	S_CONNECT,
	S_GREET,
	S_EHLO1,
	S_STARTTLS,
	S_HANDSHAKE,
	S_EHLO2,
	S_MAIL,
	S_RCPT,
	S_DATA,
	S_BODY,
	S_IDLE,
	S_QUIT,
};

/* What step() asks the driver to do next. */
enum step {
	STEP_MORE,  /* progress: run step() again */
	STEP_INPUT, /* a reply is incomplete: read */
	STEP_WAIT,  /* wait for the socket (handshake, connect) */
	STEP_GONE,  /* the session was closed */
};

typedef struct sess {
	bench_conn c;
	enum state st;
	unsigned events; /* epoll mask registered */
	int has_msg;     /* a message is claimed by this session */
	int msgs;        /* messages done on this session */
	int rcpt_i;
	int reply_lines;
	int reply_starttls; /* the EHLO reply offered STARTTLS */
	int again;          /* on the again list */
} sess;

/* Options. */
static int opt_sessions = 1;
static long opt_msgs = 1;
static size_t opt_len = 5120;
static int opt_rcpts = 1;
static int opt_per_sess;
static const char *opt_from = "bench@example.com";
static const char *opt_to = "rcpt@example.net";
static const char *opt_helo = "loadgen.example";
static const char *opt_cafile;
static const char *opt_name;
static const char *opt_proto;
static int opt_resume;
static int opt_plain;
static int opt_timeout = 60;
static int opt_verbose;
static int opt_idle;

/* State. */
static SSL_CTX *ctx;
static SSL_SESSION *last_session;
static struct addrinfo *target;
static int epfd;
static sess *sessions;
static int nslots;
static char *body;
static size_t body_len;
static long msgs_left, msgs_ok, msgs_failed;
static long n_sessions, n_handshakes, n_resumed, n_active;
static long idle_established, idle_failed, idle_dropped;
static long fail_logged;
static char tls_info[160];
static sess **again_list;
static int again_n;
static volatile sig_atomic_t got_signal;

static void start_session(void);

static void
on_signal(int sig)
{
	(void) sig;
	got_signal = 1;
}

/* new_session_cb - keep the newest ticket for -R */
static int
new_session_cb(SSL *ssl, SSL_SESSION *s)
{
	(void) ssl;
	if (last_session != NULL) {
		SSL_SESSION_free(last_session);
	}
	last_session = s;
	return (1);
}

static void
set_events(sess *s)
{
	unsigned ev = s->st == S_CONNECT ? EPOLLOUT : bench_conn_events(&s->c);
	struct epoll_event e = { .events = ev, .data.ptr = s };

	if (ev != s->events) {
		if (epoll_ctl(epfd, EPOLL_CTL_MOD, s->c.fd, &e) < 0) {
			perror("tls-source: epoll_ctl");
			exit(2);
		}
		s->events = ev;
	}
}

/* end_session - close; a failure fails the claimed message */
static void
end_session(sess *s, const char *why)
{
	int was_idle = s->st == S_IDLE;

	if (why != NULL) {
		if (opt_verbose && fail_logged++ < FAIL_LOG_MAX) {
			unsigned long e = ERR_peek_last_error();

			fprintf(stderr, "tls-source: session failed: %s%s%s\n",
			    why, e ? ": " : "",
			    e ? ERR_reason_error_string(e) : "");
		}
		ERR_clear_error();
		if (s->has_msg) {
			msgs_failed++;
		}
		if (opt_idle) {
			if (was_idle) {
				idle_dropped++;
			} else {
				idle_failed++;
			}
		}
	}
	s->has_msg = 0;
	bench_conn_close(&s->c);
	s->st = S_FREE;
	n_active--;
}

static int
claim(sess *s)
{
	if (!s->has_msg && msgs_left > 0 &&
	    (opt_per_sess == 0 || s->msgs < opt_per_sess)) {
		msgs_left--;
		s->has_msg = 1;
	}
	return (s->has_msg);
}

/*
 * reply - consume lines up to a final reply line: BENCH_OK with *code,
 * BENCH_AGAIN, BENCH_ERR (garbage, too long, too many lines).
 */
static int
reply(sess *s, int *code)
{
	char *line;
	size_t len;
	int r, last, c;

	while ((r = bench_conn_line(&s->c, &line, &len)) == BENCH_OK) {
		if ((c = bench_reply_code(line, len, &last)) < 0 ||
		    ++s->reply_lines > REPLY_LINES_MAX) {
			return (BENCH_ERR);
		}
		if (len >= 12 && strncasecmp(line + 4, "STARTTLS", 8) == 0 &&
		    (len == 12 || line[12] == ' ')) {
			s->reply_starttls = 1;
		}
		if (last) {
			s->reply_lines = 0;
			*code = c;
			return (BENCH_OK);
		}
	}
	return (r);
}

static int
send_ehlo(sess *s, enum state next)
{
	s->reply_starttls = 0;
	s->st = next;
	return (bench_conn_printf(&s->c, "EHLO %s\r\n", opt_helo));
}

/* next_mail - MAIL for a claimed message, or QUIT */
static int
next_mail(sess *s)
{
	if (claim(s)) {
		s->st = S_MAIL;
		return (bench_conn_printf(&s->c, "MAIL FROM:<%s>\r\n",
		    opt_from));
	}
	s->st = S_QUIT;
	return (bench_conn_printf(&s->c, "QUIT\r\n"));
}

static int
send_rcpt(sess *s)
{
	s->rcpt_i++;
	if (opt_rcpts == 1) {
		return (bench_conn_printf(&s->c, "RCPT TO:<%s>\r\n", opt_to));
	}
	return (bench_conn_printf(&s->c, "RCPT TO:<%d%s>\r\n", s->rcpt_i,
	    opt_to));
}

static void
handshake_done(sess *s)
{
	n_handshakes++;
	if (SSL_session_reused(s->c.ssl)) {
		n_resumed++;
	}
	if (tls_info[0] == 0) {
		int bits = 0;
		const SSL_CIPHER *ci = SSL_get_current_cipher(s->c.ssl);

		SSL_CIPHER_get_bits(ci, &bits);
		snprintf(tls_info, sizeof(tls_info),
		    "%s with cipher %s (%d bits)", SSL_get_version(s->c.ssl),
		    SSL_CIPHER_get_name(ci), bits);
	}
}

/* step - advance the session by one reply (or handshake step) */
static enum step
step(sess *s)
{
	int code = 0, r;
	char why[64];

	if (s->st == S_HANDSHAKE) {
		if ((r = bench_conn_handshake(&s->c)) == BENCH_AGAIN) {
			return (STEP_WAIT);
		}
		if (r == BENCH_ERR) {
			end_session(s, "TLS handshake failed");
			return (STEP_GONE);
		}
		handshake_done(s);
		if (send_ehlo(s, S_EHLO2) != BENCH_OK) {
			end_session(s, "output");
			return (STEP_GONE);
		}
		return (STEP_MORE);
	}
	if ((r = reply(s, &code)) == BENCH_AGAIN) {
		if (!s->c.eof) {
			return (STEP_INPUT);
		}
		end_session(s, s->st == S_QUIT ? NULL : "connection closed");
		return (STEP_GONE);
	}
	if (r == BENCH_ERR) {
		end_session(s, "malformed or too long reply");
		return (STEP_GONE);
	}
	r = BENCH_OK;
	switch (s->st) {
	case S_GREET:
		if (code != 220) {
			end_session(s, "greeting not 220");
			return (STEP_GONE);
		}
		r = send_ehlo(s, S_EHLO1);
		break;
	case S_EHLO1:
		if (code != 250) {
			end_session(s, "EHLO not 250");
			return (STEP_GONE);
		}
		if (opt_plain && opt_idle) {
			s->st = S_IDLE;
			idle_established++;
		} else if (opt_plain) {
			r = next_mail(s);
		} else if (!s->reply_starttls) {
			end_session(s, "no STARTTLS in the EHLO reply");
			return (STEP_GONE);
		} else {
			s->st = S_STARTTLS;
			r = bench_conn_printf(&s->c, "STARTTLS\r\n");
		}
		break;
	case S_STARTTLS:
		if (code != 220) {
			end_session(s, "STARTTLS not 220");
			return (STEP_GONE);
		}
		/* nothing may follow the 220 in plaintext */
		bench_conn_discard_input(&s->c);
		r = bench_conn_start_tls(&s->c, ctx, 0,
		    opt_resume ? last_session : NULL, opt_name);
		s->st = S_HANDSHAKE;
		break;
	case S_EHLO2:
		if (code != 250) {
			end_session(s, "EHLO after STARTTLS not 250");
			return (STEP_GONE);
		}
		if (opt_idle) {
			s->st = S_IDLE;
			idle_established++;
		} else {
			r = next_mail(s);
		}
		break;
	case S_MAIL:
		if (code != 250) {
			snprintf(why, sizeof(why), "MAIL not 250: %d", code);
			end_session(s, why);
			return (STEP_GONE);
		}
		s->rcpt_i = 0;
		s->st = S_RCPT;
		r = send_rcpt(s);
		break;
	case S_RCPT:
		if (code != 250) {
			end_session(s, "RCPT not 250");
			return (STEP_GONE);
		}
		if (s->rcpt_i < opt_rcpts) {
			r = send_rcpt(s);
		} else {
			s->st = S_DATA;
			r = bench_conn_printf(&s->c, "DATA\r\n");
		}
		break;
	case S_DATA:
		if (code != 354) {
			end_session(s, "DATA not 354");
			return (STEP_GONE);
		}
		s->st = S_BODY;
		r = bench_conn_append(&s->c, body, body_len);
		break;
	case S_BODY:
		if (code != 250) {
			end_session(s, "end of data not 250");
			return (STEP_GONE);
		}
		msgs_ok++;
		s->has_msg = 0;
		s->msgs++;
		r = next_mail(s);
		break;
	case S_QUIT:
		end_session(s, NULL);
		return (STEP_GONE);
	case S_IDLE:
		end_session(s, "reply while idle");
		return (STEP_GONE);
	default:
		end_session(s, "internal: bad state");
		return (STEP_GONE);
	}
	if (r != BENCH_OK) {
		end_session(s, "TLS setup or output");
		return (STEP_GONE);
	}
	return (STEP_MORE);
}

/* drive - run the session until it must wait for the socket */
static void
drive(sess *s)
{
	int rounds = 0;

	if (s->st == S_CONNECT) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (getsockopt(s->c.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 ||
		    err != 0) {
			end_session(s, err ? strerror(err) : "connect");
			return;
		}
		s->st = S_GREET;
		s->c.last = time(NULL);
	}
	for (;;) {
		enum step st;

		if (bench_conn_flush(&s->c) == BENCH_ERR) {
			end_session(s, "write failed");
			return;
		}
		if ((st = step(s)) == STEP_GONE) {
			return;
		}
		if (st == STEP_MORE) {
			continue;
		}
		if (st == STEP_WAIT) {
			break;
		}
		switch (bench_conn_fill(&s->c)) {
		case BENCH_OK:
			if (++rounds < FILL_ROUNDS_MAX) {
				continue;
			}
			if (!s->again) {
				s->again = 1;
				again_list[again_n++] = s;
			}
			break;
		case BENCH_AGAIN:
			break;
		default:
			if (s->c.eof && s->st == S_QUIT) {
				end_session(s, NULL);
			} else {
				end_session(s, "read failed or closed");
			}
			return;
		}
		break;
	}
	set_events(s);
}

static void
start_session(void)
{
	sess *s = NULL;
	int fd, one = 1, i;
	struct epoll_event e;

	for (i = 0; i < nslots; i++) {
		if (sessions[i].st == S_FREE && !sessions[i].again) {
			s = sessions + i;
			break;
		}
	}
	if (s == NULL) {
		return;
	}
	n_sessions++;
	n_active++;
	s->msgs = 0;
	s->has_msg = 0;
	s->reply_lines = 0;
	fd = socket(target->ai_family,
	    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	bench_conn_init(&s->c, fd);
	s->st = S_CONNECT;
	if (!opt_idle) {
		claim(s);
	}
	if (fd < 0) {
		end_session(s, strerror(errno));
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, target->ai_addr, target->ai_addrlen) < 0 &&
	    errno != EINPROGRESS) {
		end_session(s, strerror(errno));
		return;
	}
	e.events = s->events = EPOLLOUT;
	e.data.ptr = s;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e) < 0) {
		end_session(s, strerror(errno));
	}
}

/* make_body - the message: a few headers, then lines of 'x' */
static void
make_body(void)
{
	char head[1024];
	int hl = snprintf(head, sizeof(head),
	    "From: <%s>\r\nTo: <%s>\r\nSubject: tls-source\r\n\r\n", opt_from,
	    opt_to);
	size_t i;

	body_len = (opt_len > (size_t) hl ? opt_len : (size_t) hl) + 80 + 3;
	body = malloc(body_len);
	if (body == NULL) {
		exit(2);
	}
	memcpy(body, head, (size_t) hl);
	i = (size_t) hl;
	while (i < opt_len) {
		size_t n = opt_len - i > 78 ? 76 : 0;

		if (n == 0) {
			n = opt_len - i > 2 ? opt_len - i - 2 : 1;
		}
		memset(body + i, 'x', n);
		i += n;
		body[i++] = '\r';
		body[i++] = '\n';
	}
	memcpy(body + i, ".\r\n", 3);
	body_len = i + 3;
}

static long
num(const char *s, long min, long max, const char *what)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == 0 || *end != 0 || v < min || v > max) {
		fprintf(stderr, "tls-source: bad %s: %s (%ld..%ld)\n", what, s,
		    min, max);
		exit(2);
	}
	return (v);
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: tls-source [-s sessions] [-m messages] [-l length] "
	    "[-r rcpts] [-N per-session]\n"
	    "    [-f from] [-t to] [-M helo] [-C cafile] [-V name] "
	    "[-T TLSv1.2|TLSv1.3] [-R] [-P]\n"
	    "    [-w timeout] [-v] [--idle N] host:port\n");
	exit(2);
}

static void
setup(const char *hostport)
{
	char *host, *port;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
	int r;

	if (bench_parse_hostport(hostport, &host, &port) < 0) {
		usage();
	}
	if ((r = getaddrinfo(host, port, &hints, &target)) != 0) {
		fprintf(stderr, "tls-source: %s: %s\n", hostport,
		    gai_strerror(r));
		exit(2);
	}
	free(host);
	free(port);
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    bench_pin_protocol(ctx, opt_proto) < 0) {
		fprintf(stderr, "tls-source: TLS setup failed (protocol %s)\n",
		    opt_proto ? opt_proto : "default");
		exit(2);
	}
	if (opt_cafile != NULL) {
		if (SSL_CTX_load_verify_locations(ctx, opt_cafile, NULL) != 1) {
			fprintf(stderr, "tls-source: cannot load %s\n",
			    opt_cafile);
			exit(2);
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}
	if (opt_resume) {
		SSL_CTX_set_session_cache_mode(ctx,
		    SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
		SSL_CTX_sess_set_new_cb(ctx, new_session_cb);
	}
	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		perror("tls-source: epoll_create1");
		exit(2);
	}
	nslots = opt_idle ? opt_idle : opt_sessions;
	sessions = calloc((size_t) nslots, sizeof(*sessions));
	again_list = calloc((size_t) nslots, sizeof(*again_list));
	if (sessions == NULL || again_list == NULL) {
		exit(2);
	}
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec + ts.tv_nsec / 1e9);
}

/* check_timeouts - fail every session that made no progress in time */
static void
check_timeouts(void)
{
	time_t t = time(NULL);
	int i;

	for (i = 0; i < nslots; i++) {
		sess *s = sessions + i;

		if (s->st != S_FREE && s->st != S_IDLE && !s->again &&
		    t - s->c.last > opt_timeout) {
			end_session(s, "timeout");
		}
	}
}

/* top_up - start sessions while work and slots are left */
static void
top_up(void)
{
	if (opt_idle) {
		long busy = n_active - idle_established + idle_dropped;

		while (n_sessions < opt_idle && busy < opt_sessions) {
			start_session();
			busy++;
		}
		return;
	}
	while (n_active < opt_sessions && msgs_left > 0) {
		start_session();
	}
}

static void
run(void)
{
	struct epoll_event ev[256];
	time_t last_check = time(NULL);
	int printed = 0;

	top_up();
	for (;;) {
		int n, i, k;

		if (opt_idle) {
			if (!printed &&
			    idle_established + idle_failed == opt_idle) {
				printf("tls-source: idle: %ld established, %ld "
				       "failed\n",
				    idle_established, idle_failed);
				fflush(stdout);
				printed = 1;
			}
			if (got_signal) {
				return;
			}
		} else if (n_active == 0 && msgs_left == 0) {
			return;
		}
		n = epoll_wait(epfd, ev, 256, again_n ? 0 : 1000);
		if (n < 0 && errno != EINTR) {
			perror("tls-source: epoll_wait");
			exit(2);
		}
		for (i = 0; i < n; i++) {
			sess *s = ev[i].data.ptr;

			if (s->st != S_FREE && !s->again) {
				drive(s);
			}
		}
		k = again_n;
		again_n = 0;
		for (i = 0; i < k; i++) {
			again_list[i]->again = 0;
			if (again_list[i]->st != S_FREE) {
				drive(again_list[i]);
			}
		}
		if (time(NULL) != last_check) {
			last_check = time(NULL);
			check_timeouts();
		}
		top_up();
	}
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "idle", required_argument, NULL, 'I' },
		{ 0 },
	};
	struct sigaction sa = { .sa_handler = on_signal };
	double t0, dt;
	int ch;

	while ((ch = getopt_long(argc, argv,
	            "s:m:l:r:N:f:t:M:C:V:T:RPw:vI:", longopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			opt_sessions = (int) num(optarg, 1, 10000, "sessions");
			break;
		case 'm':
			opt_msgs = num(optarg, 0, 100000000, "messages");
			break;
		case 'l':
			opt_len = (size_t) num(optarg, 0, 64 << 20, "length");
			break;
		case 'r':
			opt_rcpts = (int) num(optarg, 1, 1000, "recipients");
			break;
		case 'N':
			opt_per_sess = (int) num(optarg, 0, 100000000,
			    "messages per session");
			break;
		case 'f':
			opt_from = optarg;
			break;
		case 't':
			opt_to = optarg;
			break;
		case 'M':
			opt_helo = optarg;
			break;
		case 'C':
			opt_cafile = optarg;
			break;
		case 'V':
			opt_name = optarg;
			break;
		case 'T':
			opt_proto = optarg;
			break;
		case 'R':
			opt_resume = 1;
			break;
		case 'P':
			opt_plain = 1;
			break;
		case 'w':
			opt_timeout = (int) num(optarg, 1, 3600, "timeout");
			break;
		case 'v':
			opt_verbose = 1;
			break;
		case 'I':
			opt_idle =
			    (int) num(optarg, 1, 100000, "idle sessions");
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 1) {
		usage();
	}
	if (strlen(opt_from) > 256 || strlen(opt_to) > 256 ||
	    strlen(opt_helo) > 256) {
		fprintf(stderr, "tls-source: -f, -t or -M longer than 256\n");
		return (2);
	}
	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	setup(argv[optind]);
	make_body();
	msgs_left = opt_idle ? 0 : opt_msgs;

	t0 = now();
	run();
	dt = now() - t0;
	if (opt_idle) {
		printf("tls-source: idle: %ld established, %ld failed, %ld "
		       "dropped while idle; %ld TLS handshakes (%ld resumed); "
		       "%s\n",
		    idle_established, idle_failed, idle_dropped, n_handshakes,
		    n_resumed, tls_info[0] ? tls_info : "no TLS");
		return (idle_failed || idle_dropped ? 1 : 0);
	}
	printf("tls-source: %ld messages: %ld ok, %ld failed; %ld sessions, "
	       "%ld TLS handshakes (%ld resumed); %s; %.3f s, %.1f msg/s\n",
	    opt_msgs, msgs_ok, msgs_failed, n_sessions, n_handshakes, n_resumed,
	    tls_info[0] ? tls_info : "no TLS", dt, dt > 0 ? msgs_ok / dt : 0.0);
	return (msgs_ok == opt_msgs ? 0 : 1);
}
