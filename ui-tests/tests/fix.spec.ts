import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';

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

const USER_CODE =
  'import pandas as pd\ndf = pd.DataFrame({"price": [1.5, 2.5, 3.0]})\nprint(df["prices"].sum())';
const FIXED =
  'import pandas as pd\ndf = pd.DataFrame({"price": [1.5, 2.5, 3.0]})\nprint(df["price"].sum())';

async function failingCell(
  page: IJupyterLabPageFixture,
  name: string
): Promise<void> {
  await newNotebook(page, name);
  await page.notebook.setCell(0, 'code', USER_CODE);
  await page.notebook.runCell(0);
  await expect(page.locator('.jp-codeinterp-fix-button')).toBeVisible();
  // leave edit mode so the notebook is in a stable state
  await page.keyboard.press('Escape');
}

// a four-line cell whose third line uses a wrong column; the model proposes that line only
const CSV_SETUP =
  'open("sales.csv", "w").write("region,price\\nN,1.5\\nS,2.5\\nN,3.0\\n")';
const FOUR_LINES =
  'import pandas as pd\ndf = pd.read_csv("sales.csv")\ndf["doubled"] = df["Price"] * 2\nprint(df.groupby("region")["doubled"].sum())';
const ONLY_CHANGED = 'df["doubled"] = df["price"] * 2';

test.describe('Fix this error', () => {
  test('Accept replaces the cell and re-runs it', async ({
    page,
    request
  }, testInfo) => {
    await failingCell(page, 'fix-accept.ipynb');
    await scriptModel(request, [
      runCode(FIXED, 'The column is `price`.'),
      text('Fixed: the total is 7.0.')
    ]);
    const before = await notebookCells(page);
    await page.locator('.jp-codeinterp-fix-button').click();

    const diff = page.locator('.jp-codeinterp-celldiff');
    await expect(diff).toBeVisible();
    await expect(diff.locator('.jp-codeinterp-diff-del')).toContainText(
      'df["prices"]'
    );
    await expect(diff.locator('.jp-codeinterp-diff-add')).toContainText(
      'df["price"]'
    );
    // nothing changed while the fix waits for the user
    expect((await notebookCells(page)).map(source)).toEqual(before.map(source));
    await screenshots(page, testInfo, 'fix-diff');

    await diff.locator('.jp-codeinterp-accept').click();
    await expect(diff).toHaveCount(0);
    await expect
      .poll(async () => outputText((await notebookCells(page))[0]), {
        timeout: 60000
      })
      .toContain('7.0');
    const cells = await notebookCells(page);
    expect(cells).toHaveLength(before.length);
    expect(source(cells[0])).toBe(FIXED);
    await expect(page.locator('.jp-codeinterp-fix-button')).toHaveCount(0);
    await screenshots(page, testInfo, 'fix-accepted');
  });

  test('Reject leaves the notebook exactly as it was', async ({
    page,
    request
  }, testInfo) => {
    await failingCell(page, 'fix-reject.ipynb');
    await scriptModel(request, [runCode(FIXED, 'The column is `price`.')]);
    const before = await notebookCells(page);
    await page.locator('.jp-codeinterp-fix-button').click();
    const diff = page.locator('.jp-codeinterp-celldiff');
    await expect(diff).toBeVisible();
    await diff.locator('.jp-codeinterp-reject').click();
    await expect(diff).toHaveCount(0);
    await expect(page.locator('.jp-codeinterp-fix-status')).toContainText(
      /rejected|unchanged/i
    );
    const after = await notebookCells(page);
    expect(after).toEqual(before);
    await screenshots(page, testInfo, 'fix-rejected');
  });

  test('the fix-error command works on the active cell', async ({
    page,
    request
  }) => {
    await failingCell(page, 'fix-command.ipynb');
    await scriptModel(request, [runCode(FIXED), text('Done.')]);
    await page.notebook.selectCells(0);
    await page.evaluate(async () => {
      await window.jupyterapp.commands.execute('codeinterp:fix-error');
    });
    await expect(page.locator('.jp-codeinterp-celldiff')).toBeVisible();
    // the same proposal is in the chat, with Accept / Reject there too
    await page.evaluate(async () => {
      await window.jupyterapp.commands.execute('codeinterp:open-chat');
    });
    const card = page.locator('#jp-codeinterp-chat .jp-codeinterp-approval');
    await expect(card.locator('.jp-codeinterp-diff-add')).toContainText(
      'df["price"]'
    );
    await card.locator('.jp-codeinterp-accept').click();
    await expect(page.locator('.jp-codeinterp-celldiff')).toHaveCount(0);
    await expect
      .poll(async () => outputText((await notebookCells(page))[0]), {
        timeout: 60000
      })
      .toContain('7.0');
  });
  test('a proposal of only the changed line becomes the whole cell', async ({
    page,
    request
  }, testInfo) => {
    await newNotebook(page, 'fix-partial.ipynb');
    await page.notebook.setCell(0, 'code', CSV_SETUP);
    await page.notebook.runCell(0);
    // running cell 0 left an empty cell 1 below it
    await page.notebook.setCell(1, 'code', FOUR_LINES);
    await page.notebook.runCell(1);
    await expect(page.locator('.jp-codeinterp-fix-button')).toBeVisible();
    await page.keyboard.press('Escape');
    await scriptModel(request, [
      runCode(ONLY_CHANGED, 'The column is `price`.'),
      text('Fixed: the column is lowercase.')
    ]);
    await page.locator('.jp-codeinterp-fix-button').click();

    const diff = page.locator('.jp-codeinterp-celldiff');
    await expect(diff).toBeVisible();
    // one line changes; the import, the load and the groupby stay
    await expect(diff.locator('.jp-codeinterp-diff-del')).toHaveCount(1);
    await expect(diff.locator('.jp-codeinterp-diff-add')).toHaveCount(1);
    await expect(diff.locator('.jp-codeinterp-diff-add')).toContainText(
      'df["price"]'
    );
    await screenshots(page, testInfo, 'fix-partial-diff');

    await diff.locator('.jp-codeinterp-accept').click();
    await expect(diff).toHaveCount(0);
    await expect
      .poll(async () => outputText((await notebookCells(page))[1]), {
        timeout: 60000
      })
      .toContain('N    9.0');
    const cells = await notebookCells(page);
    expect(source(cells[1])).toBe(
      FOUR_LINES.replace('df["Price"]', 'df["price"]')
    );
  });
});
