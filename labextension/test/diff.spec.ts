import {
  countChanges,
  diffSides,
  fenced,
  fenceLanguage,
  HUNK_SEPARATOR,
  labelPath,
  parseDiff
} from '../src/diff';

// Produced by the server's difflib-based `unified_diff` (tools/textedit.py).
const TWO_HUNKS =
  '--- a/src/x.py\n+++ b/src/x.py\n@@ -1,5 +1,5 @@\n line 1\n-line 2\n+line two\n' +
  ' line 3\n line 4\n line 5\n@@ -13,6 +13,7 @@\n line 13\n line 14\n line 15\n+extra\n' +
  ' line 16\n line 17\n line 18\n';
const NO_NEWLINE =
  '--- a/f.txt\n+++ b/f.txt\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n' +
  '+c\n\\ No newline at end of file\n';
const CREATED = '--- /dev/null\n+++ b/new.py\n@@ -0,0 +1,2 @@\n+x\n+y\n';
const DASHES = '--- a/m.sql\n+++ b/m.sql\n@@ -1,3 +1,2 @@\n a\n--- b\n c\n';
const BINARY =
  'Binary or large files a/data.bin and b/data.bin differ (1.0 KB -> 2.0 KB; content not kept)\n';

describe('parseDiff', () => {
  it('reads the file header, hunks and line numbers', () => {
    const parsed = parseDiff(TWO_HUNKS);
    expect(parsed.files).toHaveLength(1);
    const file = parsed.files[0];
    expect(file.oldPath).toBe('src/x.py');
    expect(file.newPath).toBe('src/x.py');
    expect(file.path).toBe('src/x.py');
    expect(file.status).toBe('modified');
    expect(file.binary).toBe(false);
    expect(file.hunks).toHaveLength(2);

    const [first, second] = file.hunks;
    expect(first.header).toBe('@@ -1,5 +1,5 @@');
    expect([
      first.oldStart,
      first.oldCount,
      first.newStart,
      first.newCount
    ]).toEqual([1, 5, 1, 5]);
    expect(
      first.lines.map(l => [l.kind, l.text, l.oldLine, l.newLine])
    ).toEqual([
      ['ctx', 'line 1', 1, 1],
      ['del', 'line 2', 2, null],
      ['add', 'line two', null, 2],
      ['ctx', 'line 3', 3, 3],
      ['ctx', 'line 4', 4, 4],
      ['ctx', 'line 5', 5, 5]
    ]);
    expect(second.oldStart).toBe(13);
    const extra = second.lines.find(l => l.kind === 'add');
    expect(extra).toEqual({
      kind: 'add',
      text: 'extra',
      oldLine: null,
      newLine: 16
    });
    const last = second.lines[second.lines.length - 1];
    expect([last.text, last.oldLine, last.newLine]).toEqual([
      'line 18',
      18,
      19
    ]);
  });

  it('counts additions and deletions per file and in total', () => {
    const parsed = parseDiff(TWO_HUNKS);
    expect(parsed.files[0].additions).toBe(2);
    expect(parsed.files[0].deletions).toBe(1);
    expect([parsed.additions, parsed.deletions]).toEqual([2, 1]);
    expect(countChanges(NO_NEWLINE)).toEqual({ additions: 1, deletions: 1 });
  });

  it('marks lines followed by "No newline at end of file"', () => {
    const lines = parseDiff(NO_NEWLINE).files[0].hunks[0].lines;
    expect(lines.map(l => [l.kind, l.text, !!l.noNewline])).toEqual([
      ['ctx', 'a', false],
      ['del', 'b', true],
      ['add', 'c', true]
    ]);
  });

  it('knows a created file', () => {
    const file = parseDiff(CREATED).files[0];
    expect(file.status).toBe('added');
    expect(file.oldPath).toBeNull();
    expect(file.path).toBe('new.py');
    expect(file.hunks[0].lines.map(l => l.newLine)).toEqual([1, 2]);
  });

  it('reads a removed "-- b" line as a deletion, not as a file header', () => {
    const parsed = parseDiff(DASHES);
    expect(parsed.files).toHaveLength(1);
    const lines = parsed.files[0].hunks[0].lines;
    expect(lines[1]).toEqual({
      kind: 'del',
      text: '-- b',
      oldLine: 2,
      newLine: null
    });
    expect(lines[2]).toEqual({
      kind: 'ctx',
      text: 'c',
      oldLine: 3,
      newLine: 2
    });
  });

  it('summarises a binary or size-only change', () => {
    const parsed = parseDiff(BINARY);
    expect(parsed.files).toHaveLength(1);
    const file = parsed.files[0];
    expect(file.binary).toBe(true);
    expect(file.path).toBe('data.bin');
    expect(file.hunks).toHaveLength(0);
    expect(file.summary).toContain('1.0 KB -> 2.0 KB');
    expect([parsed.additions, parsed.deletions]).toEqual([0, 0]);

    const created = parseDiff(
      'Binary or large files /dev/null and b/big.csv differ (0 bytes -> 30.0 MB; content not kept)\n'
    ).files[0];
    expect(created.status).toBe('added');
    expect(created.path).toBe('big.csv');
  });

  it('reads several files and git headers', () => {
    const text =
      'diff --git a/one.txt b/one.txt\nindex 1..2 100644\n--- a/one.txt\n+++ b/one.txt\n' +
      '@@ -1 +1 @@\n-a\n+b\n' +
      'diff --git a/gone.txt b/gone.txt\ndeleted file mode 100644\n--- a/gone.txt\n' +
      '+++ /dev/null\n@@ -1,2 +0,0 @@\n-x\n-y\n';
    const parsed = parseDiff(text);
    expect(
      parsed.files.map(f => [f.path, f.status, f.additions, f.deletions])
    ).toEqual([
      ['one.txt', 'modified', 1, 1],
      ['gone.txt', 'deleted', 0, 2]
    ]);
    expect(
      parsed.files[0].hunks[0].lines.map(l => [l.oldLine, l.newLine])
    ).toEqual([
      [1, null],
      [null, 1]
    ]);
  });

  it('keeps what it can of a diff cut in the middle', () => {
    const text =
      '--- a/x\n+++ b/x\n@@ -1,40 +1,40 @@\n ctx\n-old\n+ne\n' +
      '[... truncated 900 bytes of 2000 to fit the context; the diff is too long to show in full ...]\n' +
      'w tail\n+added\n-removed\n';
    const parsed = parseDiff(text);
    const lines = parsed.files[0].hunks[0].lines;
    expect(lines.map(l => l.kind)).toEqual([
      'ctx',
      'del',
      'add',
      'note',
      'note',
      'add',
      'del'
    ]);
    expect(lines[5].newLine).toBeNull(); // numbers after the cut are unknown
    expect([parsed.additions, parsed.deletions]).toEqual([2, 2]);
  });

  it('handles empty and CRLF input', () => {
    expect(parseDiff('')).toEqual({ files: [], additions: 0, deletions: 0 });
    const crlf = parseDiff('--- a/w\r\n+++ b/w\r\n@@ -1 +1 @@\r\n-a\r\n+b\r\n');
    expect(crlf.files[0].path).toBe('w');
    expect(crlf.files[0].hunks[0].lines.map(l => l.text)).toEqual(['a', 'b']);
  });
});

describe('diffSides', () => {
  it('rebuilds both sides, with a separator between hunks', () => {
    const sides = diffSides(parseDiff(TWO_HUNKS).files[0]);
    expect(sides.original.split('\n')).toEqual([
      'line 1',
      'line 2',
      'line 3',
      'line 4',
      'line 5',
      HUNK_SEPARATOR,
      'line 13',
      'line 14',
      'line 15',
      'line 16',
      'line 17',
      'line 18'
    ]);
    expect(sides.modified.split('\n')).toEqual([
      'line 1',
      'line two',
      'line 3',
      'line 4',
      'line 5',
      HUNK_SEPARATOR,
      'line 13',
      'line 14',
      'line 15',
      'extra',
      'line 16',
      'line 17',
      'line 18'
    ]);
    expect(sides.originalLines).toEqual([
      1,
      2,
      3,
      4,
      5,
      null,
      13,
      14,
      15,
      16,
      17,
      18
    ]);
    expect(sides.modifiedLines).toEqual([
      1,
      2,
      3,
      4,
      5,
      null,
      13,
      14,
      15,
      16,
      17,
      18,
      19
    ]);
  });

  it('starts with a separator when the first hunk is not at the top', () => {
    const text = '--- a/x\n+++ b/x\n@@ -10,2 +10,2 @@\n a\n-b\n+c\n';
    const sides = diffSides(parseDiff(text).files[0]);
    expect(sides.original).toBe(`${HUNK_SEPARATOR}\na\nb`);
    expect(sides.modified).toBe(`${HUNK_SEPARATOR}\na\nc`);
  });

  it('gives an empty old side for a created file', () => {
    const sides = diffSides(parseDiff(CREATED).files[0]);
    expect(sides.original).toBe('');
    expect(sides.modified).toBe('x\ny');
  });
});

describe('helpers', () => {
  it('strips diff label prefixes', () => {
    expect(labelPath('a/src/x.py')).toBe('src/x.py');
    expect(labelPath('b//home/u/x.py')).toBe('/home/u/x.py');
    expect(labelPath('/dev/null')).toBeNull();
    expect(labelPath('plain.txt\t2024-01-01')).toBe('plain.txt');
  });

  it('picks a fence language and a safe fence', () => {
    expect(fenceLanguage('/w/src/main.py')).toBe('python');
    expect(fenceLanguage('Dockerfile')).toBe('dockerfile');
    expect(fenceLanguage('README')).toBe('');
    expect(fenced('a\n```\nb', 'md')).toBe('````md\na\n```\nb\n````');
  });
});
