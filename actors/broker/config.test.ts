/**
 * The Kafka-listener configs as Kafka spells them: listeners and
 * advertised.listeners parse `NAME://HOST:PORT` lists, refuse what we do not
 * speak yet, and must agree with each other.
 */
import { describe, expect, it } from 'vitest';
import { applyKafkaSettings, authorizerEnabled, makeBrokerConfig, parseKafkaListeners } from './config.ts';

const base = makeBrokerConfig({ brokerId: 1, listenHost: '127.0.0.1', listenPort: 9191, dataDir: '/tmp/x', controllerQuorumVoters: new Map([[1, 'ws://127.0.0.1:9191']]) });

describe('listeners / advertised.listeners', () => {
  it('parse Kafka\'s NAME://HOST:PORT lists', () => {
    expect(parseKafkaListeners('PLAINTEXT://0.0.0.0:9092', 'listeners')).toEqual([{ name: 'PLAINTEXT', host: '0.0.0.0', port: 9092 }]);
    expect(parseKafkaListeners('PLAINTEXT://[::1]:9092', 'listeners')).toEqual([{ name: 'PLAINTEXT', host: '::1', port: 9092 }]);
    const config = applyKafkaSettings(base, { listeners: 'PLAINTEXT://0.0.0.0:9092', 'advertised.listeners': 'PLAINTEXT://kafka1.example:19092' });
    expect(config.kafkaListeners).toEqual([{ name: 'PLAINTEXT', host: '0.0.0.0', port: 9092 }]);
    expect(config.kafkaAdvertisedListeners).toEqual([{ name: 'PLAINTEXT', host: 'kafka1.example', port: 19092 }]);
    expect(base.kafkaListeners).toEqual([]);
  });

  it('refuse what is not a listener, an unknown protocol, SSL without a keystore, duplicates, and an advertised name that does not listen', () => {
    expect(() => parseKafkaListeners('0.0.0.0:9092', 'listeners')).toThrow(/is not NAME:\/\/HOST:PORT/);
    expect(() => parseKafkaListeners('INTERNAL://0.0.0.0:9093', 'listeners')).toThrow(/INTERNAL is not supported/);
    expect(() => applyKafkaSettings(base, { listeners: 'SASL_SSL://0.0.0.0:9093' })).toThrow(/SASL_SSL listener needs ssl.keystore.location/);
    expect(parseKafkaListeners('SSL://0.0.0.0:9093', 'listeners')).toEqual([{ name: 'SSL', host: '0.0.0.0', port: 9093 }]);
    expect(() => applyKafkaSettings(base, { listeners: 'SSL://0.0.0.0:9093' })).toThrow(/SSL listener needs ssl.keystore.location/);
    expect(() => parseKafkaListeners('PLAINTEXT://a:1,PLAINTEXT://b:2', 'listeners')).toThrow(/named twice/);
    expect(() => parseKafkaListeners('PLAINTEXT://a:70000', 'listeners')).toThrow(/out of range/);
    expect(() => applyKafkaSettings(base, { 'advertised.listeners': 'PLAINTEXT://h:1' })).toThrow(/which listeners does not/);
  });
});

describe('SASL (#19)', () => {
  it('sasl.enabled.mechanisms: SCRAM both ways by default; PLAIN only where TLS is', () => {
    expect(base.saslEnabledMechanisms).toEqual(['SCRAM-SHA-256', 'SCRAM-SHA-512']);
    const config = applyKafkaSettings(base, { listeners: 'SASL_PLAINTEXT://0.0.0.0:9092', 'sasl.enabled.mechanisms': 'PLAIN, SCRAM-SHA-512' });
    expect(config.saslEnabledMechanisms).toEqual(['PLAIN', 'SCRAM-SHA-512']);
    expect(() => applyKafkaSettings(base, { 'sasl.enabled.mechanisms': 'GSSAPI' })).toThrow(/"GSSAPI" is not served/);
    expect(() => applyKafkaSettings(base, { listeners: 'SASL_PLAINTEXT://0.0.0.0:9092', 'sasl.enabled.mechanisms': 'PLAIN' })).toThrow(/would offer no SASL mechanism \(PLAIN is offered over TLS only\)/);
    expect(applyKafkaSettings(base, { listeners: 'SASL_SSL://0.0.0.0:9093', 'ssl.keystore.location': '/k.pem', 'sasl.enabled.mechanisms': 'PLAIN' }).saslEnabledMechanisms).toEqual(['PLAIN']);
    expect(() => applyKafkaSettings(base, { 'native.client.authentication': 'sasl', 'sasl.enabled.mechanisms': 'PLAIN' })).toThrow(/native.client.authentication=sasl would offer no SASL mechanism/);
    expect(applyKafkaSettings(base, { 'native.client.authentication': 'sasl' }).nativeClientAuthentication).toBe('sasl');
    expect(applyKafkaSettings(base, { 'connection.failed.authentication.delay.ms': '0' }).connectionFailedAuthenticationDelayMs).toBe(0);
  });
});

describe('ACLs (#19)', () => {
  it('authorizer.class.name turns the StandardAuthorizer on; super.users and allow.everyone.if.no.acl.found go with it', () => {
    expect(authorizerEnabled(base)).toBe(false);
    const config = applyKafkaSettings(base, { 'authorizer.class.name': 'org.apache.kafka.metadata.authorizer.StandardAuthorizer', 'super.users': 'User:admin; User:ops;User:admin', 'allow.everyone.if.no.acl.found': 'true' });
    expect(authorizerEnabled(config)).toBe(true);
    expect(config.superUsers).toEqual(['User:admin', 'User:ops']);
    expect(config.allowEveryoneIfNoAclFound).toBe(true);
    expect(() => applyKafkaSettings(base, { 'authorizer.class.name': 'kafka.security.authorizer.AclAuthorizer' })).toThrow(/is not served/);
    expect(() => applyKafkaSettings(base, { 'super.users': 'admin' })).toThrow(/is not a principal/);
  });
});

describe('ssl.* (TLS of the native listener, #19)', () => {
  it('a keystore makes every native URL wss://: the voters and the advertised URL', () => {
    const config = applyKafkaSettings({ ...base, advertiseUrl: 'ws://broker1.example:9191' }, { 'ssl.keystore.type': 'PEM', 'ssl.keystore.location': '/etc/kactus/broker.pem', 'ssl.truststore.location': '/etc/kactus/ca.pem' });
    expect(config.sslKeystoreLocation).toBe('/etc/kactus/broker.pem');
    expect([...config.controllerQuorumVoters.values()]).toEqual(['wss://127.0.0.1:9191']);
    expect(config.advertiseUrl).toBe('wss://broker1.example:9191');
    expect(base.controllerQuorumVoters.get(1)).toBe('ws://127.0.0.1:9191');
  });

  it('refuses what it cannot serve, naming the setting', () => {
    expect(() => applyKafkaSettings(base, { 'ssl.keystore.type': 'JKS' })).toThrow(/ssl.keystore.type.*PEM/);
    expect(() => applyKafkaSettings(base, { 'ssl.client.auth': 'maybe' })).toThrow(/ssl.client.auth.*none, requested, required/);
    expect(() => applyKafkaSettings(base, { 'ssl.client.auth': 'required' })).toThrow(/needs TLS: set ssl.keystore.location/);
    expect(() => applyKafkaSettings(base, { 'ssl.keystore.location': '/k.pem', 'ssl.client.auth': 'required' })).toThrow(/needs ssl.truststore.location/);
  });
});

describe('http.listener and metrics.enabled (#21, Kactus only)', () => {
  it('http.listener is off by default, HOST:PORT (IPv6 in brackets, port 0 for a free one) turns it on, empty off again', () => {
    expect(base.httpListener).toBeNull();
    expect(base.metricsEnabled).toBe(true);
    expect(applyKafkaSettings(base, { 'http.listener': '127.0.0.1:9291' }).httpListener).toEqual({ host: '127.0.0.1', port: 9291 });
    expect(applyKafkaSettings(base, { 'http.listener': '[::1]:0' }).httpListener).toEqual({ host: '::1', port: 0 });
    expect(applyKafkaSettings({ ...base, httpListener: { host: '0.0.0.0', port: 1 } }, { 'http.listener': '' }).httpListener).toBeNull();
    expect(applyKafkaSettings(base, { 'metrics.enabled': 'false' }).metricsEnabled).toBe(false);
  });

  it('refuses what is not HOST:PORT, naming the setting', () => {
    for (const bad of ['9291', 'localhost', 'h:99999', 'http://h:1']) expect(() => applyKafkaSettings(base, { 'http.listener': bad })).toThrow(/http.listener/);
    expect(() => applyKafkaSettings(base, { 'metrics.enabled': 'yes' })).toThrow(/metrics.enabled/);
  });
});
