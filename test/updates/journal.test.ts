import t from 'tap'
import { Redis } from 'ioredis'
import { Journal } from '../../src/updates/journal.ts'
import { MemoryJournalStore, type JournalStore } from '../../src/coordination/journal.ts'
import { RedisJournalStore } from '../../src/coordination/journal-redis.ts'
import { FakeClock } from '../helpers/clock.ts'
import { startRedis } from '../helpers/redis.ts'
import { id, type Teardown } from '../helpers/stack.ts'

// The read-your-writes journal's rule, the same over both stores: a read showing a value the
// gateway wrote over is late; one showing ours has caught up; a third value is someone else's.

async function stores (t: Teardown): Promise<Array<[string, () => JournalStore]>> {
  const redis = await startRedis(t)
  const client = new Redis(redis.url)
  t.teardown(() => client.quit())
  return [['memory', () => new MemoryJournalStore()], ['Redis', () => new RedisJournalStore(client, `test-${id()}:`)]]
}

t.test('the rule, over each store', async (t) => {
  for (const [name, store] of await stores(t)) {
    t.test(name, async (t) => {
      const clock = new FakeClock()
      const journal = new Journal(store(), 15_000, clock)
      const shown = async (read: Record<string, string>) => (await journal.correct('c', 'p', read)).attributes

      // tier: silver → gold → platinum, each written over the corrected read.
      let seen = await journal.correct('c', 'p', { tier: 'silver' })
      await journal.wrote('c', 'p', { tier: 'gold' }, seen.attributes, seen.entries)
      seen = await journal.correct('c', 'p', { tier: 'silver' })
      t.same(seen.attributes, { tier: 'gold' }, 'a late read shows ours')
      await journal.wrote('c', 'p', { tier: 'platinum', fresh: 'x' }, seen.attributes, seen.entries)
      t.same(await shown({ tier: 'silver' }), { tier: 'platinum', fresh: 'x' }, 'a read older than both of ours: ours, and a new key ours added')
      t.same(await shown({ tier: 'gold' }), { tier: 'platinum', fresh: 'x' }, 'a read showing our first write only: still ours')
      t.same(await shown({ tier: 'platinum', fresh: 'x' }), { tier: 'platinum', fresh: 'x' }, 'caught up')
      t.same(await shown({ tier: 'silver', fresh: 'x' }), { tier: 'silver', fresh: 'x' }, 'once caught up, forgotten: an old value written again is someone\'s')

      await journal.wrote('c', 'p', { status: 'ours' }, {})
      t.same(await shown({ status: 'the flow\'s' }), { status: 'the flow\'s' }, 'a third value is someone else\'s, and stands')
      t.same(await shown({}), {}, 'and the entry is forgotten')

      // Patch mode does not read: any value but ours is taken as late, for the window.
      await journal.wrote('c', 'p', { k: 'ours' }, undefined)
      t.same(await shown({ k: 'anything' }), { k: 'ours' })
      await clock.advance(15_000)
      t.same(await shown({ k: 'anything' }), { k: 'anything' }, 'after the window, reads are trusted again')

      await journal.wrote('c', 'p', { same: 'v' }, { same: 'v' })
      t.same(await shown({ same: 'old' }), { same: 'old' }, 'a write that changed nothing leaves nothing to hide')
      t.same(await new Journal(store(), 0, clock).correct('c', 'p', { tier: 'silver' }), { attributes: { tier: 'silver' }, entries: new Map() }, 'GENESYS_PROPAGATION_MS=0 trusts reads')
    })
  }
})
