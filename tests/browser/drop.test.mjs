// The buyer's drop page in a real browser: three buyers, two units. Each opens the brand's
// link (token in the fragment), joins the line before the start and watches the countdown;
// at the start two are admitted and buy, the third is told SOLD_OUT and joins the restock
// line with one click.
// Needs BASE_URL, ADMIN_TOKEN and BUYER_TOKENS (three, comma-separated, users 3001..3003);
// SCREENSHOT_DIR is optional.
import { test } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const BASE_URL = process.env.BASE_URL;
const ADMIN = process.env.ADMIN_TOKEN;
const BUYERS = (process.env.BUYER_TOKENS || "").split(",").filter(Boolean);
const SHOTS = process.env.SCREENSHOT_DIR;
const FIRST_BUYER = 3001;

async function admin(method, path, body) {
  const res = await fetch(BASE_URL + path, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await res.json();
  assert.ok(res.ok, `${method} ${path}: ${res.status} ${JSON.stringify(data)}`);
  return data;
}

async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

const stateOf = (page) => page.locator("#drop").getAttribute("data-state");

test("three buyers, two units: two buy through the room, the third joins the restock line", async () => {
  assert.equal(BUYERS.length, 3, "BUYER_TOKENS must hold three tokens");
  const startsAt = new Date(Date.now() + 8000);
  const product = await admin("POST", "/products", {
    name: "Sunrise Chair x Kith", brand_ids: [1, 2], price: 219000, stock: 2, per_user_limit: 1,
    sale_starts_at: startsAt.toISOString(), queue: { enabled: true },
  });
  const browser = await launch();
  try {
    const errors = [];
    const pages = [];
    for (const token of BUYERS) {
      const ctx = await browser.newContext({ viewport: { width: 900, height: 760 } });
      const page = await ctx.newPage();
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(`${BASE_URL}/drops/${product.id}#token=${token}`);
      await page.locator("#name").filter({ hasText: "Sunrise Chair x Kith" }).waitFor();
      await page.locator('#drop[data-state="NOT_JOINED"]').waitFor();
      // The token stays in memory: out of the address bar and out of storage.
      assert.equal(new URL(page.url()).hash, "");
      assert.equal(await page.evaluate(() => localStorage.length + sessionStorage.length), 0);
      assert.equal(await stateOf(page), "NOT_JOINED");
      assert.ok(await page.locator("#start").isVisible(), "the countdown shows before the start");
      await page.click("#join");
      await page.waitForFunction(() => document.querySelector("#drop").dataset.state === "WAITING_FOR_OPEN");
      pages.push(page);
    }
    assert.match(await pages[0].locator("#countdown").textContent(), /^00:0\d$/);
    assert.equal(await pages[0].locator("#brands").textContent(), "Helinox × Kith");
    if (SHOTS) await pages[0].screenshot({ path: `${SHOTS}/drop-waiting.png` });

    // At the start the room admits two (the units) and keeps the third waiting, live.
    const settled = (page) => page.waitForFunction(
      () => ["ADMITTED", "WAITING"].includes(document.querySelector("#drop").dataset.state),
      null, { timeout: 20_000 });
    await Promise.all(pages.map(settled));
    const states = await Promise.all(pages.map(stateOf));
    assert.deepEqual([...states].sort(), ["ADMITTED", "ADMITTED", "WAITING"]);
    const admitted = pages.filter((_, i) => states[i] === "ADMITTED");
    const third = pages[states.indexOf("WAITING")];
    const thirdUser = FIRST_BUYER + states.indexOf("WAITING");
    assert.equal(await third.locator("#place").textContent(), "1");
    assert.equal(await third.locator("#ahead").textContent(), "2");
    assert.ok(await admitted[0].locator("#buy").isVisible());
    assert.equal(await admitted[0].locator("#start").isVisible(), false, "no countdown once admitted");
    assert.match(await admitted[0].locator("#time-left").textContent(), /^0[12]:\d\d$/);
    if (SHOTS) await admitted[0].screenshot({ path: `${SHOTS}/drop-admitted.png` });

    for (const page of admitted) {
      await page.click("#buy");
      await page.locator("#message").filter({ hasText: /^Order #\d+ is yours/ }).waitFor();
      assert.equal(await stateOf(page), "ORDERED");
    }
    // The last unit went: the third is told over the stream, then joins the restock line.
    await third.waitForFunction(() => document.querySelector("#drop").dataset.state === "SOLD_OUT",
      null, { timeout: 5_000 });
    await third.click("#notify");
    await third.locator("#message").filter({ hasText: "You're on the restock line" }).waitFor();
    assert.equal(await third.locator("#notify").isVisible(), false);
    if (SHOTS) await third.screenshot({ path: `${SHOTS}/drop-sold-out.png` });

    const line = await admin("GET", `/admin/products/${product.id}/subscriptions`);
    assert.deepEqual(line.items.map((s) => s.user_id), [thirdUser]);
    const counts = await admin("GET", `/admin/products/${product.id}/queue`);
    assert.deepEqual([counts.ordered, counts.sold_out, counts.waiting, counts.admitted], [2, 1, 0, 0]);
    assert.equal((await admin("GET", `/products/${product.id}`)).stock, 0);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});
