/**
 * Galata/Playwright configuration: headless Debian Chromium (never a
 * downloaded browser), a real Jupyter server with the extension, and the
 * scripted OpenAI-compatible model server from tests/scripted_model.py.
 */
const path = require('path');
const fs = require('fs');
const baseConfig = require('@jupyterlab/galata/lib/playwright-config');

process.env.PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD = '1';

const repoRoot = path.resolve(__dirname, '..');
const venvPython = path.join(repoRoot, '.venv', 'bin', 'python');
const python =
  process.env.CODEINTERP_PYTHON ||
  (fs.existsSync(venvPython) ? venvPython : 'python');
const chromium = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const modelPort = Number(process.env.SCRIPTED_MODEL_PORT || 8765);
// JupyterHub-style prefix, e.g. "/user/alice/" (tests/base_url.spec.ts).
const baseUrl = process.env.CODEINTERP_BASE_URL || '/';
// both ports can be moved (CODEINTERP_LAB_PORT, SCRIPTED_MODEL_PORT) to run two checkouts side by side
const serverPort = Number(process.env.CODEINTERP_LAB_PORT || 8888);

module.exports = {
  ...baseConfig,
  timeout: 120000,
  expect: { timeout: 20000 },
  workers: 1,
  // A test that fails once is run again and, if it then passes, reported as "flaky" in
  // the list output, so a timing hiccup on a loaded 2-core box does not fail the whole
  // run while a real break still does (PW_RETRIES=0 for none).
  retries: Number(process.env.PW_RETRIES ?? 1),
  outputDir: 'test-results',
  // need their own servers: playwright-hub.config.js (a prefix behind JupyterHub),
  // playwright-gateway.config.js (kernels behind a Kernel Gateway) and
  // playwright-real-model.config.js (a real model, opt-in) run them
  testIgnore: [
    '**/hub.spec.ts',
    '**/gateway.spec.ts',
    '**/real-model-fix.spec.ts'
  ],
  reporter: [
    ['list'],
    ['html', { open: 'never', outputFolder: 'playwright-report' }]
  ],
  use: {
    ...baseConfig.use,
    baseURL: `http://localhost:${serverPort}${baseUrl}`.replace(/\/$/, ''),
    appPath: '/lab',
    trace: 'retain-on-failure',
    video: 'off',
    screenshot: 'on',
    launchOptions: {
      executablePath: chromium,
      args: ['--disable-gpu', '--disable-dev-shm-usage']
    }
  },
  webServer: [
    {
      command: `${python} ${path.join(repoRoot, 'tests', 'scripted_model.py')} --port ${modelPort}`,
      url: `http://127.0.0.1:${modelPort}/v1/models`,
      timeout: 60000,
      reuseExistingServer: !process.env.CI
    },
    {
      command: `${python} -m jupyterlab --config ${path.join(__dirname, 'jupyter_server_test_config.py')}`,
      url: `http://localhost:${serverPort}${baseUrl}lab`,
      timeout: 120000,
      reuseExistingServer: !process.env.CI,
      env: {
        ...process.env,
        SCRIPTED_MODEL_PORT: String(modelPort),
        CODEINTERP_LAB_PORT: String(serverPort),
        CODEINTERP_BASE_URL: baseUrl
      }
    }
  ]
};
