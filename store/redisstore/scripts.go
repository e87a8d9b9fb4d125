package redisstore

import "github.com/redis/go-redis/v9"

// Conditional writes are Lua scripts, which Redis runs atomically. Each
// touches only keys of one bucket (one hash tag, so one cluster slot): a
// record, its bucket's index and its bucket's counter.
//
// Versions are formatted with string.format('%d'), not tostring, which
// switches to exponent notation above 1e14; Lua numbers are doubles, exact
// up to 2^53, which a bucket's counter times the bucket count stays below
// for centuries of writes.

// Status codes returned by the scripts.
const (
	statusUpdated  = 0
	statusCreated  = 1
	statusExists   = -1
	statusNotFound = -2
	statusMismatch = -3
)

// Condition kinds as the scripts read them.
const (
	kindAlways    = "="
	kindIfAbsent  = "a"
	kindIfPresent = "p"
	kindIfVersion = "v"
)

// putScript writes a record if the condition holds and returns
// {status, version}.
//
//	KEYS[1] record, KEYS[2] index, KEYS[3] counter
//	ARGV[1] kind, ARGV[2] expected version (decimal), ARGV[3] bucket
//	count, ARGV[4] bucket, ARGV[5] key, ARGV[6] content type, ARGV[7] value
var putScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'v')
local kind = ARGV[1]
if kind == 'a' then
  if cur then return {-1, ''} end
elseif kind == 'p' then
  if not cur then return {-2, ''} end
elseif kind == 'v' then
  if not cur then return {-2, ''} end
  if cur ~= ARGV[2] then return {-3, ''} end
end
local n = redis.call('INCR', KEYS[3])
local v = string.format('%d', n * tonumber(ARGV[3]) + tonumber(ARGV[4]))
redis.call('HSET', KEYS[1], 'v', v, 't', ARGV[6], 'd', ARGV[7])
if cur then return {0, v} end
redis.call('ZADD', KEYS[2], 0, ARGV[5])
return {1, v}
`)

// deleteScript deletes a record if the condition holds and returns a
// status.
//
//	KEYS[1] record, KEYS[2] index
//	ARGV[1] kind (p or v), ARGV[2] expected version (decimal), ARGV[3] key
var deleteScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'v')
if not cur then return -2 end
if ARGV[1] == 'v' and cur ~= ARGV[2] then return -3 end
redis.call('UNLINK', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[3])
return 0
`)

// scripts are loaded on every master when a store opens.
var scripts = []*redis.Script{putScript, deleteScript}
