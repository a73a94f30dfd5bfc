import type { FastifyRequest } from 'fastify'
import t from 'tap'
import { COOKIE, Sessions } from '../../src/console/session.ts'
import { FakeClock } from '../helpers/clock.ts'
import type { ApiKey } from '../../src/domain.ts'

const crm: ApiKey = { name: 'crm', key: 'crm-key-0123456789', priority: 'bulk' }
const LIFETIME_MS = 8 * 60 * 60 * 1000

/** A request carrying the cookie a Set-Cookie value sets. */
const sending = (setCookie: string) => ({ headers: { cookie: `other=1; ${setCookie.split(';')[0]}` } }) as FastifyRequest

t.test('a session lasts eight hours on the clock it is given, then signs its holder out', async (t) => {
  const clock = new FakeClock()
  const sessions = new Sessions([crm], clock)
  const cookie = sessions.cookie(crm, true)
  t.match(cookie, `${COOKIE}=`)
  await clock.advance(LIFETIME_MS - 1)
  t.equal(sessions.keyOf(sending(cookie)), crm, 'valid to its last millisecond')
  await clock.advance(1)
  t.equal(sessions.keyOf(sending(cookie)), undefined, 'expired')
})

t.test('a session whose expiry was altered is refused', async (t) => {
  const clock = new FakeClock()
  const sessions = new Sessions([crm], clock)
  const cookie = sessions.cookie(crm, false)
  const [name, expires, mac] = cookie.split(';')[0]!.slice(COOKIE.length + 1).split('.')
  const forged = `${COOKIE}=${name}.${Number(expires) + LIFETIME_MS}.${mac}`
  t.equal(sessions.keyOf(sending(forged)), undefined)
})
