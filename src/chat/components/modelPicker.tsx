/**
 * The model picker: the server's default, its model list and the user's choice.
 */
import * as React from 'react';

import { useSignal } from '../useSignal';
import { IChatActions } from './actions';

export function ModelPicker(props: {
  actions: IChatActions;
}): JSX.Element | null {
  const { actions } = props;
  const { service, trans } = actions;
  useSignal(service.settingsChanged);
  const config = service.config;
  if (!config) {
    return null;
  }
  const current = service.model;
  const models = Array.from(
    new Set([current, config.model, ...(config.models ?? [])].filter(Boolean))
  );
  return (
    <select
      className="jp-codeinterp-model-picker"
      aria-label={trans.__('Model')}
      title={trans.__('Model')}
      value={current}
      onChange={e =>
        actions.setModel(e.target.value === config.model ? '' : e.target.value)
      }
    >
      {models.map(m => (
        <option key={m} value={m}>
          {m}
        </option>
      ))}
    </select>
  );
}
