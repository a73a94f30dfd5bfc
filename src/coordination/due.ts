import { REDIS_NOW, script, type RedisClient } from './redis.ts'

// On Redis's clock: answers the lease's end, then the members taken, each due again when the
// lease ends (should this replica die, another takes it then). Sent again after a lost answer,
// it takes only what became due since: those of the first time wait for their lease (late,
// never twice). KEYS: the due list. ARGV: the lease (ms), the most to take.
const CLAIM = script('pdgClaimDue', `${REDIS_NOW}
local lease = now + tonumber(ARGV[1])
local taken = { lease }
for _, member in ipairs(redis.call('zrangebyscore', KEYS[1], '-inf', now, 'LIMIT', 0, ARGV[2])) do
  redis.call('zadd', KEYS[1], lease, member)
  taken[#taken + 1] = member
end
return taken`)

/**
 * A due list (a sorted set scored by when each member is due) claimed by lease: up to `limit`
 * members due now, each pushed `leaseMs` ahead. The asynchronous updates' conversations and the
 * outcome callbacks' events are both claimed so.
 */
export async function claimDue (redis: RedisClient, key: string, leaseMs: number, limit: number): Promise<{ lease: number; taken: string[] }> {
  const [lease, ...taken] = (await CLAIM(redis, [key], [leaseMs, limit])) as [number, ...string[]]
  return { lease: Number(lease), taken }
}
