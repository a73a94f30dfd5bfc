// `npm run openapi` writes openapi.yaml: the API description the running service serves at
// /openapi.json, as YAML. A test fails when the two differ.
import { buildApp } from '../app.js'
import { loadConfig } from '../config.js'

const app = await buildApp(loadConfig({ LOG_LEVEL: 'silent' }))
await app.ready()
process.stdout.write(app.swagger({ yaml: true }))
await app.close()
