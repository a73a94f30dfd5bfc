// Asynchronous updates (Prefer: respond-async) in the console: the signed-in key's own, as
// GET /updates shows them, by their keys and state; the store keeps no values, so none show.
import { type AsyncDelivery, view } from '../delivery/index.ts'
import { h } from './pages.ts'

export type UpdateView = ReturnType<typeof view>

/** What the index page shows and polls. */
export interface UpdatesView {
  recent: UpdateView[]
  failed: UpdateView[]
}

export const SHOWN = 20

/** The caller's updates, or undefined where asynchronous delivery is off. */
export function asyncUpdates (service: AsyncDelivery | undefined) {
  const delivery = service?.enabled === true ? service : undefined
  if (delivery === undefined) return undefined
  return {
    async all (caller: string): Promise<UpdatesView> {
      const [recent, failed] = await Promise.all([delivery.recent(caller, SHOWN), delivery.failed(caller, 0, SHOWN)])
      return { recent: recent.map(view), failed: failed.items.map(view) }
    },
    async of (caller: string, conversationId: string): Promise<UpdateView[]> {
      return (await delivery.recent(caller, SHOWN, conversationId)).map(view)
    },
  }
}

/** A failed update's "send again" button: POST /updates/{id}/retry with the signed-in key. */
const sendAgain = (u: UpdateView) => `<td><form method="post" action="/console/updates/${h(encodeURIComponent(u.id))}/retry"><button type="submit">Send again</button></form></td>`

function row (u: UpdateView, withConversation: boolean, withRetry = false): string {
  const conversation = withConversation ? `<td><a href="/console/conversations/${h(u.conversationId)}"><code>${h(u.conversationId.slice(0, 8))}</code></a></td>` : ''
  const state = u.state === 'retrying' ? `retrying (${u.attempts} attempts)` : u.state
  return `<tr data-update="${h(u.id)}"><td>${h(u.acceptedAt.slice(11, 19))}</td>${conversation}<td>${u.participantId ? `<code>${h(u.participantId.slice(0, 8))}</code>` : '—'}</td>` +
    `<td>${h(u.keys.join(', '))}</td><td class="state state-${h(u.state)}">${h(state)}</td><td>${u.error ? `<code>${h(u.error.code)}</code> ${h(u.error.detail)}` : ''}</td>` +
    `${withRetry ? sendAgain(u) : ''}</tr>`
}

/** A table of updates; the script refills the tbody with the same cells (data-cols says which). */
export function updatesTable (id: string, caption: string, items: UpdateView[], withConversation: boolean, withRetry = false): string {
  const cols = ['Accepted (UTC)', ...(withConversation ? ['Conversation'] : []), 'Participant', 'Keys', 'State', 'Failed with', ...(withRetry ? ['Send again'] : [])]
  const rows = items.length === 0 ? `<tr><td colspan="${cols.length}" class="muted">None.</td></tr>` : items.map((u) => row(u, withConversation, withRetry)).join('\n')
  return `<table><caption class="muted">${h(caption)}</caption>
<thead><tr>${cols.map((c) => `<th scope="col">${c}</th>`).join('')}</tr></thead>
<tbody id="${h(id)}" data-cols="${withConversation ? 'conversation' : ''}"${withRetry ? ' data-retry="1"' : ''}>
${rows}
</tbody></table>`
}

/** Whose updates show: the signed-in key's, or, with authentication off, those sent without a key. */
const whose = (authOn: boolean) => (authOn ? 'Your key\'s updates' : 'Updates sent without an API key (authentication is off)')

/** The index page's section; written by this caller's key only. */
export function updatesSection (u: UpdatesView, authOn: boolean): string {
  return `<section aria-labelledby="async-h">
<h2 id="async-h">Asynchronous updates</h2>
<p class="muted">${whose(authOn)}, sent with <code>Prefer: respond-async</code>, as <code>GET /updates/{id}</code> gives them, kept current every 2 s.</p>
${updatesTable('async-recent', `The latest ${SHOWN}, newest first`, u.recent, true)}
${updatesTable('async-failed', 'Failed (kept 24 h), newest first; "Send again" sends one as a new update', u.failed, true, true)}
</section>`
}

/** The conversation page's section: this key's updates to that conversation. */
export function conversationUpdates (items: UpdateView[], authOn: boolean): string {
  return `<section aria-labelledby="async-h">
<h2 id="async-h">Asynchronous updates</h2>
${updatesTable('async-conversation', `${whose(authOn)} to this conversation, sent with Prefer: respond-async, newest first`, items, false)}
</section>`
}
