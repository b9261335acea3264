// Drives the wasmemu page in Debian's headless Chromium through playwright-core (never a
// downloaded browser): waits for the guest's shell, types commands, saves a screenshot and
// prints what the terminal shows as JSON on stdout.
//
//   node drive_page.mjs URL SCREENSHOT TIMEOUT_S [COMMAND...]
// Each COMMAND is typed once the shell prompt is back; the last may power the guest off.

import { createRequire } from 'node:module';

const require = createRequire(new URL('../../packaging/node/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const [url, screenshot, timeoutText, ...commands] = process.argv.slice(2);
const deadline = Date.now() + Number(timeoutText) * 1000;
const PROMPT = '~ # ';
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

// Chromium's own network chatter is refused on these machines; keep it quiet.
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const result = { status: null, failed: false, exitStatus: null, screen: '', isolated: null };
const consoleLines = [];
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 750 } });
  page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
  await page.goto(url);
  const screen = () => page.evaluate(() => {
    const buf = window.wasmemu.terminal.buffer.active;
    const lines = [];
    for (let i = 0; i < buf.length; i++) lines.push(buf.getLine(i).translateToString(true));
    return lines.join('\n');
  });
  const state = () => page.evaluate(() => ({
    status: window.wasmemu.status, failed: window.wasmemu.failed,
    exitStatus: window.wasmemu.exitStatus, isolated: globalThis.crossOriginIsolated,
  }));
  const prompts = async () => (await screen()).split(PROMPT).length - 1;
  const waitFor = async (done) => {
    while (Date.now() < deadline) {
      const s = await state();
      if (s.failed || s.exitStatus !== null || (await done())) return;
      await page.waitForTimeout(250);
    }
    throw new Error('timed out');
  };
  try {
    await waitFor(async () => (await prompts()) >= 1);
    for (const command of commands) {
      const before = await prompts();
      await page.click('#terminal');
      await page.keyboard.type(command);
      await page.keyboard.press('Enter');
      await waitFor(async () => (await prompts()) > before);
    }
  } catch (e) {
    result.error = e.message;
  }
  Object.assign(result, await state());
  result.screen = await screen();
  await page.screenshot({ path: screenshot });
} finally {
  await browser.close();
}
result.console = consoleLines.slice(-40);
process.stdout.write(JSON.stringify(result));
