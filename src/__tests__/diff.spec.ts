import { diffStats, lineDiff, renderDiff } from '../diff';

describe('lineDiff', () => {
  it('marks a changed line as removed then added', () => {
    const before =
      'import pandas as pd\ntotal = df["prices"].sum()\nprint(total)\n';
    const after =
      'import pandas as pd\ntotal = df["price"].sum()\nprint(total)\n';
    const diff = lineDiff(before, after);
    expect(diff.map(l => l.kind)).toEqual(['same', 'del', 'add', 'same']);
    expect(diff[1].text).toBe('total = df["prices"].sum()');
    expect(diff[2].text).toBe('total = df["price"].sum()');
    expect(diffStats(diff)).toEqual({ added: 1, removed: 1 });
  });

  it('handles insertions, deletions and empty sides', () => {
    expect(lineDiff('', 'a\nb').map(l => l.kind)).toEqual(['add', 'add']);
    expect(lineDiff('a\nb', '').map(l => l.kind)).toEqual(['del', 'del']);
    expect(lineDiff('a\nc', 'a\nb\nc').map(l => `${l.kind}:${l.text}`)).toEqual(
      ['same:a', 'add:b', 'same:c']
    );
    expect(lineDiff('same', 'same')).toEqual([
      { kind: 'same', text: 'same', oldLine: 1, newLine: 1 }
    ]);
  });

  it('keeps line numbers of both sides', () => {
    const diff = lineDiff('x\ny\nz', 'x\nY\nz');
    const last = diff[diff.length - 1];
    expect(last).toMatchObject({
      kind: 'same',
      text: 'z',
      oldLine: 3,
      newLine: 3
    });
  });

  it('renders text, never HTML', () => {
    const node = renderDiff(
      lineDiff('a', '<img src=x onerror=alert(1)>'),
      'diff'
    );
    expect(node.querySelector('img')).toBeNull();
    expect(node.textContent).toContain('<img src=x onerror=alert(1)>');
    expect(node.querySelectorAll('.jp-codeinterp-diff-add')).toHaveLength(1);
  });
});
