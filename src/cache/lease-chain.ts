// The host's lease, then the fleet's: processes of one host queue on their lock file (no network), and only the one
// holding it asks the remote server, so a host sends one lease request per key however many processes it runs.
import type { Lease, LeaseAttempt, LeaseProvider } from './single-flight.js';

export class LeaseChain implements LeaseProvider {
  readonly name: string;

  constructor(
    private readonly local: LeaseProvider,
    private readonly fleet: LeaseProvider,
  ) {
    this.name = `${local.name}+${fleet.name}`;
  }

  async tryAcquire(key: string): Promise<LeaseAttempt> {
    const mine = await this.local.tryAcquire(key);
    if (!('lease' in mine)) {
      // No local lease to be had (e.g. an unwritable lock dir): the fleet's alone.
      return 'unavailable' in mine ? this.fleet.tryAcquire(key) : mine;
    }
    const theirs = await this.fleet.tryAcquire(key);
    if ('lease' in theirs) return { lease: both(mine.lease, theirs.lease) };
    if ('unavailable' in theirs) return mine; // the server is away: one compile per host still holds
    // Another host compiles: let this host's other processes wait on the fleet too, not on us.
    await mine.lease.release();
    return theirs;
  }
}

function both(a: Lease, b: Lease): Lease {
  return {
    release: async () => {
      try {
        await b.release();
      } finally {
        await a.release();
      }
    },
  };
}
