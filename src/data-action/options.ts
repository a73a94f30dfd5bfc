import { z } from 'zod'

/**
 * Every rule for the Data Action's options, once. `dataActionOptions` is what code passes to
 * the builder; `dataActionText` is the same options as text, as a query string or a command
 * line gives them, and is what the route and the CLI both parse.
 */

// Genesys allows 1 to 60 s, but we ask for our answer a second before the action's timeout and
// the service takes at least 500 ms for X-Request-Timeout-Ms: a 1 s action would leave nothing.
export const TIMEOUT_SECONDS = { min: 2, max: 60, default: 10 } as const

/** How Genesys sends the API key: Basic Auth adds its own header; User Defined needs ours. */
export const CREDENTIAL_TYPES = ['basicAuth', 'userDefined'] as const
export type CredentialType = (typeof CREDENTIAL_TYPES)[number]

/** Genesys's import JSON, or CX as Code (Terraform). */
export const FORMATS = ['json', 'terraform'] as const

// Velocity references (${input.name}) and JSONPath ($.attributes.name) need plain identifiers.
const attributeName = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_]{0,63}$/, 'must start with a letter and hold only letters, digits and _ (at most 64), to be a Data Action input name')
  .refine((n) => n !== 'conversationId' && n !== 'participantId', 'must not be conversationId or participantId, the names of the id inputs')

const attributes = z
  .array(attributeName)
  .min(1, 'name at least one attribute')
  .max(50, 'at most 50 attributes, as in Architect')
  .refine((a) => new Set(a).size === a.length, 'names an attribute twice')

// NFC because HCL reads every string as NFC: the Terraform action's URL must be the JSON one's.
// A user name or password in it would put an API key in plain sight in the action (and in a .tf
// file); the integration's credential is where the key belongs.
const baseUrl = z
  .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
  .refine((u) => !URL.parse(u)?.username && !URL.parse(u)?.password, 'must not hold a user name or password: the key goes in the credential')
  .transform((u) => u.replace(/\/+$/, '').normalize('NFC'))

const timeoutSeconds = z.coerce
  .number({ error: `must be a whole number of seconds, ${TIMEOUT_SECONDS.min} to ${TIMEOUT_SECONDS.max}` })
  .int(`must be a whole number of seconds, ${TIMEOUT_SECONDS.min} to ${TIMEOUT_SECONDS.max}`)
  .min(TIMEOUT_SECONDS.min, `must be at least ${TIMEOUT_SECONDS.min} seconds`)
  .max(TIMEOUT_SECONDS.max, `must be at most ${TIMEOUT_SECONDS.max} seconds, the longest Genesys allows`)
  .default(TIMEOUT_SECONDS.default)

const credentialType = z.enum(CREDENTIAL_TYPES, { error: `must be ${CREDENTIAL_TYPES.join(' or ')}` }).default('basicAuth')

export const dataActionOptions = z.object({
  baseUrl,
  attributes,
  conversationOnly: z.boolean().default(false),
  timeoutSeconds,
  credentialType,
})

/** What the builder takes; `dataActionOptions` checks it and fills in the defaults. */
export interface DataActionOptions {
  /** Where flows reach this service, e.g. https://gateway.example.com */
  baseUrl: string
  /** Attribute names: each becomes an input and an output of the action. */
  attributes: string[]
  /** Only the conversation id as input; the service finds the customer participant. */
  conversationOnly?: boolean
  /** The action's timeout; we are asked to answer a second before it. */
  timeoutSeconds?: number
  /** The integration's credential; default basicAuth. */
  credentialType?: CredentialType
}

/** The options as text. `baseUrl` is optional here: the route defaults it, the CLI requires it. */
export const dataActionText = z.strictObject({
  attributes: z
    .string()
    .describe('Comma-separated attribute names, e.g. customer_tier,crm_id')
    .transform((a) => a.split(',').map((x) => x.trim()))
    .pipe(attributes),
  conversationOnly: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true')
    .describe('Input only the conversation id; the service finds the customer'),
  timeoutSeconds: timeoutSeconds.describe(`The action's timeout in seconds, ${TIMEOUT_SECONDS.min} to ${TIMEOUT_SECONDS.max}`),
  baseUrl: baseUrl.optional().describe('Where flows reach this service; default: PUBLIC_URL, else the address this request came to (then a data-action-warning header says so)'),
  credentialType: credentialType.describe('The credential of the Web Services integration: basicAuth (API key as password) or userDefined (a field named apiKey)'),
  format: z
    .enum(FORMATS, { error: `must be ${FORMATS.join(' or ')}` })
    .default('json')
    .describe('json: the import JSON; terraform: the action, its integration and credential as HCL for CX as Code (a .tf download)'),
})
