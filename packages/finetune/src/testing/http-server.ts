import * as http from 'http';
import type { AddressInfo } from 'net';

export type Handler = (req: http.IncomingMessage, body: string, res: http.ServerResponse) => unknown;

/** A real HTTP server on 127.0.0.1 (a free port) for adapter tests; `close()` ends it and its sockets. */
export async function startServer(handler: Handler): Promise<{ url: string; close: () => Promise<void>; requests: Array<{ method: string; path: string; body: string }> }> {
  const requests: Array<{ method: string; path: string; body: string }> = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', path: req.url ?? '', body });
      Promise.resolve(handler(req, body, res)).catch((e) => {
        res.statusCode = 500;
        res.end(String(e));
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
