/// <reference lib="dom" />
// The callbacks given to page.evaluate / waitForFunction run in the browser, hence the DOM types.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assistant, startHarness, user } from './harness.js';
import type { Harness } from './harness.js';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium)
  console.log(
    `skipping the web page browser test: ${CHROMIUM} is missing (apt-get install chromium)`,
  );

// Flags for a headless Chromium on a shared CI machine: no sandbox (root in a container), no GPU,
// nothing fetched in the background; a fresh profile directory per run.
const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

describe.skipIf(!haveChromium)('the annotators web page in Chromium', () => {
  let h: Harness;
  let profile: string;

  beforeAll(async () => {
    h = await startHarness({
      LATHE_PREFERENCES_RATE_PER_SECOND: '100',
      LATHE_PREFERENCES_RATE_BURST: '100',
    });
    profile = mkdtempSync(join(tmpdir(), 'lathe-chromium-'));
  }, 60_000);
  afterAll(async () => {
    await h.close();
    rmSync(profile, { recursive: true, force: true });
  });

  it('signs in with a token, answers three items with the keys 1/2/3, and the judgements are stored', async () => {
    const admin = await h.jwtClient(['admin']);
    const items = ['one', 'two', 'three'].map((id) => ({
      id,
      prompt: user(`Question ${id}?`),
      candidates: [
        { id: 'x', messages: assistant(`First answer to ${id}.`), source: '' },
        { id: 'y', messages: assistant(`Second answer to ${id}.`), source: '' },
      ],
      gold: undefined,
      metadata: {},
    }));
    const { task } = await admin.createTask({
      displayName: 'web',
      instructions: 'Pick the better answer.',
      annotatorsPerItem: 1,
      assignmentLease: undefined,
      allowTie: true,
      requireRationale: false,
      items,
    });
    const annotator = await h.annotator('web-annotator');

    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: FLAGS,
    });
    try {
      const page = context.pages()[0] ?? (await context.newPage());
      await page.goto(`http://127.0.0.1:${String(h.svc.webPort)}/`);
      await page.fill('#token', annotator.secret);
      await page.click('#signin button');
      const shown: string[] = [];
      const screenshot = join(tmpdir(), `lathe-preferences-page-${String(process.pid)}.png`);
      for (const key of ['1', '2', '3']) {
        await page.waitForFunction(
          (previous) =>
            document.body.dataset['assignment'] !== undefined &&
            document.body.dataset['assignment'] !== previous,
          shown.at(-1) ?? '',
        );
        shown.push((await page.evaluate(() => document.body.dataset['assignment'])) ?? '');
        if (key === '3') {
          // The page as an annotator sees it: prompt and both responses side by side.
          await page.screenshot({ path: screenshot, fullPage: true });
          console.log(`web page screenshot: ${screenshot}`);
        }
        await page.keyboard.press(key);
      }
      await page.waitForFunction(() => document.getElementById('done')?.textContent === '3');
      expect(await page.isVisible('#empty')).toBe(true);
      const { rows } = await h.svc.db.query<{
        assignment_id: string;
        choice: number;
        annotator_id: string;
      }>(
        'SELECT assignment_id, choice, annotator_id FROM judgements WHERE task_id = $1 ORDER BY submit_time',
        [task?.id ?? ''],
      );
      expect(rows).toEqual(
        shown.map((assignment_id, i) => ({
          assignment_id,
          choice: i + 1,
          annotator_id: annotator.id,
        })),
      );
    } finally {
      await context.close();
    }
  }, 60_000);
});
