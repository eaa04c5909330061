/**
 * The one error the compression modules throw: an error code (CORRUPT_MESSAGE
 * for bytes that do not decompress or would exceed the bound,
 * UNSUPPORTED_COMPRESSION_TYPE for a library that is not there) and a
 * message that starts with the codec's name. index.ts turns it into a
 * `Decoded` failure for decoding and a KactusError for encoding; a native
 * library's own exception never leaves this folder unwrapped.
 */
export class CodecFailure extends Error {
  readonly errorCode: number;

  constructor(errorCode: number, message: string) {
    super(message);
    this.name = 'CodecFailure';
    this.errorCode = errorCode;
  }
}
