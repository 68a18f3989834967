/**
 * The pictures at the top of the README, taken from the real product in a
 * fixed viewport and cropped to what they show: the chat while a failed cell
 * is being repaired, the proposed diff of "Fix this error", and "What the
 * model sees".
 *
 * Every run checks the states and writes the pictures next to its results;
 * with CODEINTERP_README_IMAGES=1 it also writes them to docs/images/, which
 * is how the committed pictures are made (so they show the product as it is).
 */
import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';
import { Locator, TestInfo } from '@playwright/test';
import * as fs from 'fs';
import * as path from 'path';

import {
  newNotebook,
  openChat,
  runCode,
  scriptModel,
  sendPrompt,
  sidebar,
  text,
  waitForTurnEnd
} from './helpers';

const IMAGES = path.resolve(__dirname, '..', '..', 'docs', 'images');

async function picture(
  target: Locator | { page: IJupyterLabPageFixture; parts: Locator[] },
  testInfo: TestInfo,
  name: string
): Promise<void> {
  const file = testInfo.outputPath(`${name}.png`);
  if ('parts' in target) {
    // the smallest rectangle around all the parts
    const boxes = await Promise.all(target.parts.map(p => p.boundingBox()));
    const x = Math.min(...boxes.map(b => b!.x));
    const y = Math.min(...boxes.map(b => b!.y));
    const clip = {
      x,
      y,
      width: Math.max(...boxes.map(b => b!.x + b!.width)) - x,
      height: Math.max(...boxes.map(b => b!.y + b!.height)) - y
    };
    await target.page.screenshot({ path: file, clip, animations: 'disabled' });
  } else {
    await target.screenshot({ path: file, animations: 'disabled' });
  }
  await testInfo.attach(name, { path: file, contentType: 'image/png' });
  if (process.env.CODEINTERP_README_IMAGES === '1') {
    fs.mkdirSync(IMAGES, { recursive: true });
    fs.copyFileSync(file, path.join(IMAGES, `${name}.png`));
  }
}

const CSV =
  'region,price\nnorth,1.5\nsouth,2.5\neast,3.0\nwest,4.25\nnorth,2.0\n';
const BAD =
  'import pandas as pd\ndf = pd.read_csv("sales.csv")\ndf.groupby("region")["prices"].sum()';
const FIX =
  'import pandas as pd\ndf = pd.read_csv("sales.csv")\ndf.groupby("region")["price"].sum()';

test.use({ viewport: { width: 1280, height: 800 } });

/** A wider chat (the default right area is narrow for a picture), no left area. */
async function widenChat(page: IJupyterLabPageFixture): Promise<void> {
  await page.evaluate(() => {
    const shell = window.jupyterapp.shell as any;
    shell.collapseLeft();
    shell._hsplitPanel.setRelativeSizes([0, 2, 1]);
  });
}

test.describe('README pictures', () => {
  test('the chat while a failed cell is repaired', async ({
    page,
    request,
    tmpPath
  }, testInfo) => {
    await page.contents.uploadContent(CSV, 'text', `${tmpPath}/sales.csv`);
    await newNotebook(page, 'sales.ipynb');
    await scriptModel(request, {
      replies: [
        runCode(BAD, 'Let me total the prices by region.'),
        runCode(
          FIX,
          'The column is called `price`, not `prices`; repairing the cell.'
        ),
        text(
          'Total price by region: **north 3.5**, south 2.5, east 3.0, west 4.25.'
        )
      ],
      // the repair streams slowly enough to be seen while it is written
      quirks: { chunk_delay: 0.2 }
    });
    const chat = await openChat(page);
    await widenChat(page);
    await sendPrompt(page, 'What is the total price per region in sales.csv?');
    // the failed attempt is on its card, and the repair is being written
    const step = chat.locator('.jp-codeinterp-step').first();
    await expect(step.locator('.jp-codeinterp-badge')).toHaveText(/error/, {
      timeout: 90000
    });
    await expect(step).toContainText('prices');
    await expect(
      chat.locator('section[aria-label="Code being written"] code')
    ).toContainText('read_csv', { timeout: 60000 });
    await picture(sidebar(page), testInfo, 'chat-repair');
    await waitForTurnEnd(page);
    await expect(chat.locator('.jp-codeinterp-attempt')).toHaveText(
      /attempt 2 of 4/
    );
  });

  test('Fix this error proposes a diff', async ({
    page,
    request
  }, testInfo) => {
    await newNotebook(page, 'fix.ipynb');
    await page.notebook.setCell(
      0,
      'code',
      'import pandas as pd\ndf = pd.DataFrame({"price": [1.5, 2.5, 3.0]})\ndf["prices"].mean()'
    );
    await page.notebook.runCell(0);
    await page.keyboard.press('Escape');
    await scriptModel(request, [
      runCode(
        'import pandas as pd\ndf = pd.DataFrame({"price": [1.5, 2.5, 3.0]})\ndf["price"].mean()'
      ),
      text('Fixed: the column is `price`.')
    ]);
    await page.locator('.jp-codeinterp-fix-button').click();
    const diff = page.locator('.jp-codeinterp-celldiff');
    await expect(diff.locator('.jp-codeinterp-diff-add')).toContainText(
      'df["price"]'
    );
    // the diff and the cell's code (its traceback would show this machine's paths)
    const cell = page.locator('.jp-Notebook .jp-Cell').first();
    await picture(
      { page, parts: [diff, cell.locator('.jp-Cell-inputWrapper')] },
      testInfo,
      'fix-diff'
    );
    await diff.locator('.jp-codeinterp-reject').click();
    await expect(diff).toHaveCount(0);
  });

  test('What the model sees', async ({ page, tmpPath }, testInfo) => {
    await page.contents.uploadContent(CSV, 'text', `${tmpPath}/sales.csv`);
    await newNotebook(page, 'context.ipynb');
    await page.notebook.setCell(
      0,
      'code',
      'import pandas as pd\nsales = pd.read_csv("sales.csv")'
    );
    await page.notebook.runCell(0);
    const chat = await openChat(page);
    await chat.getByRole('button', { name: 'What the model sees' }).click();
    const dialog = page.locator('.jp-Dialog-content');
    await expect(dialog.locator('.jp-codeinterp-context-text')).toContainText(
      'sales'
    );
    await expect(dialog).toContainText(/tokens/);
    await picture(dialog, testInfo, 'what-the-model-sees');
    await dialog.getByRole('button', { name: 'Close' }).click();
  });
});
