/**
 * `start(item)` for each item of `source`, keeping up to `ahead` of them running, results yielded in source
 * order; a rejection surfaces (and stops the iteration) when its turn comes, as a serial loop would fail.
 * For I/O that runs off the JS thread (sharp decodes on libuv threads).
 */
export async function* inOrderAhead<S, T>(source: AsyncIterable<S>, start: (item: S) => Promise<T>, ahead: number): AsyncGenerator<T> {
  const window: Promise<T>[] = [];
  for await (const item of source) {
    const p = start(item);
    p.catch(() => undefined); // handled: awaited below, in order
    window.push(p);
    if (window.length >= ahead) yield await window.shift()!;
  }
  while (window.length) yield await window.shift()!;
}
