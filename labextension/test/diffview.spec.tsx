import { python } from '@codemirror/lang-python';
import React, { act } from 'react';
import { createRoot, Root } from 'react-dom/client';

import { DiffView } from '../src/components/DiffView';
import {
  AgentsContext,
  fallbackTrans,
  IAgentsContext
} from '../src/components/context';

// @jupyterlab/* packages ship ES modules, which Jest does not transform (node_modules is
// ignored): stand in for the one the context imports at run time.
jest.mock('@jupyterlab/translation', () => {
  const format = (text: string, args: unknown[]): string =>
    text.replace(/%(\d+)/g, (m, n) => String(args[Number(n) - 1] ?? m));
  const bundle = {
    __: (text: string, ...args: unknown[]) => format(text, args),
    _n: (one: string, many: string, n: number, ...args: unknown[]) =>
      format(n === 1 ? one : many, [n, ...args]),
    _p: (_context: string, text: string, ...args: unknown[]) =>
      format(text, args)
  };
  return { nullTranslator: { load: () => bundle } };
});

// Tell React this is a test environment where act() is expected.
(globalThis as any).IS_REACT_ACT_ENVIRONMENT = true;

const DIFF =
  '--- a/src/x.py\n+++ b/src/x.py\n@@ -1,5 +1,5 @@\n line 1\n-line 2\n+line two\n' +
  ' line 3\n line 4\n line 5\n@@ -13,6 +13,7 @@\n line 13\n line 14\n line 15\n+extra\n' +
  ' line 16\n line 17\n line 18\n';
const BINARY =
  'Binary or large files a/data.bin and b/data.bin differ (1.0 KB -> 2.0 KB; content not kept)\n';

const context: IAgentsContext = {
  service: {} as any,
  rendermime: null,
  trans: fallbackTrans,
  openChat: () => undefined
};

let host: HTMLDivElement;
let root: Root;

beforeEach(() => {
  host = document.createElement('div');
  document.body.appendChild(host);
  root = createRoot(host);
});

afterEach(() => {
  act(() => root.unmount());
  host.remove();
});

function render(element: JSX.Element): void {
  act(() => {
    root.render(
      <AgentsContext.Provider value={context}>{element}</AgentsContext.Provider>
    );
  });
}

function rows(kind: string): HTMLElement[] {
  return Array.from(
    host.querySelectorAll<HTMLElement>(
      `.jp-CoderAgents-diffLine[data-kind="${kind}"]`
    )
  );
}

function button(label: string): HTMLButtonElement {
  const found = Array.from(host.querySelectorAll('button')).find(
    b => b.textContent === label
  );
  if (!found) {
    throw new Error(`no button ${label}`);
  }
  return found;
}

describe('DiffView', () => {
  it('renders the unified view with counts and line numbers', () => {
    render(<DiffView diff={DIFF} path="src/x.py" />);
    const diff = host.querySelector('.jp-CoderAgents-diff');
    expect(diff).not.toBeNull();
    expect(host.querySelector('.jp-CoderAgents-diffPath')?.textContent).toBe(
      'src/x.py'
    );
    expect(host.querySelector('.jp-CoderAgents-diffAdded')?.textContent).toBe(
      '+2'
    );
    expect(host.querySelector('.jp-CoderAgents-diffRemoved')?.textContent).toBe(
      '−1'
    );

    const added = rows('add');
    expect(
      added.map(r => r.querySelector('.jp-CoderAgents-diffCode')?.textContent)
    ).toEqual(['+line two', '+extra']);
    const removed = rows('del');
    expect(removed).toHaveLength(1);
    expect(removed[0].textContent).toContain('line 2');
    const gutters = removed[0].querySelectorAll('.jp-CoderAgents-diffGutter');
    expect(gutters[0].textContent).toBe('2');
    expect(gutters[1].textContent).toBe('');
    expect(rows('hunk')).toHaveLength(2);
    expect(rows('ctx')).toHaveLength(10);

    expect(button('Unified').getAttribute('aria-pressed')).toBe('true');
    expect(button('Side by side').getAttribute('aria-pressed')).toBe('false');
  });

  it('switches to side by side without throwing', () => {
    const warn = jest
      .spyOn(console, 'warn')
      .mockImplementation(() => undefined);
    const error = jest
      .spyOn(console, 'error')
      .mockImplementation(() => undefined);
    try {
      render(<DiffView diff={DIFF} path="src/x.py" />);
      act(() => {
        button('Side by side').click();
      });
      expect(button('Side by side').getAttribute('aria-pressed')).toBe('true');
      expect(button('Unified').getAttribute('aria-pressed')).toBe('false');
      const merge = host.querySelector('.jp-CoderAgents-mergeView');
      if (merge !== null) {
        // CodeMirror runs in jsdom: two read-only editors, hunks split by the marker line.
        const editors = merge.querySelectorAll('.cm-editor');
        expect(editors).toHaveLength(2);
        expect(editors[0].textContent).toContain('line 2');
        expect(editors[1].textContent).toContain('line two');
        expect(editors[1].textContent).toContain('⋯');
        expect(merge.querySelector('[contenteditable="true"]')).toBeNull();
        expect(rows('add')).toHaveLength(0);
      } else {
        // If it ever cannot, the unified rows stay as the fallback.
        expect(
          host.querySelector('.jp-CoderAgents-diffFallback')
        ).not.toBeNull();
        expect(rows('add')).toHaveLength(2);
      }
      act(() => {
        button('Unified').click();
      });
      expect(host.querySelector('.jp-CoderAgents-mergeView')).toBeNull();
      expect(host.querySelector('.cm-editor')).toBeNull();
      expect(rows('add')).toHaveLength(2);
    } finally {
      warn.mockRestore();
      error.mockRestore();
    }
  });

  it('starts side by side when asked', () => {
    const error = jest
      .spyOn(console, 'error')
      .mockImplementation(() => undefined);
    try {
      render(<DiffView diff={DIFF} mode="split" />);
      expect(button('Side by side').getAttribute('aria-pressed')).toBe('true');
      expect(host.querySelector('.jp-CoderAgents-diffPath')?.textContent).toBe(
        'src/x.py'
      );
    } finally {
      error.mockRestore();
    }
  });

  it('highlights the code when the language is known', async () => {
    const diff =
      '--- a/m.py\n+++ b/m.py\n@@ -1,2 +1,2 @@\n def f():\n-    return 1\n+    return "one"\n';
    const withLanguage: IAgentsContext = {
      ...context,
      languageFor: () => Promise.resolve(python())
    };
    await act(async () => {
      root.render(
        <AgentsContext.Provider value={withLanguage}>
          <DiffView diff={diff} path="m.py" />
        </AgentsContext.Provider>
      );
    });
    await act(async () => {
      await Promise.resolve(); // the language arrives
    });
    const added = rows('add')[0];
    expect(
      added.querySelector('.jp-CoderAgents-tok-keyword')?.textContent
    ).toBe('return');
    expect(added.querySelector('.jp-CoderAgents-tok-string')?.textContent).toBe(
      '"one"'
    );
    expect(added.querySelector('.jp-CoderAgents-diffCode')?.textContent).toBe(
      '+    return "one"'
    );
    expect(
      rows('ctx')[0].querySelector('.jp-CoderAgents-tok-keyword')?.textContent
    ).toBe('def');
  });

  it('shows a one-line summary for a binary change', () => {
    render(<DiffView diff={BINARY} />);
    expect(
      host.querySelector('.jp-CoderAgents-diffSummary')?.textContent
    ).toContain('content not kept');
    expect(host.querySelector('.jp-CoderAgents-diffLine')).toBeNull();
    expect(host.querySelector('.jp-CoderAgents-diffToggle')).toBeNull();
    expect(host.querySelector('.jp-CoderAgents-diffPath')?.textContent).toBe(
      'data.bin'
    );
  });

  it('marks a missing final newline', () => {
    render(
      <DiffView
        diff={
          '--- a/f\n+++ b/f\n@@ -1 +1 @@\n-b\n\\ No newline at end of file\n+c\n'
        }
      />
    );
    expect(rows('note')).toHaveLength(1);
    expect(rows('note')[0].textContent).toContain('No newline at end of file');
  });

  it('says so when there is no change', () => {
    render(<DiffView diff="" path="same.txt" />);
    expect(host.querySelector('.jp-CoderAgents-diffSummary')?.textContent).toBe(
      'No changes in the content.'
    );
  });
});
