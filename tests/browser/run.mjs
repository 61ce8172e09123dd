// run.mjs — the browser test of sessio-shop in real headless Chromium (Debian's
// /usr/bin/chromium driven by playwright-core; no browser is downloaded).
// It starts the shop on a free 127.0.0.1 port ($SESSIO_BUILD_DIR, default
// build-test/), walks a guest-to-order story step by step, saves a screenshot
// of each page under out/, stops the shop, and prints "N passed, N failed".
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { check, finish, startShop, stopShop } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const outDir = path.join(here, 'out');
const USER = 'alice';
const PASSWORD = 'wonderland';

let shot = 0;

// GET requests in the shop's access log so far.
function served(shop) {
  const log = fs.readFileSync(shop.errPath, 'utf8');
  return log.split('\n').filter((l) => /\bGET\b/.test(l) && /\bpath=/.test(l)).length;
}

async function snap(page, name) {
  shot++;
  const file = path.join(outDir, `${String(shot).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
}

async function text(page) {
  return page.evaluate(() => document.body ? document.body.innerText : '');
}

// Fills every editable field of the form: text-like inputs get a value tagged
// with 'tag', selects their last option, radio groups their last choice.
// Returns {name: value} of what was typed or chosen.
async function fillForm(form, tag) {
  return form.evaluate((f, tag) => {
    const typed = {};
    const radios = {};
    let n = 0;
    for (const el of f.elements) {
      if (!el.name || el.disabled) continue;
      const t = (el.type || '').toLowerCase();
      const ln = el.name.toLowerCase();
      if (['hidden', 'submit', 'button', 'reset', 'image', 'checkbox'].includes(t)) continue;
      if (el.tagName === 'SELECT') {
        const opts = [...el.options].filter((o) => o.value);
        if (opts.length) { el.value = opts[opts.length - 1].value; typed[el.name] = el.value; }
      } else if (t === 'radio') {
        (radios[el.name] = radios[el.name] || []).push(el);
      } else {
        n++;
        let v;
        if (t === 'email' || ln.includes('mail')) v = `${tag.toLowerCase()}${n}@example.org`;
        else if (['tel', 'number'].includes(t) || /zip|postal|postcode|phone|tel/.test(ln)) v = String(10000 + Math.floor(Math.random() * 89999));
        else if (ln.includes('country')) v = 'France';
        else v = `${el.name[0].toUpperCase()}${el.name.slice(1)} ${tag}`;
        el.value = v;
        typed[el.name] = v;
      }
    }
    for (const [name, els] of Object.entries(radios)) {
      const last = els[els.length - 1];
      last.checked = true;
      typed[name] = last.value;
    }
    return typed;
  }, tag);
}

async function formValues(form, names) {
  return form.evaluate((f, names) => {
    const out = {};
    for (const name of names) {
      const els = [...f.elements].filter((e) => e.name === name);
      if (!els.length) continue;
      if (els[0].type === 'radio') {
        const c = els.find((e) => e.checked);
        out[name] = c ? c.value : null;
      } else out[name] = els[0].value;
    }
    return out;
  }, names);
}

// Clicks the submit control of 'form' that moves forward (not "back").
async function submitForward(page, form) {
  const subs = form.locator('button:not([type=button]):not([type=reset]), input[type=submit]');
  const n = await subs.count();
  let target = null;
  for (let i = 0; i < n; i++) {
    const s = subs.nth(i);
    const label = `${await s.getAttribute('name') || ''} ${await s.getAttribute('value') || ''} ${await s.innerText().catch(() => '')}`.toLowerCase();
    if (!/back|prev/.test(label)) { target = s; break; }
  }
  const nav = page.waitForNavigation({ waitUntil: 'load' });
  await (target ? target.click() : form.evaluate((f) => f.requestSubmit()));
  await nav;
}

function sameValues(a, b) {
  return Object.keys(a).every((k) => a[k] === b[k]);
}

function luminance(rgb) {
  const m = rgb.match(/rgba?\((\d+),\s*(\d+),\s*(\d+)(?:,\s*([\d.]+))?/);
  if (!m) return null;
  if (m[4] !== undefined && Number(m[4]) === 0) return null; // transparent
  return (0.2126 * m[1] + 0.7152 * m[2] + 0.0722 * m[3]) / 255;
}

async function background(page) {
  const [b, h] = await page.evaluate(() => [getComputedStyle(document.body).backgroundColor,
    getComputedStyle(document.documentElement).backgroundColor]);
  return luminance(b) ?? luminance(h) ?? 1; // transparent everywhere = white canvas
}

async function themeMarks(page) {
  return page.evaluate(() => [document.documentElement.className, document.body.className,
    document.documentElement.dataset.theme || '', document.body.dataset.theme || '',
    ...[...document.querySelectorAll('link[rel~=stylesheet]')].map((l) => l.href)].join(' '));
}

async function main() {
  fs.mkdirSync(outDir, { recursive: true });
  for (const f of fs.readdirSync(outDir)) if (f.endsWith('.png')) fs.unlinkSync(path.join(outDir, f));
  let shop = null;
  let context = null;
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'sessio-chromium-'));
  const data = fs.mkdtempSync(path.join(os.tmpdir(), 'sessio-shop-data-'));
  try {
    // log level info: the access log tells which pages the server really served
    shop = await startShop({ dataDir: path.join(data, 'data'), errPath: path.join(outDir, 'shop-stderr.log'),
      args: ['--log-level', 'info'] });
    const base = shop.base;
    context = await chromium.launchPersistentContext(profile, {
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
        '--no-proxy-server', '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'],
      viewport: { width: 1100, height: 800 },
    });
    context.setDefaultTimeout(15000);
    const page = context.pages()[0] || await context.newPage();
    const cspErrors = [];
    page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) cspErrors.push(m.text()); });
    page.on('pageerror', (e) => cspErrors.push(String(e)));

    // 1. the catalogue as a guest
    await page.goto(`${base}/`);
    await snap(page, 'home-guest');
    check('home page shows products with add-to-cart forms',
      await page.locator('form[action$="/cart/add"]').count() >= 2);
    check('guest sees a sign-in link, not a user name',
      await page.locator('a[href^="/login"]').count() >= 1 && !(await text(page)).includes('Signed in as'));
    const lightBg = await background(page);

    // 2. add to cart as a guest
    const addForm = page.locator('form[action$="/cart/add"]').first();
    const sku = await addForm.locator('[name=sku]').first().inputValue().catch(async () =>
      addForm.locator('[name=sku]').first().getAttribute('value'));
    await submitForward(page, addForm);
    await snap(page, 'after-guest-add');
    await page.goto(`${base}/cart`);
    await snap(page, 'cart-guest');
    const guestCart = await page.content();
    check('guest cart lists the added product', guestCart.includes(sku), `sku ${sku}`);

    // 3. sign in, cart kept
    await page.locator('a[href^="/login"]').first().click();
    await page.waitForLoadState('load');
    await snap(page, 'login');
    await page.fill('[name=user]', USER);
    await page.fill('[name=password]', PASSWORD);
    await submitForward(page, page.locator('form[action*="/login"]').first());
    await snap(page, 'after-login');
    check('header shows "Signed in as alice"', /Signed in as\s+alice/.test(await text(page)),
      (await text(page)).slice(0, 200));
    await page.goto(`${base}/cart`);
    await snap(page, 'cart-signed-in');
    check('the guest cart is kept after signing in', (await page.content()).includes(sku));

    // 4. dark theme
    await page.goto(`${base}/prefs`);
    await snap(page, 'prefs');
    const theme = page.locator('[name=theme]');
    if (await theme.first().evaluate((e) => e.tagName) === 'SELECT') await theme.selectOption('dark');
    else await page.check('[name=theme][value=dark]');
    await submitForward(page, page.locator('form[action$="/prefs"]').first());
    await page.goto(`${base}/`);
    await snap(page, 'home-dark');
    const darkBg = await background(page);
    const marks = await themeMarks(page);
    check('dark theme is applied (darker computed background)', darkBg < 0.4 && darkBg < lightBg,
      `background luminance light=${lightBg.toFixed(2)} dark=${darkBg.toFixed(2)}; marks: ${marks}`);
    check('dark theme is marked on the page (class, data-theme or stylesheet)', /dark/i.test(marks), marks);
    await page.goto(`${base}/cart`);
    check('dark theme applies on other pages too', (await background(page)) < 0.4);

    // 5. checkout, forward and back
    const tag = `B${Math.floor(Math.random() * 900000 + 100000)}`;
    await page.goto(`${base}/checkout/address`);
    await snap(page, 'checkout-address');
    const addrForm = page.locator('form[action$="/checkout/address"]').first();
    const address = await fillForm(addrForm, tag);
    check('address step has fields to type in', Object.keys(address).length > 0);
    await submitForward(page, addrForm);
    await snap(page, 'checkout-shipping');
    check('address step moves on to shipping', new URL(page.url()).pathname === '/checkout/shipping', page.url());
    const shipForm = page.locator('form[action$="/checkout/shipping"]').first();
    const shipping = await fillForm(shipForm, tag);
    // back: a link or button saying "back" if the page has one, else the browser's back
    const backLink = page.locator('a:has-text("Back"), a:has-text("back")').first();
    if (await backLink.count()) await Promise.all([page.waitForURL(/checkout\/address/), backLink.click()]);
    else await page.goBack();
    await page.waitForLoadState('load');
    await snap(page, 'checkout-address-back');
    const addrBack = await formValues(page.locator('form[action$="/checkout/address"]').first(), Object.keys(address));
    check('going back shows the typed address', sameValues(address, addrBack),
      `typed ${JSON.stringify(address)} shown ${JSON.stringify(addrBack)}`);
    await submitForward(page, page.locator('form[action$="/checkout/address"]').first());
    const ship2 = page.locator('form[action$="/checkout/shipping"]').first();
    await fillForm(ship2, tag); // choose again (a browser's back may not have saved it)
    await submitForward(page, ship2);
    await snap(page, 'checkout-review');
    check('shipping step moves on to review', new URL(page.url()).pathname === '/checkout/review', page.url());
    const review = await page.content();
    const textVals = Object.entries(address).filter(([, v]) => v.includes(tag)).map(([, v]) => v);
    check('review shows the typed address', textVals.every((v) => review.includes(v)), JSON.stringify(textVals));
    await page.goto(`${base}/checkout/shipping`);
    await snap(page, 'checkout-shipping-back');
    const shipBack = await formValues(page.locator('form[action$="/checkout/shipping"]').first(), Object.keys(shipping));
    check('going back to shipping shows the choice', sameValues(shipping, shipBack),
      `chose ${JSON.stringify(shipping)} shown ${JSON.stringify(shipBack)}`);
    await page.goto(`${base}/checkout/review`);

    // 6. place the order, flash once
    await submitForward(page, page.locator('form[action$="/checkout/place"]').first());
    await snap(page, 'order-placed');
    const afterPlace = await text(page);
    await page.reload();
    await page.waitForLoadState('load');
    await snap(page, 'order-placed-reload');
    const afterReload = await text(page);
    const flash = afterPlace.split('\n').map((l) => l.trim()).filter((l) => l && !afterReload.includes(l));
    check('a flash message is shown after placing the order', flash.length > 0);
    check('the flash is gone on reload', flash.length > 0 && flash.every((l) => !afterReload.includes(l)),
      JSON.stringify(flash));
    await page.goto(`${base}/cart`);
    check('the cart is empty after the order', !(await page.content()).includes(`value="${sku}"`));
    // an empty cart cannot be checked out: put something in it first
    await page.goto(`${base}/`);
    await submitForward(page, page.locator('form[action$="/cart/add"]').first());
    await page.goto(`${base}/checkout/address`);
    const cleared = await formValues(page.locator('form[action$="/checkout/address"]').first(), Object.keys(address));
    check('checkout form data is cleared after the order', textVals.every((v) => !Object.values(cleared).includes(v)));

    // 7. private pages, then sign out and go back in history
    await page.goto(`${base}/checkout/address`);
    const addr2 = await fillForm(page.locator('form[action$="/checkout/address"]').first(), tag + 'x');
    await submitForward(page, page.locator('form[action$="/checkout/address"]').first());
    const ship3 = page.locator('form[action$="/checkout/shipping"]').first();
    await fillForm(ship3, tag);
    await submitForward(page, ship3);
    await snap(page, 'review-before-logout');
    const review2 = await page.content();
    const addr2Texts = Object.values(addr2).filter((v) => v.includes(tag));
    check('review before sign-out shows the new address',
      new URL(page.url()).pathname === '/checkout/review' && addr2Texts.length > 0 &&
      addr2Texts.every((v) => review2.includes(v)), page.url());
    await page.goto(`${base}/cart`);
    await snap(page, 'cart-before-logout');
    const privateBits = ['Signed in as', ...Object.values(addr2).filter((v) => v.includes(tag))];
    check('the pages before sign-out do show private data', (await text(page)).includes('Signed in as'));
    const logout = page.locator('form[action$="/logout"]').first();
    await submitForward(page, logout);
    await snap(page, 'after-logout');
    check('signed out: no user name in the header', !(await text(page)).includes('Signed in as'));
    for (let i = 1; i <= 2; i++) {
      const before = served(shop);
      await page.goBack();
      await page.waitForLoadState('load');
      check(`history back ${i} was served again by the server (no-store)`, served(shop) > before,
        `no new GET in the access log; now at ${page.url()}`);
      await snap(page, `history-back-${i}`);
      const body = await page.content();
      const where = new URL(page.url()).pathname;
      const leaks = privateBits.filter((b) => body.includes(b));
      if (where !== '/login' && (await text(page)).includes(USER)) leaks.push(`user name ${USER}`);
      if (new URL(page.url()).pathname === '/cart') leaks.push(...(body.includes(`value="${sku}"`) ? ['cart item'] : []));
      check(`history back ${i} (${where}) shows no private data`,
        leaks.length === 0, leaks.join(', '));
    }
    check('no Content Security Policy violations or page errors', cspErrors.length === 0, cspErrors.join(' | '));
  } catch (e) {
    check('browser story ran to the end', false, e.stack || String(e));
  } finally {
    if (context) await context.close().catch(() => {});
    await stopShop(shop).catch((e) => check('shop stopped', false, String(e)));
    fs.rmSync(profile, { recursive: true, force: true });
    fs.rmSync(data, { recursive: true, force: true });
  }
  finish();
}

main();
