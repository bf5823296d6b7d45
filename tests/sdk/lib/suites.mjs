// The conformance checks, one suite per client SDK, each run against a gateway whose upstream
// (the fake upstream) speaks `upstreamFormat`. What is asserted is what the SDKs parse — text, tool
// calls with parsed arguments, stop/finish reasons, usage, error classes — plus what the upstream
// received, in ITS format (the fake upstream records every request body).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { Cluster } from './cluster.mjs';
import { Anthropic, OpenAI, versions } from './sdks.mjs';

const CALL_TIMEOUT_MS = 20_000; // one SDK call
const TEST_TIMEOUT_MS = 60_000; // one test

// Multi-byte characters, so a stream split inside a code point would show.
const TEXT = 'Hello from the fake upstream — via the real SDK ✓ Grüße, 你好.';
// Anthropic meaning: input excludes cache reads. OpenAI's prompt_tokens includes them.
const USAGE = { input_tokens: 11, output_tokens: 7, cache_read_input_tokens: 3, cache_creation_input_tokens: 0 };
const ANTHROPIC_USAGE = { input_tokens: 11, output_tokens: 7, cache_read_input_tokens: 3 };
const OPENAI_USAGE = { prompt_tokens: 14, completion_tokens: 7, total_tokens: 21, cached_tokens: 3 };

const TOOL_NAME = 'get_weather';
const TOOL_INPUT = { city: 'Paris', unit: 'celsius', days: 3, detail: { hourly: true, tags: ['rain', 'wïnd'] } };
const TOOL_PREAMBLE = 'Let me check the weather.';
const TOOL_RESULT = '18 °C, sunny, light wind';
const FINAL_TEXT = 'It is 18 °C and sunny in Paris.';
const TOOL_SCHEMA = {
  type: 'object',
  properties: {
    city: { type: 'string' },
    unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
    days: { type: 'integer' },
    detail: { type: 'object' },
  },
  required: ['city'],
};

function textBehaviour() {
  return { text: TEXT, events: 6, usage: USAGE };
}

function toolBehaviour() {
  return { text: TOOL_PREAMBLE, events: 3, tool_call: { name: TOOL_NAME, input: TOOL_INPUT }, usage: USAGE };
}

function finalBehaviour() {
  return { text: FINAL_TEXT, events: 4, usage: USAGE };
}

let modelCounter = 0;
function modelName(what) {
  modelCounter += 1;
  return `sdk-${what}-${modelCounter}`;
}

// Text of a tool result or message content as the upstream got it: a string, or text parts/blocks.
function contentText(content) {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content.map((p) => (typeof p === 'string' ? p : p.text ?? '')).join('');
  }
  return '';
}

// A fetch that records the headers each SDK request carried, then sends it.
function recordingFetch(seen) {
  return async (url, init = {}) => {
    seen.push({ url: String(url), headers: new Headers(init.headers) });
    return fetch(url, init);
  };
}

// Wraps a test body so a failure shows the end of the gateway's log.
function withLogs(getCluster, fn) {
  return async (t) => {
    try {
      await fn(t);
    } catch (err) {
      const cluster = getCluster();
      if (cluster?.gateway) {
        const tail = cluster.gateway.log().split('\n').slice(-30).join('\n');
        err.message = `${err.message}\n--- gateway log (last lines) ---\n${tail}`;
      }
      throw err;
    }
  };
}

// The one model call the fake upstream received last for `model`, checked to be on the path of
// the upstream's own format (so a request that was not converted is caught).
async function lastUpstreamCall(cluster, model, count) {
  const calls = await cluster.upstreamRequests(model);
  if (count !== undefined) {
    assert.equal(calls.length, count, `upstream calls for ${model}: ${JSON.stringify(calls.map((c) => c.target))}`);
  }
  assert.ok(calls.length > 0, `the upstream received no request for ${model}`);
  const call = calls[calls.length - 1];
  assert.equal(call.target.split('?')[0], cluster.upstreamPath,
    `an upstream of format ${cluster.upstreamFormat} must be called on ${cluster.upstreamPath} (UPSTREAM_FORMAT conversion)`);
  return call;
}

// Checks that the second request of a tool round trip reached the upstream with the assistant's
// tool call and the client's tool result, in the upstream's own format.
function assertToolRoundTripUpstream(format, body, toolId) {
  if (format === 'anthropic') {
    assert.ok(Array.isArray(body.tools) && body.tools.some((t) => t.name === TOOL_NAME), 'Anthropic tools[] with the tool');
    const assistant = body.messages.find((m) => m.role === 'assistant' && Array.isArray(m.content) &&
      m.content.some((b) => b.type === 'tool_use'));
    assert.ok(assistant, `an assistant message with a tool_use block: ${JSON.stringify(body.messages)}`);
    const use = assistant.content.find((b) => b.type === 'tool_use');
    assert.equal(use.id, toolId);
    assert.equal(use.name, TOOL_NAME);
    assert.deepEqual(use.input, TOOL_INPUT);
    const resultMsgIndex = body.messages.findIndex((m) => m.role === 'user' && Array.isArray(m.content) &&
      m.content.some((b) => b.type === 'tool_result'));
    assert.ok(resultMsgIndex > body.messages.indexOf(assistant), 'a user message with tool_result after the tool_use');
    const result = body.messages[resultMsgIndex].content.find((b) => b.type === 'tool_result');
    assert.equal(result.tool_use_id, toolId);
    assert.equal(contentText(result.content), TOOL_RESULT);
  } else {
    assert.ok(Array.isArray(body.tools) && body.tools.some((t) => t.type === 'function' && t.function?.name === TOOL_NAME),
      'OpenAI tools[] with the function');
    const assistantIndex = body.messages.findIndex((m) => m.role === 'assistant' && Array.isArray(m.tool_calls));
    assert.ok(assistantIndex >= 0, `an assistant message with tool_calls: ${JSON.stringify(body.messages)}`);
    const call = body.messages[assistantIndex].tool_calls[0];
    assert.equal(call.id, toolId);
    assert.equal(call.type, 'function');
    assert.equal(call.function.name, TOOL_NAME);
    assert.deepEqual(JSON.parse(call.function.arguments), TOOL_INPUT);
    const toolIndex = body.messages.findIndex((m) => m.role === 'tool');
    assert.ok(toolIndex > assistantIndex, 'a tool message after the assistant tool_calls');
    assert.equal(body.messages[toolIndex].tool_call_id, toolId);
    assert.equal(contentText(body.messages[toolIndex].content), TOOL_RESULT);
  }
}

// ---------------------------------------------------------------------------------------------
// Anthropic SDK → POST /v1/messages
// ---------------------------------------------------------------------------------------------

export function anthropicClientSuite(upstreamFormat) {
  const conversion = upstreamFormat === 'anthropic' ? 'passthrough' : 'converted to OpenAI Chat Completions';
  describe(`@anthropic-ai/sdk ${versions.anthropic} → gateway → ${upstreamFormat} upstream (${conversion})`, () => {
    let cluster;
    const logs = () => cluster;
    const client = (extra = {}) =>
      new Anthropic({ apiKey: cluster.clientKey, baseURL: cluster.gatewayUrl, maxRetries: 0, timeout: CALL_TIMEOUT_MS, ...extra });
    const it = (name, fn) => test(name, { timeout: TEST_TIMEOUT_MS }, withLogs(logs, fn));

    before(async () => {
      cluster = await new Cluster({ upstreamFormat }).start();
    });
    after(async () => {
      await cluster?.stop();
    });

    const tools = [{ name: TOOL_NAME, description: 'Current weather for a city', input_schema: TOOL_SCHEMA }];
    const question = { role: 'user', content: 'What is the weather in Paris?' };

    it('non-streaming text answer', async () => {
      const model = modelName('a-text');
      await cluster.setModel(model, textBehaviour());
      const msg = await client().messages.create({
        model, max_tokens: 256, system: 'Be brief.', messages: [{ role: 'user', content: 'Say hello.' }],
      });
      assert.equal(msg.type, 'message');
      assert.equal(msg.role, 'assistant');
      assert.equal(msg.model, model);
      assert.deepEqual(msg.content.map((b) => b.type), ['text']);
      assert.equal(msg.content[0].text, TEXT);
      assert.equal(msg.stop_reason, 'end_turn');
      assert.equal(msg.usage.input_tokens, ANTHROPIC_USAGE.input_tokens);
      assert.equal(msg.usage.output_tokens, ANTHROPIC_USAGE.output_tokens);
      assert.equal(msg.usage.cache_read_input_tokens, ANTHROPIC_USAGE.cache_read_input_tokens);
      await lastUpstreamCall(cluster, model, 1);
    });

    it('streaming text answer (messages.stream helper)', async () => {
      const model = modelName('a-stream');
      await cluster.setModel(model, textBehaviour());
      const stream = client().messages.stream({
        model, max_tokens: 256, messages: [{ role: 'user', content: 'Say hello.' }],
      });
      let text = '';
      stream.on('text', (delta) => {
        text += delta;
      });
      const msg = await stream.finalMessage();
      assert.equal(text, TEXT);
      assert.deepEqual(msg.content.map((b) => b.type), ['text']);
      assert.equal(msg.content[0].text, TEXT);
      assert.equal(msg.stop_reason, 'end_turn');
      assert.equal(msg.usage.input_tokens, ANTHROPIC_USAGE.input_tokens);
      assert.equal(msg.usage.output_tokens, ANTHROPIC_USAGE.output_tokens);
      assert.equal(msg.usage.cache_read_input_tokens, ANTHROPIC_USAGE.cache_read_input_tokens);
      const call = await lastUpstreamCall(cluster, model, 1);
      assert.equal(call.json.stream, true);
    });

    it('streaming events are well-formed (raw create({stream:true}))', async () => {
      const model = modelName('a-raw');
      await cluster.setModel(model, toolBehaviour());
      const stream = await client().messages.create({
        model, max_tokens: 256, stream: true, tools, messages: [question],
      });
      const types = [];
      const open = new Map();
      let nextIndex = 0;
      let stopReason = null;
      for await (const ev of stream) {
        types.push(ev.type);
        if (ev.type === 'content_block_start') {
          assert.equal(ev.index, nextIndex, 'block indices are 0, 1, 2 … without gaps');
          nextIndex += 1;
          open.set(ev.index, ev.content_block.type);
        } else if (ev.type === 'content_block_delta') {
          assert.ok(open.has(ev.index), `a delta for block ${ev.index} between its start and stop`);
        } else if (ev.type === 'content_block_stop') {
          assert.ok(open.delete(ev.index), `one stop for block ${ev.index}`);
        } else if (ev.type === 'message_delta') {
          stopReason = ev.delta.stop_reason;
        }
      }
      assert.equal(types[0], 'message_start');
      assert.equal(types[types.length - 1], 'message_stop');
      assert.equal(types.filter((t) => t === 'message_delta').length, 1, `one message_delta: ${types.join(' ')}`);
      assert.equal(types.filter((t) => t === 'message_stop').length, 1);
      assert.equal(open.size, 0, 'every block stopped');
      assert.ok(nextIndex >= 1, 'at least the tool_use block');
      assert.equal(stopReason, 'tool_use');
      await lastUpstreamCall(cluster, model, 1);
    });

    async function toolRoundTrip(streaming) {
      const model = modelName(streaming ? 'a-tool-stream' : 'a-tool');
      await cluster.setModel(model, toolBehaviour());
      const c = client();
      const request = { model, max_tokens: 512, tools, tool_choice: { type: 'auto' }, messages: [question] };

      let first;
      if (streaming) {
        const stream = c.messages.stream(request);
        const jsonDeltas = [];
        stream.on('inputJson', (partial) => jsonDeltas.push(partial));
        first = await stream.finalMessage();
        assert.ok(jsonDeltas.length > 0, 'the tool arguments arrived as input_json_delta events');
      } else {
        first = await c.messages.create(request);
      }
      assert.equal(first.stop_reason, 'tool_use');
      const uses = first.content.filter((b) => b.type === 'tool_use');
      assert.equal(uses.length, 1, `one tool_use block: ${JSON.stringify(first.content)}`);
      const use = uses[0];
      assert.equal(use.name, TOOL_NAME);
      assert.deepEqual(use.input, TOOL_INPUT);
      assert.match(use.id, /^[a-zA-Z0-9_-]+$/);
      assert.equal(first.content.filter((b) => b.type === 'text').map((b) => b.text).join(''), TOOL_PREAMBLE);
      assert.equal(first.content[first.content.length - 1].type, 'tool_use', 'text comes before tool_use');
      assert.equal(first.usage.output_tokens, ANTHROPIC_USAGE.output_tokens);
      assert.equal(first.usage.input_tokens, ANTHROPIC_USAGE.input_tokens);

      // The tool ran; the client sends its result back. The model now answers with text.
      await cluster.setModel(model, finalBehaviour());
      const followUp = {
        ...request,
        messages: [
          question,
          { role: 'assistant', content: first.content },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: TOOL_RESULT }] },
        ],
      };
      const second = streaming ? await c.messages.stream(followUp).finalMessage() : await c.messages.create(followUp);
      assert.equal(second.stop_reason, 'end_turn');
      assert.equal(second.content.filter((b) => b.type === 'text').map((b) => b.text).join(''), FINAL_TEXT);
      assert.equal(second.content.filter((b) => b.type === 'tool_use').length, 0);

      const call = await lastUpstreamCall(cluster, model, 2);
      assertToolRoundTripUpstream(upstreamFormat, call.json, use.id);
    }

    it('tool call round trip, non-streaming', () => toolRoundTrip(false));
    it('tool call round trip, streaming (messages.stream helper)', () => toolRoundTrip(true));

    it('upstream 429 → RateLimitError with status 429 (non-streaming and streaming)', async () => {
      const model = modelName('a-429');
      await cluster.setModel(model, { mode: '429', retry_after: 7 });
      for (const stream of [false, true]) {
        await assert.rejects(
          client().messages.create({ model, max_tokens: 64, stream, messages: [{ role: 'user', content: 'hi' }] }),
          (err) => {
            assert.ok(err instanceof Anthropic.RateLimitError, `RateLimitError, got ${err?.constructor?.name}: ${err?.message}`);
            assert.equal(err.status, 429);
            assert.equal(err.headers?.get('retry-after'), '7');
            assert.equal(err.error?.type, 'error');
            assert.equal(err.error?.error?.type, 'rate_limit_error');
            return true;
          },
        );
      }
      await lastUpstreamCall(cluster, model, 2);
    });

    it('authenticates with apiKey, authToken and an x-api-key header; rejects a wrong key', async () => {
      const model = modelName('a-auth');
      await cluster.setModel(model, textBehaviour());
      const ask = (c) => c.messages.create({ model, max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] });

      // apiKey: the 1.x SDK sends it as Authorization: Bearer (older ones as x-api-key).
      let seen = [];
      assert.equal((await ask(client({ fetch: recordingFetch(seen) }))).content[0].text, TEXT);
      assert.ok(seen[0].headers.get('authorization') || seen[0].headers.get('x-api-key'), 'the SDK sent a credential');

      // authToken: Authorization: Bearer.
      seen = [];
      const bearer = new Anthropic({
        authToken: cluster.clientKey, baseURL: cluster.gatewayUrl, maxRetries: 0, timeout: CALL_TIMEOUT_MS,
        fetch: recordingFetch(seen),
      });
      assert.equal((await ask(bearer)).content[0].text, TEXT);
      assert.equal(seen[0].headers.get('authorization'), `Bearer ${cluster.clientKey}`);
      assert.equal(seen[0].headers.get('x-api-key'), null);

      // x-api-key with anthropic-version 2023-06-01, as older SDKs and OpenClaw send it.
      seen = [];
      const legacy = client({
        fetch: recordingFetch(seen),
        defaultHeaders: { Authorization: null, 'x-api-key': cluster.clientKey, 'anthropic-version': '2023-06-01' },
      });
      assert.equal((await ask(legacy)).content[0].text, TEXT);
      assert.equal(seen[0].headers.get('x-api-key'), cluster.clientKey);
      assert.equal(seen[0].headers.get('authorization'), null);

      // A wrong key never reaches the upstream.
      await assert.rejects(ask(client({ apiKey: 'sk-luna-wrong-key' })), (err) => {
        assert.ok(err instanceof Anthropic.AuthenticationError, `AuthenticationError, got ${err?.constructor?.name}: ${err?.message}`);
        assert.equal(err.status, 401);
        return true;
      });
      await lastUpstreamCall(cluster, model, 3);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// OpenAI SDK → POST /v1/chat/completions
// ---------------------------------------------------------------------------------------------

export function openaiClientSuite(upstreamFormat) {
  const conversion = upstreamFormat === 'openai' ? 'passthrough' : 'converted to Anthropic Messages';
  describe(`openai ${versions.openai} → gateway → ${upstreamFormat} upstream (${conversion})`, () => {
    let cluster;
    const logs = () => cluster;
    const client = (extra = {}) =>
      new OpenAI({ apiKey: cluster.clientKey, baseURL: `${cluster.gatewayUrl}/v1`, maxRetries: 0, timeout: CALL_TIMEOUT_MS, ...extra });
    const it = (name, fn) => test(name, { timeout: TEST_TIMEOUT_MS }, withLogs(logs, fn));

    before(async () => {
      cluster = await new Cluster({ upstreamFormat }).start();
    });
    after(async () => {
      await cluster?.stop();
    });

    const tools = [{
      type: 'function',
      function: { name: TOOL_NAME, description: 'Current weather for a city', parameters: TOOL_SCHEMA },
    }];
    const system = { role: 'system', content: 'Be brief.' };
    const question = { role: 'user', content: 'What is the weather in Paris?' };

    function assertUsage(usage) {
      assert.ok(usage, 'usage is present');
      assert.equal(usage.prompt_tokens, OPENAI_USAGE.prompt_tokens);
      assert.equal(usage.completion_tokens, OPENAI_USAGE.completion_tokens);
      assert.equal(usage.total_tokens, OPENAI_USAGE.total_tokens);
      assert.equal(usage.prompt_tokens_details?.cached_tokens, OPENAI_USAGE.cached_tokens);
    }

    // Reads a chat.completion.chunk stream the way an application does, accumulating text and
    // tool_call argument deltas by index.
    async function collect(stream) {
      const out = { text: '', finish: [], usage: null, ids: new Set(), toolCalls: [], roles: [] };
      for await (const chunk of stream) {
        out.ids.add(chunk.id);
        assert.equal(chunk.object, 'chat.completion.chunk');
        if (chunk.usage) out.usage = chunk.usage;
        for (const choice of chunk.choices) {
          assert.equal(choice.index, 0);
          const d = choice.delta ?? {};
          if (d.role) out.roles.push(d.role);
          if (typeof d.content === 'string') out.text += d.content;
          for (const tc of d.tool_calls ?? []) {
            assert.equal(typeof tc.index, 'number', 'every tool_call delta has an index');
            const acc = (out.toolCalls[tc.index] ??= { id: '', type: '', name: '', arguments: '' });
            if (tc.id) acc.id = tc.id;
            if (tc.type) acc.type = tc.type;
            if (tc.function?.name) acc.name += tc.function.name;
            if (tc.function?.arguments) acc.arguments += tc.function.arguments;
          }
          if (choice.finish_reason) out.finish.push(choice.finish_reason);
        }
      }
      assert.equal(out.ids.size, 1, 'every chunk carries the same id');
      return out;
    }

    it('non-streaming text answer', async () => {
      const model = modelName('o-text');
      await cluster.setModel(model, textBehaviour());
      const res = await client().chat.completions.create({
        model, max_completion_tokens: 256, messages: [system, { role: 'user', content: 'Say hello.' }],
      });
      assert.equal(res.object, 'chat.completion');
      assert.equal(res.model, model);
      assert.equal(res.choices.length, 1);
      assert.equal(res.choices[0].message.role, 'assistant');
      assert.equal(res.choices[0].message.content, TEXT);
      assert.equal(res.choices[0].message.tool_calls ?? undefined, undefined);
      assert.equal(res.choices[0].finish_reason, 'stop');
      assertUsage(res.usage);
      await lastUpstreamCall(cluster, model, 1);
    });

    it('streaming text answer with stream_options.include_usage', async () => {
      const model = modelName('o-stream');
      await cluster.setModel(model, textBehaviour());
      const stream = await client().chat.completions.create({
        model, max_completion_tokens: 256, stream: true, stream_options: { include_usage: true },
        messages: [system, { role: 'user', content: 'Say hello.' }],
      });
      const out = await collect(stream);
      assert.equal(out.text, TEXT);
      assert.deepEqual(out.finish, ['stop']);
      assert.ok(out.roles.includes('assistant'));
      assertUsage(out.usage);
      const call = await lastUpstreamCall(cluster, model, 1);
      assert.equal(call.json.stream, true);
    });

    it('streaming text answer through the chat.completions.stream helper', async () => {
      const model = modelName('o-helper');
      await cluster.setModel(model, textBehaviour());
      const stream = client().chat.completions.stream({
        model, max_completion_tokens: 256, stream_options: { include_usage: true },
        messages: [{ role: 'user', content: 'Say hello.' }],
      });
      let text = '';
      stream.on('content.delta', ({ delta }) => {
        text += delta;
      });
      const final = await stream.finalChatCompletion();
      assert.equal(text, TEXT);
      assert.equal(final.choices[0].message.content, TEXT);
      assert.equal(final.choices[0].finish_reason, 'stop');
      assertUsage(final.usage);
      await lastUpstreamCall(cluster, model, 1);
    });

    async function toolRoundTrip(streaming) {
      const model = modelName(streaming ? 'o-tool-stream' : 'o-tool');
      await cluster.setModel(model, toolBehaviour());
      const c = client();
      const request = { model, max_completion_tokens: 512, tools, tool_choice: 'auto', messages: [system, question] };

      let assistant;
      if (streaming) {
        const out = await collect(await c.chat.completions.create({
          ...request, stream: true, stream_options: { include_usage: true },
        }));
        assert.deepEqual(out.finish, ['tool_calls']);
        assert.equal(out.text, TOOL_PREAMBLE);
        assertUsage(out.usage);
        assert.equal(out.toolCalls.length, 1, `one tool call: ${JSON.stringify(out.toolCalls)}`);
        const tc = out.toolCalls[0];
        assert.equal(tc.type, 'function');
        assert.equal(tc.name, TOOL_NAME);
        assert.deepEqual(JSON.parse(tc.arguments), TOOL_INPUT);
        assistant = {
          role: 'assistant',
          content: out.text,
          tool_calls: [{ id: tc.id, type: 'function', function: { name: tc.name, arguments: tc.arguments } }],
        };
      } else {
        const res = await c.chat.completions.create(request);
        assert.equal(res.choices[0].finish_reason, 'tool_calls');
        const msg = res.choices[0].message;
        assert.equal(msg.content, TOOL_PREAMBLE);
        assert.equal(msg.tool_calls?.length, 1, `one tool call: ${JSON.stringify(msg)}`);
        assert.equal(msg.tool_calls[0].type, 'function');
        assert.equal(msg.tool_calls[0].function.name, TOOL_NAME);
        assert.deepEqual(JSON.parse(msg.tool_calls[0].function.arguments), TOOL_INPUT);
        assertUsage(res.usage);
        assistant = msg;
      }
      const toolId = assistant.tool_calls[0].id;
      assert.ok(typeof toolId === 'string' && toolId.length > 0, 'the tool call has an id');

      // The tool ran; the client sends its result back. The model now answers with text.
      await cluster.setModel(model, finalBehaviour());
      const followUp = {
        ...request,
        messages: [system, question, assistant, { role: 'tool', tool_call_id: toolId, content: TOOL_RESULT }],
      };
      if (streaming) {
        const out = await collect(await c.chat.completions.create({
          ...followUp, stream: true, stream_options: { include_usage: true },
        }));
        assert.equal(out.text, FINAL_TEXT);
        assert.deepEqual(out.finish, ['stop']);
        assert.equal(out.toolCalls.length, 0);
      } else {
        const res = await c.chat.completions.create(followUp);
        assert.equal(res.choices[0].message.content, FINAL_TEXT);
        assert.equal(res.choices[0].finish_reason, 'stop');
        assert.equal(res.choices[0].message.tool_calls ?? undefined, undefined);
      }

      const call = await lastUpstreamCall(cluster, model, 2);
      assertToolRoundTripUpstream(upstreamFormat, call.json, toolId);
      if (upstreamFormat === 'anthropic') {
        // System messages go to the top-level `system`, never into messages[].
        assert.equal(contentText(call.json.system), 'Be brief.');
        assert.ok(call.json.messages.every((m) => m.role === 'user' || m.role === 'assistant'));
        assert.ok(Number.isInteger(call.json.max_tokens) && call.json.max_tokens > 0, 'max_tokens set for Anthropic');
      }
    }

    it('tool call round trip, non-streaming', () => toolRoundTrip(false));
    it('tool call round trip, streaming (tool_call argument deltas accumulated)', () => toolRoundTrip(true));

    it('upstream 429 → RateLimitError with status 429 (non-streaming and streaming)', async () => {
      const model = modelName('o-429');
      await cluster.setModel(model, { mode: '429', retry_after: 7 });
      for (const stream of [false, true]) {
        await assert.rejects(
          client().chat.completions.create({ model, stream, messages: [{ role: 'user', content: 'hi' }], max_completion_tokens: 64 }),
          (err) => {
            assert.ok(err instanceof OpenAI.RateLimitError, `RateLimitError, got ${err?.constructor?.name}: ${err?.message}`);
            assert.equal(err.status, 429);
            assert.equal(err.headers?.get('retry-after'), '7');
            assert.ok(typeof err.error?.message === 'string' && err.error.message.length > 0, 'an OpenAI-shaped error body');
            return true;
          },
        );
      }
      await lastUpstreamCall(cluster, model, 2);
    });

    it('authenticates with Authorization: Bearer; rejects a wrong key', async () => {
      const model = modelName('o-auth');
      await cluster.setModel(model, textBehaviour());
      const ask = (c) => c.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }], max_completion_tokens: 64 });
      const seen = [];
      const res = await ask(client({ fetch: recordingFetch(seen) }));
      assert.equal(res.choices[0].message.content, TEXT);
      assert.equal(seen[0].headers.get('authorization'), `Bearer ${cluster.clientKey}`);
      await assert.rejects(ask(client({ apiKey: 'sk-luna-wrong-key' })), (err) => {
        assert.ok(err instanceof OpenAI.AuthenticationError, `AuthenticationError, got ${err?.constructor?.name}: ${err?.message}`);
        assert.equal(err.status, 401);
        return true;
      });
      await lastUpstreamCall(cluster, model, 1);
    });
  });
}
