// The doctor's report as a console page: the same checks as `npm run -s doctor`, for an admin
// who would rather look than read JSON.
import { h, layout, type Chrome } from './pages.ts'
import { summary, type Report } from '../doctor/index.ts'

export interface ProbeFields {
  conversationId?: string | undefined
  participantId?: string | undefined
}

export function doctorPage (chrome: Chrome, report: Report, probe: ProbeFields = {}): string {
  const rows = report.checks.map((c) => {
    const [state, word] = c.skipped ? ['queued', 'skipped'] : c.ok ? ['written', 'ok'] : ['failed', 'failed']
    return `<tr><th scope="row">${h(c.name)}</th><td class="state state-${state}">${word}</td><td>${h(c.detail)}</td></tr>`
  })
  return layout(chrome, `<h1>Going-live checks</h1>
<p class="muted">What <code>npm run -s doctor</code> reports, with this service's configuration, against the org it names.</p>
<section aria-labelledby="checks-h">
<h2 id="checks-h">${h(summary(report))}</h2>
<table><thead><tr><th scope="col">Check</th><th scope="col">Result</th><th scope="col">Why</th></tr></thead>
<tbody id="doctor-checks">
${rows.join('\n')}
</tbody></table>
<p>PATCH semantics: <strong id="doctor-semantics">${h(report.semantics)}</strong></p>
</section>
<section aria-labelledby="probe-h">
<h2 id="probe-h">Merge or replace? Probe a test call</h2>
<p class="muted">On a call in progress that you own: two probe keys are written to the participant one at a time and read back, then the participant is put back as it was (the probe keys emptied where they cannot be removed).</p>
<form method="post" action="/console/doctor" class="write">
<label>Conversation id <input name="conversation" required size="38" pattern="[0-9a-fA-F-]{36}" value="${h(probe.conversationId ?? '')}"></label>
<label>Participant id <input name="participant" required size="38" pattern="[0-9a-fA-F-]{36}" value="${h(probe.participantId ?? '')}"></label>
<button type="submit">Run the checks and the probe</button>
</form>
</section>`)
}
