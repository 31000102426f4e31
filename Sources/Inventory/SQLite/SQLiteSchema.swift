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
        return migrator
    }()
}
