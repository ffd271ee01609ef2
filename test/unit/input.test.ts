import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeChatId } from '../../src/http/chat-id.js';
import { decodeMedia, fileType, sniffImage } from '../../src/http/media.js';
import { AppError } from '../../src/errors.js';
import { PNG_1PX } from '../helpers/fixtures.js';

describe('chat ids', () => {
  it('accepts user and group ids as they are', () => {
    assert.equal(normalizeChatId('1234567890@c.us'), '1234567890@c.us');
    assert.equal(normalizeChatId('123456789-1612345678@g.us'), '123456789-1612345678@g.us');
    assert.equal(normalizeChatId('120363042345678901@g.us'), '120363042345678901@g.us');
  });

  it('normalises phone numbers in any usual notation', () => {
    assert.equal(normalizeChatId('+1 234-567 890'), '1234567890@c.us');
    assert.equal(normalizeChatId('(555) 123-4567'), '5551234567@c.us');
    assert.equal(normalizeChatId('4915112345678@s.whatsapp.net'), '4915112345678@c.us');
  });

  it('refuses anything else', () => {
    for (const bad of ['', 'hello', '123', 'abc@c.us', '12345@x.us', '../../etc/passwd', '1234567890@c.us; rm -rf']) {
      assert.equal(normalizeChatId(bad), null, bad);
    }
  });
});

describe('media', () => {
  it('decodes data URLs and bare base64', () => {
    const fromUrl = decodeMedia(`data:image/png;base64,${PNG_1PX}`);
    assert.equal(fromUrl.declaredType, 'image/png');
    assert.equal(sniffImage(fromUrl.buffer), 'image/png');
    assert.deepEqual(decodeMedia(PNG_1PX).buffer, fromUrl.buffer);
  });

  it('refuses what is not base64, with a 400 naming the field', () => {
    for (const bad of ['not base64!!', 'data:text/plain,hello', 'QUJD=A', 'A']) {
      assert.throws(
        () => decodeMedia(bad),
        (err: unknown) => err instanceof AppError && err.code === 'VALIDATION_ERROR' && /data/.test(err.message),
        bad,
      );
    }
  });

  it('recognises PNG, JPEG, GIF and WebP by their bytes only', () => {
    assert.equal(sniffImage(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0])), 'image/jpeg');
    assert.equal(sniffImage(Buffer.from('GIF89a......')), 'image/gif');
    assert.equal(sniffImage(Buffer.from('RIFF\0\0\0\0WEBPVP8 ')), 'image/webp');
    assert.equal(sniffImage(Buffer.from('%PDF-1.4 pretending')), null);
  });

  it('types files by data URL, then extension, then bytes', () => {
    const pdf = Buffer.from('%PDF-1.4');
    assert.equal(fileType({ buffer: pdf, declaredType: 'application/pdf' }, 'x.bin'), 'application/pdf');
    assert.equal(fileType({ buffer: pdf, declaredType: undefined }, 'report.pdf'), 'application/pdf');
    assert.equal(fileType({ buffer: Buffer.from(PNG_1PX, 'base64'), declaredType: undefined }, 'noext'), 'image/png');
    assert.equal(fileType({ buffer: pdf, declaredType: undefined }, 'noext'), 'application/octet-stream');
  });
});
