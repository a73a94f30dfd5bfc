/**
 * The Content-Security-Policy of the pages this service serves (the console, /docs): every asset
 * from this service and nothing inline, so a page that worked on a closed network is one that
 * never reached out, and a value shown on it cannot run as script; no other site may frame it.
 */
export const PAGE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

/**
 * /docs: the same for scripts, framing and connections; and what Swagger UI cannot do without:
 * its icons, which its stylesheet holds as data: URLs, and the inline styles its React components
 * set (a style cannot run script).
 */
export const DOCS_CSP = PAGE_CSP.replace("img-src 'self'", "img-src 'self' data:").replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
