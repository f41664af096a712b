// Buffers handed back and taken again instead of allocated per use. On this kind of host (a VM)
// the first touch of fresh memory is what a restore's byte copies cost: 128 MiB copied into
// fresh 1 MiB buffers took node about 1.3 s (page faults, and the allocator giving the pages
// back between uses), into the same few buffers 0.01 s (issue 13).

/** Spare buffers of one size, at most `keep` of them held while unused. */
export class BufferPool {
  private readonly spare: Buffer[] = [];

  constructor(
    readonly size: number,
    private readonly keep: number
  ) {}

  take(): Buffer {
    return this.spare.pop() ?? Buffer.allocUnsafeSlow(this.size);
  }

  /** `b` must be one of this pool's and no longer read or written by anyone. */
  give(b: Buffer): void {
    if (b.length === this.size && this.spare.length < this.keep) this.spare.push(b);
  }
}
