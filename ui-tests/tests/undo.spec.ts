/**
 * A turn's change set in the chat (cells added, a fix accepted, files
 * written, links to the cells) and Undo this turn: one notebook-undo step,
 * the kernel untouched, refused while a cell was edited since, and still
 * there after a reload.
 */
import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';
import { Locator } from '@playwright/test';

import {
  newNotebook,
  notebookCells,
  openChat,
  outputText,
  reloadLab,
  runCode,
  screenshots,
  scriptModel,
  sendPrompt,
  source,
  text,
  waitForTurnEnd
} from './helpers';

const TOTAL = 'total = sum(data)\nprint(total)';
const SAVE =
  'with open("total.txt", "w") as f:\n    f.write(str(total))\nprint("saved")';

/**
 * A notebook with data (running its cell adds an empty one below, where the
 * turn's cells go), and a turn that adds two cells, one writing a file.
 */
async function turnThatAddsTwoCells(
  page: IJupyterLabPageFixture,
  request: any,
  name: string
): Promise<Locator> {
  await newNotebook(page, name);
  await page.notebook.setCell(0, 'code', 'data = [1.5, 2.5, 3.0]');
  await page.notebook.runCell(0);
  await page.keyboard.press('Escape');
  await scriptModel(request, [
    runCode(TOTAL),
    runCode(SAVE),
    text('The total is **7.0**; I saved it to total.txt.')
  ]);
  const chat = await openChat(page);
  await sendPrompt(page, 'Total the data and save it to a file');
  await waitForTurnEnd(page);
  return chat;
}

/** The value of a name in the notebook's kernel (without running a cell). */
async function kernelValue(
  page: IJupyterLabPageFixture,
  name: string
): Promise<string> {
  return page.evaluate(async expr => {
    const panel = window.jupyterapp.shell.currentWidget as any;
    const kernel = panel.sessionContext.session.kernel;
    const future = kernel.requestExecute({
      code: '',
      silent: true,
      store_history: false,
      user_expressions: { v: expr }
    });
    const reply = (await future.done) as any;
    const v = reply.content.user_expressions.v;
    return v.status === 'ok' ? v.data['text/plain'] : `${v.ename}`;
  }, name);
}

/**
 * Notebook undo as a user does it: Z in command mode (JupyterLab's undo of
 * cell actions; Ctrl+Z undoes typing in the active cell's editor).
 */
async function notebookUndo(page: IJupyterLabPageFixture): Promise<void> {
  await page.notebook.selectCells(0);
  await page.keyboard.press('Escape');
  await page.keyboard.press('z');
}

test.describe('a turn as a change set', () => {
  test('lists what the turn changed, links to its cells, and undoes it in one notebook-undo step', async ({
    page,
    request,
    tmpPath
  }, testInfo) => {
    const chat = await turnThatAddsTwoCells(page, request, 'undo.ipynb');
    const changes = chat.locator('.jp-codeinterp-changes');
    await expect(changes.locator('.jp-codeinterp-changes-summary')).toHaveText(
      '2 cells added · 1 file written'
    );
    const rows = changes.locator('.jp-codeinterp-change');
    await expect(rows).toHaveCount(3);
    await expect(rows.nth(0)).toContainText('cell 3');
    await expect(rows.nth(0)).toContainText('total = sum(data)');
    await expect(rows.nth(1)).toContainText('cell 4');
    await expect(rows.nth(2)).toContainText('total.txt');

    // the link scrolls to the cell and makes it active
    await rows.nth(1).locator('.jp-codeinterp-change-cell').click();
    const cells = await notebookCells(page);
    expect(cells.map(source)).toEqual([
      'data = [1.5, 2.5, 3.0]',
      '',
      TOTAL,
      SAVE
    ]);
    const active = await page.evaluate(
      () =>
        (window.jupyterapp.shell.currentWidget as any).content.activeCell.model
          .id
    );
    expect(active).toBe(cells[3].id);
    await screenshots(page, testInfo, 'turn-changes');

    // Undo this turn: the dialog says what happens to the kernel
    await changes.locator('.jp-codeinterp-undo-turn').click();
    const dialog = page.locator('.jp-Dialog');
    await expect(dialog).toContainText('Removes the 2 cells this turn added');
    await expect(dialog).toContainText(
      'variables its cells created stay in the kernel until it restarts'
    );
    await dialog.getByRole('button', { name: 'Undo Turn' }).click();
    await expect
      .poll(async () => (await notebookCells(page)).map(source))
      .toEqual(['data = [1.5, 2.5, 3.0]', '']);
    await expect(changes.locator('.jp-codeinterp-changes-undone')).toHaveText(
      /Undone/
    );
    await expect(changes.locator('.jp-codeinterp-undo-turn')).toHaveCount(0);
    // the kernel keeps what the cells defined, the file stays
    expect(await kernelValue(page, 'total')).toBe('7.0');
    expect(await page.contents.fileExists(`${tmpPath}/total.txt`)).toBe(true);
    await screenshots(page, testInfo, 'turn-undone');

    // one notebook undo brings both cells back, outputs included
    await notebookUndo(page);
    await expect
      .poll(async () => (await notebookCells(page)).map(source))
      .toEqual(['data = [1.5, 2.5, 3.0]', '', TOTAL, SAVE]);
    const back = await notebookCells(page);
    expect(back.map(c => c.id)).toEqual(cells.map(c => c.id));
    expect(outputText(back[2])).toContain('7.0');
    await expect(changes.locator('.jp-codeinterp-undo-turn')).toBeVisible();
  });

  test('refuses, and changes nothing, when a cell was edited since; names the cell', async ({
    page,
    request
  }, testInfo) => {
    const chat = await turnThatAddsTwoCells(page, request, 'edited.ipynb');
    await page.notebook.setCell(2, 'code', 'total = sum(data) * 2');
    await page.keyboard.press('Escape');
    const before = await notebookCells(page);
    const changes = chat.locator('.jp-codeinterp-changes');
    await expect(
      changes.locator(
        '.jp-codeinterp-change-edited .jp-codeinterp-change-status'
      )
    ).toHaveText('edited since');

    await changes.locator('.jp-codeinterp-undo-turn').click();
    const refused = changes.locator('.jp-codeinterp-undo-refused');
    await expect(refused).toBeVisible();
    await expect(refused).toContainText('Nothing was undone');
    await expect(page.locator('.jp-Dialog')).toHaveCount(0);
    expect((await notebookCells(page)).map(source)).toEqual(before.map(source));
    await screenshots(page, testInfo, 'undo-refused');

    // the refusal links to the edited cell
    await refused.locator('.jp-codeinterp-change-cell').click();
    const active = await page.evaluate(
      () =>
        (window.jupyterapp.shell.currentWidget as any).content.activeCell.model
          .id
    );
    expect(active).toBe(before[2].id);
  });

  test('Undo this turn works after a page reload', async ({
    page,
    request,
    tmpPath
  }) => {
    await turnThatAddsTwoCells(page, request, 'reload.ipynb');
    await page.notebook.save();
    await reloadLab(page, tmpPath);
    if (!(await page.notebook.isOpen('reload.ipynb'))) {
      await page.notebook.openByPath(`${tmpPath}/reload.ipynb`);
    }
    await page.notebook.activate('reload.ipynb');
    const chat = await openChat(page);
    const changes = chat.locator('.jp-codeinterp-changes');
    await expect(changes.locator('.jp-codeinterp-changes-summary')).toHaveText(
      '2 cells added · 1 file written'
    );
    await changes.locator('.jp-codeinterp-undo-turn').click();
    await page
      .locator('.jp-Dialog')
      .getByRole('button', { name: 'Undo Turn' })
      .click();
    await expect
      .poll(async () => (await notebookCells(page)).map(source))
      .toEqual(['data = [1.5, 2.5, 3.0]', '']);
  });

  test('an accepted fix is undone: the cell gets its source back', async ({
    page,
    request
  }, testInfo) => {
    const mine = 'values = [1.5, 2.5, 3.0]\nprint(sum(value))';
    const fixed = 'values = [1.5, 2.5, 3.0]\nprint(sum(values))';
    await newNotebook(page, 'fixundo.ipynb');
    await page.notebook.setCell(0, 'code', mine);
    await page.notebook.runCell(0);
    await page.keyboard.press('Escape');
    await scriptModel(request, [
      runCode(fixed),
      text('Fixed: the sum is 7.0.')
    ]);
    const chat = await openChat(page);
    await page.locator('.jp-codeinterp-fix-button').click();
    await page.locator('.jp-codeinterp-celldiff .jp-codeinterp-accept').click();
    await waitForTurnEnd(page);
    await expect
      .poll(async () => source((await notebookCells(page))[0]))
      .toBe(fixed);
    const changes = chat.locator('.jp-codeinterp-changes');
    await expect(changes.locator('.jp-codeinterp-changes-summary')).toHaveText(
      '1 cell fixed'
    );
    await expect(changes.locator('.jp-codeinterp-change')).toContainText(
      'fixed (your cell)'
    );
    await screenshots(page, testInfo, 'fix-changes');
    await changes.locator('.jp-codeinterp-undo-turn').click();
    await expect(page.locator('.jp-Dialog')).toContainText(
      'Restores your cell as it was before the fix'
    );
    await page
      .locator('.jp-Dialog')
      .getByRole('button', { name: 'Undo Turn' })
      .click();
    await expect
      .poll(async () => (await notebookCells(page)).map(source))
      .toEqual([mine, '']);
    await expect(
      changes.locator('.jp-codeinterp-changes-undone')
    ).toBeVisible();
    // notebook undo brings the fix back
    await notebookUndo(page);
    await expect
      .poll(async () => (await notebookCells(page)).map(source))
      .toEqual([fixed, '']);
  });
});
