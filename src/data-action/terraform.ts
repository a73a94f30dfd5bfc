import { actionParts, type ActionParts, type DataActionOptions } from './build.ts'

/**
 * The Data Action as HCL for CX as Code (the `genesyscloud` Terraform provider): the Web Services
 * integration, its credential, and a `genesyscloud_integration_action` laid out from the same
 * parts as the import JSON, so the templates Terraform sends are the JSON export's.
 */

/** What the download is called (route) and what the CLI's help suggests. */
export const TERRAFORM_FILE = 'data-action.tf'

const INTEGRATION = 'Participant data gateway'

/**
 * `s` as an HCL quoted string that Terraform reads back as exactly `s` (in NFC, as HCL reads
 * every string; options.ts normalizes the one input that could differ). Quoted strings are
 * templates: `${` and `%{` would start an interpolation or a directive (the Velocity
 * `${input.x}` most of all), so each is doubled, the escape HCL defines for a literal one.
 */
export function hclString (s: string): string {
  const named: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' }
  const escaped = s
    // eslint-disable-next-line no-control-regex -- control characters cannot stand raw in a quoted string
    .replace(/["\\\u0000-\u001f\u007f]/g, (ch) => named[ch] ?? `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`)
    .replace(/([$%])\{/g, '$1$1{')
  return `"${escaped}"`
}

/** A JSON value as an HCL expression, every key quoted (so `for`, `null` or `if` stay names). */
function hclValue (value: unknown, indent: string): string {
  if (typeof value === 'string') return hclString(value)
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value)
  if (Array.isArray(value)) return `[${value.map((v) => hclValue(v, indent)).join(', ')}]`
  const entries = Object.entries(value as Record<string, unknown>)
  if (entries.length === 0) return '{}'
  const inner = `${indent}  `
  return `{\n${args(entries.map(([k, v]) => [hclString(k), hclValue(v, inner)]), inner)}\n${indent}}`
}

/**
 * `name = value` lines, the `=` aligned within each run of one-line values as `terraform fmt`
 * does (a value spanning lines ends the run), so the file needs no reformatting.
 */
function args (pairs: [string, string][], indent: string): string {
  const runs: [string, string][][] = []
  for (const pair of pairs) {
    const last = runs.at(-1)
    if (last && !pair[1].includes('\n') && !last.at(-1)![1].includes('\n')) last.push(pair)
    else runs.push([pair])
  }
  return runs
    .flatMap((run) => {
      const width = run.length > 1 ? Math.max(...run.map(([k]) => k.length)) : 0
      return run.map(([k, v]) => `${indent}${k.padEnd(width)} = ${v}`)
    })
    .join('\n')
}

function credential (type: ActionParts['credentialType']): string {
  // Secret values come from variables, so they live in Terraform's state, never in this file.
  const fields = type === 'basicAuth' ? { userName: 'var.gateway_user_name', password: 'var.gateway_api_key' } : { apiKey: 'var.gateway_api_key' }
  const userName = `
variable "gateway_user_name" {
  description = "The Basic Auth user name; the gateway checks only the password"
  type        = string
  default     = "genesys"
}
`
  return `variable "gateway_api_key" {
  description = ${hclString(`One of the gateway's API_KEYS, ${type === 'basicAuth' ? 'sent by Genesys as the Basic Auth password' : 'sent by the action as X-API-Key'}`)}
  type        = string
  sensitive   = true
}
${type === 'basicAuth' ? userName : ''}
resource "genesyscloud_integration_credential" "participant_data_gateway" {
  name                 = ${hclString(`${INTEGRATION} API key`)}
  credential_type_name = "${type}"
  fields = {
${args(Object.entries(fields), '    ')}
  }
}

resource "genesyscloud_integration" "participant_data_gateway" {
  integration_type = "custom-rest-actions"
  intended_state   = "ENABLED"
  config {
    name = ${hclString(INTEGRATION)}
    credentials = {
      # The Web Services integration names its one credential basicAuth, whatever its type.
      basicAuth = genesyscloud_integration_credential.participant_data_gateway.id
    }
  }
}
`
}

const header = (parts: ActionParts) => `# ${parts.name}: a Genesys Cloud Data Action that calls the participant data
# gateway, for CX as Code (the genesyscloud Terraform provider). Set the API key, never in this
# file, then apply:
#   export TF_VAR_gateway_api_key='one of the gateway API_KEYS'
#   terraform init && terraform apply
#
# WARNING: changing contract_input, contract_output, secure or integration_id REPLACES the action:
# Terraform deletes it and creates a new one with a new id, and every Architect flow that calls
# it breaks until it is pointed at the new action and republished. Adding, removing or renaming
# an attribute changes both contracts. To change the attributes of an action in use, add a
# second action beside this one, move the flows to it, then remove this one.
`

/** The Data Action as a Terraform configuration of its own (drop the terraform block to merge it into one). */
export function terraformHcl (parts: ActionParts): string {
  const { name, timeoutSeconds, request, response, inputSchema, outputSchema, credentialType } = parts
  const action = `resource "genesyscloud_integration_action" "set_participant_data" {
${args(
  [
    ['name', hclString(name)],
    ['category', hclString(INTEGRATION)],
    ['integration_id', 'genesyscloud_integration.participant_data_gateway.id'],
    ['config_timeout_seconds', String(timeoutSeconds)],
  ],
  '  '
)}
  contract_input = jsonencode(${hclValue(inputSchema, '  ')})
  contract_output = jsonencode(${hclValue(outputSchema, '  ')})
  config_request {
${args(
  [
    ['request_type', hclString(request.type)],
    ['request_url_template', hclString(request.urlTemplate)],
    ['request_template', hclString(request.template)],
    ['headers', hclValue(request.headers, '    ')],
  ],
  '    '
)}
  }
  config_response {
${args(
  [
    ['translation_map', hclValue(response.translationMap, '    ')],
    ['translation_map_defaults', hclValue(response.translationMapDefaults, '    ')],
    ['success_template', hclString(response.successTemplate)],
  ],
  '    '
)}
  }
}
`
  const providers = `terraform {
  required_providers {
    genesyscloud = {
      source = "mypurecloud/genesyscloud"
    }
  }
}
`
  return [header(parts), providers, credential(credentialType), action].join('\n')
}

/** The Data Action as CX as Code. */
export const dataActionTerraform = (options: DataActionOptions) => terraformHcl(actionParts(options))
