// The official `openai` npm SDK (a client nobody here wrote) against `freehold serve`'s gateway:
// plain and streamed completions, tool calls both ways, usage, model listing, plans as models and
// error mapping. Usage: node openai_sdk_test.mjs SERVER where SERVER is `freehold` (run as
// `freehold serve ...`) or the test build's daemon_test_server (the same daemon, mock providers).
// Exits 77 when the SDK is not installed (run `npm ci` in this folder); ctest counts that as a failure.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

const here = dirname(fileURLToPath(import.meta.url));
if (!existsSync(join(here, 'node_modules', 'openai'))) {
  console.log('openai SDK not installed: run `npm ci` in tests/daemon/node (skipping)');
  process.exit(77);
}
const { default: OpenAI } = await import('openai');
const server = process.argv[2];
assert.ok(server && existsSync(server), 'give the path of freehold or daemon_test_server');

const root = mkdtempSync(join(tmpdir(), 'fh-sdk-'));
const data = join(root, 'data'), plans = join(root, 'plans');
for (const d of [data, plans]) (await import('node:fs')).mkdirSync(d);
writeFileSync(join(plans, 'upper.lua'), 'local m = input.messages\nreturn string.upper(m[#m].content)\n');
const script = join(root, 'script.json');
writeFileSync(script, JSON.stringify({ replies: [
  { tool_calls: [{ id: 'call_1', name: 'get_weather', arguments: { city: 'Paris' } }],
    usage: { input_tokens: 11, output_tokens: 7 } },
  { text: 'Sunny in Paris', usage: { input_tokens: 20, output_tokens: 4 } },
] }));
const portFile = join(root, 'port');
const args = server.endsWith('freehold')
  ? ['serve', '--listen', '127.0.0.1:0', '--data-dir', data, '--plans', plans, '--port-file', portFile]
  : [data, root, portFile, plans];
const daemon = spawn(server, args, { stdio: ['ignore', 'ignore', 'pipe'] });
let stderr = '';
daemon.stderr.on('data', (d) => { stderr += d; });

let failed = false;
try {
  let port = 0;
  for (let i = 0; i < 500 && !port; i++) {
    if (existsSync(portFile)) port = parseInt(readFileSync(portFile, 'utf8'), 10) || 0;
    if (!port) await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(port > 0, 'daemon did not start: ' + stderr);
  const token = readFileSync(join(data, 'token'), 'utf8').trim();
  const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: token, maxRetries: 0 });

  // 1. Not streamed.
  const c = await client.chat.completions.create({ model: 'mock/echo', messages: [
    { role: 'system', content: 'be brief' }, { role: 'user', content: 'hello sdk' }] });
  assert.equal(c.object, 'chat.completion');
  assert.equal(c.choices[0].message.content, 'hello sdk');
  assert.equal(c.choices[0].finish_reason, 'stop');
  assert.equal(c.usage.total_tokens, c.usage.prompt_tokens + c.usage.completion_tokens);

  // 2. Streamed, with usage.
  const stream = await client.chat.completions.create({ model: 'mock/echo', stream: true,
    stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'stream through the sdk' }] });
  let text = '', usage = null, finish = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    if (chunk.choices.length) {
      text += chunk.choices[0].delta.content ?? '';
      finish = chunk.choices[0].finish_reason ?? finish;
    }
  }
  assert.equal(text, 'stream through the sdk');
  assert.equal(finish, 'stop');
  assert.ok(usage && usage.completion_tokens > 0);

  // 3. Tools, not streamed: the call, then the answer after the tool result.
  const model = `mock/script?file=${script}`;
  const tools = [{ type: 'function', function: { name: 'get_weather', description: 'Weather of a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }];
  const messages = [{ role: 'user', content: 'weather in Paris?' }];
  const t1 = await client.chat.completions.create({ model, messages, tools });
  assert.equal(t1.choices[0].finish_reason, 'tool_calls');
  const call = t1.choices[0].message.tool_calls[0];
  assert.equal(call.type, 'function');
  assert.equal(call.function.name, 'get_weather');
  assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris' });
  assert.equal(t1.usage.prompt_tokens, 11);
  messages.push(t1.choices[0].message);
  messages.push({ role: 'tool', tool_call_id: call.id, content: JSON.stringify({ sky: 'clear' }) });
  const t2 = await client.chat.completions.create({ model, messages, tools });
  assert.equal(t2.choices[0].message.content, 'Sunny in Paris');

  // 4. Tools, streamed, assembled by the SDK's own stream helper.
  const runner = client.chat.completions.stream({ model, tools, messages: [{ role: 'user', content: 'again?' }] });
  const final = await runner.finalChatCompletion();
  const sc = final.choices[0].message.tool_calls[0];
  assert.equal(sc.function.name, 'get_weather');
  assert.deepEqual(JSON.parse(sc.function.arguments), { city: 'Paris' });
  assert.equal(final.choices[0].finish_reason, 'tool_calls');

  // 5. Models and plans as models.
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.ok(ids.includes('mock/echo') && ids.includes('plan/upper'), 'models: ' + ids.join(','));
  const p = await client.chat.completions.create({ model: 'plan/upper', messages: [{ role: 'user', content: 'shout this' }] });
  assert.equal(p.choices[0].message.content, 'SHOUT THIS');

  // 6. Errors map to the SDK's error classes.
  await assert.rejects(client.chat.completions.create({ model: 'nope/x', messages: [{ role: 'user', content: 'a' }] }),
    (e) => e instanceof OpenAI.NotFoundError);
  const bad = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'wrong', maxRetries: 0 });
  await assert.rejects(bad.chat.completions.create({ model: 'mock/echo', messages: [{ role: 'user', content: 'a' }] }),
    (e) => e instanceof OpenAI.AuthenticationError);
  await assert.rejects(client.chat.completions.create({ model: 'mock/echo', messages: [] }),
    (e) => e instanceof OpenAI.BadRequestError);
  console.log('openai SDK against the gateway: all checks passed');
} catch (e) {
  failed = true;
  console.error(e);
  console.error('daemon stderr:\n' + stderr.split('\n').slice(-20).join('\n'));
} finally {
  daemon.kill('SIGTERM');
  await new Promise((r) => daemon.once('exit', r));
  rmSync(root, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
