// fastmcp-auth web console: sign in with the authorization code flow and PKCE, show the
// token's claims, call the MCP tools over Streamable HTTP and the REST endpoint.
//
// Security choices:
// - Tokens live in this module's memory only: never localStorage, sessionStorage, cookies or
//   the URL. Closing or reloading the tab signs out. Only the PKCE verifier and the state,
//   which are worthless once the code is redeemed, stay in sessionStorage during the
//   round trip to the authority, and are removed as soon as the page comes back.
// - The page builds every element with DOM calls and textContent (never innerHTML), which
//   the Content-Security-Policy enforces with trusted types 'none'.
// - The authorization code is stripped from the address bar before it is redeemed.
'use strict';

(() => {
  const PKCE_KEY = 'fastmcp-auth.pkce';
  const MCP_PROTOCOL_VERSION = '2025-11-25';
  const CLIENT_INFO = { name: 'fastmcp-auth-web-console', version: '1' };

  /** @type {{config: any, tokens: any, mcp: McpClient|null, expiryTimer: any}} */
  const state = { config: null, tokens: null, mcp: null, expiryTimer: null };

  const $ = (id) => document.getElementById(id);

  // ---------- small helpers ----------

  function el(tag, props = {}, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) {
      if (k === 'text') e.textContent = v;
      else if (k === 'class') e.className = v;
      else if (v === true) e.setAttribute(k, '');
      else if (v !== false && v !== undefined && v !== null) e.setAttribute(k, String(v));
    }
    for (const c of children) e.append(c);
    return e;
  }

  function base64url(bytes) {
    let s = '';
    for (const b of bytes) s += String.fromCharCode(b);
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function randomString(n) {
    const a = new Uint8Array(n);
    crypto.getRandomValues(a);
    return base64url(a);
  }

  async function pkceChallenge(verifier) {
    const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
    return base64url(new Uint8Array(digest));
  }

  // decodeJwt returns a JWT's payload without verifying it (display only).
  function decodeJwt(jwt) {
    try {
      const part = jwt.split('.')[1];
      const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
      const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
      const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
      return JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      return null;
    }
  }

  // redirectUri is the console's own URL, exactly as registered with the authority.
  function redirectUri() {
    return location.origin + location.pathname;
  }

  // parseChallenge reads the parameters of a WWW-Authenticate: Bearer header.
  function parseChallenge(header) {
    const out = {};
    if (!header) return out;
    const re = /([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g;
    let m;
    while ((m = re.exec(header)) !== null) {
      out[m[1].toLowerCase()] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3];
    }
    return out;
  }

  // HttpError is a non-2xx answer of the server, explained for a person.
  class HttpError extends Error {
    constructor(status, challenge, body) {
      super(`HTTP ${status}`);
      this.status = status;
      this.challenge = challenge;
      this.body = body || {};
    }
  }

  async function httpError(res) {
    let body = {};
    try {
      body = await res.json();
    } catch {
      body = {};
    }
    return new HttpError(res.status, parseChallenge(res.headers.get('WWW-Authenticate')), body);
  }

  function tokenScopes() {
    const c = state.tokens && state.tokens.claims;
    if (!c) return [];
    if (typeof c.scp === 'string') return c.scp.split(' ').filter(Boolean);
    if (typeof c.scope === 'string') return c.scope.split(' ').filter(Boolean);
    if (Array.isArray(c.roles)) return c.roles;
    return [];
  }

  // explain turns an error into {title, text, detail, signIn}.
  function explain(err) {
    if (err instanceof HttpError) {
      const ch = err.challenge;
      const desc = ch.error_description || err.body.error_description || '';
      if (err.status === 401) {
        if (!state.tokens) {
          return { title: 'Sign-in needed', text: 'This server needs an access token: sign in first.', detail: desc, signIn: true };
        }
        return {
          title: 'Your sign-in was not accepted (401)',
          text: `The server rejected the token${desc ? `: ${desc}` : ''}. Sign in again to get a new one.`,
          detail: ch.error ? `error="${ch.error}"` : '',
          signIn: true,
        };
      }
      if (err.status === 403 && (ch.error === 'insufficient_scope' || err.body.error === 'insufficient_scope')) {
        const required = (ch.scope || '').split(' ').filter(Boolean);
        const have = tokenScopes();
        const missing = required.filter((s) => !have.includes(s));
        const list = (missing.length ? missing : required).map((s) => `"${s}"`).join(', ');
        return {
          title: 'Missing permission (403)',
          text: `Your token lacks the scope ${list || '(unnamed)'} that this server requires. ` +
            `Your token has: ${have.length ? have.join(', ') : 'no scopes'}. Ask an administrator to ` +
            'grant it to the app registration (API permissions, then admin consent) and sign in again.',
          detail: desc,
          signIn: true,
        };
      }
      if (err.status === 403) {
        return { title: 'Forbidden (403)', text: desc || err.body.error || 'The server refused the request.', detail: '' };
      }
      return {
        title: `Server error (${err.status})`,
        text: err.body.error_description || err.body.error || err.body.message || 'The server answered with an error.',
        detail: '',
      };
    }
    if (err && err.name === 'AbortError') return { title: 'Cancelled', text: 'The call was cancelled.', detail: '' };
    if (err instanceof TypeError) {
      return { title: 'Network error', text: 'The request did not reach the server (or was blocked). Check that it is running.', detail: String(err.message || '') };
    }
    return { title: 'Error', text: String((err && err.message) || err), detail: '' };
  }

  function showAlert(info) {
    $('alert-title').textContent = info.title;
    $('alert-text').textContent = info.text;
    $('alert-detail').textContent = info.detail || '';
    $('alert-sign-in').hidden = !(info.signIn && state.config && state.config.authRequired);
    $('alert').hidden = false;
  }

  function clearAlert() {
    $('alert').hidden = true;
  }

  // ---------- sign-in ----------

  async function signIn() {
    const cfg = state.config;
    if (!window.crypto || !crypto.subtle) {
      showAlert({ title: 'Cannot sign in here', text: 'This browser offers no WebCrypto on this address: open the console over https or on localhost.', detail: '' });
      return;
    }
    const verifier = randomString(32);
    const st = randomString(16);
    const redirect = redirectUri();
    sessionStorage.setItem(PKCE_KEY, JSON.stringify({ verifier, state: st, redirect }));
    const u = new URL(cfg.authorizeEndpoint);
    u.searchParams.set('client_id', cfg.clientId);
    u.searchParams.set('response_type', 'code');
    u.searchParams.set('redirect_uri', redirect);
    u.searchParams.set('response_mode', 'query');
    u.searchParams.set('scope', cfg.scopes.join(' '));
    u.searchParams.set('state', st);
    u.searchParams.set('code_challenge', await pkceChallenge(verifier));
    u.searchParams.set('code_challenge_method', 'S256');
    location.assign(u.toString());
  }

  // completeSignIn handles the authority's redirect back (?code&state or ?error).
  async function completeSignIn(params) {
    const raw = sessionStorage.getItem(PKCE_KEY);
    sessionStorage.removeItem(PKCE_KEY);
    // Take the code out of the address bar and history before anything else.
    history.replaceState(null, '', redirectUri());
    let saved = null;
    try {
      saved = JSON.parse(raw || 'null');
    } catch {
      saved = null;
    }
    if (params.get('error')) {
      showAlert({ title: 'Sign-in failed', text: params.get('error_description') || params.get('error'), detail: `error=${params.get('error')}`, signIn: true });
      return;
    }
    if (!saved || !params.get('state') || params.get('state') !== saved.state) {
      // The answer does not belong to a sign-in this tab started: a forged or replayed link.
      showAlert({ title: 'Sign-in not completed', text: 'The answer from the authority did not match a sign-in started in this tab (state mismatch). Sign in again.', detail: '', signIn: true });
      return;
    }
    const iss = params.get('iss');
    // A multi-tenant authority (common, organizations) publishes a templated issuer: skip then.
    if (iss && state.config.issuer && !state.config.issuer.includes('{') && iss !== state.config.issuer) {
      // RFC 9207: the answer came from another authority than the one we asked (mix-up).
      showAlert({ title: 'Sign-in not completed', text: `The answer came from an unexpected issuer (${iss}). Sign in again.`, detail: '', signIn: true });
      return;
    }
    const body = new URLSearchParams({
      client_id: state.config.clientId,
      grant_type: 'authorization_code',
      code: params.get('code') || '',
      redirect_uri: saved.redirect,
      code_verifier: saved.verifier,
      scope: state.config.scopes.join(' '),
    });
    let res;
    try {
      res = await fetch(state.config.tokenEndpoint, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
        body,
        credentials: 'omit',
        cache: 'no-store',
        referrerPolicy: 'no-referrer',
      });
    } catch (e) {
      showAlert({ title: 'Sign-in failed', text: 'Could not reach the authority\'s token endpoint.', detail: String(e.message || e), signIn: true });
      return;
    }
    let data = {};
    try {
      data = await res.json();
    } catch {
      data = {};
    }
    if (!res.ok || !data.access_token) {
      showAlert({ title: 'Sign-in failed', text: data.error_description || data.error || `The token endpoint answered HTTP ${res.status}.`, detail: data.error ? `error=${data.error}` : '', signIn: true });
      return;
    }
    setTokens(data);
  }

  function setTokens(data) {
    const claims = decodeJwt(data.access_token) || {};
    const idClaims = data.id_token ? decodeJwt(data.id_token) || {} : {};
    let expiresAt = claims.exp ? claims.exp * 1000 : 0;
    if (!expiresAt && data.expires_in) expiresAt = Date.now() + Number(data.expires_in) * 1000;
    state.tokens = { accessToken: data.access_token, claims, idClaims, expiresAt };
    state.mcp = null;
    clearTimeout(state.expiryTimer);
    if (expiresAt) {
      const ms = Math.min(expiresAt - Date.now(), 2 ** 31 - 1);
      state.expiryTimer = setTimeout(renderAccount, Math.max(ms, 0) + 500);
    }
    renderAccount();
  }

  function signOut() {
    // Forget the tokens of this tab. The authority's own session is not ended: signing in
    // again may be silent, as with other single-page apps.
    state.tokens = null;
    state.mcp = null;
    clearTimeout(state.expiryTimer);
    $('tools').replaceChildren();
    $('tools-status').textContent = '';
    $('rest-result').hidden = true;
    $('rest-status').textContent = '';
    clearAlert();
    renderAccount();
    $('sign-in').focus();
  }

  function accountName() {
    const c = { ...state.tokens.claims, ...state.tokens.idClaims };
    const user = c.preferred_username || c.upn || c.email || c.unique_name;
    if (c.name && user) return `${c.name} (${user})`;
    return c.name || user || c.sub || 'signed in';
  }

  function renderAccount() {
    const cfg = state.config;
    if (!cfg.authRequired) {
      $('account-name').textContent = 'No sign-in needed (server runs with --no-auth)';
      $('sign-in').hidden = true;
      $('sign-out').hidden = true;
      $('token-panel').hidden = true;
      $('signed-out-panel').hidden = true;
      return;
    }
    const t = state.tokens;
    $('sign-in').hidden = !!t;
    $('sign-out').hidden = !t;
    $('signed-out-panel').hidden = !!t;
    $('token-panel').hidden = !t;
    if (!t) {
      $('account-name').textContent = 'Not signed in';
      return;
    }
    const name = accountName();
    $('account-name').textContent = `Signed in as ${name}`;
    const c = t.claims;
    $('claim-account').textContent = name;
    $('claim-audience').textContent = Array.isArray(c.aud) ? c.aud.join(', ') : c.aud || '(none)';
    const scopes = tokenScopes();
    $('claim-scopes').textContent = scopes.length ? scopes.join(' ') : '(none)';
    if (t.expiresAt) {
      const left = Math.round((t.expiresAt - Date.now()) / 60000);
      const when = new Date(t.expiresAt).toLocaleString();
      $('claim-expiry').textContent = left > 0 ? `${when} (in ${left} min)` : left === 0 ? `${when} (in under a minute)` : `${when} (expired: sign in again)`;
    } else {
      $('claim-expiry').textContent = '(unknown)';
    }
    $('claim-issuer').textContent = c.iss || '(none)';
  }

  // ---------- MCP over Streamable HTTP ----------

  // McpClient speaks JSON-RPC to the MCP endpoint: each request is a POST whose answer is
  // either JSON or a stream of server-sent events carrying notifications and the response.
  class McpClient {
    constructor(url) {
      this.url = url;
      this.sessionId = null;
      this.protocolVersion = null;
      this.nextId = 1;
      this.ready = null;
    }

    headers() {
      const h = { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' };
      if (state.tokens) h.Authorization = `Bearer ${state.tokens.accessToken}`;
      if (this.sessionId) h['Mcp-Session-Id'] = this.sessionId;
      if (this.protocolVersion) h['MCP-Protocol-Version'] = this.protocolVersion;
      return h;
    }

    async post(message, signal) {
      const res = await fetch(this.url, {
        method: 'POST',
        headers: this.headers(),
        body: JSON.stringify(message),
        signal,
        credentials: 'omit',
        cache: 'no-store',
      });
      const sid = res.headers.get('Mcp-Session-Id');
      if (sid) this.sessionId = sid;
      return res;
    }

    async connect() {
      if (!this.ready) {
        this.ready = (async () => {
          const result = await this.call('initialize', {
            protocolVersion: MCP_PROTOCOL_VERSION,
            capabilities: {},
            clientInfo: CLIENT_INFO,
          });
          this.protocolVersion = result.protocolVersion || MCP_PROTOCOL_VERSION;
          await this.notify('notifications/initialized', {});
          return result;
        })();
        this.ready.catch(() => { this.ready = null; });
      }
      return this.ready;
    }

    async notify(method, params) {
      const res = await this.post({ jsonrpc: '2.0', method, params });
      if (!res.ok) throw await httpError(res);
      await res.body?.cancel();
    }

    // request sends a JSON-RPC request after the handshake, calling onNotification for each
    // notification that arrives on the answer's stream.
    async request(method, params, opts = {}) {
      await this.connect();
      try {
        return await this.call(method, params, opts);
      } catch (e) {
        if (e instanceof HttpError && e.status === 404 && this.sessionId) {
          // The session expired on the server: start a new one and try once more.
          this.sessionId = null;
          this.protocolVersion = null;
          this.ready = null;
          await this.connect();
          return this.call(method, params, opts);
        }
        throw e;
      }
    }

    async call(method, params, opts = {}) {
      const id = this.nextId++;
      if (opts.onId) opts.onId(id);
      const res = await this.post({ jsonrpc: '2.0', id, method, params }, opts.signal);
      if (!res.ok) throw await httpError(res);
      const type = (res.headers.get('Content-Type') || '').toLowerCase();
      let response = null;
      const handle = (msg) => {
        if (Array.isArray(msg)) { msg.forEach(handle); return; }
        if (msg && msg.id === id && ('result' in msg || 'error' in msg)) response = msg;
        else if (msg && msg.method && opts.onNotification) opts.onNotification(msg);
      };
      if (type.startsWith('text/event-stream')) {
        await readEvents(res.body, (data) => {
          try {
            handle(JSON.parse(data));
          } catch {
            /* not JSON: ignore */
          }
          return response !== null;
        });
      } else {
        handle(await res.json());
      }
      if (!response) throw new Error(`The server's answer to ${method} ended without a response.`);
      if (response.error) {
        const e = new Error(`${response.error.message || 'error'} (JSON-RPC ${response.error.code})`);
        e.rpc = response.error;
        throw e;
      }
      return response.result;
    }
  }

  // readEvents parses a text/event-stream body, calling onData with each event's data until
  // it returns true or the stream ends.
  async function readEvents(body, onData) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value.replace(/\r\n?/g, '\n');
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).replace(/^ /, '')).join('\n');
          if (data && onData(data)) return;
        }
      }
    } finally {
      reader.cancel().catch(() => {});
    }
  }

  function mcp() {
    if (!state.mcp) state.mcp = new McpClient(new URL(state.config.mcpPath, location.href).toString());
    return state.mcp;
  }

  // ---------- tools ----------

  async function listTools() {
    clearAlert();
    const status = $('tools-status');
    status.textContent = 'Listing tools…';
    $('list-tools').disabled = true;
    try {
      const result = await mcp().request('tools/list', {});
      const tools = result.tools || [];
      $('tools').replaceChildren(...tools.map(renderTool));
      status.textContent = `${tools.length} tool${tools.length === 1 ? '' : 's'}.`;
    } catch (e) {
      status.textContent = 'Could not list the tools.';
      showAlert(explain(e));
    } finally {
      $('list-tools').disabled = false;
    }
  }

  let fieldSeq = 0;

  // fieldFor builds the input of one schema property.
  function fieldFor(name, prop, required) {
    const id = `f${++fieldSeq}`;
    const type = Array.isArray(prop.type) ? prop.type.find((t) => t !== 'null') : prop.type;
    const hintId = `${id}-hint`;
    const label = el('label', { for: id }, name);
    if (required) label.append(' ', el('span', { class: 'req', 'aria-hidden': 'true', text: '*' }));
    const hintText = [prop.description, type === 'integer' ? 'integer' : type === 'number' ? 'number' : '', (type === 'object' || type === 'array') ? 'JSON' : '']
      .filter(Boolean).join(' · ');
    const hint = el('span', { class: 'hint', id: hintId, text: hintText });
    let input;
    if (type === 'boolean') {
      input = el('input', { id, name, type: 'checkbox', 'aria-describedby': hintId });
      if (prop.default === true) input.checked = true;
      return { node: el('div', { class: 'field check' }, input, label, hint), read: () => input.checked, input };
    }
    if (type === 'integer' || type === 'number') {
      input = el('input', {
        id, name, type: 'number', inputmode: type === 'integer' ? 'numeric' : 'decimal',
        step: type === 'integer' ? '1' : 'any', required, 'aria-required': required ? 'true' : false,
        'aria-describedby': hintId, min: prop.minimum, max: prop.maximum,
      });
    } else if (type === 'object' || type === 'array') {
      input = el('textarea', { id, name, rows: '3', required, 'aria-describedby': hintId, spellcheck: 'false' });
    } else {
      input = el('input', { id, name, type: 'text', autocomplete: 'off', spellcheck: 'false', required, 'aria-required': required ? 'true' : false, 'aria-describedby': hintId });
    }
    if (prop.default !== undefined && typeof prop.default !== 'object') input.value = String(prop.default);
    const read = () => {
      const v = input.value;
      input.removeAttribute('aria-invalid');
      if (v === '') {
        if (required) { input.setAttribute('aria-invalid', 'true'); throw new Error(`${name} is required.`); }
        return undefined;
      }
      if (type === 'integer' || type === 'number') {
        const n = Number(v);
        if (!Number.isFinite(n) || (type === 'integer' && !Number.isInteger(n))) {
          input.setAttribute('aria-invalid', 'true');
          throw new Error(`${name} must be ${type === 'integer' ? 'an integer' : 'a number'}.`);
        }
        return n;
      }
      if (type === 'object' || type === 'array') {
        try { return JSON.parse(v); } catch { input.setAttribute('aria-invalid', 'true'); throw new Error(`${name} must be JSON.`); }
      }
      return v;
    };
    return { node: el('div', { class: 'field' }, label, input, hint), read, input };
  }

  function renderTool(tool) {
    const node = $('tool-template').content.firstElementChild.cloneNode(true);
    node.dataset.tool = tool.name;
    node.querySelector('.tool-name').textContent = tool.title ? `${tool.title} (${tool.name})` : tool.name;
    node.querySelector('.tool-desc').textContent = tool.description || '';
    const schema = tool.inputSchema || {};
    const requiredList = Array.isArray(schema.required) ? schema.required : [];
    const fields = Object.entries(schema.properties || {}).map(([name, prop]) => [name, fieldFor(name, prop || {}, requiredList.includes(name))]);
    node.querySelector('.fields').append(...fields.map(([, f]) => f.node));
    const form = node.querySelector('form');
    form.setAttribute('aria-label', `Call ${tool.name}`);
    const callBtn = node.querySelector('.call');
    callBtn.textContent = `Call ${tool.name}`;
    const cancelBtn = node.querySelector('.cancel');
    const box = node.querySelector('.progress-box');
    const bar = node.querySelector('progress');
    const text = node.querySelector('.progress-text');
    const outcome = node.querySelector('.outcome');
    const outTitle = node.querySelector('.outcome-title');
    const out = node.querySelector('.result');
    bar.setAttribute('aria-label', `${tool.name} progress`);
    let controller = null;
    let requestId = null;

    cancelBtn.addEventListener('click', () => {
      if (!controller) return;
      // Tell the server to stop (MCP cancellation), then drop the stream.
      if (requestId !== null) mcp().notify('notifications/cancelled', { requestId, reason: 'cancelled in the web console' }).catch(() => {});
      controller.abort();
    });

    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clearAlert();
      const args = {};
      try {
        for (const [name, f] of fields) {
          const v = f.read();
          if (v !== undefined) args[name] = v;
        }
      } catch (e) {
        outcome.hidden = false;
        outcome.classList.add('error');
        outTitle.textContent = 'Check the form';
        out.textContent = e.message;
        return;
      }
      controller = new AbortController();
      requestId = null;
      const token = `console-${randomString(6)}`;
      callBtn.disabled = true;
      cancelBtn.hidden = false;
      box.hidden = false;
      bar.removeAttribute('value'); // indeterminate until the first update
      text.textContent = 'Calling…';
      outcome.hidden = true;
      outcome.classList.remove('error');
      try {
        const result = await mcp().request('tools/call', { name: tool.name, arguments: args, _meta: { progressToken: token } }, {
          signal: controller.signal,
          onId: (id) => { requestId = id; },
          onNotification: (msg) => {
            if (msg.method !== 'notifications/progress' || !msg.params || msg.params.progressToken !== token) return;
            const p = msg.params;
            if (typeof p.total === 'number' && p.total > 0) bar.max = p.total;
            bar.value = p.progress;
            const of = typeof p.total === 'number' ? ` of ${p.total}` : '';
            text.textContent = `${p.progress}${of}${p.message ? ` — ${p.message}` : ''}`;
          },
        });
        if (!bar.hasAttribute('value')) box.hidden = true; // the tool reported no progress
        showResult(result);
      } catch (e) {
        const info = explain(e);
        outcome.hidden = false;
        outcome.classList.add('error');
        outTitle.textContent = info.title;
        out.textContent = [info.text, info.detail].filter(Boolean).join('\n');
        if (!bar.hasAttribute('value')) box.hidden = true;
        if (e instanceof HttpError) showAlert(info);
      } finally {
        controller = null;
        callBtn.disabled = false;
        cancelBtn.hidden = true;
      }
    });

    function showResult(result) {
      outcome.hidden = false;
      const isError = !!result.isError;
      outcome.classList.toggle('error', isError);
      outTitle.textContent = isError ? 'The tool reported an error' : 'Result';
      let body;
      if (result.structuredContent !== undefined && !isError) {
        body = JSON.stringify(result.structuredContent, null, 2);
      } else {
        body = (result.content || []).map((c) => (c.type === 'text' ? c.text : `[${c.type}]`)).join('\n');
      }
      out.textContent = body;
    }
    return node;
  }

  // ---------- REST ----------

  async function callRest(ev) {
    ev.preventDefault();
    clearAlert();
    const status = $('rest-status');
    const out = $('rest-result');
    const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
    if (state.tokens) headers.Authorization = `Bearer ${state.tokens.accessToken}`;
    status.textContent = 'Sending…';
    out.hidden = true;
    try {
      const res = await fetch(new URL(state.config.restPath, location.href), {
        method: 'POST',
        headers,
        body: JSON.stringify({ input_string: $('rest-input').value }),
        credentials: 'omit',
        cache: 'no-store',
      });
      if (!res.ok) throw await httpError(res);
      const data = await res.json();
      status.textContent = `HTTP ${res.status}`;
      out.textContent = JSON.stringify(data, null, 2);
      out.hidden = false;
    } catch (e) {
      const info = explain(e);
      status.textContent = info.title;
      showAlert(info);
    }
  }

  // ---------- start ----------

  async function main() {
    $('sign-in').addEventListener('click', () => { signIn().catch((e) => showAlert(explain(e))); });
    $('alert-sign-in').addEventListener('click', () => { signIn().catch((e) => showAlert(explain(e))); });
    $('sign-out').addEventListener('click', signOut);
    $('list-tools').addEventListener('click', listTools);
    $('rest-form').addEventListener('submit', callRest);
    try {
      const res = await fetch('config.json', { cache: 'no-store', credentials: 'omit' });
      if (!res.ok) throw new Error(`config.json: HTTP ${res.status}`);
      state.config = await res.json();
    } catch (e) {
      showAlert({ title: 'Console not configured', text: 'Could not load config.json from the server.', detail: String(e.message || e) });
      return;
    }
    $('rest-path').textContent = state.config.restPath;
    if (state.config.authRequired) {
      try {
        $('authority-host').textContent = new URL(state.config.authorizeEndpoint).host;
      } catch {
        $('authority-host').textContent = state.config.authority || '';
      }
      const params = new URLSearchParams(location.search);
      if (params.has('code') || params.has('error')) await completeSignIn(params);
    }
    renderAccount();
    document.body.dataset.ready = 'true';
    if (!state.config.authRequired || state.tokens) listTools();
  }

  main();
})();
