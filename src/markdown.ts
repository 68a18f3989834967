/**
 * Model text rendered as UNTRUSTED markdown through the rendermime registry:
 * the sanitizer strips scripts, event handlers and other active content, and
 * nothing the model writes is ever marked trusted.
 */
import { IRenderMimeRegistry, MimeModel } from '@jupyterlab/rendermime';
import { IRenderMime } from '@jupyterlab/rendermime-interfaces';

const MARKDOWN = 'text/markdown';

/**
 * Renders (and re-renders, as text streams in) markdown into a host node.
 * Renders are serialised, and a burst of updates collapses into one render.
 */
export class UntrustedMarkdown {
  constructor(rendermime: IRenderMimeRegistry, host: HTMLElement) {
    this._rendermime = rendermime;
    this._host = host;
  }

  /** Render `text` (the latest call wins; earlier pending ones are skipped). */
  render(text: string): Promise<void> {
    this._next = text;
    if (!this._running) {
      this._running = this._loop().finally(() => {
        this._running = null;
      });
    }
    return this._running;
  }

  dispose(): void {
    this._disposed = true;
    this._renderer?.dispose();
    this._renderer = null;
  }

  private async _loop(): Promise<void> {
    while (this._next !== null && !this._disposed) {
      const text = this._next;
      this._next = null;
      if (text === this._rendered) {
        continue;
      }
      if (!this._renderer) {
        this._renderer = this._rendermime.createRenderer(MARKDOWN);
        this._host.appendChild(this._renderer.node);
      }
      const model = new MimeModel({
        data: { [MARKDOWN]: text },
        trusted: false
      });
      try {
        await this._renderer.renderModel(model);
        this._rendered = text;
      } catch (error) {
        // fall back to plain text rather than showing nothing
        this._renderer.node.textContent = text;
        console.warn('codeinterp: markdown rendering failed', error);
      }
    }
  }

  private _rendermime: IRenderMimeRegistry;
  private _host: HTMLElement;
  private _renderer: IRenderMime.IRenderer | null = null;
  private _next: string | null = null;
  private _rendered: string | null = null;
  private _running: Promise<void> | null = null;
  private _disposed = false;
}
