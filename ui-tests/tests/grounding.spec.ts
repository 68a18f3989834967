/**
 * The marker on answers that do not rest on the turn's executed cells
 * (`turn_end.grounding`): "Not computed from your data" and "Numbers not found
 * in any output of this turn"; nothing for a computed answer. Shown live and
 * in a chat reloaded from the server's history.
 */
import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';

import {
  newNotebook,
  openChat,
  reloadLab,
  screenshots,
  scriptModel,
  sendPrompt,
  sidebar,
  text,
  waitForTurnEnd
} from './helpers';

const MARKERS: Record<string, string> = {
  not_computed: 'Not computed from your data',
  unverified: 'Numbers not found in any output of this turn'
};

/**
 * Where the test server keeps a notebook's chats (jupyter_server_test_config.py,
 * chat/history.py): a folder named after the notebook's location, its absolute path
 * on disk with symlinks resolved (chat/identity.py).
 */
async function historyFolder(
  page: IJupyterLabPageFixture,
  notebookPath: string
): Promise<{ folder: string; location: string }> {
  const root = await page.evaluate(
    () =>
      JSON.parse(document.getElementById('jupyter-config-data')!.textContent!)
        .serverRoot as string
  );
  const location =
    'file:' +
    path.join(
      fs.realpathSync(root),
      ...notebookPath.replace(/^\/+|\/+$/g, '').split('/')
    );
  const key =
    'nb-' +
    crypto.createHash('sha256').update(location).digest('hex').slice(0, 32);
  return { folder: path.join(root, '.codeinterp-history', key), location };
}

function usage(total: number): Record<string, unknown> {
  return {
    prompt_tokens: total - 20,
    completion_tokens: 20,
    total_tokens: total,
    cost: null,
    estimated: false
  };
}

/** A saved chat with one answer of each kind, as the server writes it. */
function savedChat(id: string, notebookPath: string): Record<string, unknown> {
  const turn = (
    n: number,
    prompt: string,
    answer: string,
    grounding: string,
    cellsRun: number
  ) => [
    { type: 'turn_start', chat_id: id, turn: n, mode: 'chat', prompt },
    { type: 'text_delta', chat_id: id, turn: n, text: answer },
    {
      type: 'turn_end',
      chat_id: id,
      turn: n,
      status: 'done',
      answer,
      usage: usage(300),
      chat_usage: usage(300 * n),
      grounding,
      cells_run: cellsRun,
      changes: { cells: [], files: [] }
    }
  ];
  const now = Date.now() / 1000;
  return {
    id,
    notebook_path: notebookPath,
    title: 'Mean price',
    created: now,
    updated: now,
    turns: 3,
    usage: usage(900),
    conversation: [],
    display: [
      ...turn(
        1,
        'What is the mean price in sales.csv?',
        'I did not run any code, so I cannot give the mean from your data.',
        'not_computed',
        0
      ),
      ...turn(
        2,
        'And the median?',
        'The median price is 2.5.',
        'unverified',
        1
      ),
      ...turn(3, 'And the maximum?', 'The maximum price is 3.0.', 'computed', 1)
    ]
  };
}

test.describe('grounding of answers', () => {
  test('a saved chat shows the marker on answers not backed by a cell, and nothing on computed ones', async ({
    page,
    tmpPath
  }, testInfo) => {
    const notebookPath = `${tmpPath}/saved.ipynb`;
    await newNotebook(page, 'saved.ipynb');
    await page.notebook.save();
    const { folder, location } = await historyFolder(page, notebookPath);
    fs.mkdirSync(folder, { recursive: true });
    fs.writeFileSync(
      path.join(folder, '.notebook.json'),
      JSON.stringify({ location, path: notebookPath, format: 2 })
    );
    fs.writeFileSync(
      path.join(folder, 'groundingchat.json'),
      JSON.stringify(savedChat('groundingchat', notebookPath))
    );
    // the page opens the notebook's newest saved chat
    await reloadLab(page, tmpPath);
    if (!(await page.notebook.isOpen('saved.ipynb'))) {
      await page.notebook.openByPath(notebookPath);
    }
    await page.notebook.activate('saved.ipynb');
    const chat = await openChat(page);
    const turns = chat.locator('.jp-codeinterp-turn');
    await expect(turns).toHaveCount(3);
    await expect(turns.nth(0).locator('.jp-codeinterp-grounding')).toHaveText(
      MARKERS.not_computed
    );
    await expect(turns.nth(1).locator('.jp-codeinterp-grounding')).toHaveText(
      MARKERS.unverified
    );
    await expect(turns.nth(2).locator('.jp-codeinterp-grounding')).toHaveCount(
      0
    );
    await expect(turns.nth(2).locator('.jp-codeinterp-usage')).toContainText(
      '1 cell ran'
    );
    await expect(
      turns.nth(0).locator('.jp-codeinterp-usage')
    ).not.toContainText('ran');
    await screenshots(page, testInfo, 'grounding');
  });

  test('a turn that runs no cell: the marker is what the server said, live and after a reload', async ({
    page,
    request,
    tmpPath
  }) => {
    await newNotebook(page, 'live.ipynb');
    // the same answer a few times over, should the server ask the model again
    await scriptModel(request, [
      text('The mean price is 2.33.'),
      text('The mean price is 2.33.'),
      text('The mean price is 2.33.')
    ]);
    const chat = await openChat(page);
    await sendPrompt(page, 'What is the mean price in sales.csv?');
    await waitForTurnEnd(page);

    // what the server recorded for this turn (its saved display log)
    const { folder } = await historyFolder(page, `${tmpPath}/live.ipynb`);
    const [file] = fs
      .readdirSync(folder)
      .filter(f => f.endsWith('.json') && !f.startsWith('.'));
    const saved = JSON.parse(fs.readFileSync(path.join(folder, file), 'utf-8'));
    const end = saved.display.find((m: any) => m.type === 'turn_end');
    expect(end.cells_run).toBe(0);
    const expected = MARKERS[end.grounding ?? ''];

    const check = async () => {
      const marker = sidebar(page).locator('.jp-codeinterp-grounding');
      if (expected) {
        await expect(marker).toHaveText(expected);
      } else {
        await expect(marker).toHaveCount(0);
      }
      await expect(
        sidebar(page).locator('.jp-codeinterp-markdown').first()
      ).toContainText('2.33');
    };
    await check();
    await page.notebook.save();
    await reloadLab(page, tmpPath);
    if (!(await page.notebook.isOpen('live.ipynb'))) {
      await page.notebook.openByPath(`${tmpPath}/live.ipynb`);
    }
    await page.notebook.activate('live.ipynb');
    await openChat(page);
    await expect(chat.locator('.jp-codeinterp-turn')).toHaveCount(1);
    await check();
  });
});
