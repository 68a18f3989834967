/**
 * A chat belongs to its notebook, not to its file name: renaming the open
 * notebook in the file browser keeps the chat in the sidebar, the next prompt
 * goes on with its history, and after a reload the renamed notebook reopens
 * its chat while a new notebook under the old name starts empty.
 */
import { expect, test } from '@jupyterlab/galata';

import {
  modelRequests,
  newNotebook,
  openChat,
  reloadLab,
  screenshots,
  scriptModel,
  sendPrompt,
  sidebar,
  waitForTurnEnd
} from './helpers';

test.describe('rename', () => {
  test('renaming the open notebook in the file browser keeps its chat', async ({
    page,
    request,
    tmpPath
  }, testInfo) => {
    await newNotebook(page, 'before.ipynb');
    await page.notebook.save();
    await scriptModel(request, { scenario: 'echo' });
    const chat = await openChat(page);
    await sendPrompt(page, 'remember the number 4242');
    await waitForTurnEnd(page);
    await expect(chat.locator('.jp-codeinterp-markdown')).toContainText('4242');

    // rename it the way a user does: the file browser's context menu
    await page.sidebar.openTab('filebrowser');
    const item = page.locator('.jp-DirListing-item', {
      has: page.locator('.jp-DirListing-itemText', {
        hasText: /^before\.ipynb$/
      })
    });
    await item.click({ button: 'right' });
    await page
      .locator('.lm-Menu-itemLabel', { hasText: /^Rename$/ })
      .first()
      .click();
    const editor = page.locator('.jp-DirListing-editor');
    await editor.fill('after.ipynb');
    await editor.press('Enter');
    await expect(
      page.locator('.jp-DirListing-itemText', { hasText: /^after\.ipynb$/ })
    ).toBeVisible();

    // the sidebar follows: same chat, same messages, the new name in its header
    await expect(chat.locator('.jp-codeinterp-header-title')).toContainText(
      'after.ipynb'
    );
    await expect(chat.locator('.jp-codeinterp-user-text')).toHaveText(
      'remember the number 4242'
    );
    // and the conversation goes on with its history under the new name
    await sendPrompt(page, 'which number was it?');
    await waitForTurnEnd(page);
    await expect(chat.locator('.jp-codeinterp-user-text')).toHaveText([
      'remember the number 4242',
      'which number was it?'
    ]);
    const requests = await modelRequests(request);
    expect(JSON.stringify(requests[requests.length - 1].messages)).toContain(
      'remember the number 4242'
    );
    await screenshots(page, testInfo, 'rename-kept-chat');

    // after a reload the renamed notebook reopens its chat
    await page.notebook.save();
    await reloadLab(page, tmpPath);
    // (opened by command: the file browser restores its folder asynchronously)
    await page.evaluate(async path => {
      await window.jupyterapp.commands.execute('docmanager:open', { path });
    }, `${tmpPath}/after.ipynb`);
    await page.notebook.activate('after.ipynb');
    await openChat(page);
    await expect(sidebar(page).locator('.jp-codeinterp-user-text')).toHaveText([
      'remember the number 4242',
      'which number was it?'
    ]);

    // a new notebook under the old name is another notebook: no chat
    await newNotebook(page, 'before.ipynb');
    await expect(
      sidebar(page).locator('.jp-codeinterp-header-title')
    ).toContainText('before.ipynb');
    await sidebar(page).getByRole('button', { name: 'Chat history' }).click();
    await expect(
      sidebar(page).locator('.jp-codeinterp-history .jp-codeinterp-note')
    ).toContainText('No saved chats yet.');
    await expect(sidebar(page).locator('.jp-codeinterp-turn')).toHaveCount(0);
  });
});
