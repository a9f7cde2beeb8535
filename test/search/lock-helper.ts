/**
 * Test helper process: opens an SQLite file, takes the write lock with BEGIN EXCLUSIVE, prints 'locked' and holds
 * the lock until its stdin closes (or 20 s pass).
 */
import Database from 'better-sqlite3';

const db = new Database(process.argv[2]!);
db.exec('BEGIN EXCLUSIVE');
process.stdout.write('locked\n');
const release = (): void => {
  db.exec('ROLLBACK');
  db.close();
  process.exit(0);
};
process.stdin.on('end', release);
process.stdin.resume();
setTimeout(release, 20_000);
