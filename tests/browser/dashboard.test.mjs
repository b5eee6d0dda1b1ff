// The dashboard in a real browser: paste the token, restock from the page, watch the round
// reach its final status with its progress shown, and open its recipients.
// Needs BASE_URL, ADMIN_TOKEN, PRODUCT_ID and LINE (see run.sh); SCREENSHOT_DIR is optional.
import { test } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const BASE_URL = process.env.BASE_URL;
const TOKEN = process.env.ADMIN_TOKEN;
const PRODUCT = process.env.PRODUCT_ID;
const LINE = Number(process.env.LINE);
const SHOTS = process.env.SCREENSHOT_DIR;
const CLAIM_PRODUCT = process.env.CLAIM_PRODUCT_ID;
const HOLDER = process.env.HOLDER_TOKEN;

// A page of the dashboard at BASE_URL, and the errors its scripts throw.
async function open(browser) {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(BASE_URL + "/");
  return { page, errors };
}

// Pastes the admin token and waits for the live connection.
async function signIn(page) {
  await page.fill("#token", TOKEN);
  await page.click("#token-form button[type=submit]");
  await page.waitForFunction(() => document.querySelector("#conn").textContent === "live");
}

async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

test("a restock started from the dashboard is followed live to its final status", async () => {
  assert.ok(BASE_URL && TOKEN && PRODUCT && LINE, "BASE_URL, ADMIN_TOKEN, PRODUCT_ID and LINE are required");
  const browser = await launch();
  try {
    const { page, errors } = await open(browser);
    const card = page.locator(`article.product[data-product-id="${PRODUCT}"]`);
    await card.waitFor();
    assert.equal(await page.locator("#conn").textContent(), "no token");

    await signIn(page);
    // The token is kept for the next visit.
    assert.equal(await page.evaluate(() => localStorage.getItem("dropline.adminToken")), TOKEN);

    await card.locator(".qty").fill("5");
    await card.locator(".restock").click();
    await page.waitForFunction(
      (id) => document.querySelector(`article.product[data-product-id="${id}"]`)
        .dataset.roundStatus === "IN_PROGRESS",
      PRODUCT,
    );
    // Progress arrives over the event stream while the round runs (halfway: the page shows it).
    await page.waitForFunction(
      ({ id, line }) => {
        const sent = document.querySelector(`article.product[data-product-id="${id}"] .sent`).textContent;
        return Number(sent.replace(/\D/g, "")) >= line / 2;
      },
      { id: PRODUCT, line: LINE },
      { timeout: 20_000 },
    );
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/dashboard-live.png` });

    await page.waitForFunction(
      (id) => {
        const s = document.querySelector(`article.product[data-product-id="${id}"]`).dataset.roundStatus;
        return s && s !== "IN_PROGRESS";
      },
      PRODUCT,
      { timeout: 40_000 },
    );
    assert.equal(await card.getAttribute("data-round-status"), "COMPLETED");
    assert.equal(await card.locator(".live .status").textContent(), "COMPLETED");
    const sent = Number((await card.locator(".live .sent").textContent()).replace(/\D/g, ""));
    assert.equal(sent, LINE);
    const busiest = Number((await card.locator(".live .busiest").textContent()).replace(/\D/g, ""));
    // Pacing is on (the strict limit itself is the rate limiter's tests' business).
    assert.ok(busiest >= 100 && busiest <= 550, `busiest second ${busiest}`);

    // The history lists the finished round; its recipients open below.
    const row = card.locator(".rounds tr[data-round]").first();
    await page.waitForFunction(
      (id) => document.querySelector(`article.product[data-product-id="${id}"] .rounds .pill`)?.textContent === "COMPLETED",
      PRODUCT,
    );
    await row.locator("button").click();
    await page.locator("#recipients tr").first().waitFor();
    assert.equal(await page.locator("#recipients tr").count(), Math.min(100, LINE));
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/dashboard.png`, fullPage: false });
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});

test("a claim round shows its open, used, expired and released claims live", async () => {
  assert.ok(BASE_URL && TOKEN && CLAIM_PRODUCT && HOLDER, "CLAIM_PRODUCT_ID and HOLDER_TOKEN are required");
  const browser = await launch();
  try {
    const { page, errors } = await open(browser);
    await signIn(page);
    const card = page.locator(`article.product[data-product-id="${CLAIM_PRODUCT}"]`);
    await card.waitFor();
    const count = (k) => card.locator(`.claims-${k}`).textContent();
    const shows = (k, n) => page.waitForFunction(
      ({ id, k, n }) => document.querySelector(`article.product[data-product-id="${id}"] .claims-${k}`)?.textContent === String(n),
      { id: CLAIM_PRODUCT, k, n },
      { timeout: 20_000 },
    );

    // Two units for a line of five: two claims, in line order, set both aside. The restock's
    // own answer is held back until the event stream has shown both claims, as happens when
    // the stream is quicker than the answer: the older answer must not overwrite the page.
    await page.route(`**/products/${CLAIM_PRODUCT}/notifications/re-stock`, async (route) => {
      const answer = await route.fetch();
      await shows("open", 2);
      await route.fulfill({ response: answer });
    });
    await card.locator(".qty").fill("2");
    await card.locator(".restock").click();
    await shows("open", 2);
    await page.waitForFunction(
      (id) => !document.querySelector(`article.product[data-product-id="${id}"] .restock`).disabled,
      CLAIM_PRODUCT,
    );
    await page.unroute(`**/products/${CLAIM_PRODUCT}/notifications/re-stock`);
    assert.equal(await count("open"), "2");
    assert.equal(await card.locator(".claims").isVisible(), true);
    assert.equal(await card.getAttribute("data-round-status"), "IN_PROGRESS");
    assert.equal(await card.locator(".live .live-stock").textContent(), "0");

    // The first holder orders from the claim: the page shows it used.
    const res = await fetch(`${BASE_URL}/products/${CLAIM_PRODUCT}/orders`, {
      method: "POST", headers: { authorization: `Bearer ${HOLDER}` },
    });
    assert.equal(res.status, 201);
    await shows("used", 1);
    assert.equal(await count("open"), "1");
    assert.equal(await count("expired"), "0");
    assert.equal(await count("released"), "0");
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/dashboard-claims.png` });
    // A broadcast product shows no claims.
    const other = page.locator(`article.product[data-product-id="${PRODUCT}"]`);
    assert.equal(await other.locator(".claims").isVisible(), false);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});
