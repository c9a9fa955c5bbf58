// One process = one workload through one npm peer, written the way each framework's docs show.
//   node peer.mjs <system> <workload> <backend> [--base URL] [--runs N] [--warm N]
//   system:   langgraph | agents | ai | raw   (raw = plain fetch, no framework: the floor)
//   workload: loop | fanout | cold | stream
//   backend:  http (the shared mock server at --base) | inproc (the framework's own fake model)
// Prints one JSON line on stdout. Scenario paths on the mock (see mock-server.mjs):
//   loop /s/10/0/0, fanout /s/4/50/0, cold /s/0/0/0, stream /s/0/0/2000 (streamed).
import {performance} from 'node:perf_hooks';
import {z} from 'zod';

const [system, workload, backend = 'http'] = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const base = opt('base', 'http://127.0.0.1:18555');
const SCEN = {loop: '/s/10/0/0', fanout: '/s/4/50/0', cold: '/s/0/0/0', stream: '/s/0/0/2000'};
const STEPS = {loop: 10, fanout: 4, cold: 0, stream: 0};
const baseURL = `${base}${SCEN[workload]}/v1`;
const steps = STEPS[workload];
const INSTRUCTIONS = 'Call echo until told otherwise.';
// In-process models wait like the HTTP mock does for this workload (fan-out: 50 ms per call).
const LATENCY = workload === 'fanout' ? 50 : 0;
const pause = () => (LATENCY > 0 ? new Promise((r) => setTimeout(r, LATENCY)) : null);
const echoSchema = z.object({text: z.string()});
const MODEL = 'mock-model';

// ---- each framework's agent: returns {invoke(i) -> Promise<number of model calls>, stream() -> AsyncIterable<string>}
async function makeLangGraph() {
  const {ChatOpenAI} = await import('@langchain/openai');
  const {tool} = await import('@langchain/core/tools');
  const {createReactAgent} = await import('@langchain/langgraph/prebuilt');
  let llm;
  if (backend === 'inproc') {
    // LangChain's documented way to bring your own chat model: subclass BaseChatModel.
    const {BaseChatModel} = await import('@langchain/core/language_models/chat_models');
    const {AIMessage} = await import('@langchain/core/messages');
    class ScriptedChatModel extends BaseChatModel {
      _llmType() { return 'scripted'; }
      bindTools() { return this; }
      async _generate(messages) {
        await pause();
        const k = messages.filter((m) => (m.type ?? m._getType()) === 'ai').length;
        const message = k < steps
          ? new AIMessage({content: '', tool_calls: [{id: `call_${k}`, name: 'echo', args: {text: `step ${k}`}, type: 'tool_call'}]})
          : new AIMessage({content: 'done'});
        return {generations: [{text: typeof message.content === 'string' ? message.content : '', message}]};
      }
    }
    llm = new ScriptedChatModel({});
  } else {
    llm = new ChatOpenAI({model: MODEL, apiKey: 'x', configuration: {baseURL}});
  }
  const echo = tool(async (input) => input, {name: 'echo', description: 'Returns its argument', schema: echoSchema});
  const agent = createReactAgent({llm, tools: [echo], prompt: INSTRUCTIONS});
  return {
    async invoke(i) {
      const out = await agent.invoke({messages: [{role: 'user', content: `run ${i}`}]}, {recursionLimit: 50});
      return out.messages.filter((m) => (m.type ?? m._getType()) === 'ai').length;
    },
    async *stream() {
      const s = await agent.stream({messages: [{role: 'user', content: 'talk'}]}, {streamMode: 'messages'});
      for await (const [chunk] of s) if (typeof chunk.content === 'string' && chunk.content) yield chunk.content;
    },
  };
}

async function makeAgents() {
  const {Agent, run, tool, setDefaultOpenAIClient, setOpenAIAPI, setTracingDisabled, Usage} = await import('@openai/agents');
  setTracingDisabled(true); // nothing to export to: the run must not call out
  let model = MODEL;
  if (backend === 'inproc') {
    // The SDK's documented extension point for other model sources: an object implementing Model.
    model = {
      async getResponse(request) {
        await pause();
        const items = Array.isArray(request.input) ? request.input : [];
        const k = items.filter((it) => it.type === 'function_call').length;
        const output = k < steps
          ? [{type: 'function_call', callId: `call_${k}`, name: 'echo', arguments: JSON.stringify({text: `step ${k}`}), status: 'completed'}]
          : [{type: 'message', role: 'assistant', status: 'completed', content: [{type: 'output_text', text: 'done'}]}];
        return {usage: new Usage(), output};
      },
      async *getStreamedResponse() { throw new Error('not used'); },
    };
  } else {
    const {default: OpenAI} = await import('openai');
    setOpenAIAPI('chat_completions');
    setDefaultOpenAIClient(new OpenAI({baseURL, apiKey: 'x'}));
  }
  const echo = tool({name: 'echo', description: 'Returns its argument', parameters: echoSchema,
                     execute: async (input) => input});
  const agent = new Agent({name: 'bench', instructions: INSTRUCTIONS, tools: [echo], model});
  return {
    async invoke(i) {
      const r = await run(agent, `run ${i}`, {maxTurns: 20});
      if (r.finalOutput !== 'done' && !(steps === 0)) throw new Error(`unexpected output ${r.finalOutput}`);
      return r.rawResponses.length;
    },
    async *stream() {
      const r = await run(agent, 'talk', {stream: true});
      for await (const t of r.toTextStream()) yield t;
      await r.completed;
    },
  };
}

async function makeAi() {
  const {generateText, streamText, tool, stepCountIs} = await import('ai');
  let model;
  if (backend === 'inproc') {
    const {MockLanguageModelV4} = await import('ai/test');
    const usage = {inputTokens: {total: 10, noCache: 10, cacheRead: 0, cacheWrite: 0},
                   outputTokens: {total: 5, text: 5, reasoning: 0}};
    model = new MockLanguageModelV4({
      doGenerate: async (options) => {
        await pause();
        const k = options.prompt.filter((m) => m.role === 'assistant').length;
        if (k < steps)
          return {content: [{type: 'tool-call', toolCallId: `call_${k}`, toolName: 'echo', input: JSON.stringify({text: `step ${k}`})}],
                  finishReason: {unified: 'tool-calls', raw: 'tool_calls'}, usage, warnings: []};
        return {content: [{type: 'text', text: 'done'}], finishReason: {unified: 'stop', raw: 'stop'}, usage, warnings: []};
      },
    });
  } else {
    const {createOpenAI} = await import('@ai-sdk/openai');
    model = createOpenAI({baseURL, apiKey: 'x'}).chat(MODEL); // .chat(): the Chat Completions API
  }
  const tools = {echo: tool({description: 'Returns its argument', inputSchema: echoSchema, execute: async (input) => input})};
  return {
    async invoke(i) {
      const r = await generateText({model, system: INSTRUCTIONS, prompt: `run ${i}`, tools, stopWhen: stepCountIs(12)});
      if (r.text !== 'done' && steps > 0) throw new Error(`unexpected output ${r.text}`);
      return r.steps.length;
    },
    async *stream() {
      const r = streamText({model, prompt: 'talk'});
      for await (const t of r.textStream) yield t;
    },
  };
}

// No framework: the same conversation with fetch and JSON, as the lower bound for this mock.
async function makeRaw() {
  if (backend === 'inproc') throw new Error('raw has no in-process model');
  const url = `${baseURL}/chat/completions`;
  const tools = [{type: 'function', function: {name: 'echo', description: 'Returns its argument',
                  parameters: {type: 'object', properties: {text: {type: 'string'}}, required: ['text']}}}];
  const post = (body) => fetch(url, {method: 'POST', headers: {'Content-Type': 'application/json', Authorization: 'Bearer x'},
                                     body: JSON.stringify(body)});
  return {
    async invoke(i) {
      const messages = [{role: 'system', content: INSTRUCTIONS}, {role: 'user', content: `run ${i}`}];
      for (let n = 1; ; n++) {
        const r = await (await post({model: MODEL, messages, tools})).json();
        const msg = r.choices[0].message;
        messages.push(msg);
        if (!msg.tool_calls?.length) return n;
        for (const c of msg.tool_calls)
          messages.push({role: 'tool', tool_call_id: c.id, content: JSON.stringify(JSON.parse(c.function.arguments))});
      }
    },
    async *stream() {
      const res = await post({model: MODEL, messages: [{role: 'user', content: 'talk'}], stream: true});
      const dec = new TextDecoder();
      let buf = '';
      for await (const b of res.body) {
        buf += dec.decode(b, {stream: true});
        let at;
        while ((at = buf.indexOf('\n\n')) >= 0) {
          const line = buf.slice(0, at);
          buf = buf.slice(at + 2);
          if (!line.startsWith('data: ') || line === 'data: [DONE]') continue;
          const t = JSON.parse(line.slice(6)).choices[0]?.delta?.content;
          if (t) yield t;
        }
      }
    },
  };
}

async function stats() {
  if (backend !== 'http') return {requests: 0, busy_ms: 0};
  return (await fetch(`${base}/stats`)).json();
}

const makers = {langgraph: makeLangGraph, agents: makeAgents, ai: makeAi, raw: makeRaw};
const t0 = performance.now();
const sys = await makers[system]();
const out = {system, workload, backend};
if (workload === 'loop') {
  const runs = Number(opt('runs', 50));
  const warm = Number(opt('warm', 10));
  for (let i = 0; i < warm; i++) await sys.invoke(i);
  const s0 = await stats();
  const c0 = process.cpuUsage();
  const w0 = performance.now();
  let calls = 0;
  for (let i = 0; i < runs; i++) calls += await sys.invoke(i);
  const wall = performance.now() - w0;
  const cpu = process.cpuUsage(c0);
  const s1 = await stats();
  if (calls !== runs * (steps + 1)) throw new Error(`expected ${runs * (steps + 1)} model calls, got ${calls}`);
  Object.assign(out, {runs, calls, wall_ms: wall, cpu_ms: (cpu.user + cpu.system) / 1000,
                      mock_ms: s1.busy_ms - s0.busy_ms, mock_requests: s1.requests - s0.requests});
} else if (workload === 'fanout') {
  const runs = Number(opt('runs', 1000));
  const w0 = performance.now();
  const counts = await Promise.all(Array.from({length: runs}, (_, i) => sys.invoke(i)));
  const wall = performance.now() - w0;
  const calls = counts.reduce((a, b) => a + b, 0);
  if (calls !== runs * (steps + 1)) throw new Error(`expected ${runs * (steps + 1)} model calls, got ${calls}`);
  Object.assign(out, {runs, calls, wall_ms: wall, setup_ms: w0 - t0});
} else if (workload === 'cold') {
  const calls = await sys.invoke(0);
  Object.assign(out, {calls});
} else if (workload === 'stream') {
  for await (const _ of sys.stream()) { /* one warm-up reply: connection, lazy imports, JIT */ }
  const w0 = performance.now();
  let first = null;
  let n = 0;
  let chars = 0;
  for await (const t of sys.stream()) {
    if (first === null) first = performance.now();
    n++;
    chars += t.length;
  }
  const total = performance.now() - w0;
  Object.assign(out, {ttft_ms: first - w0, total_ms: total, deltas: n, chars});
}
process.stdout.write(JSON.stringify(out) + '\n');
