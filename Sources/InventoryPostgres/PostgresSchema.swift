import Inventory
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import Primitives

/// The shared store's schema: the same append-only list of named migrations as ``SQLiteInventory``'s (same names,
/// same order, each with this back end's SQL), recorded in `cloudbus_migrations`.
///
/// Several workers may start at once against one database: the whole migration runs in one transaction under a
/// transaction-scoped advisory lock, so exactly one of them applies each step and the others then find it applied.
/// A database that lists a migration this build does not know was migrated by a newer build: refused, as SQLite's.
enum PostgresSchema {
    /// An arbitrary constant that names "the cloudbus schema" among advisory locks (with the schema's name as the
    /// second key, so stores in different schemas of one database never wait for each other).
    static let advisoryLock: Int32 = 0x6362_7573  // "cbus"

    static let migrations: [(name: String, sql: [String])] = [
        ("v1", [
            """
            CREATE TABLE hosts (
                uuid text PRIMARY KEY,
                management_ip text NOT NULL,
                agent_port integer NOT NULL,
                status text NOT NULL,
                cluster_uuid text,
                name text
            )
            """,
            """
            CREATE TABLE vms (
                uuid text PRIMARY KEY,
                state text NOT NULL,
                host_uuid text,
                last_host_uuid text,
                type text NOT NULL,
                cluster_uuid text
            )
            """,
            "CREATE INDEX vms_on_host ON vms (host_uuid) WHERE host_uuid IS NOT NULL",
            "CREATE INDEX vms_on_last_host_when_hostless ON vms (last_host_uuid) WHERE host_uuid IS NULL",
            """
            CREATE TABLE vm_device_addresses (
                vm_uuid text NOT NULL REFERENCES vms (uuid) ON DELETE CASCADE,
                resource_uuid text NOT NULL,
                device_address text NOT NULL,
                metadata text,
                metadata_class text,
                PRIMARY KEY (vm_uuid, resource_uuid)
            )
            """,
        ]),
        ("v2-skip-registry", [
            """
            CREATE TABLE skip_entries (
                node_id text NOT NULL,
                vm_uuid text NOT NULL,
                operations integer NOT NULL CHECK (operations > 0),
                PRIMARY KEY (node_id, vm_uuid)
            )
            """,
            """
            CREATE TABLE skip_api_ids (
                node_id text NOT NULL,
                api_id text NOT NULL,
                vm_uuid text NOT NULL,
                PRIMARY KEY (node_id, api_id)
            )
            """,
            "CREATE TABLE skip_orphans (vm_uuid text PRIMARY KEY, orphaned_at_epoch_millis bigint NOT NULL)",
            "CREATE TABLE skip_departed_nodes (node_id text PRIMARY KEY, left_at_epoch_millis bigint NOT NULL)",
        ]),
        ("v2-vm-nics", [
            """
            CREATE TABLE vm_nics (
                uuid text PRIMARY KEY,
                vm_uuid text NOT NULL REFERENCES vms (uuid) ON DELETE CASCADE,
                mac text NOT NULL
            )
            """,
            "CREATE INDEX vm_nics_of_vm ON vm_nics (vm_uuid)",
            """
            CREATE TABLE vm_virtualizer_info (
                vm_uuid text PRIMARY KEY REFERENCES vms (uuid) ON DELETE CASCADE,
                virtualizer text NOT NULL,
                version text NOT NULL
            )
            """,
        ]),
        ("v3-zbs", [
            "CREATE TABLE zbs_primary_storages (uuid text PRIMARY KEY)",
            """
            CREATE TABLE zbs_mds (
                primary_storage_uuid text NOT NULL REFERENCES zbs_primary_storages (uuid) ON DELETE CASCADE,
                addr text NOT NULL,
                status text NOT NULL,
                agent_port integer NOT NULL,
                position integer NOT NULL,
                PRIMARY KEY (primary_storage_uuid, addr, agent_port)
            )
            """,
            """
            CREATE TABLE zbs_logical_pools (
                primary_storage_uuid text NOT NULL REFERENCES zbs_primary_storages (uuid) ON DELETE CASCADE,
                logical_pool_name text NOT NULL,
                physical_pool_name text NOT NULL,
                PRIMARY KEY (primary_storage_uuid, logical_pool_name)
            )
            """,
        ]),
        ("v4-vms-covering-expected", [
            // The tracer's expected-VMs query answered from the index alone, as on SQLite (INCLUDE here).
            """
            CREATE INDEX vms_expected_on_host ON vms (host_uuid, uuid)
                INCLUDE (state, last_host_uuid, type, cluster_uuid) WHERE host_uuid IS NOT NULL
            """,
            """
            CREATE INDEX vms_expected_on_last_host ON vms (last_host_uuid, uuid)
                INCLUDE (state, host_uuid, type, cluster_uuid) WHERE host_uuid IS NULL
            """,
            "DROP INDEX vms_on_host",
            "DROP INDEX vms_on_last_host_when_hostless",
        ]),
        ("v5-answered-messages", [
            // The dedupe window, shared by the fleet: a retry that reaches another worker (after a takeover)
            // still finds its answer. `answer_order` is answer order (a re-answer takes a new number), so
            // trimming to the most recent N is one range delete, as with SQLite's rowid.
            "CREATE SEQUENCE answered_messages_order",
            """
            CREATE TABLE answered_messages (
                id text PRIMARY KEY,
                answer_order bigint NOT NULL DEFAULT nextval('answered_messages_order'),
                reply bytea,
                answered_at bigint NOT NULL
            )
            """,
            "CREATE INDEX answered_messages_by_order ON answered_messages (answer_order)",
        ]),
        ("v6-outbox", [
            // `owner` is the worker that wrote the row: each worker flushes its own rows; a survivor adopts a
            // departed worker's. (SQLite's outbox has one owner, the worker whose file it is.)
            """
            CREATE TABLE outbox (
                seq bigserial PRIMARY KEY,
                owner text NOT NULL,
                key text NOT NULL,
                kind text NOT NULL,
                destination text NOT NULL,
                body bytea NOT NULL,
                expiration_millis bigint,
                created_at timestamptz NOT NULL DEFAULT now()
            )
            """,
            "CREATE INDEX outbox_by_owner_key ON outbox (owner, key, seq)",
        ]),
        ("v7-members", [
            // The fleet's members. `heartbeat_at` is written with the server's now(): every age is measured on one
            // clock, whatever the workers' clocks say.
            """
            CREATE TABLE members (
                node_uuid text PRIMARY KEY,
                services text[] NOT NULL,
                state text NOT NULL,
                heartbeat_at timestamptz NOT NULL,
                left_announced_by text,
                drained_by text
            )
            """,
        ]),
        ("v8-delivery-attempts", [
            // Redeliveries counted per message for classic queues (quorum queues count in x-delivery-count).
            """
            CREATE TABLE delivery_attempts (
                message_id text PRIMARY KEY,
                redeliveries integer NOT NULL,
                updated_at timestamptz NOT NULL
            )
            """,
        ]),
    ]

    static func migrate(_ settings: PostgresStoreSettings, logger: Logger) async throws(InventoryError) {
        var configuration = PostgresConnection.Configuration(
            host: settings.host, port: settings.port, username: settings.username, password: settings.password,
            database: settings.database, tls: .disable)
        configuration.options.connectTimeout = .milliseconds(settings.operationTimeout.inMilliseconds)
        if let schema = settings.schema { configuration.options.additionalStartupParameters = [("search_path", schema)] }
        let known = migrations.map(\.name)
        let location = settings.location
        do {
            if settings.tls == .require {
                configuration.tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
            }
            let configured = configuration
            try await bounded(by: settings.operationTimeout) {
                let connection = try await PostgresConnection.connect(
                    on: MultiThreadedEventLoopGroup.singleton.any(), configuration: configured, id: 0, logger: logger
                ).get()
                do {
                    try await migrate(on: connection, schema: settings.schema, known: known, logger: logger)
                } catch {
                    try? await connection.close()
                    throw error
                }
                try? await connection.close()
            }
        } catch let error as InventoryError {
            if case .storage(let operation, nil, let reason) = error {
                throw .storage(operation: operation, path: location, reason: reason)
            }
            throw error
        } catch let error as PSQLError {
            throw .storage(operation: "migrate", path: location, reason: PostgresInventory.reason(error))
        } catch let error as PostgresTransactionError {
            let underlying = error.closureError ?? error.beginError ?? error.commitError ?? error.rollbackError
            if let inventoryError = underlying as? InventoryError {
                if case .storage(let operation, nil, let reason) = inventoryError {
                    throw .storage(operation: operation, path: location, reason: reason)
                }
                throw inventoryError
            }
            let reason = underlying.map { ($0 as? PSQLError).map(PostgresInventory.reason) ?? String(describing: $0) }
            throw .storage(operation: "migrate", path: location, reason: reason ?? "transaction failed")
        } catch {
            throw .storage(operation: "migrate", path: location, reason: String(describing: error))
        }
    }

    private static func migrate(
        on connection: PostgresConnection, schema: String?, known: [String], logger: Logger
    ) async throws {
        try await connection.withTransaction(logger: logger) { connection in
            let schemaName = schema ?? "public"
            try await connection.query(
                "SELECT pg_advisory_xact_lock(\(advisoryLock), hashtext(\(schemaName)))", logger: logger
            ).drain()
            if let schema, PostgresStoreSettings.isPlainIdentifier(schema) {
                try await connection.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA IF NOT EXISTS \(schema)"), logger: logger)
            }
            try await connection.query("""
                CREATE TABLE IF NOT EXISTS cloudbus_migrations (
                    name text PRIMARY KEY,
                    applied_order integer NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """, logger: logger)
            let applied = try await connection.query(
                "SELECT name FROM cloudbus_migrations ORDER BY applied_order", logger: logger
            ).collect(String.self)
            let unknown = applied.filter { !known.contains($0) }
            guard unknown.isEmpty else {
                throw InventoryError.storage(
                    operation: "migrate", path: nil,
                    reason: "the database has migrations unknown to this build (written by a newer version): "
                        + unknown.joined(separator: ", "))
            }
            for (order, migration) in migrations.enumerated() where !applied.contains(migration.name) {
                for statement in migration.sql {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query(
                    "INSERT INTO cloudbus_migrations (name, applied_order) VALUES (\(migration.name), \(order))",
                    logger: logger)
            }
        }
    }
}
