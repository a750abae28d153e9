#!/usr/bin/env node
// Conformance fixture: a stdio MCP server built with the official TypeScript SDK
// (@modelcontextprotocol/sdk 1.32.2) that exposes the tools, resources and prompts the
// server scenarios of @modelcontextprotocol/conformance expect (names and behaviours are
// taken from each scenario's own description). The sidecar puts it behind Streamable HTTP;
// the suite then talks to the sidecar, so every scenario exercises the bridge end to end.
//
// Run with Node >= 22: `node tests/conformance/server.mjs` (stdio, newline-delimited JSON).

import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import {
  CompleteRequestSchema,
  ListToolsRequestSchema,
  ElicitResultSchema,
  CreateMessageResultSchema,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { registerStateless } from './stateless.mjs';

// 1x1 PNG and a minimal WAV, base64: the smallest valid payloads for image/audio content.
const PNG =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';
const WAV = 'UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=';

const server = new McpServer(
  { name: 'gateway-conformance-fixture', version: '1.0.0' },
  {
    capabilities: {
      tools: { listChanged: true },
      resources: { subscribe: true, listChanged: true },
      prompts: { listChanged: true },
      logging: {},
      completions: {},
    },
  },
);

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const text = (t) => ({ content: [{ type: 'text', text: t }] });

// ---- tools (scenarios tools-call-*) ----
server.registerTool('test_simple_text', { description: 'Returns one text block' }, async () =>
  text('This is a simple text response for testing.'),
);
server.registerTool('test_image_content', { description: 'Returns one image block' }, async () => ({
  content: [{ type: 'image', data: PNG, mimeType: 'image/png' }],
}));
server.registerTool('test_audio_content', { description: 'Returns one audio block' }, async () => ({
  content: [{ type: 'audio', data: WAV, mimeType: 'audio/wav' }],
}));
server.registerTool('test_embedded_resource', { description: 'Returns an embedded resource' }, async () => ({
  content: [
    {
      type: 'resource',
      resource: { uri: 'test://embedded-resource', mimeType: 'text/plain', text: 'This is an embedded resource content.' },
    },
  ],
}));
server.registerTool('test_multiple_content_types', { description: 'Returns text, image and resource' }, async () => ({
  content: [
    { type: 'text', text: 'Multiple content types test:' },
    { type: 'image', data: PNG, mimeType: 'image/png' },
    {
      type: 'resource',
      resource: {
        uri: 'test://mixed-content-resource',
        mimeType: 'application/json',
        text: JSON.stringify({ test: 'data', value: 123 }),
      },
    },
  ],
}));
server.registerTool(
  'test_tool_with_logging',
  { description: 'Emits three log notifications while running', inputSchema: {} },
  async (_args, extra) => {
    for (const data of ['Tool execution started', 'Tool processing data', 'Tool execution completed']) {
      await extra.sendNotification({ method: 'notifications/message', params: { level: 'info', data } });
      await pause(50);
    }
    return text('Tool with logging executed successfully');
  },
);
server.registerTool(
  'test_tool_with_progress',
  { description: 'Reports progress 0, 50, 100 against the caller progressToken', inputSchema: {} },
  async (_args, extra) => {
    const progressToken = extra._meta?.progressToken ?? 0;
    for (const progress of [0, 50, 100]) {
      await extra.sendNotification({
        method: 'notifications/progress',
        params: { progressToken, progress, total: 100, message: `Completed step ${progress} of 100` },
      });
      await pause(50);
    }
    return text(String(progressToken));
  },
);
server.registerTool('test_error_handling', { description: 'Always fails' }, async () => {
  throw new Error('This tool intentionally returns an error for testing');
});
server.registerTool(
  'test_sampling',
  { description: 'Asks the client for an LLM completion', inputSchema: { prompt: z.string() } },
  async ({ prompt }, extra) => {
    const result = await extra.sendRequest(
      {
        method: 'sampling/createMessage',
        params: { messages: [{ role: 'user', content: { type: 'text', text: prompt } }], maxTokens: 100 },
      },
      CreateMessageResultSchema,
    );
    return text(`LLM response: ${result.content?.text ?? 'No response'}`);
  },
);

// SEP-1699 (scenario server-sse-polling): the reference server closes the POST stream mid-call.
// A stdio child has no way to ask the bridge for that, so this one simply finishes; the suite then
// notes (INFO) that the stream was not cut, and the sidecar's own resumption is proven by
// sidecar/tests/sse.rs (last_event_id_resumes_a_broken_request_stream).
server.registerTool(
  'test_reconnection',
  { description: 'Finishes after a short pause (SEP-1699 polling scenario)', inputSchema: {} },
  async () => {
    await pause(100);
    return text('Reconnection test completed successfully.');
  },
);

// SEP-1613 and SEP-2106 (scenario json-schema-2020-12): tools/list must carry this schema verbatim
// ($schema, $defs with $anchor, additionalProperties, allOf/anyOf, if/then/else), which McpServer's
// zod conversion would drop; calls still validate through the zod shape, and tools/list is patched
// below.
const JSON_SCHEMA_2020_12 = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  $defs: {
    address: {
      $anchor: 'addressDef',
      type: 'object',
      properties: { street: { type: 'string' }, city: { type: 'string' } },
    },
  },
  properties: {
    name: { type: 'string' },
    address: { $ref: '#/$defs/address' },
    contactMethod: { type: 'string', enum: ['phone', 'email'] },
    phone: { type: 'string' },
    email: { type: 'string' },
  },
  allOf: [{ anyOf: [{ required: ['phone'] }, { required: ['email'] }] }],
  if: { properties: { contactMethod: { const: 'phone' } }, required: ['contactMethod'] },
  then: { required: ['phone'] },
  else: { required: ['email'] },
  additionalProperties: false,
};
server.registerTool(
  'json_schema_2020_12_tool',
  {
    description: 'Tool whose input schema uses JSON Schema 2020-12 features (SEP-1613)',
    inputSchema: {
      name: z.string().optional(),
      address: z.object({ street: z.string().optional(), city: z.string().optional() }).optional(),
      contactMethod: z.enum(['phone', 'email']).optional(),
      phone: z.string().optional(),
      email: z.string().optional(),
    },
  },
  async (args) => text(`JSON Schema 2020-12 tool called with: ${JSON.stringify(args)}`),
);

// Elicitation tools share one shape: ask with a schema, report the action and content.
function elicitationTool(name, message, requestedSchema, inputSchema) {
  server.registerTool(name, { description: `Elicitation: ${message}`, inputSchema }, async (args, extra) => {
    const result = await extra.sendRequest(
      {
        method: 'elicitation/create',
        params: { mode: 'form', message: args.message ?? message, requestedSchema },
      },
      ElicitResultSchema,
    );
    return text(`Elicitation completed: action=${result.action}, content=${JSON.stringify(result.content ?? {})}`);
  });
}
elicitationTool(
  'test_elicitation',
  'Please provide your response',
  { type: 'object', properties: { response: { type: 'string', description: "User's response" } }, required: ['response'] },
  { message: z.string() },
);
elicitationTool(
  'test_elicitation_sep1034_defaults',
  'Please review and update the form fields with defaults',
  {
    type: 'object',
    properties: {
      name: { type: 'string', description: 'User name', default: 'John Doe' },
      age: { type: 'integer', description: 'User age', default: 30 },
      score: { type: 'number', description: 'User score', default: 95.5 },
      status: { type: 'string', description: 'User status', enum: ['active', 'inactive', 'pending'], default: 'active' },
      verified: { type: 'boolean', description: 'Verification status', default: true },
    },
    required: [],
  },
  {},
);
elicitationTool(
  'test_elicitation_sep1330_enums',
  'Please select options from the enum fields',
  {
    type: 'object',
    properties: {
      untitledSingle: { type: 'string', description: 'Select one option', enum: ['option1', 'option2', 'option3'] },
      titledSingle: {
        type: 'string',
        description: 'Select one option with titles',
        oneOf: [
          { const: 'value1', title: 'First Option' },
          { const: 'value2', title: 'Second Option' },
          { const: 'value3', title: 'Third Option' },
        ],
      },
      legacyEnum: {
        type: 'string',
        description: 'Select one option (legacy)',
        enum: ['opt1', 'opt2', 'opt3'],
        enumNames: ['Option One', 'Option Two', 'Option Three'],
      },
      untitledMulti: {
        type: 'array',
        description: 'Select multiple options',
        minItems: 1,
        maxItems: 3,
        items: { type: 'string', enum: ['option1', 'option2', 'option3'] },
      },
      titledMulti: {
        type: 'array',
        description: 'Select multiple options with titles',
        minItems: 1,
        maxItems: 3,
        items: {
          anyOf: [
            { const: 'value1', title: 'First Choice' },
            { const: 'value2', title: 'Second Choice' },
            { const: 'value3', title: 'Third Choice' },
          ],
        },
      },
    },
    required: [],
  },
  {},
);

// ---- resources (scenarios resources-*) ----
function staticResource(name, uri, mimeType, body) {
  server.registerResource(name, uri, { title: name, description: `Fixture resource ${name}`, mimeType }, async () => ({
    contents: [{ uri, mimeType, ...body }],
  }));
}
staticResource('static-text', 'test://static-text', 'text/plain', {
  text: 'This is the content of the static text resource.',
});
staticResource('static-binary', 'test://static-binary', 'image/png', { blob: PNG });
staticResource('watched-resource', 'test://watched-resource', 'text/plain', { text: 'Watched resource content' });
server.registerResource(
  'template',
  new ResourceTemplate('test://template/{id}/data', { list: undefined }),
  { title: 'Resource Template', description: 'Parameter substitution', mimeType: 'application/json' },
  async (uri, { id }) => ({
    contents: [
      {
        uri: uri.toString(),
        mimeType: 'application/json',
        text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` }),
      },
    ],
  }),
);

// ---- prompts (scenarios prompts-*) ----
server.registerPrompt('test_simple_prompt', { title: 'Simple', description: 'No arguments' }, async () => ({
  messages: [{ role: 'user', content: { type: 'text', text: 'This is a simple prompt for testing.' } }],
}));
server.registerPrompt(
  'test_prompt_with_arguments',
  { title: 'With arguments', description: 'Two arguments', argsSchema: { arg1: z.string(), arg2: z.string() } },
  async ({ arg1, arg2 }) => ({
    messages: [{ role: 'user', content: { type: 'text', text: `Prompt with arguments: arg1='${arg1}', arg2='${arg2}'` } }],
  }),
);
server.registerPrompt(
  'test_prompt_with_embedded_resource',
  { title: 'Embedded resource', description: 'Embeds a resource', argsSchema: { resourceUri: z.string() } },
  async ({ resourceUri }) => ({
    messages: [
      {
        role: 'user',
        content: {
          type: 'resource',
          resource: { uri: resourceUri, mimeType: 'text/plain', text: 'Embedded resource content for testing.' },
        },
      },
      { role: 'user', content: { type: 'text', text: 'Please process the embedded resource above.' } },
    ],
  }),
);
server.registerPrompt('test_prompt_with_image', { title: 'Image', description: 'Includes an image' }, async () => ({
  messages: [
    { role: 'user', content: { type: 'image', data: PNG, mimeType: 'image/png' } },
    { role: 'user', content: { type: 'text', text: 'Please analyze the image above.' } },
  ],
}));

// ---- subscriptions, logging, completion (low-level handlers) ----
const subscriptions = new Set();
const log = (data) =>
  server.server.sendLoggingMessage({ level: 'info', logger: 'conformance-fixture', data }).catch(() => {});
server.server.setRequestHandler(SubscribeRequestSchema, async (request) => {
  subscriptions.add(request.params.uri);
  return {};
});
server.server.setRequestHandler(UnsubscribeRequestSchema, async (request) => {
  subscriptions.delete(request.params.uri);
  return {};
});
server.server.setRequestHandler(SetLevelRequestSchema, async (request) => {
  log(`Log level set to: ${request.params.level}`);
  return {};
});
server.server.setRequestHandler(CompleteRequestSchema, async () => ({
  completion: { values: [], total: 0, hasMore: false },
}));

// SEP-2243 (scenario http-custom-header-server-validation): an argument mirrored in an
// Mcp-Param-Region header, which the sidecar checks against the body. tools/list carries the raw
// schema (zod would drop x-mcp-header).
const CUSTOM_HEADER_SCHEMA = {
  type: 'object',
  properties: { region: { type: 'string', 'x-mcp-header': 'Region' } },
  required: ['region'],
};
server.registerTool(
  'test_custom_header',
  { description: 'Echoes the region its Mcp-Param-Region header mirrors', inputSchema: { region: z.string() } },
  async ({ region }) => text(`region=${region}`),
);

// ---- 2026-07-28 (stateless) scenarios: tests/conformance/stateless.mjs ----
const stateless = registerStateless(server, text);

// tools/list: McpServer's own answer, with the SEP-1613 tool's schema replaced by the raw one.
// Registered last, so it replaces the handler McpServer installed (Protocol keeps one per method).
const listTools = server.server._requestHandlers.get('tools/list');
server.server.setRequestHandler(ListToolsRequestSchema, async (request, extra) => {
  const result = await listTools(request, extra);
  for (const tool of result.tools) {
    if (tool.name === 'json_schema_2020_12_tool') tool.inputSchema = JSON_SCHEMA_2020_12;
    if (tool.name === 'test_custom_header') tool.inputSchema = CUSTOM_HEADER_SCHEMA;
  }
  return result;
});

const transport = new StdioServerTransport();
await server.connect(transport);
stateless.attach(transport);
