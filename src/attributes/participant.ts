import { ApiError } from '../errors.ts'
import type { Conversation, Target, Attributes } from '../domain.ts'

export interface ChosenParticipant {
  id: string
  attributes?: Attributes | undefined
}

/**
 * The participant a target names in this conversation. An id that is not there yet is still
 * chosen when `writing` (Genesys answers 404 if it is really unknown), so no extra request is
 * spent in the common case; a purpose must match exactly one participant.
 */
export function chooseParticipant (conversation: Conversation, target: Target, writing: boolean): ChosenParticipant {
  const { participants } = conversation
  if ('participantId' in target) {
    const p = participants.find((x) => x.id === target.participantId)
    if (p === undefined && !writing) throw new ApiError('PARTICIPANT_NOT_FOUND', `participant ${target.participantId} is not in conversation ${conversation.id}`)
    return { id: target.participantId, attributes: p?.attributes }
  }
  for (const purpose of target.purposes) {
    const matches = participants.filter((p) => p.purpose.toLowerCase() === purpose)
    if (matches.length === 1) return matches[0]!
    if (matches.length > 1) {
      throw new ApiError('PARTICIPANT_AMBIGUOUS', `${matches.length} participants have purpose ${purpose}; name one with participantId`, {
        extra: { candidates: matches.map((m) => m.id) },
      })
    }
  }
  const present = [...new Set(participants.map((p) => p.purpose))]
  throw new ApiError('PARTICIPANT_NOT_FOUND', `no participant with purpose ${target.purposes.join(' or ')}; purposes present: ${present.join(', ') || 'none'}`, {
    extra: { purposes: present },
  })
}
