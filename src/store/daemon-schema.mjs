// The SQLite schema of the store daemons' DB, the one source for runbox (db.ts creates a DB from
// it when a host has none), the test fixtures and scripts/bench.mjs (which build daemon DBs to
// restore into or save from). Plain ESM so that the benchmark script can import it as it is.
//
// Checked against the daemons' own sources, not written from memory:
// - Guix: guix-daemon's LocalStore::openDB (nix/libstore/local-store.cc, as in the guix-mirror/guix
//   and Millak/guix mirrors) prepares the statements in GUIX_DAEMON_STATEMENTS below on every
//   open: on ValidPaths (id, path, hash, registrationTime, deriver, narSize), Refs,
//   DerivationOutputs and FailedPaths. A statement on a missing table fails the prepare and the
//   daemon does not start, so FailedPaths must be here. The daemon runs its own schema.sql only
//   for a "new store" (no `schema` file in the DB dir; "Guix always used version 7 of the
//   schema"). That file is Nix 1.x's schema.sql (store schema version 7), which is what this is
//   for Guix: tables, indices and the DeleteSelfRefs trigger as there. Guix's copy itself was
//   not in the index searched; Nix 1.x's was (and copies of it with FailedPaths).
// - Nix 2.x: src/libstore/schema.sql (NixOS/nix): ValidPaths gains ultimate, sigs and ca;
//   FailedPaths is gone. The content-addressed derivations tables (ca-specific-schema.sql) are
//   created by Nix itself, on demand, when that experimental feature is on.
// `if not exists` throughout, as the daemons write it: two restores creating the DB at once, or a
// daemon opening it, agree on one schema.

const NIX_EXTRA_COLUMNS = `,
    ultimate         integer,
    sigs             text,
    ca               text`;

/** @param {'guix' | 'nix'} kind */
export function daemonSchema(kind) {
  return `
create table if not exists ValidPaths (
    id               integer primary key autoincrement not null,
    path             text unique not null,
    hash             text not null,
    registrationTime integer not null,
    deriver          text,
    narSize          integer${kind === 'nix' ? NIX_EXTRA_COLUMNS : ''}
);
create table if not exists Refs (
    referrer  integer not null,
    reference integer not null,
    primary key (referrer, reference),
    foreign key (referrer) references ValidPaths(id) on delete cascade,
    foreign key (reference) references ValidPaths(id) on delete restrict
);
create index if not exists IndexReferrer on Refs(referrer);
create index if not exists IndexReference on Refs(reference);
create trigger if not exists DeleteSelfRefs before delete on ValidPaths
  begin
    delete from Refs where referrer = old.id and reference = old.id;
  end;
create table if not exists DerivationOutputs (
    drv  integer not null,
    id   text not null,
    path text not null,
    primary key (drv, id),
    foreign key (drv) references ValidPaths(id) on delete cascade
);
create index if not exists IndexDerivationOutputs on DerivationOutputs(path);
${
  kind === 'guix'
    ? `create table if not exists FailedPaths (
    path text primary key not null,
    time integer not null
);
`
    : ''
}`;
}

/**
 * The statements guix-daemon prepares on every open of its DB (local-store.cc, LocalStore::openDB,
 * as cited above): a DB it is to open must compile each of them.
 */
export const GUIX_DAEMON_STATEMENTS = [
  'insert into ValidPaths (path, hash, registrationTime, deriver, narSize) values (?, ?, ?, ?, ?);',
  'update ValidPaths set narSize = ?, hash = ? where path = ?;',
  'insert or replace into Refs (referrer, reference) values (?, ?);',
  'select id, hash, registrationTime, deriver, narSize from ValidPaths where path = ?;',
  'select path from Refs join ValidPaths on reference = id where referrer = ?;',
  'select path from Refs join ValidPaths on referrer = id where reference = (select id from ValidPaths where path = ?);',
  'delete from ValidPaths where path = ?;',
  'insert or ignore into FailedPaths (path, time) values (?, ?);',
  'select time from FailedPaths where path = ?;',
  'select path from FailedPaths;',
  "delete from FailedPaths where ?1 = '*' or path = ?1 or path in (select d.path from DerivationOutputs d join ValidPaths v on d.drv = v.id where v.path = ?1);",
  'insert or replace into DerivationOutputs (drv, id, path) values (?, ?, ?);',
  'select v.id, v.path from DerivationOutputs d join ValidPaths v on d.drv = v.id where d.path = ?;',
  'select id, path from DerivationOutputs where drv = ?;',
  'select path from ValidPaths where path >= ? limit 1;',
  'select path from ValidPaths'
];
