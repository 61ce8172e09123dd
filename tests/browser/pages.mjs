// pages.mjs — every page of sessio-shop in headless Chromium (Debian's
// /usr/bin/chromium through playwright-core), as a phone (390x844) and a
// desktop (1280x800), in both themes: no horizontal overflow (also at 360
// and 1440 px), the header in two rows at most, no amount or word broken
// over two lines, no console error, no CSP violation, no <script>, and
// axe-core finds no WCAG 2 A/AA violation. Then the flows a keyboard user
// and a shopper meet: a checkout by Tab/Enter alone that reaches the order
// page, Enter in a checkout step going forward, the focus after a failed
// sign-in, the French pages, the cart's 99 cap and quantity changes, the
// "you were signed out" notice shown once, the 431 page in the browser's
// language and light or dark setting. A screenshot of each page, size and
// theme goes to $SESSIO_BUILD_DIR/screenshots/ (default build-test/). Prints
// "N passed, N failed".
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';
import { buildDir, check, finish, startShop, stopShop } from './harness.mjs';

const require = createRequire(import.meta.url);
const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const shotDir = path.join(buildDir, 'screenshots');
const SIZES = [{ width: 390, height: 844 }, { width: 1280, height: 800 }];
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];
const UAS = [
  'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0',
  'some-very-long-robot-name-without-any-spaces-at-all/1.0+https://example.org/about/this/robot/and/its/owner',
];

// A browser page that records console errors, page errors and CSP reports.
async function newPage(browser, viewport) {
  const context = await browser.newContext({ viewport });
  context.setDefaultTimeout(15000);
  const page = await context.newPage();
  page.problems = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || /Content Security Policy/i.test(m.text())) page.problems.push(m.text());
  });
  page.on('pageerror', (e) => page.problems.push(String(e)));
  return { context, page };
}

async function submit(page, locator) {
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), locator.click()]);
}

async function signIn(page, base, user = 'alice', password = 'wonderland') {
  await page.goto(`${base}/login`);
  await page.fill('[name=user]', user);
  await page.fill('[name=password]', password);
  await submit(page, page.locator('#login-form button[type=submit]'));
}

async function fillAddress(page, base) {
  await page.goto(`${base}/checkout/address`);
  await page.fill('[name=name]', 'Ada Lovelace');
  await page.fill('[name=street]', '12 Analytical Row');
  await page.fill('[name=city]', 'Lyon');
  await page.fill('[name=zip]', '69001');
  await page.selectOption('[name=country]', 'France');
  await submit(page, page.locator('button[value=next]'));
}

// Chromium logs an error status of the page itself as a console error: an
// error page's own status is what the test asked for, not a problem.
function problems(page, status) {
  return page.problems.filter((m) => !(status && m.includes(`status of ${status} `)));
}

// Signs in and fills a cart, the checkout and the preferences, so that every
// page has its content; places one order. Returns the order's path.
async function prepare(page, base, theme, lang = 'en') {
  await signIn(page, base);
  for (const sku of ['A1', 'C2', 'B1']) {
    await page.goto(`${base}/product/${sku}`);
    await submit(page, page.locator('form[action="/cart/add"] button'));
  }
  await fillAddress(page, base);
  await page.check('[name=ship][value=express]');
  await submit(page, page.locator('button[value=next]'));
  await submit(page, page.locator('#place-order'));
  const order = new URL(page.url()).pathname;
  // a second checkout left at the review step, so that every step renders
  await page.goto(`${base}/product/B2`);
  await submit(page, page.locator('form[action="/cart/add"] button'));
  await fillAddress(page, base);
  await page.check('[name=ship][value=standard]');
  await submit(page, page.locator('button[value=next]'));
  await page.goto(`${base}/prefs`);
  await page.check(`[name=theme][value=${theme}]`);
  await page.selectOption('[name=lang]', lang);
  await submit(page, page.locator('#prefs-form button[type=submit]'));
  return order;
}

async function audit(page, label) {
  const r = await page.evaluate(async ([src, tags]) => {
    if (!window.axe) (0, eval)(src);
    const res = await window.axe.run(document, { runOnly: { type: 'tag', values: tags } });
    return res.violations.map((v) => `${v.id} (${v.nodes.length}): ${v.nodes.slice(0, 2).map((n) => n.target.join(' ')).join(', ')}`);
  }, [axeSource, AXE_TAGS]);
  check(`${label}: axe-core finds no WCAG 2 A/AA violation`, r.length === 0, r.join(' | '));
}

// WCAG 1.4.11: the borders of text fields and selects against what is
// behind them, and the focus ring against the page, at least 3:1.
async function controlContrast(page) {
  return page.evaluate(() => {
    const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
    const lum = ([r, g, b]) => {
      const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((m, n) => n - m); return (x + 0.05) / (y + 0.05); };
    const bg = (el) => {
      for (let e = el; e; e = e.parentElement) {
        const c = rgb(getComputedStyle(e).backgroundColor);
        if (c.length >= 3 && (c.length < 4 || c[3] > 0)) return c;
      }
      return [255, 255, 255];
    };
    const worst = { border: 99, focus: 99 };
    for (const el of document.querySelectorAll('input:not([type=hidden]):not([type=radio]):not([type=checkbox]), select')) {
      const around = bg(el.parentElement);
      worst.border = Math.min(worst.border, ratio(rgb(getComputedStyle(el).borderTopColor), around));
      el.focus();
      const st = getComputedStyle(el);
      const w = parseFloat(st.outlineWidth) || 0;
      worst.focus = Math.min(worst.focus, w >= 2 ? ratio(rgb(st.outlineColor), around) : 0);
    }
    return worst;
  });
}

async function overflow(page) {
  return page.evaluate(() => ({ sw: document.documentElement.scrollWidth, iw: window.innerWidth }));
}

// What made the phone layout read badly: a header wrapped into three rows,
// wide tables instead of cards, a money amount split over two lines ("€ 67.00"), a product name broken
// inside a word ("Pour-/over/kettle"). Returns the problems found.
async function layoutFaults(page) {
  return page.evaluate(() => {
    const faults = [];
    const tops = (range) => new Set([...range.getClientRects()].filter((r) => r.width > 0)
      .map((r) => Math.round(r.top)));
    const head = document.querySelector('header.top');
    // rows: the parts' top edges, those within 16 px of each other one row
    const ts = [...head.children].filter((e) => e.offsetHeight > 0)
      .map((e) => e.getBoundingClientRect().top).sort((a, b) => a - b);
    const rows = ts.filter((t, i) => i === 0 || t - ts[i - 1] > 16).length;
    if (rows > 2) faults.push(`header in ${rows} rows`);
    // on a phone a table is cards (each row a block, values labelled)
    if (window.innerWidth < 640)
      for (const t of document.querySelectorAll('main table'))
        if (getComputedStyle(t).display === 'table') faults.push(`a table, not cards: #${t.id}`);
    for (const el of document.querySelectorAll('#cart-total, #grand-total, #shipping-cost, td.num, dd')) {
      if (!/€/.test(el.textContent)) continue;
      const r = document.createRange();
      r.selectNodeContents(el);
      if (tops(r).size > 1) faults.push(`amount wraps: ${el.textContent.trim()}`);
    }
    for (const el of document.querySelectorAll('td.name a, .product h2, .product h3')) {
      const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
      for (let t = walker.nextNode(); t; t = walker.nextNode()) {
        const re = /\S+/g;
        for (let m = re.exec(t.data); m; m = re.exec(t.data)) {
          const r = document.createRange();
          r.setStart(t, m.index);
          r.setEnd(t, m.index + m[0].length);
          if (tops(r).size > 1) faults.push(`word broken: ${m[0]}`);
        }
      }
    }
    return faults;
  });
}

// Every page at one size and theme: overflow, console, CSP, scripts, axe,
// a screenshot.
async function everyPage(browser, base, viewport, theme) {
  const { context, page } = await newPage(browser, viewport);
  const tag = `${theme} ${viewport.width}x${viewport.height}`;
  try {
    const order = await prepare(page, base, theme);
    const pages = [['home', '/'], ['product', '/product/A2'], ['cart', '/cart'],
      ['login', '/login'], ['prefs', '/prefs'], ['checkout-address', '/checkout/address'],
      ['checkout-shipping', '/checkout/shipping'], ['checkout-review', '/checkout/review'],
      ['order', order], ['orders', '/orders'], ['sessions', '/account/sessions'],
      ['not-found', '/no-such-page']];
    for (const [name, url] of pages) {
      page.problems.length = 0;
      const status = name === 'not-found' ? 404 : 0;
      await page.goto(`${base}${url}`);
      const { sw, iw } = await overflow(page);
      check(`${tag} ${name}: no horizontal overflow`, sw <= iw, `scrollWidth ${sw} > innerWidth ${iw}`);
      const faults = await layoutFaults(page);
      check(`${tag} ${name}: header in two rows at most, cards on a phone, amounts and words unbroken`,
        faults.length === 0,
        faults.join(' | '));
      const scripts = await page.locator('script').count();
      check(`${tag} ${name}: no script`, scripts === 0);
      await audit(page, `${tag} ${name}`);
      if (name === 'checkout-address' || name === 'login') {
        const c = await controlContrast(page);
        check(`${tag} ${name}: field borders and focus rings 3:1 (WCAG 1.4.11)`, c.border >= 3 && c.focus >= 3,
          `border ${c.border.toFixed(2)}:1, focus ${c.focus.toFixed(2)}:1`);
        await page.goto(`${base}${url}`); // unfocused for the screenshot
      }
      await page.screenshot({ path: path.join(shotDir, `${theme}-${viewport.width}x${viewport.height}-${name}.png`), fullPage: true });
      const left = problems(page, status);
      check(`${tag} ${name}: no console error or CSP violation`, left.length === 0, left.join(' | '));
    }
    // a guest's pages and a bad quantity on a product card
    await context.clearCookies();
    for (const [name, url] of [['home-guest', '/'], ['login-guest', '/login?next=/cart']]) {
      await page.goto(`${base}${url}`);
      await audit(page, `${tag} ${name}`);
      await page.screenshot({ path: path.join(shotDir, `${theme}-${viewport.width}x${viewport.height}-${name}.png`), fullPage: true });
    }
    await page.goto(`${base}/`);
    await page.fill('#product-A1 [name=qty]', '0');
    await page.locator('#product-A1 [name=qty]').evaluate((e) => { e.removeAttribute('min'); });
    await submit(page, page.locator('#product-A1 button'));
    check(`${tag}: a bad quantity is said on the product card`,
      await page.locator('#product-A1 [role=alert]').count() === 1);
    await audit(page, `${tag} bad-quantity`);
    // the narrowest phone and the widest desktop the layout supports
    const edge = viewport.width === 390 ? { width: 360, height: 740 } : { width: 1440, height: 900 };
    await page.setViewportSize(edge);
    await signIn(page, base);
    for (const url of ['/', '/product/C1', '/cart', '/account/sessions', '/orders', order, '/checkout/address',
      '/prefs', '/no-such-page']) {
      await page.goto(`${base}${url}`);
      const { sw, iw } = await overflow(page);
      check(`${theme} ${edge.width}x${edge.height} ${url}: no horizontal overflow`, sw <= iw,
        `scrollWidth ${sw} > innerWidth ${iw}`);
    }
  } catch (e) {
    check(`${tag}: the page tour ran to the end`, false, e.stack || String(e));
  } finally {
    await context.close();
  }
}

// Presses Tab until 'pred' holds for the focused element (at most 80 times).
async function tabTo(page, pred, arg) {
  for (let i = 0; i < 80; i++) {
    await page.keyboard.press('Tab');
    if (await page.evaluate(pred, arg)) return true;
  }
  return false;
}

async function keyboardCheckout(browser, base) {
  const { context, page } = await newPage(browser, { width: 1280, height: 800 });
  try {
    await page.goto(`${base}/`);
    // the skip link is the first stop
    await page.keyboard.press('Tab');
    check('keyboard: the first Tab reaches the skip link',
      await page.evaluate(() => document.activeElement.classList.contains('skip')));
    check('keyboard: reached the first "Add to cart"',
      await tabTo(page, () => document.activeElement.closest('form[action="/cart/add"]') &&
        document.activeElement.tagName === 'BUTTON'));
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
    check('keyboard: Enter added to the cart', new URL(page.url()).pathname === '/cart');
    check('keyboard: reached "Checkout"',
      await tabTo(page, () => document.activeElement.getAttribute('href') === '/checkout/address'));
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
    check('keyboard: a guest is asked to sign in', new URL(page.url()).pathname === '/login');
    await tabTo(page, () => document.activeElement.name === 'user');
    await page.keyboard.type('alice');
    await page.keyboard.press('Tab');
    await page.keyboard.type('wonderland');
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
    check('keyboard: signing in comes back to the checkout', new URL(page.url()).pathname === '/checkout/address', page.url());
    const typed = { name: 'Ada Lovelace', street: '12 Analytical Row', city: 'Lyon', zip: '69001' };
    for (const [name, value] of Object.entries(typed)) {
      await tabTo(page, (n) => document.activeElement.name === n, name);
      await page.keyboard.type(value);
    }
    await page.keyboard.press('Tab');
    await page.keyboard.type('France'); // a select takes typed letters
    check('keyboard: the country list took the typed name',
      await page.evaluate(() => document.activeElement.value) === 'France');
    await tabTo(page, () => document.activeElement.name === 'zip');
    // Enter in a field submits with the form's first button: forward
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
    check('keyboard: Enter on the address step goes forward to shipping',
      new URL(page.url()).pathname === '/checkout/shipping', page.url());
    await tabTo(page, () => document.activeElement.name === 'ship');
    await page.keyboard.press('Space');
    await tabTo(page, () => document.activeElement.name === 'note');
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
    check('keyboard: Enter on the shipping step goes forward to review',
      new URL(page.url()).pathname === '/checkout/review', page.url());
    check('keyboard: reached "Place order"', await tabTo(page, () => document.activeElement.id === 'place-order'));
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
    check('keyboard: the checkout reaches the order page',
      /^\/orders\/\d+$/.test(new URL(page.url()).pathname), page.url());
    check('keyboard: the order page shows the address',
      (await page.locator('#order').innerText()).includes('12 Analytical Row'));
    check('keyboard pages: no console error or CSP violation', page.problems.length === 0, page.problems.join(' | '));
    // focus after a failed sign-in is on the password field
    page.problems.length = 0;
    await context.clearCookies();
    await page.goto(`${base}/login`);
    await page.fill('[name=user]', 'alice');
    await page.fill('[name=password]', 'wrong');
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
    check('after a failed sign-in the focus is on the password field',
      await page.evaluate(() => document.activeElement.name === 'password' &&
        document.activeElement.getAttribute('aria-describedby') === 'login-error'));
    check('failed sign-in page: no console error or CSP violation', problems(page, 401).length === 0,
      problems(page, 401).join(' | '));
  } catch (e) {
    check('keyboard checkout ran to the end', false, e.stack || String(e));
  } finally {
    await context.close();
  }
}

// The cart as a shopper edits it: 99 added twice stays 99 and says so, a
// line's quantity changed in place (typed, then Enter), 0 removes it.
async function cartEdits(browser, base) {
  const { context, page } = await newPage(browser, { width: 390, height: 844 });
  const count = async () => Number(await page.locator('#cart-count').evaluate((e) => e.firstChild.textContent));
  try {
    for (let i = 0; i < 2; i++) {
      await page.goto(`${base}/`);
      await page.fill('#product-A2 [name=qty]', '99');
      await submit(page, page.locator('#product-A2 button'));
    }
    check('cart: 99 added twice holds 99 and says so', await count() === 99 &&
      /99/.test(await page.locator('.flash').innerText()), `${await count()}`);
    const line = page.locator('form[action="/cart/update"]').filter({ has: page.locator('[value=A2]') });
    await line.locator('[name=qty]').fill('7');
    await Promise.all([page.waitForNavigation(), line.locator('[name=qty]').press('Enter')]);
    check('cart: a quantity typed in the cart and Enter changes the line', await count() === 7, `${await count()}`);
    const again = page.locator('form[action="/cart/update"]').filter({ has: page.locator('[value=A2]') });
    await again.locator('[name=qty]').fill('0');
    await submit(page, again.locator('button'));
    check('cart: quantity 0 removes the line', await count() === 0 &&
      await page.locator('form[action="/cart/update"]').count() === 0);
    check('cart edits: no console error or CSP violation', problems(page).length === 0, problems(page).join(' | '));
  } catch (e) {
    check('cart edits ran to the end', false, e.stack || String(e));
  } finally {
    await context.close();
  }
}

// The "you were signed out" notice: after "Sign out", after a revocation
// from another device, and through the redirect of a member page; each time
// once, the dead cookie dropped by the browser (S34).
async function signedOut(browser, base) {
  const a = await newPage(browser, { width: 390, height: 844 });
  const b = await newPage(browser, { width: 1280, height: 800 });
  const notice = async () => a.page.locator('#signed-out').count();
  const hasSid = async () => (await a.context.cookies()).some((c) => c.name === 'sid');
  const revokeFromB = async () => {
    await b.page.goto(`${base}/account/sessions`);
    await submit(b.page, b.page.locator('#revoke-others'));
  };
  try {
    await signIn(a.page, base, 'bob', 'builder');
    await submit(a.page, a.page.locator('form[action="/logout"] button'));
    check('signed out: "Sign out" says so', await notice() === 1);
    await a.page.goto(`${base}/cart`);
    check('signed out: the notice is gone on the next page', await notice() === 0);

    await signIn(a.page, base, 'bob', 'builder');
    await signIn(b.page, base, 'bob', 'builder');
    await revokeFromB();
    await a.page.goto(`${base}/cart`);
    check('revoked elsewhere: the next page says so', await notice() === 1);
    check('revoked elsewhere: the browser dropped the dead cookie', !(await hasSid()));
    await audit(a.page, 'signed-out notice');
    await a.page.screenshot({ path: path.join(shotDir, 'light-390x844-signed-out.png'), fullPage: true });
    for (const url of ['/cart', '/', '/prefs']) {
      await a.page.goto(`${base}${url}`);
      check(`revoked elsewhere: no notice any more on ${url}`, await notice() === 0);
    }

    await signIn(a.page, base, 'bob', 'builder');
    await revokeFromB();
    await a.page.goto(`${base}/orders`);
    check('revoked elsewhere, member page: sent to sign in with the notice',
      new URL(a.page.url()).pathname === '/login' && await notice() === 1, a.page.url());
    check('revoked elsewhere, member page: the dead cookie dropped', !(await hasSid()));
    await a.page.goto(`${base}/orders`);
    check('revoked elsewhere, member page: the notice once only',
      new URL(a.page.url()).pathname === '/login' && await notice() === 0, a.page.url());
    const left = problems(a.page).concat(problems(b.page));
    check('signed-out pages: no console error or CSP violation', left.length === 0, left.join(' | '));
  } catch (e) {
    check('signed-out tour ran to the end', false, e.stack || String(e));
  } finally {
    await a.context.close();
    await b.context.close();
  }
}

// The 431 page (headers too large), written before any session is read:
// the browser's language and light or dark setting, the site's layout.
async function headersTooLarge(browser, base) {
  const cases = [];
  for (const scheme of ['light', 'dark'])
    for (const viewport of SIZES) cases.push([scheme, viewport, 'en', 'en-GB,en;q=0.9']);
  for (const scheme of ['light', 'dark']) cases.push([scheme, SIZES[0], 'fr', 'fr-FR,fr;q=0.9,en;q=0.5']);
  for (const [scheme, viewport, lang, accept] of cases) {
    const tag = `431 ${scheme} ${lang} ${viewport.width}x${viewport.height}`;
    const context = await browser.newContext({ viewport, colorScheme: scheme,
      extraHTTPHeaders: { 'Accept-Language': accept } });
    const page = await context.newPage();
    page.problems = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || /Content Security Policy/i.test(m.text())) page.problems.push(m.text());
    });
    try {
      // only the page's own request is too large: its stylesheet loads
      await page.route(`${base}/cart`, (route) => route.continue({
        headers: { ...route.request().headers(), 'x-pad': 'p'.repeat(20000) } }));
      const resp = await page.goto(`${base}/cart`);
      const lum = await page.evaluate(() => {
        const [r, g, b] = getComputedStyle(document.body).backgroundColor.match(/\d+/g).map(Number);
        return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
      });
      check(`${tag}: status 431 in the browser's language`,
        resp.status() === 431 && await page.evaluate(() => document.documentElement.lang) === lang);
      check(`${tag}: the site's layout, the ${scheme} look, says the preferences are unknown`,
        await page.locator('header nav').count() === 1 && await page.locator('footer').count() === 1 &&
        await page.locator('#prefs-unknown').count() === 1 && (scheme === 'dark' ? lum < 0.3 : lum > 0.7),
        `luminance ${lum.toFixed(2)}`);
      const { sw, iw } = await overflow(page);
      check(`${tag}: no horizontal overflow`, sw <= iw, `scrollWidth ${sw} > innerWidth ${iw}`);
      await audit(page, tag);
      await page.screenshot({ path: path.join(shotDir,
        `${scheme}-${viewport.width}x${viewport.height}-headers-too-large${lang === 'en' ? '' : '-' + lang}.png`), fullPage: true });
      const left = problems(page, 431);
      check(`${tag}: no console error or CSP violation`, left.length === 0, left.join(' | '));
    } catch (e) {
      check(`${tag}: ran to the end`, false, e.stack || String(e));
    } finally {
      await context.close();
    }
  }
}

async function french(browser, base) {
  const { context, page } = await newPage(browser, { width: 390, height: 844 });
  try {
    const order = await prepare(page, base, 'light', 'fr');
    for (const [name, url] of [['home', '/'], ['cart', '/cart'], ['checkout-review', '/checkout/review'],
      ['order', order], ['sessions', '/account/sessions'], ['not-found', '/nope']]) {
      await page.goto(`${base}${url}`);
      const lang = await page.evaluate(() => document.documentElement.lang);
      const nav = await page.locator('header nav').innerText();
      check(`fr ${name}: lang="fr", French navigation and title`, lang === 'fr' && /Produits/.test(nav) &&
        /Panier/.test(nav) && /boutique sessio/.test(await page.title()), `${lang} ${nav} ${await page.title()}`);
      await audit(page, `fr ${name}`);
      await page.screenshot({ path: path.join(shotDir, `fr-390x844-${name}.png`), fullPage: true });
    }
  } catch (e) {
    check('French tour ran to the end', false, e.stack || String(e));
  } finally {
    await context.close();
  }
}

async function main() {
  fs.mkdirSync(shotDir, { recursive: true });
  for (const f of fs.readdirSync(shotDir)) if (f.endsWith('.png')) fs.unlinkSync(path.join(shotDir, f));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sessio-pages-'));
  let shop = null;
  let browser = null;
  try {
    shop = await startShop({ dataDir: path.join(tmp, 'data'), errPath: path.join(tmp, 'shop-stderr.log') });
    // other devices of alice for the sessions page
    for (const ua of UAS) {
      const r = await fetch(`${shop.base}/api/login`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'User-Agent': ua },
        body: JSON.stringify({ user: 'alice', password: 'wonderland' }) });
      if (r.status !== 200) throw new Error(`api login: ${r.status}`);
    }
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium', headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
        '--no-proxy-server', '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'],
    });
    for (const theme of ['light', 'dark'])
      for (const viewport of SIZES) await everyPage(browser, shop.base, viewport, theme);
    await keyboardCheckout(browser, shop.base);
    await french(browser, shop.base);
    await cartEdits(browser, shop.base);
    await signedOut(browser, shop.base);
    await headersTooLarge(browser, shop.base);
  } catch (e) {
    check('browser pages test ran to the end', false, e.stack || String(e));
  } finally {
    if (browser) await browser.close().catch(() => {});
    if (shop) await stopShop(shop).catch((e) => check('shop stopped', false, String(e)));
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  console.log(`screenshots in ${shotDir}`);
  finish();
}

main();
