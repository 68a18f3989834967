/**
 * Small pieces shared by the chat components: the icon button, the link that
 * opens a written file, the once-a-second clock of running steps, and the
 * labels of states, tools and turn modes.
 */
import { TranslationBundle } from '@jupyterlab/translation';
import { LabIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { StepState } from '../../protocol';
import { IStepView } from '../model';

export function IconButton(props: {
  icon: LabIcon;
  label: string;
  onClick: () => void;
  disabled?: boolean;
  className?: string;
  text?: string;
}): JSX.Element {
  return (
    <button
      type="button"
      className={`jp-codeinterp-iconbutton jp-mod-minimal jp-Button ${props.className ?? ''}`}
      title={props.label}
      aria-label={props.label}
      onClick={props.onClick}
      disabled={props.disabled}
    >
      <props.icon.react tag="span" elementPosition="center" />
      {props.text && (
        <span className="jp-codeinterp-iconbutton-text">{props.text}</span>
      )}
    </button>
  );
}

/** A file a turn wrote, by its name; opens it in JupyterLab. */
export function FileLink(props: {
  path: string;
  open: (path: string) => void;
  trans: TranslationBundle;
}): JSX.Element {
  const { path, open, trans } = props;
  return (
    <button
      type="button"
      className="jp-codeinterp-link"
      onClick={() => open(path)}
      title={trans.__('Open %1', path)}
    >
      {path.split('/').pop()}
    </button>
  );
}

export function formatElapsed(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}:${String(s % 60).padStart(2, '0')}` : `${s}s`;
}

/** Ticks once a second while `active`. */
export function useNow(active: boolean): number {
  const [now, setNow] = React.useState(Date.now());
  React.useEffect(() => {
    if (!active) {
      return;
    }
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [active]);
  return now;
}

export function stateLabel(state: StepState, trans: TranslationBundle): string {
  switch (state) {
    case 'waiting_approval':
      return trans.__('waiting for you');
    case 'running':
      return trans.__('running');
    case 'ok':
      return trans.__('ok');
    case 'error':
      return trans.__('error');
    case 'skipped':
      return trans.__('skipped');
    case 'interrupted':
      return trans.__('interrupted');
    case 'timeout':
      return trans.__('timed out');
    case 'aborted':
      return trans.__('not run');
    default:
      return state;
  }
}

export function toolLabel(step: IStepView, trans: TranslationBundle): string {
  switch (step.tool) {
    case 'run_code':
      return trans.__('Run code');
    case 'inspect_variable':
      return trans.__('Inspect %1', step.summary || trans.__('variable'));
    case 'read_file':
      return trans.__('Read file');
    default:
      return step.tool;
  }
}

export function modeLabel(mode: string, trans: TranslationBundle): string {
  return mode === 'fix'
    ? trans.__('Fix')
    : mode === 'generate'
      ? trans.__('Generate')
      : '';
}
