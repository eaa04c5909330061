/**
 * The package's version, `Kactus.version` and `kactus --version`. Kept equal
 * to package.json's `version` by test/package.test.ts (a constant rather
 * than a read of package.json: the sources and dist/ sit at different
 * depths, and a constant costs nothing at start-up).
 */
export const version = '0.1.0';
