// A third-party MCP client for the interoperability tests: the official TypeScript SDK.
//
//   node ts-client.mjs http <url> <scenario>        (bearer token from env MCP_TOKEN, if set)
//   node ts-client.mjs stdio <scenario> -- <command> [args...]
//
// scenario: "list" | "call" (reverse_tool with progress) | "cancel" (abort reverse_tool after the
// second progress update). It prints one JSON object on stdout describing what happened, so that
// the Go test asserts facts rather than text. Exit code 0 even on protocol errors (they are reported).
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

const [mode, ...rest] = process.argv.slice(2);
let transport, scenario;
if (mode === 'http') {
  const [url, sc] = rest;
  scenario = sc;
  const headers = process.env.MCP_TOKEN ? { Authorization: `Bearer ${process.env.MCP_TOKEN}` } : {};
  transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
} else if (mode === 'stdio') {
  const sep = rest.indexOf('--');
  scenario = rest[0];
  const [command, ...args] = rest.slice(sep + 1);
  transport = new StdioClientTransport({ command, args, stderr: 'inherit', env: process.env });
} else {
  console.error('usage: ts-client.mjs http <url> <scenario> | stdio <scenario> -- <cmd> [args]');
  process.exit(2);
}

const report = { scenario };
const client = new Client({ name: 'ts-interop', version: '0.0.1' });
try {
  await client.connect(transport);
  report.protocolVersion = transport.protocolVersion ?? null;
  const tools = await client.listTools();
  report.tools = tools.tools.map((t) => t.name).sort();
  report.schemas = Object.fromEntries(tools.tools.map((t) => [t.name, { input: t.inputSchema, output: t.outputSchema ?? null }]));
  if (scenario === 'call' || scenario === 'cancel') {
    const progress = [];
    const ac = new AbortController();
    try {
      const res = await client.callTool(
        { name: 'reverse_tool', arguments: { query: process.env.MCP_QUERY ?? 'hello from node' } },
        undefined,
        {
          signal: ac.signal,
          timeout: 60000,
          onprogress: (p) => {
            progress.push({ progress: p.progress, total: p.total, message: p.message });
            if (scenario === 'cancel' && progress.length === 2) ac.abort('test cancels');
          },
        },
      );
      report.result = res;
    } catch (e) {
      report.callError = String(e?.message ?? e);
      report.aborted = ac.signal.aborted;
    }
    report.progress = progress;
    if (scenario === 'cancel') await new Promise((r) => setTimeout(r, 300)); // let the cancellation go out
  }
} catch (e) {
  report.error = { message: String(e?.message ?? e), code: e instanceof StreamableHTTPError ? e.code : (e?.code ?? null) };
} finally {
  try { await client.close(); } catch {}
}
process.stdout.write(JSON.stringify(report) + '\n');
process.exit(0);
