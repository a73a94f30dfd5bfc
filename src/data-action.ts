import { z } from 'zod'

/**
 * A Genesys Cloud Web Services Data Action (integration type custom-rest-actions) that calls
 * this service, ready to import in Admin > Integrations > Actions. Attribute values travel as
 * action inputs and are escaped with $esc.jsonString, so quotes, backslashes, newlines and
 * non-ASCII characters reach the service intact; each attribute comes back as an output.
 */
export interface DataActionOptions {
  /** Where flows reach this service, e.g. https://gateway.example.com */
  baseUrl: string
  /** Attribute names: each becomes an input and an output of the action. */
  attributes: string[]
  /** Only the conversation id as input; the service finds the customer participant. */
  conversationOnly?: boolean
  /** The action's timeout; we are asked to answer a second before it. */
  timeoutSeconds?: number
}

// Velocity references (${input.name}) and JSONPath ($.attributes.name) need plain identifiers.
const attributeName = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_]{0,63}$/, 'must start with a letter and hold only letters, digits and _ (at most 64), to be a Data Action input name')
  .refine((n) => n !== 'conversationId' && n !== 'participantId', 'is the name of an id input')

export const dataActionOptions = z.object({
  baseUrl: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).transform((u) => u.replace(/\/+$/, '')),
  attributes: z.array(attributeName).min(1, 'name at least one attribute').max(50, 'at most 50 attributes, as in Architect').refine((a) => new Set(a).size === a.length, 'names an attribute twice'),
  conversationOnly: z.boolean().default(false),
  timeoutSeconds: z.number().int().min(2).max(60).default(10),
})

const DRAFT4 = 'http://json-schema.org/draft-04/schema#'

const stringProperty = (description: string) => ({ type: 'string', description })

export function dataAction(input: DataActionOptions) {
  const { baseUrl, attributes, conversationOnly, timeoutSeconds } = dataActionOptions.parse(input)
  const ids = conversationOnly ? ['conversationId'] : ['conversationId', 'participantId']
  const url = conversationOnly
    ? `${baseUrl}/conversations/$esc.url(\${input.conversationId})/data`
    : `${baseUrl}/participants/$esc.url(\${input.conversationId})/$esc.url(\${input.participantId})/data`
  // Velocity: every value goes through $esc.jsonString, inside quotes, so the body is JSON
  // whatever the flow passes.
  const body = `{"attributes": {${attributes.map((a) => `"${a}": "$esc.jsonString(\${input.${a}})"`).join(', ')}}}`
  const outputs = ['participantId', ...attributes]

  return {
    name: `Set participant data (${attributes.join(', ')})`.slice(0, 256),
    integrationType: 'custom-rest-actions',
    actionType: 'custom',
    config: {
      request: {
        requestUrlTemplate: url,
        requestType: 'POST',
        headers: {
          'Content-Type': 'application/json',
          // Our answer arrives before the action's own timeout, so the flow takes Success or
          // Failure, never the uninformative Timeout path.
          'X-Request-Timeout-Ms': String(timeoutSeconds * 1000 - 1000),
        },
        requestTemplate: body,
      },
      response: {
        translationMap: Object.fromEntries(outputs.map((o) => [o, o === 'participantId' ? '$.participantId' : `$.attributes.${o}`])),
        translationMapDefaults: Object.fromEntries(attributes.map((a) => [a, '""'])),
        successTemplate: `{${outputs.map((o) => `"${o}": \${${o}}`).join(', ')}}`,
      },
      timeoutSeconds,
    },
    contract: {
      input: {
        inputSchema: {
          $schema: DRAFT4,
          title: 'Participant data to set',
          type: 'object',
          required: [...ids, ...attributes],
          additionalProperties: false,
          properties: {
            conversationId: stringProperty('Call.ConversationId'),
            ...(!conversationOnly && { participantId: stringProperty('The participant whose attributes to set') }),
            ...Object.fromEntries(attributes.map((a) => [a, stringProperty(`Value for the participant attribute ${a}`)])),
          },
        },
      },
      output: {
        successSchema: {
          $schema: DRAFT4,
          title: 'Participant data now set',
          type: 'object',
          properties: {
            participantId: stringProperty('The participant written to'),
            ...Object.fromEntries(attributes.map((a) => [a, stringProperty(`The attribute ${a} as it now stands`)])),
          },
        },
      },
    },
  }
}
