import { HeightCache, offsetOf, windowFor } from '../src/virtual';

const KEYS = Array.from({ length: 5000 }, (_, i) => i + 1);

describe('the window of a long list', () => {
  it('estimates unmeasured items by the average of those measured', () => {
    const heights = new HeightCache(100);
    expect(heights.get(1)).toBe(100);
    expect(heights.set(1, 40)).toBe(-60);
    heights.set(2, 60);
    expect(heights.get(3)).toBe(50);
    expect(heights.set(1, 50)).toBe(10);
    expect(heights.estimate).toBe(55);
  });

  it('mounts only what the viewport and its overscan need', () => {
    const heights = new HeightCache(100);
    const win = windowFor(KEYS, heights, 250_000, 800, 400);
    // 100 px each: from 249,600 to 251,200 -> items 2496 .. 2512
    expect(win.start).toBe(2496);
    expect(win.end).toBe(2512);
    expect(win.before).toBe(249_600);
    expect(win.before + (win.end - win.start) * 100 + win.after).toBe(500_000);
  });

  it('starts at the top and ends at the bottom', () => {
    const heights = new HeightCache(100);
    expect(windowFor(KEYS, heights, 0, 800, 400)).toMatchObject({
      start: 0,
      before: 0
    });
    const bottom = windowFor(KEYS, heights, 500_000 - 800, 800, 400);
    expect(bottom.end).toBe(5000);
    expect(bottom.after).toBe(0);
  });

  it('follows measured heights', () => {
    const heights = new HeightCache(100);
    heights.set(1, 1000); // a long first message
    expect(offsetOf(KEYS, heights, 2)).toBe(1000 + heights.get(2));
    const win = windowFor(KEYS, heights, 0, 500, 0);
    expect([win.start, win.end]).toEqual([0, 1]);
  });

  it('copes with an empty list and a viewport past the end', () => {
    const heights = new HeightCache();
    expect(windowFor([], heights, 0, 800, 400)).toMatchObject({
      start: 0,
      end: 0
    });
    const past = windowFor([1, 2, 3], heights, 10_000, 800, 0);
    expect(past.end).toBe(3);
    expect(past.start).toBe(2);
  });
});
