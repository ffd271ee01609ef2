// The container's HEALTHCHECK: exits 0 when GET /health answers 200, 1 otherwise. A 503 names the
// failing check (a sessions folder that cannot be written, a server shutting down); printing the
// answer puts it in `docker inspect`. Node's own http client: the image has no curl.
import http from 'node:http';
import process from 'node:process';

const port = process.env.MULTI_SESSION_PORT || '8080';
const url = `http://127.0.0.1:${port}/health`;

function fail(message) {
  process.stderr.write(`unhealthy: ${message}\n`);
  process.exit(1);
}

const request = http.get(url, { timeout: 4000 }, (res) => {
  let body = '';
  res.setEncoding('utf8');
  res.on('data', (chunk) => {
    if (body.length < 4096) body += chunk;
  });
  res.on('end', () => {
    if (res.statusCode === 200) {
      process.stdout.write(`${body.slice(0, 4096)}\n`);
      process.exit(0);
    }
    fail(`${url} answered ${String(res.statusCode)}: ${body.slice(0, 4096)}`);
  });
  res.on('error', (err) => fail(`${url}: ${err.message}`));
});
// Docker's own --timeout would kill the check; ending it first says why.
request.on('timeout', () => request.destroy(new Error('no answer within 4 s')));
request.on('error', (err) => fail(`${url}: ${err.message}`));
