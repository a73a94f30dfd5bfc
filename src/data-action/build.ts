import { dataActionOptions, type DataActionOptions } from './options.ts'

export type { DataActionOptions } from './options.ts'

const DRAFT4 = 'http://json-schema.org/draft-04/schema#'

const stringProperty = (description: string) => ({ type: 'string', description })

/**
 * A Genesys Cloud Web Services Data Action (integration type custom-rest-actions) that calls
 * this service. Attribute values travel as action inputs and are escaped with $esc.jsonString,
 * so quotes, backslashes, newlines and non-ASCII characters reach the service intact; each
 * attribute comes back as an output.
 *
 * `actionParts` decides what the action does, in no particular output format; each format
 * (the import JSON, `dataAction`, and the Terraform of terraform.ts) only lays those parts out,
 * so the templates are the same in every format.
 */
export function actionParts (input: DataActionOptions) {
  const { baseUrl, attributes, conversationOnly, timeoutSeconds, credentialType } = dataActionOptions.parse(input)
  const ids = conversationOnly ? ['conversationId'] : ['conversationId', 'participantId']
  const outputs = ['participantId', ...attributes]
  return {
    name: `Set participant data (${attributes.join(', ')})`.slice(0, 256),
    timeoutSeconds,
    credentialType,
    request: {
      urlTemplate: conversationOnly
        ? `${baseUrl}/conversations/$esc.url(\${input.conversationId})/data`
        : `${baseUrl}/participants/$esc.url(\${input.conversationId})/$esc.url(\${input.participantId})/data`,
      type: 'POST',
      headers: {
        'Content-Type': 'application/json',
        // Our answer arrives before the action's own timeout, so the flow takes Success or
        // Failure, never the uninformative Timeout path.
        'X-Request-Timeout-Ms': String(timeoutSeconds * 1000 - 1000),
        // Basic Auth credentials add their own Authorization header; a User Defined one sends
        // nothing unless the action names its field.
        ...(credentialType === 'userDefined' && { 'X-API-Key': '${credentials.apiKey}' }),
      },
      // Velocity: every value goes through $esc.jsonString, inside quotes, so the body is JSON
      // whatever the flow passes.
      template: `{"attributes": {${attributes.map((a) => `"${a}": "$esc.jsonString(\${input.${a}})"`).join(', ')}}}`,
    },
    response: {
      translationMap: Object.fromEntries(outputs.map((o) => [o, o === 'participantId' ? '$.participantId' : `$.attributes.${o}`])),
      translationMapDefaults: Object.fromEntries(attributes.map((a) => [a, '""'])),
      successTemplate: `{${outputs.map((o) => `"${o}": \${${o}}`).join(', ')}}`,
    },
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
    outputSchema: {
      $schema: DRAFT4,
      title: 'Participant data now set',
      type: 'object',
      properties: {
        participantId: stringProperty('The participant written to'),
        ...Object.fromEntries(attributes.map((a) => [a, stringProperty(`The attribute ${a} as it now stands`)])),
      },
    },
  }
}

export type ActionParts = ReturnType<typeof actionParts>

/** Genesys's import JSON: Admin > Integrations > Actions > Import. */
export function importJson (parts: ActionParts) {
  const { name, timeoutSeconds, request, response, inputSchema, outputSchema } = parts
  return {
    name,
    integrationType: 'custom-rest-actions',
    actionType: 'custom',
    config: {
      request: { requestUrlTemplate: request.urlTemplate, requestType: request.type, headers: request.headers, requestTemplate: request.template },
      response,
      timeoutSeconds,
    },
    contract: { input: { inputSchema }, output: { successSchema: outputSchema } },
  }
}

/** The Data Action as Genesys's import JSON. */
export const dataAction = (options: DataActionOptions) => importJson(actionParts(options))
