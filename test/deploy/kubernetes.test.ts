import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { ServiceMonitor, type IServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor'
import { Deployment, StatefulSet, type IDeployment, type IStatefulSet } from 'kubernetes-models/apps/v1'
import { HorizontalPodAutoscaler, type IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2'
import { PodDisruptionBudget, type IPodDisruptionBudget } from 'kubernetes-models/policy/v1'
import { ConfigMap, Namespace, Service, type IConfigMap, type IContainer, type IPodSpec, type IService } from 'kubernetes-models/v1'
import t, { type Test } from 'tap'
import { parseAllDocuments } from 'yaml'
import { loadConfig, VARIABLES } from '../../src/config.ts'
import { redisPersistence } from '../../src/delivery/persistence.ts'
import { spawnRedis } from '../helpers/redis.ts'

const run = promisify(execFile)
const root = new URL('../../', import.meta.url).pathname

interface Rendered { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> } }

/** The objects `kubectl kustomize` renders from a folder of deploy/kubernetes. */
async function kustomize (dir: string): Promise<Rendered[]> {
  let stdout: string
  try {
    ({ stdout } = await run('kubectl', ['kustomize', `deploy/kubernetes/${dir}`], { cwd: root, maxBuffer: 16 * 1024 * 1024 }))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error('kubectl is not installed, so the Kubernetes manifests cannot be rendered and checked: install kubectl (kustomize is built in)')
    }
    throw err
  }
  return parseAllDocuments(stdout).map((d) => d.toJS() as Rendered)
}

/** A maintained model of every kind we render (kubernetes-models: the API's own OpenAPI schemas, compiled for ajv). */
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
}

/** What the pod sees of the image (Dockerfile's runtime ENV) and where the Secret's values go. */
const IMAGE_ENV = { NODE_ENV: 'production', HOST: '0.0.0.0', PORT: '3000' }
const SECRET_PLACEHOLDERS: Record<string, string> = {
  GENESYS_CLIENT_ID: 'client-id',
  GENESYS_CLIENT_SECRET: 'client-secret',
  API_KEYS: 'flows:0123456789abcdef',
  REDIS_URL: 'redis://redis:6379',
}
/** Variables that carry a credential, or may (a Redis URL with a password, an OTLP vendor key). */
const CREDENTIALS = ['GENESYS_CLIENT_SECRET', 'API_KEYS', 'SIGNING_SECRETS', 'REDIS_URL', 'REDIS_CLUSTER_NODES', 'OTEL_EXPORTER_OTLP_HEADERS']

/** cpu or memory, in cores or bytes. */
function quantity (q: string | number | undefined): number {
  const m = String(q).match(/^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi)?$/)
  if (m === null) throw new Error(`not a quantity we read: ${q}`)
  const unit = { m: 1e-3, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30 }[m[2] as 'm'] ?? 1
  return Number(m[1]) * unit
}

const matches = (selector: Record<string, string> | undefined, labels: Record<string, string> | undefined) =>
  selector !== undefined && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels?.[k] === v)

function pick<T> (objects: Rendered[], kind: string, name: string): T {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name)
  if (found === undefined) throw new Error(`no ${kind} ${name} rendered`)
  return found as T
}

/** What every rendering of the gateway must keep, whatever overlay made it. */
async function checkGateway (t: Test, objects: Rendered[]) {
  for (const o of objects) {
    const Model = MODELS[`${o.apiVersion}/${o.kind}`]
    t.ok(Model, `${o.kind} ${o.metadata.name}: a schema to check it against`)
    if (Model) t.doesNotThrow(() => new Model(o as never).validate(), `${o.kind} ${o.metadata.name}: valid for its schema`)
  }
  t.same(objects.filter((o) => o.kind === 'Secret').map((o) => o.metadata.name), [], 'no Secret is rendered: credentials never live in the repo')

  const deployment = pick<IDeployment>(objects, 'Deployment', 'participant-data-gateway')
  const pod = deployment.spec!.template.spec as IPodSpec
  const labels = deployment.spec!.template.metadata!.labels
  t.ok(matches(deployment.spec!.selector.matchLabels, labels), 'the Deployment selects its own pods')
  const gateway = pod.containers.find((c) => c.name === 'gateway') as IContainer
  const port = gateway.ports!.find((p) => p.name === 'http')!
  t.equal(String(port.containerPort), IMAGE_ENV.PORT, 'the container port is the one the image listens on')

  t.match(gateway.readinessProbe, { httpGet: { path: '/readyz', port: 'http' } }, 'readiness asks /readyz')
  t.match(gateway.livenessProbe, { httpGet: { path: '/healthz', port: 'http' } }, 'liveness asks /healthz, which never touches Genesys')

  t.equal(pod.securityContext?.runAsNonRoot, true, 'never as root')
  t.equal(pod.securityContext?.runAsUser, 1000, "as the image's node user")
  t.match(gateway.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } }, 'no privilege escalation, a read-only root, no capabilities')
  const tmp = gateway.volumeMounts?.find((m) => m.mountPath === '/tmp')
  t.ok(tmp && pod.volumes?.find((v) => v.name === tmp.name)?.emptyDir, 'a writable emptyDir at /tmp')

  const { requests, limits } = gateway.resources ?? {}
  for (const r of ['cpu', 'memory']) {
    t.ok(quantity(requests?.[r]) > 0 && quantity(limits?.[r]) >= quantity(requests?.[r]), `${r}: requested, and limited no lower`)
  }

  const env = gateway.env ?? []
  const literal = Object.fromEntries(env.filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]))
  t.ok(literal.SHUTDOWN_TIMEOUT_MS, 'SHUTDOWN_TIMEOUT_MS is set explicitly')
  const sleep = gateway.lifecycle?.preStop?.exec?.command
  const pause = sleep?.[0] === 'sleep' ? Number(sleep[1]) : 0
  t.ok(pod.terminationGracePeriodSeconds! > pause + Number(literal.SHUTDOWN_TIMEOUT_MS) / 1000,
    `grace period ${pod.terminationGracePeriodSeconds} s > preStop ${pause} s + SHUTDOWN_TIMEOUT_MS ${literal.SHUTDOWN_TIMEOUT_MS} ms: the drain is never cut short`)

  // Credentials only by reference; and nothing that looks like one as a value, here or in a ConfigMap.
  const fromSecrets = Object.fromEntries(env.filter((e) => e.valueFrom?.secretKeyRef).map((e) => [e.name, e.valueFrom!.secretKeyRef!]))
  for (const name of ['GENESYS_CLIENT_ID', 'GENESYS_CLIENT_SECRET', 'API_KEYS', 'REDIS_URL']) t.ok(fromSecrets[name], `${name} comes from a Secret`)
  const configMaps = (gateway.envFrom ?? []).map((s) => {
    t.notOk(s.secretRef === undefined && s.configMapRef === undefined, 'envFrom names a ConfigMap or a Secret')
    return s.configMapRef ? pick<IConfigMap>(objects, 'ConfigMap', s.configMapRef.name!).data ?? {} : {}
  })
  const plain = Object.assign({}, ...configMaps, literal) as Record<string, string>
  const looksSecret = (name: string) => CREDENTIALS.includes(name) || /SECRET|PASSWORD|TOKEN|KEY/.test(name)
  t.same(Object.keys(plain).filter(looksSecret), [], 'no credential as a plain value, in env or in a ConfigMap')
  const names = [...Object.keys(plain), ...Object.keys(fromSecrets)]
  t.same(names.filter((n) => !VARIABLES.includes(n) && !n.startsWith('OTEL_')), [], 'every variable is one the gateway reads')
  const secrets = Object.fromEntries(Object.keys(fromSecrets).filter((n) => SECRET_PLACEHOLDERS[n]).map((n) => [n, SECRET_PLACEHOLDERS[n]!]))
  const config = loadConfig({ ...IMAGE_ENV, ...plain, ...secrets })
  t.equal(config.env, 'production', 'with the Secret filled in, the pod starts in production')
  t.ok(config.redisUrl, 'with Redis: replicas share one lock and one Genesys budget only through it')

  const hpa = objects.find((o) => o.kind === 'HorizontalPodAutoscaler') as IHorizontalPodAutoscaler
  t.match(hpa.spec!.scaleTargetRef, { kind: 'Deployment', name: deployment.metadata!.name }, 'the autoscaler scales the gateway')
  const replicas = deployment.spec!.replicas ?? hpa.spec!.minReplicas!
  t.ok(replicas >= 2 && hpa.spec!.minReplicas! >= 2, `at least 2 replicas (${replicas}), and the autoscaler never goes below 2`)
  t.ok(hpa.spec!.maxReplicas >= hpa.spec!.minReplicas!)

  const pdb = objects.find((o) => o.kind === 'PodDisruptionBudget') as IPodDisruptionBudget
  t.ok(matches(pdb.spec!.selector?.matchLabels, labels), 'the PodDisruptionBudget covers the gateway pods')
  const down = pdb.spec!.maxUnavailable ?? replicas - Number(pdb.spec!.minAvailable)
  t.ok(Number(down) >= 1 && Number(down) < hpa.spec!.minReplicas!, `a drain takes ${down} replica(s) at a time, and never all`)

  const service = pick<IService>(objects, 'Service', 'participant-data-gateway')
  t.ok(matches(service.spec!.selector, labels), 'the Service sends to the gateway pods')
  t.ok(service.spec!.ports!.every((p) => p.targetPort === port.name || p.targetPort === port.containerPort), 'on the port they listen on')
  return { deployment, service, gateway }
}

t.test('the base: a gateway that keeps its promises, and valid objects', async (t) => {
  const objects = await kustomize('.')
  await checkGateway(t, objects)
  t.notOk(objects.some((o) => o.kind === 'ServiceMonitor'), 'the ServiceMonitor is left to a component: not every cluster has the Prometheus Operator')
})

t.test('the example overlay: the same gateway, a persistent Redis, and the ServiceMonitor', async (t) => {
  const objects = await kustomize('overlays/example')
  const { service, gateway } = await checkGateway(t, objects)
  const namespace = objects.find((o) => o.kind === 'Namespace')!.metadata.name
  t.same(objects.filter((o) => o.kind !== 'Namespace' && o.metadata.namespace !== namespace).map((o) => o.kind), [], `everything in its namespace, ${namespace}`)
  t.notOk(gateway.image === 'participant-data-gateway', `the image is a registry's: ${gateway.image}`)

  const monitor = objects.find((o) => o.kind === 'ServiceMonitor') as IServiceMonitor
  t.ok(matches(monitor.spec.selector.matchLabels, service.metadata!.labels), 'the ServiceMonitor finds the gateway Service')
  const redisService = pick<IService>(objects, 'Service', 'participant-data-gateway-redis')
  t.notOk(matches(monitor.spec.selector.matchLabels, redisService.metadata!.labels), 'and not the Redis one')
  t.match(monitor.spec.endpoints, [{ port: service.spec!.ports![0]!.name, path: '/metrics' }], 'scraping /metrics on its named port')

  const redis = pick<IStatefulSet>(objects, 'StatefulSet', 'participant-data-gateway-redis')
  t.equal(redis.spec!.serviceName, redisService.metadata!.name, 'Redis has its governing Service')
  t.ok(matches(redisService.spec!.selector, redis.spec!.template.metadata!.labels), 'which selects its pod')
  const container = redis.spec!.template.spec!.containers[0]!
  const claim = redis.spec!.volumeClaimTemplates?.[0]?.metadata?.name
  t.ok(container.volumeMounts?.some((m) => m.name === claim && m.mountPath === '/data'), "Redis's /data is a persistent volume claim")
  t.equal(redis.spec!.template.spec!.securityContext?.runAsNonRoot, true, 'Redis runs as non-root too')
  t.match(container.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true })

  // Its arguments, given to a real redis-server: the gateway finds it persisting, and never evicting.
  const args = container.args ?? []
  t.match(args.join(' '), /--appendonly yes --appendfsync everysec/)
  const url = await spawnRedis(t, args)
  const { Redis } = await import('ioredis')
  const client = new Redis(url)
  t.teardown(() => client.quit())
  t.equal(await redisPersistence(client), 'aof', 'AOF on')
  t.same(await client.config('GET', 'maxmemory-policy'), ['maxmemory-policy', 'noeviction'], 'no eviction')
})
