import { context, SpanStatusCode, trace, type Attributes, type Context, type Link, type Span, type Tracer } from '@opentelemetry/api'
import { ApiError } from '../errors.ts'
import { UpstreamError } from '../genesys/index.ts'
import type { Retry } from './retry.ts'

/** A caller's place in its request's trace, and its queue wait while that lasts. */
export interface Traced {
  ctx: Context
  wait: Span | undefined
}

/**
 * The pipeline's own spans, in the trace of the request they serve: each caller's wait in its
 * conversation's queue; each batch's write, under its first caller's request span and linked to
 * the others' (one PATCH carries several callers' updates), holding the conversation lock and
 * budget waits as spans, each retry as an event, and the Genesys client spans that the undici
 * instrumentation makes. Built only when tracing is on: otherwise the pipeline holds none, and
 * its hot path does not so much as read the active context.
 *
 * Spans carry ids, counts, priorities and catalogue codes; never an attribute value or a message.
 */
export class PipelineTracing {
  readonly #tracer: Tracer

  constructor (tracer: Tracer) {
    this.#tracer = tracer
  }

  /** At submit, under the caller's request span. */
  queued (): Traced {
    const ctx = context.active()
    return { ctx, wait: this.#tracer.startSpan('queue wait', undefined, ctx) }
  }

  /** The caller's wait is over: its batch is being written, or it was answered meanwhile. */
  dequeued (traced: Traced | undefined): void {
    if (traced === undefined) return
    traced.wait?.end()
    traced.wait = undefined
  }

  /** Runs one batch's write (lock, reads, PATCH, retries) in a span of its own. */
  write<T> (conversationId: string, callers: Iterable<{ traced?: Traced | undefined }>, run: () => Promise<T>): Promise<T> {
    let parent: Context | undefined
    const links: Link[] = []
    for (const { traced } of callers) {
      if (traced === undefined) continue
      this.dequeued(traced)
      const caller = trace.getSpanContext(traced.ctx)
      if (parent === undefined) parent = traced.ctx
      else if (caller !== undefined) links.push({ context: caller })
    }
    parent ??= context.active()
    const span = this.#tracer.startSpan('genesys write', { attributes: { 'pdg.conversation_id': conversationId, 'pdg.callers': links.length + 1 }, links }, parent)
    return within(span, trace.setSpan(parent, span), run)
  }

  /** A wait (the conversation lock, the request budget) as a span under the active one. */
  wait<T> (name: string, attributes: Attributes, run: () => Promise<T>): Promise<T> {
    const span = this.#tracer.startSpan(name, { attributes })
    return within(span, trace.setSpan(context.active(), span), run)
  }

  /** A retry, as an event on the span of what is retried. */
  retried ({ cause, delayMs }: Retry): void {
    trace.getActiveSpan()?.addEvent('retry', { 'pdg.retry.cause': cause, 'pdg.retry.delay_ms': delayMs })
  }
}

/**
 * Runs `run` in `ctx` (where `span` is the active one) and ends the span when it settles; a
 * failure sets the error status with its catalogue code alone: a message may quote what Genesys
 * answered, or the request.
 */
export function within<T> (span: Span, ctx: Context, run: () => Promise<T>): Promise<T> {
  return context.with(ctx, run).then(
    (result) => {
      span.end()
      return result
    },
    (err: unknown) => {
      const code = err instanceof ApiError ? err.code : err instanceof UpstreamError ? `upstream ${err.status ?? err.kind}` : 'error'
      span.setStatus({ code: SpanStatusCode.ERROR, message: code })
      span.end()
      throw err
    }
  )
}
