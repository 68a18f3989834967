/**
 * Model text in the chat: Markdown rendered untrusted (sanitized) through the
 * rendermime registry, re-rendered at most every 40 ms while it streams.
 */
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import * as React from 'react';

import { UntrustedMarkdown } from '../../markdown';

/** Markdown from the model, rendered untrusted and re-rendered as it streams. */
export function MarkdownView(props: {
  text: string;
  rendermime: IRenderMimeRegistry;
}): JSX.Element {
  const host = React.useRef<HTMLDivElement>(null);
  const renderer = React.useRef<UntrustedMarkdown | null>(null);
  React.useEffect(() => {
    renderer.current = new UntrustedMarkdown(props.rendermime, host.current!);
    return () => renderer.current?.dispose();
  }, [props.rendermime]);
  React.useEffect(() => {
    const timer = setTimeout(
      () => void renderer.current?.render(props.text),
      40
    );
    return () => clearTimeout(timer);
  }, [props.text]);
  return <div className="jp-codeinterp-markdown" ref={host} />;
}
