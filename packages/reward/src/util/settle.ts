/**
 * Like Promise.all, but every promise settles first and the error thrown is the first rejection in array order —
 * so the error a user sees for input with several faults does not depend on which task lost a race, and no
 * rejection is left unhandled.
 */
export async function allInOrder<T>(promises: ReadonlyArray<Promise<T>>): Promise<T[]> {
  const settled = await Promise.allSettled(promises);
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<T>).value);
}
