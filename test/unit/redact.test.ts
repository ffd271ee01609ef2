import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { maskSecrets, registerSecret } from '../../src/util/redact.js';
import { redactConfig } from '../../src/sessions/session.js';

describe('masking secrets', () => {
  it('masks a URL password up to the host, even one holding an @', () => {
    assert.equal(maskSecrets('via socks5://user:p@ss@proxy.example.com:1080 failed'), 'via socks5://user:********@proxy.example.com:1080 failed');
    const config = redactConfig({ proxyServerCredentials: { address: 'socks5://user:p@ss@proxy.example.com:1080' } });
    assert.equal(config.proxyServerCredentials?.address, 'socks5://user:********@proxy.example.com:1080');
  });

  it('masks registered long passwords anywhere, plain or URL-encoded, and leaves short words in prose alone', () => {
    registerSecret('long-secret/42');
    registerSecret('pass');
    assert.equal(maskSecrets('auth failed for long-secret/42 and long-secret%2F42'), 'auth failed for ******** and ********');
    assert.equal(maskSecrets('install chromium or pass --executable-path'), 'install chromium or pass --executable-path');
  });
});
