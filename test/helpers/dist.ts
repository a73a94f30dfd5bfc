/** A compiled entry point (test/build.mjs builds dist/ before the tests), as the command that runs it: `dist('server.js')`. */
export function dist (entry: string): string[] {
  return [process.execPath, new URL(`../../dist/${entry}`, import.meta.url).pathname]
}
