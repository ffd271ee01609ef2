import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfig, parseSize } from '../../src/cli/options.js';
import { debugMatcher } from '../../src/log.js';

describe('server flags', () => {
  it('has the documented defaults and freezes the result', () => {
    const c = parseConfig([], '1.0.0');
    assert.equal(c.port, 8080);
    assert.equal(c.host, '0.0.0.0');
    assert.equal(c.maxSessions, 10);
    assert.equal(c.useChrome, false);
    assert.equal(c.webhookHost, 'localhost');
    assert.equal(c.engine, 'wa-automate');
    assert.equal(c.logLevel, 'info');
    assert.equal(c.maxBodyBytes, 64 * 1024 * 1024);
    assert.equal(c.publicUrl, 'http://localhost:8080');
    assert.ok(Object.isFrozen(c));
  });

  it('takes the brief’s examples', () => {
    const c = parseConfig(['--port', '3000', '--max-sessions', '20', '--host', '0.0.0.0', '--webhook-host', 'your-domain.com', '--use-chrome'], '1.0.0');
    assert.equal(c.port, 3000);
    assert.equal(c.maxSessions, 20);
    assert.equal(c.useChrome, true);
    assert.equal(c.publicUrl, 'http://your-domain.com:3000');
    assert.equal(parseConfig(['--webhook-host', 'https://wa.example.com/'], '1').publicUrl, 'https://wa.example.com');
  });

  it('reads MULTI_SESSION_* environment variables', () => {
    process.env.MULTI_SESSION_API_KEY = 'from-the-environment';
    try {
      assert.equal(parseConfig([], '1').apiKey, 'from-the-environment');
    } finally {
      delete process.env.MULTI_SESSION_API_KEY;
    }
  });

  it('refuses values that cannot work, with a reason', () => {
    for (const args of [['--port', 'abc'], ['--port', '70000'], ['--max-sessions', '0'], ['--engine', 'x'], ['--log-level', 'x'], ['--max-body', 'lots'], ['--api-key', 'short']]) {
      assert.throws(() => parseConfig(args, '1'), ConfigError, args.join(' '));
    }
    assert.equal(parseSize('64mb'), 64 * 1024 * 1024);
    assert.equal(parseSize('2048'), 2048);
  });
});

describe('DEBUG namespaces', () => {
  it('match the debug package’s patterns', () => {
    assert.equal(debugMatcher('*')('wa:session'), true);
    assert.equal(debugMatcher('wa:*')('wa:api'), true);
    assert.equal(debugMatcher('wa:session')('wa:api'), false);
    assert.equal(debugMatcher('wa:session,wa:api')('wa:api'), true);
    assert.equal(debugMatcher(undefined)('wa:api'), false);
  });
});

describe('switches from the environment', () => {
  it('reads the value of a switch variable: "false", "0", "off" turn it off, an unknown word is refused', () => {
    const names = ['MULTI_SESSION_METRICS_PUBLIC', 'MULTI_SESSION_ALLOW_PRIVATE_URLS'] as const;
    try {
      for (const [value, expected] of [['true', true], ['1', true], ['on', true], ['false', false], ['0', false], ['off', false], ['', false]] as const) {
        for (const name of names) process.env[name] = value;
        const config = parseConfig([], '1');
        assert.equal(config.metricsPublic, expected, `MULTI_SESSION_METRICS_PUBLIC=${value}`);
        assert.equal(config.allowPrivateUrls, expected, `MULTI_SESSION_ALLOW_PRIVATE_URLS=${value}`);
      }
      process.env.MULTI_SESSION_METRICS_PUBLIC = 'maybe';
      assert.throws(() => parseConfig([], '1'), (err: unknown) => err instanceof ConfigError && /MULTI_SESSION_METRICS_PUBLIC must be true or false, got "maybe"/.test(err.message));
      // The flag on the command line wins over the variable.
      process.env.MULTI_SESSION_METRICS_PUBLIC = 'false';
      assert.equal(parseConfig(['--metrics-public'], '1').metricsPublic, true);
      process.env.MULTI_SESSION_CLUSTER = 'false';
      assert.equal(parseConfig([], '1').cluster, undefined);
    } finally {
      for (const name of [...names, 'MULTI_SESSION_CLUSTER']) delete process.env[name];
    }
  });
});
