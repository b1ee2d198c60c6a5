import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { errorCodes } from 'fastify';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { HEAP_BYTES_PER_BODY_BYTE, RequestMemoryFull, UNCOUNTED_ARRIVING_BYTES } from './request-memory.js';
import type { RequestMemory } from './request-memory.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Bytes of request memory this request holds; given back when its response is sent. */
    requestMemoryHeld: number;
  }
}

/**
 * Answers up to this size are not charged while they wait to be written: node:http stops
 * reading a connection's pipelined requests once 16 KiB of answers wait on it, so there are
 * at most --max-connections × (16 KiB + one answer) of them.
 */
const UNCOUNTED_ANSWER_CHARS = 16 * 1024;

/**
 * The blocks a body arriving in several chunks is gathered into: the first of 16 KiB, each
 * next one as large as all before it, up to 64 KiB (never past the declared length). A body
 * holds what it sent and at most one block it has not yet filled, whatever its chunks.
 */
const MIN_GATHERED_BYTES = 16 * 1024;
const MAX_GATHERED_BYTES = 64 * 1024;

/**
 * JSON request bodies read and parsed within `memory` (see request-memory.ts). A body over
 * UNCOUNTED_ARRIVING_BYTES (or of unknown length: chunked) is charged as its bytes arrive
 * (bodies arriving may hold half the memory, no more);
 * every body is charged its worst-case parsed size before JSON.parse. When its answer is
 * ready (onSend: every answer, refusal or error goes through it) the parsed body is let go
 * and its charge given back, but for a large answer, which keeps a charge of its size until
 * it has been written (its response closes; one not taken by the caller within `flushMs` has
 * its connection cut). A body that does not fit gets 503, and Fastify closes its connection.
 *
 * Otherwise as Fastify's own JSON parser: a body over the body limit is a 413, one
 * shorter or longer than its Content-Length, empty, or not JSON a 400, a byte order mark is
 * skipped. Unlike Fastify's, `__proto__` and `constructor` keys are not refused: they are
 * ordinary label, annotation and env keys to Kubernetes, and refusing such a body would make
 * that pod impossible to create under failurePolicy Fail. JSON.parse keeps them as own data
 * properties, which change no prototype; the webhook reads pods through Maps and named
 * fields, never by merging them into other objects.
 */
export function parseJsonWithin(app: FastifyInstance, memory: RequestMemory, options: { bodyLimit: number; flushMs: number }): void {
  const { bodyLimit, flushMs } = options;
  // A number set in Fastify's request constructor: every request has the same shape.
  app.decorateRequest('requestMemoryHeld', 0);
  app.addHook('onSend', (req, reply, payload, done) => {
    const held = req.requestMemoryHeld;
    if (held > 0) {
      req.requestMemoryHeld = 0;
      // Let the parsed body go now: a pipelined request's answer may wait behind a slow one,
      // and the request (with its body) lives until its answer is written.
      req.body = undefined;
      const chars = typeof payload === 'string' ? payload.length : 0;
      // Until written, an answer is held as text and again as bytes.
      const kept = chars > UNCOUNTED_ANSWER_CHARS ? Math.min(held, 3 * chars) : 0;
      memory.give(held - kept);
      if (kept > 0) holdUntilWritten(reply.raw, kept, memory, flushMs);
    }
    done(null, payload);
  });
  app.addContentTypeParser('application/json', (req, payload, done) => {
    readBody(req, payload, bodyLimit, memory, (error, text) => {
      if (error !== undefined) {
        done(error, undefined);
        return;
      }
      let value: unknown;
      try {
        value = parse(req, text, memory);
      } catch (refusal) {
        done(refusal as Error, undefined);
        return;
      }
      done(null, value);
    });
  });
}

/**
 * Keeps `bytes` of `memory` until `response` has been written (it closes) or its connection
 * is gone (the socket closes: a pipelined response queued behind another never closes on its
 * own then); cuts the connection if neither happens within `flushMs`.
 */
export function holdUntilWritten(response: ServerResponse, bytes: number, memory: RequestMemory, flushMs: number): void {
  const socket = response.req.socket;
  if (response.destroyed || socket.destroyed) {
    memory.give(bytes);
    return;
  }
  let held = true;
  const release = () => {
    if (!held) return;
    held = false;
    clearTimeout(timer);
    response.off('close', release);
    socket.off('close', release);
    memory.give(bytes);
  };
  const timer = setTimeout(() => socket.destroy(), flushMs);
  timer.unref();
  response.once('close', release);
  socket.once('close', release);
}

/** The body's JSON value, after charging its worst-case parsed size; throws RequestMemoryFull or a 400. */
function parse(req: FastifyRequest, text: string, memory: RequestMemory): unknown {
  if (text.length === 0) throw new errorCodes.FST_ERR_CTP_EMPTY_JSON_BODY();
  const needed = text.length * HEAP_BYTES_PER_BODY_BYTE - req.requestMemoryHeld;
  if (needed > 0) {
    if (!memory.take(needed)) throw new RequestMemoryFull(memory.capacity);
    req.requestMemoryHeld += needed;
  }
  try {
    return JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch {
    throw new errorCodes.FST_ERR_CTP_INVALID_JSON_BODY();
  }
}

/**
 * The body as UTF-8 text, within `limit` bytes (the app's body limit; no route sets its own); charged to `memory` as it arrives unless it
 * declared at most UNCOUNTED_ARRIVING_BYTES. Calls `finish` once.
 */
function readBody(req: FastifyRequest, payload: Readable, limit: number, memory: RequestMemory, finish: (error: Error | undefined, text: string) => void): void {
  const declared = Number(req.headers['content-length']);
  if (declared > limit) {
    finish(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE(), '');
    return;
  }
  // NaN (no Content-Length: chunked) is counted too.
  const counted = !(declared <= UNCOUNTED_ARRIVING_BYTES);
  // The bytes so far: the first chunk as it came (most bodies come in one), and once another
  // comes, all of them copied into blocks (MIN_GATHERED_BYTES).
  // Never a list of the chunks: each is a Buffer object of its own, ~100 bytes of heap however
  // few bytes it holds, and a caller sending a byte per chunk (chunked encoding, or a TLS
  // record per byte) made a 2 MiB body take the Deployment's whole heap. Nor one buffer grown
  // by doubling: it holds up to twice what the body sent and is charged for (a caller that
  // declares 1 MiB and stops after 512 KiB held 1 MiB).
  let first: Buffer | undefined;
  const blocks: Buffer[] = [];
  /** The block being filled, and how much of it is. */
  let block: Buffer | undefined;
  let filled = 0;
  let gatheredBytes = 0;
  const gather = (bytes: Buffer) => {
    for (let offset = 0; offset < bytes.length; ) {
      if (block === undefined || filled === block.length) {
        if (block !== undefined) blocks.push(block);
        const left = (Number.isNaN(declared) ? limit : declared) - gatheredBytes;
        block = Buffer.allocUnsafe(Math.max(1, Math.min(left, MAX_GATHERED_BYTES, Math.max(MIN_GATHERED_BYTES, gatheredBytes))));
        filled = 0;
      }
      const copied = bytes.copy(block, filled, offset);
      filled += copied;
      offset += copied;
      gatheredBytes += copied;
    }
  };
  let received = 0;
  let arriving = 0;
  const end = (error: Error | undefined) => {
    memory.arrived(arriving);
    arriving = 0;
    payload.removeListener('data', onData);
    payload.removeListener('end', onEnd);
    payload.removeListener('error', onError);
    payload.removeListener('close', onClose);
    if (error !== undefined) {
      finish(error, '');
    } else if (!Number.isNaN(declared) && received !== declared) {
      finish(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH(), '');
    } else {
      const text = block !== undefined ? Buffer.concat([...blocks, block.subarray(0, filled)], received).toString('utf8') : (first?.toString('utf8') ?? '');
      blocks.length = 0;
      block = undefined;
      finish(undefined, text);
    }
  };
  const onData = (chunk: Buffer) => {
    const at = received;
    received += chunk.length;
    if (received > limit) {
      end(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
      return;
    }
    if (counted) {
      if (!memory.takeArriving(chunk.length)) {
        end(new RequestMemoryFull(memory.capacity));
        return;
      }
      arriving += chunk.length;
      req.requestMemoryHeld += chunk.length;
    }
    if (at === 0) {
      first = chunk;
      return;
    }
    if (first !== undefined) {
      const earlier = first;
      first = undefined;
      gather(earlier);
    }
    gather(chunk);
  };
  const onEnd = () => end(undefined);
  // As Fastify's own reader: an error without a 4xx/5xx status is the request's fault.
  const onError = (error: Error & { statusCode?: number }) => end(error.statusCode !== undefined && error.statusCode >= 400 ? error : Object.assign(error, { statusCode: 400 }));
  const onClose = () => end(Object.assign(new Error('the request was aborted before its body was complete'), { statusCode: 400 }));
  payload.on('data', onData);
  payload.on('end', onEnd);
  payload.on('error', onError);
  payload.on('close', onClose);
  payload.resume();
}
