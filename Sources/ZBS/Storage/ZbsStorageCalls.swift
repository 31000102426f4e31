import CloudBus
import Inventory
import Primitives
import ZBSMessages

/// The ZBS operations the worker performs (ZStack's `ZbsStorageController`), each one MDS call through
/// ``MdsCaller`` on a fresh read of the storage from the inventory.
///
/// Paths in and out are ZStack's `zbs://` form; they are converted to and from the agent's `cbd:` form here, and a
/// path whose logical pool the storage does not have fails before any HTTP request. Every method takes the caller's
/// deadline (the bus message's), so no attempt outlives it. Errors are ``MdsCallError`` or the store's
/// `InventoryError`; cancellation propagates.
public struct ZbsStorageCalls: Sendable {
    public let storages: any ZbsPrimaryStorageStore
    public let caller: MdsCaller

    public init(storages: any ZbsPrimaryStorageStore, caller: MdsCaller) {
        self.storages = storages
        self.caller = caller
    }

    /// The storage, or ``MdsCallError/unknownPrimaryStorage(uuid:)``.
    public func storage(_ uuid: String) async throws -> ZbsPrimaryStorageRecord {
        guard let storage = try await storages.zbsPrimaryStorage(uuid: uuid) else {
            throw MdsCallError.unknownPrimaryStorage(uuid: uuid)
        }
        return storage
    }

    /// `/volume/clients`: who holds the volume open. Sync path, try-next, the attempt deadline of the settings
    /// (30 s): the anti-split-brain check blocks a VM start on it, so a dead MDS must not hold it longer.
    public func activeClients(
        primaryStorageUuid: String, installPath: String, deadline: ContinuousClock.Instant? = nil
    ) async throws -> [ZbsVolumeClient] {
        let storage = try await storage(primaryStorageUuid)
        let path = try Self.agentPath(installPath, in: storage)
        let answer = try await caller.call(
            storage, command: ["path": .string(path)],
            options: MdsCallOptions(path: "/volume/clients", sync: true, tryNext: true, deadline: deadline))
        return (answer.body["clients"]?.arrayValue ?? []).compactMap { entry in
            guard let ip = entry["ip"]?.stringValue else { return nil }
            return ZbsVolumeClient(ip: ip, port: Int(entry["port"]?.int64Value ?? 0))
        }
    }

    /// `/volume/create` in `logicalPool`, `size` bytes (sent in MiB, rounded up, `unit` "M"), skipping a volume
    /// that already exists (so a redelivered message does not fail).
    public func createVolume(
        primaryStorageUuid: String, logicalPool: String, volume: String, size: Int64,
        deadline: ContinuousClock.Instant? = nil
    ) async throws -> ZbsVolumeInfo {
        let storage = try await storage(primaryStorageUuid)
        guard storage.physicalPool(of: logicalPool) != nil else {
            throw MdsCallError.unknownLogicalPool(pool: logicalPool, primaryStorageUuid: storage.uuid)
        }
        let answer = try await caller.call(
            storage,
            command: [
                "logicalPool": .string(logicalPool), "volume": .string(volume),
                "size": .integer(Self.mebibytes(size)), "unit": "M", "skipIfExisting": true,
            ],
            options: MdsCallOptions(path: "/volume/create", deadline: deadline))
        return Self.volumeInfo(answer.body)
    }

    /// `/volume/delete` (`force` true deletes, false moves to the trash), after checking that no client holds the
    /// volume open: ZBS can neither deactivate nor blacklist a client, so an open volume is not deleted.
    public func deleteVolume(
        primaryStorageUuid: String, installPath: String, force: Bool, deadline: ContinuousClock.Instant? = nil
    ) async throws {
        let clients = try await activeClients(
            primaryStorageUuid: primaryStorageUuid, installPath: installPath, deadline: deadline)
        if !clients.isEmpty {
            throw ZbsVolumeInUse(installPath: installPath, clients: clients)
        }
        let storage = try await storage(primaryStorageUuid)
        let path = try Self.agentPath(installPath, in: storage)
        _ = try await caller.call(
            storage, command: ["path": .string(path), "force": .bool(force)],
            options: MdsCallOptions(path: "/volume/delete", deadline: deadline))
    }

    /// `/volume/expand` to `size` bytes (sent in MiB, rounded up).
    public func expandVolume(
        primaryStorageUuid: String, installPath: String, size: Int64, deadline: ContinuousClock.Instant? = nil
    ) async throws -> ZbsVolumeInfo {
        try await volumeCall(
            "/volume/expand", primaryStorageUuid: primaryStorageUuid, installPath: installPath,
            extra: ["size": .integer(Self.mebibytes(size)), "unit": "M"], deadline: deadline)
    }

    /// `/volume/query`: size, actual size and parent of a volume. A read, so try-next.
    public func queryVolume(
        primaryStorageUuid: String, installPath: String, deadline: ContinuousClock.Instant? = nil
    ) async throws -> ZbsVolumeInfo {
        try await volumeCall(
            "/volume/query", primaryStorageUuid: primaryStorageUuid, installPath: installPath, tryNext: true,
            deadline: deadline)
    }

    /// `/snapshot/create` of `snapshot` on the volume at `installPath` (existing one kept: `skipOnExisting`).
    public func createSnapshot(
        primaryStorageUuid: String, installPath: String, snapshot: String, deadline: ContinuousClock.Instant? = nil
    ) async throws -> ZbsVolumeInfo {
        try await volumeCall(
            "/snapshot/create", primaryStorageUuid: primaryStorageUuid, installPath: installPath,
            extra: ["snapshot": .string(snapshot), "skipOnExisting": true], deadline: deadline)
    }

    /// `/snapshot/delete` of the snapshot at `installPath` (`zbs://lp/vol@snap`).
    public func deleteSnapshot(
        primaryStorageUuid: String, installPath: String, deadline: ContinuousClock.Instant? = nil
    ) async throws {
        _ = try await volumeCall(
            "/snapshot/delete", primaryStorageUuid: primaryStorageUuid, installPath: installPath, deadline: deadline)
    }

    /// `/snapshot/rollback`: reverts the volume to the snapshot at `installPath` (`zbs://lp/vol@snap`).
    public func rollbackSnapshot(
        primaryStorageUuid: String, installPath: String, deadline: ContinuousClock.Instant? = nil
    ) async throws -> ZbsVolumeInfo {
        try await volumeCall(
            "/snapshot/rollback", primaryStorageUuid: primaryStorageUuid, installPath: installPath,
            deadline: deadline)
    }

    /// `/capacity` of `logicalPools` (nil: every pool of the storage). A read, so try-next.
    public func capacity(
        primaryStorageUuid: String, logicalPools: [String]? = nil, deadline: ContinuousClock.Instant? = nil
    ) async throws -> [ZbsPoolCapacity] {
        let storage = try await storage(primaryStorageUuid)
        let pools = logicalPools ?? storage.logicalPools.map(\.logicalPoolName)
        let answer = try await caller.call(
            storage, command: ["logicalPoolNames": .array(pools.map { .string($0) })],
            options: MdsCallOptions(path: "/capacity", tryNext: true, deadline: deadline))
        return (answer.body["logicalPoolInfos"]?.arrayValue ?? []).compactMap { info in
            guard let name = info["logicalPoolName"]?.stringValue else { return nil }
            return ZbsPoolCapacity(
                logicalPoolName: name, physicalPoolName: info["physicalPoolName"]?.stringValue,
                capacity: info["capacity"]?.int64Value ?? 0, usedSize: info["usedSize"]?.int64Value ?? 0)
        }
    }

    /// `/volume/cleannbd`: removes an NBD export; pinned to the MDS that created it (`nbdAddr`), never another.
    public func cleanNbd(
        primaryStorageUuid: String, nbdAddr: String, port: Int, deadline: ContinuousClock.Instant? = nil
    ) async throws {
        let storage = try await storage(primaryStorageUuid)
        _ = try await caller.call(
            storage, command: ["nbdAddr": .string(nbdAddr), "port": .integer(Int64(port))],
            options: MdsCallOptions(path: "/volume/cleannbd", targetAddr: nbdAddr, deadline: deadline))
    }

    private func volumeCall(
        _ agentPath: String, primaryStorageUuid: String, installPath: String, extra: [String: JSONValue] = [:],
        tryNext: Bool = false, deadline: ContinuousClock.Instant?
    ) async throws -> ZbsVolumeInfo {
        let storage = try await storage(primaryStorageUuid)
        var command = extra
        command["path"] = .string(try Self.agentPath(installPath, in: storage))
        let answer = try await caller.call(
            storage, command: command, options: MdsCallOptions(path: agentPath, tryNext: tryNext, deadline: deadline))
        return Self.volumeInfo(answer.body)
    }

    /// `zbs://lp/vol[@snap]` → `cbd:pp/lp/vol[@snap]` with the storage's pools.
    public static func agentPath(_ installPath: String, in storage: ZbsPrimaryStorageRecord) throws(MdsCallError)
        -> String
    {
        let parsed = try ZbsInstallPath(parsing: installPath)
        guard let physical = storage.physicalPool(of: parsed.logicalPool) else {
            throw .unknownLogicalPool(pool: parsed.logicalPool, primaryStorageUuid: storage.uuid)
        }
        return parsed.agentPath(physicalPool: physical)
    }

    static func volumeInfo(_ body: [String: JSONValue]) -> ZbsVolumeInfo {
        ZbsVolumeInfo(
            installPath: body["installPath"]?.stringValue.map(ZbsInstallPath.fromAgent),
            size: body["size"]?.int64Value, actualSize: body["actualSize"]?.int64Value,
            parentUri: body["parentUri"]?.stringValue.map(ZbsInstallPath.fromAgent))
    }

    /// Bytes to whole MiB, rounded up (the agent's unit "M").
    static func mebibytes(_ bytes: Int64) -> Int64 {
        let mib: Int64 = 1 << 20
        return (max(0, bytes) + mib - 1) / mib
    }
}
