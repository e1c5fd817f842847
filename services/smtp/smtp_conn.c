/*
 * NAME
 *	smtp_conn - client sockets with timeouts, replies, connection cache
 * DESCRIPTION
 *	One delivery thread owns a session at a time; the socket is
 *	non-blocking and every wait is a poll() bounded by the timeout of
 *	the protocol step (smtp_*_timeout; each call gets its own time,
 *	like Postfix's per-read/per-write timeouts). Writes use
 *	MSG_NOSIGNAL (no SIGPIPE). Replies are read line by line:
 *	smtp_read_reply() returns a whole (multi-line) reply.
 *
 *	Connection cache: after a transaction a healthy session is kept
 *	idle under its key (transport mode and nexthop) for at most
 *	smtp_connection_cache_time_limit, and is used for at most
 *	smtp_connection_reuse_time_limit after it was opened. The next
 *	job for that nexthop takes it (smtp_cache_get); a session that
 *	the server closed while idle (readable: EOF or a 421) is dropped
 *	there. The delivery threads share the cache (one mutex);
 *	smtp_cache_expire() is called about once a second by a janitor
 *	thread (smtp.c).
 * LIMITS
 *	line_length_limit octets per reply line (the rest is read and
 *	dropped); SMTP_REPLY_LINES_MAX lines per reply;
 *	smtp_connection_cache_limit idle sessions (the oldest is closed).
 * SECURITY
 *	The server is untrusted: lines of any length and content, replies
 *	that never end (bounded by lines and time), a closed socket at any
 *	moment.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pm_log.h"
#include "smtp.h"
#include "smtp_params.h"
#include "smtp_tls.h"

#define SMTP_IBUF_SIZE 16384

int
smtp_poll_fd(int fd, short ev, int64_t deadline)
{
	struct pollfd pfd;
	int64_t left;
	int rc;

	for (;;) {
		left = deadline - pm_mono_ms();
		if (left <= 0) {
			return (PM_ETIMEDOUT);
		}
		pfd.fd = fd;
		pfd.events = ev;
		pfd.revents = 0;
		rc = poll(&pfd, 1, left > 60000 ? 60000 : (int) left);
		if (rc > 0) {
			return (0);
		}
		if (rc < 0 && errno != EINTR) {
			return (PM_EIO);
		}
	}
}

static void
conn_err(smtp_err *e, const char *relay, const char *why)
{
	e->status = PM_JOB_DEFERRED;
	snprintf(e->dsn, sizeof(e->dsn), "4.4.1");
	snprintf(e->text, sizeof(e->text), "connect to %s: %s", relay, why);
	pm_printable(e->text);
}

int
smtp_connect(const smtp_addr *a, int lmtp, long timeout, smtp_sess **out,
    smtp_err *err)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *) &ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) &ss;
	struct sockaddr_un *sun = (struct sockaddr_un *) &ss;
	socklen_t sl, el = sizeof(int);
	char hostip[300], relay[300];
	smtp_sess *s;
	int fd, e = 0, one = 1;

	memset(&ss, 0, sizeof(ss));
	if (a->family == AF_UNIX) {
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, a->path, sizeof(sun->sun_path) - 1);
		sl = sizeof(*sun);
		snprintf(hostip, sizeof(hostip), "%.150s[%.108s]", a->host,
		    a->path);
		memcpy(relay, hostip, sizeof(relay));
	} else {
		if (a->family == AF_INET) {
			sin->sin_family = AF_INET;
			sin->sin_port = htons((uint16_t) a->port);
			memcpy(&sin->sin_addr, a->addr, 4);
			sl = sizeof(*sin);
		} else {
			sin6->sin6_family = AF_INET6;
			sin6->sin6_port = htons((uint16_t) a->port);
			memcpy(&sin6->sin6_addr, a->addr, 16);
			sl = sizeof(*sin6);
		}
		snprintf(hostip, sizeof(hostip), "%.200s[%.60s]", a->host,
		    a->ip);
		snprintf(relay, sizeof(relay), "%.200s[%.60s]:%u", a->host,
		    a->ip, a->port);
	}
	fd = socket(a->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		conn_err(err, relay, strerror(errno));
		return (PM_EIO);
	}
	if (connect(fd, (struct sockaddr *) &ss, sl) != 0) {
		if (errno != EINPROGRESS) {
			e = errno;
		} else if (smtp_poll_fd(fd, POLLOUT,
		               pm_mono_ms() + timeout * 1000) != 0) {
			e = ETIMEDOUT;
		} else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) != 0) {
			e = errno;
		}
	}
	if (e != 0) {
		close(fd);
		conn_err(err, relay, strerror(e));
		return (e == ETIMEDOUT ? PM_ETIMEDOUT : PM_ECONNREFUSED);
	}
	if (a->family != AF_UNIX) {
		(void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
	}
	s = pm_calloc(1, sizeof(*s));
	s->fd = fd;
	s->lmtp = lmtp;
	s->ibuf = pm_malloc(SMTP_IBUF_SIZE);
	memcpy(s->hostip, hostip, sizeof(s->hostip));
	memcpy(s->relay, relay, sizeof(s->relay));
	s->created_ms = pm_mono_ms();
	*out = s;
	return (0);
}

int
smtp_write(smtp_sess *s, const void *data, size_t len, long timeout)
{
	const char *p = data;
	int64_t deadline = pm_mono_ms() + timeout * 1000;
	ssize_t n;
	int rc;

	if (s->tls != NULL && s->tls->ssl != NULL) {
		if ((rc = smtp_tls_write(s, data, len, deadline)) != 0) {
			s->broken = 1;
		}
		return (rc);
	}
	while (len > 0) {
		n = send(s->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			p += n;
			len -= (size_t) n;
			continue;
		}
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if ((rc = smtp_poll_fd(s->fd, POLLOUT, deadline)) !=
			    0) {
				s->broken = 1;
				return (rc);
			}
			continue;
		}
		s->broken = 1;
		return (PM_ECLOSED);
	}
	return (0);
}

static int
read_more(smtp_sess *s, int64_t deadline)
{
	ssize_t n;
	int rc;

	if (s->ipos > 0) {
		memmove(s->ibuf, s->ibuf + s->ipos, s->ilen - s->ipos);
		s->ilen -= s->ipos;
		s->ipos = 0;
	}
	if (s->tls != NULL && s->tls->ssl != NULL) {
		size_t got = 0;

		rc = smtp_tls_read(s, s->ibuf + s->ilen,
		    SMTP_IBUF_SIZE - s->ilen, deadline, &got);
		s->ilen += got;
		return (rc);
	}
	for (;;) {
		n = recv(s->fd, s->ibuf + s->ilen, SMTP_IBUF_SIZE - s->ilen, 0);
		if (n > 0) {
			s->ilen += (size_t) n;
			return (0);
		}
		if (n == 0) {
			return (PM_ECLOSED);
		}
		if (errno == EINTR) {
			continue;
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			return (PM_ECLOSED);
		}
		if ((rc = smtp_poll_fd(s->fd, POLLIN, deadline)) != 0) {
			return (rc);
		}
	}
}

/* One line into line (cut at line_length_limit), without its end. */
static int
read_line(smtp_sess *s, int64_t deadline, pm_buf *line)
{
	size_t max = var_line_limit > 0 ? (size_t) var_line_limit : 2048;
	size_t avail, take;
	char *nl;
	int rc;

	pm_buf_reset(line);
	for (;;) {
		avail = s->ilen - s->ipos;
		nl = memchr(s->ibuf + s->ipos, '\n', avail);
		take = nl ? (size_t) (nl - (s->ibuf + s->ipos)) : avail;
		if (line->len < max) {
			(void) pm_buf_append(line, s->ibuf + s->ipos,
			    take < max - line->len ? take : max - line->len);
		}
		if (nl != NULL) {
			s->ipos += take + 1;
			if (line->len > 0 &&
			    line->data[line->len - 1] == '\r') {
				line->data[--line->len] = 0;
			}
			return (0);
		}
		s->ipos = s->ilen;
		if ((rc = read_more(s, deadline)) != 0) {
			return (rc);
		}
	}
}

int
smtp_read_reply(smtp_sess *s, smtp_reply *r, long timeout)
{
	int64_t deadline = pm_mono_ms() + timeout * 1000;
	pm_buf line;
	int rc = 0;

	smtp_reply_reset(r);
	pm_buf_init(&line, 0);
	for (;;) {
		if ((rc = read_line(s, deadline, &line)) != 0) {
			break;
		}
		if (smtp_reply_add(r, line.data, line.len)) {
			break;
		}
		if (r->nlines >= SMTP_REPLY_LINES_MAX) {
			rc = PM_EPROTO;
			break;
		}
	}
	pm_buf_free(&line);
	if (rc != 0 || r->code == 0 || r->code == 421) {
		/* a stream we cannot trust any more, or the server leaves */
		s->broken = 1;
	}
	return (rc);
}

void
smtp_sess_close(smtp_sess *s, int quit)
{
	if (s == NULL) {
		return;
	}
	if (s->tls != NULL && s->tls->ssl != NULL) {
		smtp_tls_close(s, quit); /* QUIT over TLS, close_notify */
		quit = 0;
	} else if (s->tls != NULL) {
		smtp_tls_close(s, 0);
	}
	if (quit && !s->broken) {
		/* Postfix's smtp_skip_quit_response: do not wait */
		(void) send(s->fd, "QUIT\r\n", 6, MSG_NOSIGNAL | MSG_DONTWAIT);
	}
	close(s->fd);
	free(s->ibuf);
	free(s);
}

/* ---- the connection cache ---- */

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static smtp_sess *cache_head;
static int cache_n;
static pm_metric *cache_hit;
static pm_metric *cache_miss;

void
smtp_cache_init(pm_metric *hit, pm_metric *miss)
{
	cache_hit = hit;
	cache_miss = miss;
}

void
smtp_cache_count(int hit)
{
	pm_metric *m = hit ? cache_hit : cache_miss;

	if (m != NULL) {
		pm_metric_inc(m);
	}
}

static int
cache_expired(const smtp_sess *s, int64_t now)
{
	return (now - s->idle_ms > var_smtp_cache_time * 1000 ||
	    now - s->created_ms > var_smtp_reuse_time * 1000);
}

/* Did the server close (or say something) while the session was idle? */
static int
cache_dead(const smtp_sess *s)
{
	struct pollfd pfd = { .fd = s->fd, .events = POLLIN };

	if (s->ipos != s->ilen) {
		return (1);
	}
	if (s->tls != NULL && s->tls->ssl != NULL) {
		return (smtp_tls_idle_dead((smtp_sess *) s));
	}
	return (poll(&pfd, 1, 0) != 0);
}

static void
close_list(smtp_sess *l)
{
	smtp_sess *next;

	for (; l != NULL; l = next) {
		next = l->next;
		smtp_sess_close(l, 1);
	}
}

smtp_sess *
smtp_cache_get(const char *key)
{
	smtp_sess **pp, *s, *found = NULL, *dead = NULL;
	int64_t now = pm_mono_ms();

	pthread_mutex_lock(&cache_mu);
	for (pp = &cache_head; (s = *pp) != NULL;) {
		if (strcmp(s->key, key) != 0) {
			pp = &s->next;
			continue;
		}
		*pp = s->next;
		cache_n--;
		if (cache_expired(s, now) || cache_dead(s)) {
			s->broken = s->broken || cache_dead(s);
			s->next = dead;
			dead = s;
			continue;
		}
		found = s;
		break;
	}
	pthread_mutex_unlock(&cache_mu);
	close_list(dead);
	if (found != NULL) {
		found->next = NULL;
	}
	return (found);
}

void
smtp_cache_put(smtp_sess *s)
{
	smtp_sess **pp, *old = NULL;
	int64_t now = pm_mono_ms();

	if (s->broken || now - s->created_ms > var_smtp_reuse_time * 1000 ||
	    var_smtp_cache_time <= 0 || var_smtp_cache_limit <= 0) {
		smtp_sess_close(s, 1);
		return;
	}
	s->idle_ms = now;
	pthread_mutex_lock(&cache_mu);
	if (cache_n >= var_smtp_cache_limit) {
		/* the last one is the oldest */
		for (pp = &cache_head; (*pp)->next != NULL; pp = &(*pp)->next) {
			/* walk */
		}
		old = *pp;
		*pp = NULL;
		cache_n--;
	}
	s->next = cache_head;
	cache_head = s;
	cache_n++;
	pthread_mutex_unlock(&cache_mu);
	if (old != NULL) {
		old->next = NULL;
		smtp_sess_close(old, 1);
	}
}

void
smtp_cache_expire(int force)
{
	smtp_sess **pp, *s, *dead = NULL;
	int64_t now = pm_mono_ms();

	pthread_mutex_lock(&cache_mu);
	for (pp = &cache_head; (s = *pp) != NULL;) {
		if (force || cache_expired(s, now)) {
			*pp = s->next;
			cache_n--;
			s->next = dead;
			dead = s;
		} else {
			pp = &s->next;
		}
	}
	pthread_mutex_unlock(&cache_mu);
	close_list(dead);
}
