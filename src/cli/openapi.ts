// `npm run openapi` writes openapi.yaml: the API description the running service serves at
// /openapi.json, as YAML. A test fails when the two differ.
import { buildApp } from '../app.ts'
import { loadConfig } from '../config.ts'

// Any region: the app needs Genesys addresses to build, and never calls them here.
const app = await buildApp(loadConfig({ LOG_LEVEL: 'silent', GENESYS_REGION: 'us-east-1' }))
await app.ready()
process.stdout.write(app.swagger({ yaml: true }))
await app.close()
