import { ISignal } from '@lumino/signaling';
import { useEffect, useReducer, useState } from 'react';

/** Re-render whenever `signal` fires (Lumino signals into React). */
export function useSignal<T>(signal: ISignal<T, any> | null | undefined): void {
  const [, bump] = useReducer((n: number) => n + 1, 0);
  useEffect(() => {
    if (!signal) {
      return;
    }
    const slot = (): void => bump();
    signal.connect(slot);
    return () => {
      signal.disconnect(slot);
    };
  }, [signal]);
}

/** The current time, refreshed every `ms` while `active` (countdowns, elapsed times). */
export function useNow(active: boolean, ms = 1000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!active) {
      return;
    }
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [active, ms]);
  return now;
}
