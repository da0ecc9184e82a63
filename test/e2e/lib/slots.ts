// How many CPU-heavy things the lab runs at once: a debootstrap, a provisioning boot or a
// scenario's guest (one emulated CPU) each take a slot, so on 2 cores no more than 2 run and a
// boot's timeout measures the guest, not the queue (CI's image builds once all ran at once,
// and a provisioning boot timed out behind four others).

/**
 * A counting semaphore: run() waits for a free slot; a lower `rank` goes first, equal ranks
 * first come first served (the lab ranks image builds before scenarios, so every image is
 * ready early and the long scenarios of the last image do not start at the end alone).
 */
export class Slots {
  private free: number;
  private readonly waiting: Array<{ rank: number; go: () => void }> = [];

  constructor(count: number) {
    this.free = Math.max(1, count);
  }

  async run<T>(task: () => Promise<T>, rank = 0): Promise<T> {
    const release = await this.take(rank);
    try {
      return await task();
    } finally {
      release();
    }
  }

  /**
   * A slot to hold across several steps (an image build keeps its slot from debootstrap to
   * provisioning boot, so a waiting scenario cannot slip in between); call the result once.
   */
  async take(rank = 0): Promise<() => void> {
    await this.acquire(rank);
    let held = true;
    return () => {
      if (held) this.release();
      held = false;
    };
  }

  private acquire(rank: number): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise((go) => {
      const at = this.waiting.findIndex((w) => w.rank > rank);
      this.waiting.splice(at < 0 ? this.waiting.length : at, 0, { rank, go });
    });
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next.go();
    else this.free++;
  }
}
