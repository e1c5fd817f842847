/*
 * NAME
 *	pm_qstore_lua - the Redis Functions library "postmesh", embedded
 * DESCRIPTION
 *	pm_qstore.lua, beside this file, is the source that
 *	pm_qstore_load_functions() loads with FUNCTION LOAD REPLACE; its
 *	header says what each function does. The build turns it into a C
 *	string (build/gen/pm_qstore.lua.h), so the Lua stays readable and
 *	is checked by luac (make lint-lua, part of make test).
 * LIMITS
 *	See pm_qstore.lua.
 * SECURITY
 *	See pm_qstore.lua: every argument is checked before the first
 *	write.
 */
#include "pm_util.h"

extern const char pm__qstore_lua[];

const char pm__qstore_lua[] =
#include "pm_qstore.lua.h"
    ;
