import { parse } from '@cdktf/hcl2json'
import type { Test } from 'tap'
import type { importJson } from '../../src/data-action/build.ts'

/**
 * Reads generated Terraform with HashiCorp's own HCL parser (hclsyntax, compiled to WASM in
 * @cdktf/hcl2json) and gives back what Terraform would hand the provider.
 *
 * hcl2json answers in Terraform's JSON syntax, where strings are still templates: a literal `${`
 * stays `$${`, and a real interpolation stays `${…}`. `literal` undoes the escapes and throws on
 * an interpolation, so a template that Terraform would try to evaluate fails the test.
 */
export function literal (s: string): string {
  return s.replace(/\$\$\{|%%\{|[$%]\{/g, (m) => {
    if (m.length === 2) throw new Error(`Terraform would interpolate ${m} in ${JSON.stringify(s)}`)
    return m.slice(1)
  })
}

function literalDeep (v: unknown): unknown {
  if (typeof v === 'string') return literal(v)
  if (Array.isArray(v)) return v.map(literalDeep)
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [literal(k), literalDeep(x)]))
  return v
}

/** A file's blocks and arguments; expressions that are not literals come back as "${source}". */
export async function parseHcl (text: string): Promise<any> {
  return parse('data-action.tf', text)
}

/** An argument's value as Terraform evaluates it: literals unescaped, `jsonencode({...})` decoded. */
export async function evaluate (value: unknown): Promise<unknown> {
  const encoded = typeof value === 'string' && /^\$\{jsonencode\(([\s\S]*)\)\}$/.exec(value)
  if (!encoded) return literalDeep(value)
  // The argument of jsonencode is HCL source: the same parser reads it as a value of its own.
  const { value: inner } = await parseHcl(`value = ${encoded[1]}`)
  return literalDeep(inner)
}

/** The single block `type "name"` of a given kind (resource or variable) under `kind`. */
export function block (doc: any, kind: 'resource' | 'variable', ...labels: string[]): any {
  let node = doc[kind]
  for (const label of labels) node = node?.[label]
  if (!Array.isArray(node) || node.length !== 1) throw new Error(`expected one ${kind} ${labels.join('.')}, found ${JSON.stringify(node)}`)
  return node[0]
}

/** Every template and contract of the Terraform action, compared with the import JSON's. */
export async function sameAsJson (t: Test, text: string, json: ReturnType<typeof importJson>) {
  const action = block(await parseHcl(text), 'resource', 'genesyscloud_integration_action', 'set_participant_data')
  const [request] = action.config_request
  const [response] = action.config_response
  t.equal(await evaluate(action.name), json.name, 'name')
  t.equal(action.config_timeout_seconds, json.config.timeoutSeconds, 'config_timeout_seconds')
  t.equal(await evaluate(request.request_type), json.config.request.requestType, 'request_type')
  t.equal(await evaluate(request.request_url_template), json.config.request.requestUrlTemplate, 'request_url_template')
  t.equal(await evaluate(request.request_template), json.config.request.requestTemplate, 'request_template')
  t.same(await evaluate(request.headers), json.config.request.headers, 'headers')
  t.same(await evaluate(response.translation_map), json.config.response.translationMap, 'translation_map')
  t.same(await evaluate(response.translation_map_defaults), json.config.response.translationMapDefaults, 'translation_map_defaults')
  t.equal(await evaluate(response.success_template), json.config.response.successTemplate, 'success_template')
  t.same(await evaluate(action.contract_input), json.contract.input.inputSchema, 'contract_input')
  t.same(await evaluate(action.contract_output), json.contract.output.successSchema, 'contract_output')
}
