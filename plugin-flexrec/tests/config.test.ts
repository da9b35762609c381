import { ConfigError, readConfig } from '../src/config';
import { fakeManager } from './fake-manager';

describe('configuration from ui_attributes', () => {
  it('reads the service URL and wait, trimming a trailing slash', () => {
    const { manager } = fakeManager({ flexrec: { serviceUrl: 'https://rec.example.com/base/', waitSeconds: 10 } });
    expect(readConfig(manager)).toEqual({ serviceUrl: 'https://rec.example.com/base', waitSeconds: 10 });
  });

  it('falls back to the merged configuration and caps the wait at the service’s 30 s', () => {
    const { manager } = fakeManager({});
    (manager as unknown as { configuration: unknown }).configuration = { flexrec: { serviceUrl: 'https://r.example', waitSeconds: 99 } };
    expect(readConfig(manager)).toEqual({ serviceUrl: 'https://r.example', waitSeconds: 30 });
  });

  it.each([
    [{}, 'not configured'],
    [{ flexrec: { serviceUrl: '' } }, 'not configured'],
    [{ flexrec: { serviceUrl: 'not a url' } }, 'not a URL'],
    [{ flexrec: { serviceUrl: 'http://rec.example.com' } }, 'must be https'],
  ])('refuses %j', (attributes, message) => {
    const { manager } = fakeManager(attributes);
    expect(() => readConfig(manager)).toThrow(ConfigError);
    expect(() => readConfig(manager)).toThrow(message);
  });

  it('allows plain http to the developer’s own machine', () => {
    const { manager } = fakeManager({ flexrec: { serviceUrl: 'http://127.0.0.1:8080' } });
    expect(readConfig(manager).serviceUrl).toBe('http://127.0.0.1:8080');
  });
});
