// `npm run -s data-action -- --base-url https://… --attributes customer_tier,crm_id` prints a Data
// Action ready to import in Genesys Cloud (Admin > Integrations > Actions > Import). `-s` keeps
// npm's banner out of stdout, so `> action.json` is pure JSON; `--out FILE` needs no redirection.
// `--format terraform` prints the same action as HCL for CX as Code instead. With PUBLIC_URL set
// (as for the service), --base-url may be left out.
import { writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { dataAction } from './build.ts'
import { publicUrl } from './public-url.ts'
import { CREDENTIAL_TYPES, FORMATS, TIMEOUT_SECONDS, dataActionText } from './options.ts'
import { TERRAFORM_FILE, dataActionTerraform } from './terraform.ts'

const example = 'npm run -s data-action -- --base-url https://gateway.example.com --attributes customer_tier,crm_id --conversation-only > action.json'

const usage = 'usage: npm run -s data-action -- [--base-url URL] --attributes NAME,NAME [options]   (--help for every option; --base-url defaults to PUBLIC_URL)'

const help = `Prints a Genesys Cloud Data Action (Web Services Data Actions) that calls this gateway,
as JSON to import in Admin > Integrations > Actions > Import, or as Terraform for CX as Code.

usage: npm run -s data-action -- --base-url URL --attributes NAME,NAME [options]

  --base-url URL           where Genesys reaches this gateway, e.g. https://gateway.example.com;
                           required unless PUBLIC_URL is set, which is the default
  --attributes NAME,NAME   required: the attribute names the flow will send, comma-separated
                           (letters, digits and _, starting with a letter; at most 50)
  --conversation-only      the action takes only conversationId, and the gateway writes to the
                           conversation's customer (default: conversationId and participantId)
  --timeout-seconds N      the action's timeout, ${TIMEOUT_SECONDS.min} to ${TIMEOUT_SECONDS.max} (default ${TIMEOUT_SECONDS.default}); the gateway answers a second before
  --credential-type TYPE   the integration's credential: basicAuth (default; one of API_KEYS as the
                           password) or userDefined (a field named apiKey holding one of API_KEYS)
  --format FORMAT          json (default): the import JSON; terraform: the action with its Web
                           Services integration and credential, as HCL for the genesyscloud
                           provider (the API key is a variable: TF_VAR_gateway_api_key)
  --out FILE               write to FILE instead of stdout
  -h, --help               this text

example:
  ${example}
  npm run -s data-action -- --base-url https://gateway.example.com --attributes customer_tier,crm_id --format terraform --out ${TERRAFORM_FILE}
`

const flags = {
  'base-url': { type: 'string', field: 'baseUrl', what: 'where Genesys reaches this gateway, e.g. --base-url https://gateway.example.com' },
  attributes: { type: 'string', field: 'attributes', what: 'the attribute names the flow will send, comma-separated, e.g. --attributes customer_tier,crm_id' },
  'conversation-only': { type: 'boolean', field: 'conversationOnly', what: '' },
  'timeout-seconds': { type: 'string', field: 'timeoutSeconds', what: `the action's timeout in seconds, e.g. --timeout-seconds ${TIMEOUT_SECONDS.default}` },
  'credential-type': { type: 'string', field: 'credentialType', what: `${CREDENTIAL_TYPES.join(' or ')}, e.g. --credential-type userDefined` },
  format: { type: 'string', field: 'format', what: `${FORMATS.join(' or ')}, e.g. --format terraform` },
  out: { type: 'string', field: '', what: 'the file to write, e.g. --out action.json' },
  help: { type: 'boolean', field: '', what: '', short: 'h' },
} as const
type Flag = keyof typeof flags

/** Reads the command line without throwing, so every mistake can be named in one pass. */
function read (argv: string[]) {
  const problems: string[] = []
  // parseArgs would take the next option as the missing value (`--base-url --attributes a`):
  // name the missing value and leave the next option to be read as one.
  const isText = (arg: string | undefined) => arg?.startsWith('--') && flags[arg.slice(2) as Flag]?.type === 'string'
  const args = argv.filter((arg, i) => {
    const next = argv[i + 1]
    if (!isText(arg) || (next !== undefined && !next.startsWith('-'))) return true
    problems.push(`${arg} needs a value: ${flags[arg.slice(2) as Flag].what}`)
    return false
  })
  const { values, tokens } = parseArgs({ args, options: flags, strict: false, tokens: true })
  for (const token of tokens) {
    if (token.kind === 'positional') problems.push(`"${token.value}" is not an option; values go right after their option, e.g. --attributes customer_tier,crm_id`)
    if (token.kind !== 'option') continue
    const flag = flags[token.name as Flag]
    if (!flag) problems.push(`${token.rawName} is not an option of this command; --help lists them`)
    else if (flag.type === 'boolean' && token.value !== undefined) problems.push(`--${token.name} takes no value; leave out "=${token.value}"`)
  }
  return { values: values as Partial<Record<Flag, string | boolean>>, problems }
}

function main (argv: string[]): number {
  const { values, problems } = read(argv)
  if (values.help) {
    process.stdout.write(help)
    return 0
  }
  // The service's own PUBLIC_URL, read by the same rule, so the export names what the service does.
  const configured = publicUrl.safeParse(process.env.PUBLIC_URL)
  if (!configured.success) problems.push(`PUBLIC_URL: ${configured.error.issues[0]!.message} (or unset it and give --base-url)`)
  const fallback = configured.success ? configured.data : undefined
  for (const name of ['base-url', 'attributes'] as const) {
    if (name === 'base-url' && (fallback !== undefined || !configured.success)) continue
    if (values[name] === undefined && !argv.includes(`--${name}`)) problems.push(`--${name} is required${name === 'base-url' ? ' (or set PUBLIC_URL)' : ''}: ${flags[name].what}`)
  }
  const text = (name: Flag) => (typeof values[name] === 'string' ? values[name] : undefined)
  const options = dataActionText.safeParse({
    baseUrl: text('base-url') ?? fallback,
    attributes: text('attributes'),
    conversationOnly: values['conversation-only'] ? 'true' : 'false',
    timeoutSeconds: text('timeout-seconds'),
    credentialType: text('credential-type'),
    format: text('format'),
  })
  // Zod would repeat a missing option in its own words ("expected string, received undefined").
  if (problems.length === 0 && !options.success) {
    const byField = Object.fromEntries(Object.entries(flags).map(([name, f]) => [f.field, name as Flag]))
    for (const issue of options.error.issues) {
      const name = byField[String(issue.path[0])]!
      const given = issue.path.length > 1 ? text(name)!.split(',')[Number(issue.path[1])]!.trim() : text(name)
      problems.push(`--${name}: ${issue.message} (got ${JSON.stringify(given)})`)
    }
  }
  if (problems.length > 0 || !options.success) {
    process.stderr.write(`${problems.join('\n')}\n${usage}\n`)
    return 2
  }
  const { format, ...rest } = options.data
  const action = { ...rest, baseUrl: rest.baseUrl! }
  const document = format === 'terraform' ? dataActionTerraform(action) : JSON.stringify(dataAction(action), null, 2) + '\n'
  const out = text('out')
  if (out === undefined) {
    process.stdout.write(document)
    return 0
  }
  try {
    writeFileSync(out, document)
  } catch (err) {
    process.stderr.write(`could not write ${out}: ${(err as Error).message}\n`)
    return 1
  }
  const next = format === 'terraform'
    ? 'set TF_VAR_gateway_api_key to one of the gateway API_KEYS, then terraform init && terraform apply'
    : 'import it in Genesys Cloud, Admin > Integrations > Actions > Import'
  process.stderr.write(`wrote ${out}: ${next}\n`)
  return 0
}

process.exitCode = main(process.argv.slice(2))
