// A remote tier's latency budget: after `failures` consecutive failures or timeouts the breaker opens and the tier
// answers at once (a miss, a skipped write) for `cooldownMs`; then one call probes, and success closes it again. A
// dead or slow server so costs a caller at most one deadline, then nothing until it is back.
export type BreakerState = 'closed' | 'open' | 'half-open';

export class CircuitBreaker {
  private consecutive = 0;
  private openedAt = 0;
  private probing = false;
  state: BreakerState = 'closed';
  /** How many times it opened. */
  trips = 0;

  constructor(
    private readonly failures: number,
    private readonly cooldownMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether a call may go to the server now (in half-open state: one probe at a time). */
  allow(): boolean {
    if (this.state === 'closed') return true;
    if (this.state === 'open') {
      if (this.now() - this.openedAt < this.cooldownMs) return false;
      this.state = 'half-open';
    }
    if (this.probing) return false;
    this.probing = true;
    return true;
  }

  success(): void {
    this.consecutive = 0;
    this.probing = false;
    this.state = 'closed';
  }

  /**
   * Counts a failure; true when this one opened the breaker (a trip). Calls already in flight when it opened fail
   * after it and return false: one trip is counted once, however many calls it cut short.
   */
  failure(): boolean {
    this.probing = false;
    this.consecutive++;
    if (this.state === 'open') return false;
    if (this.state === 'half-open' || this.consecutive >= this.failures) {
      this.trips++;
      this.state = 'open';
      this.openedAt = this.now();
      return true;
    }
    return false;
  }
}
