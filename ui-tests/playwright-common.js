/**
 * What the Playwright configurations share: the Python that runs the servers (the
 * checkout's .venv when there is one), Debian's chromium (never a downloaded
 * browser), the ports, the scripted model server and the browser settings.
 *
 * Ports can be moved to run two checkouts side by side: CODEINTERP_LAB_PORT
 * (JupyterLab, default 8888) and SCRIPTED_MODEL_PORT (default 8765).
 */
const path = require('path');
const fs = require('fs');

process.env.PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD = '1';

const repoRoot = path.resolve(__dirname, '..');
const venvPython = path.join(repoRoot, '.venv', 'bin', 'python');
const python =
  process.env.CODEINTERP_PYTHON ||
  (fs.existsSync(venvPython) ? venvPython : 'python');
const chromium = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const modelPort = Number(process.env.SCRIPTED_MODEL_PORT || 8765);
const serverPort = Number(process.env.CODEINTERP_LAB_PORT || 8888);
const serverConfig = path.join(__dirname, 'jupyter_server_test_config.py');

/** The scripted OpenAI-compatible model server (tests/scripted_model.py). */
function scriptedModelServer() {
  return {
    command: `${python} ${path.join(repoRoot, 'tests', 'scripted_model.py')} --port ${modelPort}`,
    url: `http://127.0.0.1:${modelPort}/v1/models`,
    timeout: 60000,
    reuseExistingServer: !process.env.CI
  };
}

/** Headless chromium with traces of failures; `extra` adds or overrides. */
function browserUse(extra = {}) {
  return {
    trace: 'retain-on-failure',
    video: 'off',
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: chromium,
      args: ['--disable-gpu', '--disable-dev-shm-usage']
    },
    ...extra
  };
}

/** The list output, and an HTML report in `folder` (never opened). */
function reporters(folder) {
  return [['list'], ['html', { open: 'never', outputFolder: folder }]];
}

module.exports = {
  repoRoot,
  python,
  chromium,
  modelPort,
  serverPort,
  serverConfig,
  scriptedModelServer,
  browserUse,
  reporters
};
