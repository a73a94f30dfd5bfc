import { existsSync } from 'node:fs'
import { chromium } from 'playwright-core'

/** Flags that keep a headless Chromium from reaching for the network a test machine lacks. */
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']

const SYSTEM = [
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome',
  '/usr/bin/google-chrome-stable',
  '/snap/bin/chromium',
  '/Applications/Chromium.app/Contents/MacOS/Chromium',
  '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
]

/** Where a browser is looked for, in order: CHROMIUM_PATH, Playwright's own browser cache, the usual system paths. */
export function chromiumCandidates (env: NodeJS.ProcessEnv = process.env): string[] {
  let playwrights: string | undefined
  try {
    playwrights = chromium.executablePath()
  } catch {} // no browser of Playwright's own is known for this platform
  return [env.CHROMIUM_PATH, playwrights, ...SYSTEM].filter((p): p is string => Boolean(p))
}

/** The first candidate that exists; none: an error that lists every place looked at and how to fill one. */
export function findChromium (candidates = chromiumCandidates()): string {
  const found = candidates.find((p) => existsSync(p))
  if (found) return found
  throw new Error(
    `no Chromium found; looked at:\n${candidates.map((p) => `  ${p}`).join('\n')}\n` +
    'Install one (Debian/Ubuntu: apt-get install chromium; macOS: brew install --cask chromium, or npx playwright install chromium) or set CHROMIUM_PATH.'
  )
}
