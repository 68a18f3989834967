import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';
import { APIRequestContext } from '@playwright/test';

import {
  newNotebook,
  notebookCells,
  outputText,
  runCode,
  screenshots,
  scriptModel,
  source,
  text
} from './helpers';

test.describe('generate-and-run', () => {
  test('a prompt on the active cell writes, runs and repairs a cell below', async ({
    page,
    request
  }, testInfo) => {
    await newNotebook(page, 'generate.ipynb');
    await page.notebook.setCell(0, 'code', 'values = [1.5, 2.5, 3.0]');
    await page.notebook.runCell(0);
    await page.notebook.addCell('markdown', '# Notes below');
    await page.notebook.selectCells(0);
    await page.keyboard.press('Escape');
    await scriptModel(request, [
      runCode('print(sum(value))'),
      runCode('print(sum(values))'),
      text('The sum is 7.0.')
    ]);
    const before = await notebookCells(page);
    await page.evaluate(async () => {
      await window.jupyterapp.commands.execute('codeinterp:generate-cell');
    });
    const box = page.locator('.jp-codeinterp-generate');
    await expect(box).toBeVisible();
    // typed key by key: notebook command-mode shortcuts must not fire
    await box.locator('textarea').pressSequentially('sum the values abcdxyz');
    await screenshots(page, testInfo, 'generate-prompt');
    await box.locator('textarea').press('Enter');
    await expect(box).toHaveCount(0, { timeout: 90000 });

    const cells = await notebookCells(page);
    // one new cell, right below the active (first) cell; repaired in place
    expect(cells).toHaveLength(before.length + 1);
    expect(cells.filter(c => c.metadata?.codeinterp)).toHaveLength(1);
    expect(cells[cells.length - 1].cell_type).toBe('markdown');
    expect(cells[1].metadata.codeinterp.generated).toBe(true);
    expect(source(cells[1])).toBe('print(sum(values))');
    expect(outputText(cells[1])).toContain('7.0');
    await screenshots(page, testInfo, 'generate-done');

    // notebook undo removes what the agent did
    await page.notebook.selectCells(1);
    await page.keyboard.press('Escape');
    await page.evaluate(async () => {
      await window.jupyterapp.commands.execute('notebook:undo-cell-action');
    });
    await expect
      .poll(
        async () =>
          (await notebookCells(page)).filter(c => c.metadata?.codeinterp).length
      )
      .toBe(0);
  });

  test('the code streams into the new cell while the model writes it', async ({
    page,
    request
  }) => {
    await newNotebook(page, 'stream.ipynb');
    await page.notebook.setCell(0, 'code', 'x = 1');
    await page.notebook.runCell(0);
    await page.notebook.selectCells(0);
    await page.keyboard.press('Escape');
    const code = Array.from(
      { length: 12 },
      (_, i) => `print("line ${i}")`
    ).join('\n');
    await scriptModel(request, {
      replies: [runCode(code), text('Printed twelve lines.')],
      quirks: { chunk_delay: 0.1 }
    });
    await page.evaluate(async () => {
      await window.jupyterapp.commands.execute('codeinterp:generate-cell');
    });
    const box = page.locator('.jp-codeinterp-generate');
    await box.locator('textarea').fill('print twelve lines');
    await box.locator('textarea').press('Enter');
    // a preview cell below the active cell fills up before anything runs
    await expect
      .poll(
        async () => {
          const cells = await notebookCells(page);
          const preview = cells.find(c => c.metadata?.codeinterp?.preview);
          return preview ? source(preview).length : 0;
        },
        { timeout: 60000, intervals: [100] }
      )
      .toBeGreaterThan(0);
    await expect(box).toHaveCount(0, { timeout: 90000 });
    const cells = await notebookCells(page);
    const generated = cells.filter(c => c.metadata?.codeinterp);
    expect(generated).toHaveLength(1);
    expect(generated[0].metadata.codeinterp.preview).toBeUndefined();
    expect(source(generated[0])).toBe(code);
    expect(outputText(generated[0])).toContain('line 11');
  });
});

test.describe('generate-and-run: Keep / Discard', () => {
  async function generate(
    page: IJupyterLabPageFixture,
    request: APIRequestContext,
    name: string
  ): Promise<void> {
    await newNotebook(page, name);
    await page.notebook.setCell(0, 'code', 'values = [1.5, 2.5, 3.0]');
    await page.notebook.runCell(0);
    await page.notebook.selectCells(0);
    await page.keyboard.press('Escape');
    await scriptModel(request, [
      runCode('mean = sum(values) / len(values)\nprint(mean)'),
      text('The mean is 2.33.')
    ]);
    await page.evaluate(async () => {
      await window.jupyterapp.commands.execute('codeinterp:generate-cell');
    });
    const box = page.locator('.jp-codeinterp-generate');
    await box.locator('textarea').fill('the mean of the values');
    await box.locator('textarea').press('Enter');
    await expect(box).toHaveCount(0, { timeout: 90000 });
  }

  const generatedCount = async (page: IJupyterLabPageFixture) =>
    (await notebookCells(page)).filter(c => c.metadata?.codeinterp?.generated)
      .length;

  test('Keep leaves the cell and removes the bar', async ({
    page,
    request
  }, testInfo) => {
    await generate(page, request, 'keep.ipynb');
    const bar = page.locator('.jp-codeinterp-keepbar');
    await expect(bar).toBeVisible();
    await expect(bar).toContainText('Keep this generated cell?');
    await screenshots(page, testInfo, 'generate-keep-discard');
    await bar.getByRole('button', { name: 'Keep' }).click();
    await expect(bar).toHaveCount(0);
    expect(await generatedCount(page)).toBe(1);
  });

  test('Discard removes the cell in one notebook-undo step', async ({
    page,
    request
  }) => {
    await generate(page, request, 'discard.ipynb');
    const before = await notebookCells(page);
    const bar = page.locator('.jp-codeinterp-keepbar');
    await bar.getByRole('button', { name: 'Discard' }).click();
    await expect.poll(() => generatedCount(page)).toBe(0);
    await expect(bar).toHaveCount(0);
    // one notebook undo (Z in command mode) brings it back, output included
    await page.notebook.selectCells(0);
    await page.keyboard.press('Escape');
    await page.keyboard.press('z');
    await expect
      .poll(async () => (await notebookCells(page)).map(source))
      .toEqual(before.map(source));
    const back = (await notebookCells(page)).find(
      c => c.metadata?.codeinterp?.generated
    );
    expect(outputText(back)).toContain('2.33');
  });

  test('editing the generated cell is an answer: the bar goes, the cell stays', async ({
    page,
    request
  }) => {
    await generate(page, request, 'edit.ipynb');
    const bar = page.locator('.jp-codeinterp-keepbar');
    await expect(bar).toBeVisible();
    const index = (await notebookCells(page)).findIndex(
      c => c.metadata?.codeinterp?.generated
    );
    await page.notebook.setCell(index, 'code', 'mean = 0');
    await expect(bar).toHaveCount(0);
    expect(await generatedCount(page)).toBe(1);
  });
});
