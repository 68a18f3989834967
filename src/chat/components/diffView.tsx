/**
 * A line diff of a cell's source (a proposed fix against the cell as it is).
 */
import * as React from 'react';

import { lineDiff } from '../../diff';

export function DiffView(props: {
  before: string;
  after: string;
  label: string;
}): JSX.Element {
  const lines = React.useMemo(
    () => lineDiff(props.before, props.after),
    [props.before, props.after]
  );
  return (
    <pre className="jp-codeinterp-diff" role="figure" aria-label={props.label}>
      {lines.map((line, i) => (
        <div
          key={i}
          className={`jp-codeinterp-diff-line jp-codeinterp-diff-${line.kind}`}
        >
          <span className="jp-codeinterp-diff-sign" aria-hidden="true">
            {line.kind === 'add' ? '+' : line.kind === 'del' ? '-' : ' '}
          </span>
          <span className="jp-codeinterp-diff-text">{line.text || ' '}</span>
        </div>
      ))}
    </pre>
  );
}
