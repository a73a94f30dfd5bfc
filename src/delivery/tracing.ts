import { context, isSpanContextValid, SpanKind, SpanStatusCode, trace, type SpanContext, type Tracer } from '@opentelemetry/api'
import { within } from '../updates/index.ts'
import type { Delivery } from '../coordination/index.ts'

/** W3C trace context, version 00: trace id, parent (span) id, flags. */
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/

const traceparentOf = ({ traceId, spanId, traceFlags }: SpanContext) => `00-${traceId}-${spanId}-${(traceFlags & 0xff).toString(16).padStart(2, '0')}`

function spanContextOf (traceparent: string | undefined): SpanContext | undefined {
  const m = traceparent === undefined ? null : TRACEPARENT.exec(traceparent)
  if (m === null) return undefined
  const sc = { traceId: m[1]!, spanId: m[2]!, traceFlags: parseInt(m[3]!, 16), isRemote: true }
  return isSpanContextValid(sc) ? sc : undefined
}

/**
 * OpenTelemetry's messaging layout, from acceptance to delivery: a producer span ("send delivery",
 * under the request's) covers storing the update, and its traceparent (ids and flags only: a
 * caller's baggage could carry anything) is stored with it. Each attempt is a consumer span
 * ("process delivery") in a trace of its own, linked to each update's producer span, with the
 * pipeline's spans below it: linked rather than a child, as an attempt may run minutes later on
 * another replica, and be retried for long. Built only when tracing is on.
 */
export class DeliveryTracing {
  readonly #tracer: Tracer

  constructor (tracer: Tracer) {
    this.#tracer = tracer
  }

  /** Runs the acceptance of update `id` in a producer span; `run` is given the traceparent to store. */
  send<T> (id: string, run: (traceparent: string | undefined) => Promise<T>): Promise<T> {
    const span = this.#tracer.startSpan('send delivery', {
      kind: SpanKind.PRODUCER,
      attributes: { 'messaging.operation.type': 'send', 'messaging.destination.name': 'delivery', 'messaging.message.id': id },
    })
    const sc = span.spanContext()
    const traceparent = isSpanContextValid(sc) ? traceparentOf(sc) : undefined
    return within(span, trace.setSpan(context.active(), span), () => run(traceparent))
  }

  /** Runs one attempt of a conversation's pending updates in a consumer span linked to each one's acceptance. */
  process (conversationId: string, pending: Delivery[], run: () => Promise<number | undefined>): Promise<number | undefined> {
    const links = pending.flatMap((d) => {
      const accepted = spanContextOf(d.traceparent)
      return accepted === undefined ? [] : [{ context: accepted }]
    })
    const span = this.#tracer.startSpan('process delivery', {
      kind: SpanKind.CONSUMER,
      root: true,
      links,
      attributes: {
        'messaging.operation.type': 'process',
        'messaging.destination.name': 'delivery',
        ...(pending.length === 1 ? { 'messaging.message.id': pending[0]!.id } : { 'messaging.batch.message_count': pending.length }),
        'pdg.conversation_id': conversationId,
      },
    })
    return within(span, trace.setSpan(context.active(), span), async () => {
      const delay = await run()
      span.setAttribute('pdg.attempt', Math.max(...pending.map((d) => d.attempts)))
      // An attempt that did not write them all: what it met, by catalogue code alone.
      const unwritten = pending.find((d) => d.state !== 'written' && d.error !== undefined)
      if (unwritten !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: unwritten.error!.code })
      return delay
    })
  }
}
