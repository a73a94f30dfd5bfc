import t from 'tap'
import { chooseParticipant } from '../../src/attributes/participant.ts'
import { ApiError } from '../../src/errors.ts'
import type { Conversation } from '../../src/domain.ts'

const conversation: Conversation = {
  id: 'c',
  participants: [
    { id: 'a1', purpose: 'agent', attributes: { x: '1' } },
    { id: 'a2', purpose: 'agent' },
    { id: 'cu', purpose: 'Customer', attributes: { k: 'v' } },
  ],
}

const refusal = (f: () => unknown) => {
  try {
    f()
  } catch (err) {
    if (err instanceof ApiError) return err
    throw err
  }
  throw new Error('expected a refusal')
}

t.test('by id: the participant and its attributes; an id not there yet only when writing', async (t) => {
  t.same(chooseParticipant(conversation, { participantId: 'a1' }, false), { id: 'a1', attributes: { x: '1' } })
  t.same(chooseParticipant(conversation, { participantId: 'new' }, true), { id: 'new', attributes: undefined }, 'Genesys answers 404 if it is really unknown')
  t.equal(refusal(() => chooseParticipant(conversation, { participantId: 'new' }, false)).code, 'PARTICIPANT_NOT_FOUND')
})

t.test('by purpose: the first purpose with exactly one match, case-insensitive', async (t) => {
  t.equal(chooseParticipant(conversation, { purposes: ['customer', 'external'] }, true).id, 'cu')
  const ambiguous = refusal(() => chooseParticipant(conversation, { purposes: ['agent', 'customer'] }, true))
  t.equal(ambiguous.code, 'PARTICIPANT_AMBIGUOUS')
  t.same(ambiguous.extra, { candidates: ['a1', 'a2'] })
  const none = refusal(() => chooseParticipant(conversation, { purposes: ['external'] }, true))
  t.equal(none.code, 'PARTICIPANT_NOT_FOUND')
  t.same(none.extra, { purposes: ['agent', 'Customer'] })
  t.match(refusal(() => chooseParticipant({ id: 'c', participants: [] }, { purposes: ['customer'] }, true)).detail, /purposes present: none/)
})
