import {
  RenderMimeRegistry,
  standardRendererFactories
} from '@jupyterlab/rendermime';
import { Sanitizer } from '@jupyterlab/apputils';

import { UntrustedMarkdown } from '../markdown';

/** A tiny markdown parser: enough to produce HTML the sanitizer must clean. */
const parser = {
  render: async (source: string) =>
    source
      .replace(/\*\*(.+?)\*\*/g, '<strong>$1</strong>')
      .replace(/\[(.+?)\]\((.+?)\)/g, '<a href="$2">$1</a>')
};

function makeRegistry(): RenderMimeRegistry {
  return new RenderMimeRegistry({
    initialFactories: standardRendererFactories,
    sanitizer: new Sanitizer(),
    markdownParser: parser
  });
}

describe('UntrustedMarkdown', () => {
  it('renders model text as markdown', async () => {
    const host = document.createElement('div');
    const md = new UntrustedMarkdown(makeRegistry(), host);
    await md.render('The total is **7.0**.');
    expect(host.querySelector('strong')?.textContent).toBe('7.0');
    md.dispose();
  });

  it('strips scripts, event handlers and javascript: links', async () => {
    const host = document.createElement('div');
    document.body.appendChild(host);
    const md = new UntrustedMarkdown(makeRegistry(), host);
    (window as any).pwned = false;
    await md.render(
      'hi <script>window.pwned = true</script>' +
        '<img src="x" onerror="window.pwned = true">' +
        '<a href="javascript:window.pwned=true" onclick="window.pwned=true">x</a>' +
        '<iframe src="https://example.com"></iframe>' +
        '<form action="https://example.com"><input name="a"></form>'
    );
    expect(host.querySelector('script')).toBeNull();
    expect(host.querySelector('iframe')).toBeNull();
    // a form survives only as inert markup: no action, disabled inputs
    expect(
      host.querySelector('form')?.getAttribute('action') ?? null
    ).toBeNull();
    expect(host.querySelector('input')?.hasAttribute('disabled') ?? true).toBe(
      true
    );
    const img = host.querySelector('img');
    expect(img?.getAttribute('onerror') ?? null).toBeNull();
    const a = host.querySelector('a');
    expect(a?.getAttribute('onclick') ?? null).toBeNull();
    expect(a?.getAttribute('href') ?? '').not.toMatch(/^javascript:/);
    expect((window as any).pwned).toBe(false);
    md.dispose();
    host.remove();
  });

  it('never marks the model trusted', async () => {
    const registry = makeRegistry();
    const seen: boolean[] = [];
    const original = registry.createRenderer.bind(registry);
    registry.createRenderer = (mimeType: string) => {
      const renderer = original(mimeType);
      const render = renderer.renderModel.bind(renderer);
      renderer.renderModel = model => {
        seen.push(model.trusted);
        return render(model);
      };
      return renderer;
    };
    const md = new UntrustedMarkdown(registry, document.createElement('div'));
    await md.render('one');
    await md.render('two');
    expect(seen).toEqual([false, false]);
    md.dispose();
  });

  it('collapses a burst of updates into the latest text', async () => {
    const host = document.createElement('div');
    const md = new UntrustedMarkdown(makeRegistry(), host);
    const renders = [md.render('a'), md.render('ab'), md.render('abc')];
    await Promise.all(renders);
    expect(host.textContent).toContain('abc');
    md.dispose();
  });
});
