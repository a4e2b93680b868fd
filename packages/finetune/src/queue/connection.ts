import * as net from 'net';
import { UserError } from '@richhf/reward';
import { Queue, type ConnectionOptions } from 'bullmq';

export interface QueueTarget {
  /** redis://[user:password@]host[:port][/db] (rediss:// for TLS). */
  url: string;
  /** Queue name (default `finetune`): several runs can share one Redis under different names. */
  name?: string;
}

/** BullMQ's connection options for a Redis URL, checked for shape (the host is probed by {@link openQueue}). */
export function connectionFor(url: string): ConnectionOptions & { url: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UserError(`--queue ${url}: not a URL (expected redis://host:port)`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new UserError(`--queue ${url}: expected a redis:// or rediss:// URL`);
  // BullMQ's blocking connections need maxRetriesPerRequest null; a lost connection is retried by ioredis.
  return { url, maxRetriesPerRequest: null };
}

/** Fail fast, in one line, when nothing listens at the queue's address (ioredis would retry forever). */
export async function probeRedis(url: string, timeoutMs = 3000): Promise<void> {
  const u = new URL(url);
  const host = u.hostname || '127.0.0.1';
  const port = Number(u.port || 6379);
  await new Promise<void>((resolve, reject) => {
    const s = net.connect({ host, port });
    const t = setTimeout(() => {
      s.destroy();
      reject(new UserError(`--queue ${url}: Redis at ${host}:${port} did not answer within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(t);
      s.end();
      resolve();
    });
    s.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(t);
      reject(new UserError(`--queue ${url}: Redis at ${host}:${port} is unreachable (${e.code ?? e.message})`));
    });
  });
}

export async function openQueue(t: QueueTarget): Promise<Queue> {
  const connection = connectionFor(t.url);
  await probeRedis(t.url);
  const q = new Queue(t.name ?? 'finetune', { connection });
  q.on('error', () => undefined); // connection errors surface through the awaited calls
  await q.waitUntilReady();
  return q;
}
