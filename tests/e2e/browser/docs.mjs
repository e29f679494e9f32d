// Drives /api/docs/ in Debian's headless Chromium (playwright-core) and prints what a person would see, as JSON.
//
//   node tests/e2e/browser/docs.mjs BASE_URL TOKEN SCREENSHOT.png
//
// Reports the operations Swagger UI rendered, whether it showed an error instead, and the status and body
// that "Authorize" + "Try it out" + "Execute" on GET /api/me/ put on the page (before and after a reload,
// which persistAuthorization must survive). A step that fails ends the run with "error" set.
import { chromium } from "playwright-core";

const [base, token, screenshot] = process.argv.slice(2);
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
// Without the background-networking flags Chromium keeps calling Google's hosts (refused here).
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
  "--disable-component-update", "--disable-sync"];
const TIMEOUT = 60_000;

const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
const result = {};
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.setDefaultTimeout(TIMEOUT);
  const consoleErrors = [];
  page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });

  await page.goto(`${base}/api/docs/`);
  // Either the operations render or Swagger UI says it can't read the document.
  await page.waitForSelector(".opblock, .version-pragma, .errors-wrapper, .loading-container .info", { timeout: TIMEOUT });
  result.version_error = await page.locator(".version-pragma, .errors-wrapper, .loading-container .info").allInnerTexts();
  result.title = (await page.locator(".info .title").allInnerTexts()).join(" ");
  result.operations = await page.$$eval(".opblock", (blocks) => blocks.map((b) => [
    b.querySelector(".opblock-summary-method")?.textContent.trim().toLowerCase(),
    b.querySelector(".opblock-summary-path")?.getAttribute("data-path"),
  ]));

  if (!result.operations.length) throw new Error("no operation rendered");

  // Authorize with the bearer token.
  await page.click(".auth-wrapper .btn.authorize");
  await page.fill(".modal-ux .auth-container input", token);
  await page.click(".modal-ux .auth-btn-wrapper .btn.authorize");
  await page.click(".modal-ux .auth-btn-wrapper .btn-done");

  const tryMe = async () => {
    const block = page.locator(".opblock-get", { has: page.locator('.opblock-summary-path[data-path="/api/me/"]') });
    if (!(await block.locator(".opblock-body").count())) await block.locator(".opblock-summary").first().click();
    await block.locator(".try-out__btn").click();
    await block.locator(".execute").click();
    const status = block.locator(".live-responses-table .response .response-col_status").first();
    await status.waitFor();
    await status.scrollIntoViewIfNeeded();
    return {
      status: (await status.innerText()).trim(),
      body: (await block.locator(".live-responses-table .response-col_description pre").first().innerText()),
    };
  };
  result.me = await tryMe();
  await page.screenshot({ path: screenshot, fullPage: false });

  await page.reload();
  await page.waitForSelector(".opblock");
  result.authorized_after_reload = await page.locator(".auth-wrapper .btn.authorize.locked").count() > 0;
  result.me_after_reload = await tryMe();
  result.console_errors = consoleErrors;
} catch (err) {
  result.error = String(err);  // what was seen up to here still goes out: the test's message shows it
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
