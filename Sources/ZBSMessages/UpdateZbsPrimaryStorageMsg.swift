import CloudBus

/// `cloudbus.worker.UpdateZbsPrimaryStorageMsg`: **Ours, not ZStack's.** Adds or replaces (whole) one ZBS primary
/// storage in the worker's inventory: its MDS list with statuses and its pools. What the management node's connect/ping
/// cycle or an operator sends when the MDS of a storage change; calls already running keep their snapshot, later calls
/// see the new list. Executor key: the storage uuid.
public struct UpdateZbsPrimaryStorageMsg: BusMessage, Hashable {
    public static let className = "cloudbus.worker.UpdateZbsPrimaryStorageMsg"

    /// The storage as it now is.
    public var primaryStorage: ZbsPrimaryStorageInventory

    public init(primaryStorage: ZbsPrimaryStorageInventory) {
        self.primaryStorage = primaryStorage
    }
}

/// `cloudbus.worker.UpdateZbsPrimaryStorageReply`: Success, or SYS.1007 naming every invalid field (nothing stored).
public struct UpdateZbsPrimaryStorageReply: BusReply, Hashable {
    public static let className = "cloudbus.worker.UpdateZbsPrimaryStorageReply"

    @DefaultTrue public var success: Bool
    @DefaultFalse public var canceled: Bool
    public var error: ErrorCode?

    /// A success carrying the fields, or a failure carrying `error` (fields then left at their defaults).
    public init(error: ErrorCode? = nil) {
        self.success = error == nil
        self.canceled = false
        self.error = error
    }
}
