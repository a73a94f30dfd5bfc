import { readFile } from 'node:fs/promises'
import t, { type Test } from 'tap'
import { parse } from 'yaml'
import { buildApp } from '../../src/app.ts'
import { loadConfig } from '../../src/config.ts'
import { CATALOGUE } from '../../src/errors.ts'
import { spawnRedis } from '../helpers/redis.ts'

const read = (file: string) => readFile(new URL(`../../${file}`, import.meta.url), 'utf8')

interface Rule { alert: string; expr: string; labels?: Record<string, string>; annotations?: Record<string, string> }

/** GitHub's anchor for a Markdown heading. */
const slug = (heading: string) => heading.trim().toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-')

/** The gateway's registry and a scrape of it, with a Redis so that every gauge is there. */
async function gateway (t: Test) {
  const redisUrl = await spawnRedis(t, ['--save', '', '--appendonly', 'no'])
  const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', GENESYS_CLIENT_ID: 'c', GENESYS_CLIENT_SECRET: 's', GENESYS_API_URL: 'http://127.0.0.1:9', GENESYS_LOGIN_URL: 'http://127.0.0.1:9', REDIS_URL: redisUrl })
  const app = await buildApp(config)
  t.teardown(() => app.close())
  const exposition = (await app.inject('/metrics')).body
  const metrics = new Map(app.metrics.registry.getMetricsAsArray().map((m) => [m.name, m as unknown as { type: string; labelNames: string[] }]))

  /** Each pdg_ metric a query names is exported, with the labels it matches on and values it can take. */
  return (t: Test, what: string, query: string) => {
    for (const [, name, matchers = ''] of query.matchAll(/\b(pdg_\w+)(?:\{([^}]*)\})?/g)) {
      const metric = metrics.get(name!) ?? metrics.get(name!.replace(/_(bucket|count|sum)$/, ''))
      t.ok(metric, `${what}: ${name} is exported`)
      for (const [, label, op, value] of matchers.matchAll(/(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"/g)) {
        t.ok(metric?.labelNames.includes(label!), `${what}: ${name} has the label ${label}`)
        const values = op!.includes('~') ? value!.split('|') : [value!]
        for (const v of values.filter((v) => v !== '')) {
          if (label === 'code') t.ok(v in CATALOGUE, `${what}: ${v} is a catalogue code`)
          if (label === 'route') t.ok(app.hasRoute({ method: 'GET', url: v }), `${what}: ${v} is a route`)
          if (label === 'state') t.match(exposition, `${name}{${label}="${v}"}`, `${what}: ${name} takes the state ${v}`)
        }
      }
    }
  }
}

// promtool proves the rules fire on the series they name (./check.sh); this proves those series are
// the ones the gateway exports, so a renamed metric, label or code cannot leave an alert silent.
t.test('every alert reads metrics, labels, codes and routes the gateway has, and has its runbook', async (t) => {
  const check = await gateway(t)
  const { groups } = parse(await read('deploy/prometheus/alerts.yml')) as { groups: Array<{ rules: Rule[] }> }
  const rules = groups.flatMap((g) => g.rules)
  const anchors = new Set([...(await read('docs/alerts.md')).matchAll(/^#+ (.+)$/gm)].map((m) => slug(m[1]!)))
  t.ok(rules.length >= 10, `${rules.length} alerts`)
  for (const rule of rules) {
    t.match(rule.labels?.severity, /^(critical|warning)$/, `${rule.alert}: a severity`)
    const anchor = rule.annotations?.runbook?.match(/^docs\/alerts\.md#(.+)$/)?.[1]
    t.ok(anchor && anchors.has(anchor), `${rule.alert}: its runbook is a section of docs/alerts.md`)
    check(t, rule.alert, rule.expr)
  }
})

// The dashboard itself is not tried in a Grafana here; its queries at least name what is exported.
t.test("the Grafana dashboard's queries read metrics the gateway has", async (t) => {
  const check = await gateway(t)
  const dashboard = JSON.parse(await read('deploy/grafana/dashboard.json')) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }> }
  for (const panel of dashboard.panels) {
    t.ok(panel.targets.length > 0, `${panel.title}: a query`)
    for (const { expr } of panel.targets) check(t, panel.title, expr)
  }
})
