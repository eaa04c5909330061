/**
 * The HTTP listener (listener.ts) on a real socket of 127.0.0.1: handlers are
 * tried in order and the first that answers wins, nothing answering is a JSON
 * 404, a throwing handler a logged JSON 500 after which the listener serves
 * on, an HttpError its own status, a body past its bound a 413, a stuck
 * handler a 503 at its bound, and the listener binds only the host it is given.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { request as httpRequest } from 'node:http';
import { createLogger } from '../../runtime/logger.ts';
import { HttpError, readRequestBody, sendJson, startHttpListener, type HttpHandler, type HttpListener } from './listener.ts';

const log = createLogger({ test: 'http-listener' }, 'silent');
const listeners: HttpListener[] = [];
afterEach(async () => {
  for (const listener of listeners.splice(0)) await listener.close();
});

async function start(handlers: HttpHandler[], limits = {}): Promise<HttpListener> {
  const listener = await startHttpListener({ host: '127.0.0.1', port: 0, handlers, log, limits });
  listeners.push(listener);
  return listener;
}

async function json(response: Response): Promise<unknown> {
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  return response.json();
}

describe('startHttpListener', () => {
  it('tries the handlers in order: the first that answers wins, and one that declines passes it on', async () => {
    const seen: string[] = [];
    const listener = await start([
      (_req, _res, url) => {
        seen.push(`first ${url.pathname}`);
        return false;
      },
      async (_req, res, url) => {
        if (url.pathname !== '/a') return false;
        sendJson(res, 200, { from: 'second', query: url.searchParams.get('q') });
        return true;
      },
      (_req, res) => {
        sendJson(res, 200, { from: 'third' });
        return true;
      },
    ]);
    expect(listener.url).toBe(`http://127.0.0.1:${listener.port}`);
    expect(await json(await fetch(`${listener.url}/a?q=1`))).toEqual({ from: 'second', query: '1' });
    expect(await json(await fetch(`${listener.url}/b`))).toEqual({ from: 'third' });
    expect(seen).toEqual(['first /a', 'first /b']);
  });

  it('answers 404 with a JSON error when no handler answers', async () => {
    const listener = await start([() => false]);
    const response = await fetch(`${listener.url}/nothing`);
    expect(response.status).toBe(404);
    expect(await json(response)).toEqual({ error: { code: 'NOT_FOUND', message: 'nothing at GET /nothing' } });
  });

  it('answers 500 for a handler that throws or rejects, and goes on serving', async () => {
    const listener = await start([
      (_req, _res, url) => {
        if (url.pathname === '/throw') throw new Error('a bug with a secret path /etc/x');
        return false;
      },
      async (_req, _res, url) => {
        if (url.pathname === '/reject') throw new TypeError('undefined is not a function');
        return false;
      },
      (_req, res) => {
        sendJson(res, 200, { ok: true });
        return true;
      },
    ]);
    for (const path of ['/throw', '/reject']) {
      const response = await fetch(`${listener.url}${path}`);
      expect(response.status).toBe(500);
      const body = (await json(response)) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('INTERNAL_ERROR');
      expect(body.error.message).not.toContain('/etc/x');
    }
    expect(await json(await fetch(`${listener.url}/fine`))).toEqual({ ok: true });
  });

  it('answers an HttpError with its status and code', async () => {
    const listener = await start([
      () => {
        throw new HttpError(400, 'BAD_TOPIC', 'no such topic');
      },
    ]);
    const response = await fetch(`${listener.url}/x`);
    expect(response.status).toBe(400);
    expect(await json(response)).toEqual({ error: { code: 'BAD_TOPIC', message: 'no such topic' } });
  });

  it('bounds request bodies: a declared length over the bound is refused before any handler, a chunked one as it is read', async () => {
    let handled = 0;
    const listener = await start(
      [
        async (req, res) => {
          handled += 1;
          const body = await readRequestBody(req, 64);
          sendJson(res, 200, { bytes: body.length });
          return true;
        },
      ],
      { requestBodyBytesMax: 64 },
    );
    expect(await json(await fetch(`${listener.url}/post`, { method: 'POST', body: 'x'.repeat(64) }))).toEqual({ bytes: 64 });
    const tooLarge = await fetch(`${listener.url}/post`, { method: 'POST', body: 'x'.repeat(65) });
    expect(tooLarge.status).toBe(413);
    expect(((await json(tooLarge)) as { error: { code: string } }).error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(handled).toBe(1);
    // No Content-Length (chunked): the handler's read stops at the bound.
    const chunked = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(`${listener.url}/post`, { method: 'POST', headers: { 'transfer-encoding': 'chunked' } }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.write('y'.repeat(40));
      req.end('y'.repeat(40));
    });
    expect(chunked.status).toBe(413);
    expect(JSON.parse(chunked.body)).toMatchObject({ error: { code: 'PAYLOAD_TOO_LARGE' } });
  });

  it('answers 503 for a handler that does not answer within its bound', async () => {
    const listener = await start([() => new Promise<boolean>(() => {})], { handlerTimeoutMs: 100 });
    const response = await fetch(`${listener.url}/stuck`);
    expect(response.status).toBe(503);
    expect(((await json(response)) as { error: { code: string } }).error.code).toBe('HANDLER_TIMEOUT');
  });

  it('binds only the host it is given', async () => {
    const listener = await start([
      (_req, res) => {
        sendJson(res, 200, {});
        return true;
      },
    ]);
    // The same port on another local address is not this listener (127.0.0.2 is loopback on Linux, but not bound here).
    const elsewhere = await fetch(`http://127.0.0.2:${listener.port}/`).then(
      () => 'answered',
      () => 'refused',
    );
    expect(elsewhere).toBe('refused');
    expect((await fetch(`${listener.url}/`)).status).toBe(200);
  });

  it('closes: the port is released and close is idempotent', async () => {
    const listener = await start([() => false]);
    await listener.close();
    await listener.close();
    await expect(fetch(`${listener.url}/`)).rejects.toThrow();
  });
});
