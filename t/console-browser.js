// Drives Debian's chromium headless through puppeteer-core for
// t/74-console.t. Reads one JSON line from stdin ({base, path, email,
// password, shots, doc}), logs in through the portal in the browser, opens
// the console and prints one JSON line per step to stdout; between "ready"
// and the rest it waits for a line "traffic" on stdin (the test makes the
// traffic then). Never prints the password.
"use strict";

const puppeteer = require("puppeteer-core");
const readline = require("readline");

const rl = readline.createInterface({ input: process.stdin });
const lines = [];
let waiter = null;
rl.on("line", (l) => { if (waiter) { const w = waiter; waiter = null; w(l); } else { lines.push(l); } });
function nextLine() {
  return lines.length ? Promise.resolve(lines.shift()) : new Promise((res) => { waiter = res; });
}
function say(obj) { process.stdout.write(JSON.stringify(obj) + "\n"); }

(async () => {
  const cfg = JSON.parse(await nextLine());
  const origin = new URL(cfg.base).origin;
  const errors = [];
  const foreign = [];
  const browser = await puppeteer.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
           "--disable-background-networking", "--disable-component-update"],
  });
  const out = { step: "done" };
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    page.on("pageerror", (e) => errors.push("pageerror: " + e.message));
    // the browser's own request for /favicon.ico (on the portal's pages,
    // which name no icon) is not the console's
    const browserOwn = (u) => u === origin + "/favicon.ico";
    page.on("console", (m) => {
      if (m.type() === "error" && !browserOwn((m.location() || {}).url || "")) {
        errors.push("console: " + m.text());
      }
    });
    page.on("response", (res) => {
      if (res.status() >= 400 && !browserOwn(res.url())) {
        errors.push("response " + res.status() + ": " + res.url());
      }
    });
    page.on("request", (req) => {
      const u = req.url();
      if (!/^(data|about|blob):/.test(u) && new URL(u).origin !== origin) { foreign.push(u); }
    });

    // no session: the console sends the browser to the portal's login
    await page.goto(cfg.base + cfg.path, { waitUntil: "load" });
    const redirected = new URL(page.url()).pathname;

    // the portal's login, from the browser: its Set-Cookie is the session
    const login = await page.evaluate(async (email, password) => {
      const res = await fetch("/login", {
        method: "POST", redirect: "manual",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ email, password }).toString(),
      });
      return res.type === "opaqueredirect" ? 302 : res.status;
    }, cfg.email, cfg.password);

    // what the console page does, from here on (the portal's own login
    // page answered GET /login with 401)
    out.portal_errors = errors.splice(0);
    await page.goto(cfg.base + cfg.path, { waitUntil: "load" });
    await page.waitForFunction(() => /^Live/.test(document.getElementById("status").textContent),
                               { timeout: 10000 });
    await page.evaluate(() => { window.__consoleMarker = "same page"; });
    const before = await page.$$eval("#feed tbody tr", (rows) => rows.length);
    say({ step: "ready", redirected, login, rows: before });

    await nextLine();    // "traffic": the test made it

    // the live feed: the new events arrive without a reload
    await page.waitForFunction(() => {
      const rows = [...document.querySelectorAll("#feed tbody tr")];
      return rows.some((r) => r.dataset.action === "login_failure")
        && rows.filter((r) => r.dataset.action === "record_access"
                              && /patient\/42/.test(r.textContent)).length >= 2;
    }, { timeout: 10000 });
    out.same_page = await page.evaluate(() => window.__consoleMarker);
    out.feed = await page.$$eval("#feed tbody tr", (rows) => rows.map((r) => ({
      action: r.dataset.action, severity: r.dataset.severity,
      cells: [...r.cells].map((c) => c.textContent),
      utc: r.cells[0].querySelector("time") ? r.cells[0].querySelector("time").title : "" })));
    await (await page.$("#feed-panel")).screenshot({ path: cfg.shots + "/console-feed.png" });

    // a row opens the whole event
    await page.focus("#feed tbody tr");
    await page.keyboard.press("Enter");
    await page.waitForSelector("#event-dialog[open]", { timeout: 5000 });
    out.dialog = await page.$eval("#event-json", (e) => e.textContent);
    await page.keyboard.press("Escape");

    // failed logins: the address with its count
    await page.waitForFunction(() => /127\.0\.0\.1/.test(document.querySelector("#failed-ip").textContent),
                               { timeout: 10000 });
    out.failed_ip = await page.$$eval("#failed-ip tbody tr", (rows) =>
      rows.map((r) => [...r.cells].map((c) => c.textContent)));
    out.failed_alert = await page.$eval("#failed-alert", (e) => (e.hidden ? "" : e.textContent));
    out.failed_user = await page.$$eval("#failed-user tbody tr", (rows) =>
      rows.map((r) => [...r.cells].map((c) => c.textContent)));
    await (await page.$("#failed-panel")).screenshot({ path: cfg.shots + "/console-failed.png" });

    // who accessed patient 42
    await page.$eval("#r-type", (e) => { e.value = ""; });
    await page.type("#r-type", "patient");
    await page.type("#r-id", "42");
    await page.click("#record-form button[type=submit]");
    await page.waitForFunction(() => {
      const t = document.querySelector("#record tbody").textContent;
      return /u-ann/.test(t) && /u-bob/.test(t);
    }, { timeout: 20000, polling: 300 }).catch(() => {});
    out.record = await page.$$eval("#record tbody tr", (rows) =>
      rows.map((r) => [...r.cells].map((c) => c.textContent)));
    out.record_note = await page.$eval("#record-note", (e) => e.textContent);
    out.record_csv = await page.$eval("#record-csv", (e) => (e.hidden ? "" : e.getAttribute("href")));
    await (await page.$("#record-panel")).screenshot({ path: cfg.shots + "/console-record.png" });

    // what did bob do
    await page.type("#u-id", "u-bob");
    await page.click("#user-form button[type=submit]");
    await page.waitForFunction(() => document.querySelector("#user tbody").rows.length > 0,
                               { timeout: 10000 }).catch(() => {});
    out.user = await page.$$eval("#user tbody tr", (rows) =>
      rows.map((r) => [...r.cells].map((c) => c.textContent)));
    await (await page.$("#user-panel")).screenshot({ path: cfg.shots + "/console-user.png" });

    // the 24 hours and health
    await page.waitForFunction(() => /login_failure: 4/.test(document.querySelector("#legend").textContent),
                               { timeout: 15000 }).catch(() => {});
    out.legend = await page.$eval("#legend", (e) => e.textContent);
    out.top_records = await page.$eval("#top-records", (e) => e.textContent);
    await (await page.$("#stats-panel")).screenshot({ path: cfg.shots + "/console-stats.png" });
    out.health = await page.$eval("#health", (e) => e.textContent);
    await page.waitForFunction(() => !/Checking/.test(document.getElementById("chain").textContent),
                               { timeout: 10000 }).catch(() => {});
    out.chain = await page.$eval("#chain", (e) => e.textContent);
    await (await page.$("#health-panel")).screenshot({ path: cfg.shots + "/console-health.png" });

    // the whole page, for docs/console.md
    await page.screenshot({ path: cfg.doc, fullPage: true });

    // errors only: no info event is left, and the URL says so
    await page.select("#f-severity", "errors");
    await page.waitForFunction(() => {
      const rows = [...document.querySelectorAll("#feed tbody tr")];
      return rows.length > 0 && rows.every((r) => r.dataset.severity !== "info");
    }, { timeout: 10000 }).catch(() => {});
    out.errors_only = await page.$$eval("#feed tbody tr", (rows) => rows.map((r) => r.dataset.severity));
    out.errors_url = page.url();
    await (await page.$("#feed-panel")).screenshot({ path: cfg.shots + "/console-errors-only.png" });

    // a shared URL opens the same view
    await page.goto(out.errors_url, { waitUntil: "load" });
    await page.waitForFunction(() => document.querySelectorAll("#feed tbody tr").length > 0, { timeout: 10000 });
    out.shared_severity = await page.$eval("#f-severity", (e) => e.value);
    out.shared_rows = await page.$$eval("#feed tbody tr", (rows) => rows.map((r) => r.dataset.severity));
  } catch (e) {
    out.exception = String(e && e.stack || e);
  }
  out.errors = errors;
  out.foreign = foreign;
  await browser.close();
  say(out);
  process.exit(0);
})();
