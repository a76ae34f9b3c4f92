/**
 * The first message of an "Ask agent" chat: the cell (or selection) and, for a failed cell,
 * its error, fenced so the model reads them as code. The user adds the question.
 */

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*[A-Za-z]/g;
const MAX_SOURCE = 20_000;

function fence(text: string, lang = ''): string {
  const longest = Math.max(2, ...(text.match(/`+/g) ?? []).map(t => t.length));
  const ticks = '`'.repeat(longest + 1);
  return `${ticks}${lang}\n${text}\n${ticks}`;
}

function clip(text: string): string {
  return text.length > MAX_SOURCE
    ? `${text.slice(0, MAX_SOURCE)}\n… (${text.length - MAX_SOURCE} more characters)`
    : text;
}

function source(value: unknown): string {
  return Array.isArray(value) ? value.join('') : String(value ?? '');
}

/** The error outputs of a notebook cell (nbformat JSON), as plain text. */
export function cellErrors(cell: Record<string, any>): string[] {
  const outputs: any[] = Array.isArray(cell.outputs) ? cell.outputs : [];
  return outputs
    .filter(o => o?.output_type === 'error')
    .map(o => {
      const trace = Array.isArray(o.traceback) ? o.traceback.join('\n') : '';
      return (trace || `${o.ename}: ${o.evalue}`).replace(ANSI, '');
    });
}

export function cellPrompt(path: string, cell: Record<string, any>): string {
  const kind = cell.cell_type === 'markdown' ? 'markdown' : 'python';
  const parts = [
    `About this ${cell.cell_type ?? 'code'} cell of \`${path}\`:`,
    fence(clip(source(cell.source)), kind)
  ];
  const errors = cellErrors(cell);
  if (errors.length > 0) {
    parts.push('It failed with:', fence(clip(errors.join('\n\n'))));
  }
  parts.push('');
  return parts.join('\n\n');
}

export function selectionPrompt(path: string, text: string): string {
  const ext = path.split('.').pop() ?? '';
  return [
    path ? `About this code from \`${path}\`:` : 'About this code:',
    fence(clip(text), ext),
    ''
  ].join('\n\n');
}
