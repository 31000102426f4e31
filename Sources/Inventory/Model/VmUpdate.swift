/// The row of one VM before and after ``VmStore/updateVm(uuid:_:)``, read and written in the same transaction.
///
/// ZStack fires its state-changed event and extension points only when the state really changed (a self-loop such
/// as running->Running fires nothing); ``stateChanged`` answers exactly that.
public struct VmUpdate: Sendable, Hashable {
    public var before: VmRecord
    public var after: VmRecord

    public init(before: VmRecord, after: VmRecord) {
        self.before = before
        self.after = after
    }

    public var stateChanged: Bool { before.state != after.state }
}
