/**
 * Attributes: the rules for what a caller may send and what gets written. Its concepts:
 * 1. **The body** (body.ts): a write's shape (`attributes`, optionally `participantId`), its keys'
 *    and values' limits, and values coerced to the strings Genesys stores, exactly or refused.
 * 2. **The merge** (merge.ts): the full map to write, keeping every key the caller did not mention.
 * 3. **The participant** (participant.ts): which participant a write is for, by id or by purpose.
 */
export { genesysId, updateBody } from './body.ts'
export type { AttributeLimits, UpdateBody } from './body.ts'
export { merge } from './merge.ts'
export { chooseParticipant } from './participant.ts'
export type { ChosenParticipant } from './participant.ts'
