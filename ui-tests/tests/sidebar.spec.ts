import { expect, test } from '@jupyterlab/galata';

import { newNotebook, openChat, screenshots } from './helpers';

test.describe('Code Interpreter sidebar', () => {
  test('opens from the command and shows the configured model', async ({
    page
  }, testInfo) => {
    await page.evaluate(async () => {
      await window.jupyterapp.commands.execute('codeinterp:open-chat');
    });
    const sidebar = page.locator('#jp-codeinterp-chat');
    await expect(sidebar).toBeVisible();
    await expect(sidebar.locator('.jp-codeinterp-model-picker')).toHaveValue(
      'scripted-model'
    );
    await screenshots(page, testInfo, 'sidebar');
  });

  test('"what the model sees" shows the context for the notebook', async ({
    page,
    tmpPath
  }, testInfo) => {
    await page.contents.uploadContent(
      'a,b\n1,2\n',
      'text',
      `${tmpPath}/numbers.csv`
    );
    await newNotebook(page, 'context.ipynb');
    await page.notebook.setCell(
      0,
      'code',
      'import pandas as pd\nframe = pd.read_csv("numbers.csv")'
    );
    await page.notebook.runCell(0);
    const chat = await openChat(page);
    await chat.getByRole('button', { name: 'What the model sees' }).click();
    const dialog = page.locator('.jp-Dialog');
    await expect(dialog.locator('.jp-codeinterp-context-text')).toContainText(
      'numbers.csv'
    );
    await expect(dialog.locator('.jp-codeinterp-context-text')).toContainText(
      'frame'
    );
    await expect(dialog).toContainText(/tokens/);
    await screenshots(page, testInfo, 'context');
    await dialog.getByRole('button', { name: 'Close' }).click();
  });
});

test.describe('Code Interpreter sidebar without a model', () => {
  // the config route is mocked before the page loads
  test.use({ autoGoto: false });

  test('without a model it says how to configure one, and what runs locally', async ({
    page
  }, testInfo) => {
    await page.route(/\/codeinterp\/config(\?.*)?$/, async route => {
      await route.fulfill({
        json: {
          preset: '',
          base_url: '',
          model: 'gpt-4.1-mini',
          model_configured: false,
          models: [],
          protocol: 'auto',
          max_repairs: 3,
          auto_run: true,
          vision: false,
          context_token_budget: 6000,
          has_api_key: false,
          local_servers: [
            {
              preset: 'ollama',
              label: 'Ollama',
              base_url: 'http://127.0.0.1:11434/v1',
              models: ['qwen2.5-coder:7b']
            }
          ]
        }
      });
    });
    await page.goto();
    await newNotebook(page, 'setup.ipynb');
    const chat = await openChat(page);
    const setup = chat.locator('.jp-codeinterp-setup');
    await expect(setup).toBeVisible();
    await expect(setup).toContainText('OPENAI_API_KEY');
    await expect(setup).toContainText('Ollama');
    await expect(setup).toContainText('http://127.0.0.1:11434/v1');
    await expect(chat.locator('.jp-codeinterp-input')).toBeDisabled();
    await screenshots(page, testInfo, 'setup');
  });
});
