import Primitives

/// What the cloud expects of one VM: its state and where it runs (or last ran).
///
/// `hostUuid` is the host the VM is on now; ZStack clears it when the VM reaches Stopped or Destroyed and keeps the
/// host in `lastHostUuid` (see ``VmStore/updateVm(uuid:_:)``). The tracer's notion of "expected on a host" reads
/// both fields (see ``VmStore/expectedVms(onHost:excludingTypes:)``).
public struct VmRecord: Sendable, Hashable, Codable {
    /// ZStack resource uuid: 32 lowercase hexadecimal digits, no dashes.
    public var uuid: String
    public var state: VmState
    public var hostUuid: String?
    public var lastHostUuid: String?
    /// Default: ``VmType/userVm``.
    public var type: VmType
    public var clusterUuid: String?

    public init(
        uuid: String,
        state: VmState,
        hostUuid: String? = nil,
        lastHostUuid: String? = nil,
        type: VmType = .userVm,
        clusterUuid: String? = nil
    ) {
        self.uuid = uuid
        self.state = state
        self.hostUuid = hostUuid
        self.lastHostUuid = lastHostUuid
        self.type = type
        self.clusterUuid = clusterUuid
    }

    /// Every rule this record breaks, in field order; empty when the record may be stored.
    ///
    /// Rules: `uuid` and the optional `hostUuid`, `lastHostUuid`, `clusterUuid` are ZStack uuids; `type` is a
    /// non-empty word without whitespace. Whether the hosts exist is checked by the import, not here.
    public func problems(index: Int? = nil) -> [InventoryFieldProblem] {
        var found: [InventoryFieldProblem] = []
        func note(_ field: String, _ value: String, _ reason: String) {
            found.append(InventoryFieldProblem(entity: .vm, index: index, field: field, value: value, reason: reason))
        }
        if let reason = ZStackUUID.problem(uuid) { note("uuid", uuid, reason) }
        if let hostUuid, let reason = ZStackUUID.problem(hostUuid) { note("hostUuid", hostUuid, reason) }
        if let lastHostUuid, let reason = ZStackUUID.problem(lastHostUuid) {
            note("lastHostUuid", lastHostUuid, reason)
        }
        if type.rawValue.isEmpty || type.rawValue.contains(where: { $0.isWhitespace }) {
            note("type", type.rawValue, "must be a non-empty VM type name such as UserVm")
        }
        if let clusterUuid, let reason = ZStackUUID.problem(clusterUuid) { note("clusterUuid", clusterUuid, reason) }
        return found
    }

    /// Throws ``InventoryError/invalidRecords(_:)`` listing every rule this record breaks.
    public func validate() throws(InventoryError) {
        let found = problems()
        if !found.isEmpty { throw .invalidRecords(found) }
    }
}
