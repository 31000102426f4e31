/// What a state update does to a VM's `hostUuid` before ZStack's host-release rule runs
/// (see ``VmStore/updateVm(uuid:_:)``).
public enum VmHostChange: Sendable, Hashable {
    /// Leave `hostUuid` as stored.
    case keep
    /// The VM is now on this host (for example after a start or a migration).
    case move(to: String)
    /// Set `hostUuid` to nil without recording it in `lastHostUuid`, as a ZStack caller clearing the field does.
    case clear
}
