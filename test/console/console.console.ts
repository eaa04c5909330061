/**
 * The web console in a real headless Chromium (Debian's `chromium`, driven by
 * playwright-core) against a real cluster of 3 broker processes, each with
 * its HTTP listener: what an operator sees.
 *
 * - the topics page lists a topic the CLI just created;
 * - the message browser shows a record just produced;
 * - the group page shows a consumer group's lag falling as it catches up;
 * - killing a broker (SIGKILL) shows its partitions under-replicated on the
 *   topic page within 5 s (the bound; the time it took is printed);
 * - every page loads with no script error and no request leaving the
 *   machine (the page is served by a broker that is not the killed one: any
 *   broker's console shows the whole cluster).
 *
 * Screenshots of each page go to artifacts/console/ (not committed).
 * `npm run test:console`; `.ci/run` installs chromium when it is missing.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { Kactus } from '../../client/index.ts';
import { createLogger } from '../../runtime/logger.ts';
import { startTestCluster, type TestCluster } from '../support/cluster.ts';
import { kactusCli } from '../support/kactus-cli.ts';
import { killAllChildren, repoRoot } from '../support/processes.ts';

/** Where Debian's chromium package puts it; CHROMIUM_PATH overrides. */
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const screenshots = join(repoRoot, 'artifacts', 'console');
/** The bound for a killed broker's partitions to show as under-replicated. */
const underReplicatedShownMsMax = 5_000;

let cluster: TestCluster | undefined;
let browser: Browser | undefined;
let page: Page;
let kactus: Kactus;
let consoleUrl: string;
const pageErrors: string[] = [];
const outsideRequests: string[] = [];

beforeAll(async () => {
  mkdirSync(screenshots, { recursive: true });
  cluster = await startTestCluster(3, ['min.insync.replicas=2', 'default.replication.factor=3', 'offsets.topic.num.partitions=3', 'group.initial.rebalance.delay.ms=0'], { http: true });
  consoleUrl = cluster.brokers[0]!.httpUrl!;
  kactus = new Kactus({ brokers: cluster.brokers.map((b) => b.url), clientId: 'console-test', requestTimeoutMs: 10_000, logger: createLogger({ test: 'console' }, 'silent') });
  browser = await chromium.launch({
    executablePath: chromiumPath,
    // What this machine's closed network needs: no background connections, no sandbox as root.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  // Script errors, and answers of the API that say the server failed (a 404 for a group not yet committed is an answer).
  page.on('pageerror', (err) => pageErrors.push(err.message));
  page.on('response', (response) => {
    if (response.status() >= 500) pageErrors.push(`${response.status()} from ${response.url()}`);
  });
  page.on('request', (request) => {
    if (!request.url().startsWith(consoleUrl)) outsideRequests.push(request.url());
  });
}, 90_000);

afterAll(async () => {
  await browser?.close().catch(() => undefined);
  await kactus?.close().catch(() => undefined);
  await killAllChildren();
  await cluster?.cleanup();
});

async function show(hash: string): Promise<void> {
  await page.goto(`${consoleUrl}/${hash}`);
}

async function screenshot(name: string): Promise<void> {
  await page.screenshot({ path: join(screenshots, `${name}.png`), fullPage: true });
}

describe('the web console in Chromium', () => {
  it('lists a topic the CLI created, and shows a record just produced in the message browser', async () => {
    const created = await kactusCli(['topics', 'create', 'web-orders', '--partitions', '3', '--replication-factor', '3', '--bootstrap', cluster!.brokers[1]!.url]);
    expect(created.code, created.stderr).toBe(0);
    await show('#/topics');
    const row = page.getByTestId('topic-web-orders');
    await row.waitFor({ timeout: 15_000 });
    expect(await row.textContent()).toContain('web-orders');
    await screenshot('topics');

    const value = JSON.stringify({ order: 'A-1042', at: Date.now() });
    const [result] = await kactus.producer({ acks: 'all' }).send({ topic: 'web-orders', messages: [{ key: 'customer-7', value, headers: { source: 'console-test' } }] });
    await show(`#/messages?topic=web-orders&partition=${result!.partition}`);
    const record = page.getByTestId(`record-${result!.offset}`);
    await record.waitFor({ timeout: 15_000 });
    expect(await record.textContent()).toContain(value);
    expect(await record.textContent()).toContain('customer-7');
    await page.getByTestId('browse-format').selectOption('json');
    await page.getByTestId(`record-${result!.offset}`).getByText('"order": "A-1042"').waitFor({ timeout: 10_000 });
    await screenshot('messages');
  });

  it("shows a consumer group's lag falling as it catches up", async () => {
    await kactus.admin().createTopics({ topics: [{ topic: 'web-lag', numPartitions: 1, replicationFactor: 3 }] });
    const records = 5_000;
    await kactus.producer({ acks: 'all' }).send({ topic: 'web-lag', messages: Array.from({ length: records }, (_, i) => ({ value: `r${i}`, partition: 0 })) });
    // A slow consumer: about 1,000 records a second, committing every 300 ms, so the lag falls over seconds.
    const consumer = kactus.consumer({ groupId: 'web-lag-group', autoOffsetReset: 'earliest', autoCommitIntervalMs: 300 });
    consumer.subscribe(['web-lag']);
    let consumed = 0;
    const running = consumer.run({
      eachMessage: async () => {
        consumed += 1;
        if (consumed % 10 === 0) await new Promise((resolve) => setTimeout(resolve, 10));
      },
    });
    try {
      await show('#/groups/web-lag-group');
      const lag = page.getByTestId('total-lag');
      const seen: number[] = [];
      const deadlineMs = Date.now() + 60_000;
      while (Date.now() < deadlineMs) {
        const text = await lag.textContent({ timeout: 15_000 }).catch(() => null);
        const match = text === null ? null : /total lag (\d+)/.exec(text);
        if (match !== null && seen.at(-1) !== Number(match[1])) seen.push(Number(match[1]));
        if (seen.length === 2) await screenshot('group');
        if (seen.at(-1) === 0) break;
        await page.waitForTimeout(250);
      }
      // Lag is read from committed offsets (none shown before the first commit): it only falls, through values
      // between the start and 0.
      expect(seen.at(-1), `lag values seen: ${seen.join(', ')}`).toBe(0);
      expect(seen.filter((v) => v > 0 && v < records).length, `lag values seen: ${seen.join(', ')}`).toBeGreaterThanOrEqual(2);
      for (let i = 1; i < seen.length; i++) expect(seen[i]!, `lag values seen: ${seen.join(', ')}`).toBeLessThan(seen[i - 1]!);
      process.stdout.write(`[console] lag shown while the group caught up: ${seen.join(' -> ')}\n`);
    } finally {
      await consumer.stop();
      await running.catch(() => undefined);
    }
  });

  it('shows a killed broker\'s partitions under-replicated within 5 s', async () => {
    await show('#/cluster');
    await page.getByTestId('card-brokers').getByText('3').waitFor({ timeout: 15_000 });
    await page.waitForTimeout(2_500); // a few chart samples
    await screenshot('cluster');

    await show('#/topics/web-orders');
    await page.getByTestId('partition-0').waitFor({ timeout: 15_000 });
    expect(await page.locator('[data-under-replicated="true"]').count()).toBe(0);
    const killedAtMs = Date.now();
    await cluster!.killBroker(3);
    await page.locator('[data-under-replicated="true"]').first().waitFor({ timeout: underReplicatedShownMsMax });
    const shownAfterMs = Date.now() - killedAtMs;
    process.stdout.write(`[console] broker 3 SIGKILLed: its partitions shown under-replicated after ${shownAfterMs} ms\n`);
    // Every partition has a replica on broker 3 (RF 3 of 3 brokers): all of them are under-replicated.
    const deadlineMs = Date.now() + 10_000;
    while ((await page.locator('[data-under-replicated="true"]').count()) < 3 && Date.now() < deadlineMs) await page.waitForTimeout(200);
    expect(await page.locator('[data-under-replicated="true"]').count()).toBe(3);
    await screenshot('topic-under-replicated');
    expect(pageErrors).toEqual([]);
    expect(outsideRequests).toEqual([]);
  });
});
