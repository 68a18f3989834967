/**
 * Shared steps of the Code Interpreter browser tests: scripting the model
 * server, driving the chat sidebar, reading the notebook, screenshots in the
 * light and the dark theme.
 */
import { expect, IJupyterLabPageFixture } from '@jupyterlab/galata';
import { APIRequestContext, Locator, TestInfo } from '@playwright/test';

export const MODEL_URL = `http://127.0.0.1:${process.env.SCRIPTED_MODEL_PORT || 8765}`;

export type Reply = Record<string, any>;

/** A text answer. */
export function text(content: string, extra: Reply = {}): Reply {
  return { text: content, finish_reason: 'stop', ...extra };
}

/** A run_code tool call (with optional lead text). */
export function runCode(code: string, lead?: string): Reply {
  const reply: Reply = {
    tool_calls: [{ name: 'run_code', arguments: { code } }],
    finish_reason: 'tool_calls'
  };
  if (lead) {
    reply.text = lead;
  }
  return reply;
}

/** Load the model server's script (replies in order). */
export async function scriptModel(
  request: APIRequestContext,
  body: Reply[] | Reply
): Promise<void> {
  const reset = await request.post(`${MODEL_URL}/_control/reset`, { data: {} });
  expect(reset.ok()).toBeTruthy();
  const res = await request.post(`${MODEL_URL}/_control/script`, {
    data: body
  });
  expect(res.ok(), await res.text()).toBeTruthy();
}

/** The chat bodies the model server received. */
export async function modelRequests(
  request: APIRequestContext
): Promise<any[]> {
  const res = await request.get(`${MODEL_URL}/_control/requests`);
  return (await res.json()).requests;
}

export function sidebar(page: IJupyterLabPageFixture): Locator {
  return page.locator('#jp-codeinterp-chat');
}

export async function openChat(page: IJupyterLabPageFixture): Promise<Locator> {
  await page.evaluate(async () => {
    await window.jupyterapp.commands.execute('codeinterp:open-chat');
  });
  const bar = sidebar(page);
  await expect(bar).toBeVisible();
  await expect(bar.locator('.jp-codeinterp-conn-open')).toBeVisible();
  return bar;
}

export async function sendPrompt(
  page: IJupyterLabPageFixture,
  prompt: string
): Promise<void> {
  const input = sidebar(page).locator('.jp-codeinterp-input');
  await input.fill(prompt);
  await input.press('Enter');
}

/** Wait until the last turn of the chat ended. */
export async function waitForTurnEnd(
  page: IJupyterLabPageFixture
): Promise<void> {
  await expect(sidebar(page).locator('.jp-codeinterp-send')).toBeVisible({
    timeout: 90000
  });
  await expect(sidebar(page).locator('.jp-codeinterp-thinking')).toHaveCount(0);
}

interface IGalataReload {
  reload(options: { waitForIsReady?: boolean }): Promise<unknown>;
}

/**
 * Reload JupyterLab and point the file browser at the test's folder: after a
 * reload it restores its folder asynchronously, and a notebook created before
 * that lands in the root (Galata's rename to the test folder then fails).
 */
export async function reloadLab(
  page: IJupyterLabPageFixture,
  folder: string
): Promise<void> {
  // Galata's own reload takes this option; the fixture's type only shows Playwright's
  await (page as unknown as IGalataReload).reload({ waitForIsReady: false });
  await page.locator('#jupyterlab-splash').waitFor({ state: 'detached' });
  await page.evaluate(async path => {
    await window.jupyterapp.commands.execute('filebrowser:go-to-path', {
      path,
      dontShowBrowser: true
    });
  }, folder);
}

/** Create a notebook and wait for its kernel. */
export async function newNotebook(
  page: IJupyterLabPageFixture,
  name: string
): Promise<void> {
  await page.notebook.createNew(name);
  // the toolbar's kernel indicator may be hidden in a narrow main area: ask the session
  await page.waitForFunction(
    () => {
      const panel = (window as any).jupyterapp.shell.currentWidget;
      return panel?.sessionContext?.session?.kernel?.status === 'idle';
    },
    undefined,
    { timeout: 60000 }
  );
}

/** nbformat cells of the current notebook. */
export async function notebookCells(
  page: IJupyterLabPageFixture
): Promise<any[]> {
  return page.evaluate(() => {
    const panel = window.jupyterapp.shell.currentWidget as any;
    return panel.content.model.toJSON().cells;
  });
}

export function outputText(cell: any): string {
  return (cell.outputs ?? [])
    .map((o: any) =>
      o.output_type === 'stream'
        ? [].concat(o.text).join('')
        : o.output_type === 'error'
          ? `${o.ename}: ${o.evalue}`
          : [].concat(o.data?.['text/plain'] ?? '').join('')
    )
    .join('');
}

export function source(cell: any): string {
  return [].concat(cell.source).join('');
}

/**
 * Screenshots of the page in the light and the dark theme, written next to the
 * test's results (test-results/<test>/<name>-light.png, -dark.png) and attached
 * to the HTML report.
 */
export async function screenshots(
  page: IJupyterLabPageFixture,
  testInfo: TestInfo,
  name: string
): Promise<void> {
  const light = testInfo.outputPath(`${name}-light.png`);
  await page.screenshot({ path: light, animations: 'disabled' });
  await testInfo.attach(`${name}-light`, {
    path: light,
    contentType: 'image/png'
  });
  await page.theme.setDarkTheme();
  await waitForThemeApplied(page, true);
  const dark = testInfo.outputPath(`${name}-dark.png`);
  await page.screenshot({ path: dark, animations: 'disabled' });
  await testInfo.attach(`${name}-dark`, {
    path: dark,
    contentType: 'image/png'
  });
  await page.theme.setLightTheme();
  await waitForThemeApplied(page, false);
}

/** Wait until the side panels are painted with the theme's colours (stylesheets load async). */
async function waitForThemeApplied(
  page: IJupyterLabPageFixture,
  dark: boolean
): Promise<void> {
  await page.waitForFunction(isDark => {
    // Every themed area, our sidebar included, must compute the theme's colours: this
    // is the check that the dark theme applies. (Headless Chromium sometimes leaves the
    // top bar and the right area unrepainted in the screenshot although their computed
    // colours are dark: a capture artifact, not the page.)
    const nodes = [
      ...document.querySelectorAll(
        '.jp-SideBar, #jp-top-panel, #jp-codeinterp-chat'
      )
    ];
    return (nodes.length ? nodes : [document.body]).every(node => {
      const rgb = getComputedStyle(node)
        .backgroundColor.match(/\d+/g)
        ?.map(Number) ?? [255, 255, 255];
      const luminance =
        (0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]) / 255;
      return isDark ? luminance < 0.5 : luminance >= 0.5;
    });
  }, dark);
}

/**
 * The repair flow outside a Galata page fixture (Notebook 7, a /user/NAME/ prefix):
 * ask for the total of the scripted prices, see the second attempt succeed and "7.0".
 */
export async function askForTheRepairedTotal(chat: Locator): Promise<void> {
  await chat.locator('.jp-codeinterp-input').fill('add up 1.5, 2.5 and 3.0');
  await chat.locator('.jp-codeinterp-input').press('Enter');
  await expect(chat.locator('.jp-codeinterp-send')).toBeVisible({
    timeout: 90000
  });
  await expect(chat.locator('.jp-codeinterp-attempt')).toHaveText(
    /attempt 2 of 4/
  );
  await expect(chat.locator('.jp-codeinterp-markdown').last()).toContainText(
    '7.0'
  );
}

/**
 * A repaired "total price" turn, as the chat and the remote-kernel flows script it:
 * `bad` fails on the column `prices`, `fix` uses `price`, the answer is "7.0".
 */
export async function scriptRepairedTotal(
  request: APIRequestContext,
  bad: string,
  fix: string
): Promise<void> {
  await scriptModel(request, [
    runCode(bad, 'Let me sum the prices.'),
    runCode(fix, 'The column is called `price`; fixing that.'),
    text('The total price is **7.0**.')
  ]);
}

/**
 * What that turn leaves: one step card on its second attempt, ok; the answer
 * "7.0"; one generated cell holding the fix and its output. Returns that cell.
 */
export async function expectRepairedTotal(
  page: IJupyterLabPageFixture,
  chat: Locator,
  fix: string
): Promise<any> {
  const steps = chat.locator('.jp-codeinterp-step');
  await expect(steps).toHaveCount(1);
  await expect(steps.first().locator('.jp-codeinterp-attempt')).toHaveText(
    /attempt 2 of 4/
  );
  await expect(steps.first().locator('.jp-codeinterp-badge')).toHaveText(/ok/);
  await expect(chat.locator('.jp-codeinterp-markdown strong')).toHaveText(
    '7.0'
  );
  const generated = (await notebookCells(page)).filter(
    c => c.metadata?.codeinterp?.generated
  );
  expect(generated).toHaveLength(1);
  expect(source(generated[0])).toBe(fix);
  expect(outputText(generated[0])).toContain('7.0');
  return generated[0];
}
