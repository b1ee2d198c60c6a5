#!/usr/bin/env node
// Sends an AdmissionReview to a running webhook and prints the answer with its patch decoded.
// Usage: node scripts/send-example.mjs [review.json] [url]   (defaults: the example, https://127.0.0.1:8443/pods)
// For https, the CA in certs/ca.pem (made by `npm start`) verifies the server, as the API server does.
import { readFileSync, existsSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';

const file = process.argv[2] ?? new URL('../examples/admission-review.json', import.meta.url).pathname;
const url = new URL(process.argv[3] ?? 'https://127.0.0.1:8443/pods');
const body = readFileSync(file);
const caFile = new URL('../certs/ca.pem', import.meta.url).pathname;
const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
const options = { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': body.length } };
if (url.protocol === 'https:' && existsSync(caFile)) options.ca = readFileSync(caFile);

const req = send(url, options, (res) => {
  const chunks = [];
  res.on('data', (c) => chunks.push(c));
  res.on('end', () => {
    const text = Buffer.concat(chunks).toString();
    let answer;
    try { answer = JSON.parse(text); } catch { console.log(`HTTP ${res.statusCode}: ${text}`); process.exitCode = 1; return; }
    if (answer.response?.patch) answer.response.patch = JSON.parse(Buffer.from(answer.response.patch, 'base64').toString());
    console.log(`HTTP ${res.statusCode}`);
    console.log(JSON.stringify(answer, null, 2));
  });
});
req.on('error', (e) => { console.error(`cannot reach ${url}: ${e.message} (is the webhook running? npm start)`); process.exitCode = 1; });
req.end(body);
