/** Small formatters shared by the views (no JupyterLab imports: unit-testable). */
import { IUsage } from './types';

export function formatTokens(n: number): string {
  if (n < 1000) {
    return String(n);
  }
  if (n < 1_000_000) {
    return `${(n / 1000).toFixed(n < 10_000 ? 1 : 0)}k`;
  }
  return `${(n / 1_000_000).toFixed(1)}M`;
}

/** US dollars from micro-dollars: "$0.0042", "$1.27". */
export function formatCost(micros: number | undefined): string {
  const usd = (micros ?? 0) / 1_000_000;
  if (usd === 0) {
    return '$0';
  }
  return usd < 0.01 ? `$${usd.toFixed(4)}` : `$${usd.toFixed(2)}`;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) {
    return `${Math.round(ms)} ms`;
  }
  const s = ms / 1000;
  if (s < 60) {
    return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  }
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s - m * 60)} s`;
}

export function totalTokens(usage: IUsage | null | undefined): number {
  if (!usage) {
    return 0;
  }
  return (
    (usage.input_tokens ?? 0) +
    (usage.output_tokens ?? 0) +
    (usage.cache_read_tokens ?? 0) +
    (usage.cache_write_tokens ?? 0)
  );
}

/** Tokens a call put in the context window: all it read. */
export function contextTokens(usage: IUsage | null | undefined): number {
  if (!usage) {
    return 0;
  }
  return (
    (usage.input_tokens ?? 0) +
    (usage.cache_read_tokens ?? 0) +
    (usage.cache_write_tokens ?? 0)
  );
}

export function relativeTime(iso: string, now = Date.now()): string {
  const then = Date.parse(
    iso.endsWith('Z') || iso.includes('+') ? iso : `${iso}Z`
  );
  if (Number.isNaN(then)) {
    return '';
  }
  const s = Math.max(0, Math.round((now - then) / 1000));
  if (s < 60) {
    return 'just now';
  }
  if (s < 3600) {
    return `${Math.floor(s / 60)} min ago`;
  }
  if (s < 86400) {
    return `${Math.floor(s / 3600)} h ago`;
  }
  return new Date(then).toLocaleDateString();
}
