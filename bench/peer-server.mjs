// The peer users would otherwise pick, for the comparison load runs: a minimal MCP server on
// the official TypeScript SDK, guarded by the SDK's requireBearerAuth middleware with a jose
// remote-JWKS verifier, exposing the same reverse_tool (five progress notifications).
//
//   NODE_EXTRA_CA_CERTS=ca.pem node peer-server.mjs --port 8100 --jwks <url> --issuer <iss> --audience <aud>
//   node peer-server.mjs --port 8100 --no-auth
import express from 'express';
import { randomUUID } from 'node:crypto';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { z } from 'zod';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import { InvalidTokenError } from '@modelcontextprotocol/sdk/server/auth/errors.js';

const args = Object.fromEntries(process.argv.slice(2).join(' ').split(/\s*--/).filter(Boolean).map((a) => {
  const [k, ...v] = a.split(/\s+/);
  return [k, v.join(' ') || true];
}));
const port = Number(args.port ?? 8100);

function newServer() {
  const server = new McpServer({ name: 'peer', version: '0.0.1' });
  server.registerTool('reverse_tool', {
    description: 'Reverse a string',
    inputSchema: { query: z.string() },
    outputSchema: { reversed_query: z.string() },
  }, async ({ query }, extra) => {
    const token = extra._meta?.progressToken;
    for (let i = 1; i <= 5; i++) {
      if (token !== undefined) {
        await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: i, total: 5, message: `step ${i} of 5` } });
      }
    }
    const out = { reversed_query: [...query].reverse().join('') };
    return { content: [{ type: 'text', text: JSON.stringify(out) }], structuredContent: out };
  });
  return server;
}

const app = express();
app.use(express.json());
if (!args['no-auth']) {
  const jwks = createRemoteJWKSet(new URL(args.jwks));
  const verifier = {
    async verifyAccessToken(token) {
      try {
        const { payload } = await jwtVerify(token, jwks, { issuer: args.issuer, audience: args.audience });
        return { token, clientId: payload.azp ?? '', scopes: String(payload.scp ?? '').split(' ').filter(Boolean), expiresAt: payload.exp };
      } catch (e) {
        throw new InvalidTokenError(String(e.message));
      }
    },
  };
  app.use('/mcp', requireBearerAuth({ verifier, requiredScopes: ['execute'], resourceMetadataUrl: `http://127.0.0.1:${port}/.well-known/oauth-protected-resource` }));
}

const transports = new Map();
app.post('/mcp', async (req, res) => {
  const sid = req.headers['mcp-session-id'];
  let transport = sid ? transports.get(sid) : undefined;
  if (!transport) {
    transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => transports.set(id, transport),
    });
    transport.onclose = () => transport.sessionId && transports.delete(transport.sessionId);
    await newServer().connect(transport);
  }
  await transport.handleRequest(req, res, req.body);
});
const other = async (req, res) => {
  const t = transports.get(req.headers['mcp-session-id']);
  if (!t) return res.status(404).end();
  await t.handleRequest(req, res);
};
app.get('/mcp', other);
app.delete('/mcp', other);
app.listen(port, '127.0.0.1', () => console.error(`peer listening on 127.0.0.1:${port}`));
