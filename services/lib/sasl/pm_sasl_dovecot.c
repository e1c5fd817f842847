/*
 * NAME
 *	pm_sasl_dovecot - Dovecot authentication client (smtpd_sasl_type = dovecot)
 * DESCRIPTION
 *	The client side of Dovecot's auth protocol 1.2, as Postfix's
 *	xsasl_dovecot_server.c speaks it. On connect: "VERSION 1 2" and
 *	"CPID pid"; the server answers VERSION, MECH lines, SPID, CUID,
 *	COOKIE and DONE; PLAIN must be among the mechanisms. Each check is
 *	"AUTH id PLAIN service=smtp nologin rip=addr [secured] resp=base64"
 *	(fields TAB separated); the answer "OK id ..." is a good password,
 *	"FAIL id ..." a bad one, or a temporary failure when it carries
 *	"temp" (Dovecot's passdb is down). smtpd always sends PLAIN: AUTH
 *	LOGIN is decoded by smtpd into the same user and password.
 *
 *	path is a UNIX socket ("/var/spool/postfix/private/auth", or a
 *	relative path) or "inet:host:port". Connections are opened when a
 *	check needs one, kept in a pool of at most PM_SASL_POOL_MAX idle
 *	ones shared by the worker threads (a mutex guards it), and closed
 *	on any error; a check that fails on a kept connection (closed by
 *	Dovecot meanwhile) is tried once more on a new one.
 * LIMITS
 *	Each check (connect, handshake, request, answer) ends within
 *	opts->timeout_ms (smtpd_sasl_timeout); a line longer than
 *	opts->line_max ends the connection; at most PM__DOVE_ARGS_MAX
 *	fields per line, and a handshake of at most 1000 lines.
 * SECURITY
 *	Dovecot is trusted as configured, but its lines are parsed
 *	defensively (bounded, control bytes refused). The password is sent
 *	base64 encoded inside the request only, and the request buffer is
 *	cleared after use.
 */
#include "pm_log.h"
#include "pm_sasl_priv.h"
#include "pm_util.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define DOVE_HANDSHAKE_MAX 1000

typedef struct dove_conn {
	int fd;
	char *buf; /* line_max + 1 */
	size_t len;
	unsigned id;
} dove_conn;

typedef struct dove_be {
	char *path;
	int timeout_ms;
	size_t line_max;
	pthread_mutex_t mu;
	dove_conn *idle[PM_SASL_POOL_MAX];
	int nidle;
} dove_be;

/* Parser (pure). */

int
pm__dove_parse(char *line, pm__dove_line *out)
{
	char *p;
	char *tab;

	memset(out, 0, sizeof(*out));
	if (*line == 0) {
		return (PM_EPROTO);
	}
	for (p = line; *p; p++) {
		if ((unsigned char) *p < 0x20 && *p != '\t' && *p != '\001') {
			return (PM_EPROTO);
		}
	}
	out->cmd = line;
	p = line;
	while ((tab = strchr(p, '\t')) != NULL) {
		*tab = 0;
		p = tab + 1;
		if (out->nargs >= PM__DOVE_ARGS_MAX) {
			return (PM_EPROTO);
		}
		out->args[out->nargs++] = p;
	}
	return (*out->cmd == 0 ? PM_EPROTO : 0);
}

const char *
pm__dove_arg(const pm__dove_line *l, int from, const char *name)
{
	size_t n = strlen(name);
	int i;

	for (i = from; i < l->nargs; i++) {
		if (strncmp(l->args[i], name, n) != 0) {
			continue;
		}
		if (l->args[i][n] == '=') {
			return (l->args[i] + n + 1);
		}
		if (l->args[i][n] == 0) {
			return ("");
		}
	}
	return (NULL);
}

int
pm__dove_unescape(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (*s != '\001') {
			*w++ = *s;
			continue;
		}
		switch (*++s) {
		case '1':
			*w++ = '\001';
			break;
		case 't':
			*w++ = '\t';
			break;
		case 'r':
			*w++ = '\r';
			break;
		case 'n':
			*w++ = '\n';
			break;
		default:
			return (PM_EPROTO);
		}
	}
	*w = 0;
	return (0);
}

/* I/O within a deadline. */

static int
left_ms(int64_t deadline)
{
	int64_t n = deadline - pm_mono_ms();

	return (n > 0 ? (int) n : 0);
}

static int
wait_fd(int fd, short ev, int64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = ev };
	int rc;

	for (;;) {
		rc = poll(&p, 1, left_ms(deadline));
		if (rc > 0) {
			return (0);
		}
		if (rc == 0) {
			return (PM_ETIMEDOUT);
		}
		if (errno != EINTR) {
			return (PM_EIO);
		}
	}
}

static void
conn_free(dove_conn *c)
{
	if (c != NULL) {
		if (c->fd >= 0) {
			close(c->fd);
		}
		free(c->buf);
		free(c);
	}
}

static int
conn_write(dove_conn *c, const char *p, size_t n, int64_t deadline)
{
	ssize_t w;
	int rc;

	while (n > 0) {
		if ((rc = wait_fd(c->fd, POLLOUT, deadline)) != 0) {
			return (rc);
		}
		w = send(c->fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				continue;
			}
			return (PM_EIO);
		}
		p += w;
		n -= (size_t) w;
	}
	return (0);
}

/* Next line (without LF, NUL-terminated) into out (line_max + 1). */
static int
conn_line(dove_be *be, dove_conn *c, char *out, int64_t deadline)
{
	char *nl;
	ssize_t r;
	size_t n;
	int rc;

	for (;;) {
		if ((nl = memchr(c->buf, '\n', c->len)) != NULL) {
			n = (size_t) (nl - c->buf);
			memcpy(out, c->buf, n);
			out[n] = 0;
			memmove(c->buf, nl + 1, c->len - n - 1);
			c->len -= n + 1;
			if (memchr(out, 0, n) != NULL) {
				return (PM_EPROTO);
			}
			return (0);
		}
		if (c->len >= be->line_max) {
			return (PM_ETOOBIG);
		}
		if ((rc = wait_fd(c->fd, POLLIN, deadline)) != 0) {
			return (rc);
		}
		r = recv(c->fd, c->buf + c->len, be->line_max - c->len, 0);
		if (r == 0) {
			return (PM_ECLOSED);
		}
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				continue;
			}
			return (PM_EIO);
		}
		c->len += (size_t) r;
	}
}

static int
conn_socket(dove_be *be, int64_t deadline, const char **why)
{
	struct addrinfo hints;
	struct addrinfo *res = NULL;
	struct sockaddr_un sun;
	char host[256];
	const char *port;
	const char *spec;
	int fd = -1;
	int err;
	socklen_t elen = sizeof(err);

	if (strncmp(be->path, "inet:", 5) == 0) {
		spec = be->path + 5;
		if ((port = strrchr(spec, ':')) == NULL ||
		    (size_t) (port - spec) >= sizeof(host)) {
			*why = "bad inet:host:port";
			return (-1);
		}
		snprintf(host, sizeof(host), "%.*s", (int) (port - spec), spec);
		if (host[0] == '[' && host[strlen(host) - 1] == ']') {
			memmove(host, host + 1, strlen(host) - 2);
			host[strlen(host) - 2] = 0;
		}
		memset(&hints, 0, sizeof(hints));
		hints.ai_socktype = SOCK_STREAM;
		if (getaddrinfo(host, port + 1, &hints, &res) != 0) {
			*why = "cannot resolve host";
			return (-1);
		}
		fd = socket(res->ai_family,
		    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd >= 0 &&
		    connect(fd, res->ai_addr, res->ai_addrlen) != 0 &&
		    errno != EINPROGRESS) {
			goto fail;
		}
	} else {
		if (strlen(be->path) >= sizeof(sun.sun_path)) {
			*why = "socket path too long";
			return (-1);
		}
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		strcpy(sun.sun_path, be->path);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
		if (fd >= 0 &&
		    connect(fd, (struct sockaddr *) &sun, sizeof(sun)) != 0 &&
		    errno != EINPROGRESS && errno != EAGAIN) {
			goto fail;
		}
	}
	if (fd < 0) {
		goto fail;
	}
	if (wait_fd(fd, POLLOUT, deadline) != 0) {
		errno = ETIMEDOUT;
		goto fail;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0 ||
	    err != 0) {
		errno = err;
		goto fail;
	}
	if (res != NULL) {
		freeaddrinfo(res);
	}
	return (fd);
fail:
	*why = strerror(errno);
	if (fd >= 0) {
		close(fd);
	}
	if (res != NULL) {
		freeaddrinfo(res);
	}
	return (-1);
}

/* Connect and read the handshake; NULL with reason set on failure. */
static dove_conn *
conn_open(dove_be *be, int64_t deadline, char *reason, size_t size)
{
	dove_conn *c = pm_calloc(1, sizeof(*c));
	char *line = pm_malloc(be->line_max + 1);
	char hello[64];
	const char *why = NULL;
	pm__dove_line l;
	int plain = 0;
	int version = 0;
	int i;
	int rc;

	c->buf = pm_malloc(be->line_max + 1);
	if ((c->fd = conn_socket(be, deadline, &why)) < 0) {
		snprintf(reason, size, "connect to %s failed: %s", be->path,
		    why);
		goto fail;
	}
	snprintf(hello, sizeof(hello), "VERSION\t1\t2\nCPID\t%ld\n",
	    (long) getpid());
	if ((rc = conn_write(c, hello, strlen(hello), deadline)) != 0) {
		snprintf(reason, size, "%s: %s", be->path, pm_strerror(rc));
		goto fail;
	}
	for (i = 0; i < DOVE_HANDSHAKE_MAX; i++) {
		if ((rc = conn_line(be, c, line, deadline)) != 0 ||
		    (rc = pm__dove_parse(line, &l)) != 0) {
			snprintf(reason, size, "%s: handshake: %s", be->path,
			    pm_strerror(rc));
			goto fail;
		}
		if (strcmp(l.cmd, "VERSION") == 0) {
			if (l.nargs < 1 || strcmp(l.args[0], "1") != 0) {
				snprintf(reason, size,
				    "%s: unsupported protocol version",
				    be->path);
				goto fail;
			}
			version = 1;
		} else if (strcmp(l.cmd, "MECH") == 0 && l.nargs >= 1 &&
		    strcasecmp(l.args[0], "PLAIN") == 0) {
			plain = 1;
		} else if (strcmp(l.cmd, "DONE") == 0) {
			break;
		}
	}
	if (!version || i == DOVE_HANDSHAKE_MAX) {
		snprintf(reason, size, "%s: bad handshake", be->path);
		goto fail;
	}
	if (!plain) {
		snprintf(reason, size, "%s: Dovecot offers no PLAIN mechanism",
		    be->path);
		goto fail;
	}
	free(line);
	return (c);
fail:
	free(line);
	conn_free(c);
	return (NULL);
}

static void
dove_close(void *arg)
{
	dove_be *be = arg;
	int i;

	for (i = 0; i < be->nidle; i++) {
		conn_free(be->idle[i]);
	}
	pthread_mutex_destroy(&be->mu);
	free(be->path);
	free(be);
}

static void *
dove_open(const char *path, const pm_sasl_opts *o, char **err)
{
	dove_be *be;

	if (*path == 0) {
		*err = pm_strdup("smtpd_sasl_path: empty");
		return (NULL);
	}
	be = pm_calloc(1, sizeof(*be));
	be->path = pm_strdup(path);
	be->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 10000;
	be->line_max = o->line_max >= 256 ? o->line_max : 256;
	pthread_mutex_init(&be->mu, NULL);
	return (be);
}

/* One AUTH exchange on c: PM_SASL_* or a negative PM_E* (I/O). */
static int
dove_exchange(dove_be *be, dove_conn *c, const char *req, size_t reqlen,
    unsigned id, int64_t deadline, const pm_sasl_info *info, char *reason,
    size_t size)
{
	char *line = pm_malloc(be->line_max + 1);
	pm__dove_line l;
	char *end;
	const char *r;
	unsigned long got;
	int rc;

	if ((rc = conn_write(c, req, reqlen, deadline)) != 0) {
		goto out;
	}
	for (;;) {
		if ((rc = conn_line(be, c, line, deadline)) != 0 ||
		    (rc = pm__dove_parse(line, &l)) != 0) {
			goto out;
		}
		if (l.nargs < 1) {
			continue;
		}
		errno = 0;
		got = strtoul(l.args[0], &end, 10);
		if (*end != 0 || got != id) {
			continue; /* not ours (or a server notice) */
		}
		if (strcmp(l.cmd, "OK") == 0) {
			rc = PM_SASL_OK;
			/* The name Dovecot authenticated (Postfix uses it). */
			r = pm__dove_arg(&l, 1, "user");
			if (info != NULL && info->authname != NULL &&
			    r != NULL && pm__dove_unescape((char *) r) == 0 &&
			    pm_sasl_user_ok(r, strlen(r)) &&
			    strlen(r) < info->authname_size) {
				memcpy(info->authname, r, strlen(r) + 1);
			}
		} else if (strcmp(l.cmd, "FAIL") == 0) {
			rc = pm__dove_arg(&l, 1, "temp") != NULL ?
			    PM_SASL_TEMP :
			    PM_SASL_FAIL;
			r = pm__dove_arg(&l, 1, "reason");
			if (r != NULL && *r != 0 &&
			    pm__dove_unescape((char *) r) == 0) {
				char *p = pm_printable_dup(r, strlen(r), 200);

				snprintf(reason, size, "%s", p);
				free(p);
			} else {
				snprintf(reason, size, "%s",
				    rc == PM_SASL_TEMP ?
				        "Temporary authentication failure" :
				        "authentication failure");
			}
		} else {
			/* CONT after a complete PLAIN response, or junk. */
			snprintf(reason, size, "%s: unexpected %s reply",
			    be->path, l.cmd[0] == 'C' ? "CONT" : "unknown");
			rc = PM_EPROTO; /* the connection is out of step */
		}
		goto out;
	}
out:
	free(line);
	return (rc);
}

static int
dove_verify(void *arg, const char *mech, const char *user, const char *pass,
    const pm_sasl_info *info, char *reason, size_t size)
{
	dove_be *be = arg;
	int64_t deadline = pm_mono_ms() + be->timeout_ms;
	size_t ul = strlen(user);
	size_t pl = strlen(pass);
	size_t rawlen = 1 + ul + 1 + pl;
	char *raw = pm_malloc(rawlen + 1);
	char *b64 = pm_malloc(4 * ((rawlen + 2) / 3) + 1);
	pm_buf req;
	dove_conn *c;
	int tries;
	int reused;
	int rc = PM_SASL_TEMP;

	(void) mech;
	/* "\0user\0pass": no authorization identity. */
	raw[0] = 0;
	memcpy(raw + 1, user, ul);
	raw[1 + ul] = 0;
	memcpy(raw + 2 + ul, pass, pl);
	pm_sasl_b64_encode(raw, rawlen, b64);
	explicit_bzero(raw, rawlen);
	free(raw);
	pm_buf_init(&req, 0);
	for (tries = 0; tries < 2; tries++) {
		pthread_mutex_lock(&be->mu);
		c = be->nidle > 0 ? be->idle[--be->nidle] : NULL;
		pthread_mutex_unlock(&be->mu);
		reused = c != NULL;
		if (c == NULL &&
		    (c = conn_open(be, deadline, reason, size)) == NULL) {
			rc = PM_SASL_TEMP;
			break;
		}
		c->id++;
		pm_buf_reset(&req);
		pm_buf_printf(&req, "AUTH\t%u\tPLAIN\tservice=%s\tnologin",
		    c->id, info && info->service ? info->service : "smtp");
		if (info != NULL && info->client_addr != NULL) {
			pm_buf_printf(&req, "\trip=%s", info->client_addr);
		}
		if (info != NULL && info->secured) {
			pm_buf_puts(&req, "\tsecured");
		}
		pm_buf_printf(&req, "\tresp=%s\n", b64);
		rc = dove_exchange(be, c, req.data, req.len, c->id, deadline,
		    info, reason, size);
		if (rc >= 0) {
			pthread_mutex_lock(&be->mu);
			if (be->nidle < PM_SASL_POOL_MAX) {
				be->idle[be->nidle++] = c;
				c = NULL;
			}
			pthread_mutex_unlock(&be->mu);
			conn_free(c);
			break;
		}
		conn_free(c);
		snprintf(reason, size, "%s: %s", be->path, pm_strerror(rc));
		rc = PM_SASL_TEMP;
		if (!reused || left_ms(deadline) == 0) {
			break;
		}
	}
	if (req.data != NULL) {
		explicit_bzero(req.data, req.len);
	}
	pm_buf_free(&req);
	explicit_bzero(b64, strlen(b64));
	free(b64);
	return (rc);
}

const pm__sasl_ops pm__sasl_dovecot_ops = {
	.open = dove_open,
	.close = dove_close,
	.verify = dove_verify,
};
