// Lambda's Runtime API loop for a Node.js handler, as `hook-sim simulate` runs `nodejs*`
// functions: node hook-sim-node-runtime.js FILE.EXPORT (the function's Handler), in the
// function's code folder. It does what Lambda's Node runtime does for a handler: imports it
// (CommonJS or ES module), then for each invocation calls it with the event and a context
// and posts its result, or its error as a function error.
'use strict';
const fs = require('fs');
const http = require('http');
const path = require('path');
const { pathToFileURL } = require('url');

const api = process.env.AWS_LAMBDA_RUNTIME_API;
const handlerSpec = process.argv[2] || process.env._HANDLER || 'index.handler';

function request(method, route, body, headers) {
  return new Promise((resolve, reject) => {
    const [host, port] = api.split(':');
    const req = http.request(
      { host, port, method, path: `/2018-06-01/runtime${route}`, headers: { 'content-type': 'application/json', ...headers } },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

function errorBody(e) {
  const error = e instanceof Error ? e : new Error(String(e));
  return JSON.stringify({
    errorType: error.name || 'Error',
    errorMessage: error.message,
    trace: String(error.stack || '').split('\n'),
  });
}

async function loadHandler() {
  const dot = handlerSpec.lastIndexOf('.');
  if (dot <= 0) throw new Error(`Bad handler ${handlerSpec}: expected FILE.EXPORT`);
  const file = handlerSpec.slice(0, dot);
  const name = handlerSpec.slice(dot + 1);
  const root = process.env.LAMBDA_TASK_ROOT || process.cwd();
  const found = ['.js', '.mjs', '.cjs'].map((ext) => path.join(root, file + ext)).find((p) => fs.existsSync(p));
  if (!found) throw Object.assign(new Error(`Cannot find module '${file}' in ${root}`), { name: 'Runtime.ImportModuleError' });
  const mod = await import(pathToFileURL(found).href);
  const fn = mod[name] ?? (mod.default && mod.default[name]);
  if (typeof fn !== 'function') {
    throw Object.assign(new Error(`${file}.${name} is undefined or not exported`), { name: 'Runtime.HandlerNotFound' });
  }
  return fn;
}

function call(fn, event, context) {
  if (fn.length < 3) return Promise.resolve().then(() => fn(event, context));
  // A callback-style handler.
  return new Promise((resolve, reject) => {
    const done = (err, result) => (err ? reject(err) : resolve(result));
    const out = fn(event, context, done);
    if (out && typeof out.then === 'function') out.then(resolve, reject);
  });
}

async function main() {
  let fn;
  try {
    fn = await loadHandler();
  } catch (e) {
    console.error(e);
    await request('POST', '/init/error', errorBody(e), { 'lambda-runtime-function-error-type': e.name || 'Runtime.Unknown' });
    process.exit(1);
  }
  for (;;) {
    const next = await request('GET', '/invocation/next');
    const id = next.headers['lambda-runtime-aws-request-id'];
    const deadline = Number(next.headers['lambda-runtime-deadline-ms']);
    const context = {
      awsRequestId: id,
      invokedFunctionArn: next.headers['lambda-runtime-invoked-function-arn'],
      functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
      functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
      memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
      logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
      logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
      getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    };
    try {
      const result = await call(fn, JSON.parse(next.body || 'null'), context);
      await request('POST', `/invocation/${id}/response`, JSON.stringify(result === undefined ? null : result));
    } catch (e) {
      console.error(`ERROR\tInvoke Error\t${errorBody(e)}`);
      await request('POST', `/invocation/${id}/error`, errorBody(e), { 'lambda-runtime-function-error-type': e.name || 'Error' });
    }
  }
}

main();
