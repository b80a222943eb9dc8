// Drives a gateway (fastmcp-auth serve -- COMMAND, or --upstream URL) with the official
// TypeScript SDK client, and prints one JSON report on stdout for the Go test to check.
// Usage: node gw-client.mjs URL TOKEN SCENARIO
//   every   - list and call every tool (sampling, elicitation and roots answered), progress,
//             cancellation, resources, prompts
//   list    - the names of the tools, prompts and resources, and the answer to calling argv[5]
//   hold    - connect, print the report with the session ID, then wait for stdin to close
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CreateMessageRequestSchema, ElicitRequestSchema, ListRootsRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';

// The token comes in GW_TOKEN (argv would show it in the process list); "-" means none.
const [url, tokenArg, scenario, extra] = process.argv.slice(2);
const token = tokenArg === 'env' ? process.env.GW_TOKEN : tokenArg;
const headers = token && token !== '-' ? { Authorization: `Bearer ${token}` } : {};
const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
const client = new Client({ name: 'gateway-interop', version: '0.0.1' },
  { capabilities: { sampling: {}, elicitation: { form: {} }, roots: { listChanged: true } } });
const report = { sampling: 0, elicitation: 0, roots: 0 };
client.setRequestHandler(CreateMessageRequestSchema, async () => {
  report.sampling++;
  return { model: 'test-model', role: 'assistant', content: { type: 'text', text: 'sampled by the client' } };
});
client.setRequestHandler(ElicitRequestSchema, async () => {
  report.elicitation++;
  return { action: 'accept', content: { name: 'Ada', color: 'red', email: 'ada@example.com', age: 36 } };
});
client.setRequestHandler(ListRootsRequestSchema, async () => {
  report.roots++;
  return { roots: [{ uri: 'file:///tmp/interop-root', name: 'interop root' }] };
});

function argsFor(tool) {
  const overrides = {
    'echo': { message: 'hello through the gateway' },
    'get-sum': { a: 2, b: 3 },
    'trigger-long-running-operation': { duration: 1, steps: 3 },
    'trigger-sampling-request': { prompt: 'say something', maxTokens: 20 },
    'gzip-file-as-resource': { name: 'x.gz', data: 'data:text/plain;base64,aGVsbG8=', outputType: 'resource' },
    'get-env': {},
  };
  if (overrides[tool.name]) return overrides[tool.name];
  const out = {};
  const schema = tool.inputSchema || {};
  for (const key of schema.required || []) {
    const p = (schema.properties || {})[key] || {};
    if (p.enum) out[key] = p.enum[0];
    else if (p.type === 'number' || p.type === 'integer') out[key] = 1;
    else if (p.type === 'boolean') out[key] = true;
    else if (p.type === 'object') out[key] = {};
    else if (p.type === 'array') out[key] = [];
    else out[key] = key === 'url' ? 'https://example.com/' : 'x';
  }
  return out;
}

async function every() {
  const tools = (await client.listTools()).tools;
  report.tools = {};
  for (const tool of tools) {
    const progress = [];
    try {
      const r = await client.callTool({ name: tool.name, arguments: argsFor(tool) }, undefined,
        { onprogress: (p) => progress.push(p.progress), timeout: 20000 });
      const text = (r.content || []).filter((c) => c.type === 'text').map((c) => c.text).join(' ');
      report.tools[tool.name] = { ok: !r.isError, text: text.slice(0, 300), progress, structured: r.structuredContent ?? null };
    } catch (e) {
      report.tools[tool.name] = { ok: false, error: String(e && e.message || e).slice(0, 300), code: e && e.code };
    }
  }
  // Cancellation: abort a long operation after its first progress notification.
  const ac = new AbortController();
  const started = Date.now();
  try {
    await client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 30, steps: 30 } }, undefined,
      { signal: ac.signal, onprogress: () => ac.abort('test cancels'), timeout: 60000 });
    report.cancelled = false;
  } catch (e) {
    report.cancelled = true;
    report.cancelMs = Date.now() - started;
  }
  const resources = (await client.listResources()).resources;
  report.resources = resources.length;
  if (resources.length) {
    const read = await client.readResource({ uri: resources[0].uri });
    report.resourceRead = read.contents.length > 0;
  }
  report.templates = (await client.listResourceTemplates()).resourceTemplates.length;
  const prompts = (await client.listPrompts()).prompts;
  report.prompts = prompts.map((p) => p.name);
  const simple = prompts.find((p) => !p.arguments || p.arguments.every((a) => !a.required));
  if (simple) {
    const got = await client.getPrompt({ name: simple.name, arguments: {} });
    report.promptMessages = got.messages.length;
  }
  // After the cancel, the session still works.
  report.afterCancel = (await client.callTool({ name: 'echo', arguments: { message: 'still here' } })).content[0].text;
}

async function list() {
  report.tools = (await client.listTools()).tools.map((t) => t.name);
  try { report.prompts = (await client.listPrompts()).prompts.map((p) => p.name); } catch (e) { report.prompts = String(e.message); }
  try { report.resources = (await client.listResources()).resources.map((r) => r.uri); } catch (e) { report.resources = String(e.message); }
  if (extra) {
    try {
      const r = await client.callTool({ name: extra, arguments: extra === 'echo' ? { message: 'm' } : {} });
      report.call = { ok: !r.isError, text: (r.content || []).map((c) => c.text).join(' ') };
    } catch (e) {
      report.call = { error: String(e.message), code: e.code };
    }
  }
}

try {
  await client.connect(transport);
  report.sessionId = transport.sessionId;
  report.server = client.getServerVersion();
  if (scenario === 'every') await every();
  else if (scenario === 'list') await list();
  else if (scenario === 'hold') {
    report.tools = (await client.listTools()).tools.length;
    console.log(JSON.stringify(report));
    await new Promise((resolve) => { process.stdin.on('end', resolve); process.stdin.resume(); });
    process.exit(0);
  }
  console.log(JSON.stringify(report));
  await transport.terminateSession().catch(() => {});
  await client.close();
  process.exit(0);
} catch (e) {
  report.fatal = String(e && e.message || e);
  report.code = e && e.code;
  console.log(JSON.stringify(report));
  process.exit(1);
}
