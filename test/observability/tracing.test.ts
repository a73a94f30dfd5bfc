import t from 'tap'
import { loadConfig, tracingEnabled } from '../../src/config.ts'

t.test('tracing is on exactly when the OTEL_* variables name an exporter or an endpoint', async (t) => {
  const cases: Array<[Record<string, string>, boolean, string]> = [
    [{}, false, 'nothing set'],
    [{ OTEL_SERVICE_NAME: 'pdg', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }, false, 'a name and a protocol, but nowhere to send'],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: '' }, false, 'an empty endpoint counts as unset'],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }, true, 'an endpoint'],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' }, true, 'a traces endpoint'],
    [{ OTEL_TRACES_EXPORTER: 'otlp' }, true, 'an exporter (to the default endpoint)'],
    [{ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }, false, 'exporter none wins'],
    [{ OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }, false, 'the SDK disabled wins'],
  ]
  for (const [env, on, why] of cases) t.equal(tracingEnabled(env), on, why)
  t.same(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }).tracing, { enabled: true }, 'the config slice the plugin is given')
  t.same(loadConfig({}).tracing, { enabled: false })
})
