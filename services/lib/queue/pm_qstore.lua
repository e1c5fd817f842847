#!lua name=postmesh
-- NAME
--    pm_qstore.lua - the Redis Functions library "postmesh"
-- DESCRIPTION
--    The source that pm_qstore_load_functions() loads with FUNCTION
--    LOAD REPLACE. Functions persist in the AOF and RDB (unlike the
--    EVALSHA script cache), so a restarted Redis still has them.
--
--    pm_enqueue  KEYS m r b incoming seen [stage]
--                ARGV qid nenv {name value}*nenv nrcpt
--                     {address orcpt notify}*nrcpt nchunks keep_ms
--        Refuses with "-EXISTS" if m exists, "-SEEN" if seen exists,
--        and with "-BODY" if the staged body (a list of nchunks chunks) is incomplete;
--        else renames stage to b and removes its expiry, writes m and r,
--        sets seen with an expiry of keep_ms when keep_ms > 0 (the id
--        stays refused for that long after the message is gone: a
--        notice asked for again is not queued twice) and XADDs "qid" to
--        incoming. Returns the stream entry id.
--    pm_body_append  KEYS stage  ARGV ttl_ms chunk
--        RPUSH chunk and PEXPIRE in one step (the AOF holds both or
--        neither), so a staged body always expires if never claimed.
--    pm_delete   KEYS m r b [deferred [hold]]  ARGV qid
--        Deletes m, r, b and the id from deferred and hold in one step;
--        returns m's "body" field ("redis" or "fs"), or nil if m did
--        not exist. Flagged allow-oom: deleting must work when full.
--
--    Delivery side (pm_qstore_deliv.c, docs/queue.md):
--    pm_rcpt_status  KEYS r [m incoming]
--                    ARGV index status dsn text [group id owner epoch]
--        Compare-and-set of "i:s" (only from todo/deferred); 1 if
--        written; if already final, what is stored: [status, dsn,
--        text]; "-NOENT" without r, "-NORCPT" for an index that is not
--        a recipient. status "notified" is stored as sent plus "i:q" =
--        1 (no success notice) and named so again in the reply. With
--        the fence arguments (qmgr's own writes),
--        "-LOST" unless the caller still holds the lease (see fence).
--    pm_finish   KEYS m r b incoming deferred hold
--                ARGV qid id group [owner epoch]
--        DEL m r b, XACK + XDEL the entry, ZREM, SREM; returns m's body
--        store or nil.
--    pm_defer    KEYS m incoming deferred
--                ARGV qid id group score_ms attempts next_attempt_us
--                     [owner epoch]
--    pm_hold     KEYS m incoming hold  ARGV qid id group [owner epoch]
--        XACK + XDEL, then ZADD/HSET resp. SADD if m exists; 1, or 0 if
--        m is gone.
--    Fencing (issue 7): with owner and epoch, finish, defer, hold and
--    rcpt_status first check that the entry is not pending for another
--    consumer and that m's lease ("lease_owner", "lease_epoch") is
--    still owner's with that epoch; if not they write nothing and
--    answer "-LOST". Without them (agents, CLI, older callers) they
--    are not fenced.
--    pm_lease    KEYS incoming m  ARGV group id consumer
--        Right after a claim: if the entry is pending for consumer,
--        HSET m lease_owner consumer and HINCRBY m lease_epoch 1;
--        returns the new epoch, 0 if m is gone (or not a hash), -1 if
--        the entry is not (or no longer) the consumer's.
--    pm_lease_touch  KEYS incoming  ARGV group consumer {id m epoch}*
--        pm_touch with the lease checked too: an entry whose m holds
--        another owner or epoch (epoch "0": not checked) is lost.
--    pm_requeue_due  KEYS deferred incoming  ARGV now_ms max m_prefix
--        ZRANGEBYSCORE -inf now_ms LIMIT 0 max; each id is ZREMed and,
--        if its m exists, XADDed to incoming. Returns the number moved.
--    pm_touch    KEYS incoming  ARGV group consumer id...
--        XCLAIM ... 0 id JUSTID for each entry the consumer still owns;
--        returns the ids it no longer owns.
--    pm_reap     KEYS incoming  ARGV group self min_idle_ms
--        XGROUP DELCONSUMER every consumer but self that has no
--        pending entry and was idle at least min_idle_ms (a gone
--        instance's); returns their names. Checked and deleted in one
--        step: a consumer that holds an entry is never deleted (that
--        would drop the entry from the group's pending list).
--    All but pm_requeue_due (which adds entries) are allow-oom.
--    The m keys of pm_lease_touch are not declared: they carry the same
--    hash tag (slot) as incoming.
-- LIMITS
--    At most 100000 recipients and 64 envelope fields per message.
--    HSET is called in batches so that unpack() stays within Lua's
--    C stack limit.
-- SECURITY
--    Every argument count is checked before the first write, because
--    Redis does not roll back a function that fails half-way.
--
-- Postmesh queue functions (docs/queue.md).
-- Every check comes before the first write: a function that fails
-- half-way is not rolled back by Redis.

local RCPT_MAX = 100000
local ENV_MAX = 64
local HSET_BATCH = 600

local function bad(what)
	return redis.error_reply('ERR postmesh: ' .. what)
end

local function is_count(s, max)
	local n = tonumber(s)
	if n == nil or n < 0 or n > max or n ~= math.floor(n) then
		return nil
	end
	return n
end

-- KEYS: m r b incoming seen [stage]; ARGV: qid nenv
-- {name value}*nenv nrcpt {address orcpt notify}*nrcpt nchunks
-- keep_ms. seen marks an id that must not be queued again for
-- keep_ms after the message is gone (0: no mark).
local function pm_enqueue(keys, args)
	local m, r, b = keys[1], keys[2], keys[3]
	local incoming, seen, stage = keys[4], keys[5], keys[6]
	local qid = args[1]
	local nenv = is_count(args[2], ENV_MAX)
	if qid == nil or m == nil or r == nil or b == nil or incoming == nil
	    or seen == nil or nenv == nil or nenv < 1 then
		return bad('bad enqueue arguments')
	end
	local ri = 3 + 2 * nenv
	local nrcpt = is_count(args[ri], RCPT_MAX)
	if nrcpt == nil or nrcpt < 1 or #args ~= ri + 3 * nrcpt + 2 then
		return bad('bad recipient count')
	end
	local nchunks = is_count(args[#args - 1], 1e9)
	if nchunks == nil or (nchunks > 0) ~= (stage ~= nil) then
		return bad('bad body arguments')
	end
	local keep = is_count(args[#args], 1e12)
	if keep == nil then
		return bad('bad keep time')
	end
	if redis.call('EXISTS', m) == 1 then
		return redis.error_reply('EXISTS ' .. qid .. ' is already queued')
	end
	if redis.call('EXISTS', seen) == 1 then
		return redis.error_reply('SEEN ' .. qid .. ' was queued before')
	end
	local t = redis.call('TYPE', incoming)['ok']
	if t ~= 'stream' and t ~= 'none' then
		return bad('incoming is a ' .. t)
	end
	if stage ~= nil then
		if redis.call('TYPE', stage)['ok'] ~= 'list'
		    or redis.call('LLEN', stage) ~= nchunks then
			return redis.error_reply('BODY ' .. qid .. ' body incomplete')
		end
	end
	-- Checks done; now write. A leftover r without m is junk.
	redis.call('DEL', r)
	if stage ~= nil then
		redis.call('RENAME', stage, b)
		redis.call('PERSIST', b)
	else
		redis.call('DEL', b)
	end
	redis.call('HSET', m, unpack(args, 3, 2 + 2 * nenv))
	local f = {}
	local j = ri + 1
	for i = 0, nrcpt - 1 do
		local p = tostring(i) .. ':'
		f[#f + 1] = p .. 'a'; f[#f + 1] = args[j]
		f[#f + 1] = p .. 'o'; f[#f + 1] = args[j + 1]
		f[#f + 1] = p .. 'n'; f[#f + 1] = args[j + 2]
		f[#f + 1] = p .. 's'; f[#f + 1] = 'todo'
		f[#f + 1] = p .. 'd'; f[#f + 1] = ''
		f[#f + 1] = p .. 't'; f[#f + 1] = ''
		j = j + 3
		if #f >= HSET_BATCH then
			redis.call('HSET', r, unpack(f))
			f = {}
		end
	end
	f[#f + 1] = 'n'; f[#f + 1] = tostring(nrcpt)
	redis.call('HSET', r, unpack(f))
	if keep > 0 then
		redis.call('SET', seen, '1', 'PX', keep)
	end
	return redis.call('XADD', incoming, '*', 'qid', qid)
end

-- KEYS: stage; ARGV: ttl_ms chunk. Appends one chunk of a body being
-- staged and sets its expiry in the same step, so that a staged body
-- never outlives a crash without an expiry.
local function pm_body_append(keys, args)
	if keys[1] == nil or #args ~= 2 or tonumber(args[1]) == nil then
		return bad('bad body_append arguments')
	end
	local n = redis.call('RPUSH', keys[1], args[2])
	redis.call('PEXPIRE', keys[1], args[1])
	return n
end

-- KEYS: m r b [deferred [hold]]; ARGV: qid. Returns the body store
-- of the message ("redis" or "fs"), or nil if it was not queued.
local function pm_delete(keys, args)
	if keys[1] == nil or keys[2] == nil or keys[3] == nil
	    or args[1] == nil then
		return bad('bad delete arguments')
	end
	local body = redis.call('HGET', keys[1], 'body')
	redis.call('DEL', keys[1], keys[2], keys[3])
	if keys[4] ~= nil and redis.call('TYPE', keys[4])['ok'] == 'zset' then
		redis.call('ZREM', keys[4], args[1])
	end
	if keys[5] ~= nil and redis.call('TYPE', keys[5])['ok'] == 'set' then
		redis.call('SREM', keys[5], args[1])
	end
	return body
end

-- Delivery side (pm_qstore_deliv.c). A stream/zset/set key must have
-- its type or be absent; a message hash that is gone is not an error.
local function typed(key, want)
	local t = redis.call('TYPE', key)['ok']
	return t == want or t == 'none', t
end

local function check_types(pairs_)
	for i = 1, #pairs_, 2 do
		local ok, t = typed(pairs_[i], pairs_[i + 1])
		if not ok then
			return bad(pairs_[i] .. ' is a ' .. t)
		end
	end
	return nil
end

-- XACK (a missing group is not an error) and XDEL one entry.
local function ack_del(incoming, group, id)
	if redis.call('EXISTS', incoming) == 1 then
		redis.pcall('XACK', incoming, group, id)
		redis.call('XDEL', incoming, id)
	end
end

local function is_entry_id(s)
	return s ~= nil and string.match(s, '^%d+%-%d+$') ~= nil
end

-- Fencing: nil if owner still holds the lease of entry id (pending for
-- nobody else; m, if it exists, records owner and epoch), else the
-- "-LOST" error reply. An entry pending for nobody (acknowledged, or
-- the group was recreated) is judged by m alone: whoever claimed it
-- since bumped the epoch.
local function fence(m, incoming, group, id, owner, epoch)
	if not is_entry_id(id) or owner == nil or owner == ''
	    or is_count(epoch, 2 ^ 52) == nil then
		return bad('bad fence arguments')
	end
	if redis.call('TYPE', incoming)['ok'] == 'stream' then
		local p = redis.pcall('XPENDING', incoming, group, id, id, 1)
		if type(p) == 'table' and p[1] ~= nil and p[1][2] ~= owner then
			return redis.error_reply('LOST entry ' .. id ..
			    ' is held by ' .. tostring(p[1][2]))
		end
	end
	if redis.call('TYPE', m)['ok'] == 'hash' then
		local l = redis.call('HMGET', m, 'lease_owner', 'lease_epoch')
		if l[2] and (l[1] ~= owner or l[2] ~= epoch) then
			return redis.error_reply('LOST lease is ' .. tostring(l[1])
			    .. ' epoch ' .. tostring(l[2]))
		end
	end
	return nil
end

-- KEYS: r; ARGV: index status dsn text. Compare-and-set of "i:s":
-- only when it is todo or deferred. Returns 1 if written, else
-- what is stored: {status, dsn, text} (the caller reports that).
-- status "notified" asks for sent with no success notice from qmgr:
-- stored as "i:s" = sent and "i:q" = 1 (so a version that does not
-- know "i:q" sees sent); the reply names such a recipient (and one a
-- 2026-12-02 version stored as "i:s" = notified) "notified".
-- An optional last ARGV (5th, or 9th when fenced) is the success
-- notice's DSN action of a sent recipient ("relayed": pipe without
-- flag X), stored as "i:x" in the same HSET; ignored for other
-- statuses. Older libraries refuse the extra argument (the caller
-- then calls again without it).
local function pm_rcpt_status(keys, args)
	local r = keys[1]
	local i = is_count(args[1], RCPT_MAX - 1)
	local st = args[2]
	local fenced = #args == 8 or #args == 9
	local action = ''
	if #args == 5 or #args == 9 then
		action = args[#args]
	end
	if r == nil or i == nil or (#args < 4 or #args > 9
	    or #args == 6 or #args == 7)
	    or (fenced and #keys ~= 3) or (st ~= 'sent'
	    and st ~= 'notified' and st ~= 'bounced'
	    and st ~= 'deferred') or #action > 16
	    or not string.match(action, '^[a-z]*$') then
		return bad('bad rcpt_status arguments')
	end
	if st ~= 'sent' and st ~= 'notified' then
		action = ''
	end
	if fenced then
		local e = fence(keys[2], keys[3], args[5], args[6], args[7],
		    args[8])
		if e then
			return e
		end
	end
	local ok, t = typed(r, 'hash')
	if not ok then
		return bad('recipients key is a ' .. t)
	end
	if t == 'none' then
		return redis.error_reply('NOENT message is not queued')
	end
	local p = tostring(i) .. ':'
	local n = tonumber(redis.call('HGET', r, 'n'))
	if n == nil or i >= n or redis.call('HEXISTS', r, p .. 'a') == 0 then
		return redis.error_reply('NORCPT no recipient ' .. tostring(i))
	end
	local cur = redis.call('HMGET', r, p .. 's', p .. 'q', p .. 'd',
	    p .. 't')
	if cur[1] and cur[1] ~= 'todo' and cur[1] ~= 'deferred' then
		if cur[1] == 'sent' and cur[2] == '1' then
			cur[1] = 'notified'
		end
		return {cur[1], cur[3] or '', cur[4] or ''}
	end
	if st == 'notified' then
		redis.call('HSET', r, p .. 's', 'sent', p .. 'q', '1',
		    p .. 'd', args[3], p .. 't', args[4])
	elseif action ~= '' then
		redis.call('HSET', r, p .. 's', st, p .. 'x', action,
		    p .. 'd', args[3], p .. 't', args[4])
	else
		redis.call('HSET', r, p .. 's', st, p .. 'd', args[3],
		    p .. 't', args[4])
	end
	return 1
end

-- KEYS: m r b incoming deferred hold; ARGV: qid entry_id group.
-- Returns m's "body" field, or nil if m did not exist.
local function pm_finish(keys, args)
	if #keys ~= 6 or (#args ~= 3 and #args ~= 5)
	    or not is_entry_id(args[2]) then
		return bad('bad finish arguments')
	end
	local e = check_types({keys[4], 'stream', keys[5], 'zset',
	    keys[6], 'set'})
	if e then
		return e
	end
	if #args == 5 then
		e = fence(keys[1], keys[4], args[3], args[2], args[4], args[5])
		if e then
			return e
		end
	end
	local body = false
	if redis.call('TYPE', keys[1])['ok'] == 'hash' then
		body = redis.call('HGET', keys[1], 'body')
		if not body then
			body = 'redis'
		end
	end
	redis.call('DEL', keys[1], keys[2], keys[3])
	ack_del(keys[4], args[3], args[2])
	redis.call('ZREM', keys[5], args[1])
	redis.call('SREM', keys[6], args[1])
	return body
end

-- KEYS: m incoming deferred; ARGV: qid entry_id group score_ms
-- attempts next_attempt_us. Returns 1, or 0 if m is gone (the entry
-- is removed all the same, nothing is added to deferred).
local function pm_defer(keys, args)
	if #keys ~= 3 or (#args ~= 6 and #args ~= 8)
	    or not is_entry_id(args[2])
	    or tonumber(args[4]) == nil or tonumber(args[5]) == nil
	    or tonumber(args[6]) == nil then
		return bad('bad defer arguments')
	end
	local e = check_types({keys[1], 'hash', keys[2], 'stream',
	    keys[3], 'zset'})
	if e then
		return e
	end
	if #args == 8 then
		e = fence(keys[1], keys[2], args[3], args[2], args[7], args[8])
		if e then
			return e
		end
	end
	ack_del(keys[2], args[3], args[2])
	if redis.call('EXISTS', keys[1]) == 0 then
		return 0
	end
	redis.call('ZADD', keys[3], args[4], args[1])
	redis.call('HSET', keys[1], 'attempts', args[5], 'next_attempt',
	    args[6])
	return 1
end

-- KEYS: m incoming hold; ARGV: qid entry_id group. Returns 1, or 0 if
-- m is gone (the entry is removed all the same).
local function pm_hold(keys, args)
	if #keys ~= 3 or (#args ~= 3 and #args ~= 5)
	    or not is_entry_id(args[2]) then
		return bad('bad hold arguments')
	end
	local e = check_types({keys[1], 'hash', keys[2], 'stream',
	    keys[3], 'set'})
	if e then
		return e
	end
	if #args == 5 then
		e = fence(keys[1], keys[2], args[3], args[2], args[4], args[5])
		if e then
			return e
		end
	end
	ack_del(keys[2], args[3], args[2])
	if redis.call('EXISTS', keys[1]) == 0 then
		return 0
	end
	redis.call('SADD', keys[3], args[1])
	return 1
end

-- KEYS: deferred incoming; ARGV: now_ms max m_prefix. Moves ids with
-- score <= now_ms back to incoming; ids whose m is gone are dropped.
-- The m keys are not declared: they carry the same hash tag (slot).
local function pm_requeue_due(keys, args)
	local max = is_count(args[2], 10000)
	if #keys ~= 2 or #args ~= 3 or tonumber(args[1]) == nil
	    or max == nil then
		return bad('bad requeue_due arguments')
	end
	local e = check_types({keys[1], 'zset', keys[2], 'stream'})
	if e then
		return e
	end
	if max == 0 then
		return 0
	end
	local ids = redis.call('ZRANGEBYSCORE', keys[1], '-inf', args[1],
	    'LIMIT', 0, max)
	local moved = 0
	for _, qid in ipairs(ids) do
		redis.call('ZREM', keys[1], qid)
		if redis.call('EXISTS', args[3] .. qid) == 1 then
			redis.call('XADD', keys[2], '*', 'qid', qid)
			moved = moved + 1
		end
	end
	return moved
end

-- KEYS: incoming; ARGV: group consumer id... Resets the idle time of
-- the entries this consumer still owns (XCLAIM ... JUSTID); an entry
-- taken over by another consumer is left alone. Returns the ids that
-- were not refreshed.
local function pm_touch(keys, args)
	if #keys ~= 1 or #args < 3 then
		return bad('bad touch arguments')
	end
	for i = 3, #args do
		if not is_entry_id(args[i]) then
			return bad('bad touch arguments')
		end
	end
	local e = check_types({keys[1], 'stream'})
	if e then
		return e
	end
	local lost = {}
	for i = 3, #args do
		local p = redis.pcall('XPENDING', keys[1], args[1], args[i],
		    args[i], 1)
		if type(p) == 'table' and p[1] ~= nil and p[1][2] == args[2] then
			redis.call('XCLAIM', keys[1], args[1], args[2], 0, args[i],
			    'JUSTID')
		else
			lost[#lost + 1] = args[i]
		end
	end
	return lost
end

-- KEYS: incoming m; ARGV: group id consumer. A new lease epoch for the
-- message of an entry the consumer just claimed: 1, 2, ... (0: m is
-- gone, -1: the entry is not pending for the consumer).
local function pm_lease(keys, args)
	if #keys ~= 2 or #args ~= 3 or not is_entry_id(args[2])
	    or args[3] == '' then
		return bad('bad lease arguments')
	end
	local e = check_types({keys[1], 'stream'})
	if e then
		return e
	end
	local p = redis.pcall('XPENDING', keys[1], args[1], args[2],
	    args[2], 1)
	if type(p) ~= 'table' or p[1] == nil or p[1][2] ~= args[3] then
		return -1
	end
	-- gone, or not a hash (corrupt: the reader holds it): no lease
	if redis.call('TYPE', keys[2])['ok'] ~= 'hash' then
		return 0
	end
	redis.call('HSET', keys[2], 'lease_owner', args[3])
	return redis.call('HINCRBY', keys[2], 'lease_epoch', 1)
end

-- KEYS: incoming; ARGV: group consumer {id m epoch}*. As pm_touch, and
-- an entry whose m records another lease (owner or epoch) is lost too:
-- the same consumer name claimed it again (a restarted instance).
local function pm_lease_touch(keys, args)
	if #keys ~= 1 or #args < 5 or (#args - 2) % 3 ~= 0
	    or args[2] == '' then
		return bad('bad lease_touch arguments')
	end
	for i = 3, #args, 3 do
		if not is_entry_id(args[i]) or is_count(args[i + 2], 2 ^ 52)
		    == nil then
			return bad('bad lease_touch arguments')
		end
	end
	local e = check_types({keys[1], 'stream'})
	if e then
		return e
	end
	local lost = {}
	for i = 3, #args, 3 do
		local p = redis.pcall('XPENDING', keys[1], args[1], args[i],
		    args[i], 1)
		local mine = type(p) == 'table' and p[1] ~= nil
		    and p[1][2] == args[2]
		if mine and args[i + 2] ~= '0'
		    and redis.call('TYPE', args[i + 1])['ok'] == 'hash' then
			local l = redis.call('HMGET', args[i + 1], 'lease_owner',
			    'lease_epoch')
			mine = not l[2] or (l[1] == args[2] and l[2] == args[i + 2])
		end
		if mine then
			redis.call('XCLAIM', keys[1], args[1], args[2], 0, args[i],
			    'JUSTID')
		else
			lost[#lost + 1] = args[i]
		end
	end
	return lost
end

-- KEYS: incoming; ARGV: group self min_idle_ms. Deletes the consumers
-- (not self) with no pending entry, idle at least min_idle_ms; returns
-- their names. A missing stream or group has none.
local function pm_reap(keys, args)
	if #keys ~= 1 or #args ~= 3 or args[2] == '' then
		return bad('bad reap arguments')
	end
	local min_idle = is_count(args[3], 2 ^ 52)
	if min_idle == nil then
		return bad('bad reap arguments')
	end
	local e = check_types({keys[1], 'stream'})
	if e then
		return e
	end
	local cs = redis.pcall('XINFO', 'CONSUMERS', keys[1], args[1])
	if type(cs) ~= 'table' or cs.err then
		return {}
	end
	local gone = {}
	for _, c in ipairs(cs) do
		local f = {}
		for i = 1, #c - 1, 2 do
			f[c[i]] = c[i + 1]
		end
		if type(f.name) == 'string' and f.name ~= args[2] and
		    f.pending == 0 and type(f.idle) == 'number' and
		    f.idle >= min_idle then
			redis.call('XGROUP', 'DELCONSUMER', keys[1], args[1], f.name)
			gone[#gone + 1] = f.name
		end
	end
	return gone
end

redis.register_function('pm_enqueue', pm_enqueue)
redis.register_function('pm_body_append', pm_body_append)
-- Deleting frees memory: it must work when Redis is full.
redis.register_function{function_name = 'pm_delete',
    callback = pm_delete, flags = {'allow-oom'}}
-- Delivery side: recording outcomes and freeing must work when full.
redis.register_function{function_name = 'pm_rcpt_status',
    callback = pm_rcpt_status, flags = {'allow-oom'}}
redis.register_function{function_name = 'pm_finish',
    callback = pm_finish, flags = {'allow-oom'}}
redis.register_function{function_name = 'pm_defer',
    callback = pm_defer, flags = {'allow-oom'}}
redis.register_function{function_name = 'pm_hold',
    callback = pm_hold, flags = {'allow-oom'}}
redis.register_function{function_name = 'pm_touch',
    callback = pm_touch, flags = {'allow-oom'}}
redis.register_function{function_name = 'pm_lease',
    callback = pm_lease, flags = {'allow-oom'}}
redis.register_function{function_name = 'pm_lease_touch',
    callback = pm_lease_touch, flags = {'allow-oom'}}
redis.register_function('pm_requeue_due', pm_requeue_due)
-- Deleting a consumer frees memory.
redis.register_function{function_name = 'pm_reap',
    callback = pm_reap, flags = {'allow-oom'}}
