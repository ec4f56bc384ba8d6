// A stdio MCP server (official SDK) whose tools exit the process in the middle of their first
// call: the client loses the answer. `flip` says it is idempotent; `flop` has no annotations.
// Every call is appended to the file named by argv[2], so a test counts what ran.
const { appendFileSync, existsSync, readFileSync } = require('node:fs');
const { McpServer } = require('@modelcontextprotocol/sdk/server/mcp.js');
const { StdioServerTransport } = require('@modelcontextprotocol/sdk/server/stdio.js');

const log = process.argv[2];
const server = new McpServer({ name: 'crashy', version: '1.0.0' });
const handler = (name) => async () => {
  const before = existsSync(log)
    ? readFileSync(log, 'utf8')
        .split('\n')
        .filter((l) => l === name).length
    : 0;
  appendFileSync(log, `${name}\n`);
  if (before === 0) process.exit(1); // the first call dies mid-call
  return { content: [{ type: 'text', text: `${name} done` }] };
};
server.registerTool(
  'flip',
  { description: 'Idempotent by its annotations.', annotations: { idempotentHint: true } },
  handler('flip'),
);
server.registerTool('flop', { description: 'No annotations: not idempotent.' }, handler('flop'));
void server.connect(new StdioServerTransport());
