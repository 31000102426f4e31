import Inventory
import PostgresNIO

/// Hosts and VMs: the same SQL shapes as SQLite's, with a row lock on every read-modify-write (two workers may
/// change one VM: the loser of the lock reads the winner's row).
extension PostgresInventory: HostStore {
    public func host(uuid: String) async throws -> HostRecord? {
        try await bounded("host(uuid: \(uuid))") { client in
            try await Self.decodeHosts(client.query(
                "SELECT uuid, management_ip, agent_port, status, cluster_uuid, name FROM hosts WHERE uuid = \(uuid)"
            )).first
        }
    }

    public func hosts() async throws -> [HostRecord] {
        try await bounded("hosts()") { client in
            try await Self.decodeHosts(client.query(
                "SELECT uuid, management_ip, agent_port, status, cluster_uuid, name FROM hosts ORDER BY uuid"))
        }
    }

    public func upsertHosts(_ hosts: [HostRecord]) async throws {
        let problems = hosts.flatMap { $0.problems() }
        guard problems.isEmpty else { throw InventoryError.invalidRecords(problems) }
        guard !hosts.isEmpty else { return }
        try await transaction("upsertHosts(\(hosts.count))") { connection in
            for host in hosts { try await Self.upsert(host, on: connection) }
        }
    }

    @discardableResult
    public func updateHostStatus(uuid: String, to status: HostStatus) async throws -> HostStatus {
        try await transaction("updateHostStatus(uuid: \(uuid), to: \(status.rawValue))") { connection in
            try await Self.updateHostStatus(uuid: uuid, to: status, on: connection)
        }
    }

    public func updateHostStatus(
        uuid: String, to status: HostStatus, outboxKey: String,
        messages: @escaping @Sendable (HostStatus) throws -> [OutboxMessage]
    ) async throws -> (previous: HostStatus, outbox: [OutboxEntry]) {
        let owner = self.owner
        return try await transaction("updateHostStatus(uuid: \(uuid), to: \(status.rawValue), outbox)") { connection in
            let previous = try await Self.updateHostStatus(uuid: uuid, to: status, on: connection)
            let outbox = try await Self.insertOutbox(messages(previous), key: outboxKey, owner: owner, on: connection)
            return (previous, outbox)
        }
    }

    private static func updateHostStatus(
        uuid: String, to status: HostStatus, on connection: PostgresConnection
    ) async throws -> HostStatus {
        let rows = try await connection.query(
            "SELECT status FROM hosts WHERE uuid = \(uuid) FOR UPDATE", logger: quiet
        ).collect(String.self)
        guard let text = rows.first else { throw InventoryError.notFound(entity: .host, uuid: uuid) }
        guard let previous = HostStatus(rawValue: text) else {
            throw InventoryError.storage(
                operation: "read host \(uuid)", path: nil, reason: "unknown host status \"\(text)\" in row")
        }
        if previous != status {
            try await connection.query("UPDATE hosts SET status = \(status.rawValue) WHERE uuid = \(uuid)", logger: quiet)
        }
        return previous
    }

    static func upsert(_ host: HostRecord, on connection: PostgresConnection) async throws {
        try await connection.query("""
            INSERT INTO hosts (uuid, management_ip, agent_port, status, cluster_uuid, name)
            VALUES (\(host.uuid), \(host.managementIp), \(host.agentPort), \(host.status.rawValue),
                    \(host.clusterUuid), \(host.name))
            ON CONFLICT (uuid) DO UPDATE SET
                management_ip = excluded.management_ip, agent_port = excluded.agent_port, status = excluded.status,
                cluster_uuid = excluded.cluster_uuid, name = excluded.name
            """, logger: quiet)
    }

    static func decodeHosts(_ rows: PostgresRowSequence) async throws -> [HostRecord] {
        var hosts: [HostRecord] = []
        for try await (uuid, ip, port, statusText, cluster, name)
            in rows.decode((String, String, Int, String, String?, String?).self)
        {
            guard let status = HostStatus(rawValue: statusText) else {
                throw InventoryError.storage(
                    operation: "read host \(uuid)", path: nil, reason: "unknown host status \"\(statusText)\" in row")
            }
            hosts.append(HostRecord(
                uuid: uuid, managementIp: ip, agentPort: port, status: status, clusterUuid: cluster, name: name))
        }
        return hosts
    }
}

extension PostgresInventory: VmStore {
    static let vmColumns = "uuid, state, host_uuid, last_host_uuid, type, cluster_uuid"

    public func vm(uuid: String) async throws -> VmRecord? {
        try await bounded("vm(uuid: \(uuid))") { client in
            try await Self.decodeVms(client.query(
                "SELECT uuid, state, host_uuid, last_host_uuid, type, cluster_uuid FROM vms WHERE uuid = \(uuid)"
            )).first
        }
    }

    public func upsertVms(_ vms: [VmRecord]) async throws {
        let problems = vms.flatMap { $0.problems(index: nil) }
        guard problems.isEmpty else { throw InventoryError.invalidRecords(problems) }
        guard !vms.isEmpty else { return }
        try await transaction("upsertVms(\(vms.count))") { connection in
            for vm in vms { try await Self.upsert(vm, on: connection) }
        }
    }

    /// See ``VmStore/expectedVms(onHost:excludingTypes:)``: two disjoint branches, each answered from its own
    /// covering partial index.
    public func expectedVms(onHost hostUuid: String, excludingTypes: Set<VmType>) async throws -> [VmRecord] {
        let excluded = excludingTypes.map(\.rawValue).sorted()
        return try await bounded("expectedVms(onHost: \(hostUuid))") { client in
            try await Self.decodeVms(client.query("""
                SELECT uuid, state, host_uuid, last_host_uuid, type, cluster_uuid FROM vms WHERE host_uuid = \(hostUuid)
                UNION ALL
                SELECT uuid, state, host_uuid, last_host_uuid, type, cluster_uuid FROM vms
                    WHERE host_uuid IS NULL AND last_host_uuid = \(hostUuid)
                    AND state NOT IN ('Destroyed', 'Destroying') AND NOT (type = ANY(\(excluded)))
                ORDER BY uuid
                """))
        }
    }

    public func updateVm(
        uuid: String, _ change: @escaping @Sendable (inout VmRecord) throws -> Void
    ) async throws -> VmUpdate {
        try await transaction("updateVm(uuid: \(uuid))") { connection in
            try await Self.updateVm(uuid: uuid, change, on: connection)
        }
    }

    public func updateVm(
        uuid: String, outboxKey: String, _ change: @escaping @Sendable (inout VmRecord) throws -> Void,
        messages: @escaping @Sendable (VmUpdate) throws -> [OutboxMessage]
    ) async throws -> (update: VmUpdate, outbox: [OutboxEntry]) {
        let owner = self.owner
        return try await transaction("updateVm(uuid: \(uuid), outbox)") { connection in
            let update = try await Self.updateVm(uuid: uuid, change, on: connection)
            let outbox = try await Self.insertOutbox(messages(update), key: outboxKey, owner: owner, on: connection)
            return (update, outbox)
        }
    }

    private static func updateVm(
        uuid: String, _ change: (inout VmRecord) throws -> Void, on connection: PostgresConnection
    ) async throws -> VmUpdate {
        guard let before = try await decodeVms(connection.query(
            "SELECT uuid, state, host_uuid, last_host_uuid, type, cluster_uuid FROM vms WHERE uuid = \(uuid) FOR UPDATE",
            logger: quiet
        )).first else {
            throw InventoryError.notFound(entity: .vm, uuid: uuid)
        }
        let update = try VmUpdate.applying(change, to: before)
        if update.after != update.before { try await upsert(update.after, on: connection) }
        return update
    }

    static func upsert(_ vm: VmRecord, on connection: PostgresConnection) async throws {
        try await connection.query("""
            INSERT INTO vms (uuid, state, host_uuid, last_host_uuid, type, cluster_uuid)
            VALUES (\(vm.uuid), \(vm.state.rawValue), \(vm.hostUuid), \(vm.lastHostUuid), \(vm.type.rawValue),
                    \(vm.clusterUuid))
            ON CONFLICT (uuid) DO UPDATE SET
                state = excluded.state, host_uuid = excluded.host_uuid, last_host_uuid = excluded.last_host_uuid,
                type = excluded.type, cluster_uuid = excluded.cluster_uuid
            """, logger: quiet)
    }

    static func decodeVms(_ rows: PostgresRowSequence) async throws -> [VmRecord] {
        var vms: [VmRecord] = []
        for try await (uuid, stateText, host, lastHost, type, cluster)
            in rows.decode((String, String, String?, String?, String, String?).self)
        {
            guard let state = VmState(rawValue: stateText) else {
                throw InventoryError.storage(
                    operation: "read vm \(uuid)", path: nil, reason: "unknown VM state \"\(stateText)\" in row")
            }
            vms.append(VmRecord(uuid: uuid, state: state, hostUuid: host, lastHostUuid: lastHost,
                                type: VmType(rawValue: type), clusterUuid: cluster))
        }
        return vms
    }

    /// Whether a row with this uuid exists in `table` (one of the store's own table names, never input).
    static func exists(_ table: StaticString, uuid: String, on connection: PostgresConnection) async throws -> Bool {
        var query = PostgresQuery(unsafeSQL: "SELECT 1 FROM \(table) WHERE uuid = $1")
        query.binds.append(uuid)
        return try await !connection.query(query, logger: quiet).collect(Int32.self).isEmpty
    }
}
