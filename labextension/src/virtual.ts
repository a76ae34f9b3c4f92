/**
 * The arithmetic of a windowed list with items of different heights (pure, unit-tested):
 * heights measured so far, an estimate for the rest, and which items a viewport needs.
 */

export class HeightCache {
  /** The height of item `key`: measured, else the average of those measured. */
  get(key: number): number {
    return this._heights.get(key) ?? this.estimate;
  }

  has(key: number): boolean {
    return this._heights.has(key);
  }

  /** Record a measurement; returns how much it changed the item's height. */
  set(key: number, height: number): number {
    const before = this.get(key);
    const old = this._heights.get(key);
    if (old !== undefined) {
      this._sum -= old;
    } else {
      this._count++;
    }
    this._heights.set(key, height);
    this._sum += height;
    return height - before;
  }

  get estimate(): number {
    return this._count > 0 ? this._sum / this._count : this.fallback;
  }

  constructor(readonly fallback = 96) {}

  private _heights = new Map<number, number>();
  private _sum = 0;
  private _count = 0;
}

export interface IWindow {
  /** First item to render (inclusive) and last (exclusive). */
  start: number;
  end: number;
  /** Space for the items before `start` and after `end`. */
  before: number;
  after: number;
}

/**
 * The items a viewport at `top` of height `height` shows, plus `overscan` pixels of items on
 * each side (so a scroll step rarely shows a gap).
 */
export function windowFor(
  keys: readonly number[],
  heights: HeightCache,
  top: number,
  height: number,
  overscan: number
): IWindow {
  const from = Math.max(0, top - overscan);
  const to = top + height + overscan;
  let offset = 0;
  let start = keys.length;
  let before = 0;
  let end = keys.length;
  for (let i = 0; i < keys.length; i++) {
    const h = heights.get(keys[i]);
    if (start === keys.length && offset + h > from) {
      start = i;
      before = offset;
    }
    offset += h;
    if (offset >= to) {
      end = i + 1;
      break;
    }
  }
  if (start === keys.length) {
    // past the end (e.g. the list shrank): show the tail
    start = Math.max(0, keys.length - 1);
    before = offset - (keys.length ? heights.get(keys[start]) : 0);
    end = keys.length;
  }
  let after = 0;
  for (let i = end; i < keys.length; i++) {
    after += heights.get(keys[i]);
  }
  return { start, end, before, after };
}

/** The total height of `keys[0..index)`. */
export function offsetOf(
  keys: readonly number[],
  heights: HeightCache,
  index: number
): number {
  let offset = 0;
  for (let i = 0; i < index && i < keys.length; i++) {
    offset += heights.get(keys[i]);
  }
  return offset;
}
