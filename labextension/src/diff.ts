/**
 * Unified diffs as the server writes them (Python difflib with git-style `a/` and `b/`
 * labels, see `tools/textedit.py` and `db/changes.py`), parsed into files, hunks and lines.
 *
 * Pure functions, no DOM: unit-tested on their own. The parser is lenient: a diff cut in the
 * middle to fit a size limit (`[... truncated N bytes of M ...]`) keeps what can be read, and
 * the lines after the cut lose their numbers until the next hunk header.
 */

/** `note`: a line that is not part of either file (a truncation marker, stray text). */
export type DiffLineKind = 'add' | 'del' | 'ctx' | 'note';

export interface IDiffLine {
  kind: DiffLineKind;
  /** The line without its `+`/`-`/` ` prefix (and without a trailing `\r`). */
  text: string;
  /** Number in the old file (`del`, `ctx`), null when unknown or not there. */
  oldLine: number | null;
  /** Number in the new file (`add`, `ctx`), null when unknown or not there. */
  newLine: number | null;
  /** Followed by `\ No newline at end of file`. */
  noNewline?: boolean;
}

export interface IDiffHunk {
  /** The `@@ -a,b +c,d @@` line as written (empty for lines that had no header). */
  header: string;
  oldStart: number;
  oldCount: number;
  newStart: number;
  newCount: number;
  /** Text after the closing `@@` (a function name, with git). */
  section: string;
  lines: IDiffLine[];
}

export type DiffFileStatus = 'added' | 'deleted' | 'modified';

export interface IDiffFile {
  /** Old path without its `a/` prefix, null for a created file (`/dev/null`). */
  oldPath: string | null;
  /** New path without its `b/` prefix, null for a deleted file (`/dev/null`). */
  newPath: string | null;
  /** The path to show: the new one, else the old one. */
  path: string;
  status: DiffFileStatus;
  /** The server kept no content (binary or too large): only `summary` describes it. */
  binary: boolean;
  /** The one-line description of a binary or size-only change, else null. */
  summary: string | null;
  hunks: IDiffHunk[];
  additions: number;
  deletions: number;
}

export interface IParsedDiff {
  files: IDiffFile[];
  additions: number;
  deletions: number;
}

/** The line put between hunks in both sides of a side-by-side view, so they stay aligned. */
export const HUNK_SEPARATOR = '⋯';

export interface IDiffSides {
  original: string;
  modified: string;
  /** For each line of `original` (0-based), its number in the old file, or null. */
  originalLines: (number | null)[];
  /** For each line of `modified` (0-based), its number in the new file, or null. */
  modifiedLines: (number | null)[];
}

const HUNK_RE = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@ ?(.*)$/;
const BINARY_RE =
  /^Binary (?:or large )?files (.+?) and (.+?) differ(?: \((.*)\))?$/;
const GIT_RE = /^diff --git (\S+) (\S+)$/;
const TRUNCATED_RE = /^\[\.\.\. truncated \d+ bytes/;
const NO_NEWLINE = '\\ No newline at end of file';

/** A diff label (`a/src/x.py`, `b/x`, `/dev/null`) as a path, or null for `/dev/null`. */
export function labelPath(label: string): string | null {
  let path = label.split('\t')[0].trim();
  if (path.startsWith('"') && path.endsWith('"') && path.length > 1) {
    path = path.slice(1, -1);
  }
  if (path === '/dev/null') {
    return null;
  }
  if (path.startsWith('a/') || path.startsWith('b/')) {
    return path.slice(2);
  }
  return path;
}

function newFile(oldPath: string | null, newPath: string | null): IDiffFile {
  return {
    oldPath,
    newPath,
    path: newPath ?? oldPath ?? '',
    status: statusOf(oldPath, newPath),
    binary: false,
    summary: null,
    hunks: [],
    additions: 0,
    deletions: 0
  };
}

function statusOf(
  oldPath: string | null,
  newPath: string | null
): DiffFileStatus {
  if (oldPath === null && newPath !== null) {
    return 'added';
  }
  if (newPath === null && oldPath !== null) {
    return 'deleted';
  }
  return 'modified';
}

function setPaths(
  file: IDiffFile,
  oldPath: string | null,
  newPath: string | null
): void {
  file.oldPath = oldPath;
  file.newPath = newPath;
  file.path = newPath ?? oldPath ?? file.path;
  file.status = statusOf(oldPath, newPath);
}

/** Parse a unified diff (one or more files). Never throws. */
export function parseDiff(text: string): IParsedDiff {
  const files: IDiffFile[] = [];
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') {
    lines.pop();
  }

  let file: IDiffFile | null = null;
  let hunk: IDiffHunk | null = null;
  // Lines still expected by the current hunk's header, and the next line numbers.
  let oldLeft = 0;
  let newLeft = 0;
  let oldNo = 0;
  let newNo = 0;
  // After a truncation marker the counts no longer hold: number nothing until the next hunk.
  let lost = false;
  // Set by `diff --git`: the `---`/`+++` lines that follow belong to the same file.
  let gitHeader = false;

  const ensureFile = (): IDiffFile => {
    if (file === null) {
      file = newFile(null, null);
      file.status = 'modified';
      files.push(file);
    }
    return file;
  };
  const ensureHunk = (): IDiffHunk => {
    if (hunk === null) {
      hunk = {
        header: '',
        oldStart: 0,
        oldCount: 0,
        newStart: 0,
        newCount: 0,
        section: '',
        lines: []
      };
      ensureFile().hunks.push(hunk);
      lost = true;
    }
    return hunk;
  };
  const inHunk = (): boolean => hunk !== null && (oldLeft > 0 || newLeft > 0);

  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;

    // Inside a hunk whose header still expects lines, a line is a diff line whatever it
    // looks like (a removed "-- x" reads "--- x").
    if (inHunk() && !lost) {
      const h = hunk as unknown as IDiffHunk;
      const first = line.charAt(0);
      if (first === ' ' || line === '') {
        h.lines.push({
          kind: 'ctx',
          text: line.slice(1),
          oldLine: oldNo++,
          newLine: newNo++
        });
        oldLeft--;
        newLeft--;
        continue;
      }
      if (first === '-' && oldLeft > 0) {
        h.lines.push({
          kind: 'del',
          text: line.slice(1),
          oldLine: oldNo++,
          newLine: null
        });
        oldLeft--;
        continue;
      }
      if (first === '+' && newLeft > 0) {
        h.lines.push({
          kind: 'add',
          text: line.slice(1),
          oldLine: null,
          newLine: newNo++
        });
        newLeft--;
        continue;
      }
    }

    if (line.startsWith('\\')) {
      const h = hunk as IDiffHunk | null;
      const last = h?.lines[h.lines.length - 1];
      if (last !== undefined && line === NO_NEWLINE) {
        last.noNewline = true;
      }
      continue;
    }

    const git = GIT_RE.exec(line);
    if (git) {
      file = newFile(labelPath(git[1]), labelPath(git[2]));
      files.push(file);
      hunk = null;
      lost = false;
      gitHeader = true;
      continue;
    }

    const binary = BINARY_RE.exec(line);
    if (binary) {
      const oldPath = labelPath(binary[1]);
      const newPath = labelPath(binary[2]);
      if (file === null || !gitHeader || file.hunks.length > 0) {
        file = newFile(oldPath, newPath);
        files.push(file);
      } else {
        setPaths(file, oldPath, newPath);
      }
      file.binary = true;
      file.summary = line;
      hunk = null;
      gitHeader = false;
      continue;
    }

    if (line.startsWith('--- ') && lines[i + 1]?.startsWith('+++ ')) {
      const oldPath = labelPath(line.slice(4));
      const newPath = labelPath(lines[i + 1].replace(/\r$/, '').slice(4));
      if (file !== null && gitHeader && file.hunks.length === 0) {
        setPaths(file, oldPath, newPath);
      } else {
        file = newFile(oldPath, newPath);
        files.push(file);
      }
      gitHeader = false;
      hunk = null;
      lost = false;
      i++;
      continue;
    }

    const header = HUNK_RE.exec(line);
    if (header) {
      const oldCount = header[2] === undefined ? 1 : Number(header[2]);
      const newCount = header[4] === undefined ? 1 : Number(header[4]);
      hunk = {
        header: line,
        oldStart: Number(header[1]),
        oldCount,
        newStart: Number(header[3]),
        newCount,
        section: header[5] ?? '',
        lines: []
      };
      ensureFile().hunks.push(hunk);
      gitHeader = false;
      oldLeft = oldCount;
      newLeft = newCount;
      oldNo = Number(header[1]);
      newNo = Number(header[3]);
      lost = false;
      continue;
    }

    if (TRUNCATED_RE.test(line)) {
      ensureHunk().lines.push({
        kind: 'note',
        text: line,
        oldLine: null,
        newLine: null
      });
      lost = true;
      continue;
    }

    if (file === null || (hunk === null && !lost)) {
      // Extended git headers (`index ...`, `new file mode ...`) and stray text before a file.
      if (file !== null && line.startsWith('new file mode')) {
        file.status = 'added';
      } else if (file !== null && line.startsWith('deleted file mode')) {
        file.status = 'deleted';
      }
      continue;
    }

    // Past the end of what the header announced, or after a cut: classify by the prefix,
    // without numbers when they cannot be trusted.
    const h = ensureHunk();
    const first = line.charAt(0);
    const kind: DiffLineKind =
      first === '+'
        ? 'add'
        : first === '-'
          ? 'del'
          : first === ' '
            ? 'ctx'
            : 'note';
    h.lines.push({
      kind,
      text: kind === 'note' ? line : line.slice(1),
      oldLine: null,
      newLine: null
    });
  }

  let additions = 0;
  let deletions = 0;
  for (const f of files) {
    for (const h of f.hunks) {
      for (const l of h.lines) {
        if (l.kind === 'add') {
          f.additions++;
        } else if (l.kind === 'del') {
          f.deletions++;
        }
      }
    }
    additions += f.additions;
    deletions += f.deletions;
  }
  return { files, additions, deletions };
}

/** Added and removed line counts of a unified diff. */
export function countChanges(text: string): {
  additions: number;
  deletions: number;
} {
  const { additions, deletions } = parseDiff(text);
  return { additions, deletions };
}

/**
 * The old and new sides of a file's hunks, for a side-by-side view. Hunks are separated by a
 * `⋯` line in both sides (also before the first hunk when it does not start at line 1), and
 * `note` lines appear in both sides, so equal lines line up across the two.
 */
export function diffSides(file: IDiffFile | IDiffHunk[]): IDiffSides {
  const hunks = Array.isArray(file) ? file : file.hunks;
  const original: string[] = [];
  const modified: string[] = [];
  const originalLines: (number | null)[] = [];
  const modifiedLines: (number | null)[] = [];
  const both = (text: string): void => {
    original.push(text);
    modified.push(text);
    originalLines.push(null);
    modifiedLines.push(null);
  };
  hunks.forEach((h, index) => {
    const startsAtTop = h.oldStart <= 1 && h.newStart <= 1;
    if (index > 0 || !startsAtTop) {
      both(HUNK_SEPARATOR);
    }
    for (const l of h.lines) {
      switch (l.kind) {
        case 'ctx':
          original.push(l.text);
          originalLines.push(l.oldLine);
          modified.push(l.text);
          modifiedLines.push(l.newLine);
          break;
        case 'del':
          original.push(l.text);
          originalLines.push(l.oldLine);
          break;
        case 'add':
          modified.push(l.text);
          modifiedLines.push(l.newLine);
          break;
        case 'note':
          both(`${HUNK_SEPARATOR} ${l.text}`);
          break;
      }
    }
  });
  return {
    original: original.join('\n'),
    modified: modified.join('\n'),
    originalLines,
    modifiedLines
  };
}

/** File extension → fenced-code language name (for Markdown code blocks). */
const FENCE_LANGUAGES: Record<string, string> = {
  py: 'python',
  pyi: 'python',
  ipynb: 'json',
  js: 'javascript',
  mjs: 'javascript',
  cjs: 'javascript',
  jsx: 'jsx',
  ts: 'typescript',
  tsx: 'tsx',
  json: 'json',
  md: 'markdown',
  markdown: 'markdown',
  yml: 'yaml',
  yaml: 'yaml',
  toml: 'toml',
  ini: 'ini',
  cfg: 'ini',
  sh: 'bash',
  bash: 'bash',
  zsh: 'bash',
  r: 'r',
  jl: 'julia',
  rs: 'rust',
  go: 'go',
  java: 'java',
  kt: 'kotlin',
  scala: 'scala',
  c: 'c',
  h: 'c',
  cc: 'cpp',
  cpp: 'cpp',
  cxx: 'cpp',
  hpp: 'cpp',
  cs: 'csharp',
  rb: 'ruby',
  php: 'php',
  sql: 'sql',
  html: 'html',
  htm: 'html',
  xml: 'xml',
  svg: 'xml',
  css: 'css',
  scss: 'scss',
  tex: 'latex',
  dockerfile: 'dockerfile',
  makefile: 'makefile'
};

/** The fenced-code language of a path from its extension (or name), '' when unknown. */
export function fenceLanguage(path: string | null | undefined): string {
  if (!path) {
    return '';
  }
  const name = path.split('/').pop()?.toLowerCase() ?? '';
  if (name in FENCE_LANGUAGES && !name.includes('.')) {
    return FENCE_LANGUAGES[name];
  }
  const dot = name.lastIndexOf('.');
  if (dot < 0) {
    return '';
  }
  return FENCE_LANGUAGES[name.slice(dot + 1)] ?? '';
}

/** Wrap `code` in a Markdown code fence longer than any backtick run inside it. */
export function fenced(code: string, language = ''): string {
  const runs = code.match(/`{3,}/g) ?? [];
  const longest = runs.reduce((n, run) => Math.max(n, run.length), 2);
  const fence = '`'.repeat(longest + 1);
  return `${fence}${language}\n${code}\n${fence}`;
}
