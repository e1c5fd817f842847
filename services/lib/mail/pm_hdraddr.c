/*
 * NAME
 *	pm_hdraddr - the addresses of an RFC 5322 address-list header value
 * DESCRIPTION
 *	See pm_hdraddr.h. One pass over the value: the text outside angle
 *	brackets (display name or bare address) and the text inside them
 *	are collected apart; a ',' or ';' outside brackets ends an
 *	address (the bracketed text wins when there was one), a ':' outside
 *	brackets starts a group (what came before was its name), a ':'
 *	inside brackets ends a source route.
 */
#include "pm_hdraddr.h"

#include <stdlib.h>
#include <string.h>

#include "pm_addr.h"
#include "pm_util.h"

typedef struct scan {
	pm_buf bare;  /* outside <> */
	pm_buf angle; /* inside <> */
	int in_angle;
	int had_angle;
	size_t skipped;
	pm_addr_list *list;
} scan;

static void
list_add(pm_addr_list *l, const char *a, size_t len)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 8;
		l->addr = pm_realloc(l->addr, l->cap * sizeof(*l->addr));
	}
	l->addr[l->n++] = pm_strndup(a, len);
}

static void
scan_emit(scan *s)
{
	pm_buf *b = s->had_angle ? &s->angle : &s->bare;

	if (b->len > PM_ADDR_MAX) {
		s->skipped++;
	} else if (b->len > 0) {
		list_add(s->list, b->data, b->len);
	}
	pm_buf_reset(&s->bare);
	pm_buf_reset(&s->angle);
	s->in_angle = s->had_angle = 0;
}

/* Skip a comment starting at v[i] == '('; returns the index after it. */
static size_t
skip_comment(const char *v, size_t len, size_t i)
{
	int depth = 0;

	for (; i < len; i++) {
		if (v[i] == '\\') {
			i++;
		} else if (v[i] == '(') {
			depth++;
		} else if (v[i] == ')' && --depth == 0) {
			return (i + 1);
		}
	}
	return (len);
}

/* Copy a quoted string starting at v[i] == '"'; returns the index after. */
static size_t
copy_quoted(pm_buf *b, const char *v, size_t len, size_t i)
{
	pm_buf_append(b, "\"", 1);
	for (i++; i < len; i++) {
		if (v[i] == '\\' && i + 1 < len) {
			/* a quoted control character is dropped too */
			if ((unsigned char) v[i + 1] >= ' ' &&
			    v[i + 1] != 0x7f) {
				pm_buf_append(b, v + i, 2);
			}
			i++;
		} else if (v[i] == '"') {
			pm_buf_append(b, "\"", 1);
			return (i + 1);
		} else if ((unsigned char) v[i] >= ' ' && v[i] != 0x7f) {
			pm_buf_append(b, v + i, 1);
		}
	}
	pm_buf_append(b, "\"", 1); /* unbalanced: close it */
	return (len);
}

size_t
pm_hdr_addrs(const char *v, size_t len, pm_addr_list *list)
{
	scan s;
	size_t i = 0;
	unsigned char c;

	memset(&s, 0, sizeof(s));
	s.list = list;
	/* The limit keeps a hostile value from growing the buffers. */
	pm_buf_init(&s.bare, PM_ADDR_MAX + 8);
	pm_buf_init(&s.angle, PM_ADDR_MAX + 8);
	while (i < len) {
		c = (unsigned char) v[i];
		pm_buf *cur = s.in_angle ? &s.angle : &s.bare;

		if (c == '(') {
			i = skip_comment(v, len, i);
			continue;
		}
		if (c == '"') {
			i = copy_quoted(cur, v, len, i);
			continue;
		}
		i++;
		if (c == '<' && !s.in_angle) {
			s.in_angle = s.had_angle = 1;
			pm_buf_reset(&s.angle);
		} else if (c == '>' && s.in_angle) {
			s.in_angle = 0;
		} else if (c == ':' && s.in_angle) {
			pm_buf_reset(&s.angle); /* <@relay:a@b> */
		} else if (c == ':') {
			pm_buf_reset(&s.bare); /* "group:" */
		} else if ((c == ',' || c == ';') && !s.in_angle) {
			scan_emit(&s);
		} else if (c > ' ' && c != 0x7f) {
			pm_buf_append(cur, &v[i - 1], 1);
		}
	}
	scan_emit(&s);
	pm_buf_free(&s.bare);
	pm_buf_free(&s.angle);
	return (s.skipped);
}

void
pm_addr_list_free(pm_addr_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->addr[i]);
	}
	free(l->addr);
	memset(l, 0, sizeof(*l));
}
