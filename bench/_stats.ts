// Small statistics helpers for the benchmark: percentiles of samples and medians across rounds.

/** The p-th percentile (0-100) of `values` by nearest rank; NaN when there are none. */
export function percentile(values: ArrayLike<number>, p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/** The median of the finite values (NaN when none), used to summarise the rounds of one figure. */
export function median(values: number[]): number {
  const finite = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (finite.length === 0) return Number.NaN;
  const mid = Math.floor(finite.length / 2);
  return finite.length % 2 === 1 ? finite[mid] : (finite[mid - 1] + finite[mid]) / 2;
}

/** A growable list of float samples that does not box every number. */
export class Samples {
  private data = new Float64Array(1024);
  length = 0;

  /** Appends one sample. */
  push(value: number): void {
    if (this.length === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = value;
  }

  /** The samples recorded so far. */
  values(): Float64Array {
    return this.data.subarray(0, this.length);
  }
}
