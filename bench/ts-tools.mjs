// The one-shot listing a user would otherwise script, for the client timing comparison of
// docs/performance.md: connect to an MCP server with the official TypeScript SDK client, list
// its tools, print one a line (name and description, as `fastmcp-auth tools` does), close.
//
//   FASTMCP_AUTH_TOKEN=... node ts-tools.mjs http://127.0.0.1:8000/mcp
//
// The bearer token comes from the environment (never argv, which other users can read in the
// process list). Exit code 1 on any failure, with one line on stderr.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const url = process.argv[2] ?? 'http://localhost:8000/mcp';
const token = process.env.FASTMCP_AUTH_TOKEN;
const headers = token ? { Authorization: `Bearer ${token}` } : {};
const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
const client = new Client({ name: 'ts-tools', version: '0.0.1' });
try {
  await client.connect(transport);
  const { tools } = await client.listTools();
  const width = Math.max(...tools.map((t) => t.name.length));
  for (const t of [...tools].sort((a, b) => a.name.localeCompare(b.name))) {
    process.stdout.write(`${t.name.padEnd(width)}  ${t.description ?? ''}\n`);
  }
  // Ending the session (HTTP DELETE) is what a well-behaved one-shot script does; the Go CLI
  // does the same.
  await transport.terminateSession();
  await client.close();
} catch (e) {
  process.stderr.write(`error: ${e?.message ?? e}\n`);
  process.exitCode = 1;
}
