/**
 * One in-memory budget for large request bodies (issue 15 M3). A body is held
 * whole while it is parsed and handled (as bytes, then as a string, then as
 * parsed values), so N concurrent bodies of the route limit cost N times that
 * limit several times over; without a bound, 120 hostile 23 MB posts took a
 * node to 4 GB. Bodies up to `smallBytes` are never counted: health, login
 * and most calls never wait on this. A larger body reserves its declared
 * length (a chunked one its route limit) before a byte is read, and gives it
 * back when its answer is done; when the budget is spent the request is
 * refused at once (503 KH_BUSY, Retry-After) instead of queued, so memory,
 * not latency, is what is bounded. One address may hold at most a quarter of
 * the budget, so a single client cannot take all of it; a body larger than
 * that share (or than the budget) is admitted only when its address (or
 * everyone) holds nothing.
 */
export class BodyBudget {
  readonly #total: number;
  readonly #perAddress: number;
  readonly #held = new Map<string, number>();
  #inUse = 0;

  constructor(readonly smallBytes: number, totalBytes: number) {
    this.#total = totalBytes;
    this.#perAddress = Math.max(smallBytes, Math.floor(totalBytes / 4));
  }

  /** Bytes currently reserved (metrics, tests). */
  get inUse(): number {
    return this.#inUse;
  }

  /** Reserves `bytes` for `address`; returns the release function, or undefined when the budget cannot take it now. */
  reserve(address: string, bytes: number): (() => void) | undefined {
    if (bytes <= this.smallBytes) return () => undefined;
    const mine = this.#held.get(address) ?? 0;
    if (this.#inUse > 0 && this.#inUse + bytes > this.#total) return undefined;
    if (mine > 0 && mine + bytes > this.#perAddress) return undefined;
    this.#inUse += bytes;
    this.#held.set(address, mine + bytes);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#inUse -= bytes;
      const left = (this.#held.get(address) ?? bytes) - bytes;
      if (left > 0) this.#held.set(address, left);
      else this.#held.delete(address);
    };
  }
}
