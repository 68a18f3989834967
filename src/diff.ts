/**
 * A small line diff (longest common subsequence) for showing a proposed fix
 * against the cell's current source.
 */

export type DiffKind = 'same' | 'add' | 'del';

export interface IDiffLine {
  kind: DiffKind;
  text: string;
  /** 1-based line number in the old text (same/del). */
  oldLine?: number;
  /** 1-based line number in the new text (same/add). */
  newLine?: number;
}

function splitLines(text: string): string[] {
  if (text === '') {
    return [];
  }
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  if (lines.length > 1 && lines[lines.length - 1] === '') {
    lines.pop();
  }
  return lines;
}

/** The line diff turning `before` into `after`. */
export function lineDiff(before: string, after: string): IDiffLine[] {
  const a = splitLines(before);
  const b = splitLines(after);
  // trim the common head and tail so big cells with small changes stay cheap
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) {
    start++;
  }
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  const n = endA - start;
  const m = endB - start;
  const out: IDiffLine[] = [];
  for (let i = 0; i < start; i++) {
    out.push({ kind: 'same', text: a[i], oldLine: i + 1, newLine: i + 1 });
  }
  if (n * m > 4_000_000) {
    // too large for LCS: show it as a replacement
    for (let i = start; i < endA; i++) {
      out.push({ kind: 'del', text: a[i], oldLine: i + 1 });
    }
    for (let j = start; j < endB; j++) {
      out.push({ kind: 'add', text: b[j], newLine: j + 1 });
    }
  } else {
    // lcs[i][j]: LCS length of a[start+i..endA) and b[start+j..endB)
    const lcs: Uint32Array[] = [];
    for (let i = 0; i <= n; i++) {
      lcs.push(new Uint32Array(m + 1));
    }
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        lcs[i][j] =
          a[start + i] === b[start + j]
            ? lcs[i + 1][j + 1] + 1
            : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
      }
    }
    let i = 0;
    let j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && a[start + i] === b[start + j]) {
        out.push({
          kind: 'same',
          text: a[start + i],
          oldLine: start + i + 1,
          newLine: start + j + 1
        });
        i++;
        j++;
      } else if (i < n && (j >= m || lcs[i + 1][j] >= lcs[i][j + 1])) {
        // removals first, then additions (reads like a unified diff)
        out.push({ kind: 'del', text: a[start + i], oldLine: start + i + 1 });
        i++;
      } else {
        out.push({ kind: 'add', text: b[start + j], newLine: start + j + 1 });
        j++;
      }
    }
  }
  for (let k = 0; k < a.length - endA; k++) {
    out.push({
      kind: 'same',
      text: a[endA + k],
      oldLine: endA + k + 1,
      newLine: endB + k + 1
    });
  }
  return out;
}

/** Counts of added and removed lines. */
export function diffStats(lines: IDiffLine[]): {
  added: number;
  removed: number;
} {
  let added = 0;
  let removed = 0;
  for (const l of lines) {
    if (l.kind === 'add') {
      added++;
    } else if (l.kind === 'del') {
      removed++;
    }
  }
  return { added, removed };
}

/** Render a diff into DOM (used in the chat card and on the cell). */
export function renderDiff(lines: IDiffLine[], label: string): HTMLElement {
  const pre = document.createElement('pre');
  pre.className = 'jp-codeinterp-diff';
  pre.setAttribute('role', 'figure');
  pre.setAttribute('aria-label', label);
  for (const line of lines) {
    const row = document.createElement('div');
    row.className = `jp-codeinterp-diff-line jp-codeinterp-diff-${line.kind}`;
    const sign = document.createElement('span');
    sign.className = 'jp-codeinterp-diff-sign';
    sign.textContent =
      line.kind === 'add' ? '+' : line.kind === 'del' ? '-' : ' ';
    sign.setAttribute('aria-hidden', 'true');
    const text = document.createElement('span');
    text.className = 'jp-codeinterp-diff-text';
    text.textContent = line.text || ' ';
    row.append(sign, text);
    if (line.kind !== 'same') {
      row.setAttribute(
        'aria-label',
        `${line.kind === 'add' ? 'added' : 'removed'}: ${line.text}`
      );
    }
    pre.appendChild(row);
  }
  return pre;
}
