// `npm run data-action -- --base-url https://… --attributes customer_tier,crm_id [--conversation-only]`
// prints a Data Action ready to import in Genesys Cloud (Admin > Integrations > Actions > Import).
import { parseArgs } from 'node:util'
import { dataAction, dataActionOptions } from '../data-action.js'

const usage = `usage: npm run data-action -- --base-url https://gateway.example.com --attributes customer_tier,crm_id [--conversation-only] [--timeout-seconds 10]`

let args
try {
  args = parseArgs({
    options: {
      'base-url': { type: 'string' },
      attributes: { type: 'string' },
      'conversation-only': { type: 'boolean', default: false },
      'timeout-seconds': { type: 'string', default: '10' },
    },
  }).values
} catch (err) {
  console.error(`${(err as Error).message}\n${usage}`)
  process.exit(2)
}

const options = dataActionOptions.safeParse({
  baseUrl: args['base-url'],
  attributes: args.attributes?.split(',').map((a) => a.trim()),
  conversationOnly: args['conversation-only'],
  timeoutSeconds: Number(args['timeout-seconds']),
})
if (!options.success) {
  const flag = { baseUrl: '--base-url', attributes: '--attributes', timeoutSeconds: '--timeout-seconds' } as Record<string, string>
  for (const i of options.error.issues) console.error(`${flag[String(i.path[0])] ?? i.path.join('.')}: ${i.message}`)
  console.error(usage)
  process.exit(2)
}
process.stdout.write(JSON.stringify(dataAction(options.data), null, 2) + '\n')
