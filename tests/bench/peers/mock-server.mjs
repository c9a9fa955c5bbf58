// One local HTTP server that speaks the OpenAI Chat Completions wire format for every system in the
// peer benchmarks. Stateless: the scenario sits in the URL path, and the reply for a request is chosen
// by the number of assistant messages already in its history ("turn" mode, like freehold's
// mock/script), so any number of concurrent agent runs stay independent.
//
//   POST /s/<steps>/<latency_ms>/<stream_tokens>/v1/chat/completions
//     reply k (k = assistant messages in the request) is, for k < steps, one call of the tool `echo`
//     with {"text": "step k"}; afterwards the final text: "done", or <stream_tokens> tokens when > 0.
//     Every reply waits latency_ms first. "stream": true gets server-sent events (chunk per token).
//   GET  /stats  -> {requests, busy_ms, paths}   time spent inside request handlers (incl. latency)
//   POST /reset  -> zeroes the counters
//
// Usage: node mock-server.mjs [port]   (prints "listening <port>" when ready; port 0 = any free port)
import http from 'node:http';

const port = Number(process.argv[2] ?? 0);
let requests = 0;
let busyNs = 0n;
let bad = 0;

function finalText(tokens) {
  if (tokens <= 0) return 'done';
  const parts = new Array(tokens);
  for (let i = 0; i < tokens; i++) parts[i] = ` w${i}`;
  return parts;
}

function sendJson(res, code, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(code, {'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body)});
  res.end(body);
}

function reply(req, res, scenario, body) {
  const {steps, tokens} = scenario;
  const msgs = Array.isArray(body.messages) ? body.messages : [];
  let k = 0;
  for (const m of msgs) if (m && m.role === 'assistant') k++;
  const model = typeof body.model === 'string' ? body.model : 'mock';
  const id = `chatcmpl-${requests}`;
  const created = Math.floor(Date.now() / 1000);
  const usage = {prompt_tokens: 10 + msgs.length, completion_tokens: tokens > 0 && k >= steps ? tokens : 5,
                 total_tokens: 15 + msgs.length + (tokens > 0 && k >= steps ? tokens : 0)};
  const toolCall = k < steps ? {id: `call_${k}`, type: 'function',
                                function: {name: 'echo', arguments: JSON.stringify({text: `step ${k}`})}} : null;
  if (!body.stream) {
    const text = toolCall ? null : (tokens > 0 ? finalText(tokens).join('') : 'done');
    const message = {role: 'assistant', content: text};
    if (toolCall) message.tool_calls = [toolCall];
    sendJson(res, 200, {id, object: 'chat.completion', created, model,
                        choices: [{index: 0, message, logprobs: null, finish_reason: toolCall ? 'tool_calls' : 'stop'}],
                        usage});
    return;
  }
  res.writeHead(200, {'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive'});
  const chunk = (delta, finish) => `data: ${JSON.stringify({id, object: 'chat.completion.chunk', created, model,
    choices: [{index: 0, delta, logprobs: null, finish_reason: finish}]})}\n\n`;
  res.write(chunk({role: 'assistant', content: ''}, null));
  if (toolCall) {
    res.write(chunk({tool_calls: [{index: 0, id: toolCall.id, type: 'function',
                                   function: {name: 'echo', arguments: ''}}]}, null));
    res.write(chunk({tool_calls: [{index: 0, function: {arguments: toolCall.function.arguments}}]}, null));
    res.write(chunk({}, 'tool_calls'));
  } else {
    const parts = tokens > 0 ? finalText(tokens) : ['done'];
    // The first token goes out on its own, so time to first token does not wait for the server to
    // format the other 1999; the rest follow as fast as the server can write them.
    res.write(chunk({content: parts[0]}, null));
    setImmediate(() => {
      for (let i = 1; i < parts.length; i++) res.write(chunk({content: parts[i]}, null));
      res.write(chunk({}, 'stop'));
      finishStream(res, body, id, created, model, usage);
    });
    return;
  }
  finishStream(res, body, id, created, model, usage);
}

function finishStream(res, body, id, created, model, usage) {
  if (body.stream_options && body.stream_options.include_usage)
    res.write(`data: ${JSON.stringify({id, object: 'chat.completion.chunk', created, model, choices: [], usage})}\n\n`);
  res.end('data: [DONE]\n\n');
}

const closeEach = process.env.MOCK_CLOSE === '1';
const server = http.createServer((req, res) => {
  const t0 = process.hrtime.bigint();
  if (closeEach) res.shouldKeepAlive = false;
  res.on('finish', () => { busyNs += process.hrtime.bigint() - t0; });
  if (req.method === 'GET' && req.url === '/stats') {
    return sendJson(res, 200, {requests, busy_ms: Number(busyNs) / 1e6, bad});
  }
  if (req.method === 'POST' && req.url === '/reset') {
    requests = 0; busyNs = 0n; bad = 0;
    req.resume();
    return sendJson(res, 200, {ok: true});
  }
  const m = /^\/s\/(\d+)\/(\d+)\/(\d+)\/v1\/chat\/completions$/.exec(req.url ?? '');
  if (req.method !== 'POST' || !m) {
    bad++;
    process.stderr.write(`mock: unexpected ${req.method} ${req.url}\n`);
    req.resume();
    return sendJson(res, 404, {error: {message: `no route ${req.method} ${req.url}`, type: 'invalid_request_error'}});
  }
  const scenario = {steps: Number(m[1]), latency: Number(m[2]), tokens: Number(m[3])};
  const bufs = [];
  req.on('data', (b) => bufs.push(b));
  req.on('end', () => {
    requests++;
    let body;
    try { body = JSON.parse(Buffer.concat(bufs).toString('utf8')); } catch {
      bad++;
      return sendJson(res, 400, {error: {message: 'body is not JSON', type: 'invalid_request_error'}});
    }
    if (scenario.latency > 0) setTimeout(() => reply(req, res, scenario, body), scenario.latency);
    else reply(req, res, scenario, body);
  });
});
server.keepAliveTimeout = 60_000;
server.headersTimeout = 65_000;
server.maxConnections = 100_000;
server.listen({port, host: '127.0.0.1', backlog: 4096}, () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
