#!/usr/bin/env node
/**
 * What the extension itself adds to a chat turn (issue 5, item 6), measured in headless
 * Debian Chromium against a real JupyterLab with the extension and an instantly answering
 * scripted model (tests/scripted_model.py, scenario "repair": the first cell raises KeyError,
 * the repair fixes it, then the answer).
 *
 *   (a) click on Send -> the first model request arrives at the model server (probe included)
 *   (b) click on Send -> the final answer is shown, after one automatic repair
 *   (c) the server-side part of the turn alone: the turn's wall time on the server (prompt
 *       frame in -> turn_end out) minus the model calls, the browser running cells / reading
 *       the notebook, the kernel probe and getting a kernel client; our callbacks that forward
 *       the stream to the browser count as ours. From the opt-in CODEINTERP_DEBUG_TURN_TIMING
 *       log (jupyterlab_codeinterp/turn_timing.py). Also printed: the same with our model
 *       client's own time counted as ours too (model calls as the client saw them minus the
 *       model server's own time: the openai SDK, its HTTP transport, SSE decoding, the loopback hop).
 *
 * Cold beside warm (--cold N, default 3): N times each, a fresh JupyterLab server (a fresh
 * kernel, a fresh chat history, a fresh page) with the first prompt sent
 *   - "at once": as soon as the chat is connected, while the notebook's kernel still starts;
 *   - "settled": once the kernel is idle and 3 s more have passed;
 * then the warm runs on one more fresh server, all in the same run.
 *
 * Usage (from the repo root; needs ui-tests' node_modules and /usr/bin/chromium):
 *   node bench/overhead/bench_overhead.js [--runs 10] [--warmup 2] [--cold 3] [--json out.json]
 * Starts its own scripted model (port 8766) and JupyterLab (port 8899) in a temporary
 * folder and stops them at the end. Prints every run, medians, p90 and PASS/FAIL per target;
 * exits 1 if a target fails.
 */
'use strict';

const childProcess = require('child_process');
const fs = require('fs');
const http = require('http');
const os = require('os');
const path = require('path');

const repo = path.resolve(__dirname, '..', '..');
const { chromium } = require(
  path.join(repo, 'ui-tests', 'node_modules', 'playwright')
);

const args = process.argv.slice(2);
function opt(name, fallback) {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
}
const RUNS = Number(opt('runs', 10));
const WARMUP = Number(opt('warmup', 2));
const COLD = Number(opt('cold', 3));
const SETTLE_MS = 3000;
const JSON_OUT = opt('json', '');
const MODEL_PORT = Number(process.env.BENCH_MODEL_PORT || 8766);
const LAB_PORT = Number(process.env.BENCH_LAB_PORT || 8899);
const venvPython = path.join(repo, '.venv', 'bin', 'python');
const PYTHON =
  process.env.CODEINTERP_PYTHON ||
  (fs.existsSync(venvPython) ? venvPython : 'python3');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const TARGETS = { a: 150, b: 1000, c: 20 };
const ANSWER = 'The total price is 7.0.';

const MODEL = `http://127.0.0.1:${MODEL_PORT}`;
const LAB = `http://127.0.0.1:${LAB_PORT}`;

function request(method, url, body) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? null : JSON.stringify(body);
    const req = http.request(
      url,
      {
        method,
        headers: data
          ? {
              'Content-Type': 'application/json',
              'Content-Length': data.length
            }
          : {}
      },
      res => {
        let text = '';
        res.on('data', c => (text += c));
        res.on('end', () => resolve({ status: res.statusCode, text }));
      }
    );
    req.on('error', reject);
    if (data) {
      req.write(data);
    }
    req.end();
  });
}

async function waitForUrl(url, seconds) {
  const end = Date.now() + seconds * 1000;
  for (;;) {
    try {
      const res = await request('GET', url);
      if (res.status === 200) {
        return;
      }
    } catch {
      // not up yet
    }
    if (Date.now() > end) {
      throw new Error(`${url} did not come up within ${seconds}s`);
    }
    await new Promise(r => setTimeout(r, 250));
  }
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}
function p90(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil(0.9 * s.length) - 1)];
}
const fmt = x => (x === undefined || x === null ? '-' : x.toFixed(1));
const sleep = ms => new Promise(r => setTimeout(r, ms));
const STARTING = 'the kernel is starting';

/** Open bench.ipynb in a fresh page and its chat; with waitKernel, until the kernel is idle. */
async function openBench(browser, waitKernel) {
  const context = await browser.newContext({
    viewport: { width: 1280, height: 800 }
  });
  const page = await context.newPage();
  const s = { context, page, frames: 0 };
  // chat socket frames the page receives (one per server message)
  page.on('websocket', ws => {
    if (ws.url().includes('codeinterp/chat')) {
      ws.on('framereceived', () => (s.frames += 1));
    }
  });
  await page.goto(`${LAB}/lab/tree/bench.ipynb`);
  // JupyterLab restored (its start-up requests done), the notebook open; its kernel may
  // still be starting
  await page.waitForFunction(() => window.jupyterapp, undefined, {
    timeout: 120000
  });
  await page.evaluate(() => window.jupyterapp.restored);
  await page.waitForFunction(
    waitKernel => {
      const app = window.jupyterapp;
      const panel = app && app.shell.currentWidget;
      if (!panel || !panel.context || !panel.context.isReady) {
        return false;
      }
      if (!waitKernel) {
        return true;
      }
      const session = panel.sessionContext && panel.sessionContext.session;
      return session && session.kernel && session.kernel.status === 'idle';
    },
    waitKernel,
    { timeout: 120000 }
  );
  await page.evaluate(() =>
    window.jupyterapp.commands.execute('codeinterp:open-chat')
  );
  s.bar = page.locator('#jp-codeinterp-chat');
  await s.bar.locator('.jp-codeinterp-conn-open').waitFor({ timeout: 60000 });
  await page.evaluate(() => {
    window.__bench = { click: 0, kernel: '' };
    document.addEventListener(
      'click',
      ev => {
        if (ev.target.closest && ev.target.closest('.jp-codeinterp-send')) {
          window.__bench.click = Date.now();
          const panel = window.jupyterapp.shell.currentWidget;
          const session = panel.sessionContext && panel.sessionContext.session;
          window.__bench.kernel =
            (session && session.kernel && session.kernel.status) || 'none';
        }
      },
      true
    );
  });
  return s;
}

function readLines(file) {
  return fs.existsSync(file)
    ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean)
    : [];
}

/** One prompt (scenario "repair") on a fresh chat and an emptied notebook; its numbers. */
async function runOnce(s, timingFile, label) {
  const { page, bar } = s;
  await bar.getByRole('button', { name: 'New chat' }).click();
  await page.evaluate(() => {
    const nb = window.jupyterapp.shell.currentWidget.content;
    const shared = nb.model.sharedModel;
    shared.transact(() => {
      shared.deleteCellRange(0, shared.cells.length);
      shared.insertCell(0, { cell_type: 'code', source: '' });
    });
  });
  await request('POST', `${MODEL}/_control/reset`, {});
  await request('POST', `${MODEL}/_control/script`, { scenario: 'repair' });
  const before = readLines(timingFile).length;

  await bar.locator('.jp-codeinterp-input').fill('What is the total price?');
  await page.evaluate(answer => {
    window.__bench.click = 0;
    const node = document.querySelector('#jp-codeinterp-chat');
    window.__bench.answer = new Promise(resolve => {
      const check = () => {
        for (const md of node.querySelectorAll('.jp-codeinterp-markdown')) {
          if (md.textContent.includes(answer)) {
            obs.disconnect();
            resolve(Date.now());
            return;
          }
        }
      };
      const obs = new MutationObserver(check);
      obs.observe(node, { subtree: true, childList: true, characterData: true });
    });
  }, ANSWER);
  const framesBefore = s.frames;
  await bar.locator('.jp-codeinterp-send').click();
  const shown = await page.evaluate(() => window.__bench.answer);
  const { click, kernel } = await page.evaluate(() => window.__bench);
  await bar.locator('.jp-codeinterp-send').waitFor({ timeout: 60000 });

  const log = JSON.parse(
    (await request('GET', `${MODEL}/_control/requests`)).text
  ).log.filter(e => e.path.endsWith('/chat/completions'));
  // the turn's timing line is written right after turn_end
  let lines = [];
  for (let t = 0; t < 100; t++) {
    lines = readLines(timingFile);
    if (lines.length > before) {
      break;
    }
    await sleep(20);
  }
  const timing = JSON.parse(lines[lines.length - 1]);
  const modelServerMs =
    1000 *
    log.reduce(
      (sum, e) => sum + ((e.finished_at || e.received_at) - e.received_at),
      0
    );
  const serverReceived = timing.time * 1000 - timing.total_ms;
  const row = {
    label,
    a: log[0].received_at * 1000 - click,
    b: shown - click,
    c: timing.server_ms,
    c_incl_client:
      timing.server_ms +
      (timing.model_ms - (timing.stream_callbacks_ms || 0)) -
      modelServerMs,
    stream_callbacks_ms: timing.stream_callbacks_ms || 0,
    model_requests: log.length,
    frames: s.frames - framesBefore,
    click_to_server: serverReceived - click,
    server_to_model_call: timing.model_call_ms,
    of_which_server: timing.model_call_server_ms,
    executor_ms: timing.executor_ms,
    probe_ms: timing.probe_ms,
    kernel_client_ms: timing.kernel_client_ms,
    model_client_ms: timing.model_ms,
    model_server_ms: modelServerMs,
    turn_total_ms: timing.total_ms,
    kernel_at_click: kernel,
    context_said_starting: JSON.stringify(log[0].body).includes(STARTING),
    status: timing.status
  };
  console.log(
    `${label.padEnd(16)}  a ${fmt(row.a).padStart(6)} ms  b ${fmt(row.b).padStart(7)} ms` +
      `  c ${fmt(row.c).padStart(6)} ms (with client ${fmt(row.c_incl_client)})` +
      `  | click->server ${fmt(row.click_to_server)}, server->model call ${fmt(row.server_to_model_call)}` +
      ` (own ${fmt(row.of_which_server)}), probe ${fmt(row.probe_ms)}, kernel client ${fmt(row.kernel_client_ms)},` +
      ` browser/kernel ${fmt(row.executor_ms)}, model client ${fmt(row.model_client_ms)} / server ${fmt(row.model_server_ms)},` +
      ` ${row.model_requests} requests, ${row.frames} frames, kernel at click: ${kernel}` +
      `${row.context_said_starting ? ' (context: starting)' : ''}, ${row.status}`
  );
  if (row.status !== 'done' || row.model_requests !== 3) {
    throw new Error(`${label} did not go as scripted: ${JSON.stringify(row)}`);
  }
  return row;
}

async function main() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'codeinterp-overhead-'));
  const root = path.join(tmp, 'root');
  fs.mkdirSync(root);
  const timingFile = path.join(tmp, 'turns.jsonl');
  fs.writeFileSync(
    path.join(root, 'bench.ipynb'),
    JSON.stringify({
      cells: [],
      metadata: {
        kernelspec: {
          display_name: 'Python 3 (ipykernel)',
          language: 'python',
          name: 'python3'
        },
        language_info: { name: 'python' }
      },
      nbformat: 4,
      nbformat_minor: 5
    })
  );

  // no "receive Jupyter news?" toast over the chat
  const notif = path.join(tmp, 'settings', '@jupyterlab', 'apputils-extension');
  fs.mkdirSync(notif, { recursive: true });
  fs.writeFileSync(
    path.join(notif, 'notification.jupyterlab-settings'),
    JSON.stringify({ fetchNews: 'false', checkForUpdates: false })
  );

  const procs = new Set();
  let logs = 0;
  const spawn = (argv, env) => {
    const p = childProcess.spawn(argv[0], argv.slice(1), {
      cwd: tmp,
      env: { ...process.env, ...env },
      stdio: [
        'ignore',
        'ignore',
        fs.openSync(path.join(tmp, `${logs++}.log`), 'w')
      ],
      detached: true
    });
    p.exited = new Promise(resolve => p.on('exit', resolve));
    procs.add(p);
    return p;
  };
  const stopProc = async p => {
    try {
      process.kill(-p.pid, 'SIGTERM');
    } catch {
      // already gone
    }
    await Promise.race([p.exited, sleep(20000)]);
    procs.delete(p);
  };
  const stopAll = () => {
    for (const p of procs) {
      try {
        process.kill(-p.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
  };
  process.on('SIGINT', () => {
    stopAll();
    process.exit(130);
  });

  // a fresh server: new process, new kernel, new chat history
  let servers = 0;
  const startLab = async () => {
    // BENCH_PROFILE=out.prof: run the server under cProfile (written when it stops)
    const profile = process.env.BENCH_PROFILE
      ? ['-m', 'cProfile', '-o', path.resolve(process.env.BENCH_PROFILE)]
      : [];
    const labArgs = [
      PYTHON,
      ...profile,
      '-m',
      'jupyterlab',
      '--no-browser',
      `--ServerApp.port=${LAB_PORT}`,
      '--ServerApp.ip=127.0.0.1',
      '--ServerApp.port_retries=0',
      '--IdentityProvider.token=',
      '--ServerApp.password=',
      `--ServerApp.root_dir=${root}`,
      `--LabApp.workspaces_dir=${path.join(tmp, 'workspaces')}`,
      `--LabApp.user_settings_dir=${path.join(tmp, 'settings')}`,
      '--LabApp.expose_app_in_browser=True',
      '--LabApp.news_url=',
      `--CodeInterp.base_url=${MODEL}/v1`,
      '--CodeInterp.api_key=bench-key',
      '--CodeInterp.model=scripted-model',
      `--CodeInterp.history_dir=${path.join(tmp, `history${servers++}`)}`,
      '--ServerApp.log_level=WARN'
    ];
    if (process.getuid && process.getuid() === 0) {
      labArgs.push('--ServerApp.allow_root=True');
    }
    const lab = spawn(labArgs, {
      CODEINTERP_DEBUG_TURN_TIMING: timingFile,
      JUPYTER_CONFIG_DIR: path.join(tmp, 'config'),
      PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: '1'
    });
    await waitForUrl(`${LAB}/lab`, 120);
    return lab;
  };

  let browser;
  try {
    spawn([
      PYTHON,
      path.join(repo, 'tests', 'scripted_model.py'),
      '--port',
      String(MODEL_PORT)
    ]);
    await waitForUrl(`${MODEL}/v1/models`, 60);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--disable-gpu', '--disable-dev-shm-usage']
    });

    const cold = { 'at once': [], settled: [] };
    for (let r = 0; r < COLD; r++) {
      for (const kind of ['at once', 'settled']) {
        const lab = await startLab();
        const s = await openBench(browser, kind === 'settled');
        if (kind === 'settled') {
          await sleep(SETTLE_MS);
        }
        cold[kind].push(await runOnce(s, timingFile, `cold, ${kind}`));
        await s.context.close();
        await stopProc(lab);
      }
    }

    const lab = await startLab();
    const s = await openBench(browser, true);
    const rows = [];
    for (let i = 0; i < WARMUP + RUNS; i++) {
      const row = await runOnce(
        s,
        timingFile,
        `run ${String(i + 1).padStart(2)}${i < WARMUP ? ' (warm-up)' : ''}`
      );
      row.warmup = i < WARMUP;
      rows.push(row);
    }
    await s.context.close();
    await stopProc(lab);

    const measured = rows.filter(r => !r.warmup);
    const summary = {};
    console.log(
      `\nwarm: ${measured.length} runs (after ${WARMUP} warm-up); cold: ${COLD} fresh servers each; ms:`
    );
    console.log(
      'metric                                           median      p90   target' +
        (COLD ? '   cold at once (each)      cold settled (each)' : '')
    );
    const metrics = [
      ['a', 'click -> first model request (probe included)', TARGETS.a],
      ['b', 'click -> answer shown, one repair', TARGETS.b],
      ['c', 'server-side part of the turn', TARGETS.c],
      ['stream_callbacks_ms', '  of which forwarding the stream', null],
      ['c_incl_client', '  same + our model client (SDK, HTTP)', null],
      ['click_to_server', '  (a) browser: click -> prompt at the server', null],
      ['server_to_model_call', '  (a) server: prompt -> model call', null],
      ['of_which_server', '      of which the server itself', null],
      ['probe_ms', '      of which the kernel probe', null],
      ['executor_ms', '  browser + kernel running cells / reading', null],
      ['model_client_ms', '  model calls as our client saw them', null],
      ['model_server_ms', '  model server own time', null],
      ['frames', 'chat socket frames to the browser per turn', null]
    ];
    let failed = false;
    const each = xs => xs.map(x => fmt(x)).join(' / ');
    for (const [key, label, target] of metrics) {
      const xs = measured.map(r => r[key]).filter(x => typeof x === 'number');
      const m = median(xs);
      const p = p90(xs);
      summary[key] = { median: m, p90: p, target };
      let verdict = '';
      if (target !== null) {
        const pass = m <= target;
        failed = failed || !pass;
        verdict = `<= ${target}  ${pass ? 'PASS' : 'FAIL'}`;
      }
      let coldText = '';
      if (COLD) {
        const once = cold['at once'].map(r => r[key]);
        const settled = cold.settled.map(r => r[key]);
        summary[key].cold_at_once = once;
        summary[key].cold_settled = settled;
        coldText = `   ${each(once).padEnd(24)} ${each(settled)}`;
        if (key === 'a') {
          const pass = Math.max(...once, ...settled) <= target;
          failed = failed || !pass;
          coldText += `   cold <= ${target}  ${pass ? 'PASS' : 'FAIL'}`;
        }
      }
      console.log(
        `${label.padEnd(46)} ${fmt(m).padStart(8)} ${fmt(p).padStart(8)}   ${verdict.padEnd(12)}${coldText}`
      );
    }
    if (COLD) {
      console.log(
        `kernel at click, cold at once: ${cold['at once'].map(r => r.kernel_at_click).join(', ')};` +
          ` context said "starting": ${cold['at once'].map(r => r.context_said_starting).join(', ')}`
      );
    }
    if (JSON_OUT) {
      fs.writeFileSync(
        JSON_OUT,
        JSON.stringify({ rows, cold, summary }, null, 2)
      );
    }
    process.exitCode = failed ? 1 : 0;
  } finally {
    if (browser) {
      await browser.close();
    }
    stopAll();
    if (!args.includes('--keep')) {
      setTimeout(() => fs.rmSync(tmp, { recursive: true, force: true }), 1000);
    } else {
      console.log(`kept ${tmp}`);
    }
  }
}

main().catch(err => {
  console.error(err);
  process.exitCode = 2;
});
