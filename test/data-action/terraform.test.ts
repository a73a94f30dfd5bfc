import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import t, { type Test } from 'tap'
import { actionParts, importJson, type DataActionOptions } from '../../src/data-action/build.ts'
import { dataActionTerraform, hclString } from '../../src/data-action/terraform.ts'
import { cli } from './cli-process.ts'
import { block, literal, parseHcl, sameAsJson } from './hcl.ts'
import { marked } from '../helpers/readme.ts'

/** The action as Terraform gives it to the provider, beside the import JSON of the same options. */
async function both (options: DataActionOptions) {
  const text = dataActionTerraform(options)
  const doc = await parseHcl(text)
  return { text, doc, json: importJson(actionParts(options)), action: block(doc, 'resource', 'genesyscloud_integration_action', 'set_participant_data') }
}

async function sameTemplates (t: Test, options: DataActionOptions) {
  await sameAsJson(t, dataActionTerraform(options), importJson(actionParts(options)))
}

t.test('the three resources, with the arguments the provider requires', async (t) => {
  for (const credentialType of ['basicAuth', 'userDefined'] as const) {
    const { doc } = await both({ baseUrl: 'https://gw.example.com', attributes: ['customer_tier'], credentialType })
    t.same(doc.terraform[0].required_providers[0].genesyscloud.source, 'mypurecloud/genesyscloud', 'terraform init finds the provider')

    const integration = block(doc, 'resource', 'genesyscloud_integration', 'participant_data_gateway')
    t.equal(integration.integration_type, 'custom-rest-actions', 'a Web Services Data Actions integration')
    t.equal(integration.intended_state, 'ENABLED')
    t.same(integration.config[0].credentials, { basicAuth: '${genesyscloud_integration_credential.participant_data_gateway.id}' })

    const credential = block(doc, 'resource', 'genesyscloud_integration_credential', 'participant_data_gateway')
    t.equal(credential.credential_type_name, credentialType)
    const fields = credentialType === 'basicAuth' ? { userName: '${var.gateway_user_name}', password: '${var.gateway_api_key}' } : { apiKey: '${var.gateway_api_key}' }
    t.same(credential.fields, fields, `${credentialType}: every field is a variable`)
    const key = block(doc, 'variable', 'gateway_api_key')
    t.equal(key.sensitive, true, 'the API key is a sensitive variable')
    t.notOk('default' in key, 'and has no value in the file')

    const action = block(doc, 'resource', 'genesyscloud_integration_action', 'set_participant_data')
    for (const name of ['name', 'category', 'integration_id', 'contract_input', 'contract_output']) t.ok(action[name], `action.${name}`)
    t.equal(action.integration_id, '${genesyscloud_integration.participant_data_gateway.id}', 'the action belongs to the integration above')
    t.match(action.contract_input, /^\$\{jsonencode\(/, 'contracts through jsonencode, as the provider expects JSON strings')
    const resources = Object.entries(doc.resource).flatMap(([type, byName]) => Object.keys(byName as object).map((name) => `${type}.${name}`))
    t.equal(resources.length, 3, resources.join(', '))
  }
})

t.test('the templates are the JSON export’s once Terraform unescapes them', async (t) => {
  const cases: [string, DataActionOptions][] = [
    ['plain', { baseUrl: 'https://gw.example.com', attributes: ['customer_tier', 'crm_id'] }],
    ['conversation only, User Defined', { baseUrl: 'https://gw.example.com', attributes: ['tier'], conversationOnly: true, credentialType: 'userDefined', timeoutSeconds: 30 }],
    // A base path with what HCL would read as interpolations, directives, escapes or their escapes.
    ['a base URL HCL would mind', { baseUrl: 'https://gw.example.com:8443/p%{if}x%%{y}/$${lit}/${var.x}/$$$${z}/%25/$x/"q"\\b/~\'', attributes: ['tier'] }],
    ['a base URL with characters and a decomposed é', { baseUrl: 'https://gw.example.com/café/cafe\u0301/日本', attributes: ['tier'] }],
    // HCL keywords, Velocity directive names and the Velocity context's own names.
    ['attribute names HCL or Velocity would mind', { baseUrl: 'https://gw.example.com', attributes: ['for', 'null', 'true', 'in', 'if', 'endfor', 'set', 'foreach', 'esc', 'input', 'credentials', 'E_1'] }],
  ]
  for (const [what, options] of cases) await t.test(what, (t) => sameTemplates(t, options))
})

t.test('hclString: any string is read back as itself', async (t) => {
  const awkward = fc.constantFrom('$', '%', '{', '}', '$$', '%%', '${', '%{', '\\', '"', '\n', '\r', '\t', '\u0000', '\u007f', '\u2028', 'é', '日', '🎉', 'a', '~', '#', '//', '/*')
  const text = fc.oneof(fc.array(awkward, { maxLength: 16 }).map((a) => a.join('')), fc.string({ unit: 'grapheme' }))
  await fc.assert(
    fc.asyncProperty(text, async (s) => {
      const { value } = await parseHcl(`value = ${hclString(s)}\n`)
      // HCL reads strings as NFC; the base URL is normalized beforehand for that reason.
      t.equal(literal(value), s.normalize('NFC'))
    }),
    { numRuns: 300 }
  )
})

t.test('the output says which changes replace the action and break flows', async (t) => {
  const { text } = await both({ baseUrl: 'https://gw.example.com', attributes: ['tier'] })
  const comments = text.split('\n').filter((line) => line.startsWith('#')).join('\n')
  for (const argument of ['contract_input', 'contract_output', 'secure', 'integration_id']) t.match(comments, argument)
  t.match(comments, /new id/)
  t.match(comments, /flow/)
  t.match(comments, /TF_VAR_gateway_api_key/, 'and how to give the API key')
})

t.test('the CLI: --format terraform prints HCL, --out writes a .tf file, json stays the default', async (t) => {
  const base = ['--base-url', 'https://gw.example.com/$${x}', '--attributes', 'customer_tier,for', '--conversation-only']
  const options = { baseUrl: 'https://gw.example.com/$${x}', attributes: ['customer_tier', 'for'], conversationOnly: true }
  const dir = await mkdtemp(join(tmpdir(), 'data-action-tf-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const file = join(dir, 'data-action.tf')
  const [printed, written, json, bad] = await Promise.all([
    cli(...base, '--format', 'terraform'),
    cli(...base, '--format', 'terraform', '--credential-type', 'userDefined', '--out', file),
    cli(...base),
    cli(...base, '--format', 'yaml'),
  ])
  t.equal(printed.code, 0)
  t.equal(printed.stdout, dataActionTerraform(options))
  await sameAsJson(t, printed.stdout, importJson(actionParts(options)))

  t.equal(written.code, 0)
  t.equal(written.stdout, '')
  t.match(written.stderr, `wrote ${file}: set TF_VAR_gateway_api_key`)
  const text = await readFile(file, 'utf8')
  t.equal(text, dataActionTerraform({ ...options, credentialType: 'userDefined' }))
  t.equal(block(await parseHcl(text), 'resource', 'genesyscloud_integration_credential', 'participant_data_gateway').credential_type_name, 'userDefined')

  t.same(JSON.parse(json.stdout), importJson(actionParts(options)), 'without --format, the import JSON as before')
  t.equal(bad.code, 2)
  t.match(bad.stderr, /^--format: must be json or terraform \(got "yaml"\)$/m)
})

t.test("the README's Terraform command writes what it says", async (t) => {
  const page = await marked('data-action-terraform-command')
  const command = page.match(/```sh\nnpm run -s data-action -- (.*)\n/)?.[1]
  t.ok(command?.endsWith(' --out data-action.tf'), 'the README writes data-action.tf')
  const dir = await mkdtemp(join(tmpdir(), 'data-action-readme-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  // Its options, from the sources (npm run would build first), the file landing outside the checkout.
  const out = await cli(...command!.replace(/data-action\.tf$/, join(dir, 'data-action.tf')).split(' '))
  t.equal(out.code, 0, out.stderr)
  const text = await readFile(join(dir, 'data-action.tf'), 'utf8')
  t.equal(text, dataActionTerraform({ baseUrl: 'https://gateway.example.com', attributes: ['customer_tier', 'crm_id'], conversationOnly: true }))
  t.match(page, 'TF_VAR_gateway_api_key', 'and names the variable the file asks for')
})
