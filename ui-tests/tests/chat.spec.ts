import { expect, test } from '@jupyterlab/galata';

import {
  expectRepairedTotal,
  modelRequests,
  newNotebook,
  notebookCells,
  openChat,
  outputText,
  reloadLab,
  runCode,
  screenshots,
  scriptModel,
  scriptRepairedTotal,
  sendPrompt,
  text,
  waitForTurnEnd
} from './helpers';

const CSV = 'region,price\nnorth,1.5\nsouth,2.5\neast,3.0\n';
const BAD =
  'import pandas as pd\ndf = pd.read_csv("sales.csv")\nprint(df["prices"].sum())';
const FIX =
  'import pandas as pd\ndf = pd.read_csv("sales.csv")\nprint(df["price"].sum())';

test.describe('chat', () => {
  test('a wrong column on a CSV is repaired in place and answered', async ({
    page,
    request,
    tmpPath
  }, testInfo) => {
    await page.contents.uploadContent(CSV, 'text', `${tmpPath}/sales.csv`);
    await newNotebook(page, 'analysis.ipynb');
    await scriptRepairedTotal(request, BAD, FIX);
    const chat = await openChat(page);
    await sendPrompt(page, 'What is the total price in sales.csv?');
    await waitForTurnEnd(page);

    // one step card, repaired: attempt 2, ok; one generated cell, with the fix and its output
    const cell = await expectRepairedTotal(page, chat, FIX);
    const steps = chat.locator('.jp-codeinterp-step');
    expect(cell.metadata.codeinterp.turn).toBe(1);

    // the traceback reached the model
    const requests = await modelRequests(request);
    const second = JSON.stringify(requests[1].messages);
    expect(second).toContain('KeyError');

    // the link scrolls to the cell and makes it active
    await steps.first().locator('.jp-codeinterp-goto-cell').click();
    const active = await page.evaluate(() => {
      const panel = window.jupyterapp.shell.currentWidget as any;
      return panel.content.activeCell.model.id;
    });
    expect(active).toBe(cell.id);

    await screenshots(page, testInfo, 'chat-repair');
  });

  test('a provider error is shown plainly and Retry keeps the prompt', async ({
    page,
    request
  }, testInfo) => {
    await newNotebook(page, 'errors.ipynb');
    await scriptModel(request, [
      {
        error: {
          status: 401,
          message: 'Incorrect API key provided: sk-***.',
          code: 'invalid_api_key',
          type: 'invalid_request_error'
        }
      },
      text('Hello again.')
    ]);
    const chat = await openChat(page);
    await sendPrompt(page, 'Say hello');
    await waitForTurnEnd(page);
    const error = chat.locator('.jp-codeinterp-error');
    await expect(error).toBeVisible();
    await screenshots(page, testInfo, 'chat-error');
    await error.locator('.jp-codeinterp-retry').first().click();
    await waitForTurnEnd(page);
    await expect(chat.locator('.jp-codeinterp-turn')).toHaveCount(2);
    await expect(chat.locator('.jp-codeinterp-user-text').last()).toHaveText(
      'Say hello'
    );
    await expect(chat.locator('.jp-codeinterp-markdown').last()).toContainText(
      'Hello again.'
    );
  });

  test('reload keeps the chat history; new chat and delete', async ({
    page,
    request,
    tmpPath
  }, testInfo) => {
    await newNotebook(page, 'history.ipynb');
    await scriptModel(request, { scenario: 'echo' });
    let chat = await openChat(page);
    await sendPrompt(page, 'remember the number 31337');
    await waitForTurnEnd(page);
    await expect(chat.locator('.jp-codeinterp-markdown')).toContainText(
      '31337'
    );

    // saved as a user would, so the notebook reopens with its kernel (an
    // unsaved new notebook has no kernelspec and reopens behind a kernel dialog)
    await page.notebook.save();
    await reloadLab(page, tmpPath);
    if (!(await page.notebook.isOpen('history.ipynb'))) {
      await page.notebook.openByPath(`${tmpPath}/history.ipynb`);
    }
    await page.notebook.activate('history.ipynb');
    chat = await openChat(page);
    await expect(chat.locator('.jp-codeinterp-user-text')).toHaveText(
      'remember the number 31337'
    );
    await expect(chat.locator('.jp-codeinterp-markdown')).toContainText(
      'You said'
    );
    await screenshots(page, testInfo, 'chat-history');

    // new chat, then the history list shows the old one; delete it
    await chat.getByRole('button', { name: 'New chat' }).click();
    await expect(chat.locator('.jp-codeinterp-turn')).toHaveCount(0);
    await chat.getByRole('button', { name: 'Chat history' }).click();
    const items = chat.locator('.jp-codeinterp-history-item');
    await expect(items).toHaveCount(1);
    await expect(items.first()).toContainText('remember the number 31337');
    await chat
      .locator('.jp-codeinterp-history-list li')
      .first()
      .getByRole('button', { name: /Delete chat/ })
      .click();
    await page
      .locator('.jp-Dialog')
      .getByRole('button', { name: 'Delete' })
      .click();
    await expect(items).toHaveCount(0);
  });

  test('a generated cell calling input() fails fast instead of hanging', async ({
    page,
    request
  }) => {
    await newNotebook(page, 'stdin.ipynb');
    await scriptModel(request, [
      runCode('name = input("Your name? ")\nprint(name)'),
      runCode('name = "Ada"\nprint(name)'),
      text('Used a fixed name: Ada.')
    ]);
    const chat = await openChat(page);
    await sendPrompt(page, 'greet me');
    await waitForTurnEnd(page);
    await expect(chat.locator('.jp-codeinterp-attempt')).toHaveText(
      /attempt 2 of 4/
    );
    const requests = await modelRequests(request);
    expect(JSON.stringify(requests[1].messages)).toMatch(
      /StdinNotImplementedError|input/
    );
    const generated = (await notebookCells(page)).filter(
      c => c.metadata?.codeinterp?.generated
    );
    expect(generated).toHaveLength(1);
    expect(outputText(generated[0])).toContain('Ada');
  });
});
