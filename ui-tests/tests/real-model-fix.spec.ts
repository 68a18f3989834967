/**
 * "Fix this error" with a real model (opt-in: skipped unless CODEINTERP_REAL_MODEL_URL is
 * set; run with `jlpm test:real-model`, which uses playwright-real-model.config.js).
 *
 * A four-line cell with one wrong column: the model's proposal must be the whole cell with
 * that one change, and after Accept the notebook must re-run from the top in a fresh kernel.
 */
import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';

import { newNotebook, notebookCells, outputText, source } from './helpers';

const CSV =
  'region,price,qty\nNorth,2.5,4\nSouth,4.0,5\nNorth,1.5,10\nWest,3.0,1\nSouth,10.0,0\n';
const CELL = [
  'import pandas as pd',
  'df = pd.read_csv("sales.csv")',
  'df["revenue"] = df["Price"] * df["qty"]',
  'print(df.groupby("region")["revenue"].sum())'
].join('\n');
const FIXED_LINE = 'df["revenue"] = df["price"] * df["qty"]';
// North 2.5*4 + 1.5*10, South 4.0*5 + 10.0*0, West 3.0*1
const SUMS = [/North\s+25\.0/, /South\s+20\.0/, /West\s+3\.0/];

/** a model call takes 30-120 s on a couple of CPU cores */
const MODEL_WAIT = 10 * 60 * 1000;

function lines(code: string): string[] {
  return code
    .split('\n')
    .map(l => l.trimEnd())
    .filter(l => l.trim() !== '');
}

/**
 * Run every cell from the top in a fresh kernel (a new kernel process, as Kernel > Change
 * Kernel… starts). The kernel's websocket may be refused while the new kernel starts
 * (jupyter_server answered 500, "'NoneType' object has no attribute 'kernel_ws_protocol'",
 * and a cell run then stayed queued, with or without the extension): reconnect until it is
 * connected, as JupyterLab's reconnect does.
 */
async function runAllInAFreshKernel(
  page: IJupyterLabPageFixture
): Promise<void> {
  await page.evaluate(async () => {
    // no output or execution count of the earlier run is left to mistake for this one
    await window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs');
    const panel = window.jupyterapp.shell.currentWidget as any;
    await panel.sessionContext.changeKernel({ name: 'python3' });
  });
  await page.waitForFunction(
    () => {
      const panel = (window as any).jupyterapp.shell.currentWidget;
      const kernel = panel?.sessionContext?.session?.kernel;
      // the old kernel's connection is disposed while the session changes kernels
      if (kernel?.connectionStatus === 'disconnected' && !kernel.isDisposed) {
        try {
          void kernel.reconnect().catch(() => undefined);
        } catch {
          // disposed meanwhile: the next poll sees the new kernel
        }
      }
      return (
        kernel?.status === 'idle' && kernel?.connectionStatus === 'connected'
      );
    },
    undefined,
    { timeout: 120000, polling: 2000 }
  );
  await page.notebook.run();
}

test.describe('Fix this error with a real model', () => {
  test.skip(
    !process.env.CODEINTERP_REAL_MODEL_URL,
    'set CODEINTERP_REAL_MODEL_URL (an OpenAI-compatible /v1 endpoint) to run'
  );

  test('a wrong column: the whole cell with one change, and the notebook re-runs', async ({
    page,
    tmpPath
  }, testInfo) => {
    const started = Date.now();
    const mark = (what: string) =>
      testInfo.annotations.push({
        type: 'timing',
        description: `${what} at ${((Date.now() - started) / 1000).toFixed(0)} s`
      });

    await page.contents.uploadContent(CSV, 'text', `${tmpPath}/sales.csv`);
    await newNotebook(page, 'real-fix.ipynb');
    await page.notebook.setCell(0, 'code', CELL);
    await page.notebook.runCell(0);
    expect(outputText((await notebookCells(page))[0])).toContain(
      "KeyError: 'Price'"
    );
    await expect(page.locator('.jp-codeinterp-fix-button')).toBeVisible();
    await page.keyboard.press('Escape');

    await page.locator('.jp-codeinterp-fix-button').click();
    const diff = page.locator('.jp-codeinterp-celldiff');
    await expect(diff).toBeVisible({ timeout: MODEL_WAIT });
    mark('proposal shown');
    const proposal = await diff
      .locator('textarea.jp-codeinterp-edit-code')
      .inputValue();
    await testInfo.attach('proposal', { body: proposal });
    await page.screenshot({ path: testInfo.outputPath('real-fix-diff.png') });

    // the whole cell, with only the wrong column changed
    expect(lines(proposal)).toEqual(
      lines(CELL.replace('df["Price"]', 'df["price"]'))
    );
    await expect(diff.locator('.jp-codeinterp-diff-del')).toHaveCount(1);
    await expect(diff.locator('.jp-codeinterp-diff-add')).toHaveCount(1);
    await expect(diff.locator('.jp-codeinterp-diff-add')).toContainText(
      FIXED_LINE
    );

    await diff.locator('.jp-codeinterp-accept').click();
    await expect(diff).toHaveCount(0);
    // the fixed cell ran in place: no error, the sums printed
    await expect
      .poll(async () => outputText((await notebookCells(page))[0]), {
        timeout: MODEL_WAIT
      })
      .toMatch(SUMS[0]);
    await expect(page.locator('.jp-codeinterp-fix-button')).toHaveCount(0);
    mark('accepted cell ran');

    // let the turn end (the model's closing words) before the kernel restarts
    await page.evaluate(async () => {
      await window.jupyterapp.commands.execute('codeinterp:open-chat');
    });
    await expect(
      page.locator('#jp-codeinterp-chat .jp-codeinterp-send')
    ).toBeVisible({ timeout: MODEL_WAIT });
    mark('turn ended');

    // from the top, in a fresh kernel
    const count = (await notebookCells(page)).length;
    await runAllInAFreshKernel(page);
    await expect
      .poll(
        async () =>
          (await notebookCells(page)).every(
            (c: any) =>
              c.cell_type !== 'code' ||
              source(c).trim() === '' ||
              c.execution_count !== null
          ),
        { timeout: 120000 }
      )
      .toBe(true);
    const cells = await notebookCells(page);
    expect(cells).toHaveLength(count);
    expect(lines(source(cells[0]))).toEqual(
      lines(CELL.replace('df["Price"]', 'df["price"]'))
    );
    for (const cell of cells) {
      expect(
        (cell.outputs ?? []).filter((o: any) => o.output_type === 'error')
      ).toEqual([]);
    }
    const printed = outputText(cells[0]);
    for (const sum of SUMS) {
      expect(printed).toMatch(sum);
    }
    mark('re-ran from the top');
    await page.screenshot({
      path: testInfo.outputPath('real-fix-rerun.png')
    });
    await testInfo.attach('real-fix-rerun', {
      path: testInfo.outputPath('real-fix-rerun.png'),
      contentType: 'image/png'
    });
  });
});
