/**
 * A small marker on an answer that does not rest on the turn's executed
 * cells: `not_computed` (the request needed code and no cell computed the
 * answer's values: none is given) or
 * `unverified` (it states numbers no output of the turn shows). Nothing for
 * a computed answer, or one with nothing to compute.
 */
import { TranslationBundle } from '@jupyterlab/translation';
import { infoIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { Grounding } from '../../protocol';

export function GroundingMarker(props: {
  grounding: Grounding | undefined;
  trans: TranslationBundle;
}): JSX.Element | null {
  const { grounding, trans } = props;
  let label: string;
  let detail: string;
  if (grounding === 'not_computed') {
    label = trans.__('Not computed from your data');
    detail = trans.__(
      'This request needed code, and no cell of this turn computed the values it asks for: the answer gives none.'
    );
  } else if (grounding === 'unverified') {
    label = trans.__('Numbers not found in any output of this turn');
    detail = trans.__(
      "The answer states numbers that no output of this turn's cells shows: check them against the cells."
    );
  } else {
    return null;
  }
  return (
    <div
      className={`jp-codeinterp-grounding jp-codeinterp-grounding-${grounding}`}
      role="note"
      title={detail}
      aria-label={`${label}. ${detail}`}
    >
      <infoIcon.react tag="span" elementPosition="center" />
      <span className="jp-codeinterp-grounding-label">{label}</span>
    </div>
  );
}
