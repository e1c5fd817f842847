/*
 * NAME
 *	pm_qstore_lua - the Redis Functions library "postmesh"
 * DESCRIPTION
 *	The source that pm_qstore_load_functions() loads with FUNCTION
 *	LOAD REPLACE. Functions persist in the AOF and RDB (unlike the
 *	EVALSHA script cache), so a restarted Redis still has them.
 *
 *	pm_enqueue  KEYS m r b incoming [stage]
 *	            ARGV qid nenv {name value}*nenv nrcpt
 *	                 {address orcpt notify}*nrcpt nchunks
 *	    Refuses with "-EXISTS" if m exists and with "-BODY" if the
 *	    staged body (a list of nchunks chunks) is incomplete; else
 *	    renames stage to b and removes its expiry, writes m and r and
 *	    XADDs "qid" to incoming. Returns the stream entry id.
 *	pm_body_append  KEYS stage  ARGV ttl_ms chunk
 *	    RPUSH chunk and PEXPIRE in one step (the AOF holds both or
 *	    neither), so a staged body always expires if never claimed.
 *	pm_delete   KEYS m r b [deferred [hold]]  ARGV qid
 *	    Deletes m, r, b and the id from deferred and hold in one step;
 *	    returns m's "body" field ("redis" or "fs"), or nil if m did
 *	    not exist. Flagged allow-oom: deleting must work when full.
 * LIMITS
 *	At most 100000 recipients and 64 envelope fields per message.
 *	HSET is called in batches so that unpack() stays within Lua's
 *	C stack limit.
 * SECURITY
 *	Every argument count is checked before the first write, because
 *	Redis does not roll back a function that fails half-way.
 */
#include "pm_util.h"

extern const char pm__qstore_lua[];

/* clang-format off */
const char pm__qstore_lua[] =
    "#!lua name=postmesh\n"
    "-- Postmesh queue functions (pm_qstore_lua.c, docs/queue.md).\n"
    "-- Every check comes before the first write: a function that fails\n"
    "-- half-way is not rolled back by Redis.\n"
    "\n"
    "local RCPT_MAX = 100000\n"
    "local ENV_MAX = 64\n"
    "local HSET_BATCH = 600\n"
    "\n"
    "local function bad(what)\n"
    "\treturn redis.error_reply('ERR postmesh: ' .. what)\n"
    "end\n"
    "\n"
    "local function is_count(s, max)\n"
    "\tlocal n = tonumber(s)\n"
    "\tif n == nil or n < 0 or n > max or n ~= math.floor(n) then\n"
    "\t\treturn nil\n"
    "\tend\n"
    "\treturn n\n"
    "end\n"
    "\n"
    "-- KEYS: m r b incoming [stage]; ARGV: qid nenv {name value}*nenv\n"
    "-- nrcpt {address orcpt notify}*nrcpt nchunks\n"
    "local function pm_enqueue(keys, args)\n"
    "\tlocal m, r, b = keys[1], keys[2], keys[3]\n"
    "\tlocal incoming, stage = keys[4], keys[5]\n"
    "\tlocal qid = args[1]\n"
    "\tlocal nenv = is_count(args[2], ENV_MAX)\n"
    "\tif qid == nil or m == nil or r == nil or b == nil or incoming == nil\n"
    "\t    or nenv == nil or nenv < 1 then\n"
    "\t\treturn bad('bad enqueue arguments')\n"
    "\tend\n"
    "\tlocal ri = 3 + 2 * nenv\n"
    "\tlocal nrcpt = is_count(args[ri], RCPT_MAX)\n"
    "\tif nrcpt == nil or nrcpt < 1 or #args ~= ri + 3 * nrcpt + 1 then\n"
    "\t\treturn bad('bad recipient count')\n"
    "\tend\n"
    "\tlocal nchunks = is_count(args[#args], 1e9)\n"
    "\tif nchunks == nil or (nchunks > 0) ~= (stage ~= nil) then\n"
    "\t\treturn bad('bad body arguments')\n"
    "\tend\n"
    "\tif redis.call('EXISTS', m) == 1 then\n"
    "\t\treturn redis.error_reply('EXISTS ' .. qid .. ' is already queued')\n"
    "\tend\n"
    "\tlocal t = redis.call('TYPE', incoming)['ok']\n"
    "\tif t ~= 'stream' and t ~= 'none' then\n"
    "\t\treturn bad('incoming is a ' .. t)\n"
    "\tend\n"
    "\tif stage ~= nil then\n"
    "\t\tif redis.call('TYPE', stage)['ok'] ~= 'list'\n"
    "\t\t    or redis.call('LLEN', stage) ~= nchunks then\n"
    "\t\t\treturn redis.error_reply('BODY ' .. qid .. ' body incomplete')\n"
    "\t\tend\n"
    "\tend\n"
    "\t-- Checks done; now write. A leftover r without m is junk.\n"
    "\tredis.call('DEL', r)\n"
    "\tif stage ~= nil then\n"
    "\t\tredis.call('RENAME', stage, b)\n"
    "\t\tredis.call('PERSIST', b)\n"
    "\telse\n"
    "\t\tredis.call('DEL', b)\n"
    "\tend\n"
    "\tredis.call('HSET', m, unpack(args, 3, 2 + 2 * nenv))\n"
    "\tlocal f = {}\n"
    "\tlocal j = ri + 1\n"
    "\tfor i = 0, nrcpt - 1 do\n"
    "\t\tlocal p = tostring(i) .. ':'\n"
    "\t\tf[#f + 1] = p .. 'a'; f[#f + 1] = args[j]\n"
    "\t\tf[#f + 1] = p .. 'o'; f[#f + 1] = args[j + 1]\n"
    "\t\tf[#f + 1] = p .. 'n'; f[#f + 1] = args[j + 2]\n"
    "\t\tf[#f + 1] = p .. 's'; f[#f + 1] = 'todo'\n"
    "\t\tf[#f + 1] = p .. 'd'; f[#f + 1] = ''\n"
    "\t\tf[#f + 1] = p .. 't'; f[#f + 1] = ''\n"
    "\t\tj = j + 3\n"
    "\t\tif #f >= HSET_BATCH then\n"
    "\t\t\tredis.call('HSET', r, unpack(f))\n"
    "\t\t\tf = {}\n"
    "\t\tend\n"
    "\tend\n"
    "\tf[#f + 1] = 'n'; f[#f + 1] = tostring(nrcpt)\n"
    "\tredis.call('HSET', r, unpack(f))\n"
    "\treturn redis.call('XADD', incoming, '*', 'qid', qid)\n"
    "end\n"
    "\n"
    "-- KEYS: stage; ARGV: ttl_ms chunk. Appends one chunk of a body being\n"
    "-- staged and sets its expiry in the same step, so that a staged body\n"
    "-- never outlives a crash without an expiry.\n"
    "local function pm_body_append(keys, args)\n"
    "\tif keys[1] == nil or #args ~= 2 or tonumber(args[1]) == nil then\n"
    "\t\treturn bad('bad body_append arguments')\n"
    "\tend\n"
    "\tlocal n = redis.call('RPUSH', keys[1], args[2])\n"
    "\tredis.call('PEXPIRE', keys[1], args[1])\n"
    "\treturn n\n"
    "end\n"
    "\n"
    "-- KEYS: m r b [deferred [hold]]; ARGV: qid. Returns the body store\n"
    "-- of the message (\"redis\" or \"fs\"), or nil if it was not queued.\n"
    "local function pm_delete(keys, args)\n"
    "\tif keys[1] == nil or keys[2] == nil or keys[3] == nil\n"
    "\t    or args[1] == nil then\n"
    "\t\treturn bad('bad delete arguments')\n"
    "\tend\n"
    "\tlocal body = redis.call('HGET', keys[1], 'body')\n"
    "\tredis.call('DEL', keys[1], keys[2], keys[3])\n"
    "\tif keys[4] ~= nil and redis.call('TYPE', keys[4])['ok'] == 'zset' then\n"
    "\t\tredis.call('ZREM', keys[4], args[1])\n"
    "\tend\n"
    "\tif keys[5] ~= nil and redis.call('TYPE', keys[5])['ok'] == 'set' then\n"
    "\t\tredis.call('SREM', keys[5], args[1])\n"
    "\tend\n"
    "\treturn body\n"
    "end\n"
    "\n"
    "redis.register_function('pm_enqueue', pm_enqueue)\n"
    "redis.register_function('pm_body_append', pm_body_append)\n"
    "-- Deleting frees memory: it must work when Redis is full.\n"
    "redis.register_function{function_name = 'pm_delete',\n"
    "    callback = pm_delete, flags = {'allow-oom'}}\n"
    ;
/* clang-format on */
