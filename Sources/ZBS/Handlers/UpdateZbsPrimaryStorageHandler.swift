import CloudBus
import Inventory
import ZBSMessages

/// Answers `cloudbus.worker.UpdateZbsPrimaryStorageMsg`: stores the storage whole (MDS list, statuses, pools).
/// Invalid input (bad uuid, unknown status, repeated MDS, bad port) is a `BadRequest` naming every problem;
/// nothing is stored then. Calls already running keep the MDS snapshot they started with.
public struct UpdateZbsPrimaryStorageHandler: BusHandler {
    public typealias Message = UpdateZbsPrimaryStorageMsg
    public let storages: any ZbsPrimaryStorageStore
    /// Agent port of an MDS whose `agentPort` is absent (configuration `zbs.mdsAgentPort`). Default: 7763.
    public let defaultAgentPort: Int

    public init(storages: any ZbsPrimaryStorageStore, defaultAgentPort: Int = MdsRecord.defaultAgentPort) {
        self.storages = storages
        self.defaultAgentPort = defaultAgentPort
    }

    public var expectsReply: Bool { true }

    public func resourceKey(for message: Message) -> String { ZbsReplying.storageKey(message.primaryStorage.uuid) }

    public func handle(_ message: Message, context: HandlerContext) async throws -> HandlerOutput {
        let inventory = message.primaryStorage
        var problems: [String] = []
        var mds: [MdsRecord] = []
        for (index, node) in inventory.mds.enumerated() {
            guard let status = MdsStatus(rawValue: node.status) else {
                problems.append(
                    "mds[\(index)].status: \"\(node.status)\" is not one of Connecting, Connected, Disconnected")
                continue
            }
            mds.append(MdsRecord(
                addr: node.addr, status: status, agentPort: node.agentPort ?? defaultAgentPort))
        }
        let record = ZbsPrimaryStorageRecord(
            uuid: inventory.uuid, mds: mds,
            logicalPools: (inventory.logicalPools ?? []).map {
                ZbsLogicalPool(logicalPoolName: $0.logicalPoolName, physicalPoolName: $0.physicalPoolName)
            })
        problems += record.problems().map(\.description)
        guard problems.isEmpty else {
            let details = "invalid ZBS primary storage[uuid:\(inventory.uuid)]: " + problems.joined(separator: "; ")
            throw BadRequest(SysError.invalidArgument.error(details), reason: details)
        }
        try await storages.upsertZbsPrimaryStorages([record])
        return HandlerOutput(reply: UpdateZbsPrimaryStorageReply())
    }
}
