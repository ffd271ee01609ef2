import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeProxy, type ProxyProtocol } from '../../src/proxy/parse.js';
import { probeProxy } from '../../src/proxy/probe.js';
import { httpProxy, openAfterSettling, silentPeer, type Silence, type SilentPeer, type TestProxy } from '../helpers/proxies.js';

// A short deadline so the tests are quick; the test's own timeout turns a probe that hangs (as it
// did while the agent was still connecting) into a failure rather than a stuck run.
const DEADLINE_MS = 300;
const HANG = { timeout: 10_000 };
const NO_ANSWER = /^no answer within 0\.3 s from the proxy at 127\.0\.0\.1:\d+ or through it from web\.whatsapp\.com$/;

describe('a proxy test against a peer that stops answering', () => {
  const peers: SilentPeer[] = [];
  after(async () => {
    for (const peer of peers) await peer.close();
  });
  const peer = async (behaviour: Silence): Promise<SilentPeer> => {
    const p = await silentPeer(behaviour);
    peers.push(p);
    return p;
  };

  const cases: { name: string; behaviour: Silence; protocol: ProxyProtocol; target: string }[] = [
    { name: 'an HTTP proxy that never answers the CONNECT (https target)', behaviour: 'silent', protocol: 'http', target: 'https://web.whatsapp.com/' },
    { name: 'an HTTP proxy that never answers the CONNECT (http target)', behaviour: 'silent', protocol: 'http', target: 'http://web.whatsapp.com/' },
    { name: 'an HTTPS proxy that never answers the TLS handshake', behaviour: 'silent', protocol: 'https', target: 'https://web.whatsapp.com/' },
    { name: 'an HTTP proxy that opens the tunnel, then the target never speaks TLS', behaviour: 'http-tunnel-then-silent', protocol: 'http', target: 'https://web.whatsapp.com/' },
    { name: 'an HTTP proxy that opens the tunnel, then no response headers come', behaviour: 'http-tunnel-then-silent', protocol: 'http', target: 'http://web.whatsapp.com/' },
    { name: 'a SOCKS5 proxy that accepts and says nothing', behaviour: 'silent', protocol: 'socks5h', target: 'https://web.whatsapp.com/' },
    { name: 'a SOCKS4 proxy that accepts and says nothing', behaviour: 'silent', protocol: 'socks4a', target: 'https://web.whatsapp.com/' },
    { name: 'a SOCKS5 proxy that grants the tunnel, then the target never speaks TLS', behaviour: 'socks5-tunnel-then-silent', protocol: 'socks5h', target: 'https://web.whatsapp.com/' },
  ];
  for (const c of cases) {
    it(`${c.name}: answers ok:false at the deadline, naming proxy and target, and leaves no connection open`, HANG, async () => {
      const silent = await peer(c.behaviour);
      const result = await probeProxy(normalizeProxy({ protocol: c.protocol, address: `127.0.0.1:${String(silent.port)}` }), new URL(c.target), DEADLINE_MS);
      assert.equal(result.ok, false);
      assert.match(result.error ?? '', NO_ANSWER);
      assert.ok(result.error?.includes(`127.0.0.1:${String(silent.port)}`));
      assert.ok(silent.accepted >= 1, 'the probe did reach the peer');
      assert.equal(await openAfterSettling(silent), 0, 'no connection of the probe stays open');
    });
  }

  it('a SOCKS5 proxy that resolves names here (socks5) and says nothing: the same', HANG, async () => {
    const silent = await peer('silent');
    const result = await probeProxy(normalizeProxy({ protocol: 'socks5', address: `127.0.0.1:${String(silent.port)}` }), new URL('https://localhost:4443/'), DEADLINE_MS);
    assert.match(result.error ?? '', /^no answer within 0\.3 s from the proxy at 127\.0\.0\.1:\d+ or through it from localhost:4443$/);
    assert.ok(silent.accepted >= 1);
    assert.equal(await openAfterSettling(silent), 0);
  });
});

describe('a proxy test that gets its answer', () => {
  let tunnel: TestProxy;
  let target: SilentPeer;
  before(async () => {
    tunnel = await httpProxy('alice', 'tunnel-pass', { tunnelLoopback: true });
    target = await silentPeer('headers-then-silent');
  });
  after(async () => {
    await tunnel.close();
    await target.close();
  });

  it('reports the status once the headers are in, and closes the connection though the body never ends', HANG, async () => {
    const result = await probeProxy(
      normalizeProxy({ protocol: 'http', address: `127.0.0.1:${String(tunnel.port)}`, username: 'alice', password: 'tunnel-pass' }),
      new URL(`http://127.0.0.1:${String(target.port)}/`),
      DEADLINE_MS,
    );
    assert.deepEqual([result.ok, result.statusCode], [true, 200], JSON.stringify(result));
    assert.equal(target.accepted, 1);
    assert.equal(await openAfterSettling(target), 0, 'the probe let go of the target');
  });
});
