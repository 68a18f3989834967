/**
 * Shown before the first prompt when no model is configured: how to configure
 * one, and the local model servers the server found.
 */
import { refreshIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { IServerConfig } from '../../protocol';
import { IChatActions } from './actions';

/** Shown before the first prompt when no model is configured. */
export function SetupPanel(props: {
  config: IServerConfig | null;
  configError: string | null;
  actions: IChatActions;
}): JSX.Element {
  const { config, configError, actions } = props;
  const { trans } = actions;
  const local = config?.local_servers ?? [];
  return (
    <div
      className="jp-codeinterp-setup"
      role="region"
      aria-label={trans.__('Configure a model')}
    >
      <h3>{trans.__('Connect a model')}</h3>
      {configError ? (
        <p className="jp-codeinterp-error-message">
          {trans.__('The server extension did not answer: %1', configError)}
        </p>
      ) : (
        <p>
          {trans.__(
            'No model is configured yet. Code Interpreter works with any OpenAI-compatible endpoint: OpenAI, Azure OpenAI, OpenRouter, or a local server (Ollama, vLLM, llama.cpp, LM Studio).'
          )}
        </p>
      )}
      {local.length > 0 && (
        <div className="jp-codeinterp-local">
          <p>{trans.__('Found running on this machine:')}</p>
          <ul>
            {local.map(server => (
              <li key={server.base_url}>
                <strong>
                  {server.label ||
                    server.name ||
                    server.preset ||
                    server.base_url}
                </strong>{' '}
                <code>{server.base_url}</code>
                {server.models && server.models.length > 0 && (
                  <span>
                    {' '}
                    —{' '}
                    {trans.__(
                      'models: %1',
                      server.models.slice(0, 5).join(', ')
                    )}
                  </span>
                )}
              </li>
            ))}
          </ul>
          <pre className="jp-codeinterp-snippet">
            {`c.CodeInterp.base_url = "${local[0].base_url}"\nc.CodeInterp.model = "${local[0].models?.[0] ?? 'MODEL'}"`}
          </pre>
        </div>
      )}
      <p>{trans.__('Set these before starting JupyterLab:')}</p>
      <pre className="jp-codeinterp-snippet">
        {
          'export OPENAI_API_KEY=sk-...\nexport CODEINTERP_MODEL=gpt-4.1-mini\n# for another endpoint:\nexport OPENAI_BASE_URL=http://localhost:11434/v1'
        }
      </pre>
      <p>{trans.__('or in jupyter_server_config.py:')}</p>
      <pre className="jp-codeinterp-snippet">
        {
          'c.CodeInterp.base_url = "http://localhost:11434/v1"\nc.CodeInterp.model = "qwen2.5-coder:7b"\nc.CodeInterp.api_key = "..."  # if the endpoint needs one'
        }
      </pre>
      <button
        type="button"
        className="jp-Button jp-mod-styled jp-codeinterp-reload-config"
        onClick={() => void actions.service.reloadConfig()}
      >
        <refreshIcon.react tag="span" elementPosition="center" />{' '}
        {trans.__('Check Again')}
      </button>
    </div>
  );
}
