import t from 'tap'
import { send } from '../helpers/stack.ts'
import { until } from '../helpers/until.ts'
import { startSandboxStack } from './stack.ts'

// Issue 37: the console's failed-updates table has a "Send again" button per update.

t.test('a failed update shows a "Send again" button; pressing it sends it again once, as POST /updates/{id}/retry would', async (t) => {
  const { url } = await startSandboxStack(t)
  const made = await fetch(`${url}/console/conversations`, { method: 'POST', redirect: 'manual' })
  const conversationId = made.headers.get('location')!.split('/').pop()!
  // A purpose the conversation does not have: accepted, then failed for good.
  const wrong = await send(`${url}/conversations/${conversationId}/data`, 'POST', { purpose: 'supervisor', attributes: { crm_id: '42' } }, { prefer: 'respond-async' })
  t.equal(wrong.status, 202)
  await until(() => fetch(`${url}/console/updates`).then((r) => r.json() as Promise<{ failed: unknown[] }>), (u) => u.failed.length > 0, { what: 'the failed update listed' })
  const index = await (await fetch(`${url}/console`)).text()
  const action = `/console/updates/${wrong.body.id}/retry`
  t.match(index, '<tbody id="async-failed" data-cols="conversation" data-retry="1">')
  t.match(index, `<form method="post" action="${action}"><button type="submit">Send again</button></form>`)
  const recent = index.slice(index.indexOf('id="async-recent"'))
  t.notMatch(recent.slice(0, recent.indexOf('</tbody>')), 'Send again', 'only in the failed table')

  const pressed = await fetch(url + action, { method: 'POST', redirect: 'manual', headers: { origin: url } })
  t.equal(pressed.status, 303)
  t.equal(pressed.headers.get('location'), '/console#async-h')
  const listed = await fetch(`${url}/console/updates`).then((r) => r.json() as Promise<{ recent: Array<{ id: string; retryOf?: string }> }>)
  t.match(listed.recent[0], { retryOf: wrong.body.id }, 'a new update, naming the first')
  const again = await fetch(url + action, { method: 'POST', redirect: 'manual', headers: { origin: url } })
  t.equal(again.status, 409)
  t.match(await again.text(), /UPDATE_ALREADY_RETRIED/)
  const elsewhere = await fetch(url + action, { method: 'POST', redirect: 'manual', headers: { origin: 'https://evil.example' } })
  t.equal(elsewhere.status, 403, 'a form from another site is refused')
})
