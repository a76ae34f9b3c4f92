/**
 * A file diff: a header with the path, the +/− counts and a Unified / Side by side toggle.
 * The unified view renders the parsed lines itself (syntax highlighted when JupyterLab knows
 * the file's language); the side-by-side view is CodeMirror's read-only `MergeView`.
 */
import { MergeView } from '@codemirror/merge';
import { EditorState, Extension } from '@codemirror/state';
import { EditorView, lineNumbers } from '@codemirror/view';
import { highlightTree, tagHighlighter, tags } from '@lezer/highlight';
import React, { useEffect, useMemo, useRef, useState } from 'react';

import { diffSides, IDiffFile, IDiffHunk, IDiffLine, parseDiff } from '../diff';
import { useAgents } from './context';

export type DiffMode = 'unified' | 'split';

/** Rows drawn at first in the unified view; the rest behind a "Show all" button. */
const MAX_ROWS = 1500;
/** Beyond this many characters a hunk side is not highlighted (the parse would cost). */
const MAX_HIGHLIGHT_CHARS = 200_000;

export function DiffView(props: {
  diff: string;
  path?: string;
  mode?: DiffMode;
}): JSX.Element {
  const { trans } = useAgents();
  const parsed = useMemo(() => parseDiff(props.diff), [props.diff]);
  const [mode, setMode] = useState<DiffMode>(props.mode ?? 'unified');
  useEffect(() => {
    if (props.mode) {
      setMode(props.mode);
    }
  }, [props.mode]);

  // the diff's own header names the file relative to the workspace: shorter than a tool's path
  const path = parsed.files[0]?.path || props.path || '';
  const textual = parsed.files.some(f => !f.binary && f.hunks.length > 0);
  const empty = parsed.files.length === 0;

  return (
    <div className="jp-CoderAgents-diff" data-mode={mode}>
      <div className="jp-CoderAgents-diffHeader">
        {path && (
          <span className="jp-CoderAgents-diffPath" title={path}>
            {path}
          </span>
        )}
        <DiffCounts additions={parsed.additions} deletions={parsed.deletions} />
        {textual && (
          <span
            className="jp-CoderAgents-diffToggle"
            role="group"
            aria-label={trans.__('Diff layout')}
          >
            <button
              type="button"
              className="jp-CoderAgents-diffToggleButton"
              aria-pressed={mode === 'unified'}
              onClick={() => setMode('unified')}
            >
              {trans.__('Unified')}
            </button>
            <button
              type="button"
              className="jp-CoderAgents-diffToggleButton"
              aria-pressed={mode === 'split'}
              onClick={() => setMode('split')}
            >
              {trans.__('Side by side')}
            </button>
          </span>
        )}
      </div>
      {empty ? (
        <div className="jp-CoderAgents-diffSummary">
          {props.diff.trim()
            ? props.diff.trim()
            : trans.__('No changes in the content.')}
        </div>
      ) : (
        parsed.files.map((file, i) => (
          <FileDiff
            key={`${i}:${file.path}`}
            file={file}
            mode={mode}
            showPath={parsed.files.length > 1}
          />
        ))
      )}
    </div>
  );
}

/** The `+N −M` counts of a diff. */
export function DiffCounts(props: {
  additions: number;
  deletions: number;
}): JSX.Element {
  const { trans } = useAgents();
  return (
    <span
      className="jp-CoderAgents-diffCounts"
      title={trans.__(
        '%1 lines added, %2 lines removed',
        props.additions,
        props.deletions
      )}
    >
      <span className="jp-CoderAgents-diffAdded">+{props.additions}</span>{' '}
      <span className="jp-CoderAgents-diffRemoved">−{props.deletions}</span>
    </span>
  );
}

function FileDiff(props: {
  file: IDiffFile;
  mode: DiffMode;
  showPath: boolean;
}): JSX.Element {
  const { file } = props;
  const { trans } = useAgents();
  const language = useLanguage(file.path);
  let body: JSX.Element;
  if (file.binary || file.hunks.length === 0) {
    body = (
      <div className="jp-CoderAgents-diffSummary">
        {file.summary ?? trans.__('No changes in the content.')}
      </div>
    );
  } else if (props.mode === 'split') {
    body = <SplitDiff file={file} language={language} />;
  } else {
    body = <UnifiedDiff file={file} language={language} />;
  }
  return (
    <div className="jp-CoderAgents-diffFile" data-status={file.status}>
      {props.showPath && (
        <div className="jp-CoderAgents-diffFilePath">{file.path}</div>
      )}
      {body}
    </div>
  );
}

// ----- the unified view -----

interface ISegment {
  text: string;
  cls: string | null;
}

function UnifiedDiff(props: {
  file: IDiffFile;
  language: ILanguageParts | null;
}): JSX.Element {
  const { trans } = useAgents();
  const [all, setAll] = useState(false);
  const { hunks } = props.file;
  const parser = props.language?.parser ?? null;
  const highlighted = useMemo(
    () => (parser ? hunks.map(h => highlightHunk(h, parser)) : null),
    [hunks, parser]
  );

  const total = hunks.reduce((n, h) => n + h.lines.length + 1, 0);
  let budget = all ? Infinity : MAX_ROWS;
  const rows: JSX.Element[] = [];
  hunks.forEach((hunk, h) => {
    if (budget <= 0) {
      return;
    }
    if (hunk.header) {
      rows.push(
        <tr key={`h${h}`} className="jp-CoderAgents-diffLine" data-kind="hunk">
          <td className="jp-CoderAgents-diffGutter" aria-hidden="true" />
          <td className="jp-CoderAgents-diffGutter" aria-hidden="true" />
          <td className="jp-CoderAgents-diffCode">{hunk.header}</td>
        </tr>
      );
      budget--;
    }
    hunk.lines.forEach((line, l) => {
      if (budget <= 0) {
        return;
      }
      budget--;
      rows.push(
        <DiffRow
          key={`${h}:${l}`}
          line={line}
          segments={highlighted?.[h][l] ?? null}
        />
      );
      if (line.noNewline) {
        rows.push(
          <tr
            key={`${h}:${l}:eol`}
            className="jp-CoderAgents-diffLine"
            data-kind="note"
          >
            <td className="jp-CoderAgents-diffGutter" aria-hidden="true" />
            <td className="jp-CoderAgents-diffGutter" aria-hidden="true" />
            <td className="jp-CoderAgents-diffCode">
              {trans.__('\\ No newline at end of file')}
            </td>
          </tr>
        );
      }
    });
  });

  return (
    <div className="jp-CoderAgents-diffScroll">
      <table className="jp-CoderAgents-diffTable">
        <tbody>{rows}</tbody>
      </table>
      {!all && total > MAX_ROWS && (
        <button
          type="button"
          className="jp-CoderAgents-diffMore"
          onClick={() => setAll(true)}
        >
          {trans.__('Show all %1 lines', total)}
        </button>
      )}
    </div>
  );
}

const MARKERS: Record<IDiffLine['kind'], string> = {
  add: '+',
  del: '-',
  ctx: ' ',
  note: ' '
};

function DiffRow(props: {
  line: IDiffLine;
  segments: ISegment[] | null;
}): JSX.Element {
  const { line, segments } = props;
  return (
    <tr className="jp-CoderAgents-diffLine" data-kind={line.kind}>
      <td className="jp-CoderAgents-diffGutter" data-side="old">
        {line.oldLine ?? ''}
      </td>
      <td className="jp-CoderAgents-diffGutter" data-side="new">
        {line.newLine ?? ''}
      </td>
      <td className="jp-CoderAgents-diffCode">
        <span className="jp-CoderAgents-diffMarker" aria-hidden="true">
          {MARKERS[line.kind]}
        </span>
        {segments
          ? segments.map((s, i) =>
              s.cls ? (
                <span key={i} className={s.cls}>
                  {s.text}
                </span>
              ) : (
                <React.Fragment key={i}>{s.text}</React.Fragment>
              )
            )
          : line.text}
      </td>
    </tr>
  );
}

// ----- syntax highlighting (optional: only with a language from `languageFor`) -----

interface IParser {
  parse(input: string): Parameters<typeof highlightTree>[0];
}

interface ILanguageParts {
  /** What to give CodeMirror (a LanguageSupport or Language). */
  extension: Extension | null;
  /** The Lezer parser, for highlighting the unified view. */
  parser: IParser | null;
}

/** Our own class names (theme colours in tools.css), not CodeMirror's `tok-*` ones. */
const highlighter = tagHighlighter([
  { tag: tags.keyword, class: 'jp-CoderAgents-tok-keyword' },
  {
    tag: [tags.controlKeyword, tags.moduleKeyword],
    class: 'jp-CoderAgents-tok-keyword'
  },
  {
    tag: [tags.string, tags.special(tags.string), tags.regexp],
    class: 'jp-CoderAgents-tok-string'
  },
  { tag: tags.comment, class: 'jp-CoderAgents-tok-comment' },
  {
    tag: [tags.number, tags.integer, tags.float],
    class: 'jp-CoderAgents-tok-number'
  },
  { tag: [tags.bool, tags.null, tags.atom], class: 'jp-CoderAgents-tok-atom' },
  {
    tag: [
      tags.definition(tags.variableName),
      tags.function(tags.definition(tags.variableName))
    ],
    class: 'jp-CoderAgents-tok-def'
  },
  {
    tag: [tags.className, tags.typeName, tags.namespace],
    class: 'jp-CoderAgents-tok-type'
  },
  {
    tag: [tags.propertyName, tags.attributeName],
    class: 'jp-CoderAgents-tok-property'
  },
  {
    tag: [tags.operator, tags.operatorKeyword],
    class: 'jp-CoderAgents-tok-operator'
  },
  {
    tag: [tags.meta, tags.processingInstruction],
    class: 'jp-CoderAgents-tok-meta'
  },
  { tag: [tags.tagName], class: 'jp-CoderAgents-tok-tag' },
  { tag: [tags.heading, tags.strong], class: 'jp-CoderAgents-tok-heading' },
  { tag: [tags.link, tags.url], class: 'jp-CoderAgents-tok-link' },
  { tag: tags.invalid, class: 'jp-CoderAgents-tok-invalid' }
]);

/** A parser and an extension from whatever `languageFor` answered. */
function languageParts(value: unknown): ILanguageParts | null {
  if (value === null || typeof value !== 'object') {
    return null;
  }
  const v = value as any;
  // A LanguageSupport has `language` (and extra extensions in `support`); JupyterLab's
  // IEditorLanguage keeps its LanguageSupport in `support`; else a Language itself.
  const support = v.language ? v : v.support?.language ? v.support : v;
  const language = support.language ?? support;
  const parser =
    language && typeof language.parser?.parse === 'function'
      ? (language.parser as IParser)
      : null;
  const extension =
    support && (support.extension !== undefined || Array.isArray(support))
      ? (support as Extension)
      : null;
  if (parser === null && extension === null) {
    return null;
  }
  return { extension, parser };
}

/**
 * The language of `path`, as `languageFor` answers it. The answer is kept as is (JupyterLab
 * hands out one object per language), so a context rebuilt with a new `languageFor` at each
 * render does not re-highlight or rebuild the editors when the answer is the same.
 */
function useLanguage(path: string): ILanguageParts | null {
  const { languageFor } = useAgents();
  const [value, setValue] = useState<unknown>(null);
  useEffect(() => {
    if (!path || !languageFor) {
      setValue(null);
      return;
    }
    let cancelled = false;
    languageFor(path).then(
      found => {
        if (!cancelled) {
          setValue(found ?? null);
        }
      },
      () => undefined // no highlighting, then
    );
    return () => {
      cancelled = true;
    };
  }, [path, languageFor]);
  return useMemo(() => languageParts(value), [value]);
}

/** `items`, with the identity of the previous render's array while the elements are the same. */
function useStableList<T>(items: readonly T[] | undefined): readonly T[] {
  const last = useRef<readonly T[]>([]);
  const next = items ?? [];
  const same =
    next.length === last.current.length &&
    next.every((item, i) => item === last.current[i]);
  if (!same) {
    last.current = next;
  }
  return last.current;
}

/** Split `text` into lines of styled segments. */
function highlightText(text: string, parser: IParser): ISegment[][] {
  const marks: { from: number; to: number; cls: string }[] = [];
  highlightTree(parser.parse(text), highlighter, (from, to, cls) => {
    marks.push({ from, to, cls });
  });
  const out: ISegment[][] = [];
  let offset = 0;
  let m = 0;
  for (const line of text.split('\n')) {
    const start = offset;
    const end = offset + line.length;
    const segments: ISegment[] = [];
    let pos = start;
    while (m < marks.length && marks[m].to <= start) {
      m++;
    }
    for (let k = m; k < marks.length && marks[k].from < end; k++) {
      const from = Math.max(marks[k].from, start);
      const to = Math.min(marks[k].to, end);
      if (from > pos) {
        segments.push({ text: text.slice(pos, from), cls: null });
      }
      if (to > from) {
        segments.push({ text: text.slice(from, to), cls: marks[k].cls });
      }
      pos = Math.max(pos, to);
    }
    if (pos < end) {
      segments.push({ text: text.slice(pos, end), cls: null });
    }
    out.push(segments);
    offset = end + 1;
  }
  return out;
}

/** Highlight a hunk's old and new sides separately, so each parses as real code. */
function highlightHunk(
  hunk: IDiffHunk,
  parser: IParser
): (ISegment[] | null)[] {
  const oldIdx: number[] = [];
  const newIdx: number[] = [];
  hunk.lines.forEach((l, i) => {
    if (l.kind === 'ctx' || l.kind === 'del') {
      oldIdx.push(i);
    }
    if (l.kind === 'ctx' || l.kind === 'add') {
      newIdx.push(i);
    }
  });
  const out: (ISegment[] | null)[] = hunk.lines.map(() => null);
  const side = (indexes: number[]): void => {
    const text = indexes.map(i => hunk.lines[i].text).join('\n');
    if (text.length > MAX_HIGHLIGHT_CHARS) {
      return;
    }
    try {
      const lines = highlightText(text, parser);
      indexes.forEach((i, k) => {
        out[i] = lines[k] ?? null;
      });
    } catch {
      // a parser that fails leaves the lines plain
    }
  };
  side(oldIdx);
  side(newIdx); // context lines end up with the new side's highlighting
  return out;
}

// ----- the side-by-side view -----

function SplitDiff(props: {
  file: IDiffFile;
  language: ILanguageParts | null;
}): JSX.Element {
  const { trans, editorTheme: theme } = useAgents();
  const editorTheme = useStableList(theme as Extension[] | undefined);
  const host = useRef<HTMLDivElement>(null);
  const [failed, setFailed] = useState(false);
  const sides = useMemo(() => diffSides(props.file), [props.file]);
  const languageExtension = props.language?.extension ?? null;

  useEffect(() => {
    const parent = host.current;
    if (parent === null) {
      return;
    }
    let view: MergeView | null = null;
    try {
      const common: Extension[] = [
        EditorView.editable.of(false),
        EditorState.readOnly.of(true),
        ...editorTheme,
        ...(languageExtension ? [languageExtension] : [])
      ];
      const numbers = (map: (number | null)[]): Extension =>
        lineNumbers({
          formatNumber: (n: number) => {
            const real = map[n - 1];
            return real === null || real === undefined ? '' : String(real);
          }
        });
      view = new MergeView({
        a: {
          doc: sides.original,
          extensions: [...common, numbers(sides.originalLines)]
        },
        b: {
          doc: sides.modified,
          extensions: [...common, numbers(sides.modifiedLines)]
        },
        parent,
        highlightChanges: true,
        gutter: true
      });
    } catch (error) {
      console.warn('The side-by-side diff could not be shown:', error);
      setFailed(true);
    }
    return () => {
      try {
        view?.destroy();
      } catch {
        // already gone with its DOM
      }
    };
  }, [sides, languageExtension, editorTheme]);

  if (failed) {
    return (
      <div className="jp-CoderAgents-diffFallback">
        <div className="jp-CoderAgents-diffSummary">
          {trans.__('The side-by-side view is not available here.')}
        </div>
        <UnifiedDiff file={props.file} language={props.language} />
      </div>
    );
  }
  return (
    <div
      className="jp-CoderAgents-mergeView"
      ref={host}
      aria-label={trans.__('Side-by-side diff')}
    />
  );
}
