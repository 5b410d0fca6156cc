/* civkey citizen portal: countdowns, the live steps of "Connect mobile key", of a service's
 * login page (whose QR code it draws every second) and of the office counter's BOK verification,
 * and a confirmation before disconnecting a key or unblocking a BOK.
 * No HTML from data (textContent only). The one dependency is the QR encoder /static/qrcode.js
 * (qrcode-generator, vendored), loaded before this file on the login page only. Served as
 * /static/portal.js under a CSP without 'unsafe-inline'. */
(function () {
  'use strict';

  /* ---- Countdowns: <time data-countdown="240">4:00</time> --------------------------------- */

  const countdowns = [];
  const expiryListeners = [];
  let ticker = null;

  function clockText(seconds) {
    const m = Math.floor(seconds / 60);
    const s = seconds % 60;
    return m + ':' + (s < 10 ? '0' : '') + s;
  }

  function tick() {
    const now = performance.now();
    let running = false;
    countdowns.forEach(function (c) {
      const left = Math.max(0, Math.ceil((c.deadline - now) / 1000));
      if (left !== c.shown) {
        c.shown = left;
        c.el.textContent = clockText(left);
        c.el.setAttribute('datetime', 'PT' + Math.floor(left / 60) + 'M' + (left % 60) + 'S');
        c.el.classList.toggle('is-low', left <= 30);
      }
      if (left > 0) {
        running = true;
      }
    });
    if (!running) {
      stopCountdowns();
      expiryListeners.forEach(function (listener) { listener(); });
    }
  }

  function stopCountdowns() {
    if (ticker !== null) {
      window.clearInterval(ticker);
      ticker = null;
    }
  }

  function startCountdowns() {
    const start = performance.now();
    document.querySelectorAll('[data-countdown]').forEach(function (el) {
      const seconds = parseInt(el.getAttribute('data-countdown'), 10);
      if (Number.isFinite(seconds) && seconds >= 0) {
        countdowns.push({ el: el, deadline: start + seconds * 1000, shown: seconds });
      }
    });
    if (countdowns.length > 0) {
      // Four ticks a second keep the display within a quarter second of the truth even when
      // timers drift; the text only changes once a second.
      ticker = window.setInterval(tick, 250);
      tick();
    }
  }

  /* ---- Connect mobile key: steps switched by server-sent events ---------------------------- */

  const FINAL = ['confirmed', 'refused', 'expired'];
  const STATUSES = ['waiting', 'claimed'].concat(FINAL);

  function groupedCode(code) {
    return /^[0-9]{6}$/.test(code) ? code.slice(0, 3) + '\u00a0' + code.slice(3) : '';
  }

  function startPairing(root) {
    const url = root.getAttribute('data-pairing-events');
    const steps = root.querySelectorAll('[data-step]');
    let state = null;
    let source = null;

    steps.forEach(function (step) {
      if (!step.hidden) {
        state = step.getAttribute('data-step');
      }
    });

    function show(name) {
      const focused = document.activeElement;
      let target = null;
      steps.forEach(function (step) {
        const visible = step.getAttribute('data-step') === name;
        step.hidden = !visible;
        if (visible) {
          target = step;
        }
      });
      state = name;
      // Keyboard users whose focus just disappeared land on the new step's heading.
      if (target && (!focused || focused === document.body || focused.closest('[hidden]'))) {
        const heading = target.querySelector('[tabindex="-1"]');
        if (heading) {
          heading.focus();
        }
      }
    }

    function finish(name) {
      if (FINAL.indexOf(state) !== -1) {
        return;
      }
      show(name);
      stopCountdowns();
      if (source) {
        source.close();
        source = null;
      }
    }

    function handle(data) {
      if (!data || typeof data.status !== 'string' || STATUSES.indexOf(data.status) === -1) {
        return;
      }
      if (FINAL.indexOf(state) !== -1) {
        return;
      }
      if (FINAL.indexOf(data.status) !== -1) {
        finish(data.status);
        return;
      }
      if (data.status === 'claimed') {
        const code = groupedCode(String(data.confirmation_code || ''));
        root.querySelectorAll('[data-fill="code"]').forEach(function (el) { el.textContent = code; });
        const name = typeof data.device_name === 'string' ? data.device_name : '';
        root.querySelectorAll('[data-fill="device-name"]').forEach(function (el) { el.textContent = name; });
        if (state !== 'claimed') {
          show('claimed');
        }
      }
      // "waiting" changes nothing: the QR code is already there.
    }

    function onMessage(event) {
      let data = null;
      try {
        data = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      handle(data);
    }

    expiryListeners.push(function () {
      // The session's four minutes are over; the server says so too, but the page need not wait.
      finish('expired');
    });

    if (FINAL.indexOf(state) !== -1 || !url || typeof window.EventSource !== 'function') {
      return;
    }
    // Reconnecting after a dropped connection is EventSource's own job.
    source = new EventSource(url);
    source.addEventListener('message', onMessage);
    // Named events (event: claimed) reach only their own listeners; accept those too.
    STATUSES.forEach(function (name) { source.addEventListener(name, onMessage); });
  }

  /* ---- A service's login page: a new QR code every second, then the outcome ----------------- */

  const SIGNIN_FINAL = ['approved', 'denied', 'expired'];

  /* ---- The login page's QR code: drawn here from the second's login URI -------------------- */

  const QR_QUIET_ZONE = 4;

  // Draws `text` as a QR code (error correction M, byte mode) into `canvas`, whole device pixels
  // per module so that the code stays sharp. Only civkey login URIs are drawn.
  function drawQr(canvas, text) {
    if (typeof text !== 'string' || text.indexOf('civkey://login?') !== 0
        || typeof window.qrcode !== 'function') {
      return false;
    }
    const code = window.qrcode(0, 'M');
    code.addData(text, 'Byte');
    code.make();
    const count = code.getModuleCount();
    const side = count + 2 * QR_QUIET_ZONE;
    const ratio = window.devicePixelRatio || 1;
    const cssSize = canvas.clientWidth || Number(canvas.getAttribute('width')) || 280;
    const scale = Math.max(1, Math.floor(cssSize * ratio / side));
    const pixels = side * scale;
    if (canvas.width !== pixels) {
      canvas.width = pixels;
      canvas.height = pixels;
    }
    const context = canvas.getContext('2d');
    context.fillStyle = '#ffffff';
    context.fillRect(0, 0, pixels, pixels);
    context.fillStyle = '#000000';
    for (let row = 0; row < count; row += 1) {
      for (let col = 0; col < count; col += 1) {
        if (code.isDark(row, col)) {
          context.fillRect((col + QR_QUIET_ZONE) * scale, (row + QR_QUIET_ZONE) * scale,
            scale, scale);
        }
      }
    }
    canvas.setAttribute('data-qr-uri', text);
    return true;
  }

  function startSignin(root) {
    const url = root.getAttribute('data-signin-events');
    const steps = root.querySelectorAll('[data-step]');
    const canvas = root.querySelector('canvas[data-qr-uri]');
    let done = false;
    let source = null;

    function show(name) {
      steps.forEach(function (step) {
        step.hidden = step.getAttribute('data-step') !== name;
        if (!step.hidden) {
          const heading = step.querySelector('[tabindex="-1"]');
          if (heading && name !== 'waiting') {
            heading.focus();
          }
        }
      });
    }

    function finish(name) {
      if (done) {
        return;
      }
      done = true;
      show(name);
      stopCountdowns();
      if (source) {
        source.close();
        source = null;
      }
    }

    function parse(event) {
      try {
        return JSON.parse(event.data);
      } catch (e) {
        return null;
      }
    }

    function onFrame(event) {
      const frame = parse(event);
      if (done || !frame || !canvas) {
        return;
      }
      drawQr(canvas, frame.uri);
    }

    function onOutcome(event) {
      const data = parse(event);
      if (done || !data || SIGNIN_FINAL.indexOf(data.status) === -1) {
        return;
      }
      finish(data.status);
      if (data.status === 'approved' && typeof data.redirect_to === 'string'
          && /^https?:\/\//.test(data.redirect_to)) {
        window.location.assign(data.redirect_to);
      }
    }

    expiryListeners.push(function () { finish('expired'); });
    // "Continue as NAME" answers by its form, whose answer takes the browser to the service: the
    // stream must not send it there a second time with the same code (the service would see its
    // state twice, and refuse the second).
    root.querySelectorAll('form').forEach(function (form) {
      form.addEventListener('submit', function () {
        done = true;
        if (source) {
          source.close();
          source = null;
        }
      });
    });
    if (canvas) {
      drawQr(canvas, canvas.getAttribute('data-qr-uri'));
    }
    if (!url || typeof window.EventSource !== 'function') {
      return;
    }
    source = new EventSource(url);
    source.addEventListener('qr', onFrame);
    source.addEventListener('message', onOutcome);
  }

  /* ---- The office counter: a BOK verification, waiting until the citizen answers ----------- */

  const BOK_FINAL = ['verified', 'not_verified', 'expired', 'blocked'];

  function startBokCounter(root) {
    const url = root.getAttribute('data-bok-events');
    const steps = root.querySelectorAll('[data-step]');
    let done = false;
    let source = null;

    function show(name) {
      steps.forEach(function (step) {
        step.hidden = step.getAttribute('data-step') !== name;
        if (!step.hidden && name !== 'waiting') {
          const heading = step.querySelector('[tabindex="-1"]');
          if (heading) {
            heading.focus();
          }
        }
      });
    }

    function onMessage(event) {
      let data = null;
      try {
        data = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      if (done || !data || BOK_FINAL.indexOf(data.status) === -1) {
        return;
      }
      // The server decides when the request has expired: an answer typed in its last second
      // still counts, so the countdown reaching zero alone changes nothing here.
      done = true;
      if (data.status === 'not_verified') {
        const left = Number.isInteger(data.attempts_left) ? String(data.attempts_left) : '';
        root.querySelectorAll('[data-fill="attempts-left"]').forEach(function (el) {
          el.textContent = left;
        });
      }
      show(data.status);
      stopCountdowns();
      if (source) {
        source.close();
        source = null;
      }
    }

    steps.forEach(function (step) {
      if (!step.hidden && BOK_FINAL.indexOf(step.getAttribute('data-step')) !== -1) {
        done = true;
      }
    });
    if (done || !url || typeof window.EventSource !== 'function') {
      return;
    }
    source = new EventSource(url);
    source.addEventListener('message', onMessage);
  }

  /* ---- Forms: confirmations and single submission ------------------------------------------ */

  function onSubmit(event) {
    const form = event.target;
    if (!(form instanceof HTMLFormElement)) {
      return;
    }
    const button = event.submitter || form.querySelector('button[data-confirm]');
    const question = button ? button.getAttribute('data-confirm') : null;
    if (question && !window.confirm(question)) {
      event.preventDefault();
      return;
    }
    if (form.hasAttribute('data-once')) {
      // Both decisions live side by side; once one is sent, neither can be sent again.
      const group = form.parentElement || form;
      window.setTimeout(function () {
        group.querySelectorAll('button').forEach(function (b) { b.disabled = true; });
      }, 0);
    }
  }

  function init() {
    document.addEventListener('submit', onSubmit);
    document.querySelectorAll('[data-pairing-events]').forEach(startPairing);
    document.querySelectorAll('[data-signin-events]').forEach(startSignin);
    document.querySelectorAll('[data-bok-events]').forEach(startBokCounter);
    startCountdowns();
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
}());
