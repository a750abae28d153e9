// The 2026-07-28 (stateless) scenarios of the conformance fixture (tests/conformance/server.mjs).
//
// The fixture speaks the session-based protocol on stdio like every official server; the sidecar
// bridges it to the stateless revision. Multi-round-trip scenarios (SEP-2322) ask the client for
// input with ordinary server-to-client requests, which the sidecar turns into the inputRequests of
// an InputRequiredResult keyed by the request's JSON-RPC id: so these requests carry the ids the
// scenarios name ("user_name", "capital_question", ...), sent on the transport directly.

import { CallToolRequestSchema, McpError } from '@modelcontextprotocol/sdk/types.js';

/** Registers the scenarios' tools and prompt on `server`; call `attach` once it is connected. */
export function registerStateless(server, text) {
  let transport;
  const asked = new Map(); // request id -> { resolve, reject }
  function ask(id, method, params) {
    // A call the client abandoned may still wait under the same id; it is given up here, so that
    // an id is never outstanding twice.
    asked.get(id)?.reject(new Error(`superseded: ${id}`));
    return new Promise((resolve, reject) => {
      asked.set(id, { resolve, reject });
      transport.send({ jsonrpc: '2.0', id, method, params }).catch(reject);
    });
  }
  const elicit = (id, message, properties) =>
    ask(id, 'elicitation/create', {
      mode: 'form',
      message,
      requestedSchema: { type: 'object', properties, required: Object.keys(properties) },
    });
  const sample = (id, prompt, maxTokens) =>
    ask(id, 'sampling/createMessage', {
      messages: [{ role: 'user', content: { type: 'text', text: prompt } }],
      maxTokens,
    });
  const roots = (id) => ask(id, 'roots/list', {});

  server.registerTool('test_input_required_result_elicitation', { description: 'SEP-2322 A1' }, async () => {
    const answer = await elicit('user_name', 'What is your name?', { name: { type: 'string' } });
    return text(`Hello, ${answer.content?.name ?? 'nobody'}!`);
  });
  server.registerTool('test_input_required_result_sampling', { description: 'SEP-2322 sampling' }, async () => {
    const answer = await sample('capital_question', 'What is the capital of France?', 100);
    return text(`Sampled: ${answer.content?.text ?? ''}`);
  });
  server.registerTool('test_input_required_result_list_roots', { description: 'SEP-2322 roots' }, async () => {
    const answer = await roots('client_roots');
    return text(`Roots: ${(answer.roots ?? []).map((r) => r.uri).join(', ')}`);
  });
  server.registerTool('test_input_required_result_request_state', { description: 'SEP-2322 state' }, async () => {
    const answer = await elicit('confirm', 'Please confirm', { ok: { type: 'boolean' } });
    // The sidecar verified the requestState (HMAC) before the answer reached this call.
    return text(`state-ok: confirmed=${answer.content?.ok}`);
  });
  server.registerTool('test_input_required_result_tampered_state', { description: 'SEP-2322 tamper' }, async () => {
    const answer = await elicit('confirm', 'Please confirm', { ok: { type: 'boolean' } });
    return text(`confirmed=${answer.content?.ok}`);
  });
  server.registerTool('test_input_required_result_multiple_inputs', { description: 'SEP-2322 several' }, async () => {
    const [name, greeting, listed] = await Promise.all([
      elicit('user_name', 'What is your name?', { name: { type: 'string' } }),
      sample('greeting', 'Generate a greeting', 50),
      roots('client_roots'),
    ]);
    return text(`${greeting.content?.text ?? ''} ${name.content?.name ?? ''} (${(listed.roots ?? []).length} roots)`);
  });
  server.registerTool('test_input_required_result_multi_round', { description: 'SEP-2322 rounds' }, async () => {
    const first = await elicit('step1', 'Step 1: What is your name?', { name: { type: 'string' } });
    const second = await elicit('step2', 'Step 2: What is your favorite color?', { color: { type: 'string' } });
    return text(`${first.content?.name} likes ${second.content?.color}`);
  });
  server.registerTool('test_input_required_result_capabilities', { description: 'SEP-2322 capabilities' }, async () => {
    // Asks for both; the sidecar refuses what the request's client did not declare (-32021), and
    // the call goes on with what it can get.
    const answers = await Promise.allSettled([
      sample('capital_question', 'What is the capital of France?', 100),
      elicit('user_name', 'What is your name?', { name: { type: 'string' } }),
    ]);
    return text(`answered ${answers.filter((a) => a.status === 'fulfilled').length} input request(s)`);
  });
  server.registerPrompt('test_input_required_result_prompt', { description: 'SEP-2322 prompt' }, async () => {
    const answer = await elicit('user_context', 'What context should the prompt use?', { context: { type: 'string' } });
    return { messages: [{ role: 'user', content: { type: 'text', text: `Context: ${answer.content?.context}` } }] };
  });
  server.registerTool('test_streaming_elicitation', { description: 'SEP-2575: input without a stream' }, async () => {
    const answer = await elicit('streaming_confirm', 'Continue?', { ok: { type: 'boolean' } });
    return text(`continued=${answer.content?.ok}`);
  });
  server.registerTool('test_logging_tool', { description: 'Logs while running', inputSchema: {} }, async (_args, extra) => {
    for (const data of ['step 1', 'step 2']) {
      await extra.sendNotification({ method: 'notifications/message', params: { level: 'info', data } });
    }
    return text('logged');
  });
  // Mutating the lists makes McpServer send notifications/{tools,prompts}/list_changed.
  server.registerTool('test_trigger_tool_change', { description: 'Changes the tool list' }, async () => {
    server.registerTool('conformance_transient_tool', { description: 'Comes and goes' }, async () => text('x')).remove();
    return text('tool list changed');
  });
  server.registerTool('test_trigger_prompt_change', { description: 'Changes the prompt list' }, async () => {
    server.registerPrompt('conformance_transient_prompt', { description: 'Comes and goes' }, async () => ({ messages: [] })).remove();
    return text('prompt list changed');
  });
  // Listed like any tool; answered by the tools/call wrapper below (McpServer would turn the error
  // into an isError result).
  server.registerTool('test_missing_capability', { description: 'Needs the sampling capability' }, async () => text('unused'));

  // tools/call: the MissingRequiredClientCapabilityError (-32021) of SEP-2575 is a JSON-RPC error.
  // test_missing_capability asks for sampling; when the request's client did not declare it, the
  // sidecar refuses with -32021 naming the capability, which this call passes on as its error.
  const callTool = server.server._requestHandlers.get('tools/call');
  server.server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    if (request.params.name !== 'test_missing_capability') return callTool(request, extra);
    const answer = await sample('capability_probe', 'Say anything', 10);
    return text(`sampled: ${answer.content?.text ?? ''}`);
  });

  return {
    /** Takes the answers to the requests sent by `ask`; everything else goes to the SDK. */
    attach(connected) {
      transport = connected;
      const sdkReceives = transport.onmessage;
      transport.onmessage = (message, extra) => {
        const waiting = message.id !== undefined && !message.method ? asked.get(message.id) : undefined;
        if (!waiting) return sdkReceives?.(message, extra);
        asked.delete(message.id);
        if (message.error) waiting.reject(new McpError(message.error.code, message.error.message, message.error.data));
        else waiting.resolve(message.result ?? {});
      };
    },
  };
}
