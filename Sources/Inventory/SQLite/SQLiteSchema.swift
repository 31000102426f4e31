import GRDB

/// The inventory's SQLite schema as an append-only list of named migrations.
///
/// Rules for later changes (device addresses, ZBS primary storages and their MDS, skip/orphan entries): add a new
/// named migration (`v2-...`) at the end; never edit one that has shipped, because databases in the field have
/// already applied it and GRDB will not run it again. SQL is written out literally, not generated from Swift
/// types, so a change to an enum cannot silently change an old migration.
enum SQLiteSchema {
    static let migrator: DatabaseMigrator = {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            // WITHOUT ROWID: the uuid is the only key, so a lookup by uuid is one b-tree search instead of an
            // index search plus a rowid search. `host(uuid:)` runs on every host ping.
            try db.execute(sql: """
                CREATE TABLE hosts (
                    uuid TEXT NOT NULL PRIMARY KEY,
                    managementIp TEXT NOT NULL,
                    agentPort INTEGER NOT NULL,
                    status TEXT NOT NULL,
                    clusterUuid TEXT,
                    name TEXT
                ) WITHOUT ROWID;

                CREATE TABLE vms (
                    uuid TEXT NOT NULL PRIMARY KEY,
                    state TEXT NOT NULL,
                    hostUuid TEXT,
                    lastHostUuid TEXT,
                    type TEXT NOT NULL,
                    clusterUuid TEXT
                ) WITHOUT ROWID;

                -- The two branches of the tracer's expected-VMs rule, each served by its own partial index:
                -- `hostUuid = ?` and `hostUuid IS NULL AND lastHostUuid = ?`.
                CREATE INDEX vms_on_host ON vms(hostUuid) WHERE hostUuid IS NOT NULL;
                CREATE INDEX vms_on_last_host_when_hostless ON vms(lastHostUuid) WHERE hostUuid IS NULL;

                -- ZStack's VmInstanceDeviceAddressVO: one row per (VM, device), the address as JSON text.
                CREATE TABLE vm_device_addresses (
                    vmUuid TEXT NOT NULL REFERENCES vms(uuid) ON DELETE CASCADE,
                    resourceUuid TEXT NOT NULL,
                    deviceAddress TEXT NOT NULL,
                    metadata TEXT,
                    metadataClass TEXT,
                    PRIMARY KEY (vmUuid, resourceUuid)
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v2-skip-registry") { db in
            // The VM tracer's skip registry (ZStack keeps it in memory only; here it survives a restart).
            // Timestamps are wall-clock epoch milliseconds. No foreign keys: a skipped VM may be unknown to this
            // inventory, and node ids name management nodes, which the inventory does not list.
            try db.execute(sql: """
                CREATE TABLE skip_entries (
                    nodeId TEXT NOT NULL,
                    vmUuid TEXT NOT NULL,
                    operations INTEGER NOT NULL CHECK (operations > 0),
                    PRIMARY KEY (nodeId, vmUuid)
                ) WITHOUT ROWID;

                CREATE TABLE skip_api_ids (
                    nodeId TEXT NOT NULL,
                    apiId TEXT NOT NULL,
                    vmUuid TEXT NOT NULL,
                    PRIMARY KEY (nodeId, apiId)
                ) WITHOUT ROWID;

                CREATE TABLE skip_orphans (
                    vmUuid TEXT NOT NULL PRIMARY KEY,
                    orphanedAtEpochMillis INTEGER NOT NULL
                ) WITHOUT ROWID;

                CREATE TABLE skip_departed_nodes (
                    nodeId TEXT NOT NULL PRIMARY KEY,
                    leftAtEpochMillis INTEGER NOT NULL
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v2-vm-nics") { db in
            try db.execute(sql: """
                -- ZStack's VmNicVO, reduced to what the device-info sync matches on: one row per NIC.
                CREATE TABLE vm_nics (
                    uuid TEXT NOT NULL PRIMARY KEY,
                    vmUuid TEXT NOT NULL REFERENCES vms(uuid) ON DELETE CASCADE,
                    mac TEXT NOT NULL
                ) WITHOUT ROWID;
                CREATE INDEX vm_nics_of_vm ON vm_nics(vmUuid);

                -- ZStack's KvmHypervisorInfoVO for VMs: the virtualizer a VM last ran under.
                CREATE TABLE vm_virtualizer_info (
                    vmUuid TEXT NOT NULL PRIMARY KEY REFERENCES vms(uuid) ON DELETE CASCADE,
                    virtualizer TEXT NOT NULL,
                    version TEXT NOT NULL
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v3-zbs") { db in
            // ZBS primary storages (ZStack's ExternalPrimaryStorageVO addonInfo, minus SSH credentials): the MDS
            // keep their configured order in `position`; a storage is replaced whole, its rows cascade.
            try db.execute(sql: """
                CREATE TABLE zbs_primary_storages (
                    uuid TEXT NOT NULL PRIMARY KEY
                ) WITHOUT ROWID;

                CREATE TABLE zbs_mds (
                    primaryStorageUuid TEXT NOT NULL REFERENCES zbs_primary_storages(uuid) ON DELETE CASCADE,
                    addr TEXT NOT NULL,
                    status TEXT NOT NULL,
                    agentPort INTEGER NOT NULL,
                    position INTEGER NOT NULL,
                    PRIMARY KEY (primaryStorageUuid, addr, agentPort)
                ) WITHOUT ROWID;

                CREATE TABLE zbs_logical_pools (
                    primaryStorageUuid TEXT NOT NULL REFERENCES zbs_primary_storages(uuid) ON DELETE CASCADE,
                    logicalPoolName TEXT NOT NULL,
                    physicalPoolName TEXT NOT NULL,
                    PRIMARY KEY (primaryStorageUuid, logicalPoolName)
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v4-vms-covering-expected") { db in
            // The tracer's expected-VMs query (one per host sync, up to 1,000 rows) read every row through the
            // v1 indexes and then the table, and sorted the result: ~5 ms at 100,000 VMs. Covering partial indexes
            // (every column `SQLiteRows.vmColumns` reads, `uuid` right after the key) answer both branches from
            // the index alone, already in uuid order, so the UNION ALL is a merge without a sort (< 1 ms). They
            // replace the v1 indexes, which have the same key and WHERE clause.
            try db.execute(sql: """
                CREATE INDEX vms_expected_on_host
                    ON vms(hostUuid, uuid, state, lastHostUuid, type, clusterUuid) WHERE hostUuid IS NOT NULL;
                CREATE INDEX vms_expected_on_last_host
                    ON vms(lastHostUuid, uuid, state, hostUuid, type, clusterUuid) WHERE hostUuid IS NULL;
                DROP INDEX vms_on_host;
                DROP INDEX vms_on_last_host_when_hostless;
                """)
        }
        migrator.registerMigration("v5-answered-messages") { db in
            // The persisted dedupe window: message id → the reply it got. Rowid order is answer order (a re-answer
            // REPLACEs the row, moving it to the end), so trimming to the most recent N is one range delete.
            try db.execute(sql: """
                CREATE TABLE answered_messages (
                    id TEXT NOT NULL UNIQUE,
                    reply BLOB,
                    answeredAt INTEGER NOT NULL
                );
                """)
        }
        migrator.registerMigration("v6-outbox") { db in
            // The transactional outbox: messages written with the state change that caused them, deleted once the
            // broker confirmed them. `seq` orders them; `key` (the executor key) lets a key publish its own rows
            // before its next message.
            try db.execute(sql: """
                CREATE TABLE outbox (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    key TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    destination TEXT NOT NULL,
                    body BLOB NOT NULL,
                    expirationMillis INTEGER,
                    createdAt INTEGER NOT NULL
                );
                CREATE INDEX outbox_by_key ON outbox(key, seq);
                """)
        }
        migrator.registerMigration("v7-members") { db in
            // The fleet's members (one row here: the worker whose file this is). Heartbeats in epoch milliseconds
            // of the local clock; the shared PostgreSQL store uses the server's clock instead.
            try db.execute(sql: """
                CREATE TABLE members (
                    nodeUuid TEXT NOT NULL PRIMARY KEY,
                    services TEXT NOT NULL,
                    state TEXT NOT NULL,
                    heartbeatAtMillis INTEGER NOT NULL,
                    leftAnnouncedBy TEXT,
                    drainedBy TEXT
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v8-delivery-attempts") { db in
            // Redeliveries counted per message for classic queues (quorum queues count in x-delivery-count).
            try db.execute(sql: """
                CREATE TABLE delivery_attempts (
                    messageId TEXT NOT NULL PRIMARY KEY,
                    redeliveries INTEGER NOT NULL,
                    updatedAtMillis INTEGER NOT NULL
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v9-answer-log") { db in
            // The dedupe window as an append-only log: rows in answer order (`seq`), trimmed at the old end, no index
            // on the message id. Ids are random, so a unique index put every insert and every trim on a random index
            // page — 34 pages written per 17-answer commit, 17 KB of WAL per answer, 20 % of the worker's CPU per
            // echo. Appending touches the last pages only. A lookup by id (a duplicate whose reply is no longer in
            // memory) scans backwards from the newest row: a retry soon after a restart is found at once, one
            // as old as the whole window costs a scan of it (~15 ms at 65,536 rows). A re-answered id gets a second
            // row; readers take the newest.
            try db.execute(sql: """
                ALTER TABLE answered_messages RENAME TO answered_messages_v5;
                CREATE TABLE answered_messages (
                    seq INTEGER PRIMARY KEY,
                    id TEXT NOT NULL,
                    reply BLOB,
                    answeredAt INTEGER NOT NULL
                );
                INSERT INTO answered_messages (id, reply, answeredAt)
                    SELECT id, reply, answeredAt FROM answered_messages_v5 ORDER BY rowid;
                DROP TABLE answered_messages_v5;
                """)
        }
        return migrator
    }()
}
