/*
 * NAME
 *	rewrite - internal interfaces of the rewrite service
 * DESCRIPTION
 *	rewrite.c (main) wires these into pm_server_main(); rewrite_proto.c
 *	implements them.
 */
#ifndef REWRITE_H
#define REWRITE_H

#include <stddef.h>
#include <stdint.h>

#include "pm_util.h"

int rewrite_pre_init(void);
void rewrite_reload(void);
void rewrite_fini(void);
int rewrite_ready(void);
int rewrite_handler(void *thread_ctx, uint32_t type, const uint8_t *req,
    size_t reqlen, uint32_t *rtype, pm_buf *rbuf);

#endif
