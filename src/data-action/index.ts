/**
 * The Data Action an Architect flow calls. Its concepts:
 * 1. **The action** (build.ts): Genesys's Web Services Data Action, for this gateway's URL.
 * 2. **Terraform** (terraform.ts): the same, as HCL for the Genesys provider.
 * 3. **The public URL** (public-url.ts): where Genesys reaches the gateway (PUBLIC_URL).
 * 4. **Handing it out** (route.ts and cli.ts): GET /genesys/data-action (JSON or Terraform), and `npm run data-action`.
 */
export { GUESS_HEADER, isHttps, publicUrl } from './public-url.ts'
export { default as dataAction } from './route.ts'
